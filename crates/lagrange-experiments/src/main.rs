//! The `lagrange` command-line tool.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "lagrange",
    version,
    about = "Neuronal least-action networks: replay, inspect, run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay reference trajectories (golden fixture schema) and compare every step.
    Replay {
        /// Fixture files (JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Tolerance on the worst normwise relative error of any field at any step.
        #[arg(long, default_value_t = 1e-9)]
        tol: f64,
        /// Replay in single precision (expect ~1e-6 drift; use --tol 1e-4).
        #[arg(long)]
        f32: bool,
    },
    /// Describe a recording or an MNIST IDX file: format, channels, rate, statistics.
    Inspect {
        /// A file (IDX, EDF, .vhdr, .npy, reference JSON) or a BIDS folder.
        path: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect { path } => {
            print!("{}", lagrange_data::inspect(&path)?);
            Ok(())
        }
        Command::Replay { files, tol, f32 } => {
            let mut failed = 0;
            for f in &files {
                let r = if f32 {
                    lagrange_experiments::replay_file::<f32>(f, tol)
                } else {
                    lagrange_experiments::replay_file::<f64>(f, tol)
                };
                match r {
                    Ok(rep) => {
                        let ok = rep.passes(tol);
                        println!(
                            "{} {} ({} steps)",
                            if ok { "PASS" } else { "FAIL" },
                            f.display(),
                            rep.steps
                        );
                        for (field, (err, step)) in &rep.worst {
                            println!(
                                "    {field:<6} worst normwise rel. error {err:.3e} (step {step})"
                            );
                        }
                        if !ok {
                            failed += 1;
                        }
                    }
                    Err(e) => {
                        println!("FAIL {}: cannot replay: {e}", f.display());
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} fixture(s) failed", files.len());
            }
            Ok(())
        }
    }
}
