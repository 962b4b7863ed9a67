//! BrainVision Core Data Format: a `.vhdr` text header plus a binary `.eeg` file.
//!
//! Supported: `DataFormat=BINARY` with `BinaryFormat` `INT_16`, `INT_32` or `IEEE_FLOAT_32`
//! (and `IEEE_FLOAT_64`), `DataOrientation` `MULTIPLEXED` (sample-major) or `VECTORIZED`
//! (channel-major), little- or big-endian (`UseBigEndianOrder`), and per-channel resolution
//! (`ChN=name,reference,resolution,unit`; value = raw · resolution). Headers may be UTF-8 or
//! Latin-1. Marker files are not read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result, read_file, shorten};
use crate::recording::{Channel, ChannelType, Recording};

/// Sample encoding in the `.eeg` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryFormat {
    /// Signed 16-bit integers.
    Int16,
    /// Signed 32-bit integers.
    Int32,
    /// 32-bit IEEE floats.
    Float32,
    /// 64-bit IEEE floats.
    Float64,
}

impl BinaryFormat {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            BinaryFormat::Int16 => 2,
            BinaryFormat::Int32 | BinaryFormat::Float32 => 4,
            BinaryFormat::Float64 => 8,
        }
    }

    /// The header spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryFormat::Int16 => "INT_16",
            BinaryFormat::Int32 => "INT_32",
            BinaryFormat::Float32 => "IEEE_FLOAT_32",
            BinaryFormat::Float64 => "IEEE_FLOAT_64",
        }
    }
}

/// Sample order in the `.eeg` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// All channels of sample 0, then of sample 1, …
    Multiplexed,
    /// All samples of channel 0, then of channel 1, …
    Vectorized,
}

/// One `ChN=` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct VhdrChannel {
    /// Channel name.
    pub name: String,
    /// Reference channel name (may be empty).
    pub reference: String,
    /// Physical value of one raw unit (1 when empty).
    pub resolution: f64,
    /// Unit (µV when empty).
    pub unit: String,
}

/// A parsed `.vhdr` header.
#[derive(Debug, Clone, PartialEq)]
pub struct VhdrHeader {
    /// The identification line.
    pub identification: String,
    /// `DataFile` (relative to the header's folder).
    pub data_file: String,
    /// `MarkerFile`, if any.
    pub marker_file: Option<String>,
    /// Sample order.
    pub orientation: Orientation,
    /// Sample encoding.
    pub binary_format: BinaryFormat,
    /// `UseBigEndianOrder=YES`.
    pub big_endian: bool,
    /// Sampling interval in microseconds.
    pub sampling_interval_us: f64,
    /// `DataPoints`, if declared.
    pub data_points: Option<usize>,
    /// Channels in file order.
    pub channels: Vec<VhdrChannel>,
}

fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        // Latin-1: every byte is the code point of the same value.
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

fn invalid(path: &Path, field: &str, value: &str, reason: &str) -> DataError {
    DataError::InvalidField {
        path: path.into(),
        field: field.into(),
        value: shorten(value),
        reason: reason.into(),
    }
}

