//! # lagrange-experiments
//!
//! Reproducible runs of the NLA model and the `lagrange` command-line tool:
//!
//! * [`config`]: run configurations (RON files under `experiments/`, or the reference's
//!   `NetworkParams` JSON files via [`reference_params`]).
//! * [`ieeg`] and [`mnist`]: the two reproductions; each writes `metrics.json`, `metrics.csv`,
//!   PNG plots, `.npy` exports and an atomic checkpoint per epoch into the run folder.
//! * [`protocol`]: a small API for library users: the sample fade, `fit`/`predict` over a stream
//!   of samples ([`Presenter`]) and a streaming step for time series ([`Stream`]).
//! * [`baseline`]: ridge regression and plain backprop baselines.
//! * [`io`]: atomic writes, `.npy` export, metrics and checkpoints; [`plot`]: PNG plots.
//! * [`replay`]: replay of reference trajectories (the core's time step is the reference's).

pub mod baseline;
pub mod config;
pub mod ieeg;
pub mod io;
pub mod mnist;
pub mod plot;
pub mod protocol;
pub mod reference_params;
pub mod replay;
pub mod run;

pub use config::{ConfigError, RunConfig};
pub use protocol::{PresentOptions, Presenter, Stream, fade_weights, fade_weights_width};
pub use replay::{ReplayError, ReplayReport, replay_file};
pub use run::{RunOptions, check_dir};

/// Folder of the shared golden fixtures, relative to this crate (`../shared/golden` beside the
/// repository).
pub fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
}

/// Folder of the shipped configurations (`experiments/` at the workspace root).
pub fn experiments_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments")
}

/// Resolves a configuration argument: an existing path, or a name under `experiments/`
/// (`mnist-paper` → `experiments/mnist-paper.ron`).
pub fn resolve_config(name: &str) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(name);
    if p.is_file() {
        return p;
    }
    let ron = experiments_dir().join(format!("{name}.ron"));
    if ron.is_file() { ron } else { p }
}

/// Loads a configuration (applying the quick variant when asked) and runs it; returns the run
/// folder.
pub fn run_config(
    config: &std::path::Path,
    mut opts: RunOptions,
    quick: bool,
) -> anyhow::Result<std::path::PathBuf> {
    let mut cfg = RunConfig::load(config)?;
    if quick {
        cfg = cfg.into_quick()?;
    }
    opts.quick = quick;
    if let Some(seed) = opts.seed {
        cfg.seed = seed;
        cfg.name = format!("{}-seed{seed}", cfg.name);
    }
    if cfg.ieeg.is_some() {
        ieeg::run(&cfg, &opts)
    } else {
        mnist::run(&cfg, &opts)
    }
}
