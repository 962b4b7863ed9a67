//! The `lagrange` command-line tool.
fn main() {}
