//! Project automation (the cargo-xtask pattern): `cargo xtask reproduce mnist|ieeg`,
//! `cargo xtask bench`.
//!
//! `reproduce` builds `lagrange-experiments` in release through `$CARGO`, runs
//! `lagrange run --config experiments/<name>.ron` for each configuration of the experiment, then
//! `lagrange check <run folder>`, which compares `metrics.json` with the thresholds stored in the
//! configuration; any miss makes the task exit non-zero.

mod bench;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(name = "xtask", about = "lagrange project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Clone, Copy, ValueEnum)]
enum Experiment {
    /// MNIST (default configuration: mnist-paper).
    Mnist,
    /// iEEG pattern completion (default: both ieeg-layered and ieeg-recurrent).
    Ieeg,
}

#[derive(Subcommand)]
enum Task {
    /// Run a reproduction and check it against its thresholds.
    Reproduce {
        /// Which experiment.
        experiment: Experiment,
        /// Configuration name under experiments/ (or a path); default: the experiment's own.
        #[arg(long)]
        config: Option<String>,
        /// The quick variant (subsampled data, fewer epochs, looser thresholds).
        #[arg(long)]
        quick: bool,
        /// Output folder (one configuration) or parent folder (several).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue from the last checkpoint.
        #[arg(long)]
        resume: bool,
        /// Recording for iEEG runs (EDF, BrainVision, BIDS, .npy, reference JSON).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Seed replacing each configuration's (default folder `<name>-seed<N>`).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run the benchmarks with 1 and 2 threads and print a table against the targets.
    ///
    /// `--quick` shortens criterion's warm-up and measurement; other arguments (a filter,
    /// `--measurement-time 5`, ...) are passed on to criterion.
    Bench {
        /// `--quick` and/or arguments for criterion.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Bench { args } => bench::run(&args),
        Task::Reproduce {
            experiment,
            config,
            quick,
            out,
            resume,
            data,
            seed,
        } => reproduce(experiment, config, quick, out, resume, data, seed),
    }
}

fn reproduce(
    experiment: Experiment,
    config: Option<String>,
    quick: bool,
    out: Option<PathBuf>,
    resume: bool,
    data: Option<PathBuf>,
    seed: Option<u64>,
) -> Result<()> {
    let root = root();
    let configs: Vec<String> = match (config, experiment) {
        (Some(c), _) => vec![c],
        (None, Experiment::Mnist) => vec!["mnist-paper".into()],
        (None, Experiment::Ieeg) => vec!["ieeg-layered".into(), "ieeg-recurrent".into()],
    };
    let status = Command::new(cargo())
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "-p",
            "lagrange-experiments",
            "--bin",
            "lagrange",
        ])
        .status()
        .context("building lagrange-experiments")?;
    anyhow::ensure!(status.success(), "release build failed ({status})");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target
        .join("release")
        .join(format!("lagrange{}", std::env::consts::EXE_SUFFIX));
    let mut missed = Vec::new();
    let mut summaries = Vec::new();
    for name in &configs {
        let mut stem = Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.clone());
        if quick {
            stem.push_str("-quick");
        }
        // as the run names itself: <name>[-quick][-seed<N>]
        if let Some(s) = seed {
            stem = format!("{stem}-seed{s}");
        }
        let dir = match &out {
            Some(o) if configs.len() == 1 => o.clone(),
            Some(o) => o.join(&stem),
            None => target.join("reproduce").join(&stem),
        };
        let cfg_arg = {
            let p = root.join("experiments").join(format!("{name}.ron"));
            if p.is_file() { p } else { PathBuf::from(name) }
        };
        println!("== reproduce {stem} → {}", dir.display());
        let t0 = std::time::Instant::now();
        let mut cmd = Command::new(&bin);
        cmd.current_dir(&root)
            .arg("run")
            .arg("--config")
            .arg(&cfg_arg)
            .arg("--out")
            .arg(&dir);
        if quick {
            cmd.arg("--quick");
        }
        if resume {
            cmd.arg("--resume");
        }
        if let Some(d) = &data {
            cmd.arg("--data").arg(d);
        }
        if let Some(s) = seed {
            cmd.arg("--seed").arg(s.to_string());
        }
        let st = cmd
            .status()
            .with_context(|| format!("running {}", bin.display()))?;
        let wall = t0.elapsed().as_secs_f64();
        if !st.success() {
            missed.push(format!("{stem}: run failed ({st})"));
            continue;
        }
        let check = Command::new(&bin)
            .arg("check")
            .arg(&dir)
            .output()
            .context("running lagrange check")?;
        let report = String::from_utf8_lossy(&check.stdout).into_owned();
        print!("{report}");
        eprint!("{}", String::from_utf8_lossy(&check.stderr));
        summaries.push(format!(
            "{stem}: {wall:.1} s wall, outputs in {}",
            dir.display()
        ));
        if !check.status.success() {
            missed.push(format!("{stem}: acceptance missed"));
        }
    }
    println!("== summary");
    for s in &summaries {
        println!("  {s}");
    }
    if !missed.is_empty() {
        anyhow::bail!("{}", missed.join("; "));
    }
    Ok(())
}
