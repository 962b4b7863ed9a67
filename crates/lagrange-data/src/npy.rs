//! NumPy `.npy` arrays with the JSON sidecar used in `shared/data`.
//!
//! `.npy`: `\x93NUMPY`, major/minor version, a little-endian header length (u16 for v1, u32 for
//! v2/v3), an ASCII Python dict with `descr`, `fortran_order` and `shape`, then the data.
//! Supported dtypes: `f4`, `f8`, `i2`, `i4`, `i8`, `u1`, `u2` in either byte order; shapes `(T,)`
//! (one channel) or `(C, T)`; C or Fortran order. The data length must equal the shape exactly.
//!
//! The sidecar `<stem>.json` gives `sampling_rate_hz` (required) and optionally
//! `channel_names`, `channel_types`, `units`, `soz_channel`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{DataError, Result, read_file, shorten};
use crate::recording::{Channel, ChannelType, Recording};

/// A decoded 1-D or 2-D array, as `rows × cols` f64 values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Rows (channels); 1 for a 1-D array.
    pub rows: usize,
    /// Columns (samples).
    pub cols: usize,
    /// Values, row-major.
    pub data: Vec<f64>,
    /// The dtype string (`"<f4"`, …).
    pub descr: String,
}

fn invalid(path: &Path, field: &str, value: &str, reason: &str) -> DataError {
    DataError::InvalidField {
        path: path.into(),
        field: field.into(),
        value: shorten(value),
        reason: reason.into(),
    }
}

/// Extracts the value text of `'key':` from a Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}'");
    let at = header.find(&pat)? + pat.len();
    let rest = header
        .get(at..)?
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    if let Some(r) = rest.strip_prefix('(') {
        let end = r.find(')')?;
        return r.get(..end);
    }
    if let Some(r) = rest.strip_prefix('\'') {
        let end = r.find('\'')?;
        return r.get(..end);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest.get(..end).map(str::trim)
}

/// Parses an `.npy` file held in memory.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    let total = bytes.len() as u64;
    let magic = bytes.get(0..6).ok_or_else(|| DataError::Truncated {
        path: path.into(),
        field: "npy magic".into(),
        needed: 6,
        available: total,
    })?;
    if magic != b"\x93NUMPY" {
        return Err(DataError::BadMagic {
            path: path.into(),
            field: "npy magic".into(),
            expected: "\\x93NUMPY".into(),
            found: format!("{magic:02X?}"),
        });
    }
    let major = bytes.get(6).copied().unwrap_or(0);
    let (hlen, hstart): (usize, usize) = match major {
        1 => match bytes.get(8..10) {
            Some(b) => (usize::from(u16::from_le_bytes([b[0], b[1]])), 10),
            None => (usize::MAX, 10),
        },
        2 | 3 => match bytes.get(8..12) {
            Some(b) => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12),
            None => (usize::MAX, 12),
        },
        v => {
            return Err(DataError::Unsupported {
                path: path.into(),
                field: "npy major version".into(),
                value: v.to_string(),
                supported: "1, 2, 3".into(),
            });
        }
    };
    let header = hstart
        .checked_add(hlen)
        .and_then(|end| bytes.get(hstart..end))
        .ok_or_else(|| DataError::Truncated {
            path: path.into(),
            field: "npy header".into(),
            needed: (hstart as u64).saturating_add(hlen as u64),
            available: total,
        })?;
    let header = String::from_utf8_lossy(header);
    let descr = dict_value(&header, "descr").ok_or_else(|| DataError::MissingField {
        path: path.into(),
        field: "npy header 'descr'".into(),
    })?;
    let fortran = match dict_value(&header, "fortran_order") {
        Some("True") => true,
        Some("False") => false,
        other => {
            return Err(invalid(
                path,
                "npy header 'fortran_order'",
                other.unwrap_or(""),
                "must be True or False",
            ));
        }
    };
    let shape_s = dict_value(&header, "shape").ok_or_else(|| DataError::MissingField {
        path: path.into(),
        field: "npy header 'shape'".into(),
    })?;
    let shape: Vec<usize> = shape_s
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>().map_err(|_| {
                invalid(
                    path,
                    "npy header 'shape'",
                    shape_s,
                    "not a list of integers",
                )
            })
        })
        .collect::<Result<_>>()?;
    let (rows, cols) = match shape.as_slice() {
        [t] => (1, *t),
        [c, t] => (*c, *t),
        _ => {
            return Err(invalid(
                path,
                "npy header 'shape'",
                shape_s,
                "only 1-D (T,) or 2-D (C, T) arrays are supported",
            ));
        }
    };
    let (order, kind) = match (descr.get(..1), descr.get(1..)) {
        (Some(o), Some(k)) => (o, k),
        _ => ("?", ""),
    };
    let big = match order {
        "<" | "|" | "=" => false,
        ">" => true,
        _ => {
            return Err(DataError::Unsupported {
                path: path.into(),
                field: "npy dtype".into(),
                value: shorten(descr),
                supported: "<f4, <f8, <i2, <i4, <i8, |u1, <u2 (or big-endian)".into(),
            });
        }
    };
    let size = match kind {
        "f4" | "i4" => 4,
        "f8" | "i8" => 8,
        "i2" | "u2" => 2,
        "u1" => 1,
        _ => {
            return Err(DataError::Unsupported {
                path: path.into(),
                field: "npy dtype".into(),
                value: shorten(descr),
                supported: "<f4, <f8, <i2, <i4, <i8, |u1, <u2 (or big-endian)".into(),
            });
        }
    };
    let body = bytes.get(hstart + hlen..).unwrap_or(&[]);
    let declared = (rows as u128)
        .checked_mul(cols as u128)
        .and_then(|v| v.checked_mul(size as u128));
    if declared != Some(body.len() as u128) {
        let declared = declared.unwrap_or(u128::MAX);
        return Err(DataError::SizeMismatch {
            path: path.into(),
            field: format!("npy shape ({shape_s}) × {descr}"),
            declared: u64::try_from(declared).unwrap_or(u64::MAX),
            available: body.len() as u64,
        });
    }
    let conv = |b: &[u8]| -> f64 {
        let mut a = [0u8; 8];
        a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
        if big {
            a[..size].reverse();
        }
        match kind {
            "f4" => f64::from(f32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            "f8" => f64::from_le_bytes(a),
            "i2" => f64::from(i16::from_le_bytes([a[0], a[1]])),
            "u2" => f64::from(u16::from_le_bytes([a[0], a[1]])),
            "i4" => f64::from(i32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            "i8" => i64::from_le_bytes(a) as f64,
            _ => f64::from(a[0]),
        }
    };
    let flat: Vec<f64> = body.chunks_exact(size).map(conv).collect();
    let data = if fortran && rows > 1 {
        // Column-major: element (r, t) is at t·rows + r.
        let mut d = vec![0.0; flat.len()];
        for r in 0..rows {
            for t in 0..cols {
                d[r * cols + t] = flat.get(t * rows + r).copied().unwrap_or(0.0);
            }
        }
        d
    } else {
        flat
    };
    Ok(NpyArray {
        rows,
        cols,
        data,
        descr: descr.to_string(),
    })
}

/// The sidecar path of an `.npy` file (`<stem>.json`).
pub fn sidecar_path(npy: &Path) -> PathBuf {
    npy.with_extension("json")
}

fn json_err(path: &Path, field: &str, reason: impl Into<String>) -> DataError {
    DataError::Json {
        path: path.into(),
        field: field.into(),
        reason: reason.into(),
    }
}

fn string_list(v: &Value, key: &str, path: &Path) -> Result<Option<Vec<String>>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| json_err(path, key, "expected a list of strings"))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(json_err(path, key, "expected a list of strings")),
    }
}

