//! Run configurations: plain serde data read from RON files under `experiments/` (unknown keys
//! are rejected), or from the reference's `NetworkParams` JSON files (spec §12.2).
//!
//! A [`RunConfig`] holds the network ([`NetworkSection`]), the dynamics ([`ModelSection`]),
//! exactly one experiment section ([`MnistSection`] or [`IeegSection`]), the acceptance
//! thresholds of the full run ([`Acceptance`]) and an optional `--quick` variant
//! ([`QuickSection`]) with its own overrides and thresholds. [`RunConfig::validate`] names the
//! offending field of every impossible value.

use lagrange_circuits::{Architecture, InitParams, TopologySpec};
use lagrange_core::{Activation, Compat, InputMode, Method, ModelConfig, Solver};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a configuration cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid RON/JSON, or an unknown/missing key.
    #[error("{path}: {reason}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Parser message (names the key and position).
        reason: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: `{field}` {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(field: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Scalar type of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// Single precision (about 2× faster; MNIST).
    F32,
    /// Double precision (iEEG, parity).
    F64,
}

/// How the initial weights are drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitScheme {
    /// Clean seeded draw (`lagrange_circuits::init_weights` with `StdRng::seed_from_u64(seed)`).
    Seeded,
    /// The reference's numpy stream (`lagrange_circuits::reference_init`, second draw after
    /// seeding with `seed as u32`), bit-identical to the reference's initial weights.
    Reference,
    /// Weights (and optionally biases) loaded from NumPy `.npy` files, e.g. the reference's
    /// checkpoint `weights.npy` (N×N, row = postsynaptic) and `biases.npy` (N). Relative paths
    /// are taken from the working directory. The weights are used as stored (not re-masked,
    /// as the reference's `load`); only their shape is checked against the network.
    Npy {
        /// Path of the N×N weight matrix.
        weights: std::path::PathBuf,
        /// Path of the N biases (zeros when absent).
        biases: Option<std::path::PathBuf>,
    },
}

/// Mean, standard deviation and clip of a clipped normal draw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitSection {
    /// Mean.
    pub mean: f64,
    /// Standard deviation (≥ 0).
    pub std: f64,
    /// Values are clipped to mean ± clip (> 0).
    pub clip: f64,
}

impl From<InitSection> for InitParams {
    fn from(s: InitSection) -> Self {
        InitParams {
            mean: s.mean,
            std: s.std,
            clip: s.clip,
        }
    }
}

/// The circuit: layers, connection pattern, learning-rate factors and initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Layer sizes; layer 0 holds the inputs (0 = no input neurons), the last the outputs.
    pub layers: Vec<usize>,
    /// Reference architecture name: `layered-feedforward`, `layered-recurrent`,
    /// `layered-recurrent-recurrent`, `in-recurrent-out`, `fully-recurrent`, ….
    pub architecture: String,
    /// Learning-rate factor per layer transition (`layers.len() − 1` entries).
    pub lr_factors: Vec<f64>,
    /// No synapses and no biases onto input neurons.
    #[serde(default)]
    pub only_discriminative: bool,
    /// The reference's shifted bias factors (spec §1.4).
    #[serde(default)]
    pub bias_factor_shift: bool,
    /// Weight initialisation.
    pub weights: InitSection,
    /// Bias initialisation (`None`: zero biases).
    #[serde(default)]
    pub biases: Option<InitSection>,
    /// Seeded or reference-compatible draw.
    #[serde(default = "default_init")]
    pub init: InitScheme,
}

fn default_init() -> InitScheme {
    InitScheme::Seeded
}

impl NetworkSection {
    /// The circuits crate's topology spec.
    pub fn topology_spec(&self) -> Result<TopologySpec, ConfigError> {
        let arch = Architecture::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == self.architecture)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "network.architecture",
                    format!(
                        "{:?} is not one of {:?}",
                        self.architecture,
                        Architecture::ALL
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                    ),
                )
            })?;
        let mut spec = TopologySpec::new(self.layers.clone(), arch, self.lr_factors.clone());
        spec.only_discriminative = self.only_discriminative;
        spec.bias_factor_shift = self.bias_factor_shift;
        Ok(spec)
    }
}

/// ρ, in RON-friendly spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivationName {
    /// Logistic.
    Sigmoid,
    /// clamp(u, 0, 1).
    HardSigmoid,
    /// max(u, 0).
    Relu,
}

