//! `cargo xtask bench [--quick] [CRITERION ARGS]`: runs the criterion benches of
//! `lagrange-benches` with 1 and then 2 threads and prints a summary table.
//!
//! Each run is `$CARGO bench -p lagrange-benches --bench step -- --noplot --save-baseline tN`
//! with `LAGRANGE_BENCH_THREADS=N` (N = 1, 2); extra arguments (a filter, `--sample-size`, ...)
//! are appended to criterion's arguments, `--quick` adds `--warm-up-time 1 --measurement-time 2`.
//! The table (median times, GFLOP/s from `target/criterion/lagrange-flops.json`, the share of
//! the matching machine limit measured in the same run, the 1 → 2 thread speed-up and the
//! performance targets) is printed and written to `target/criterion/lagrange-bench-table.md`.
//! Missed targets are informational: the task fails only when the benches fail to run or
//! produce no results.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Criterion ids of the `step` group.
const IEEG_LAYERED: &str = "step/ieeg_layered_f64";
const IEEG_RECURRENT: &str = "step/ieeg_recurrent_f64";
const MNIST_EXACT: &str = "step/mnist_exact_f32_b180";
const MNIST_EULER: &str = "step/mnist_euler_f32_b180";
/// The mnist-paper step (no target; reported).
const MNIST_PAPER: &str = "step/mnist_paper_f32_b50";
/// The ieeg-layered step with clamped weights (no target; reported): f64, and f32 as the
/// experiment runs it.
const IEEG_LAYERED_CLIPPED: &str = "step/ieeg_layered_clipped_f64";
const IEEG_LAYERED_CLIPPED_F32: &str = "step/ieeg_layered_clipped_f32";
/// Criterion ids of the `parts` group (no targets; reported).
const PARTS: [&str; 4] = [
    "parts/solve_mnist_exact_f32_b180",
    "parts/update_mnist_exact_f32_b180",
    "parts/solve_ieeg_layered_f64",
    "parts/update_ieeg_layered_f64",
];
/// Criterion ids of the `limits` group.
const GEMM: &str = "limits/gemm_f32_300x784x180";
const CHOL196: &str = "limits/cholesky_solve_f64_196";
const CHOL96: &str = "limits/cholesky_solve_f64_96";
/// The iEEG steps without their linear solve (an Euler step of the same nets): what an exact
/// step costs besides the solve, a lower bound of its time.
const NOSOLVE: [&str; 2] = [
    "limits/ieeg_layered_nosolve_f64",
    "limits/ieeg_recurrent_nosolve_f64",
];

/// Minimum 1 → 2 thread speed-up of the batched (MNIST) steps.
const MIN_SPEEDUP: f64 = 1.7;
/// Minimum share of the GEMM's GFLOP/s for the MNIST Euler step.
const MIN_GEMM_SHARE: f64 = 0.6;

/// Performance target of one step workload.
struct Target {
    id: &'static str,
    /// Upper bound of the 2-thread median, in ns.
    max_ns: f64,
    /// Minimum fraction of the GEMM GFLOP/s, if any.
    min_gemm_share: Option<f64>,
    /// Minimum 1 → 2 thread speed-up, if any.
    min_speedup: Option<f64>,
    /// The matching limit: GEMM (throughput share) or a dense solve (time share).
    limit: &'static str,
}

const TARGETS: [Target; 4] = [
    Target {
        id: IEEG_LAYERED,
        max_ns: 20e3,
        min_gemm_share: None,
        min_speedup: None,
        limit: CHOL196,
    },
    Target {
        id: IEEG_RECURRENT,
        max_ns: 8e3,
        min_gemm_share: None,
        min_speedup: None,
        limit: CHOL96,
    },
    Target {
        id: MNIST_EXACT,
        max_ns: 15e6,
        min_gemm_share: None,
        min_speedup: Some(MIN_SPEEDUP),
        limit: GEMM,
    },
    Target {
        id: MNIST_EULER,
        max_ns: 4e6,
        min_gemm_share: Some(MIN_GEMM_SHARE),
        min_speedup: Some(MIN_SPEEDUP),
        limit: GEMM,
    },
];