/// Combines an array and its sidecar JSON (both in memory) into a [`Recording`].
pub fn recording_from_parts(
    arr: NpyArray,
    sidecar: &[u8],
    npy_path: &Path,
    json_path: &Path,
) -> Result<Recording> {
    let v: Value = serde_json::from_slice(sidecar)
        .map_err(|e| json_err(json_path, "document", e.to_string()))?;
    let rate = v
        .get("sampling_rate_hz")
        .ok_or_else(|| DataError::MissingField {
            path: json_path.into(),
            field: "sampling_rate_hz".into(),
        })?
        .as_f64()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| json_err(json_path, "sampling_rate_hz", "must be a positive number"))?;
    let n = arr.rows;
    let check_len = |key: &str, len: usize| -> Result<()> {
        if len != n {
            return Err(DataError::Inconsistent {
                path: json_path.into(),
                field: key.into(),
                reason: format!("{len} entries, but {} has {n} channels", npy_path.display()),
            });
        }
        Ok(())
    };
    if let Some(nc) = v.get("n_channels").and_then(Value::as_u64) {
        check_len("n_channels", usize::try_from(nc).unwrap_or(usize::MAX))?;
    }
    let names = string_list(&v, "channel_names", json_path)?;
    if let Some(ns) = &names {
        check_len("channel_names", ns.len())?;
    }
    let types = string_list(&v, "channel_types", json_path)?;
    if let Some(ts) = &types {
        check_len("channel_types", ts.len())?;
    }
    let soz: Option<Vec<bool>> = match v.get("soz_channel") {
        Some(Value::Array(a)) => Some(a.iter().map(|b| b.as_bool().unwrap_or(false)).collect()),
        _ => None,
    };
    if let Some(s) = &soz {
        check_len("soz_channel", s.len())?;
    }
    let units = v.get("units").and_then(Value::as_str).unwrap_or("");
    // Long free-text "units" (as in shared/data) mean: arbitrary units.
    let unit = if units.is_empty() || units.len() > 12 {
        "au".to_string()
    } else {
        units.to_string()
    };
    let channels = (0..n)
        .map(|c| {
            let name = names
                .as_ref()
                .and_then(|v| v.get(c).cloned())
                .unwrap_or_else(|| format!("ch{c}"));
            let kind = types
                .as_ref()
                .and_then(|v| v.get(c))
                .map_or(ChannelType::Misc, |t| ChannelType::parse(t));
            let mut ch = Channel::new(name, kind, unit.clone());
            ch.seizure_onset_zone = soz.as_ref().and_then(|s| s.get(c).copied());
            ch
        })
        .collect();
    let mut rec = Recording::new(channels, rate, arr.cols, arr.data)?;
    rec.source = npy_path.into();
    rec.format = format!("NumPy .npy ({}) + JSON sidecar", arr.descr);
    if units.len() > 12 {
        rec.notes.push(format!("units: {units}"));
    }
    Ok(rec)
}

