//! `lagrange inspect FILE|FOLDER`: detect the format and describe the content.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result, read_file};
use crate::idx::{IdxArray, is_gzip, looks_like_idx, parse_idx};
use crate::recording::Recording;

/// The formats [`detect`] recognises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// IDX (MNIST), raw or gzip.
    Idx,
    /// EDF or EDF+.
    Edf,
    /// BrainVision header (`.vhdr`); for an `.eeg` file, the header next to it.
    BrainVision(PathBuf),
    /// A BIDS iEEG folder or `*_ieeg.{vhdr,edf}` file.
    Bids,
    /// NumPy `.npy` (with a JSON sidecar).
    Npy(PathBuf),
    /// The reference `EEG_set.json` layout.
    ReferenceJson,
}

fn lower_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Detects the format of a file or folder from its name and first bytes.
pub fn detect(path: &Path) -> Result<Format> {
    if path.is_dir() {
        return Ok(Format::Bids);
    }
    if !path.exists() {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    let name = lower_name(path);
    if name.ends_with("_ieeg.vhdr") || name.ends_with("_ieeg.edf") {
        return Ok(Format::Bids);
    }
    if name.ends_with(".vhdr") {
        return Ok(Format::BrainVision(path.into()));
    }
    if name.ends_with(".eeg") {
        let v = path.with_extension("vhdr");
        if v.is_file() {
            return Ok(Format::BrainVision(v));
        }
        return Err(DataError::MissingFile {
            path: path.into(),
            field: "BrainVision header".into(),
            missing: v,
        });
    }
    let head = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut h = [0u8; 16];
        let n = f.read(&mut h).map_err(|e| DataError::io(path, e))?;
        h[..n].to_vec()
    };
    if is_gzip(&head) || looks_like_idx(&head) || name.contains("idx") {
        return Ok(Format::Idx);
    }
    if head.starts_with(b"0       ") || name.ends_with(".edf") {
        return Ok(Format::Edf);
    }
    if head.starts_with(b"\x93NUMPY") || name.ends_with(".npy") {
        return Ok(Format::Npy(path.into()));
    }
    if name.ends_with(".json") {
        let npy = path.with_extension("npy");
        if npy.is_file() {
            return Ok(Format::Npy(npy));
        }
        return Ok(Format::ReferenceJson);
    }
    Err(DataError::UnknownFormat {
        path: path.into(),
        reason: "expected IDX (.gz or raw), EDF/EDF+, BrainVision .vhdr, a BIDS folder, \
                 .npy with a JSON sidecar, or a reference EEG_set.json"
            .into(),
    })
}

/// Detects the format of `path`, reads it and returns a human-readable report.
pub fn inspect(path: &Path) -> Result<String> {
    match detect(path)? {
        Format::Idx => {
            let bytes = read_file(path)?;
            let arr = parse_idx(&bytes, path)?;
            Ok(idx_report(path, &arr))
        }
        Format::Edf => {
            let mut rec = crate::edf::read_edf(path)?;
            // A shared/data-style JSON sidecar next to the file adds types and SOZ flags.
            let side = path.with_extension("json");
            if side.is_file() {
                let bytes = read_file(&side)?;
                if let Err(e) = crate::vendored::apply_json_sidecar(&mut rec, &bytes, &side) {
                    rec.notes.push(format!("sidecar ignored: {e}"));
                }
            }
            Ok(recording_report(&rec))
        }
        Format::BrainVision(v) => Ok(recording_report(&crate::brainvision::read_brainvision(&v)?)),
        Format::Npy(p) => Ok(recording_report(&crate::npy::read_npy(&p)?)),
        Format::Bids => {
            if path.is_dir() {
                let found = crate::bids::find_recordings(path)?;
                if found.is_empty() {
                    return Err(DataError::UnknownFormat {
                        path: path.into(),
                        reason: "no *_ieeg.vhdr or *_ieeg.edf file in this folder".into(),
                    });
                }
                let mut out = format!(
                    "BIDS iEEG folder {} — {} recording(s)\n",
                    path.display(),
                    found.len()
                );
                for f in found {
                    out.push('\n');
                    out.push_str(&recording_report(&crate::bids::read_bids_file(&f)?));
                }
                Ok(out)
            } else {
                Ok(recording_report(&crate::bids::read_bids_file(path)?))
            }
        }
        Format::ReferenceJson => {
            let doc = crate::reference_json::parse_reference_json(&read_file(path)?, path)?;
            let mut out = format!(
                "file:     {}\nformat:   reference EEG_set.json, {} patient(s); rate not stored, \
                 shown at the reference's 2 ms/sample convention\n",
                path.display(),
                doc.len()
            );
            for (k, p) in &doc {
                let rec = crate::reference_json::patient_recording(
                    p,
                    k,
                    crate::reference_json::REFERENCE_SAMPLING_RATE_HZ,
                    path,
                )?;
                out.push('\n');
                out.push_str(&format!("[{k}]\n"));
                out.push_str(&recording_report(&rec));
            }
            Ok(out)
        }
    }
}

