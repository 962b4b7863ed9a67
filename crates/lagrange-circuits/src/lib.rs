//! lagrange-circuits: topologies, interneuron microcircuits and depressing synapses.
//!
//! Not implemented yet (issue 4); this crate exposes nothing so far.
