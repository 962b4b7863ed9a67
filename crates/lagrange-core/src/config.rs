//! Model configuration: plain serde data with defaults and `deny_unknown_fields`.

use crate::activation::Activation;
use crate::error::CoreError;
use serde::{Deserialize, Serialize};

/// How u̇ is obtained at each step.
///
/// The predictor methods evaluate (★) at an estimate p of u̇; their error obeys
/// e_k ≈ J (extrapolation of e_(k−1), e_(k−2), …) with J = I − H/τ, whatever dt is. Euler is stable
/// while the eigenvalues of H/τ lie in (0, 2); Richardson extrapolation needs them roughly in
/// (2/3, 4/3) and diverges otherwise (spec §15.3). [`Method::Exact`] has no such limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Solve the linear system H u̇ = g exactly (spec §5.1) with the configured [`Solver`].
    #[default]
    Exact,
    /// Explicit evaluation of (★) with the previous step's u̇ as the estimate of u̇ (spec §5.4).
    Euler,
    /// (★) with the 1st-order Richardson estimate p = 2q₁ − q₂ (spec §5.5).
    Richardson1,
    /// (★) with the 2nd-order Richardson estimate p = (8q₁ − 6q₂ + q₄)/3 (spec §5.5).
    Richardson2,
    /// k Picard iterations p ← (★)(p)/τ of the implicit equation, started from the previous u̇.
    Picard {
        /// Number of iterations (≥ 1).
        iterations: usize,
    },
}

/// Factorisation used by [`Method::Exact`] on the dense path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Solver {
    /// Cholesky; falls back to LU (counted in [`crate::SolveStats`]) when H is not positive definite.
    #[default]
    Cholesky,
    /// LU with partial pivoting.
    Lu,
}

/// Whether the input neurons (layer 0) are clamped to the input or follow the dynamics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum InputMode {
    /// u̇_C = (x − u_C)/dt, so that u_C = x after every step; only the other neurons are solved
    /// for (the partial solve of spec §5.3).
    #[default]
    Clamped,
    /// Input neurons are ordinary dynamic neurons driven by x through v (what the reference's
    /// batched MNIST model does, spec §11.5).
    Dynamic,
}

/// Which explicit right-hand side the predictor methods evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PredictorFormula {
    /// (★) of spec §4.1 with the estimate p in place of u̇: consistent with the exact step (its
    /// fixed point is the exact u̇), with every Ẇ, ḃ and input term.
    #[default]
    Consistent,
    /// The reference's batched formula E_b (no ḃ terms; otherwise as `Consistent`).
    ReferenceBatched,
    /// The reference's single-sample formula E_s with its (Wρ′)⊙p term, no Ẇ and no −Wᵀẋ terms,
    /// and u̇_C += (x − u_C)/dt on clamped inputs.
    ReferenceSingle,
}

/// Compatibility switches that reproduce quirks of the reference implementation. All are off
/// (clean, paper-consistent model) by default; [`Compat::reference_batched`] and
/// [`Compat::reference_single`] switch on what the respective reference file does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compat {
    /// When false, the derivative vector m carries ḃ without the factor τ, as the reference's
    /// single-sample model does (spec §5.1, golden §5.1). Clean: true.
    pub tau_on_bias_derivative: bool,
    /// The right-hand side used by the predictor methods.
    pub predictor: PredictorFormula,
}

impl Default for Compat {
    fn default() -> Self {
        Compat {
            tau_on_bias_derivative: true,
            predictor: PredictorFormula::Consistent,
        }
    }
}

impl Compat {
    /// What the reference's batched torch model does (the MNIST path).
    pub fn reference_batched() -> Self {
        Compat {
            tau_on_bias_derivative: true,
            predictor: PredictorFormula::ReferenceBatched,
        }
    }
    /// What the reference's single-sample torch model does (the iEEG path).
    pub fn reference_single() -> Self {
        Compat {
            tau_on_bias_derivative: false,
            predictor: PredictorFormula::ReferenceSingle,
        }
    }
}