/// Runs the benches with 1 and 2 threads and prints (and stores) the summary table.
pub fn run(args: &[String]) -> Result<()> {
    let mut quick = false;
    let mut extra = Vec::new();
    for a in args {
        if a == "--quick" {
            quick = true;
        } else {
            extra.push(a.clone());
        }
    }
    let root = crate::root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Files older than this are from an earlier run (e.g. an id excluded by a filter now).
    let start = SystemTime::now();
    for (threads, baseline) in [(1, "t1"), (2, "t2")] {
        let mut crit = vec![
            "--noplot".to_string(),
            "--save-baseline".into(),
            baseline.into(),
        ];
        if quick {
            crit.extend(["--warm-up-time", "1", "--measurement-time", "2"].map(String::from));
        }
        crit.extend(extra.iter().cloned());
        eprintln!(
            "xtask bench: LAGRANGE_BENCH_THREADS={threads} {cargo} bench -p lagrange-benches --bench step -- {}",
            crit.join(" ")
        );
        let status = Command::new(&cargo)
            .current_dir(&root)
            .env("LAGRANGE_BENCH_THREADS", threads.to_string())
            .args(["bench", "-p", "lagrange-benches", "--bench", "step", "--"])
            .args(&crit)
            .status()
            .with_context(|| format!("running `{cargo} bench` (threads = {threads})"))?;
        anyhow::ensure!(
            status.success(),
            "cargo bench with {threads} thread(s) failed ({status})"
        );
    }

    let crit_dir = criterion_dir(&root);
    let flops_path = root.join("target/criterion/lagrange-flops.json");
    let flops = read_flops(&flops_path)?;
    let mut notes = Vec::new();
    let mut t1 = BTreeMap::new();
    let mut t2 = BTreeMap::new();
    for id in [
        IEEG_LAYERED,
        IEEG_RECURRENT,
        MNIST_EXACT,
        MNIST_EULER,
        MNIST_PAPER,
        IEEG_LAYERED_CLIPPED,
        IEEG_LAYERED_CLIPPED_F32,
        GEMM,
        CHOL196,
        CHOL96,
    ]
    .into_iter()
    .chain(PARTS)
    .chain(NOSOLVE)
    {
        for (baseline, map) in [("t1", &mut t1), ("t2", &mut t2)] {
            match median_ns(&crit_dir, id, baseline, start) {
                Ok(ns) => {
                    map.insert(id, ns);
                }
                Err(e) => notes.push(format!("{id} ({baseline}): {e:#}")),
            }
        }
    }
    if t1.is_empty() && t2.is_empty() {
        bail!(
            "no criterion results of this run under {} (did the filter match no id?):\n  {}",
            crit_dir.display(),
            notes.join("\n  ")
        );
    }

    let table = render(&flops, &t1, &t2, &notes, quick, &extra);
    println!("\n{table}");
    let out = root.join("target/criterion/lagrange-bench-table.md");
    std::fs::write(&out, &table).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("xtask bench: table written to {}", out.display());
    Ok(())
}

/// Criterion's output folder, as criterion chooses it.
fn criterion_dir(root: &Path) -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => {
            let t = PathBuf::from(t);
            if t.is_absolute() { t } else { root.join(t) }.join("criterion")
        }
        None => root.join("target/criterion"),
    }
}

/// Reads the flat `{"group/id": number, ...}` FLOP file written by the bench.
fn read_flops(path: &Path) -> Result<BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the FLOP counts {} (written by benches/benches/step.rs)",
            path.display()
        )
    })?;
    let body = text
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .with_context(|| format!("{}: not a JSON object", path.display()))?;
    let mut map = BTreeMap::new();
    for entry in body.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (k, v) = entry
            .split_once(':')
            .with_context(|| format!("{}: malformed entry `{entry}`", path.display()))?;
        let k = k.trim().trim_matches('"').to_string();
        let v: f64 = v
            .trim()
            .parse()
            .with_context(|| format!("{}: bad number for `{k}`", path.display()))?;
        map.insert(k, v);
    }
    Ok(map)
}