/// Parses a `.vhdr` header held in memory.
pub fn parse_vhdr(bytes: &[u8], path: &Path) -> Result<VhdrHeader> {
    let text = decode_text(bytes);
    let mut lines = text.lines();
    let first = lines
        .next()
        .unwrap_or("")
        .trim_start_matches('\u{feff}')
        .trim();
    if !(first.starts_with("Brain Vision Data Exchange Header File")
        || first.starts_with("BrainVision Data Exchange Header File"))
    {
        return Err(DataError::BadMagic {
            path: path.into(),
            field: "BrainVision identification line".into(),
            expected: "\"Brain Vision Data Exchange Header File Version …\"".into(),
            found: format!("{:?}", shorten(first)),
        });
    }
    let mut section = String::new();
    let mut common: BTreeMap<String, String> = BTreeMap::new();
    let mut binary: BTreeMap<String, String> = BTreeMap::new();
    let mut chans: BTreeMap<usize, VhdrChannel> = BTreeMap::new();
    for line in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].trim().to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match section.as_str() {
            "Common Infos" => {
                common.insert(k.to_string(), v.to_string());
            }
            "Binary Infos" => {
                binary.insert(k.to_string(), v.to_string());
            }
            "Channel Infos" => {
                let field = format!("[Channel Infos] {k}");
                let idx = k
                    .strip_prefix("Ch")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| invalid(path, &field, k, "expected Ch<N> with N ≥ 1"))?;
                let parts: Vec<&str> = v.split(',').collect();
                let name = parts.first().copied().unwrap_or("").replace("\\1", ",");
                let reference = parts.get(1).copied().unwrap_or("").replace("\\1", ",");
                let res_s = parts.get(2).map(|s| s.trim()).unwrap_or("");
                let resolution = if res_s.is_empty() {
                    1.0
                } else {
                    res_s
                        .parse::<f64>()
                        .ok()
                        .filter(|r| r.is_finite())
                        .ok_or_else(|| {
                            invalid(path, &format!("{field} resolution"), res_s, "not a number")
                        })?
                };
                let unit = match parts.get(3).map(|s| s.trim()) {
                    Some(u) if !u.is_empty() => u.to_string(),
                    _ => "µV".to_string(),
                };
                if chans
                    .insert(
                        idx,
                        VhdrChannel {
                            name: name.trim().to_string(),
                            reference,
                            resolution,
                            unit,
                        },
                    )
                    .is_some()
                {
                    return Err(DataError::Inconsistent {
                        path: path.into(),
                        field: field.clone(),
                        reason: "channel defined twice".into(),
                    });
                }
            }
            _ => {}
        }
    }
    let req = |map: &BTreeMap<String, String>, sec: &str, key: &str| -> Result<String> {
        map.get(key)
            .cloned()
            .ok_or_else(|| DataError::MissingField {
                path: path.into(),
                field: format!("[{sec}] {key}"),
            })
    };
    let data_file = req(&common, "Common Infos", "DataFile")?;
    let fmt = common
        .get("DataFormat")
        .cloned()
        .unwrap_or_else(|| "BINARY".into());
    if !fmt.eq_ignore_ascii_case("BINARY") {
        return Err(DataError::Unsupported {
            path: path.into(),
            field: "[Common Infos] DataFormat".into(),
            value: shorten(&fmt),
            supported: "BINARY".into(),
        });
    }
    let orient_s = common
        .get("DataOrientation")
        .cloned()
        .unwrap_or_else(|| "MULTIPLEXED".into());
    let orientation = match orient_s.to_ascii_uppercase().as_str() {
        "MULTIPLEXED" => Orientation::Multiplexed,
        "VECTORIZED" => Orientation::Vectorized,
        _ => {
            return Err(DataError::Unsupported {
                path: path.into(),
                field: "[Common Infos] DataOrientation".into(),
                value: shorten(&orient_s),
                supported: "MULTIPLEXED, VECTORIZED".into(),
            });
        }
    };
    let n_s = req(&common, "Common Infos", "NumberOfChannels")?;
    let n_channels = n_s.parse::<usize>().map_err(|_| {
        invalid(
            path,
            "[Common Infos] NumberOfChannels",
            &n_s,
            "not a number",
        )
    })?;
    let si_s = req(&common, "Common Infos", "SamplingInterval")?;
    let sampling_interval_us = si_s
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            invalid(
                path,
                "[Common Infos] SamplingInterval",
                &si_s,
                "not a positive number",
            )
        })?;
    let data_points = match common.get("DataPoints") {
        Some(s) => Some(
            s.parse::<usize>()
                .map_err(|_| invalid(path, "[Common Infos] DataPoints", s, "not a number"))?,
        ),
        None => None,
    };
    let bf_s = req(&binary, "Binary Infos", "BinaryFormat")?;
    let binary_format = match bf_s.to_ascii_uppercase().as_str() {
        "INT_16" => BinaryFormat::Int16,
        "INT_32" => BinaryFormat::Int32,
        "IEEE_FLOAT_32" => BinaryFormat::Float32,
        "IEEE_FLOAT_64" => BinaryFormat::Float64,
        _ => {
            return Err(DataError::Unsupported {
                path: path.into(),
                field: "[Binary Infos] BinaryFormat".into(),
                value: shorten(&bf_s),
                supported: "INT_16, INT_32, IEEE_FLOAT_32, IEEE_FLOAT_64".into(),
            });
        }
    };
    let big_endian = binary
        .get("UseBigEndianOrder")
        .is_some_and(|v| v.eq_ignore_ascii_case("YES"));
    if chans.len() != n_channels || chans.keys().next_back().copied().unwrap_or(0) != n_channels {
        return Err(DataError::Inconsistent {
            path: path.into(),
            field: "[Common Infos] NumberOfChannels".into(),
            reason: format!(
                "declares {n_channels} channels but [Channel Infos] lists {} (Ch{}..Ch{})",
                chans.len(),
                chans.keys().next().copied().unwrap_or(0),
                chans.keys().next_back().copied().unwrap_or(0)
            ),
        });
    }
    if n_channels == 0 {
        return Err(invalid(
            path,
            "[Common Infos] NumberOfChannels",
            "0",
            "needs at least one channel",
        ));
    }
    Ok(VhdrHeader {
        identification: first.to_string(),
        data_file,
        marker_file: common.get("MarkerFile").cloned(),
        orientation,
        binary_format,
        big_endian,
        sampling_interval_us,
        data_points,
        channels: chans.into_values().collect(),
    })
}