/// Reads `<stem>.npy` and its sidecar `<stem>.json`.
pub fn read_npy(path: &Path) -> Result<Recording> {
    let arr = parse_npy(&read_file(path)?, path)?;
    let side = sidecar_path(path);
    if !side.is_file() {
        return Err(DataError::MissingFile {
            path: path.into(),
            field: "JSON sidecar (sampling_rate_hz)".into(),
            missing: side,
        });
    }
    recording_from_parts(arr, &read_file(&side)?, path, &side)
}

/// Encodes a C-order `<f4` array of shape `(rows, cols)` (test fixture helper).
pub fn encode_npy_f32(rows: usize, cols: usize, data: &[f32]) -> Vec<u8> {
    let mut h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((h.len() as u16).to_le_bytes());
    out.extend(h.as_bytes());
    for v in data {
        out.extend(v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_with_sidecar() {
        let data: Vec<f32> = (0..6).map(|v| v as f32 * 0.5).collect();
        let bytes = encode_npy_f32(2, 3, &data);
        let p = Path::new("a.npy");
        let arr = parse_npy(&bytes, p).unwrap();
        assert_eq!((arr.rows, arr.cols), (2, 3));
        assert_eq!(arr.data, vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        let side = br#"{"sampling_rate_hz": 250.0, "channel_names": ["A","B"],
            "channel_types": ["ECOG","SEEG"], "soz_channel": [false, true], "units": "uV"}"#;
        let rec = recording_from_parts(arr.clone(), side, p, Path::new("a.json")).unwrap();
        assert_eq!(rec.sampling_rate_hz, 250.0);
        assert_eq!(rec.channels[1].kind, ChannelType::Seeg);
        assert_eq!(rec.channels[1].seizure_onset_zone, Some(true));
        assert_eq!(rec.channels[0].unit, "uV");
        let bad = br#"{"sampling_rate_hz": 250.0, "channel_names": ["A"]}"#;
        assert!(matches!(
            recording_from_parts(arr.clone(), bad, p, Path::new("a.json")),
            Err(DataError::Inconsistent { .. })
        ));
        let norate = br#"{"channel_names": ["A","B"]}"#;
        assert!(matches!(
            recording_from_parts(arr, norate, p, Path::new("a.json")),
            Err(DataError::MissingField { .. })
        ));
    }

    fn with_header(dict: &str, body: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((dict.len() as u16).to_le_bytes());
        out.extend(dict.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn npy_variants_and_errors() {
        let p = Path::new("b.npy");
        let bytes = encode_npy_f32(2, 3, &[1., 2., 3., 4., 5., 6.]);
        assert!(matches!(
            parse_npy(&bytes[..bytes.len() - 1], p),
            Err(DataError::SizeMismatch { .. })
        ));
        let body: Vec<u8> = [1f32, 2., 3., 4., 5., 6.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        // Fortran order: (r, t) = flat[t*2 + r]
        let f = with_header(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n",
            &body,
        );
        assert_eq!(parse_npy(&f, p).unwrap().data, vec![1., 3., 5., 2., 4., 6.]);
        // big-endian f8, 1-D
        let be: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let b = with_header(
            "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }\n",
            &be,
        );
        let a = parse_npy(&b, p).unwrap();
        assert_eq!((a.rows, a.cols, a.data), (1, 2, vec![1.5, -2.0]));
        let c = with_header(
            "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }",
            &body,
        );
        assert!(matches!(
            parse_npy(&c, p),
            Err(DataError::Unsupported { .. })
        ));
        let g = with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999, 99999), }",
            &body,
        );
        assert!(matches!(
            parse_npy(&g, p),
            Err(DataError::SizeMismatch { .. })
        ));
        let n = with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }",
            &body,
        );
        assert!(matches!(
            parse_npy(&n, p),
            Err(DataError::InvalidField { .. })
        ));
        let o = with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615, 18446744073709551615), }",
            &body,
        );
        assert!(matches!(
            parse_npy(&o, p),
            Err(DataError::SizeMismatch { .. })
        ));
        assert!(matches!(
            parse_npy(b"NUMPY", p),
            Err(DataError::Truncated { .. })
        ));
        assert!(matches!(
            parse_npy(b"PK\x03\x04zzzzzz", p),
            Err(DataError::BadMagic { .. })
        ));
    }
}
