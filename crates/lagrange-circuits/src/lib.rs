//! lagrange-circuits: network topologies (connection and bias masks) and initial weights for
//! the neuronal least-action (NLA) framework.
//!
//! Topologies and initialisation are plain data (`nalgebra` matrices). The circuits plug into
//! `lagrange-core` as [`lagrange_core::ErrorPathway`]s (dense solves, LU).
//!
//! * [`topology`] — [`Architecture`], [`TopologySpec`] → [`Topology`] (weight mask, bias mask,
//!   layer ranges, nonzero layer blocks), exactly as the reference builds them (spec §1–§2).
//! * [`rng`] — [`NumpyRandomState`], a bit-exact emulation of numpy's legacy global RNG.
//! * [`init`] — clean seeded initialisation ([`init_weights`], [`init_biases`]) and the
//!   reference-compatible one ([`reference_init`], [`reference_init_full`]) that reproduces
//!   the reference's initial weights bit for bit.
//! * [`interneurons`] — [`ReferenceInterneurons`], the reference's interneuron circuit
//!   (golden parity with `single_ff_interneurons_{instant,dynamic}.json`), and
//!   [`pathway_from_fixture_state`] for the replay tool.
//! * [`microcircuit`] — [`Microcircuit`], the paper's rt-DeEL microcircuit (Fig. 5) with its
//!   loop-alignment monitor (Theorem 2).
//! * [`depression`] — [`DepressingSynapses`], short-term depression on back-projections
//!   (paper §A.8, our construction) with a transmission-error monitor.
//! * [`depression_pathway`] — [`TransmissionPathway`], weight transport whose back-projections
//!   transmit through those synapses (voltage, rate, ideal inverse or dynamic depression).
//! * [`error`] — [`CircuitError`].
//!
//! The pathways are cloneable handles to shared state: box one clone into
//! `Simulator::set_pathway` and keep another to set per-step flags and read matrices.
//!
//! Conventions: matrices are N×N over all neurons, row = postsynaptic, column = presynaptic;
//! a mask value is the learning-rate factor of that synapse and 0 means no synapse.
//!
//! # Example
//!
//! ```
//! use lagrange_circuits::{Architecture, DrawOrder, InitParams, TopologySpec, reference_init};
//!
//! // The MNIST-path network of the golden fixtures, with the reference's shifted bias factors.
//! let mut spec = TopologySpec::new(vec![4, 6, 5, 3], Architecture::LayeredFeedforward,
//!                                  vec![1.0, 0.2, 0.1]);
//! spec.only_discriminative = true;
//! spec.bias_factor_shift = true;
//! let topo = spec.build()?;
//! assert_eq!(topo.n_neurons(), 18);
//! assert_eq!(topo.blocks(), vec![(1, 0), (2, 1), (3, 2)]);
//! assert_eq!(topo.weight_mask()[(4, 0)], 1.0); // input 0 -> first hidden neuron
//! assert_eq!(topo.bias_mask()[4], 0.2);        // shifted: hidden-1 biases use factor 1
//!
//! let (w, b) = reference_init(
//!     &topo,
//!     InitParams { mean: 0.0, std: 0.5, clip: 1.2 },
//!     Some(InitParams { mean: 0.0, std: 0.1, clip: 0.3 }),
//!     2354323495,
//!     DrawOrder::Batched,
//! );
//! assert_eq!(w[(0, 0)], 0.0);
//! assert_eq!(b.len(), 18);
//! # Ok::<(), lagrange_circuits::CircuitError>(())
//! ```

pub mod depression;
pub mod depression_pathway;
pub mod error;
pub mod init;
pub mod interneurons;
pub mod microcircuit;
pub mod rng;
pub mod topology;

pub use depression::{
    DepressingSynapses, TransmissionFit, TransmissionMode, fit_depression, fit_rate,
};
pub use depression_pathway::TransmissionPathway;
pub use error::CircuitError;
pub use init::{
    DrawOrder, InitParams, InterneuronInit, ReferenceInit, ReferenceInitSpec, init_biases,
    init_weights, reference_draw, reference_init, reference_init_full,
};
pub use interneurons::{
    FixtureInterneuronConfig, FixtureInterneuronState, InterneuronDynamics,
    ReferenceInterneuronConfig, ReferenceInterneurons, pathway_from_fixture_state,
};
pub use microcircuit::{
    FeedbackLearning, LayerCircuit, Microcircuit, MicrocircuitConfig, MicrocircuitInit,
    frobenius_angle,
};
pub use rng::NumpyRandomState;
pub use topology::{Architecture, Topology, TopologySpec};