fn decode_value(b: &[u8], f: BinaryFormat, be: bool) -> f64 {
    let mut a4 = [0u8; 4];
    let mut a8 = [0u8; 8];
    match f {
        BinaryFormat::Int16 => {
            let a = [
                b.first().copied().unwrap_or(0),
                b.get(1).copied().unwrap_or(0),
            ];
            f64::from(if be {
                i16::from_be_bytes(a)
            } else {
                i16::from_le_bytes(a)
            })
        }
        BinaryFormat::Int32 | BinaryFormat::Float32 => {
            a4.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
            match (f, be) {
                (BinaryFormat::Int32, true) => f64::from(i32::from_be_bytes(a4)),
                (BinaryFormat::Int32, false) => f64::from(i32::from_le_bytes(a4)),
                (_, true) => f64::from(f32::from_be_bytes(a4)),
                (_, false) => f64::from(f32::from_le_bytes(a4)),
            }
        }
        BinaryFormat::Float64 => {
            a8.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
            if be {
                f64::from_be_bytes(a8)
            } else {
                f64::from_le_bytes(a8)
            }
        }
    }
}

/// Decodes the binary data of a header into a [`Recording`] (`eeg_path` names the data file in
/// errors).
pub fn decode_eeg(header: &VhdrHeader, eeg: &[u8], eeg_path: &Path) -> Result<Recording> {
    let nc = header.channels.len();
    let bps = header.binary_format.size();
    let frame = nc * bps;
    if frame == 0 || !eeg.len().is_multiple_of(frame) {
        return Err(DataError::SizeMismatch {
            path: eeg_path.into(),
            field: format!(
                "data length (not a whole number of {nc}-channel {} samples)",
                header.binary_format.as_str()
            ),
            declared: (eeg.len() / frame.max(1) * frame) as u64,
            available: eeg.len() as u64,
        });
    }
    let n = eeg.len() / frame;
    if let Some(dp) = header.data_points.filter(|&dp| dp != n) {
        return Err(DataError::SizeMismatch {
            path: eeg_path.into(),
            field: "[Common Infos] DataPoints".into(),
            declared: (dp as u64).saturating_mul(frame as u64),
            available: eeg.len() as u64,
        });
    }
    let mut samples = vec![0.0f64; nc * n];
    let be = header.big_endian;
    let f = header.binary_format;
    for (c, ch) in header.channels.iter().enumerate() {
        let row = &mut samples[c * n..(c + 1) * n];
        for (t, out) in row.iter_mut().enumerate() {
            let off = match header.orientation {
                Orientation::Multiplexed => (t * nc + c) * bps,
                Orientation::Vectorized => (c * n + t) * bps,
            };
            let raw = decode_value(eeg.get(off..off + bps).unwrap_or(&[]), f, be);
            *out = raw * ch.resolution;
        }
    }
    let channels = header
        .channels
        .iter()
        .map(|c| Channel::new(c.name.clone(), ChannelType::Misc, c.unit.clone()))
        .collect();
    let mut rec =
        Recording::new(channels, 1e6 / header.sampling_interval_us, n, samples).map_err(|_| {
            DataError::InvalidField {
                path: eeg_path.into(),
                field: "[Common Infos] SamplingInterval".into(),
                value: header.sampling_interval_us.to_string(),
                reason: "gives an invalid sampling rate".into(),
            }
        })?;
    rec.format = format!(
        "BrainVision ({}, {})",
        f.as_str(),
        match header.orientation {
            Orientation::Multiplexed => "MULTIPLEXED",
            Orientation::Vectorized => "VECTORIZED",
        }
    );
    Ok(rec)
}

