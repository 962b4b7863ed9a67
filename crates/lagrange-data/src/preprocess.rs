//! Preprocessing of a [`Recording`]: channel selection, bad-channel removal, scaling, linear
//! resampling (including the reference's 2 ms-per-sample convention) and train/held-out windows.

use crate::error::Result;
use crate::recording::{ChannelStats, ChannelStatus, ChannelType, Recording};

/// The reference code's fixed divisor (`EEG_set.json` values are divided by 2; spec §12.1).
pub const REFERENCE_DIVISOR: f64 = 2.0;
/// The paper's divisor (raw values / 200 → about ±1–2; paper §B.1).
pub const PAPER_DIVISOR: f64 = 200.0;
/// The raw sampling interval the reference assumes for every sample (spec §12.1).
pub const REFERENCE_SAMPLE_MS: f64 = 2.0;

/// Which channels to keep.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelSelector {
    /// By name (exact, else case-insensitive), in the given order.
    Names(Vec<String>),
    /// By index, in the given order.
    Indices(Vec<usize>),
    /// Every channel of one of these types, in recording order.
    Types(Vec<ChannelType>),
}

/// Keeps the selected channels.
pub fn select_channels(rec: &Recording, sel: &ChannelSelector) -> Result<Recording> {
    let idx: Vec<usize> = match sel {
        ChannelSelector::Names(names) => names
            .iter()
            .map(|n| {
                rec.channel_index(n).ok_or_else(|| {
                    rec.request_error("select channels", format!("no channel named {n:?}"))
                })
            })
            .collect::<Result<_>>()?,
        ChannelSelector::Indices(ix) => {
            if let Some(bad) = ix.iter().find(|&&i| i >= rec.n_channels()) {
                return Err(rec.request_error(
                    "select channels",
                    format!("index {bad} ≥ {} channels", rec.n_channels()),
                ));
            }
            ix.clone()
        }
        ChannelSelector::Types(types) => (0..rec.n_channels())
            .filter(|&i| rec.channels.get(i).is_some_and(|c| types.contains(&c.kind)))
            .collect(),
    };
    if idx.is_empty() {
        return Err(rec.request_error("select channels", "the selection is empty".into()));
    }
    Ok(take_channels(rec, &idx))
}

fn take_channels(rec: &Recording, idx: &[usize]) -> Recording {
    let mut out = rec.clone_meta();
    out.n_samples = rec.n_samples;
    out.channels = idx
        .iter()
        .filter_map(|&i| rec.channels.get(i).cloned())
        .collect();
    out.samples = idx
        .iter()
        .filter_map(|&i| rec.channel(i))
        .flatten()
        .copied()
        .collect();
    out
}

/// Removes the channels whose status is [`ChannelStatus::Bad`].
pub fn drop_bad_channels(rec: &Recording) -> Recording {
    let idx: Vec<usize> = (0..rec.n_channels())
        .filter(|&i| {
            rec.channels
                .get(i)
                .is_some_and(|c| c.status == ChannelStatus::Good)
        })
        .collect();
    let mut out = take_channels(rec, &idx);
    let dropped = rec.n_channels() - idx.len();
    if dropped > 0 {
        out.notes.push(format!("dropped {dropped} bad channel(s)"));
    }
    out
}

/// How to scale amplitudes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    /// Per channel: subtract the mean, divide by the (population) standard deviation; constant
    /// channels become zero.
    ZScore,
    /// Divide every value by a constant ([`REFERENCE_DIVISOR`], [`PAPER_DIVISOR`], …).
    Divide(f64),
}

/// Scales the samples.
pub fn scale(rec: &Recording, scaling: Scaling) -> Result<Recording> {
    let mut out = rec.clone();
    match scaling {
        Scaling::Divide(d) => {
            if !(d.is_finite() && d != 0.0) {
                return Err(rec.request_error("scale", format!("divisor {d}")));
            }
            out.samples.iter_mut().for_each(|v| *v /= d);
            out.notes.push(format!("divided by {d}"));
        }
        Scaling::ZScore => {
            standardise(&mut out, &rec.channel_stats());
            out.notes.push("z-scored per channel".into());
        }
    }
    Ok(out)
}

