//! BIDS iEEG: find `*_ieeg.vhdr` / `*_ieeg.edf` in a folder and apply `*_channels.tsv`.
//!
//! The channels file sits next to the recording with the same entities
//! (`sub-01_ses-1_task-x_run-1_ieeg.vhdr` → `sub-01_ses-1_task-x_run-1_channels.tsv`). Its `name`
//! column must list exactly the recording's channels; `type`, `units` and `status`
//! (`good`/`bad`) are applied. When it is absent, the recording is returned unchanged with a note.

use std::path::{Path, PathBuf};

use crate::brainvision::read_brainvision;
use crate::edf::read_edf;
use crate::error::{DataError, Result, read_file, shorten};
use crate::recording::{ChannelStatus, ChannelType, Recording};

/// Recording suffixes recognised in a BIDS folder.
pub const RECORDING_SUFFIXES: [&str; 2] = ["_ieeg.vhdr", "_ieeg.edf"];
/// Maximum folder depth searched below the given folder.
const MAX_DEPTH: usize = 8;

/// One row of `channels.tsv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRow {
    /// `name`.
    pub name: String,
    /// `type`, if the column exists and is not `n/a`.
    pub kind: Option<ChannelType>,
    /// `units`, if the column exists and is not `n/a`.
    pub unit: Option<String>,
    /// `status`, if the column exists and is not `n/a`.
    pub status: Option<ChannelStatus>,
}

/// Parses a `channels.tsv` held in memory.
pub fn parse_channels_tsv(bytes: &[u8], path: &Path) -> Result<Vec<ChannelRow>> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split('\t')
        .map(|s| s.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let name_col = col("name").ok_or_else(|| DataError::MissingField {
        path: path.into(),
        field: "column \"name\"".into(),
    })?;
    let (type_col, unit_col, status_col) = (col("type"), col("units"), col("status"));
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
        if cells.len() != header.len() {
            return Err(DataError::Inconsistent {
                path: path.into(),
                field: format!("row {}", i + 2),
                reason: format!("{} cells, header has {}", cells.len(), header.len()),
            });
        }
        let cell = |c: Option<usize>| {
            c.and_then(|c| cells.get(c).copied())
                .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("n/a"))
        };
        let status = match cell(status_col) {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("good") => Some(ChannelStatus::Good),
            Some(s) if s.eq_ignore_ascii_case("bad") => Some(ChannelStatus::Bad),
            Some(s) => {
                return Err(DataError::InvalidField {
                    path: path.into(),
                    field: format!("row {} status", i + 2),
                    value: shorten(s),
                    reason: "must be good, bad or n/a".into(),
                });
            }
        };
        rows.push(ChannelRow {
            name: cells.get(name_col).copied().unwrap_or("").to_string(),
            kind: cell(type_col).map(ChannelType::parse),
            unit: cell(unit_col).map(str::to_string),
            status,
        });
    }
    Ok(rows)
}

/// Applies channel rows to a recording: counts and names must match.
pub fn apply_channels(rec: &mut Recording, rows: &[ChannelRow], tsv_path: &Path) -> Result<()> {
    if rows.len() != rec.n_channels() {
        return Err(DataError::Inconsistent {
            path: tsv_path.into(),
            field: "channel count".into(),
            reason: format!(
                "{} rows, but the recording {} has {} channels",
                rows.len(),
                rec.source.display(),
                rec.n_channels()
            ),
        });
    }
    for row in rows {
        let idx = rec
            .channel_index(&row.name)
            .ok_or_else(|| DataError::Inconsistent {
                path: tsv_path.into(),
                field: format!("channel {:?}", shorten(&row.name)),
                reason: format!("not in the recording {}", rec.source.display()),
            })?;
        if let Some(ch) = rec.channels.get_mut(idx) {
            if let Some(k) = &row.kind {
                ch.kind = k.clone();
            }
            if let Some(u) = &row.unit {
                ch.unit = u.clone();
            }
            if let Some(s) = row.status {
                ch.status = s;
            }
        }
    }
    rec.notes
        .push(format!("channels from {}", tsv_path.display()));
    Ok(())
}

/// The `channels.tsv` path that belongs to a BIDS recording file.
pub fn channels_tsv_for(recording: &Path) -> Option<PathBuf> {
    let name = recording.file_name()?.to_str()?;
    let stem = RECORDING_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))?;
    Some(recording.with_file_name(format!("{stem}_channels.tsv")))
}