/// How u̇ is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MethodName {
    /// Exact linear solve.
    Exact,
    /// Euler with the previous u̇.
    Euler,
}

/// Dense factorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SolverName {
    /// Cholesky (LU fallback).
    Cholesky,
    /// LU.
    Lu,
}

/// Input neurons clamped to the input or dynamic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputsName {
    /// u_C = x.
    Clamped,
    /// The reference batched model's dynamic, error-fed inputs.
    Dynamic,
}

/// Reference-compatibility switches of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompatName {
    /// The clean, paper-consistent model.
    Clean,
    /// `Compat::reference_batched()` (the reference's MNIST model).
    ReferenceBatched,
    /// `Compat::reference_single()` (the reference's iEEG model).
    ReferenceSingle,
}

/// Dynamics, solver, plasticity and precision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// τ (ms).
    pub tau: f64,
    /// dt (ms).
    pub dt: f64,
    /// ρ.
    pub activation: ActivationName,
    /// Exact or Euler.
    #[serde(default = "default_method")]
    pub method: MethodName,
    /// Cholesky or LU.
    #[serde(default = "default_solver")]
    pub solver: SolverName,
    /// Clamped or dynamic inputs.
    #[serde(default = "default_inputs")]
    pub inputs: InputsName,
    /// η_W (per ms).
    pub lr_weights: f64,
    /// η_b (per ms).
    #[serde(default)]
    pub lr_biases: f64,
    /// Whether biases learn.
    #[serde(default)]
    pub learn_biases: bool,
    /// Use the structured layer-wise solver where possible.
    #[serde(default = "default_true")]
    pub structured_solver: bool,
    /// Reference-compatibility switches.
    #[serde(default = "default_compat")]
    pub compat: CompatName,
    /// f32 or f64.
    pub precision: Precision,
    /// Clamp W to ±value after every update (the reference's `arg_clip_weight`; spec §6.2).
    #[serde(default)]
    pub clip_weights: Option<f64>,
    /// Clamp Ẇ element-wise to ±value (`arg_clip_weight_deriv`; spec §6.2).
    #[serde(default)]
    pub clip_weight_derivative: Option<f64>,
    /// Clamp b to ±value after every update (spec §6.2).
    #[serde(default)]
    pub clip_biases: Option<f64>,
    /// Leave Ẇ and ḃ out of the voltage dynamics (the reference's `is_weight_constant_for_u`;
    /// see `lagrange_core::ModelConfig::weight_constant_for_u`).
    #[serde(default)]
    pub weight_constant_for_u: bool,
}

fn default_method() -> MethodName {
    MethodName::Exact
}
fn default_solver() -> SolverName {
    SolverName::Cholesky
}
fn default_inputs() -> InputsName {
    InputsName::Clamped
}
fn default_true() -> bool {
    true
}
fn default_compat() -> CompatName {
    CompatName::Clean
}

impl ModelSection {
    /// The core's model configuration.
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            tau: self.tau,
            dt: self.dt,
            activation: match self.activation {
                ActivationName::Sigmoid => Activation::Sigmoid,
                ActivationName::HardSigmoid => Activation::HardSigmoid,
                ActivationName::Relu => Activation::Relu,
            },
            method: match self.method {
                MethodName::Exact => Method::Exact,
                MethodName::Euler => Method::Euler,
            },
            solver: match self.solver {
                SolverName::Cholesky => Solver::Cholesky,
                SolverName::Lu => Solver::Lu,
            },
            inputs: match self.inputs {
                InputsName::Clamped => InputMode::Clamped,
                InputsName::Dynamic => InputMode::Dynamic,
            },
            lr_weights: self.lr_weights,
            lr_biases: self.lr_biases,
            learn_biases: self.learn_biases,
            structured_solver: self.structured_solver,
            clip_weights: self.clip_weights,
            clip_weight_derivative: self.clip_weight_derivative,
            clip_biases: self.clip_biases,
            weight_constant_for_u: self.weight_constant_for_u,
            compat: match self.compat {
                CompatName::Clean => Compat::default(),
                CompatName::ReferenceBatched => Compat::reference_batched(),
                CompatName::ReferenceSingle => Compat::reference_single(),
            },
            ..ModelConfig::default()
        }
    }
}

