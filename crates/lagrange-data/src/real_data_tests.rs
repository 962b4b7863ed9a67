//! Tests on the real files: the vendored data (always) and `/work/shared/data` (when present;
//! skipped with a printed note otherwise).

use std::path::{Path, PathBuf};

use crate::inspect::inspect;
use crate::mnist::{Mnist, NUM_CLASSES, reference_split};
use crate::recording::ChannelType;
use crate::vendored::{
    load_mnist_vendored, load_pt01_vendored, vendored_data_dir, vendored_mnist_dir,
};

const TRAIN_HIST: [usize; 10] = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_HIST: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new("/work/shared/data").join(rel);
    if p.exists() {
        Some(p)
    } else {
        println!("note: {} is absent; test skipped", p.display());
        None
    }
}

fn mnist() -> &'static Mnist {
    static M: std::sync::OnceLock<Mnist> = std::sync::OnceLock::new();
    M.get_or_init(|| load_mnist_vendored().unwrap_or_else(|e| panic!("vendored MNIST: {e}")))
}

#[test]
fn vendored_mnist_counts_and_histograms() {
    let m = mnist();
    assert_eq!(m.train.len(), 60000);
    assert_eq!(m.test.len(), 10000);
    assert_eq!((m.train.rows, m.train.cols), (28, 28));
    assert_eq!(m.train.images.len(), 60000 * 784);
    assert_eq!(m.train.class_histogram(), TRAIN_HIST);
    assert_eq!(m.test.class_histogram(), TEST_HIST);
    let max = m.train.images.iter().copied().fold(0.0f32, f32::max);
    let min = m.train.images.iter().copied().fold(1.0f32, f32::min);
    assert_eq!((min, max), (0.0, 1.0));
}

#[test]
fn reference_protocol_on_70k() {
    let all = mnist().all();
    assert_eq!(all.len(), 70000);
    let (train, test) = reference_split(&all, 1234).unwrap();
    assert_eq!(train.len(), 20000);
    assert_eq!(test.len(), 1000);
    assert_eq!(train.class_histogram(), [2000; NUM_CLASSES]);
    assert_eq!(test.class_histogram(), [100; NUM_CLASSES]);
    // shuffled: the labels are not in class order
    assert!(train.labels.windows(2).any(|w| w[0] > w[1]));
    let (train2, _) = reference_split(&all, 1234).unwrap();
    assert_eq!(train.labels, train2.labels);
}

#[test]
fn vendored_mnist_dir_loader_matches() {
    // The generic folder loader (no checksum) reads the same files.
    let set = crate::mnist::load_split(&vendored_mnist_dir(), crate::mnist::Split::Test).unwrap();
    assert_eq!(set, mnist().test);
}

#[test]
fn vendored_pt01() {
    let rec = load_pt01_vendored().unwrap();
    assert_eq!(rec.n_channels(), 84);
    assert_eq!(rec.sampling_rate_hz, 1000.0);
    assert_eq!(rec.n_samples, 3000);
    assert_eq!(rec.channels[0].name, "G1");
    assert_eq!(rec.channels[83].name, "SLT4");
    assert!(
        rec.channels
            .iter()
            .all(|c| c.kind == ChannelType::Ecog && c.unit == "au")
    );
    let soz: Vec<&str> = rec
        .channels
        .iter()
        .filter(|c| c.seizure_onset_zone == Some(true))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        soz,
        [
            "ATT1", "ATT2", "AD1", "AD2", "AD3", "AD4", "PD1", "PD2", "PD3", "PD4"
        ]
    );
    // Each channel's physical range is its own min..max (written to 8 characters).
    let stats = rec.channel_stats();
    assert!((stats[0].min - -169033.0).abs() < 1.0);
    assert!((stats[0].max - 436506.0).abs() < 10.0);
}

