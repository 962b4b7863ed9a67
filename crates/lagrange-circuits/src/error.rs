//! Error type of this crate.

use thiserror::Error;

/// Everything that can go wrong when building a [`Topology`](crate::Topology) or
/// validating initialisation parameters.
///
/// Every variant names the offending configuration field, so a message can be shown to
/// a user as is. No constructor in this crate panics on bad configuration; it returns
/// one of these instead.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum CircuitError {
    /// `layers` is an empty list.
    #[error("`layers` is empty: at least one layer is required")]
    EmptyLayers,

    /// The layer sizes sum to zero, so the network has no neurons.
    #[error(
        "`layers` = {layers:?} has no neurons in total (N = 0); at least one layer must be non-empty"
    )]
    NoNeurons {
        /// The offending layer list.
        layers: Vec<usize>,
    },

    /// `lr_factors` does not have exactly `L - 1` entries.
    #[error(
        "`lr_factors` has {got} entries, but `layers` has {n_layers} layers, so exactly {expected} (= L - 1) are required"
    )]
    LrFactorsLength {
        /// Number of entries given.
        got: usize,
        /// Number of entries required (`L - 1`).
        expected: usize,
        /// Number of layers `L`.
        n_layers: usize,
    },

    /// A learning-rate factor is negative, NaN or infinite.
    #[error(
        "`lr_factors[{index}]` = {value} is invalid: learning-rate factors must be finite and >= 0"
    )]
    InvalidLrFactor {
        /// Position in `lr_factors`.
        index: usize,
        /// The offending value.
        value: f64,
    },

    /// `allow_selfloops` was requested for an architecture that cannot have self-loops.
    #[error(
        "`allow_selfloops` = true is only supported by the 'fully-recurrent' architecture (got '{architecture}', whose mask always has a zero diagonal)"
    )]
    SelfloopsNotSupported {
        /// Name of the architecture that was requested.
        architecture: String,
    },

    /// An architecture name that is not one of the reference strings.
    #[error(
        "unknown `architecture` {0:?}; expected one of 'layered-feedforward', 'layered-feedbackward', 'layered-recurrent', 'layered-recurrent-recurrent', 'in-recurrent-out', 'fully-recurrent'"
    )]
    UnknownArchitecture(String),

    /// A matrix or vector has the wrong shape.
    #[error("`{field}` has shape {got_rows}x{got_cols}, expected {expected_rows}x{expected_cols}")]
    ShapeMismatch {
        /// Name of the field (`weight_mask`, `bias_mask`, ...).
        field: &'static str,
        /// Expected number of rows.
        expected_rows: usize,
        /// Expected number of columns.
        expected_cols: usize,
        /// Actual number of rows.
        got_rows: usize,
        /// Actual number of columns.
        got_cols: usize,
    },

    /// A mask entry is negative, NaN or infinite.
    #[error(
        "`{field}[{row}, {col}]` = {value} is invalid: mask values are learning-rate factors and must be finite and >= 0"
    )]
    InvalidMaskValue {
        /// Name of the mask (`weight_mask` or `bias_mask`).
        field: &'static str,
        /// Row of the entry (the neuron index for a bias mask).
        row: usize,
        /// Column of the entry (0 for a bias mask).
        col: usize,
        /// The offending value.
        value: f64,
    },

    /// An initialisation parameter is out of range.
    #[error("`{field}` = {value} is invalid: {reason}")]
    InvalidInitParam {
        /// Name of the field (`mean`, `std` or `clip`).
        field: &'static str,
        /// The offending value.
        value: f64,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// A parameter of an interneuron circuit or synapse model is out of its domain.
    #[error("`{field}` is invalid: {reason}")]
    InvalidConfig {
        /// The offending field, e.g. `beta_i` or `interneurons[1]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A matrix or vector of an interneuron circuit or synapse model has the wrong shape.
    #[error("`{field}` has shape {got}, expected {expected}")]
    FieldShape {
        /// The offending field, e.g. `w_pi[1]`.
        field: String,
        /// The shape that is required.
        expected: String,
        /// The shape that was given.
        got: String,
    },
}

impl CircuitError {
    /// An [`CircuitError::InvalidConfig`] for `field`.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CircuitError::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// A [`CircuitError::FieldShape`] for `field`.
    pub fn shape(field: impl Into<String>, expected: (usize, usize), got: (usize, usize)) -> Self {
        CircuitError::FieldShape {
            field: field.into(),
            expected: format!("{}x{}", expected.0, expected.1),
            got: format!("{}x{}", got.0, got.1),
        }
    }
}

impl From<CircuitError> for lagrange_core::CoreError {
    fn from(e: CircuitError) -> Self {
        lagrange_core::CoreError::InvalidConfig {
            field: "pathway".into(),
            reason: e.to_string(),
        }
    }
}
