//! The reference code's `EEG_set.json` layout (spec §12.1):
//! `{"patient_N": {"input": [[...], ...], "target": [[...], ...]}}`, each array channels × time.
//!
//! The reference concatenates `input` then `target` along channels and divides by 2
//! ([`crate::preprocess::REFERENCE_DIVISOR`]); this reader returns the raw values — apply the
//! scaling with [`crate::preprocess::scale`]. The file carries no sampling rate: the reference
//! treats every sample as one 2 ms step, i.e. [`REFERENCE_SAMPLING_RATE_HZ`] = 500 Hz.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{DataError, Result, read_file};
use crate::recording::{Channel, ChannelType, Recording};

/// The rate implied by the reference's "each sample is 2 ms" convention.
pub const REFERENCE_SAMPLING_RATE_HZ: f64 = 500.0;

/// One patient's arrays.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReferencePatient {
    /// Input channels × time.
    pub input: Vec<Vec<f64>>,
    /// Target channels × time.
    pub target: Vec<Vec<f64>>,
}

/// Parses the whole document held in memory (patients sorted by key).
pub fn parse_reference_json(
    bytes: &[u8],
    path: &Path,
) -> Result<BTreeMap<String, ReferencePatient>> {
    serde_json::from_slice(bytes).map_err(|e| DataError::Json {
        path: path.into(),
        field: "{\"patient_N\": {\"input\": [[…]], \"target\": [[…]]}}".into(),
        reason: e.to_string(),
    })
}

/// Turns one patient into a [`Recording`]: `input` channels (named `input_K`) then `target`
/// channels (`target_K`), at `sampling_rate_hz`. All rows must have the same length.
pub fn patient_recording(
    patient: &ReferencePatient,
    key: &str,
    sampling_rate_hz: f64,
    path: &Path,
) -> Result<Recording> {
    let rows = patient
        .input
        .iter()
        .map(|r| ("input", r))
        .chain(patient.target.iter().map(|r| ("target", r)));
    let n = patient
        .input
        .first()
        .or(patient.target.first())
        .map_or(0, Vec::len);
    let mut channels = Vec::new();
    let mut samples = Vec::new();
    let (mut ni, mut nt) = (0, 0);
    for (kind, row) in rows {
        let k = if kind == "input" { &mut ni } else { &mut nt };
        if row.len() != n {
            return Err(DataError::Inconsistent {
                path: path.into(),
                field: format!("{key}.{kind}[{k}]"),
                reason: format!("{} samples, the first row has {n}", row.len()),
            });
        }
        channels.push(Channel::new(format!("{kind}_{k}"), ChannelType::Misc, "au"));
        samples.extend_from_slice(row);
        *k += 1;
    }
    if channels.is_empty() || n == 0 {
        return Err(DataError::Inconsistent {
            path: path.into(),
            field: key.into(),
            reason: "no channels or no samples".into(),
        });
    }
    let mut rec = Recording::new(channels, sampling_rate_hz, n, samples).map_err(|e| {
        DataError::InvalidRequest {
            path: path.into(),
            operation: "build a recording".into(),
            reason: e.to_string(),
        }
    })?;
    rec.source = path.into();
    rec.format = "reference EEG_set.json".into();
    rec.notes
        .push(format!("patient {key}: {ni} input + {nt} target channels"));
    Ok(rec)
}

/// Reads one patient (e.g. `"patient_1"`) of a reference JSON file at the 2 ms convention.
pub fn read_reference_json(path: &Path, patient: &str) -> Result<Recording> {
    let doc = parse_reference_json(&read_file(path)?, path)?;
    let p = doc.get(patient).ok_or_else(|| DataError::MissingField {
        path: path.into(),
        field: patient.into(),
    })?;
    patient_recording(p, patient, REFERENCE_SAMPLING_RATE_HZ, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_layout() {
        let j = br#"{"patient_1": {"input": [[1,2,3],[4,5,6]], "target": [[7,8,9]]},
                     "patient_2": {"input": [[1]], "target": [[2]]}}"#;
        let p = Path::new("EEG_set.json");
        let doc = parse_reference_json(j, p).unwrap();
        assert_eq!(doc.len(), 2);
        let rec = patient_recording(&doc["patient_1"], "patient_1", 500.0, p).unwrap();
        assert_eq!(rec.n_channels(), 3);
        assert_eq!(rec.n_samples, 3);
        assert_eq!(rec.channels[2].name, "target_0");
        assert_eq!(rec.channel(2).unwrap(), &[7.0, 8.0, 9.0]);
        let ragged = br#"{"p": {"input": [[1,2,3],[4,5]], "target": []}}"#;
        let d = parse_reference_json(ragged, p).unwrap();
        assert!(matches!(
            patient_recording(&d["p"], "p", 500.0, p),
            Err(DataError::Inconsistent { .. })
        ));
        assert!(matches!(
            parse_reference_json(b"{\"p\": 3}", p),
            Err(DataError::Json { .. })
        ));
    }
}
