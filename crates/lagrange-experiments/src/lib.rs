//! lagrange-experiments: reproducible runs.