/// Parses a header and its data, both held in memory.
pub fn parse_brainvision(vhdr: &[u8], eeg: &[u8], vhdr_path: &Path) -> Result<Recording> {
    let h = parse_vhdr(vhdr, vhdr_path)?;
    let mut rec = decode_eeg(&h, eeg, vhdr_path)?;
    rec.source = vhdr_path.into();
    Ok(rec)
}

/// The data file a header refers to (resolved against the header's folder).
pub fn data_file_path(header: &VhdrHeader, vhdr_path: &Path) -> PathBuf {
    vhdr_path
        .parent()
        .unwrap_or(Path::new(""))
        .join(&header.data_file)
}

/// Reads a `.vhdr` file and the `.eeg` file it names.
pub fn read_brainvision(vhdr_path: &Path) -> Result<Recording> {
    let h = parse_vhdr(&read_file(vhdr_path)?, vhdr_path)?;
    let eeg_path = data_file_path(&h, vhdr_path);
    if !eeg_path.is_file() {
        return Err(DataError::MissingFile {
            path: vhdr_path.into(),
            field: "[Common Infos] DataFile".into(),
            missing: eeg_path,
        });
    }
    let eeg = read_file(&eeg_path)?;
    let mut rec = decode_eeg(&h, &eeg, &eeg_path)?;
    rec.source = vhdr_path.into();
    Ok(rec)
}