/// Which MNIST images are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MnistData {
    /// The official 60k/10k split.
    Official,
    /// The reference protocol (spec §11.3): a seeded 67/33 split of all 70k images, then
    /// `train_per_class` and `test_per_class` images per class.
    Reference {
        /// Training images per class (2000).
        train_per_class: usize,
        /// Test images per class (100).
        test_per_class: usize,
    },
}

fn check_schedule(schedule: &[LrDrop], section: &str) -> Result<(), ConfigError> {
    for (i, d) in schedule.iter().enumerate() {
        check_nonneg(
            d.after_seconds,
            &format!("{section}.lr_schedule[{i}].after_seconds"),
        )?;
        check_nonneg(d.factor, &format!("{section}.lr_schedule[{i}].factor"))?;
    }
    Ok(())
}

/// The product of the factors of the drops of `schedule` that apply at `seconds`.
pub fn lr_factor(schedule: &[LrDrop], seconds: f64) -> f64 {
    schedule
        .iter()
        .filter(|d| seconds >= d.after_seconds)
        .fold(1.0, |f, d| f * d.factor)
}

/// `model` with η_W and η_b multiplied by `factor` (a schedule's [`lr_factor`]).
pub fn scaled_learning_rates(
    model: &lagrange_core::ModelConfig,
    factor: f64,
) -> lagrange_core::ModelConfig {
    lagrange_core::ModelConfig {
        lr_weights: model.lr_weights * factor,
        lr_biases: model.lr_biases * factor,
        ..model.clone()
    }
}

/// One step of a learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrDrop {
    /// Simulated time per sample stream (seconds of presentation) after which it applies.
    pub after_seconds: f64,
    /// Factor applied to η_W and η_b from then on.
    pub factor: f64,
}

/// When the backprop baseline updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BaselineEvery {
    /// At every dt on the faded stream (paper Fig. 4 "BP per dt").
    Step,
    /// Once per presentation, on the final (unfaded) sample, with the rate × steps.
    Presentation,
}

/// The MNIST experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MnistSection {
    /// Which images.
    pub data: MnistData,
    /// Samples per batch (independent trajectories sharing W).
    pub batch: usize,
    /// Time steps per presentation.
    pub steps_per_sample: usize,
    /// Logistic fade between consecutive samples (spec §8.1).
    pub fade: bool,
    /// Width in steps of the fade's logistic, centred at 5 widths
    /// ([`crate::protocol::fade_weights_width`]); absent: the reference's (3.6 steps at 100 steps
    /// per sample, centred at step 18).
    #[serde(default)]
    pub fade_width: Option<f64>,
    /// β on the outputs while training (0 when testing).
    pub beta: f64,
    /// Number of evaluations; epoch 0 is untrained when `untrained_epoch0`.
    pub epochs: usize,
    /// Epoch 0 evaluates the untrained network (the reference script).
    pub untrained_epoch0: bool,
    /// Shuffle the training list every epoch.
    #[serde(default = "default_true")]
    pub shuffle: bool,
    /// Learning-rate drops.
    #[serde(default)]
    pub lr_schedule: Vec<LrDrop>,
    /// Use at most this many training images (`None`: all).
    #[serde(default)]
    pub max_train: Option<usize>,
    /// Use at most this many test images.
    #[serde(default)]
    pub max_test: Option<usize>,
    /// Backprop baseline (`None`: none).
    #[serde(default)]
    pub baseline: Option<BaselineEvery>,
}

/// Channel choice for the iEEG recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Channels {
    /// The first `n` channels in recording order.
    First(usize),
    /// These channels, by name.
    Names(Vec<String>),
    /// The `n` channels of largest raw variance (in recording order).
    HighestVariance(usize),
}

/// Time base of the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeBase {
    /// Model time = recording time: linear resampling to 1000/dt Hz.
    RealTime,
    /// The reference convention: every raw sample is 2 ms, interpolated to dt.
    Reference2ms,
}

/// Amplitude scaling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ScalingName {
    /// Per-channel z-score (over the whole selected recording).
    ZScore,
    /// Per-channel z-score with the mean and standard deviation of the training window only
    /// (no statistic of the held-out window enters the preprocessing).
    ZScoreTrain,
    /// Divide by a constant.
    Divide(f64),
}