/// The median point estimate (ns) of `id` in `baseline`, if written by this run.
fn median_ns(crit_dir: &Path, id: &str, baseline: &str, start: SystemTime) -> Result<f64> {
    let path = crit_dir.join(id).join(baseline).join("estimates.json");
    let meta = std::fs::metadata(&path).with_context(|| format!("missing {}", path.display()))?;
    if meta.modified().is_ok_and(|m| m < start) {
        bail!(
            "{} is from an earlier run (not measured now)",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    median_point_estimate(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `"median":{..."point_estimate":<x>...}` of criterion's `estimates.json`.
fn median_point_estimate(json: &str) -> Result<f64> {
    let (_, rest) = json
        .split_once("\"median\":")
        .context("no \"median\" entry")?;
    let rest = rest.trim_start();
    anyhow::ensure!(rest.starts_with('{'), "\"median\" is not an object");
    // The median object is `{"confidence_interval":{...},"point_estimate":x,...}`: cut at its
    // closing brace (depth 0) so that a later entry's point estimate is never picked up.
    let mut depth = 0usize;
    let mut end = rest.len();
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let (_, after) = rest[..end]
        .split_once("\"point_estimate\":")
        .context("no median point_estimate")?;
    let num: String = after
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        .collect();
    num.parse()
        .with_context(|| format!("bad point_estimate `{num}`"))
}

/// A time in ns with a readable unit.
fn fmt_time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn short(id: &str) -> &str {
    id.split_once('/').map_or(id, |(_, s)| s)
}

/// GFLOP/s of `id` from its FLOP count and median time.
fn gflops(flops: &BTreeMap<String, f64>, id: &str, ns: Option<f64>) -> Option<f64> {
    Some(flops.get(id)? / ns?)
}

fn render(
    flops: &BTreeMap<String, f64>,
    t1: &BTreeMap<&str, f64>,
    t2: &BTreeMap<&str, f64>,
    notes: &[String],
    quick: bool,
    extra: &[String],
) -> String {
    let na = || "–".to_string();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Medians of criterion (baselines t2 = 2 threads, t1 = 1 thread){}{}. Others may share \
         the CPU: the numbers are noisy.\n",
        if quick { ", --quick" } else { "" },
        if extra.is_empty() {
            String::new()
        } else {
            format!(", criterion args `{}`", extra.join(" "))
        }
    );
    s.push_str(
        "| workload | median (2 thr) | GFLOP/s (2 thr) | vs limit (same run) | median (1 thr) \
         | speed-up 1→2 | target | status |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---|---|\n");
    for t in &TARGETS {
        let m2 = t2.get(t.id).copied();
        let m1 = t1.get(t.id).copied();
        let gf = gflops(flops, t.id, m2);
        let speedup = m1.zip(m2).map(|(a, b)| a / b);
        // MNIST: share of the GEMM's throughput; iEEG: share of the step a bare dense
        // factor + solve of the same size takes.
        let share = if t.limit == GEMM {
            gf.zip(gflops(flops, GEMM, t2.get(GEMM).copied()))
                .map(|(a, g)| a / g)
        } else {
            t2.get(t.limit).copied().zip(m2).map(|(l, m)| l / m)
        };
        let share_txt = match share {
            Some(x) if t.limit == GEMM => format!("{:.0} % of GEMM", 100.0 * x),
            Some(x) => format!(
                "{} = {:.0} % of step",
                short(t.limit).replace("cholesky_solve_f64_", "chol "),
                100.0 * x
            ),
            None => na(),
        };
        let mut target = vec![format!("≤ {}", fmt_time(t.max_ns))];
        let mut missed = Vec::new();
        let mut unknown = false;
        match m2 {
            Some(m) if m > t.max_ns => missed.push("time"),
            None => unknown = true,
            _ => {}
        }
        if let Some(min) = t.min_gemm_share {
            target.push(format!("≥ {:.0} % GEMM", 100.0 * min));
            match share {
                Some(x) if x < min => missed.push("GEMM share"),
                None => unknown = true,
                _ => {}
            }
        }
        if let Some(min) = t.min_speedup {
            target.push(format!("speed-up ≥ {min}"));
            match speedup {
                Some(x) if x < min => missed.push("speed-up"),
                None => unknown = true,
                _ => {}
            }
        }
        let status = if !missed.is_empty() {
            format!("missed ({})", missed.join(", "))
        } else if unknown {
            "n/a".to_string()
        } else {
            "met".to_string()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            short(t.id),
            m2.map_or_else(na, fmt_time),
            gf.map_or_else(na, |g| format!("{g:.1}")),
            share_txt,
            m1.map_or_else(na, fmt_time),
            speedup.map_or_else(na, |x| format!("{x:.2}")),
            target.join(", "),
            status
        );
    }
    for (id, what) in [
        (MNIST_PAPER, ""),
        (IEEG_LAYERED_CLIPPED, ""),
        (IEEG_LAYERED_CLIPPED_F32, ""),
    ]
    .into_iter()
    .chain(PARTS.map(|p| (p, "")))
    .chain([GEMM, CHOL196, CHOL96].map(|l| (l, " (limit)")))
    .chain(NOSOLVE.map(|l| (l, " (limit)")))
    {
        let m2 = t2.get(id).copied();
        let m1 = t1.get(id).copied();
        let _ = writeln!(
            s,
            "| {}{what} | {} | {} | – | {} | {} | – | – |",
            short(id),
            m2.map_or_else(na, fmt_time),
            gflops(flops, id, m2).map_or_else(na, |g| format!("{g:.1}")),
            m1.map_or_else(na, fmt_time),
            m1.zip(m2).map_or_else(na, |(a, b)| format!("{:.2}", a / b)),
        );
    }
    if !notes.is_empty() {
        s.push_str("\nNot measured in this run:\n");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_median() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":5.0,"upper_bound":7.0},"point_estimate":6.25e3,"standard_error":0.2},"median_abs_dev":{"point_estimate":9.0}}"#;
        assert_eq!(median_point_estimate(json).unwrap(), 6250.0);
        assert!(median_point_estimate(r#"{"mean":{"point_estimate":1}}"#).is_err());
    }

    #[test]
    fn formats_times() {
        assert_eq!(fmt_time(812.0), "812 ns");
        assert_eq!(fmt_time(20e3), "20.0 µs");
        assert_eq!(fmt_time(17.9e6), "17.90 ms");
    }
}
