//! `cargo xtask bench`: runs the benchmark crate.

use anyhow::{Context, Result};
use std::process::Command;

/// Runs `cargo bench -p lagrange-benches` (through the `CARGO` env var) with extra arguments.
pub fn run(args: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(crate::root())
        .args(["bench", "-p", "lagrange-benches"])
        .args(args)
        .status()
        .context("running cargo bench")?;
    anyhow::ensure!(status.success(), "cargo bench failed ({status})");
    Ok(())
}
