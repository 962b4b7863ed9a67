//! Running a configuration: network construction, the run folder, progress bars, the start-up
//! report, and the acceptance check.

use crate::config::{InitScheme, RunConfig};
use crate::io::{Metrics, checkpoint_path};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lagrange_circuits::{DrawOrder, InitParams, init_biases, init_weights, reference_init};
use lagrange_core::{Layers, Network};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Command-line options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Output folder (default `target/reproduce/<name>/`).
    pub out: Option<PathBuf>,
    /// Continue from the folder's checkpoint.
    pub resume: bool,
    /// Data file or folder overriding the configuration's.
    pub data: Option<PathBuf>,
    /// Stop after this many epochs in this session (the checkpoint allows `--resume`).
    pub stop_after: Option<usize>,
    /// Hide progress bars.
    pub quiet: bool,
    /// Whether this is the quick variant (recorded in the metrics).
    pub quick: bool,
    /// A seed replacing the configuration's (for seed studies); the run is then named
    /// `<name>-seed<N>`, so that its default folder does not overwrite the configured seed's.
    pub seed: Option<u64>,
}

/// Reads a `.npy` array of the given shape (a 1-D array counts as one row), row-major values.
fn read_npy_array(
    path: &std::path::Path,
    rows: usize,
    cols: usize,
    field: &str,
) -> anyhow::Result<Vec<f64>> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("{field}: cannot read {}: {e}", path.display()))?;
    let a = lagrange_data::npy::parse_npy(&bytes, path)?;
    anyhow::ensure!(
        a.rows == rows && a.cols == cols,
        "{field}: {} holds a {}×{} array, the network needs {rows}×{cols}",
        path.display(),
        a.rows,
        a.cols
    );
    Ok(a.data)
}

/// Builds the initial network (f64) of a configuration.
pub fn build_network(cfg: &RunConfig) -> anyhow::Result<Network<f64>> {
    let topo = cfg
        .network
        .topology_spec()?
        .build()
        .map_err(|e| anyhow::anyhow!("network: {e}"))?;
    let wp: InitParams = cfg.network.weights.into();
    let bp: Option<InitParams> = cfg.network.biases.map(Into::into);
    let (w, b) = match &cfg.network.init {
        InitScheme::Seeded => {
            let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
            let w = init_weights(&topo, &wp, &mut rng)?;
            let b = match &bp {
                Some(p) => init_biases(&topo, p, &mut rng)?,
                None => DVector::zeros(topo.n_neurons()),
            };
            (w, b)
        }
        InitScheme::Reference => {
            let order = if cfg.ieeg.is_some() {
                DrawOrder::SingleSample
            } else {
                DrawOrder::Batched
            };
            reference_init(&topo, wp, bp, cfg.seed as u32, order)
        }
        InitScheme::Npy { weights, biases } => {
            let n = topo.n_neurons();
            let w = read_npy_array(weights, n, n, "network.init.Npy.weights")?;
            let w = DMatrix::from_row_slice(n, n, &w);
            let b = match biases {
                Some(p) => DVector::from_vec(read_npy_array(p, 1, n, "network.init.Npy.biases")?),
                None => DVector::zeros(n),
            };
            (w, b)
        }
    };
    let bias_mask = if cfg.model.learn_biases {
        topo.bias_mask().clone()
    } else {
        DVector::zeros(topo.n_neurons())
    };
    let net = Network::from_dense(
        Layers::new(topo.layers())?,
        &w,
        topo.weight_mask(),
        b,
        bias_mask,
    )?;
    Ok(net)
}

/// The run folder: `opts.out` or `target/reproduce/<name>/` under the workspace root (or the
/// current directory when run outside the workspace).
pub fn run_dir(cfg: &RunConfig, opts: &RunOptions) -> PathBuf {
    opts.out.clone().unwrap_or_else(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let base = if root.join("Cargo.toml").is_file() {
            root.join("target")
        } else {
            PathBuf::from("target")
        };
        base.join("reproduce").join(&cfg.name)
    })
}

/// Prepares the run folder: refuses to overwrite an existing checkpoint unless resuming.
pub fn prepare_dir(dir: &std::path::Path, opts: &RunOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if !opts.resume && checkpoint_path(dir).exists() {
        // a fresh run replaces an old one in the same folder
        std::fs::remove_file(checkpoint_path(dir))
            .with_context(|| format!("removing the old checkpoint in {}", dir.display()))?;
    }
    Ok(())
}

/// A progress bar with ETA on stderr; hidden when stderr is not a terminal or when quiet.
pub fn progress(len: u64, msg: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>18} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg.to_string());
    pb
}

/// New metrics for a run.
pub fn new_metrics(cfg: &RunConfig, opts: &RunOptions) -> Metrics {
    Metrics {
        name: cfg.name.clone(),
        config: cfg.to_ron(),
        config_hash: cfg.hash(),
        seed: cfg.seed,
        quick: opts.quick,
        startup: BTreeMap::new(),
        notes: Vec::new(),
        epochs: Vec::new(),
        total_wall_s: 0.0,
        finished: false,
    }
}

/// One acceptance check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Measured value.
    pub value: f64,
    /// Threshold.
    pub threshold: f64,
    /// `true`: value must be ≤ threshold; `false`: ≥.
    pub at_most: bool,
}

impl Check {
    /// Whether the check passes.
    pub fn passes(&self) -> bool {
        if self.at_most {
            self.value <= self.threshold
        } else {
            self.value >= self.threshold
        }
    }
}

