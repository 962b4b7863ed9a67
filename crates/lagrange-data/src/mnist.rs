//! MNIST: loading the IDX files into `f32` images, and the reference data protocol.
//!
//! * [`load_mnist_dir`] reads the official 60k/10k split from a folder holding the four files
//!   (`.gz` or uncompressed, with either the `-idx3-ubyte` or the `.idx3-ubyte` spelling).
//! * Pixels are scaled exactly as the reference does (spec §11.3 item 4): `f32(p) · f32(1/255)`.
//! * [`reference_split`] implements the reference protocol of spec §11.3: a seeded 67/33 split of
//!   all 70000 images, then per-class sampling of 2000 training and 100 test images, then a shuffle
//!   of each list. It uses this crate's own seeded RNG ([`rand::rngs::StdRng`]); it is **not**
//!   bit-compatible with numpy/Python's RNGs, so the selected images differ from the reference's
//!   (which were themselves not reproducible: they depended on the global numpy state).
//! * [`logit`] is the optional transform for sigmoid networks (spec §11.3 item 6).

use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng, rngs::StdRng};

use crate::error::{DataError, Result, read_file};
use crate::idx::{parse_idx_images, parse_idx_labels};

/// Number of classes (digits 0–9).
pub const NUM_CLASSES: usize = 10;
/// `f32(1/255)`, the factor the reference multiplies each pixel by (in f32).
pub const PIXEL_SCALE: f32 = (1.0f64 / 255.0) as f32;

/// A set of images with labels.
#[derive(Debug, Clone, PartialEq)]
pub struct MnistSet {
    /// Pixel values, `len() × rows·cols`, row-major, scaled to [0, 1].
    pub images: Vec<f32>,
    /// Class index per image (0–9).
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

/// The official split.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    /// The 60000 training images.
    pub train: MnistSet,
    /// The 10000 test images.
    pub test: MnistSet,
}

impl Mnist {
    /// All images in OpenML order: the training set, then the test set (70000 for MNIST).
    pub fn all(&self) -> MnistSet {
        let mut all = self.train.clone();
        all.images.extend_from_slice(&self.test.images);
        all.labels.extend_from_slice(&self.test.labels);
        all
    }
}

/// How targets are encoded by [`MnistSet::targets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetEncoding {
    /// 1.0 at the class, 0.0 elsewhere.
    OneHot,
    /// One-hot passed through [`logit`] (≈ +2.197 at the class, ≈ −2.418 elsewhere).
    OneHotLogit,
}

/// The logit transform of spec §11.3 item 6: `z = (s + 0.1)/1.1·0.9`, then `ln(z/(1 − z))`.
///
/// Maps 0 → −2.418 and 1 → +2.197.
pub fn logit(s: f32) -> f32 {
    let z = (s + 0.1) / 1.1 * 0.9;
    (z / (1.0 - z)).ln()
}

impl MnistSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image (`rows · cols`, 784 for MNIST).
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, or `None` when out of range.
    pub fn image(&self, i: usize) -> Option<&[f32]> {
        let p = self.pixels();
        let start = i.checked_mul(p)?;
        self.images.get(start..start.checked_add(p)?)
    }

    /// One-hot targets, `len() × 10`, row-major.
    pub fn one_hot(&self) -> Vec<f32> {
        self.targets(TargetEncoding::OneHot)
    }

    /// Targets in the requested encoding, `len() × 10`, row-major.
    pub fn targets(&self, encoding: TargetEncoding) -> Vec<f32> {
        let (on, off) = match encoding {
            TargetEncoding::OneHot => (1.0, 0.0),
            TargetEncoding::OneHotLogit => (logit(1.0), logit(0.0)),
        };
        let mut out = vec![off; self.len() * NUM_CLASSES];
        for (row, &l) in out.chunks_exact_mut(NUM_CLASSES).zip(&self.labels) {
            if let Some(v) = row.get_mut(usize::from(l)) {
                *v = on;
            }
        }
        out
    }

    /// Applies [`logit`] to every pixel (for sigmoid networks).
    pub fn apply_logit(&mut self) {
        for v in &mut self.images {
            *v = logit(*v);
        }
    }

    /// Number of images per class.
    pub fn class_histogram(&self) -> [usize; NUM_CLASSES] {
        let mut h = [0; NUM_CLASSES];
        for &l in &self.labels {
            if let Some(c) = h.get_mut(usize::from(l)) {
                *c += 1;
            }
        }
        h
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<MnistSet> {
        let p = self.pixels();
        let mut images = Vec::with_capacity(indices.len().saturating_mul(p));
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            match (self.image(i), self.labels.get(i)) {
                (Some(img), Some(&l)) => {
                    images.extend_from_slice(img);
                    labels.push(l);
                }
                _ => {
                    return Err(DataError::InvalidRequest {
                        path: PathBuf::new(),
                        operation: "take an MNIST subset".into(),
                        reason: format!("index {i} out of range (len {})", self.len()),
                    });
                }
            }
        }
        Ok(MnistSet {
            images,
            labels,
            rows: self.rows,
            cols: self.cols,
        })
    }
}

