//! EDF and EDF+ (European Data Format) files.
//!
//! A 256-byte ASCII main header, `ns × 256` bytes of signal headers, then data records; each
//! record holds, for each signal in turn, `samples_per_record[i]` little-endian i16 values.
//! Physical value = `(digital − dmin)·(pmax − pmin)/(dmax − dmin) + pmin`. Each signal has its
//! own rate (`samples_per_record / record_duration`). EDF+ annotation signals
//! (`"EDF Annotations"`) are skipped. The header and the declared record count are checked
//! against the file length before any sample buffer is allocated.

use std::path::Path;

use crate::error::{DataError, Result, read_file, shorten};
use crate::recording::{Channel, ChannelType, Recording};

/// Label of EDF+ annotation signals.
pub const ANNOTATION_LABEL: &str = "EDF Annotations";

/// Header of one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct EdfSignalHeader {
    /// Label (electrode name, possibly prefixed with a type such as `"EEG "`).
    pub label: String,
    /// Transducer type.
    pub transducer: String,
    /// Physical dimension (unit).
    pub physical_dimension: String,
    /// Physical minimum.
    pub physical_min: f64,
    /// Physical maximum.
    pub physical_max: f64,
    /// Digital minimum.
    pub digital_min: i32,
    /// Digital maximum.
    pub digital_max: i32,
    /// Prefiltering text.
    pub prefiltering: String,
    /// Samples per data record.
    pub samples_per_record: usize,
}

impl EdfSignalHeader {
    /// True for EDF+ annotation signals.
    pub fn is_annotation(&self) -> bool {
        self.label == ANNOTATION_LABEL
    }
}

/// A signal with its header and physical samples.
#[derive(Debug, Clone, PartialEq)]
pub struct EdfSignal {
    /// Header fields.
    pub header: EdfSignalHeader,
    /// Sampling rate in Hz.
    pub sampling_rate_hz: f64,
    /// Physical values.
    pub samples: Vec<f64>,
}

/// A parsed EDF/EDF+ file (annotation signals dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct EdfFile {
    /// `"EDF"`, `"EDF+C"` or `"EDF+D"`.
    pub variant: String,
    /// Local patient identification.
    pub patient: String,
    /// Local recording identification.
    pub recording: String,
    /// Start date `dd.mm.yy`.
    pub start_date: String,
    /// Start time `hh.mm.ss`.
    pub start_time: String,
    /// Number of data records.
    pub n_records: usize,
    /// Duration of a data record in seconds.
    pub record_duration_s: f64,
    /// Number of annotation signals skipped.
    pub annotation_signals: usize,
    /// The ordinary signals.
    pub signals: Vec<EdfSignal>,
}

fn ascii(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| if b.is_ascii() { b as char } else { '?' })
        .collect::<String>()
        .trim()
        .to_string()
}

fn invalid(path: &Path, field: &str, value: &str, reason: &str) -> DataError {
    DataError::InvalidField {
        path: path.into(),
        field: field.into(),
        value: shorten(value),
        reason: reason.into(),
    }
}

fn parse_f64(path: &Path, field: &str, s: &str) -> Result<f64> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| invalid(path, field, s, "not a number"))
}

fn parse_i64(path: &Path, field: &str, s: &str) -> Result<i64> {
    s.parse::<i64>()
        .map_err(|_| invalid(path, field, s, "not an integer"))
}

