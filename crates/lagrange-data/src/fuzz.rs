//! Robustness tests: every reader on truncated, bit-flipped and random inputs must return
//! (`Ok` or `Err`) without panicking. Cases per test: `LAGRANGE_FUZZ_CASES` (default 10000).
//!
//! Longer run: `LAGRANGE_FUZZ_CASES=1000000 cargo test -p lagrange-data fuzz` (the test profile
//! keeps overflow checks; `--release` would not).

use std::path::Path;

use proptest::prelude::*;

use crate::brainvision::{BinaryFormat, Orientation, encode_brainvision, parse_brainvision};
use crate::edf::{encode_edf, parse_edf_recording};
use crate::idx::{encode_idx, parse_idx, parse_idx_labels};
use crate::npy::{NpyArray, encode_npy_f32, parse_npy, recording_from_parts};
use crate::recording::{Channel, ChannelType, Recording};

fn cases() -> u32 {
    std::env::var("LAGRANGE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn idx_seed() -> Vec<u8> {
    encode_idx(&[3, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
}

fn edf_seed() -> Vec<u8> {
    encode_edf(
        &[
            (
                "EEG A1",
                "uV",
                4,
                -100.0,
                100.0,
                (0..8).map(|i| i * 100).collect(),
            ),
            ("B2", "mV", 2, 0.0, 10.0, vec![1, 2, 3, 4]),
        ],
        2,
        0.5,
        4,
    )
}

fn bv_seed() -> (String, Vec<u8>) {
    encode_brainvision(
        "x.eeg",
        &[("A", 0.5, "µV"), ("B", 1.0, "mV")],
        &[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]],
        BinaryFormat::Int16,
        Orientation::Vectorized,
        1000.0,
    )
}

const TSV_SEED: &[u8] = b"name\ttype\tunits\tstatus\nA\tSEEG\tuV\tgood\nB\tECOG\tuV\tbad\n";
const SIDECAR_SEED: &[u8] =
    br#"{"sampling_rate_hz": 250.0, "channel_names": ["A","B"], "channel_types": ["ECOG","SEEG"], "soz_channel": [false, true], "units": "uV", "n_channels": 2}"#;
const REF_SEED: &[u8] = br#"{"patient_1": {"input": [[1,2,3],[4,5,6]], "target": [[7,8,9]]}}"#;

fn two_channel_recording() -> Recording {
    Recording::new(
        vec![
            Channel::new("A", ChannelType::Misc, "uV"),
            Channel::new("B", ChannelType::Misc, "uV"),
        ],
        100.0,
        2,
        vec![1.0, 2.0, 3.0, 4.0],
    )
    .unwrap_or_else(|_| unreachable!())
}

/// The readers under test: (name, seed input, reader).
type Target = (&'static str, Vec<u8>, fn(&[u8]));

fn targets() -> Vec<Target> {
    fn idx(b: &[u8]) {
        let _ = parse_idx(b, Path::new("f.idx"));
        let _ = parse_idx_labels(b, Path::new("f.idx"), 9);
    }
    fn edf(b: &[u8]) {
        let _ = parse_edf_recording(b, Path::new("f.edf"));
    }
    fn bv_header(b: &[u8]) {
        let (_, eeg) = bv_cached();
        let _ = parse_brainvision(b, eeg, Path::new("f.vhdr"));
    }
    fn bv_data(b: &[u8]) {
        let (vhdr, _) = bv_cached();
        let _ = parse_brainvision(vhdr.as_bytes(), b, Path::new("f.vhdr"));
        let v32 = vhdr
            .replace("INT_16", "IEEE_FLOAT_32")
            .replace("VECTORIZED", "MULTIPLEXED");
        let _ = parse_brainvision(v32.as_bytes(), b, Path::new("f.vhdr"));
    }
    fn tsv(b: &[u8]) {
        let p = Path::new("f_channels.tsv");
        if let Ok(rows) = crate::bids::parse_channels_tsv(b, p) {
            let mut rec = two_channel_recording();
            let _ = crate::bids::apply_channels(&mut rec, &rows, p);
        }
    }
    fn npy(b: &[u8]) {
        if let Ok(arr) = parse_npy(b, Path::new("f.npy")) {
            let _ =
                recording_from_parts(arr, SIDECAR_SEED, Path::new("f.npy"), Path::new("f.json"));
        }
    }
    fn sidecar(b: &[u8]) {
        let arr = NpyArray {
            rows: 2,
            cols: 2,
            data: vec![1.0, 2.0, 3.0, 4.0],
            descr: "<f4".into(),
        };
        let _ = recording_from_parts(arr, b, Path::new("f.npy"), Path::new("f.json"));
        let mut rec = two_channel_recording();
        let _ = crate::vendored::apply_json_sidecar(&mut rec, b, Path::new("f.json"));
    }
    fn reference(b: &[u8]) {
        let p = Path::new("EEG_set.json");
        if let Ok(doc) = crate::reference_json::parse_reference_json(b, p) {
            for (k, v) in &doc {
                let _ = crate::reference_json::patient_recording(v, k, 500.0, p);
            }
        }
    }
    let (vhdr, eeg) = bv_seed();
    vec![
        ("idx raw", idx_seed(), idx),
        ("idx gz", gz(&idx_seed()), idx),
        ("edf", edf_seed(), edf),
        ("brainvision header", vhdr.into_bytes(), bv_header),
        ("brainvision data", eeg, bv_data),
        ("bids channels.tsv", TSV_SEED.to_vec(), tsv),
        ("npy", encode_npy_f32(2, 3, &[1., 2., 3., 4., 5., 6.]), npy),
        ("json sidecar", SIDECAR_SEED.to_vec(), sidecar),
        ("reference json", REF_SEED.to_vec(), reference),
    ]
}

fn target(i: usize) -> &'static Target {
    static TARGETS: std::sync::OnceLock<Vec<Target>> = std::sync::OnceLock::new();
    let all = TARGETS.get_or_init(targets);
    &all[i]
}

/// The BrainVision seed, built once.
fn bv_cached() -> &'static (String, Vec<u8>) {
    static BV: std::sync::OnceLock<(String, Vec<u8>)> = std::sync::OnceLock::new();
    BV.get_or_init(bv_seed)
}

/// The seeds themselves must parse (so the mutations start from valid files).
#[test]
fn seeds_are_valid() {
    assert!(parse_idx(&idx_seed(), Path::new("s")).is_ok());
    assert!(parse_idx(&gz(&idx_seed()), Path::new("s")).is_ok());
    assert!(parse_edf_recording(&edf_seed(), Path::new("s")).is_ok());
    let (v, e) = bv_seed();
    assert!(parse_brainvision(v.as_bytes(), &e, Path::new("s")).is_ok());
    assert!(crate::bids::parse_channels_tsv(TSV_SEED, Path::new("s")).is_ok());
    let arr = parse_npy(&encode_npy_f32(2, 3, &[0.0; 6]), Path::new("s")).unwrap();
    assert!(recording_from_parts(arr, SIDECAR_SEED, Path::new("s"), Path::new("s")).is_ok());
    assert!(crate::reference_json::parse_reference_json(REF_SEED, Path::new("s")).is_ok());
}

fn truncate(seed: &[u8], n: usize) -> &[u8] {
    seed.get(..n % (seed.len() + 1)).unwrap_or(&[])
}

fn flip(seed: &[u8], flips: &[(usize, u8)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    let len = v.len().max(1);
    for &(pos, bit) in flips {
        if let Some(b) = v.get_mut(pos % len) {
            *b ^= 1 << (bit % 8);
        }
    }
    v
}

fn splice(seed: &[u8], keep: usize, tail: &[u8]) -> Vec<u8> {
    let mut v = truncate(seed, keep).to_vec();
    v.extend_from_slice(tail);
    v
}

macro_rules! fuzz_reader {
    ($modname:ident, $index:expr) => {
        mod $modname {
            use super::*;
            proptest! {
                #![proptest_config(config())]
                #[test]
                fn truncated(n in 0usize..100_000) {
                    let (_, seed, f) = target($index);
                    f(truncate(seed, n));
                }
                #[test]
                fn bit_flipped(flips in prop::collection::vec((0usize..100_000, 0u8..8), 1..8)) {
                    let (_, seed, f) = target($index);
                    f(&flip(seed, &flips));
                }
                #[test]
                fn random(keep in 0usize..100_000, tail in prop::collection::vec(any::<u8>(), 0..256)) {
                    let (_, seed, f) = target($index);
                    // keep = 0 mod len+1 gives fully random input; otherwise a valid prefix.
                    f(&splice(seed, keep, &tail));
                }
            }
        }
    };
}

fuzz_reader!(fuzz_idx_raw, 0);
fuzz_reader!(fuzz_idx_gz, 1);
fuzz_reader!(fuzz_edf, 2);
fuzz_reader!(fuzz_brainvision_header, 3);
fuzz_reader!(fuzz_brainvision_data, 4);
fuzz_reader!(fuzz_bids_channels_tsv, 5);
fuzz_reader!(fuzz_npy, 6);
fuzz_reader!(fuzz_json_sidecar, 7);
fuzz_reader!(fuzz_reference_json, 8);