/// Writes a `.vhdr` text and `.eeg` bytes for `data` (channels × samples of raw values, which
/// are cast to the format; test fixture helper). `channels` holds `(name, resolution, unit)`.
pub fn encode_brainvision(
    data_file: &str,
    channels: &[(&str, f64, &str)],
    raw: &[Vec<f64>],
    format: BinaryFormat,
    orientation: Orientation,
    sampling_interval_us: f64,
) -> (String, Vec<u8>) {
    let n = raw.first().map_or(0, Vec::len);
    let mut vhdr = String::from("Brain Vision Data Exchange Header File Version 1.0\n");
    vhdr.push_str("; Data created by lagrange-data tests\n\n[Common Infos]\nCodepage=UTF-8\n");
    vhdr.push_str(&format!("DataFile={data_file}\nDataFormat=BINARY\n"));
    vhdr.push_str(&format!(
        "DataOrientation={}\nNumberOfChannels={}\nSamplingInterval={}\nDataPoints={n}\n\n",
        match orientation {
            Orientation::Multiplexed => "MULTIPLEXED",
            Orientation::Vectorized => "VECTORIZED",
        },
        channels.len(),
        sampling_interval_us
    ));
    vhdr.push_str(&format!(
        "[Binary Infos]\nBinaryFormat={}\n\n[Channel Infos]\n",
        format.as_str()
    ));
    for (i, (name, res, unit)) in channels.iter().enumerate() {
        vhdr.push_str(&format!(
            "Ch{}={},,{},{}\n",
            i + 1,
            name.replace(',', "\\1"),
            res,
            unit
        ));
    }
    let enc = |v: f64| -> Vec<u8> {
        match format {
            BinaryFormat::Int16 => (v as i16).to_le_bytes().to_vec(),
            BinaryFormat::Int32 => (v as i32).to_le_bytes().to_vec(),
            BinaryFormat::Float32 => (v as f32).to_le_bytes().to_vec(),
            BinaryFormat::Float64 => v.to_le_bytes().to_vec(),
        }
    };
    let mut eeg = Vec::new();
    match orientation {
        Orientation::Multiplexed => {
            for t in 0..n {
                for row in raw {
                    eeg.extend(enc(row.get(t).copied().unwrap_or(0.0)));
                }
            }
        }
        Orientation::Vectorized => {
            for row in raw {
                for &v in row {
                    eeg.extend(enc(v));
                }
            }
        }
    }
    (vhdr, eeg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_formats_and_orientations() {
        let raw = vec![
            vec![1.0, -2.0, 3.0, 400.0],
            vec![-5.0, 6.0, -7.0, 8.0],
            vec![0.0, 1.0, 2.0, 3.0],
        ];
        let chans = [("Fp1", 0.5, "µV"), ("a,b", 2.0, "mV"), ("C3", 1.0, "")];
        for f in [
            BinaryFormat::Int16,
            BinaryFormat::Int32,
            BinaryFormat::Float32,
            BinaryFormat::Float64,
        ] {
            for o in [Orientation::Multiplexed, Orientation::Vectorized] {
                let (vhdr, eeg) = encode_brainvision("x.eeg", &chans, &raw, f, o, 2000.0);
                let rec = parse_brainvision(vhdr.as_bytes(), &eeg, Path::new("x.vhdr")).unwrap();
                assert_eq!(rec.n_channels(), 3);
                assert_eq!(rec.n_samples, 4);
                assert_eq!(rec.sampling_rate_hz, 500.0);
                assert_eq!(rec.channels[1].name, "a,b");
                assert_eq!(rec.channels[1].unit, "mV");
                assert_eq!(rec.channels[2].unit, "µV");
                for c in 0..3 {
                    for t in 0..4 {
                        assert_eq!(
                            rec.channel(c).unwrap()[t],
                            raw[c][t] * chans[c].1,
                            "{f:?} {o:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn errors() {
        let raw = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        let chans = [("A", 1.0, "uV"), ("B", 1.0, "uV")];
        let (vhdr, eeg) = encode_brainvision(
            "x.eeg",
            &chans,
            &raw,
            BinaryFormat::Int16,
            Orientation::Multiplexed,
            1000.0,
        );
        let p = Path::new("x.vhdr");
        // truncated data
        let e = parse_brainvision(vhdr.as_bytes(), &eeg[..eeg.len() - 1], p).unwrap_err();
        assert!(matches!(e, DataError::SizeMismatch { .. }));
        // DataPoints disagrees with the file
        assert!(parse_brainvision(vhdr.as_bytes(), &eeg[..4], p).is_err());
        // unknown binary format
        let v = vhdr.replace("INT_16", "INT_24");
        let e = parse_brainvision(v.as_bytes(), &eeg, p).unwrap_err();
        assert!(matches!(e, DataError::Unsupported { .. }), "{e}");
        // inconsistent channel count
        let v = vhdr.replace("NumberOfChannels=2", "NumberOfChannels=3");
        let e = parse_brainvision(v.as_bytes(), &eeg, p).unwrap_err();
        assert!(matches!(e, DataError::Inconsistent { .. }), "{e}");
        // not a number
        let v = vhdr.replace("SamplingInterval=1000", "SamplingInterval=abc");
        let e = parse_brainvision(v.as_bytes(), &eeg, p).unwrap_err();
        assert!(e.to_string().contains("SamplingInterval"), "{e}");
        // bad identification
        assert!(matches!(
            parse_brainvision(b"hello", &eeg, p),
            Err(DataError::BadMagic { .. })
        ));
        // missing .eeg file on disk
        let dir = std::env::temp_dir().join(format!("lagrange-bv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let vp = dir.join("y.vhdr");
        std::fs::write(&vp, vhdr.replace("x.eeg", "nope.eeg")).unwrap();
        let e = read_brainvision(&vp).unwrap_err();
        assert!(matches!(e, DataError::MissingFile { .. }), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