/// Evaluates the acceptance thresholds of `cfg` on finished metrics.
pub fn acceptance_checks(cfg: &RunConfig, m: &Metrics) -> anyhow::Result<Vec<Check>> {
    let a = &cfg.acceptance;
    let first = m.epochs.first().context("metrics have no epoch")?;
    let last = m.epochs.last().context("metrics have no epoch")?;
    let get = |e: &crate::io::EpochRecord, k: &str| -> anyhow::Result<f64> {
        e.values
            .get(k)
            .copied()
            .with_context(|| format!("metrics of epoch {} have no `{k}`", e.epoch))
    };
    let mut out = Vec::new();
    if let Some(t) = a.max_test_error {
        out.push(Check {
            name: format!("final test error (epoch {})", last.epoch),
            value: get(last, "test_error")?,
            threshold: t,
            at_most: true,
        });
    }
    if let Some(t) = a.min_improvement {
        out.push(Check {
            name: format!("accuracy gain epoch {} − epoch {}", last.epoch, first.epoch),
            value: get(last, "test_accuracy")? - get(first, "test_accuracy")?,
            threshold: t,
            at_most: false,
        });
    }
    if let Some(t) = a.max_heldout_cost_ratio {
        out.push(Check {
            name: "held-out free-channel cost, final / epoch 0".into(),
            value: get(last, "heldout_cost")? / get(first, "heldout_cost")?,
            threshold: t,
            at_most: true,
        });
    }
    if let Some(t) = a.max_train_cost_ratio {
        out.push(Check {
            name: "training-window free-channel cost, final / epoch 0".into(),
            value: get(last, "train_cost")? / get(first, "train_cost")?,
            threshold: t,
            at_most: true,
        });
    }
    if !m.finished {
        out.push(Check {
            name: "run finished all epochs (1 = yes)".into(),
            value: 0.0,
            threshold: 1.0,
            at_most: false,
        });
    }
    Ok(out)
}

/// Reads a run folder's metrics, re-parses the configuration stored in them, and evaluates the
/// acceptance checks. Returns the report text and whether all checks pass.
pub fn check_dir(dir: &std::path::Path) -> anyhow::Result<(String, bool)> {
    let m = Metrics::read(dir)?;
    let cfg = RunConfig::from_ron(&m.config, &dir.join("metrics.json"))?;
    let checks = acceptance_checks(&cfg, &m)?;
    let mut s = format!("{} ({}):\n", m.name, dir.display());
    let last = m.epochs.last();
    if let Some(e) = last {
        let vals: Vec<String> = e
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v:.5}"))
            .collect();
        s.push_str(&format!("  final epoch {}: {}\n", e.epoch, vals.join(" ")));
    }
    // the baselines of the start-up report (the data diagnostics, e.g. iEEG's ridge fitted on
    // the held-out window and predicting 0), beside which the final values are read
    let baselines: Vec<String> = m
        .startup
        .iter()
        .filter(|(k, _)| k.ends_with("_cost"))
        .map(|(k, v)| format!("{k}={v:.5}"))
        .collect();
    if !baselines.is_empty() {
        s.push_str(&format!("  baselines: {}\n", baselines.join(" ")));
    }
    s.push_str(&format!("  total wall time {:.1} s\n", m.total_wall_s));
    let mut ok = true;
    for c in &checks {
        let pass = c.passes();
        ok &= pass;
        s.push_str(&format!(
            "  {} {}: {:.5} {} {:.5}\n",
            if pass { "PASS" } else { "MISS" },
            c.name,
            c.value,
            if c.at_most { "<=" } else { ">=" },
            c.threshold
        ));
    }
    if checks.is_empty() {
        s.push_str("  (no thresholds configured)\n");
    }
    Ok((s, ok))
}

/// Starts an epoch: sets the learning rates (`model`'s `lr_weights` and `lr_biases`, a
/// schedule step, reported for `epoch` on stderr when they change; its other fields are not
/// read) and drops the simulator's weight-derived caches, so that a run resumed from the
/// checkpoint written before this epoch steps to the same bits as an uninterrupted one (see
/// [`lagrange_core::Simulator::reset_caches`]).
pub fn begin_epoch<T: lagrange_core::Real>(
    sim: &mut lagrange_core::Simulator<T>,
    model: &lagrange_core::ModelConfig,
    epoch: usize,
) -> anyhow::Result<()> {
    sim.reset_caches();
    let (w, b) = (model.lr_weights, model.lr_biases);
    if (w, b) == (sim.config().lr_weights, sim.config().lr_biases) {
        return Ok(());
    }
    sim.set_learning_rates(w, b)
        .with_context(|| format!("epoch {epoch}: learning-rate schedule"))?;
    eprintln!(
        "epoch {epoch}: learning rates now η_W = {}, η_b = {}",
        short_float(w),
        short_float(b)
    );
    Ok(())
}

/// `x` in scientific notation with at most 6 significant digits and no trailing zeros
/// (`1e-5` for the product 1e-3 × 0.1 × 0.1, which `{:e}` prints as `1.0000000000000003e-5`);
/// zero is `0`.
pub fn short_float(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let s = format!("{x:.5e}");
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => {
            format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::short_float;

    #[test]
    fn short_float_drops_rounding_noise_and_trailing_zeros() {
        // η × the schedule's factor product, as `lr_factor` folds it
        let rate = 1e-3 * (1.0 * 0.1 * 0.1);
        assert_eq!(format!("{rate:e}"), "1.0000000000000003e-5");
        assert_eq!(short_float(rate), "1e-5");
        assert_eq!(short_float(0.05), "5e-2");
        assert_eq!(short_float(2.5e-4), "2.5e-4");
        assert_eq!(short_float(0.0), "0");
        assert_eq!(short_float(-1.234567e3), "-1.23457e3");
    }
}
