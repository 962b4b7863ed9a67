//! The common in-memory form of every iEEG reader: [`Recording`].

use std::fmt;
use std::path::PathBuf;

use crate::error::{DataError, Result};

/// Channel type, following the BIDS iEEG vocabulary (case-insensitive when parsed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChannelType {
    /// Scalp EEG.
    Eeg,
    /// Electrocorticography (grid/strip).
    Ecog,
    /// Stereo-EEG (depth).
    Seeg,
    /// Deep brain stimulation contact.
    Dbs,
    /// Reference channel.
    Ref,
    /// Electrooculogram.
    Eog,
    /// Electrocardiogram.
    Ecg,
    /// Electromyogram.
    Emg,
    /// Trigger / event channel.
    Trig,
    /// Miscellaneous or unknown.
    Misc,
    /// Any other type string (kept upper-case).
    Other(String),
}

impl ChannelType {
    /// Parses a type name (`"ECOG"`, `"seeg"`, …); unknown names become [`ChannelType::Other`].
    pub fn parse(s: &str) -> ChannelType {
        let u = s.trim().to_ascii_uppercase();
        match u.as_str() {
            "EEG" => ChannelType::Eeg,
            "ECOG" => ChannelType::Ecog,
            "SEEG" => ChannelType::Seeg,
            "DBS" => ChannelType::Dbs,
            "REF" => ChannelType::Ref,
            "EOG" | "HEOG" | "VEOG" => ChannelType::Eog,
            "ECG" | "EKG" => ChannelType::Ecg,
            "EMG" => ChannelType::Emg,
            "TRIG" | "TRIGGER" => ChannelType::Trig,
            "MISC" | "" | "N/A" => ChannelType::Misc,
            _ => ChannelType::Other(u),
        }
    }

    /// The BIDS spelling (`"ECOG"`, …).
    pub fn as_str(&self) -> &str {
        match self {
            ChannelType::Eeg => "EEG",
            ChannelType::Ecog => "ECOG",
            ChannelType::Seeg => "SEEG",
            ChannelType::Dbs => "DBS",
            ChannelType::Ref => "REF",
            ChannelType::Eog => "EOG",
            ChannelType::Ecg => "ECG",
            ChannelType::Emg => "EMG",
            ChannelType::Trig => "TRIG",
            ChannelType::Misc => "MISC",
            ChannelType::Other(s) => s,
        }
    }
}

