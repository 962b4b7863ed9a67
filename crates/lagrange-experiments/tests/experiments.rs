//! Configuration, checkpoint/resume, protocol and learning tests (fast, tiny networks).

use lagrange_core::{Activation, Layers, ModelConfig, Network, Simulator};
use lagrange_experiments::config::RunConfig;
use lagrange_experiments::io::{Checkpoint, Metrics};
use lagrange_experiments::{
    PresentOptions, Presenter, RunOptions, fade_weights, fade_weights_width,
};
use nalgebra::{DMatrix, DVector};
use std::path::{Path, PathBuf};

fn tiny_ieeg(epochs: usize) -> String {
    format!(
        r#"(
    name: "tiny",
    seed: 7,
    network: (
        layers: [0, 4, 6],
        architecture: "fully-recurrent",
        lr_factors: [1.0, 1.0],
        weights: (mean: 0.0, std: 0.1, clip: 0.3),
        init: Seeded,
    ),
    model: (tau: 10.0, dt: 1.0, activation: Sigmoid, solver: Lu, lr_weights: 1e-2, precision: F64),
    ieeg: Some((
        data: (
            channels: First(6),
            time_base: RealTime,
            scaling: ZScore,
            train_window: (0.0, 0.06),
            heldout_window: (0.06, 0.03),
        ),
        beta_train: 0.1,
        beta_test: 10.0,
        free_channels: 2,
        training_beta: Paper,
        repetitions: 3,
        epochs: {epochs},
        ridge_lambda: 1.0,
    )),
)"#
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lagrange-exp-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn write_cfg(dir: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("cfg.ron");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn shipped_configs_parse_and_validate() {
    for name in [
        "mnist-paper",
        "mnist-reference",
        "ieeg-layered",
        "ieeg-recurrent",
    ] {
        let p = lagrange_experiments::resolve_config(name);
        let c = RunConfig::load(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.name, name);
        c.clone().into_quick().unwrap();
    }
}

/// Runs `cfg` quietly into `out`: `stop_after` epochs of this session, or resuming.
fn run_in(cfg: &Path, out: &Path, stop_after: Option<usize>, resume: bool) {
    let opts = RunOptions {
        out: Some(out.to_path_buf()),
        quiet: true,
        stop_after,
        resume,
        ..Default::default()
    };
    lagrange_experiments::run_config(cfg, opts, false).unwrap();
}

/// The error text of a config that parses but must fail validation.
fn validation_error(text: &str) -> String {
    RunConfig::from_ron(text, Path::new("x.ron"))
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string()
}

#[test]
fn unknown_keys_and_bad_values_are_rejected() {
    let good = tiny_ieeg(2);
    assert!(
        RunConfig::from_ron(&good, Path::new("x.ron"))
            .unwrap()
            .validate()
            .is_ok()
    );
    let bad = good.replace("seed: 7,", "seed: 7, sede: 8,");
    let e = RunConfig::from_ron(&bad, Path::new("x.ron"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("sede"), "{e}");
    let bad = good.replace("repetitions: 3", "repetitions: 3, repetitons: 2");
    let e = RunConfig::from_ron(&bad, Path::new("x.ron"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("repetitons"), "{e}");
    let bad = good.replace("free_channels: 2", "free_channels: 6");
    let e = validation_error(&bad);
    assert!(e.contains("ieeg.free_channels"), "{e}");
    let bad = good.replace("dt: 1.0", "dt: -1.0");
    let e = validation_error(&bad);
    assert!(e.contains("model.dt"), "{e}");
    let bad = good.replace("\"fully-recurrent\"", "\"fully-recurent\"");
    let e = validation_error(&bad);
    assert!(e.contains("network.architecture"), "{e}");
}

#[test]
fn fade_weights_match_the_reference() {
    let w = fade_weights(100);
    assert!((w[0] - 0.0067).abs() < 1e-4, "{}", w[0]);
    assert_eq!(w[18], 0.5);
    assert!((w[99] - (1.0 - 1.7e-10)).abs() < 1e-10);
    assert!(w.windows(2).all(|p| p[1] > p[0]));
    // the same logistic with the reference's width (3.6 steps at n = 100), written the other way
    let v = fade_weights_width(100, 3.6);
    for (a, b) in w.iter().zip(&v) {
        assert!((a - b).abs() < 1e-14, "{a} {b}");
    }
    // a wider fade: the same start, 0.5 at five widths, still increasing, ends near 1
    let v = fade_weights_width(100, 8.0);
    assert!((v[0] - w[0]).abs() < 1e-15);
    assert_eq!(v[40], 0.5);
    assert!(v.windows(2).all(|p| p[1] > p[0]));
    assert!(v[99] > 0.999 && v[99] < 1.0);
    // and a width that is not > 0 is a named config error
    let text =
        std::fs::read_to_string(lagrange_experiments::resolve_config("mnist-paper")).unwrap();
    assert!(text.contains("fade_width: Some(8.0),"));
    for bad in ["0.0", "-2.0", "inf"] {
        let t = text.replace(
            "fade_width: Some(8.0),",
            &format!("fade_width: Some({bad}),"),
        );
        let e = validation_error(&t);
        assert!(e.contains("mnist.fade_width"), "{e}");
    }
}

#[test]
fn missing_data_file_is_a_clear_error() {
    let d = tmp("missing");
    let text = tiny_ieeg(1).replace(
        "channels: First(6),",
        "path: Some(\"/nonexistent/rec.edf\"), channels: First(6),",
    );
    let cfg = write_cfg(&d, &text);
    let e = lagrange_experiments::run_config(
        &cfg,
        RunOptions {
            out: Some(d.join("out")),
            quiet: true,
            ..Default::default()
        },
        false,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("/nonexistent/rec.edf"), "{e:#}");
}

/// The final checkpoints of the runs in `d/a` (uninterrupted) and `d/b` (resumed) of config
/// `cfg`: both after `epochs` epochs, with the same weights and state to the bit. Returns the
/// uninterrupted run's.
fn assert_same_checkpoints(cfg: &Path, d: &Path, epochs: usize) -> Checkpoint<f64> {
    let c = RunConfig::load(cfg).unwrap();
    let a = Checkpoint::<f64>::load(&d.join("a"), &c.hash()).unwrap();
    let b = Checkpoint::<f64>::load(&d.join("b"), &c.hash()).unwrap();
    assert_eq!((a.epochs_done, b.epochs_done), (epochs, epochs));
    assert_eq!(a.network, b.network, "resumed weights differ");
    assert_eq!(a.state, b.state);
    a
}

#[test]
fn resume_is_bit_identical_and_rejects_other_configs() {
    let d = tmp("resume");
    let cfg = write_cfg(&d, &tiny_ieeg(3));
    let opts = |out: &str| RunOptions {
        out: Some(d.join(out)),
        quiet: true,
        ..Default::default()
    };
    // uninterrupted
    run_in(&cfg, &d.join("a"), None, false);
    // interrupted after one epoch, then resumed
    run_in(&cfg, &d.join("b"), Some(1), false);
    let mid = Metrics::read(&d.join("b")).unwrap();
    assert_eq!(mid.epochs.len(), 1);
    assert!(!mid.finished);
    run_in(&cfg, &d.join("b"), None, true);
    let a = assert_same_checkpoints(&cfg, &d, 3);
    let (ma, mb) = (
        Metrics::read(&d.join("a")).unwrap(),
        Metrics::read(&d.join("b")).unwrap(),
    );
    for (x, y) in ma.epochs.iter().zip(&mb.epochs) {
        assert_eq!(x.values, y.values);
    }
    assert!(mb.finished);
    // the stability diagnostics of each training pass (none for the untrained epoch 0); with
    // `solver: Lu` no step goes through Cholesky, so none can fall back
    assert!(!ma.epochs[0].values.contains_key("train_max_abs_udot"));
    for e in &ma.epochs[1..] {
        let m = e.values["train_max_abs_udot"];
        assert!(m.is_finite() && m > 0.0, "epoch {}: {m}", e.epoch);
        assert_eq!(e.values["train_not_pd_steps"], 0.0);
    }
    // the data diagnostics: a least-squares fit with an unpenalised intercept never does worse
    // in its own window than predicting 0 (W = 0 with the mean is one of its candidates)
    let st = |k: &str| *ma.startup.get(k).unwrap_or_else(|| panic!("{k} missing"));
    let (fit, zero) = (
        st("ridge_fitted_on_heldout_cost"),
        st("zero_prediction_heldout_cost"),
    );
    assert!(
        fit.is_finite() && zero.is_finite() && fit > 0.0,
        "{fit} {zero}"
    );
    assert!(
        fit <= zero,
        "in-window ridge {fit} worse than predicting 0 ({zero})"
    );
    assert!(st("ridge_heldout_cost").is_finite());
    // the check report names the baselines beside the checks (the tiny config has none)
    let (report, _) = lagrange_experiments::check_dir(&d.join("a")).unwrap();
    assert!(
        report.contains(&format!("zero_prediction_heldout_cost={zero:.5}")),
        "{report}"
    );
    for f in [
        "metrics.csv",
        "cost.png",
        "series.png",
        "volts_e0.npy",
        "network/weights.npy",
    ] {
        assert!(d.join("b").join(f).is_file(), "{f} missing");
    }
    // `--seed` replaces the configured seed (7) and renames the run: the same bits as a config
    // file that says seed 8, and other initial weights than seed 7
    lagrange_experiments::run_config(
        &cfg,
        RunOptions {
            seed: Some(8),
            ..opts("s8")
        },
        false,
    )
    .unwrap();
    let seeded = Metrics::read(&d.join("s8")).unwrap();
    assert!(seeded.name.ends_with("-seed8"), "{}", seeded.name);
    let c8 = RunConfig::from_ron(&seeded.config, Path::new("x.ron")).unwrap();
    assert_eq!(c8.seed, 8);
    let file8 = write_cfg(
        &d.join("file8"),
        &tiny_ieeg(3).replace("seed: 7", "seed: 8"),
    );
    run_in(&file8, &d.join("f8"), None, false);
    let (n8, nf8) = (
        Checkpoint::<f64>::load(&d.join("s8"), &c8.hash())
            .unwrap()
            .network,
        Checkpoint::<f64>::load(&d.join("f8"), &RunConfig::load(&file8).unwrap().hash())
            .unwrap()
            .network,
    );
    assert_eq!(n8, nf8, "--seed 8 differs from a config with seed 8");
    assert_ne!(n8, a.network, "--seed 8 trained the same weights as seed 7");
    // a checkpoint from another configuration is refused
    let other = write_cfg(
        &d.join("other"),
        &tiny_ieeg(3).replace("seed: 7", "seed: 8"),
    );
    let e = lagrange_experiments::run_config(
        &other,
        RunOptions {
            resume: true,
            ..opts("b")
        },
        false,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("another configuration"), "{e:#}");
    // a truncated checkpoint is refused, not trusted
    let ck = d.join("b").join("checkpoint.json");
    let bytes = std::fs::read(&ck).unwrap();
    std::fs::write(&ck, &bytes[..bytes.len() / 2]).unwrap();
    let e = lagrange_experiments::run_config(
        &cfg,
        RunOptions {
            resume: true,
            ..opts("b")
        },
        false,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("not a valid checkpoint"), "{e:#}");
    // no temporary files are left behind
    assert!(
        std::fs::read_dir(d.join("a")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp"))
    );
}

#[test]
fn resume_is_bit_identical_with_the_dense_cholesky_solver_and_a_rate_drop() {
    // The shipped iEEG configs factorise H by Cholesky, whose solver keeps WᵀW by rank-1
    // updates and recomputes it every 256 of them. An epoch of 5 × 60 = 300 training steps puts
    // those recomputations at another phase in every epoch, and η halves from epoch 3 on (after
    // 0.6 s of training), after the resume point at epoch 2: a resumed run (fresh caches, then
    // the dropped rate) must still reach the uninterrupted run's bits.
    let d = tmp("resume-chol");
    let text = tiny_ieeg(4)
        .replace("solver: Lu", "solver: Cholesky")
        .replace("repetitions: 3", "repetitions: 5")
        .replace(
            "ridge_lambda: 1.0,",
            "ridge_lambda: 1.0, lr_schedule: [(after_seconds: 0.6, factor: 0.5)],",
        );
    let cfg = write_cfg(&d, &text);
    run_in(&cfg, &d.join("a"), None, false);
    run_in(&cfg, &d.join("b"), Some(2), false);
    run_in(&cfg, &d.join("b"), None, true);
    assert_same_checkpoints(&cfg, &d, 4);
}

#[test]
fn fit_and_predict_learn_a_tiny_mapping() {
    // 2-4-2 feed-forward hard-sigmoid net learns to map two patterns to two targets
    let layers = Layers::new(&[2, 4, 2]).unwrap();
    let n = 8;
    let mut w = DMatrix::<f64>::zeros(n, n);
    let mut mask = DMatrix::<f64>::zeros(n, n);
    for i in 2..6 {
        for j in 0..2 {
            w[(i, j)] = 0.1 * ((i + j) as f64 - 3.0);
            mask[(i, j)] = 1.0;
        }
    }
    for i in 6..8 {
        for j in 2..6 {
            w[(i, j)] = 0.05 * ((i * j) % 3) as f64;
            mask[(i, j)] = 1.0;
        }
    }
    let mut bm = DVector::from_element(n, 1.0);
    bm[0] = 0.0;
    bm[1] = 0.0;
    let net = Network::from_dense(layers, &w, &mask, DVector::from_element(n, 0.1), bm).unwrap();
    let cfg = ModelConfig {
        activation: Activation::HardSigmoid,
        lr_weights: 0.05,
        lr_biases: 0.05,
        learn_biases: true,
        ..ModelConfig::default()
    };
    let mut sim = Simulator::<f64>::new(net, cfg, 2).unwrap();
    let x = DMatrix::from_column_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]);
    let y = DMatrix::from_column_slice(2, 2, &[0.8, 0.2, 0.2, 0.8]);
    let mut p = Presenter::new(PresentOptions {
        steps: 30,
        fade: true,
        beta: 0.5,
        fade_width: None,
    });
    let err = |o: &DMatrix<f64>| (o - &y).norm();
    let before = err(&p.predict(&mut sim, &x, 2).unwrap());
    for _ in 0..40 {
        p.fit(&mut sim, &x, &y, 2).unwrap();
    }
    let after = err(&p.predict(&mut sim, &x, 2).unwrap());
    assert!(after < 0.3 * before, "before {before}, after {after}");
    // predict with a tail batch: every sample is predicted
    let x3 = DMatrix::from_column_slice(2, 3, &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    let o = p.predict(&mut sim, &x3, 2).unwrap();
    assert_eq!(o.ncols(), 3);
}

#[test]
fn npy_export_has_a_valid_header() {
    let m = DMatrix::from_row_slice(2, 3, &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = lagrange_experiments::io::matrix_npy(&m);
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hl) % 64, 0);
    let h = std::str::from_utf8(&b[10..10 + hl]).unwrap();
    assert!(h.contains("'shape': (2, 3)") && h.contains("<f8"), "{h}");
    let first = f64::from_le_bytes(b[10 + hl..18 + hl].try_into().unwrap());
    let second = f64::from_le_bytes(b[18 + hl..26 + hl].try_into().unwrap());
    assert_eq!((first, second), (1.0, 2.0)); // row-major
    assert_eq!(b.len(), 10 + hl + 6 * 8);
}

#[test]
fn weights_load_from_npy_files() {
    let dir = tmp("npy-init");
    std::fs::create_dir_all(&dir).unwrap();
    let n = 10;
    let w: Vec<f32> = (0..n * n)
        .map(|k| if k % 3 == 0 { 0.0 } else { k as f32 * 0.01 })
        .collect();
    let b: Vec<f32> = (0..n).map(|k| k as f32 * -0.1).collect();
    std::fs::write(
        dir.join("w.npy"),
        lagrange_data::npy::encode_npy_f32(n, n, &w),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.npy"),
        lagrange_data::npy::encode_npy_f32(1, n, &b),
    )
    .unwrap();
    let text = tiny_ieeg(1).replace(
        "init: Seeded,",
        &format!(
            "init: Npy(weights: {:?}, biases: Some({:?})),",
            dir.join("w.npy"),
            dir.join("b.npy")
        ),
    );
    let cfg = RunConfig::load(&write_cfg(&dir, &text)).unwrap();
    let net = lagrange_experiments::run::build_network(&cfg).unwrap();
    let dense = net.dense_weights();
    for i in 0..n {
        for j in 0..n {
            assert_eq!(
                dense[(i, j)],
                w[i * n + j] as f64,
                "W[{i},{j}] (row = postsynaptic)"
            );
        }
    }
    // a file of the wrong shape is a clear error naming the field
    std::fs::write(
        dir.join("w.npy"),
        lagrange_data::npy::encode_npy_f32(3, 3, &[0.0; 9]),
    )
    .unwrap();
    let e = lagrange_experiments::run::build_network(&cfg)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("network.init.Npy.weights") && e.contains("3×3"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ieeg_lr_schedule_applies_from_the_epoch_after_the_drop() {
    // 3 repetitions of a 0.06 s window: 0.18 s of training per epoch. A drop to η = 0 after
    // 0.18 s leaves epoch 1 trained and freezes the weights from epoch 2 on.
    let d = tmp("sched");
    let frozen = write_cfg(
        &d.join("frozen"),
        &tiny_ieeg(3).replace(
            "ridge_lambda: 1.0,",
            "ridge_lambda: 1.0,\n        lr_schedule: [(after_seconds: 0.18, factor: 0.0)],",
        ),
    );
    let two = write_cfg(&d.join("two"), &tiny_ieeg(2));
    let three = write_cfg(&d.join("three"), &tiny_ieeg(3));
    let net = |cfg: &Path, out: &str| {
        let o = d.join(out);
        run_in(cfg, &o, None, false);
        let c = RunConfig::load(cfg).unwrap();
        Checkpoint::<f64>::load(&o, &c.hash()).unwrap().network
    };
    let (f, t2, t3) = (net(&frozen, "f"), net(&two, "t2"), net(&three, "t3"));
    assert_eq!(f, t2, "epoch 2 must not learn after the drop to 0");
    assert_ne!(t2, t3, "without the drop epoch 2 learns");
    // a negative factor is rejected, naming the field
    let bad = write_cfg(
        &d.join("bad"),
        &tiny_ieeg(3).replace(
            "ridge_lambda: 1.0,",
            "ridge_lambda: 1.0,\n        lr_schedule: [(after_seconds: 1.0, factor: -1.0)],",
        ),
    );
    let e = RunConfig::load(&bad).unwrap_err();
    assert!(
        format!("{e:#}").contains("ieeg.lr_schedule[0].factor"),
        "{e:#}"
    );
}

#[test]
fn random_subset_training_beta_draws_k_channels_per_repetition() {
    use lagrange_experiments::ieeg::random_subset_beta;
    let b = random_subset_beta::<f64>(56, 42, 0.1, 7, 3, 5);
    assert_eq!(b.iter().filter(|&&v| v == 0.1).count(), 42);
    assert_eq!(b.iter().filter(|&&v| v == 0.0).count(), 14);
    // the same (seed, epoch, repetition) draws the same; another repetition, epoch or seed not
    assert_eq!(b, random_subset_beta::<f64>(56, 42, 0.1, 7, 3, 5));
    for other in [
        random_subset_beta::<f64>(56, 42, 0.1, 7, 3, 6),
        random_subset_beta::<f64>(56, 42, 0.1, 7, 4, 5),
        random_subset_beta::<f64>(56, 42, 0.1, 8, 3, 5),
    ] {
        assert_ne!(b, other);
    }
    // every channel is nudged in some repetition
    let mut seen = [false; 56];
    for rep in 0..20 {
        for (s, v) in seen
            .iter_mut()
            .zip(random_subset_beta::<f64>(56, 42, 0.1, 7, 1, rep))
        {
            *s |= v > 0.0;
        }
    }
    assert!(seen.iter().all(|&s| s));
    // out-of-range subset sizes are named config errors
    for k in [0, 7] {
        let t = tiny_ieeg(2).replace(
            "training_beta: Paper",
            &format!("training_beta: RandomSubset({k})"),
        );
        let e = validation_error(&t);
        assert!(e.contains("ieeg.training_beta"), "{e}");
    }
    // a run with it learns something else than the paper's β, and resumes to the same bits
    let d = tmp("subset");
    let text = tiny_ieeg(3).replace("training_beta: Paper", "training_beta: RandomSubset(4)");
    let cfg = write_cfg(&d, &text);
    let paper = write_cfg(&d.join("paper"), &tiny_ieeg(3));
    run_in(&cfg, &d.join("a"), None, false);
    run_in(&cfg, &d.join("b"), Some(2), false);
    run_in(&cfg, &d.join("b"), None, true);
    run_in(&paper, &d.join("p"), None, false);
    let h = RunConfig::load(&cfg).unwrap().hash();
    let net = |o: &str, h: &str| Checkpoint::<f64>::load(&d.join(o), h).unwrap().network;
    assert_eq!(net("a", &h), net("b", &h), "resumed weights differ");
    let hp = RunConfig::load(&paper).unwrap().hash();
    assert_ne!(net("a", &h), net("p", &hp));
}