/// Dynamics, solver and plasticity parameters of a network. Times are in ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Membrane time constant τ (ms), > 0.
    pub tau: f64,
    /// Integration step dt (ms), > 0.
    pub dt: f64,
    /// Transfer function ρ.
    pub activation: Activation,
    /// How u̇ is obtained.
    pub method: Method,
    /// Factorisation for the exact method's dense path.
    pub solver: Solver,
    /// Input neurons clamped or dynamic.
    pub inputs: InputMode,
    /// η_W: learning rate of the weights (per ms).
    pub lr_weights: f64,
    /// η_b: learning rate of the biases (per ms).
    pub lr_biases: f64,
    /// Whether biases learn (the reference's `use_biases`).
    pub learn_biases: bool,
    /// Clamp Ẇ element-wise to ±value (the reference's `arg_clip_weight_deriv`).
    pub clip_weight_derivative: Option<f64>,
    /// Clamp W to ±value after every update (`arg_clip_weight`).
    pub clip_weights: Option<f64>,
    /// Clamp b to ±value after every update.
    pub clip_biases: Option<f64>,
    /// A step whose new |u| would exceed this stops the run with [`CoreError::Diverged`].
    pub divergence_limit: f64,
    /// Use the structured (layer-wise) exact solver where the network allows it.
    pub structured_solver: bool,
    /// Leave the weight- and bias-derivative terms m = τ(Ẇ r̄ + ḃ) + τρ′⊙(Ẇᵀ ε − Wᵀ(Ẇ r̄ + ḃ))
    /// out of the voltage dynamics (the reference's `is_weight_constant_for_u`, single torch
    /// only; spec §5.1): u̇ is computed as if W and b were constant during the step, while the
    /// plasticity itself is unchanged. The voltages then no longer follow the change of W r̄
    /// that learning causes, so ε = u − W r̄ − b drifts at the rate of learning: with the
    /// mnist-paper rates (η = 0.05, batch 50) the run diverged within its first presentation
    /// (measured). Meant for comparisons with the reference at small rates. Applies to the
    /// built-in weight-transport pathway; an [`crate::ErrorPathway`] keeps its own terms.
    pub weight_constant_for_u: bool,
    /// Reference-compatibility switches.
    pub compat: Compat,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            tau: 10.0,
            dt: 1.0,
            activation: Activation::Sigmoid,
            method: Method::Exact,
            solver: Solver::Cholesky,
            inputs: InputMode::Clamped,
            lr_weights: 0.0,
            lr_biases: 0.0,
            learn_biases: false,
            clip_weight_derivative: None,
            clip_weights: None,
            clip_biases: None,
            divergence_limit: 1e6,
            structured_solver: true,
            weight_constant_for_u: false,
            compat: Compat::default(),
        }
    }
}

impl ModelConfig {
    /// Checks every value; the error names the offending field.
    pub fn validate(&self) -> Result<(), CoreError> {
        let pos = |v: f64, f: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(CoreError::config(
                    f,
                    format!("must be finite and > 0, got {v}"),
                ))
            }
        };
        let nonneg = |v: f64, f: &str| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(CoreError::config(
                    f,
                    format!("must be finite and >= 0, got {v}"),
                ))
            }
        };
        pos(self.tau, "tau")?;
        pos(self.dt, "dt")?;
        nonneg(self.lr_weights, "lr_weights")?;
        nonneg(self.lr_biases, "lr_biases")?;
        pos(self.divergence_limit, "divergence_limit")?;
        for (v, f) in [
            (self.clip_weight_derivative, "clip_weight_derivative"),
            (self.clip_weights, "clip_weights"),
            (self.clip_biases, "clip_biases"),
        ] {
            if let Some(v) = v {
                pos(v, f)?;
            }
        }
        if let Method::Picard { iterations } = self.method
            && iterations == 0
        {
            return Err(CoreError::config("method.iterations", "must be >= 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_values_name_the_field() {
        let c = ModelConfig {
            dt: 0.0,
            ..Default::default()
        };
        assert!(
            matches!(c.validate(), Err(CoreError::InvalidConfig { field, .. }) if field == "dt")
        );
        let c = ModelConfig {
            tau: -1.0,
            ..Default::default()
        };
        assert!(
            matches!(c.validate(), Err(CoreError::InvalidConfig { field, .. }) if field == "tau")
        );
        let c = ModelConfig {
            method: Method::Picard { iterations: 0 },
            ..Default::default()
        };
        assert!(c.validate().is_err());
        assert!(ModelConfig::default().validate().is_ok());
    }
}