/// Channel c of `out` becomes (x − mean_c) / std_c with `stats[c]`; zero where std_c = 0.
fn standardise(out: &mut Recording, stats: &[ChannelStats]) {
    let n = out.n_samples;
    for (c, s) in stats.iter().enumerate() {
        if let Some(row) = out.samples.get_mut(c * n..(c + 1) * n) {
            let inv = if s.std > 0.0 { 1.0 / s.std } else { 0.0 };
            row.iter_mut().for_each(|v| *v = (*v - s.mean) * inv);
        }
    }
}

/// Z-scores every channel of `rec` with the mean and (population) standard deviation of the same
/// channel in `reference` (for example the training window only, so that no statistic of a
/// held-out window enters the preprocessing); a channel constant in `reference` becomes zero.
/// The two recordings must have the same channels, by name and order.
pub fn zscore_by(rec: &Recording, reference: &Recording) -> Result<Recording> {
    let same = rec.n_channels() == reference.n_channels()
        && rec
            .channels
            .iter()
            .zip(&reference.channels)
            .all(|(a, b)| a.name == b.name);
    if !same {
        return Err(rec.request_error(
            "z-score by a reference",
            format!(
                "the reference has other channels ({} against {})",
                reference.n_channels(),
                rec.n_channels()
            ),
        ));
    }
    let mut out = rec.clone();
    standardise(&mut out, &reference.channel_stats());
    out.notes
        .push("z-scored per channel by the statistics of a reference window".into());
    Ok(out)
}

/// Linear interpolation of `x` at fractional sample position `p` (clamped to the last sample).
fn lerp_at(x: &[f64], p: f64) -> f64 {
    let i = p.floor() as usize;
    match (x.get(i), x.get(i + 1)) {
        (Some(a), Some(b)) => (b - a) * (p - i as f64) + a,
        (Some(a), None) => *a,
        _ => x.last().copied().unwrap_or(0.0),
    }
}

/// Resamples every channel to `new_rate_hz` by linear interpolation. Output sample `k` is at
/// time `k / new_rate_hz`; the output covers the recorded span `[0, (n − 1)/rate]`.
pub fn resample_linear(rec: &Recording, new_rate_hz: f64) -> Result<Recording> {
    if !(new_rate_hz.is_finite() && new_rate_hz > 0.0) || rec.n_samples == 0 {
        return Err(rec.request_error(
            "resample",
            format!("new rate {new_rate_hz} Hz for {} samples", rec.n_samples),
        ));
    }
    let ratio = rec.sampling_rate_hz / new_rate_hz;
    let span = (rec.n_samples - 1) as f64;
    let n_out = (span / ratio + 1e-9).floor() as usize + 1;
    if n_out as f64 > 1e10 / rec.n_channels().max(1) as f64 {
        return Err(rec.request_error("resample", format!("{n_out} output samples is too many")));
    }
    let mut out = rec.clone_meta();
    out.sampling_rate_hz = new_rate_hz;
    out.n_samples = n_out;
    out.samples = Vec::with_capacity(n_out * rec.n_channels());
    for c in 0..rec.n_channels() {
        let x = rec.channel(c).unwrap_or(&[]);
        out.samples
            .extend((0..n_out).map(|k| lerp_at(x, (k as f64 * ratio).min(span))));
    }
    out.notes.push(format!(
        "resampled linearly from {} Hz to {new_rate_hz} Hz",
        rec.sampling_rate_hz
    ));
    Ok(out)
}