/// Where the recording comes from and how it is prepared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IeegData {
    /// A file or BIDS folder (EDF, BrainVision, BIDS, .npy, reference JSON); `None`: the
    /// vendored PT01 recording (checksum-verified). `--data` overrides it.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Patient key for reference JSON files.
    #[serde(default)]
    pub patient: Option<String>,
    /// Channel selection; the number must equal the last layer's size.
    pub channels: Channels,
    /// Time base.
    pub time_base: TimeBase,
    /// Amplitude scaling.
    pub scaling: ScalingName,
    /// Training window (start s, duration s) in model time, i.e. after the time base: the same
    /// as recording time for `RealTime`, twice the recording time per sample of a 1 kHz
    /// recording for `Reference2ms` (every sample counts 2 ms).
    pub train_window: (f64, f64),
    /// Held-out window (start s, duration s) in model time; must not overlap the training
    /// window.
    pub heldout_window: (f64, f64),
}

/// β during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrainingBeta {
    /// The paper: `beta_train` on all visible neurons.
    Paper,
    /// The reference's aliasing bug (spec §12.6): from epoch 1 on, training uses the test β
    /// (`beta_test` on the clamped channels, 0 on the free ones).
    ReferenceAliased,
    /// The paper's Results prose ("a randomly selected subset … nudged", against its Methods):
    /// `beta_train` on this many visible neurons, drawn afresh for every repetition of the
    /// training window (from the seed, the epoch and the repetition, so `--resume` draws the
    /// same), 0 on the others.
    RandomSubset(usize),
}

/// The iEEG pattern-completion experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IeegSection {
    /// The recording.
    pub data: IeegData,
    /// β on every visible neuron while training.
    pub beta_train: f64,
    /// β on the clamped channels while testing.
    pub beta_test: f64,
    /// Number of visible channels left free at test (the last ones). Paper 14, reference 10.
    pub free_channels: usize,
    /// Training β convention.
    pub training_beta: TrainingBeta,
    /// Repetitions of the training window per epoch.
    pub repetitions: usize,
    /// Epochs; epoch 0 is an untrained test.
    pub epochs: usize,
    /// Ridge penalty of the baseline (on z-scored data).
    pub ridge_lambda: f64,
    /// Learning-rate drops: `after_seconds` counts simulated training time (epochs trained ×
    /// repetitions × training-window length); applied at the first epoch boundary after it.
    #[serde(default)]
    pub lr_schedule: Vec<LrDrop>,
}

/// Thresholds checked by `lagrange check` / `cargo xtask reproduce`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// MNIST: final test error must be ≤ this.
    #[serde(default)]
    pub max_test_error: Option<f64>,
    /// MNIST: final accuracy − epoch-0 accuracy must be ≥ this.
    #[serde(default)]
    pub min_improvement: Option<f64>,
    /// iEEG: final held-out free-channel cost / epoch-0 cost must be ≤ this.
    #[serde(default)]
    pub max_heldout_cost_ratio: Option<f64>,
    /// iEEG: final training-window free-channel cost / epoch-0 cost must be ≤ this.
    #[serde(default)]
    pub max_train_cost_ratio: Option<f64>,
}

/// Overrides of the `--quick` variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickSection {
    /// Epochs.
    #[serde(default)]
    pub epochs: Option<usize>,
    /// MNIST: training images.
    #[serde(default)]
    pub max_train: Option<usize>,
    /// MNIST: test images.
    #[serde(default)]
    pub max_test: Option<usize>,
    /// iEEG: repetitions per epoch.
    #[serde(default)]
    pub repetitions: Option<usize>,
    /// iEEG: training window.
    #[serde(default)]
    pub train_window: Option<(f64, f64)>,
    /// iEEG: held-out window.
    #[serde(default)]
    pub heldout_window: Option<(f64, f64)>,
    /// Thresholds of the quick run.
    pub acceptance: Acceptance,
}

/// A complete run configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Name (the output folder under `target/reproduce/`).
    pub name: String,
    /// Free text: what this reproduces and the choices made.
    #[serde(default)]
    pub description: String,
    /// Seed of the weight draw and the data order.
    pub seed: u64,
    /// The circuit.
    pub network: NetworkSection,
    /// The dynamics.
    pub model: ModelSection,
    /// The MNIST experiment.
    #[serde(default)]
    pub mnist: Option<MnistSection>,
    /// The iEEG experiment.
    #[serde(default)]
    pub ieeg: Option<IeegSection>,
    /// Thresholds of the full run.
    #[serde(default)]
    pub acceptance: Acceptance,
    /// The `--quick` variant.
    #[serde(default)]
    pub quick: Option<QuickSection>,
}

