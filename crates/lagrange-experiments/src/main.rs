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
    /// Run an experiment configuration (RON under experiments/, or a reference NetworkParams JSON).
    Run {
        /// Configuration: a path, or a name under experiments/ (e.g. `mnist-paper`).
        #[arg(long)]
        config: String,
        /// The quick variant (subsampled data, fewer epochs, own thresholds).
        #[arg(long)]
        quick: bool,
        /// Output folder (default `target/reproduce/<name>/`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue from the output folder's checkpoint.
        #[arg(long)]
        resume: bool,
        /// Recording (EDF, BrainVision, BIDS, .npy, reference JSON) replacing the configured one.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Stop after this many epochs in this session (continue later with --resume).
        #[arg(long)]
        stop_after: Option<usize>,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
        /// Seed replacing the configuration's (the run is named `<name>-seed<N>`).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Check a run folder's metrics.json against the thresholds of its configuration.
    Check {
        /// Run folder (holding metrics.json).
        dir: PathBuf,
    },
    /// Validate a configuration and print it as RON.
    Config {
        /// Configuration: a path, or a name under experiments/.
        config: String,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            quick,
            out,
            resume,
            data,
            stop_after,
            quiet,
            seed,
        } => {
            let path = lagrange_experiments::resolve_config(&config);
            let opts = lagrange_experiments::RunOptions {
                out,
                resume,
                data,
                stop_after,
                quiet,
                quick,
                seed,
            };
            let dir = lagrange_experiments::run_config(&path, opts, quick)?;
            println!("outputs in {}", dir.display());
            Ok(())
        }
        Command::Check { dir } => {
            let (report, ok) = lagrange_experiments::check_dir(&dir)?;
            print!("{report}");
            if !ok {
                anyhow::bail!("acceptance check missed for {}", dir.display());
            }
            Ok(())
        }
        Command::Config { config } => {
            let path = lagrange_experiments::resolve_config(&config);
            let cfg = lagrange_experiments::RunConfig::load(&path)?;
            println!("{}", cfg.to_ron());
            println!("// hash {}", cfg.hash());
            Ok(())
        }
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
