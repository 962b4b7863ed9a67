//! The error type of lagrange-core.

use thiserror::Error;

/// Everything that can go wrong in building or running a network.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum CoreError {
    /// A configuration value is out of its domain.
    #[error("invalid configuration: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field, e.g. `dt`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two sizes that must agree do not.
    #[error("size mismatch for `{what}`: expected {expected}, found {found}")]
    SizeMismatch {
        /// Which quantity.
        what: String,
        /// The size the network needs.
        expected: String,
        /// The size that was given.
        found: String,
    },
    /// A NaN or infinity appeared in the state.
    #[error("non-finite value in {field} at step {step}, neuron {neuron}, sample {sample}")]
    NonFinite {
        /// Which state variable (u, udot, W, b).
        field: String,
        /// Step counter of the simulation.
        step: u64,
        /// Neuron index (for W: the postsynaptic neuron).
        neuron: usize,
        /// Batch column.
        sample: usize,
    },
    /// The state left the configured divergence bound.
    #[error(
        "diverging state at step {step}: |{field}| = {value:e} at neuron {neuron}, sample {sample} exceeds {limit:e}"
    )]
    Diverged {
        /// Which state variable.
        field: String,
        /// Step counter.
        step: u64,
        /// Neuron index.
        neuron: usize,
        /// Batch column.
        sample: usize,
        /// The offending magnitude.
        value: f64,
        /// The configured bound.
        limit: f64,
    },
    /// The linear system could not be solved (singular even for LU).
    #[error("linear solve failed at step {step}, sample {sample}: {reason}")]
    SolveFailed {
        /// Step counter.
        step: u64,
        /// Batch column.
        sample: usize,
        /// Why.
        reason: String,
    },
}

impl CoreError {
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        CoreError::InvalidConfig {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
    pub(crate) fn size(what: &str, expected: impl ToString, found: impl ToString) -> Self {
        CoreError::SizeMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}