fn check_pos(v: f64, field: &str) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be finite and > 0, got {v}"),
        ))
    }
}
fn check_nonneg(v: f64, field: &str) -> Result<(), ConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be finite and >= 0, got {v}"),
        ))
    }
}
fn check_window(w: (f64, f64), field: &str) -> Result<(), ConfigError> {
    if !(w.0.is_finite() && w.0 >= 0.0 && w.1.is_finite() && w.1 > 0.0) {
        return Err(ConfigError::invalid(
            field,
            format!("(start, duration) must have start >= 0 and duration > 0, got {w:?}"),
        ));
    }
    Ok(())
}

impl RunConfig {
    /// Reads a RON configuration, or a reference `NetworkParams` JSON file (by extension
    /// `.json`), and validates it.
    pub fn load(path: &Path) -> Result<RunConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        let cfg = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            crate::reference_params::from_reference_json(&text, path)?
        } else {
            Self::from_ron(&text, path)?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses RON text (no validation).
    pub fn from_ron(text: &str, path: &Path) -> Result<RunConfig, ConfigError> {
        ron::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            reason: e.to_string(),
        })
    }

    /// The configuration as pretty RON.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .unwrap_or_else(|e| format!("<unserialisable: {e}>"))
    }

    /// SHA-256 of the canonical JSON serialisation (checkpoints carry it).
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        let d = Sha256::digest(json.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Applies the `--quick` overrides (and thresholds); an error when there is no quick section.
    pub fn into_quick(mut self) -> Result<RunConfig, ConfigError> {
        let q = self.quick.take().ok_or_else(|| {
            ConfigError::invalid("quick", "this configuration has no quick variant")
        })?;
        if let Some(m) = &mut self.mnist {
            if let Some(e) = q.epochs {
                m.epochs = e;
            }
            if q.max_train.is_some() {
                m.max_train = q.max_train;
            }
            if q.max_test.is_some() {
                m.max_test = q.max_test;
            }
        }
        if let Some(s) = &mut self.ieeg {
            if let Some(e) = q.epochs {
                s.epochs = e;
            }
            if let Some(r) = q.repetitions {
                s.repetitions = r;
            }
            if let Some(w) = q.train_window {
                s.data.train_window = w;
            }
            if let Some(w) = q.heldout_window {
                s.data.heldout_window = w;
            }
        }
        self.acceptance = q.acceptance;
        self.name = format!("{}-quick", self.name);
        self.validate()?;
        Ok(self)
    }

    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::invalid(
                "name",
                format!("must be non-empty [A-Za-z0-9_-], got {:?}", self.name),
            ));
        }
        let topo = self.network.topology_spec()?;
        topo.build()
            .map_err(|e| ConfigError::invalid("network", e.to_string()))?;
        InitParams::from(self.network.weights)
            .validate()
            .map_err(|e| ConfigError::invalid("network.weights", e.to_string()))?;
        if let Some(b) = self.network.biases {
            InitParams::from(b)
                .validate()
                .map_err(|e| ConfigError::invalid("network.biases", e.to_string()))?;
        }
        self.model.model_config().validate().map_err(|e| match e {
            lagrange_core::CoreError::InvalidConfig { field, reason } => {
                ConfigError::invalid(&format!("model.{field}"), reason)
            }
            other => ConfigError::invalid("model", other.to_string()),
        })?;
        let n_out = *self.network.layers.last().unwrap_or(&0);
        match (&self.mnist, &self.ieeg) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ConfigError::invalid(
                    "mnist/ieeg",
                    "exactly one of the `mnist` and `ieeg` sections must be given",
                ));
            }
            (Some(m), None) => {
                if self.network.layers[0] != 784 {
                    return Err(ConfigError::invalid(
                        "network.layers[0]",
                        format!("MNIST needs 784 inputs, got {}", self.network.layers[0]),
                    ));
                }
                if n_out != 10 {
                    return Err(ConfigError::invalid(
                        "network.layers",
                        format!("MNIST needs 10 outputs, got {n_out}"),
                    ));
                }
                if m.batch == 0 {
                    return Err(ConfigError::invalid("mnist.batch", "must be >= 1"));
                }
                if m.steps_per_sample == 0 {
                    return Err(ConfigError::invalid(
                        "mnist.steps_per_sample",
                        "must be >= 1",
                    ));
                }
                if m.epochs == 0 {
                    return Err(ConfigError::invalid("mnist.epochs", "must be >= 1"));
                }
                check_nonneg(m.beta, "mnist.beta")?;
                if let Some(w) = m.fade_width {
                    check_pos(w, "mnist.fade_width")?;
                }
                check_schedule(&m.lr_schedule, "mnist")?;
                if let MnistData::Reference {
                    train_per_class,
                    test_per_class,
                } = m.data
                    && (train_per_class == 0 || test_per_class == 0)
                {
                    return Err(ConfigError::invalid(
                        "mnist.data",
                        "per-class counts must be >= 1",
                    ));
                }
            }
            (None, Some(s)) => {
                if self.network.layers[0] != 0 {
                    return Err(ConfigError::invalid(
                        "network.layers[0]",
                        "iEEG networks have no input neurons (leading 0, spec §1.6)",
                    ));
                }
                match &s.data.channels {
                    Channels::First(n) | Channels::HighestVariance(n) if *n != n_out => {
                        return Err(ConfigError::invalid(
                            "ieeg.data.channels",
                            format!("selects {n} channels but the last layer has {n_out}"),
                        ));
                    }
                    Channels::Names(v) if v.len() != n_out => {
                        return Err(ConfigError::invalid(
                            "ieeg.data.channels",
                            format!("names {} channels but the last layer has {n_out}", v.len()),
                        ));
                    }
                    _ => {}
                }
                if s.free_channels == 0 || s.free_channels >= n_out {
                    return Err(ConfigError::invalid(
                        "ieeg.free_channels",
                        format!("must be in 1..{n_out}, got {}", s.free_channels),
                    ));
                }
                if let TrainingBeta::RandomSubset(k) = s.training_beta
                    && (k == 0 || k > n_out)
                {
                    return Err(ConfigError::invalid(
                        "ieeg.training_beta",
                        format!("RandomSubset must nudge 1..={n_out} channels, got {k}"),
                    ));
                }
                check_nonneg(s.beta_train, "ieeg.beta_train")?;
                check_pos(s.beta_test, "ieeg.beta_test")?;
                check_nonneg(s.ridge_lambda, "ieeg.ridge_lambda")?;
                check_schedule(&s.lr_schedule, "ieeg")?;
                if s.repetitions == 0 {
                    return Err(ConfigError::invalid("ieeg.repetitions", "must be >= 1"));
                }
                if s.epochs == 0 {
                    return Err(ConfigError::invalid("ieeg.epochs", "must be >= 1"));
                }
                check_window(s.data.train_window, "ieeg.data.train_window")?;
                check_window(s.data.heldout_window, "ieeg.data.heldout_window")?;
                if let ScalingName::Divide(d) = s.data.scaling
                    && !(d.is_finite() && d != 0.0)
                {
                    return Err(ConfigError::invalid(
                        "ieeg.data.scaling",
                        format!("divisor must be finite and nonzero, got {d}"),
                    ));
                }
            }
        }
        for (name, a) in
            [("acceptance", Some(&self.acceptance))]
                .into_iter()
                .chain(std::iter::once((
                    "quick.acceptance",
                    self.quick.as_ref().map(|q| &q.acceptance),
                )))
        {
            if let Some(a) = a {
                for (f, v) in [
                    ("max_test_error", a.max_test_error),
                    ("min_improvement", a.min_improvement),
                    ("max_heldout_cost_ratio", a.max_heldout_cost_ratio),
                    ("max_train_cost_ratio", a.max_train_cost_ratio),
                ] {
                    if let Some(v) = v {
                        check_nonneg(v, &format!("{name}.{f}"))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of epochs (evaluations) of the configured experiment.
    pub fn epochs(&self) -> usize {
        self.mnist
            .as_ref()
            .map(|m| m.epochs)
            .or(self.ieeg.as_ref().map(|s| s.epochs))
            .unwrap_or(0)
    }
}
