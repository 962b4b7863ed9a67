//! Step benchmarks (to be filled).
fn main() {}
