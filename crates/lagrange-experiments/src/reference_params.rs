//! The reference's `NetworkParams` JSON files (spec §12.2, e.g. `layered_params.json`) as run
//! configurations.
//!
//! The keys the reference actually reads are mapped (layers, architecture, learning-rate factors,
//! τ, dt, β, η_W, η_b, weight init, integration method, dtype, biases, activation, seed); keys the
//! reference ignores (misspelled ones such as `arg_b_init_params`, TF-only flags) are accepted and
//! ignored as the reference does. The experiment part (data, windows, test protocol) takes the
//! defaults of `experiments/ieeg-*.ron`: the vendored PT01 recording, the paper's protocol.

use crate::config::*;
use serde_json::Value;
use std::path::Path;

fn err(path: &Path, reason: impl Into<String>) -> ConfigError {
    ConfigError::Parse {
        path: path.into(),
        reason: reason.into(),
    }
}

fn num(v: &Value, key: &str, path: &Path) -> Result<f64, ConfigError> {
    v.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| err(path, format!("key `{key}`: missing or not a number")))
}

fn init(v: &Value, key: &str, path: &Path) -> Result<Option<InitSection>, ConfigError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(o) => Ok(Some(InitSection {
            mean: num(o, "mean", path)?,
            std: num(o, "std", path)?,
            clip: num(o, "clip", path)?,
        })),
    }
}

/// Builds an iEEG [`RunConfig`] from a reference `NetworkParams` JSON text.
pub fn from_reference_json(text: &str, path: &Path) -> Result<RunConfig, ConfigError> {
    let v: Value = serde_json::from_str(text).map_err(|e| err(path, e.to_string()))?;
    if !v.is_object() {
        return Err(err(path, "expected a JSON object of NetworkParams"));
    }
    let layers: Vec<usize> = v
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| err(path, "key `layers`: missing or not an array"))?
        .iter()
        .map(|x| x.as_u64().map(|x| x as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| err(path, "key `layers`: entries must be non-negative integers"))?;
    let lr_factors: Vec<f64> = match v.get("learning_rate_factors") {
        Some(Value::Array(a)) => a
            .iter()
            .map(Value::as_f64)
            .collect::<Option<_>>()
            .ok_or_else(|| err(path, "key `learning_rate_factors`: not numbers"))?,
        _ => vec![1.0; layers.len().saturating_sub(1)],
    };
    let architecture = v
        .get("network_architecture")
        .and_then(Value::as_str)
        .unwrap_or("layered-feedforward")
        .to_string();
    let activation = match v
        .get("activation_function")
        .and_then(Value::as_str)
        .unwrap_or("sigmoid")
    {
        "sigmoid" => ActivationName::Sigmoid,
        "hard_sigmoid" | "hard-sigmoid" | "hard sigmoid" => ActivationName::HardSigmoid,
        "relu" | "ReLU" => ActivationName::Relu,
        other => {
            return Err(err(
                path,
                format!("activation_function {other:?} unsupported"),
            ));
        }
    };
    let solver = match v.get("integration_method").and_then(Value::as_str) {
        Some(s) if s.to_ascii_lowercase().contains("lu") => SolverName::Lu,
        _ => SolverName::Cholesky,
    };
    let precision = match v.get("dtype").and_then(Value::as_str) {
        Some(s) if s.contains("32") => Precision::F32,
        _ => Precision::F64,
    };
    let use_biases = v
        .get("use_biases")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let weights = init(&v, "arg_w_init_params", path)?.unwrap_or(InitSection {
        mean: 0.0,
        std: 0.1,
        clip: 0.3,
    });
    let beta = v.get("arg_beta").and_then(Value::as_f64).unwrap_or(0.1);
    let seed = v
        .get("rnd_seed")
        .and_then(Value::as_u64)
        .unwrap_or(2354323495);
    let n_out = *layers.last().unwrap_or(&0);
    let stem = path
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        })
        .unwrap_or_else(|| "reference".into());
    Ok(RunConfig {
        name: format!("ieeg-{stem}"),
        description: format!("from reference NetworkParams {}", path.display()),
        seed,
        network: NetworkSection {
            layers,
            architecture,
            lr_factors,
            only_discriminative: v
                .get("only_discriminative")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            bias_factor_shift: true,
            weights,
            biases: if use_biases {
                init(&v, "arg_bias_init_params", path)?
            } else {
                None
            },
            init: InitScheme::Reference,
        },
        model: ModelSection {
            tau: num(&v, "arg_tau", path)?,
            dt: num(&v, "arg_dt", path)?,
            activation,
            method: MethodName::Exact,
            solver,
            inputs: InputsName::Clamped,
            lr_weights: num(&v, "arg_lrate_W", path)?,
            lr_biases: v
                .get("arg_lrate_biases")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            learn_biases: use_biases,
            structured_solver: true,
            compat: CompatName::Clean,
            precision,
            clip_weights: None,
            clip_weight_derivative: None,
            clip_biases: None,
            weight_constant_for_u: v
                .get("is_weight_constant_for_u")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        mnist: None,
        ieeg: Some(IeegSection {
            data: IeegData {
                path: None,
                patient: None,
                channels: Channels::First(n_out),
                time_base: TimeBase::RealTime,
                scaling: ScalingName::ZScoreTrain,
                train_window: (0.0, 2.0),
                heldout_window: (2.0, 1.0),
            },
            beta_train: beta,
            beta_test: 10.0,
            free_channels: 14.min(n_out.saturating_sub(1)).max(1),
            training_beta: TrainingBeta::Paper,
            repetitions: 20,
            epochs: 50,
            ridge_lambda: 1.0,
            lr_schedule: Vec::new(),
        }),
        acceptance: Acceptance {
            max_heldout_cost_ratio: Some(0.5),
            ..Default::default()
        },
        quick: None,
    })
}