/// The report for an IDX array: counts, shape, and a label histogram (1-D) or pixel summary.
pub fn idx_report(path: &Path, arr: &IdxArray) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "file:     {}", path.display());
    let _ = writeln!(
        out,
        "format:   IDX (unsigned byte){}",
        if arr.gzip { ", gzip-compressed" } else { "" }
    );
    let _ = writeln!(out, "count:    {}", arr.count());
    let _ = writeln!(out, "shape:    {:?}", arr.dims);
    if arr.dims.len() == 1 {
        let mut hist = [0usize; 256];
        for &l in &arr.data {
            hist[usize::from(l)] += 1;
        }
        let _ = writeln!(out, "labels:   histogram (label: count)");
        for (l, &c) in hist.iter().enumerate().filter(|(_, c)| **c > 0) {
            let _ = writeln!(out, "  {l:>3}: {c}");
        }
    } else {
        let min = arr.data.iter().copied().min().unwrap_or(0);
        let max = arr.data.iter().copied().max().unwrap_or(0);
        let mean = if arr.data.is_empty() {
            0.0
        } else {
            arr.data.iter().map(|&v| f64::from(v)).sum::<f64>() / arr.data.len() as f64
        };
        let _ = writeln!(out, "values:   min {min}, max {max}, mean {mean:.3}");
    }
    out
}

/// The report for a recording: format, rate, duration, and a channel table with statistics.
pub fn recording_report(rec: &Recording) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "file:     {}", rec.source.display());
    let _ = writeln!(out, "format:   {}", rec.format);
    let _ = writeln!(out, "rate:     {} Hz", rec.sampling_rate_hz);
    let _ = writeln!(
        out,
        "duration: {:.4} s ({} samples)",
        rec.duration_s(),
        rec.n_samples
    );
    let mut units: Vec<&str> = rec.channels.iter().map(|c| c.unit.as_str()).collect();
    units.sort_unstable();
    units.dedup();
    let _ = writeln!(out, "units:    {}", units.join(", "));
    let bad = rec
        .channels
        .iter()
        .filter(|c| c.status == crate::recording::ChannelStatus::Bad)
        .count();
    let _ = writeln!(out, "channels: {} ({} bad)", rec.n_channels(), bad);
    for n in &rec.notes {
        let _ = writeln!(out, "note:     {n}");
    }
    let w = rec
        .channels
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "\n{:>4}  {:<w$}  {:<6}  {:<6}  {:<6}  {:>13}  {:>13}  {:>13}  {:>13}",
        "#", "name", "type", "status", "unit", "min", "max", "mean", "std"
    );
    for (i, (c, s)) in rec.channels.iter().zip(rec.channel_stats()).enumerate() {
        let soz = if c.seizure_onset_zone == Some(true) {
            "  SOZ"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<w$}  {:<6}  {:<6}  {:<6}  {:>13.6e}  {:>13.6e}  {:>13.6e}  {:>13.6e}{soz}",
            i,
            c.name,
            c.kind.as_str(),
            c.status.to_string(),
            c.unit,
            s.min,
            s.max,
            s.mean,
            s.std
        );
    }
    out
}
