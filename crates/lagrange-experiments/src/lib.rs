//! # lagrange-experiments
//!
//! Reproducible runs of the NLA model and the `lagrange` command-line tool. So far this crate
//! holds the replay of reference trajectories ([`replay`]), which proves that the core's time
//! step is the reference implementation's step.

pub mod replay;

pub use replay::{ReplayError, ReplayReport, replay_file};

/// Folder of the shared golden fixtures, relative to this crate (`../shared/golden` beside the
/// repository).
pub fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
}
