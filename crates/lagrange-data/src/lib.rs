//! lagrange-data: the data the two reproductions need, read correctly.
//!
//! * **MNIST** — [`idx`] reads IDX files (raw or gzip) with full header checks; [`mnist`] turns
//!   them into `f32` images in [0, 1] with index or one-hot labels, the official 60k/10k split,
//!   the reference protocol of spec §11.3 ([`mnist::reference_split`]) and the optional logit
//!   transform.
//! * **iEEG** — every reader returns one [`Recording`] (channels × time, `f64`): [`edf`]
//!   (EDF/EDF+), [`brainvision`] (`.vhdr` + `.eeg`), [`bids`] (BIDS iEEG folder or file with
//!   `channels.tsv`), [`npy`] (`.npy` + JSON sidecar) and [`reference_json`] (the reference's
//!   `EEG_set.json`). [`preprocess`] selects channels, drops bad ones, scales, resamples and cuts
//!   windows.
//! * **Vendored data** — [`vendored`] loads `data/` (MNIST, the CC0 ECoG recording PT01) after
//!   verifying the pinned SHA-256 checksums.
//! * **Inspection** — [`inspect()`] detects the format of a file or folder and returns the report
//!   printed by `lagrange inspect`.
//!
//! All readers work from in-memory bytes (`parse_*`) or paths (`read_*`), return
//! [`DataError`] naming the file and the field, never panic on file contents, and check every
//! declared size against the actual length before allocating.
//!
//! # Robustness tests
//!
//! `cargo test -p lagrange-data` runs proptest-based robustness tests per reader (truncated,
//! bit-flipped and random inputs; 10 000 cases each by default). For longer runs, raise the
//! count. Use the default test profile (it keeps integer-overflow checks, which release drops);
//! one million cases per test takes a few minutes on two cores:
//!
//! ```text
//! LAGRANGE_FUZZ_CASES=1000000 cargo test -p lagrange-data fuzz
//! ```

pub mod bids;
pub mod brainvision;
pub mod edf;
pub mod error;
pub mod idx;
pub mod inspect;
pub mod mnist;
pub mod npy;
pub mod preprocess;
pub mod recording;
pub mod reference_json;
pub mod vendored;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod real_data_tests;

pub use error::{DataError, Result};
pub use inspect::inspect;
pub use mnist::{Mnist, MnistSet, load_mnist_dir, reference_split};
pub use recording::{Channel, ChannelStats, ChannelStatus, ChannelType, Recording};
pub use vendored::{load_mnist_vendored, load_pt01_vendored, vendored_data_dir};