#[test]
fn pt01_edf_matches_shared_npy() {
    let Some(npy) = shared("ieeg/pt01_fragility_ecog/pt01_sz1_ecog_84ch_1000hz.npy") else {
        return;
    };
    let reference = crate::npy::read_npy(&npy).unwrap();
    assert_eq!(reference.n_channels(), 84);
    assert_eq!(reference.n_samples, 3001);
    assert_eq!(reference.channels[30].name, "ATT1");
    let rec = load_pt01_vendored().unwrap();
    let mut worst = 0.0f64;
    for c in 0..84 {
        let a = rec.channel(c).unwrap();
        let b = reference.channel(c).unwrap();
        let s = crate::recording::stats(b);
        let range = s.max - s.min;
        for t in 0..3000 {
            worst = worst.max((a[t] - b[t]).abs() / range);
        }
    }
    println!("pt01 EDF vs npy: worst error {worst:.3e} of the channel range");
    // Quantisation 7.7e-6 of the range, plus the 8-character physical min/max in the header.
    assert!(worst <= 1.0e-5, "worst relative error {worst}");
}

#[test]
fn shared_dog_npy() {
    let Some(npy) = shared("ieeg/kaggle_dog1_ictal/dog1_seizure1_16ch_400hz.npy") else {
        return;
    };
    let rec = crate::npy::read_npy(&npy).unwrap();
    assert_eq!(rec.n_channels(), 16);
    assert_eq!(rec.n_samples, 12400);
    assert!((rec.sampling_rate_hz - 399.609756097561).abs() < 1e-9);
    let report = inspect(&npy).unwrap();
    assert!(report.contains("NVC0905_22_002_Ecog_c016"));
}

#[test]
fn inspect_reports() {
    let labels = vendored_mnist_dir().join("t10k-labels-idx1-ubyte.gz");
    let r = inspect(&labels).unwrap();
    assert!(r.contains("count:    10000"), "{r}");
    assert!(r.contains("    1: 1135"), "{r}");
    let images = vendored_mnist_dir().join("t10k-images-idx3-ubyte.gz");
    let r = inspect(&images).unwrap();
    assert!(r.contains("[10000, 28, 28]"), "{r}");
    let edf = vendored_data_dir().join(crate::vendored::PT01_EDF.0);
    let r = inspect(&edf).unwrap();
    assert!(r.contains("rate:     1000 Hz"), "{r}");
    assert!(r.contains("channels: 84 (0 bad)"), "{r}");
    assert!(r.contains("SLT4"), "{r}");
    assert_eq!(r.matches("SOZ").count(), 10, "{r}");
    assert!(r.contains("ECOG"), "{r}");
    // A raw IDX file, a BIDS folder, a reference JSON and an unknown file.
    let dir = std::env::temp_dir().join(format!("lagrange-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("labels.idx1-ubyte");
    std::fs::write(&raw, crate::idx::encode_idx(&[3], &[1, 1, 2])).unwrap();
    let r = inspect(&raw).unwrap();
    assert!(r.contains("    1: 2") && r.contains("    2: 1"), "{r}");
    let bids = dir.join("bids");
    crate::bids::tests_support::write_bids_folder(&bids);
    let r = inspect(&bids).unwrap();
    assert!(r.contains("1 recording(s)") && r.contains("bad"), "{r}");
    assert!(r.contains("channels: 3 (1 bad)"), "{r}");
    let json = dir.join("EEG_set.json");
    std::fs::write(
        &json,
        br#"{"patient_1": {"input": [[1,2]], "target": [[3,4]]}}"#,
    )
    .unwrap();
    let r = inspect(&json).unwrap();
    assert!(r.contains("[patient_1]") && r.contains("target_0"), "{r}");
    let unknown = dir.join("notes.txt");
    std::fs::write(&unknown, b"hello").unwrap();
    assert!(matches!(
        inspect(&unknown),
        Err(crate::DataError::UnknownFormat { .. })
    ));
    assert!(inspect(&dir.join("missing.edf")).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