/// Builds a set from decoded image and label bytes (checks that the counts agree).
pub fn set_from_bytes(
    image_bytes: &[u8],
    image_path: &Path,
    label_bytes: &[u8],
    label_path: &Path,
) -> Result<MnistSet> {
    let images = parse_idx_images(image_bytes, image_path)?;
    let labels = parse_idx_labels(label_bytes, label_path, (NUM_CLASSES - 1) as u8)?;
    if images.count() != labels.count() {
        return Err(DataError::Inconsistent {
            path: label_path.into(),
            field: "item count".into(),
            reason: format!(
                "{} labels but {} images in {}",
                labels.count(),
                images.count(),
                image_path.display()
            ),
        });
    }
    let (rows, cols) = match images.dims.as_slice() {
        [_, r, c] => (*r, *c),
        _ => (0, 0),
    };
    let pixels = images
        .data
        .iter()
        .map(|&p| f32::from(p) * PIXEL_SCALE)
        .collect();
    Ok(MnistSet {
        images: pixels,
        labels: labels.data,
        rows,
        cols,
    })
}

/// Loads one pair of files (images, labels).
pub fn load_set(image_path: &Path, label_path: &Path) -> Result<MnistSet> {
    let ib = read_file(image_path)?;
    let lb = read_file(label_path)?;
    set_from_bytes(&ib, image_path, &lb, label_path)
}

/// Which half of the official split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `train-*` (60000 images).
    Train,
    /// `t10k-*` (10000 images).
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Finds the file for `split`/`kind` ("images"/"labels", "idx3"/"idx1") in `dir`.
pub fn find_file(dir: &Path, split: Split, images: bool) -> Result<PathBuf> {
    let (kind, idx) = if images {
        ("images", "idx3")
    } else {
        ("labels", "idx1")
    };
    let p = split.prefix();
    let candidates = [
        format!("{p}-{kind}-{idx}-ubyte.gz"),
        format!("{p}-{kind}-{idx}-ubyte"),
        format!("{p}-{kind}.{idx}-ubyte.gz"),
        format!("{p}-{kind}.{idx}-ubyte"),
    ];
    candidates
        .iter()
        .map(|c| dir.join(c))
        .find(|c| c.is_file())
        .ok_or_else(|| DataError::MissingFile {
            path: dir.into(),
            field: format!("MNIST {} {kind}", p),
            missing: dir.join(&candidates[0]),
        })
}

/// Loads one half of the official split from a folder.
pub fn load_split(dir: &Path, split: Split) -> Result<MnistSet> {
    load_set(
        &find_file(dir, split, true)?,
        &find_file(dir, split, false)?,
    )
}

/// Loads the official 60k/10k split from a folder holding the four files.
pub fn load_mnist_dir(dir: &Path) -> Result<Mnist> {
    Ok(Mnist {
        train: load_split(dir, Split::Train)?,
        test: load_split(dir, Split::Test)?,
    })
}

/// Parameters of the reference protocol (spec §11.3); [`Default`] gives the reference values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceProtocol {
    /// Fraction of all images in the first (test) part of the split: 0.33.
    pub test_fraction: f64,
    /// Images sampled per class from the training part: 2000.
    pub train_per_class: usize,
    /// Images sampled per class from the test part: 100.
    pub test_per_class: usize,
}

impl Default for ReferenceProtocol {
    fn default() -> Self {
        ReferenceProtocol {
            test_fraction: 0.33,
            train_per_class: 2000,
            test_per_class: 100,
        }
    }
}

