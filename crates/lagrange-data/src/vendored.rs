//! The data that ships with the project under `data/` (see `data/README.md`), with pinned
//! SHA-256 checksums that are verified on every load.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::edf::parse_edf_recording;
use crate::error::{DataError, Result, read_file};
use crate::mnist::{Mnist, MnistSet, Split, set_from_bytes};
use crate::recording::{ChannelType, Recording};

/// The four MNIST files and their SHA-256 (train images, train labels, test images, test labels).
pub const MNIST_FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
];

/// The PT01 EDF file (relative to [`vendored_data_dir`]) and its SHA-256.
pub const PT01_EDF: (&str, &str) = (
    "ieeg/pt01/pt01_sz1_ecog_84ch_1000hz.edf",
    "58b278a22c6e1d250b90e75d2729e94ac1f8b7894c3dc753b990fecc253c17cc",
);
/// The PT01 JSON sidecar (relative to [`vendored_data_dir`]) and its SHA-256.
pub const PT01_JSON: (&str, &str) = (
    "ieeg/pt01/pt01_sz1_ecog_84ch_1000hz.json",
    "8a349f3ff01ae5342b0d9bfc2a357dfbd7bf868462a1991aad82fc41879db97c",
);

/// The workspace's `data/` folder (from this crate's manifest directory).
pub fn vendored_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

/// `data/mnist`.
pub fn vendored_mnist_dir() -> PathBuf {
    vendored_data_dir().join("mnist")
}

/// `data/ieeg/pt01/pt01_sz1_ecog_84ch_1000hz.edf`.
pub fn vendored_pt01_edf() -> PathBuf {
    vendored_data_dir().join(PT01_EDF.0)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks `bytes` (the content of `file`) against a pinned checksum.
pub fn verify_sha256(file: &Path, bytes: &[u8], expected: &str) -> Result<()> {
    let found = sha256_hex(bytes);
    if found != expected {
        return Err(DataError::ChecksumMismatch {
            file: file.into(),
            expected: expected.into(),
            found,
        });
    }
    Ok(())
}

/// Reads a vendored file and verifies its checksum.
pub fn read_verified(relative: &str, expected: &str) -> Result<(PathBuf, Vec<u8>)> {
    let path = vendored_data_dir().join(relative);
    let bytes = read_file(&path)?;
    verify_sha256(&path, &bytes, expected)?;
    Ok((path, bytes))
}

/// Loads one half of the vendored MNIST split, verifying both files' checksums.
pub fn load_mnist_split_vendored(split: Split) -> Result<MnistSet> {
    let (i, l) = match split {
        Split::Train => (MNIST_FILES[0], MNIST_FILES[1]),
        Split::Test => (MNIST_FILES[2], MNIST_FILES[3]),
    };
    let (ip, ib) = read_verified(&format!("mnist/{}", i.0), i.1)?;
    let (lp, lb) = read_verified(&format!("mnist/{}", l.0), l.1)?;
    set_from_bytes(&ib, &ip, &lb, &lp)
}

/// Loads the vendored MNIST (official 60k/10k split), verifying all four checksums.
pub fn load_mnist_vendored() -> Result<Mnist> {
    Ok(Mnist {
        train: load_mnist_split_vendored(Split::Train)?,
        test: load_mnist_split_vendored(Split::Test)?,
    })
}

/// Loads the vendored PT01 ECoG recording (84 channels, 1000 Hz, 3000 samples), verifying the
/// checksums, with channel types (`ECOG`) and seizure-onset-zone flags from the JSON sidecar.
pub fn load_pt01_vendored() -> Result<Recording> {
    let (ep, eb) = read_verified(PT01_EDF.0, PT01_EDF.1)?;
    let (jp, jb) = read_verified(PT01_JSON.0, PT01_JSON.1)?;
    let mut rec = parse_edf_recording(&eb, &ep)?;
    apply_json_sidecar(&mut rec, &jb, &jp)?;
    Ok(rec)
}

/// Applies a `shared/data`-style JSON sidecar (`channel_names`, `channel_types`, `soz_channel`)
/// to a recording whose channel names must equal `channel_names`.
pub fn apply_json_sidecar(rec: &mut Recording, json: &[u8], path: &Path) -> Result<()> {
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| DataError::Json {
        path: path.into(),
        field: "document".into(),
        reason: e.to_string(),
    })?;
    let list = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let names = list("channel_names");
    if !names.is_empty() {
        let same = names.len() == rec.n_channels()
            && names
                .iter()
                .zip(&rec.channels)
                .all(|(n, c)| n.as_str() == Some(c.name.as_str()));
        if !same {
            return Err(DataError::Inconsistent {
                path: path.into(),
                field: "channel_names".into(),
                reason: format!("do not match the channels of {}", rec.source.display()),
            });
        }
    }
    for (c, t) in rec.channels.iter_mut().zip(list("channel_types")) {
        if let Some(t) = t.as_str() {
            c.kind = ChannelType::parse(t);
        }
    }
    for (c, s) in rec.channels.iter_mut().zip(list("soz_channel")) {
        c.seizure_onset_zone = s.as_bool();
    }
    rec.notes
        .push(format!("channel metadata from {}", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_mismatch_is_reported() {
        let e = verify_sha256(Path::new("f"), b"abc", MNIST_FILES[0].1).unwrap_err();
        match e {
            DataError::ChecksumMismatch { found, .. } => assert_eq!(
                found,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            ),
            other => panic!("unexpected {other}"),
        }
    }
}