/// Parses an EDF/EDF+ file held in memory.
pub fn parse_edf(bytes: &[u8], path: &Path) -> Result<EdfFile> {
    let total = bytes.len() as u64;
    let main = bytes.get(0..256).ok_or_else(|| DataError::Truncated {
        path: path.into(),
        field: "EDF main header".into(),
        needed: 256,
        available: total,
    })?;
    let field = |a: usize, b: usize| ascii(&main[a..b]);
    let version = &main[0..8];
    if version == b"\xffBIOSEMI" {
        return Err(DataError::Unsupported {
            path: path.into(),
            field: "EDF version".into(),
            value: "BDF (24-bit BioSemi)".into(),
            supported: "EDF, EDF+".into(),
        });
    }
    if version != b"0       " {
        return Err(DataError::BadMagic {
            path: path.into(),
            field: "EDF version".into(),
            expected: "\"0       \"".into(),
            found: format!("{:?}", String::from_utf8_lossy(version)),
        });
    }
    let reserved = field(192, 236);
    let variant = if reserved.starts_with("EDF+C") {
        "EDF+C"
    } else if reserved.starts_with("EDF+D") {
        "EDF+D"
    } else {
        "EDF"
    };
    let header_bytes = parse_i64(path, "EDF number of header bytes", &field(184, 192))?;
    let n_records_raw = parse_i64(path, "EDF number of data records", &field(236, 244))?;
    let record_duration_s = parse_f64(path, "EDF duration of a data record", &field(244, 252))?;
    let ns_raw = parse_i64(path, "EDF number of signals", &field(252, 256))?;
    if !(1..=100_000).contains(&ns_raw) {
        return Err(invalid(
            path,
            "EDF number of signals",
            &ns_raw.to_string(),
            "must be 1..=100000",
        ));
    }
    let ns = ns_raw as usize;
    let expected_header = 256 * (ns + 1);
    if header_bytes != expected_header as i64 {
        return Err(DataError::Inconsistent {
            path: path.into(),
            field: "EDF number of header bytes".into(),
            reason: format!("{header_bytes} declared, but {ns} signals need {expected_header}"),
        });
    }
    let sig = bytes
        .get(256..expected_header)
        .ok_or_else(|| DataError::Truncated {
            path: path.into(),
            field: format!("EDF signal headers ({ns} signals)"),
            needed: expected_header as u64,
            available: total,
        })?;
    // Field widths of the signal header, in file order.
    const WIDTHS: [usize; 10] = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32];
    let mut offsets = [0usize; 10];
    let mut acc = 0;
    for (o, w) in offsets.iter_mut().zip(WIDTHS) {
        *o = acc;
        acc += w * ns;
    }
    let get = |f: usize, i: usize| -> String {
        let a = offsets[f] + WIDTHS[f] * i;
        ascii(sig.get(a..a + WIDTHS[f]).unwrap_or(&[]))
    };
    let mut headers = Vec::with_capacity(ns);
    for i in 0..ns {
        let n = i + 1;
        let label = get(0, i);
        let spr = parse_i64(
            path,
            &format!("EDF signal {n} samples per record"),
            &get(8, i),
        )?;
        if !(0..=10_000_000).contains(&spr) {
            return Err(invalid(
                path,
                &format!("EDF signal {n} samples per record"),
                &spr.to_string(),
                "must be 0..=10000000",
            ));
        }
        let h = EdfSignalHeader {
            transducer: get(1, i),
            physical_dimension: get(2, i),
            physical_min: parse_f64(
                path,
                &format!("EDF signal {n} physical minimum"),
                &get(3, i),
            )?,
            physical_max: parse_f64(
                path,
                &format!("EDF signal {n} physical maximum"),
                &get(4, i),
            )?,
            digital_min: parse_i64(path, &format!("EDF signal {n} digital minimum"), &get(5, i))?
                .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            digital_max: parse_i64(path, &format!("EDF signal {n} digital maximum"), &get(6, i))?
                .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            prefiltering: get(7, i),
            samples_per_record: spr as usize,
            label,
        };
        if !h.is_annotation() && h.digital_max <= h.digital_min {
            return Err(DataError::InvalidField {
                path: path.into(),
                field: format!("EDF signal {n} ({}) digital range", h.label),
                value: format!("{}..{}", h.digital_min, h.digital_max),
                reason: "digital maximum must exceed digital minimum".into(),
            });
        }
        headers.push(h);
    }
    let record_samples: usize = headers.iter().map(|h| h.samples_per_record).sum();
    let record_bytes = record_samples as u64 * 2;
    let data_len = total - expected_header as u64;
    if record_bytes == 0 {
        return Err(invalid(
            path,
            "EDF samples per record",
            "0",
            "all signals are empty",
        ));
    }
    let n_records = if n_records_raw == -1 {
        (data_len / record_bytes) as usize
    } else if n_records_raw < 0 {
        return Err(invalid(
            path,
            "EDF number of data records",
            &n_records_raw.to_string(),
            "negative",
        ));
    } else {
        n_records_raw as usize
    };
    let needed = (n_records as u64).saturating_mul(record_bytes);
    if needed > data_len {
        return Err(DataError::SizeMismatch {
            path: path.into(),
            field: format!("EDF number of data records ({n_records} × {record_bytes} bytes)"),
            declared: needed,
            available: data_len,
        });
    }
    let has_data_signals = headers.iter().any(|h| !h.is_annotation());
    if has_data_signals && record_duration_s <= 0.0 {
        return Err(invalid(
            path,
            "EDF duration of a data record",
            &record_duration_s.to_string(),
            "must be positive",
        ));
    }
    // Sizes are now bounded by the file length.
    let data = &bytes[expected_header..];
    let mut signals: Vec<EdfSignal> = Vec::new();
    let mut annotation_signals = 0;
    let mut offset_in_record = 0usize;
    for h in headers {
        let spr = h.samples_per_record;
        let start = offset_in_record;
        offset_in_record += spr;
        if h.is_annotation() {
            annotation_signals += 1;
            continue;
        }
        let gain = (h.physical_max - h.physical_min)
            / (f64::from(h.digital_max) - f64::from(h.digital_min));
        let base = h.physical_min - gain * f64::from(h.digital_min);
        let mut samples = Vec::with_capacity(n_records * spr);
        for r in 0..n_records {
            let a = (r * record_samples + start) * 2;
            let chunk = data.get(a..a + 2 * spr).unwrap_or(&[]);
            samples.extend(
                chunk
                    .chunks_exact(2)
                    .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])) * gain + base),
            );
        }
        let sampling_rate_hz = spr as f64 / record_duration_s;
        if !sampling_rate_hz.is_finite() {
            return Err(DataError::InvalidField {
                path: path.into(),
                field: format!("EDF signal {} sampling rate", h.label),
                value: format!("{spr} samples / {record_duration_s} s"),
                reason: "not a finite rate".into(),
            });
        }
        signals.push(EdfSignal {
            sampling_rate_hz,
            header: h,
            samples,
        });
    }
    Ok(EdfFile {
        variant: variant.into(),
        patient: field(8, 88),
        recording: field(88, 168),
        start_date: field(168, 176),
        start_time: field(176, 184),
        n_records,
        record_duration_s,
        annotation_signals,
        signals,
    })
}