impl fmt::Display for ChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a channel is usable (BIDS `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelStatus {
    /// Usable.
    Good,
    /// Marked bad; [`crate::preprocess::drop_bad_channels`] removes it.
    Bad,
}

impl fmt::Display for ChannelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChannelStatus::Good => "good",
            ChannelStatus::Bad => "bad",
        })
    }
}

/// One channel's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Name (electrode label).
    pub name: String,
    /// Type.
    pub kind: ChannelType,
    /// Good or bad.
    pub status: ChannelStatus,
    /// Physical unit of the samples (`"uV"`, `"au"`, …).
    pub unit: String,
    /// Clinically marked seizure-onset-zone contact, when the source says so.
    pub seizure_onset_zone: Option<bool>,
}

impl Channel {
    /// A good channel of the given name, type and unit.
    pub fn new(name: impl Into<String>, kind: ChannelType, unit: impl Into<String>) -> Channel {
        Channel {
            name: name.into(),
            kind,
            status: ChannelStatus::Good,
            unit: unit.into(),
            seizure_onset_zone: None,
        }
    }
}

/// Summary statistics of one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelStats {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
}

/// A multichannel recording at one sampling rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Channel metadata, one per row of `samples`.
    pub channels: Vec<Channel>,
    /// Sampling rate in Hz.
    pub sampling_rate_hz: f64,
    /// Samples per channel.
    pub n_samples: usize,
    /// Values, `channels × n_samples`, row-major: channel `c`, sample `t` is at `c·n_samples + t`.
    pub samples: Vec<f64>,
    /// The file it was read from (empty for data built in memory).
    pub source: PathBuf,
    /// Human-readable format name (`"EDF+"`, `"BrainVision"`, …).
    pub format: String,
    /// Free-form notes added by readers and preprocessing (one line each).
    pub notes: Vec<String>,
}

impl Recording {
    /// Builds a recording, checking that `samples.len() == channels.len() · n_samples` and that
    /// the rate is positive and finite.
    pub fn new(
        channels: Vec<Channel>,
        sampling_rate_hz: f64,
        n_samples: usize,
        samples: Vec<f64>,
    ) -> Result<Recording> {
        let rec = Recording {
            channels,
            sampling_rate_hz,
            n_samples,
            samples,
            source: PathBuf::new(),
            format: "in-memory".into(),
            notes: Vec::new(),
        };
        rec.validate()?;
        Ok(rec)
    }

    /// Checks the internal consistency (sample count and rate).
    pub fn validate(&self) -> Result<()> {
        if Some(self.samples.len()) != self.channels.len().checked_mul(self.n_samples) {
            return Err(self.request_error(
                "build a recording",
                format!(
                    "{} values for {} channels × {} samples",
                    self.samples.len(),
                    self.channels.len(),
                    self.n_samples
                ),
            ));
        }
        if !(self.sampling_rate_hz.is_finite() && self.sampling_rate_hz > 0.0) {
            return Err(self.request_error(
                "build a recording",
                format!("sampling rate {} Hz", self.sampling_rate_hz),
            ));
        }
        Ok(())
    }

    pub(crate) fn request_error(&self, operation: &str, reason: String) -> DataError {
        DataError::InvalidRequest {
            path: self.source.clone(),
            operation: operation.into(),
            reason,
        }
    }

    /// Number of channels.
    pub fn n_channels(&self) -> usize {
        self.channels.len()
    }

    /// Duration in seconds (`n_samples / rate`).
    pub fn duration_s(&self) -> f64 {
        self.n_samples as f64 / self.sampling_rate_hz
    }

    /// The samples of channel `c`, or `None` when out of range.
    pub fn channel(&self, c: usize) -> Option<&[f64]> {
        let start = c.checked_mul(self.n_samples)?;
        self.samples.get(start..start.checked_add(self.n_samples)?)
    }

    /// Index of the channel called `name` (exact match first, then case-insensitive).
    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels
            .iter()
            .position(|c| c.name == name)
            .or_else(|| {
                self.channels
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
            })
    }

    /// Per-channel min, max, mean and (population) standard deviation.
    pub fn channel_stats(&self) -> Vec<ChannelStats> {
        (0..self.n_channels())
            .map(|c| stats(self.channel(c).unwrap_or(&[])))
            .collect()
    }

    /// A copy of samples `start .. start + len` of every channel.
    pub fn window_samples(&self, start: usize, len: usize) -> Result<Recording> {
        let end = start.checked_add(len).filter(|&e| e <= self.n_samples);
        let Some(end) = end.filter(|_| len > 0) else {
            return Err(self.request_error(
                "cut a window",
                format!(
                    "samples {start}..{start}+{len} not inside 0..{} (or empty)",
                    self.n_samples
                ),
            ));
        };
        let mut samples = Vec::with_capacity(len * self.n_channels());
        for c in 0..self.n_channels() {
            if let Some(row) = self.channel(c) {
                samples.extend_from_slice(&row[start..end]);
            }
        }
        let mut rec = Recording {
            samples,
            n_samples: len,
            ..self.clone_meta()
        };
        rec.notes.push(format!(
            "window: samples {start}..{end} ({:.4} s .. {:.4} s)",
            start as f64 / self.sampling_rate_hz,
            end as f64 / self.sampling_rate_hz
        ));
        Ok(rec)
    }

    /// A copy of the window starting at `start_s` seconds and lasting `dur_s` seconds
    /// (both rounded to the nearest sample).
    pub fn window(&self, start_s: f64, dur_s: f64) -> Result<Recording> {
        if !(start_s.is_finite() && dur_s.is_finite() && start_s >= 0.0 && dur_s > 0.0) {
            return Err(self.request_error(
                "cut a window",
                format!("start {start_s} s, duration {dur_s} s"),
            ));
        }
        let start = (start_s * self.sampling_rate_hz).round();
        let len = (dur_s * self.sampling_rate_hz).round();
        if start + len > self.n_samples as f64 {
            return Err(self.request_error(
                "cut a window",
                format!(
                    "{start_s} s + {dur_s} s exceeds the recording's {:.4} s",
                    self.duration_s()
                ),
            ));
        }
        self.window_samples(start as usize, len as usize)
    }

    /// Metadata copy with no samples.
    pub(crate) fn clone_meta(&self) -> Recording {
        Recording {
            channels: self.channels.clone(),
            sampling_rate_hz: self.sampling_rate_hz,
            n_samples: 0,
            samples: Vec::new(),
            source: self.source.clone(),
            format: self.format.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// Min, max, mean and population std of a slice (NaN-free input assumed; empty → zeros).
pub fn stats(x: &[f64]) -> ChannelStats {
    if x.is_empty() {
        return ChannelStats {
            min: 0.0,
            max: 0.0,
            mean: 0.0,
            std: 0.0,
        };
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    ChannelStats {
        min: x.iter().copied().fold(f64::INFINITY, f64::min),
        max: x.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean,
        std: var.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rec2() -> Recording {
        Recording::new(
            vec![
                Channel::new("A", ChannelType::Ecog, "uV"),
                Channel::new("B", ChannelType::Seeg, "uV"),
            ],
            10.0,
            5,
            vec![0., 1., 2., 3., 4., 10., 20., 30., 40., 50.],
        )
        .unwrap()
    }

    #[test]
    fn windows_and_stats() {
        let r = rec2();
        assert_eq!(r.duration_s(), 0.5);
        let w = r.window(0.1, 0.3).unwrap();
        assert_eq!(w.samples, vec![1., 2., 3., 20., 30., 40.]);
        assert!(r.window(0.3, 0.3).is_err());
        assert!(r.window(-1.0, 0.1).is_err());
        assert!(r.window_samples(5, 1).is_err());
        assert!(r.window_samples(usize::MAX, 2).is_err());
        let s = r.channel_stats();
        assert_eq!(s[0].min, 0.0);
        assert_eq!(s[1].max, 50.0);
        assert_eq!(s[0].mean, 2.0);
        assert!((s[0].std - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(r.channel_index("b"), Some(1));
        assert!(Recording::new(vec![], 0.0, 0, vec![]).is_err());
        assert!(
            Recording::new(
                vec![Channel::new("x", ChannelType::Misc, "")],
                1.0,
                2,
                vec![1.0]
            )
            .is_err()
        );
    }

    #[test]
    fn channel_type_parse() {
        assert_eq!(ChannelType::parse("ecog"), ChannelType::Ecog);
        assert_eq!(ChannelType::parse("SEEG"), ChannelType::Seeg);
        assert_eq!(ChannelType::parse("foo"), ChannelType::Other("FOO".into()));
    }
}