/// All BIDS iEEG recordings below `dir` (sorted).
pub fn find_recordings(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| DataError::io(&d, e))?;
        for e in entries {
            let p = e.map_err(|e| DataError::io(&d, e))?.path();
            if p.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((p, depth + 1));
                }
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| RECORDING_SUFFIXES.iter().any(|s| n.ends_with(s)))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads one BIDS recording file (`*_ieeg.vhdr` or `*_ieeg.edf`) and applies its channels.tsv.
pub fn read_bids_file(path: &Path) -> Result<Recording> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let mut rec = if name.ends_with(".vhdr") {
        read_brainvision(path)?
    } else if name.ends_with(".edf") {
        read_edf(path)?
    } else {
        return Err(DataError::UnknownFormat {
            path: path.into(),
            reason: "a BIDS iEEG recording must end in _ieeg.vhdr or _ieeg.edf".into(),
        });
    };
    match channels_tsv_for(path).filter(|p| p.is_file()) {
        Some(tsv) => {
            let rows = parse_channels_tsv(&read_file(&tsv)?, &tsv)?;
            apply_channels(&mut rec, &rows, &tsv)?;
        }
        None => rec
            .notes
            .push("no channels.tsv found next to the recording".into()),
    }
    rec.format = format!("BIDS iEEG / {}", rec.format);
    Ok(rec)
}

/// Reads a BIDS iEEG folder holding exactly one recording, or a recording file.
pub fn read_bids(path: &Path) -> Result<Recording> {
    if !path.is_dir() {
        return read_bids_file(path);
    }
    let found = find_recordings(path)?;
    match found.as_slice() {
        [one] => read_bids_file(one),
        [] => Err(DataError::UnknownFormat {
            path: path.into(),
            reason: "no *_ieeg.vhdr or *_ieeg.edf file in this folder".into(),
        }),
        many => Err(DataError::InvalidRequest {
            path: path.into(),
            operation: "choose a BIDS recording".into(),
            reason: format!(
                "{} recordings found ({}); pass one file",
                many.len(),
                many.iter()
                    .take(5)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use std::path::{Path, PathBuf};

    use crate::brainvision::{BinaryFormat, Orientation, encode_brainvision};

    /// Writes a small BIDS folder (3 channels, one bad) and returns the recording file.
    pub(crate) fn write_bids_folder(root: &Path) -> PathBuf {
        let d = root.join("sub-01").join("ses-01").join("ieeg");
        std::fs::create_dir_all(&d).unwrap();
        let raw = vec![
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ];
        let (vhdr, eeg) = encode_brainvision(
            "sub-01_ses-01_task-rest_ieeg.eeg",
            &[("LA1", 0.1, "µV"), ("LA2", 0.1, "µV"), ("ECG", 1.0, "µV")],
            &raw,
            BinaryFormat::Int16,
            Orientation::Vectorized,
            1953.125,
        );
        std::fs::write(d.join("sub-01_ses-01_task-rest_ieeg.vhdr"), vhdr).unwrap();
        std::fs::write(d.join("sub-01_ses-01_task-rest_ieeg.eeg"), eeg).unwrap();
        std::fs::write(
            d.join("sub-01_ses-01_task-rest_channels.tsv"),
            "name\ttype\tunits\tlow_cutoff\thigh_cutoff\tstatus\tstatus_description\n\
             LA1\tSEEG\tuV\t0.5\t120\tgood\tn/a\n\
             LA2\tSEEG\tuV\t0.5\t120\tbad\tnoisy\n\
             ECG\tECG\tuV\tn/a\tn/a\tgood\tn/a\n",
        )
        .unwrap();
        d.join("sub-01_ses-01_task-rest_ieeg.vhdr")
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::write_bids_folder;
    use super::*;

    #[test]
    fn folder_with_channels_tsv() {
        let root = std::env::temp_dir().join(format!("lagrange-bids-{}", std::process::id()));
        let file = write_bids_folder(&root);
        let rec = read_bids(&root).unwrap();
        assert_eq!(rec.n_channels(), 3);
        assert_eq!(rec.sampling_rate_hz, 512.0);
        assert_eq!(rec.channels[0].kind, ChannelType::Seeg);
        assert_eq!(rec.channels[1].status, ChannelStatus::Bad);
        assert_eq!(rec.channels[2].kind, ChannelType::Ecg);
        assert_eq!(rec.channels[0].unit, "uV");
        assert!((rec.channel(1).unwrap()[2] - 0.6).abs() < 1e-12);
        assert_eq!(read_bids(&file).unwrap(), rec);
        // inconsistent channels.tsv
        let tsv = channels_tsv_for(&file).unwrap();
        std::fs::write(&tsv, "name\ttype\nLA1\tSEEG\n").unwrap();
        assert!(matches!(
            read_bids(&root),
            Err(DataError::Inconsistent { .. })
        ));
        std::fs::write(
            &tsv,
            "name\ttype\tstatus\nLA1\tSEEG\tgood\nLA2\tSEEG\tmaybe\nECG\tECG\tgood\n",
        )
        .unwrap();
        assert!(matches!(
            read_bids(&root),
            Err(DataError::InvalidField { .. })
        ));
        std::fs::remove_dir_all(&root).ok();
    }
}