/// Reads an EDF/EDF+ file from disk.
pub fn read_edf_file(path: &Path) -> Result<EdfFile> {
    let bytes = read_file(path)?;
    parse_edf(&bytes, path)
}

/// Splits an EDF label such as `"EEG Fp1"` into a type and a name.
fn label_type(label: &str) -> (ChannelType, String) {
    if let Some((prefix, rest)) = label.split_once(' ') {
        let t = ChannelType::parse(prefix);
        if !matches!(t, ChannelType::Other(_) | ChannelType::Misc) && !rest.trim().is_empty() {
            return (t, rest.trim().to_string());
        }
    }
    (ChannelType::Misc, label.to_string())
}

/// Linear interpolation of `x` (at `rate_in`) at times `k / rate_out`, `k < n_out`.
fn interp_to(x: &[f64], rate_in: f64, rate_out: f64, n_out: usize) -> Vec<f64> {
    let ratio = rate_in / rate_out;
    let last = x.last().copied().unwrap_or(0.0);
    (0..n_out)
        .map(|k| {
            let p = k as f64 * ratio;
            let i = p.floor() as usize;
            match (x.get(i), x.get(i + 1)) {
                (Some(a), Some(b)) => a + (b - a) * (p - i as f64),
                (Some(a), None) => *a,
                _ => last,
            }
        })
        .collect()
}

impl EdfFile {
    /// Distinct sampling rates of the signals, ascending.
    pub fn rates(&self) -> Vec<f64> {
        let mut r: Vec<f64> = self.signals.iter().map(|s| s.sampling_rate_hz).collect();
        r.sort_by(f64::total_cmp);
        r.dedup();
        r
    }

    /// Converts to a [`Recording`]. Signals slower than the fastest one are linearly
    /// interpolated to the fastest rate (a note records this).
    pub fn to_recording(&self, path: &Path) -> Result<Recording> {
        let rate = self
            .rates()
            .last()
            .copied()
            .ok_or_else(|| DataError::Inconsistent {
                path: path.into(),
                field: "EDF signals".into(),
                reason: "no data signals (only annotations)".into(),
            })?;
        let n = self
            .signals
            .iter()
            .filter(|s| s.sampling_rate_hz == rate)
            .map(|s| s.samples.len())
            .max()
            .unwrap_or(0);
        // Bound the output by the input (slow signals are upsampled): no runaway allocation.
        let input: usize = self.signals.iter().map(|s| s.samples.len()).sum();
        if (n as u128) * (self.signals.len() as u128) > 1024 * (input.max(1) as u128) {
            return Err(DataError::Inconsistent {
                path: path.into(),
                field: "EDF samples per record".into(),
                reason: format!(
                    "upsampling every signal to {rate} Hz would need {} values from {input}",
                    n as u128 * self.signals.len() as u128
                ),
            });
        }
        let mut samples = Vec::with_capacity(n * self.signals.len());
        let mut channels = Vec::with_capacity(self.signals.len());
        let mut notes = Vec::new();
        for s in &self.signals {
            if s.sampling_rate_hz == rate {
                samples.extend_from_slice(&s.samples);
            } else {
                notes.push(format!(
                    "signal {} resampled linearly from {} Hz to {} Hz",
                    s.header.label, s.sampling_rate_hz, rate
                ));
                samples.extend(interp_to(&s.samples, s.sampling_rate_hz, rate, n));
            }
            let (kind, name) = label_type(&s.header.label);
            channels.push(Channel::new(
                name,
                kind,
                s.header.physical_dimension.clone(),
            ));
        }
        if self.annotation_signals > 0 {
            notes.push(format!(
                "{} EDF+ annotation signal(s) skipped",
                self.annotation_signals
            ));
        }
        let mut rec =
            Recording::new(channels, rate, n, samples).map_err(|_| DataError::Inconsistent {
                path: path.into(),
                field: "EDF samples per record".into(),
                reason: "signal lengths do not match the record structure".into(),
            })?;
        rec.source = path.into();
        rec.format = self.variant.clone();
        rec.notes = notes;
        Ok(rec)
    }
}

