//! lagrange-data: MNIST and iEEG readers.
//!
//! Not implemented yet (issue 3); this crate exposes nothing so far.
