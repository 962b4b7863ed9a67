//! Benchmarks for lagrange; the criterion targets live in `benches/`.
