//! Files a run writes: atomic writes, `.npy` export, metrics (JSON + CSV) and checkpoints.

use lagrange_core::{Network, Real, State};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename,
/// then fsync of the folder. An interrupted or failed write (full disk, …) never leaves a
/// partial file under `path`; the temporary file is removed on error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(format!("writing {}", path.display())));
    }
    Ok(())
}

/// Encodes a row-major `rows × cols` array of `f64` (`<f8`) or `f32` (`<f4`) as `.npy` (v1.0).
fn npy_bytes(
    descr: &str,
    rows: usize,
    cols: usize,
    data: impl Iterator<Item = [u8; 8]>,
    width: usize,
) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let total = 10 + header.len() + 1;
    let pad = (64 - total % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + rows * cols * width);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for b in data {
        out.extend_from_slice(&b[..width]);
    }
    out
}

/// A matrix as `.npy` bytes, in its own precision (`<f4` for f32, `<f8` for f64), with numpy's
/// row-major layout (the shape is the matrix's shape).
pub fn matrix_npy<T: Real>(m: &DMatrix<T>) -> Vec<u8> {
    let (r, c) = m.shape();
    let idx = (0..r).flat_map(move |i| (0..c).map(move |j| (i, j)));
    if T::NAME == "f32" {
        npy_bytes(
            "<f4",
            r,
            c,
            idx.map(|(i, j)| {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&(m[(i, j)].f64_() as f32).to_le_bytes());
                b
            }),
            4,
        )
    } else {
        npy_bytes(
            "<f8",
            r,
            c,
            idx.map(|(i, j)| m[(i, j)].f64_().to_le_bytes()),
            8,
        )
    }
}

/// Writes a matrix as `.npy` (atomically).
pub fn write_npy<T: Real>(path: &Path, m: &DMatrix<T>) -> anyhow::Result<()> {
    write_atomic(path, &matrix_npy(m))
}

/// Exports a network for Python users: `weights.npy` (dense N×N, row = postsynaptic),
/// `weight_mask.npy`, `biases.npy` (N×1) and `bias_mask.npy` into `dir`.
pub fn export_network<T: Real>(dir: &Path, net: &Network<T>) -> anyhow::Result<()> {
    write_npy(&dir.join("weights.npy"), &net.dense_weights())?;
    write_npy(&dir.join("weight_mask.npy"), &net.dense_mask())?;
    let b = DMatrix::from_column_slice(net.n(), 1, net.biases.as_slice());
    write_npy(&dir.join("biases.npy"), &b)?;
    let m = DMatrix::from_column_slice(net.n(), 1, net.bias_mask.as_slice());
    write_npy(&dir.join("bias_mask.npy"), &m)
}

/// A simulation scalar that can be checkpointed (`f32` or `f64`).
pub trait Scalar: Real + Serialize + serde::de::DeserializeOwned {}
impl<T: Real + Serialize + serde::de::DeserializeOwned> Scalar for T {}

/// One evaluation (epoch) of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch index (0 = first evaluation).
    pub epoch: usize,
    /// Whether the model trained in this epoch.
    pub trained: bool,
    /// Wall time of the epoch (training and evaluation), seconds.
    pub wall_s: f64,
    /// Simulator steps in this epoch (batched steps count once).
    pub steps: u64,
    /// Steps per second of wall time.
    pub steps_per_s: f64,
    /// Experiment-specific values (accuracy, costs, baselines, …).
    pub values: BTreeMap<String, f64>,
}

/// Everything `metrics.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Run name.
    pub name: String,
    /// The full configuration (RON text).
    pub config: String,
    /// Configuration hash.
    pub config_hash: String,
    /// Seed.
    pub seed: u64,
    /// Quick variant?
    pub quick: bool,
    /// Start-up report values (network size, time per step, …).
    pub startup: BTreeMap<String, f64>,
    /// Free-form notes (data choices, which β convention, …).
    pub notes: Vec<String>,
    /// One record per epoch.
    pub epochs: Vec<EpochRecord>,
    /// Total wall time of the run so far (seconds, summed over resumed sessions).
    pub total_wall_s: f64,
    /// Whether the run finished all epochs.
    pub finished: bool,
}

impl Metrics {
    /// Writes `metrics.json` and `metrics.csv` into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        write_atomic(&dir.join("metrics.json"), json.as_bytes())?;
        let mut keys: Vec<&String> = Vec::new();
        for e in &self.epochs {
            for k in e.values.keys() {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        let mut csv = String::from("epoch,trained,wall_s,steps,steps_per_s");
        for k in &keys {
            csv.push(',');
            csv.push_str(k);
        }
        csv.push('\n');
        for e in &self.epochs {
            csv.push_str(&format!(
                "{},{},{:.3},{},{:.1}",
                e.epoch, e.trained, e.wall_s, e.steps, e.steps_per_s
            ));
            for k in &keys {
                csv.push(',');
                if let Some(v) = e.values.get(*k) {
                    csv.push_str(&format!("{v}"));
                }
            }
            csv.push('\n');
        }
        write_atomic(&dir.join("metrics.csv"), csv.as_bytes())
    }

    /// Reads `metrics.json` from a run folder.
    pub fn read(dir: &Path) -> anyhow::Result<Metrics> {
        use anyhow::Context;
        let p = dir.join("metrics.json");
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    }
}

/// A checkpoint: everything needed to continue a run bit-identically.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Scalar", deserialize = "T: Scalar"))]
pub struct Checkpoint<T: Scalar> {
    /// Format version.
    pub version: u32,
    /// Hash of the configuration that wrote it ([`crate::RunConfig::hash`]).
    pub config_hash: String,
    /// Number of completed epochs.
    pub epochs_done: usize,
    /// The network.
    pub network: Network<T>,
    /// The simulator state.
    pub state: State<T>,
    /// Protocol state (fade memory etc.), experiment-specific.
    pub protocol: Option<(DMatrix<T>, DMatrix<T>)>,
    /// Baseline parameters (experiment-specific, flattened).
    pub baseline: Vec<DMatrix<T>>,
    /// Metrics so far.
    pub metrics: Metrics,
}

/// The checkpoint file of a run folder.
pub fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("checkpoint.json")
}

impl<T: Scalar> Checkpoint<T> {
    /// Writes the checkpoint atomically.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec(self)?;
        write_atomic(&checkpoint_path(dir), &json)
    }

    /// Loads the checkpoint of `dir` and checks that it was written by the configuration with
    /// hash `config_hash`.
    pub fn load(dir: &Path, config_hash: &str) -> anyhow::Result<Checkpoint<T>> {
        use anyhow::Context;
        let p = checkpoint_path(dir);
        let bytes = std::fs::read(&p)
            .with_context(|| format!("--resume: cannot read checkpoint {}", p.display()))?;
        let c: Checkpoint<T> = serde_json::from_slice(&bytes)
            .with_context(|| format!("--resume: {} is not a valid checkpoint", p.display()))?;
        if c.config_hash != config_hash {
            anyhow::bail!(
                "--resume: checkpoint {} was written by another configuration (hash {}…, this \
                 configuration {}…); use a different --out or start afresh without --resume",
                p.display(),
                &c.config_hash[..12.min(c.config_hash.len())],
                &config_hash[..12.min(config_hash.len())]
            );
        }
        Ok(c)
    }
}