/// Fisher–Yates shuffle with our RNG.
fn shuffle<T>(v: &mut [T], rng: &mut StdRng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// Samples `k` of `pool` without replacement (partial Fisher–Yates), in sampling order.
fn sample(pool: &mut [usize], k: usize, rng: &mut StdRng) -> Vec<usize> {
    for i in 0..k.min(pool.len()) {
        let j = rng.random_range(i..pool.len());
        pool.swap(i, j);
    }
    pool.iter().take(k).copied().collect()
}

/// The reference protocol with the default parameters; see [`reference_split_with`].
pub fn reference_split(all: &MnistSet, seed: u64) -> Result<(MnistSet, MnistSet)> {
    reference_split_with(all, seed, ReferenceProtocol::default())
}

/// The reference data protocol of spec §11.3, with our own seeded RNG.
///
/// `all` should be the 70000 images in OpenML order ([`Mnist::all`]). Steps: one seeded
/// permutation of all indices; test part = the first ⌈0.33·n⌉ (23100), train part = the rest
/// (46900); for each class 0–9, sample `train_per_class` from the train part, then for each class
/// sample `test_per_class` from the test part (without replacement); shuffle the training list,
/// then the test list. Returns `(train, test)` (20000 and 1000 images by default).
pub fn reference_split_with(
    all: &MnistSet,
    seed: u64,
    protocol: ReferenceProtocol,
) -> Result<(MnistSet, MnistSet)> {
    let n = all.len();
    let n_test = (protocol.test_fraction * n as f64).ceil();
    if !(0.0..=n as f64).contains(&n_test) {
        return Err(DataError::InvalidRequest {
            path: PathBuf::new(),
            operation: "split MNIST".into(),
            reason: format!("test_fraction {} is not in [0, 1]", protocol.test_fraction),
        });
    }
    let n_test = n_test as usize;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    shuffle(&mut perm, &mut rng);
    let (test_part, train_part) = perm.split_at(n_test);
    let mut pick = |part: &[usize], k: usize| -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(k * NUM_CLASSES);
        for c in 0..NUM_CLASSES {
            let mut pool: Vec<usize> = part
                .iter()
                .copied()
                .filter(|&i| all.labels.get(i).map(|&l| usize::from(l)) == Some(c))
                .collect();
            if pool.len() < k {
                return Err(DataError::InvalidRequest {
                    path: PathBuf::new(),
                    operation: "split MNIST".into(),
                    reason: format!("class {c} has {} images, {k} requested", pool.len()),
                });
            }
            out.extend(sample(&mut pool, k, &mut rng));
        }
        Ok(out)
    };
    let mut train_idx = pick(train_part, protocol.train_per_class)?;
    let mut test_idx = pick(test_part, protocol.test_per_class)?;
    shuffle(&mut train_idx, &mut rng);
    shuffle(&mut test_idx, &mut rng);
    Ok((all.subset(&train_idx)?, all.subset(&test_idx)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx;

    fn tiny(n_per_class: usize) -> MnistSet {
        let n = n_per_class * NUM_CLASSES;
        let labels: Vec<u8> = (0..n).map(|i| (i % NUM_CLASSES) as u8).collect();
        let imgs: Vec<u8> = (0..n * 4).map(|i| (i % 256) as u8).collect();
        let ib = encode_idx(&[n as u32, 2, 2], &imgs);
        let lb = encode_idx(&[n as u32], &labels);
        set_from_bytes(&ib, Path::new("i"), &lb, Path::new("l")).unwrap()
    }

    #[test]
    fn scaling_and_helpers() {
        let s = tiny(3);
        assert_eq!(s.len(), 30);
        assert_eq!(s.pixels(), 4);
        assert_eq!(
            s.image(0).unwrap(),
            &[0.0, PIXEL_SCALE, 2.0 * PIXEL_SCALE, 3.0 * PIXEL_SCALE]
        );
        assert_eq!(s.images[119], 119.0 * PIXEL_SCALE);
        assert!(s.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let oh = s.one_hot();
        assert_eq!(oh.len(), 300);
        assert_eq!(&oh[10..20], &[0., 1., 0., 0., 0., 0., 0., 0., 0., 0.]);
        let sub = s.subset(&[3, 1]).unwrap();
        assert_eq!(sub.labels, vec![3, 1]);
        assert_eq!(sub.image(1), s.image(1));
        assert!(s.subset(&[30]).is_err());
        assert_eq!(s.class_histogram(), [3; 10]);
        let tl = s.targets(TargetEncoding::OneHotLogit);
        assert!((tl[0] - 2.1972).abs() < 1e-3 && (tl[1] + 2.4181).abs() < 1e-3);
    }

    #[test]
    fn count_mismatch_is_an_error() {
        let ib = encode_idx(&[2, 1, 1], &[0, 1]);
        let lb = encode_idx(&[3], &[0, 1, 2]);
        let e = set_from_bytes(&ib, Path::new("i"), &lb, Path::new("l")).unwrap_err();
        assert!(matches!(e, DataError::Inconsistent { .. }));
    }

    #[test]
    fn logit_values() {
        assert!((logit(0.0) + 2.418).abs() < 1e-3);
        assert!((logit(1.0) - 2.197).abs() < 1e-3);
    }

    #[test]
    fn reference_split_is_seeded_and_per_class() {
        let all = tiny(100);
        let p = ReferenceProtocol {
            test_fraction: 0.33,
            train_per_class: 20,
            test_per_class: 5,
        };
        let (tr, te) = reference_split_with(&all, 7, p).unwrap();
        assert_eq!(tr.len(), 200);
        assert_eq!(te.len(), 50);
        assert_eq!(tr.class_histogram(), [20; 10]);
        assert_eq!(te.class_histogram(), [5; 10]);
        let (tr2, te2) = reference_split_with(&all, 7, p).unwrap();
        assert_eq!(tr, tr2);
        assert_eq!(te, te2);
        let (tr3, _) = reference_split_with(&all, 8, p).unwrap();
        assert_ne!(tr, tr3);
        let too_many = ReferenceProtocol {
            train_per_class: 1000,
            ..p
        };
        assert!(reference_split_with(&all, 7, too_many).is_err());
    }
}