/// The reference's resampling of one channel (spec §12.1 item 6): every raw sample is one
/// [`REFERENCE_SAMPLE_MS`] step; the output is `np.interp` at `t = 0, dt/2, 2·dt/2, … < T0` (in
/// units of raw samples), with points past the last sample taking the last value. `dt_ms = 1`
/// doubles the length (raw values at even indices, midpoints at odd ones); `dt_ms = 2` returns
/// the input unchanged (the reference skips resampling then).
pub fn resample_reference(samples: &[f64], dt_ms: f64) -> Result<Vec<f64>> {
    let step = dt_ms / REFERENCE_SAMPLE_MS;
    let t0 = samples.len() as f64;
    if !(dt_ms.is_finite() && dt_ms > 0.0) || t0 / step > 1e10 {
        return Err(crate::error::DataError::InvalidRequest {
            path: Default::default(),
            operation: "resample (reference convention)".into(),
            reason: format!("dt {dt_ms} ms for {} samples", samples.len()),
        });
    }
    if dt_ms == REFERENCE_SAMPLE_MS {
        return Ok(samples.to_vec());
    }
    let mut out = Vec::with_capacity((t0 / step).ceil() as usize + 1);
    let mut k = 0usize;
    loop {
        let t = k as f64 * step;
        if t >= t0 {
            break;
        }
        out.push(lerp_at(samples, t));
        k += 1;
    }
    Ok(out)
}

/// [`resample_reference`] applied to every channel; the result's rate is `1000 / dt_ms` Hz
/// (each output sample is one `dt_ms` step), whatever the recording's own rate was.
pub fn resample_reference_recording(rec: &Recording, dt_ms: f64) -> Result<Recording> {
    if !(dt_ms.is_finite() && dt_ms > 0.0) || rec.n_samples == 0 {
        return Err(rec.request_error(
            "resample (reference convention)",
            format!("dt {dt_ms} ms for {} samples", rec.n_samples),
        ));
    }
    let step = dt_ms / REFERENCE_SAMPLE_MS;
    if rec.n_samples as f64 / step * rec.n_channels() as f64 > 1e10 {
        return Err(rec.request_error("resample (reference convention)", "too many samples".into()));
    }
    let mut out = rec.clone_meta();
    let mut n_out = 0;
    for c in 0..rec.n_channels() {
        let r = resample_reference(rec.channel(c).unwrap_or(&[]), dt_ms)?;
        n_out = r.len();
        out.samples.extend(r);
    }
    out.n_samples = n_out;
    out.sampling_rate_hz = 1000.0 / dt_ms;
    out.notes.push(format!(
        "reference resampling: each raw sample taken as {REFERENCE_SAMPLE_MS} ms, interpolated to dt = {dt_ms} ms"
    ));
    Ok(out)
}

