//! # lagrange-core
//!
//! The neuronal least-action (NLA) dynamics of Senn et al. (eLife 2024): networks of neurons whose
//! voltages u follow
//!
//! τ u̇ = −u + W r + b + pad(x) + τ(Ẇ r̄ + ḃ + pad(ẋ)) + e,
//!
//! with prospective rates r = ρ(u) + τρ′(u)u̇, prospective errors e = ē + τ dē/dt, output nudging
//! with β, and dendritic plasticity Ẇ = η (u − W r̄ − b) r̄ᵀ (spec §4.1, §6). Each step either
//! solves the linear system H u̇ = g exactly ([`Method::Exact`]: a structured layer-wise solver for
//! feed-forward nets, dense Cholesky/LU otherwise) or uses a cheaper predictor (Euler with the
//! previous u̇, Richardson, Picard), then advances u, W and b by one Euler step.
//!
//! ```
//! use lagrange_core::{Layers, ModelConfig, Network, Simulator};
//! use nalgebra::{DMatrix, DVector};
//! let layers = Layers::new(&[0, 3, 2]).unwrap();            // no inputs, 3 hidden, 2 visible
//! let w = DMatrix::from_fn(5, 5, |i, j| if i == j { 0.0 } else { 0.1 });
//! let mask = DMatrix::from_fn(5, 5, |i, j| if i == j { 0.0 } else { 1.0 });
//! let net = Network::from_dense(layers, &w, &mask, DVector::zeros(5), DVector::zeros(5)).unwrap();
//! let cfg = ModelConfig { lr_weights: 1e-3, ..ModelConfig::default() };
//! let mut sim = Simulator::<f64>::new(net, cfg, 1).unwrap();
//! sim.set_beta_outputs(0.1);
//! let target = DMatrix::from_column_slice(2, 1, &[0.5, -0.5]);
//! for _ in 0..50 {
//!     sim.step(&DMatrix::zeros(0, 1), &target, true).unwrap();
//! }
//! ```
//!
//! The crate depends on no other crate of the workspace. Topology builders, interneuron
//! circuits and depressing synapses live in `lagrange-circuits`; they plug in through
//! [`ErrorPathway`].

pub mod activation;
pub mod config;
pub mod error;
pub mod network;
pub mod observables;
mod ops;
pub mod pathway;
pub mod real;
pub mod sim;

/// Batched products and elementwise passes over fixed column chunks: results that do not
/// depend on the number of threads (see the functions' docs).
pub mod batched {
    pub use crate::ops::{chunk_cols, outer_update, par_cols};
}

pub use activation::Activation;
pub use config::{Compat, InputMode, Method, ModelConfig, PredictorFormula, Solver};
pub use error::CoreError;
pub use network::{Layers, Network, Projection};
pub use pathway::{ErrorPathway, PathwayContext, WeightTransport};
pub use real::Real;
pub use sim::{Simulator, SolveStats, State, StepInfo};

/// The README's library example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