/// Parses an EDF/EDF+ file held in memory into a [`Recording`].
pub fn parse_edf_recording(bytes: &[u8], path: &Path) -> Result<Recording> {
    parse_edf(bytes, path)?.to_recording(path)
}

/// Reads an EDF/EDF+ file into a [`Recording`].
pub fn read_edf(path: &Path) -> Result<Recording> {
    read_edf_file(path)?.to_recording(path)
}

/// One signal for [`encode_edf`]: `(label, unit, samples_per_record, physical_min,
/// physical_max, digital values)`.
pub type EdfSignalSpec<'a> = (&'a str, &'a str, usize, f64, f64, Vec<i16>);

/// Writes a minimal EDF/EDF+ file (used by tests and fixtures).
///
/// `signals` holds `(label, unit, samples_per_record, physical_min, physical_max, digital
/// values)`; when `annotation_spr > 0`, an EDF+C annotation signal of that many samples per
/// record is appended (filled with empty time-stamped annotation lists).
pub fn encode_edf(
    signals: &[EdfSignalSpec<'_>],
    n_records: usize,
    record_duration_s: f64,
    annotation_spr: usize,
) -> Vec<u8> {
    fn pad(s: &str, w: usize) -> Vec<u8> {
        let mut v: Vec<u8> = s.bytes().take(w).collect();
        v.resize(w, b' ');
        v
    }
    let ns = signals.len() + usize::from(annotation_spr > 0);
    let mut out = Vec::new();
    out.extend(pad("0", 8));
    out.extend(pad("X X X X", 80));
    out.extend(pad("Startdate X X X X", 80));
    out.extend(pad("01.01.85", 8));
    out.extend(pad("00.00.00", 8));
    out.extend(pad(&(256 * (ns + 1)).to_string(), 8));
    out.extend(pad(if annotation_spr > 0 { "EDF+C" } else { "" }, 44));
    out.extend(pad(&n_records.to_string(), 8));
    out.extend(pad(&record_duration_s.to_string(), 8));
    out.extend(pad(&ns.to_string(), 4));
    type Row<'a> = (&'a str, &'a str, usize, f64, f64, i32, i32);
    let mut rows: Vec<Row> = signals
        .iter()
        .map(|(l, u, spr, pmin, pmax, _)| (*l, *u, *spr, *pmin, *pmax, -32768, 32767))
        .collect();
    if annotation_spr > 0 {
        rows.push((
            ANNOTATION_LABEL,
            "",
            annotation_spr,
            -1.0,
            1.0,
            -32768,
            32767,
        ));
    }
    for r in &rows {
        out.extend(pad(r.0, 16));
    }
    for _ in &rows {
        out.extend(pad("", 80));
    }
    for r in &rows {
        out.extend(pad(r.1, 8));
    }
    for r in &rows {
        out.extend(pad(&r.3.to_string(), 8));
    }
    for r in &rows {
        out.extend(pad(&r.4.to_string(), 8));
    }
    for r in &rows {
        out.extend(pad(&r.5.to_string(), 8));
    }
    for r in &rows {
        out.extend(pad(&r.6.to_string(), 8));
    }
    for _ in &rows {
        out.extend(pad("", 80));
    }
    for r in &rows {
        out.extend(pad(&r.2.to_string(), 8));
    }
    for _ in &rows {
        out.extend(pad("", 32));
    }
    for rec in 0..n_records {
        for (_, _, spr, _, _, d) in signals {
            for k in 0..*spr {
                let v = d.get(rec * spr + k).copied().unwrap_or(0);
                out.extend(v.to_le_bytes());
            }
        }
        if annotation_spr > 0 {
            let mut tal = format!("+{}\x14\x14\0", rec as f64 * record_duration_s).into_bytes();
            tal.resize(annotation_spr * 2, 0);
            out.extend(tal);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn two_rate_edf_plus() -> Vec<u8> {
        // Signal A: 4 samples/record, B: 2 samples/record, 3 records of 0.5 s; plus annotations.
        let a: Vec<i16> = (0..12).map(|i| i * 100).collect();
        let b: Vec<i16> = vec![-32768, 32767, 0, 1, 2, 3];
        encode_edf(
            &[
                ("EEG A1", "uV", 4, -100.0, 100.0, a),
                ("B2", "mV", 2, 0.0, 65535.0, b),
            ],
            3,
            0.5,
            8,
        )
    }

    #[test]
    fn edf_plus_two_rates_and_annotations() {
        let bytes = two_rate_edf_plus();
        let p = Path::new("t.edf");
        let f = parse_edf(&bytes, p).unwrap();
        assert_eq!(f.variant, "EDF+C");
        assert_eq!(f.annotation_signals, 1);
        assert_eq!(f.signals.len(), 2);
        assert_eq!(f.signals[0].sampling_rate_hz, 8.0);
        assert_eq!(f.signals[1].sampling_rate_hz, 4.0);
        assert_eq!(f.signals[0].samples.len(), 12);
        // digital -> physical: gain 200/65535
        let g = 200.0 / 65535.0;
        let expect = (100.0 + 32768.0) * g - 100.0;
        assert!((f.signals[0].samples[1] - expect).abs() < 1e-9);
        assert_eq!(f.signals[1].samples[0], 0.0);
        assert_eq!(f.signals[1].samples[1], 65535.0);
        let rec = f.to_recording(p).unwrap();
        assert_eq!(rec.sampling_rate_hz, 8.0);
        assert_eq!(rec.n_samples, 12);
        assert_eq!(rec.channels[0].name, "A1");
        assert_eq!(rec.channels[0].kind, ChannelType::Eeg);
        assert_eq!(rec.channels[1].unit, "mV");
        // B interpolated: sample 1 of the 8 Hz grid sits halfway between B[0] and B[1].
        let b = rec.channel(1).unwrap();
        assert!((b[1] - 65535.0 / 2.0).abs() < 1e-9);
        assert_eq!(b[2], 65535.0);
    }

    #[test]
    fn plain_edf_and_errors() {
        let bytes = encode_edf(&[("X", "au", 2, -1.0, 1.0, vec![0, 1, 2, 3])], 2, 1.0, 0);
        let p = Path::new("plain.edf");
        let rec = parse_edf_recording(&bytes, p).unwrap();
        assert_eq!(rec.format, "EDF");
        assert_eq!(rec.n_samples, 4);
        // truncated data
        let e = parse_edf(&bytes[..bytes.len() - 1], p).unwrap_err();
        assert!(matches!(e, DataError::SizeMismatch { .. }), "{e}");
        // truncated header
        assert!(matches!(
            parse_edf(&bytes[..300], p),
            Err(DataError::Truncated { .. })
        ));
        // bad magic
        let mut m = bytes.clone();
        m[0] = b'9';
        assert!(matches!(parse_edf(&m, p), Err(DataError::BadMagic { .. })));
        // header field not a number
        let mut n = bytes.clone();
        n[236] = b'x';
        let e = parse_edf(&n, p).unwrap_err();
        assert!(e.to_string().contains("number of data records"), "{e}");
        // huge record count: no allocation, clean error
        let mut h = bytes.clone();
        h[236..244].copy_from_slice(b"99999999");
        assert!(matches!(
            parse_edf(&h, p),
            Err(DataError::SizeMismatch { .. })
        ));
        // a record duration so small that the rate is not finite
        let mut d = bytes.clone();
        d[244..252].copy_from_slice(b"1e-310  ");
        let e = parse_edf(&d, p).unwrap_err();
        assert!(matches!(e, DataError::InvalidField { .. }), "{e}");
        // -1 records: derived from the file length
        let mut u = bytes.clone();
        u[236..244].copy_from_slice(b"-1      ");
        assert_eq!(parse_edf(&u, p).unwrap().n_records, 2);
    }
}