/// Cuts a training window and a held-out window (start and duration in seconds each); the two
/// must not overlap.
pub fn split_windows(
    rec: &Recording,
    train: (f64, f64),
    held_out: (f64, f64),
) -> Result<(Recording, Recording)> {
    let a = rec.window(train.0, train.1)?;
    let b = rec.window(held_out.0, held_out.1)?;
    let overlap = train.0 < held_out.0 + held_out.1 && held_out.0 < train.0 + train.1;
    if overlap {
        return Err(rec.request_error(
            "cut train/held-out windows",
            format!("windows {train:?} and {held_out:?} (start s, duration s) overlap"),
        ));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Channel;

    fn rec() -> Recording {
        let mut r = Recording::new(
            vec![
                Channel::new("A", ChannelType::Ecog, "uV"),
                Channel::new("B", ChannelType::Seeg, "uV"),
                Channel::new("C", ChannelType::Ecog, "uV"),
            ],
            4.0,
            4,
            vec![0., 2., 4., 6., 1., 1., 1., 1., -4., 0., 4., 8.],
        )
        .unwrap();
        r.channels[2].status = ChannelStatus::Bad;
        r
    }

    #[test]
    fn selection_and_bad_channels() {
        let r = rec();
        let s = select_channels(&r, &ChannelSelector::Names(vec!["c".into(), "A".into()])).unwrap();
        assert_eq!(s.samples, vec![-4., 0., 4., 8., 0., 2., 4., 6.]);
        let s = select_channels(&r, &ChannelSelector::Indices(vec![1])).unwrap();
        assert_eq!(s.channels[0].name, "B");
        assert!(select_channels(&r, &ChannelSelector::Indices(vec![3])).is_err());
        assert!(select_channels(&r, &ChannelSelector::Names(vec!["Z".into()])).is_err());
        let s = select_channels(&r, &ChannelSelector::Types(vec![ChannelType::Ecog])).unwrap();
        assert_eq!(s.n_channels(), 2);
        let g = drop_bad_channels(&r);
        assert_eq!(g.n_channels(), 2);
        assert_eq!(g.channels[1].name, "B");
        g.validate().unwrap();
    }

    #[test]
    fn scaling() {
        let r = rec();
        let z = scale(&r, Scaling::ZScore).unwrap();
        let s = z.channel_stats();
        assert!(s[0].mean.abs() < 1e-12 && (s[0].std - 1.0).abs() < 1e-12);
        assert_eq!(z.channel(1).unwrap(), &[0.0; 4]);
        let d = scale(&r, Scaling::Divide(PAPER_DIVISOR)).unwrap();
        assert_eq!(d.samples[1], 0.01);
        assert!(scale(&r, Scaling::Divide(0.0)).is_err());
    }

    #[test]
    fn zscore_by_a_window_uses_only_that_windows_statistics() {
        let r = rec();
        // the first 2 of 4 samples: A [0, 2] (mean 1, std 1), B constant, C [-4, 0] (mean -2, std 2)
        let w = r.window(0.0, 0.5).unwrap();
        assert_eq!(w.n_samples, 2);
        let z = zscore_by(&r, &w).unwrap();
        assert_eq!(z.channel(0).unwrap(), &[-1., 1., 3., 5.]);
        assert_eq!(z.channel(1).unwrap(), &[0.0; 4]);
        assert_eq!(z.channel(2).unwrap(), &[-1., 1., 3., 5.]);
        // by the whole recording it is the plain z-score
        assert_eq!(
            zscore_by(&r, &r).unwrap().samples,
            scale(&r, Scaling::ZScore).unwrap().samples
        );
        // a reference with other channels is refused, naming the operation
        let other = select_channels(&r, &ChannelSelector::Indices(vec![2, 0, 1])).unwrap();
        let e = zscore_by(&r, &other).unwrap_err().to_string();
        assert!(e.contains("z-score"), "{e}");
        let fewer = select_channels(&r, &ChannelSelector::Indices(vec![0])).unwrap();
        assert!(zscore_by(&r, &fewer).is_err());
    }

    #[test]
    fn resampling() {
        let r = rec();
        let up = resample_linear(&r, 8.0).unwrap();
        assert_eq!(up.n_samples, 7);
        assert_eq!(up.channel(0).unwrap(), &[0., 1., 2., 3., 4., 5., 6.]);
        let down = resample_linear(&r, 2.0).unwrap();
        assert_eq!(down.channel(0).unwrap(), &[0., 4.]);
        // reference convention: dt = 1 ms doubles, last value held
        assert_eq!(
            resample_reference(&[0., 2., 4.], 1.0).unwrap(),
            vec![0., 1., 2., 3., 4., 4.]
        );
        assert_eq!(
            resample_reference(&[0., 2., 4.], 2.0).unwrap(),
            vec![0., 2., 4.]
        );
        assert!(resample_reference(&[0., 2., 4.], 0.0).is_err());
        assert!(resample_reference(&[0., 2., 4.], 1e-300).is_err());
        // dt = 0.5: t = 0, .25, .5, ... < 3
        let q = resample_reference(&[0., 4.], 0.5).unwrap();
        assert_eq!(q, vec![0., 1., 2., 3., 4., 4., 4., 4.]);
        let rr = resample_reference_recording(&r, 1.0).unwrap();
        assert_eq!(rr.n_samples, 8);
        assert_eq!(rr.sampling_rate_hz, 1000.0);
        rr.validate().unwrap();
    }

    #[test]
    fn windows() {
        let r = rec();
        let (a, b) = split_windows(&r, (0.0, 0.5), (0.5, 0.5)).unwrap();
        assert_eq!(a.channel(0).unwrap(), &[0., 2.]);
        assert_eq!(b.channel(0).unwrap(), &[4., 6.]);
        assert!(split_windows(&r, (0.0, 0.75), (0.5, 0.5)).is_err());
        assert!(split_windows(&r, (0.0, 0.5), (0.5, 1.0)).is_err());
    }
}
