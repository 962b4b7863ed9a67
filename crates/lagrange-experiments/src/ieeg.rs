//! The iEEG pattern-completion experiment (spec §12, paper Fig. 3b–c).
//!
//! Protocol per epoch (epoch 0 is an untrained test):
//! 1. training (epochs ≥ 1): `repetitions` passes over the training window with β on all
//!    visible neurons (or the reference's aliased β, spec §12.6), plasticity on;
//! 2. test: β = `beta_test` on the clamped channels and 0 on the last `free_channels`, no
//!    plasticity, over the training window followed, without a break, by the held-out window.
//!
//! The simulation is one continuous trajectory (no state reset), as in the reference. The score
//! is the mean squared error of the free channels' voltages against the recording
//! (`train_cost` on the training window, `heldout_cost` on the held-out window), beside a ridge
//! regression from the clamped channels to the free ones fitted on the training window.

use crate::baseline::{Ridge, mse};
use crate::config::{Channels, IeegSection, RunConfig, ScalingName, TimeBase, TrainingBeta};
use crate::io::{Checkpoint, EpochRecord, Scalar, export_network, write_npy};
use crate::plot;
use crate::run::{
    RunOptions, begin_epoch, build_network, new_metrics, prepare_dir, progress, run_dir,
};
use anyhow::Context;
use lagrange_core::{Real, Simulator};
use lagrange_data::Recording;
use lagrange_data::inspect::{Format, detect};
use lagrange_data::preprocess::{
    ChannelSelector, Scaling, resample_linear, resample_reference_recording, scale,
    select_channels, zscore_by,
};
use nalgebra::DMatrix;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Reads any supported recording (EDF with optional JSON sidecar, BrainVision, BIDS, `.npy`,
/// reference JSON with `patient`).
pub fn load_recording(path: &Path, patient: Option<&str>) -> anyhow::Result<Recording> {
    let rec = match detect(path)? {
        Format::Edf => {
            let mut rec = lagrange_data::edf::read_edf(path)?;
            let side = path.with_extension("json");
            if side.is_file() {
                let bytes = std::fs::read(&side)?;
                lagrange_data::vendored::apply_json_sidecar(&mut rec, &bytes, &side)?;
            }
            rec
        }
        Format::BrainVision(v) => lagrange_data::brainvision::read_brainvision(&v)?,
        Format::Bids => lagrange_data::bids::read_bids(path)?,
        Format::Npy(p) => lagrange_data::npy::read_npy(&p)?,
        Format::ReferenceJson => lagrange_data::reference_json::read_reference_json(
            path,
            patient.unwrap_or("patient_1"),
        )?,
        Format::Idx => anyhow::bail!("{}: an MNIST IDX file is not a recording", path.display()),
    };
    Ok(rec)
}

/// The prepared data: channel names, training and held-out windows (C × T each, one column per
/// time step of dt).
#[derive(Debug, Clone)]
pub struct IeegData {
    /// Selected channel names (visible neuron k ↔ channel k).
    pub names: Vec<String>,
    /// Training window, C × T_train.
    pub train: DMatrix<f64>,
    /// Held-out window, C × T_heldout.
    pub heldout: DMatrix<f64>,
    /// Human-readable description of the preprocessing.
    pub notes: Vec<String>,
}

fn to_matrix(rec: &Recording) -> DMatrix<f64> {
    DMatrix::from_fn(rec.n_channels(), rec.n_samples, |c, t| {
        rec.samples[c * rec.n_samples + t]
    })
}

/// Loads and prepares the recording of an iEEG configuration.
pub fn prepare_data(s: &IeegSection, dt: f64, data: Option<&Path>) -> anyhow::Result<IeegData> {
    let path: Option<PathBuf> = data.map(Into::into).or_else(|| s.data.path.clone());
    let rec = match &path {
        Some(p) => load_recording(p, s.data.patient.as_deref())?,
        None => lagrange_data::load_pt01_vendored()?,
    };
    let mut notes = vec![format!(
        "recording {} ({}, {} channels, {} Hz, {:.3} s)",
        rec.source.display(),
        rec.format,
        rec.n_channels(),
        rec.sampling_rate_hz,
        rec.duration_s()
    )];
    let sel = match &s.data.channels {
        Channels::First(n) => {
            anyhow::ensure!(
                *n <= rec.n_channels(),
                "ieeg.data.channels: First({n}) but the recording has {} channels",
                rec.n_channels()
            );
            ChannelSelector::Indices((0..*n).collect())
        }
        Channels::Names(v) => ChannelSelector::Names(v.clone()),
        Channels::HighestVariance(n) => {
            anyhow::ensure!(
                *n <= rec.n_channels(),
                "ieeg.data.channels: HighestVariance({n}) but the recording has {} channels",
                rec.n_channels()
            );
            let st = rec.channel_stats();
            let mut idx: Vec<usize> = (0..rec.n_channels()).collect();
            idx.sort_by(|&a, &b| st[b].std.total_cmp(&st[a].std));
            let mut keep: Vec<usize> = idx[..*n].to_vec();
            keep.sort();
            ChannelSelector::Indices(keep)
        }
    };
    let rec = select_channels(&rec, &sel)?;
    let rec = match s.data.time_base {
        TimeBase::RealTime => {
            let rate = 1000.0 / dt;
            if (rec.sampling_rate_hz - rate).abs() < 1e-9 {
                rec
            } else {
                resample_linear(&rec, rate)?
            }
        }
        TimeBase::Reference2ms => resample_reference_recording(&rec, dt)?,
    };
    let rec = match s.data.scaling {
        ScalingName::ZScore => scale(&rec, Scaling::ZScore)?,
        ScalingName::ZScoreTrain => {
            let w = s.data.train_window;
            zscore_by(&rec, &rec.window(w.0, w.1)?)?
        }
        ScalingName::Divide(d) => scale(&rec, Scaling::Divide(d))?,
    };
    let (tr, ho) =
        lagrange_data::preprocess::split_windows(&rec, s.data.train_window, s.data.heldout_window)?;
    notes.extend(rec.notes.iter().cloned());
    notes.push(format!(
        "training window {:?} s = {} steps, held-out window {:?} s = {} steps (dt = {dt} ms)",
        s.data.train_window, tr.n_samples, s.data.heldout_window, ho.n_samples
    ));
    Ok(IeegData {
        names: rec.channels.iter().map(|c| c.name.clone()).collect(),
        train: to_matrix(&tr),
        heldout: to_matrix(&ho),
        notes,
    })
}

/// Runs an iEEG configuration; returns the run folder.
pub fn run(cfg: &RunConfig, opts: &RunOptions) -> anyhow::Result<PathBuf> {
    match cfg.model.precision {
        crate::config::Precision::F64 => run_typed::<f64>(cfg, opts),
        crate::config::Precision::F32 => run_typed::<f32>(cfg, opts),
    }
}

struct TestResult {
    volts: DMatrix<f64>, // C × (T_train + T_heldout)
    train_cost: f64,
    heldout_cost: f64,
    clamped_cost: f64,
}

/// β for one repetition of [`TrainingBeta::RandomSubset`]: `beta` on `k` of the `c` visible
/// neurons, drawn from a generator seeded by (seed, epoch, repetition) alone, 0 on the others.
pub fn random_subset_beta<T: Real>(
    c: usize,
    k: usize,
    beta: T,
    seed: u64,
    epoch: usize,
    repetition: usize,
) -> Vec<T> {
    use rand::SeedableRng;
    let key = seed
        ^ ((epoch as u64) << 32 | repetition as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = rand::rngs::StdRng::seed_from_u64(key);
    let mut b = vec![T::c(0.0); c];
    for i in rand::seq::index::sample(&mut rng, c, k.min(c)) {
        b[i] = beta;
    }
    b
}

fn test_pass<T: Real>(
    sim: &mut Simulator<T>,
    data: &IeegData,
    beta_test: &[T],
    free: usize,
    pb: &indicatif::ProgressBar,
) -> anyhow::Result<TestResult> {
    let c = data.train.nrows();
    let n = sim.network().n();
    let (t1, t2) = (data.train.ncols(), data.heldout.ncols());
    sim.set_beta(beta_test)?;
    let x = DMatrix::<T>::zeros(0, 1);
    let mut volts = DMatrix::zeros(c, t1 + t2);
    let mut y = DMatrix::<T>::zeros(c, 1);
    for t in 0..t1 + t2 {
        let col = if t < t1 {
            data.train.column(t)
        } else {
            data.heldout.column(t - t1)
        };
        for k in 0..c {
            y[k] = T::c(col[k]);
        }
        sim.step(&x, &y, false)
            .with_context(|| format!("test step {t}"))?;
        let u = &sim.state().u;
        for k in 0..c {
            volts[(k, t)] = u[(n - c + k, 0)].f64_();
        }
        pb.inc(1);
    }
    let target = {
        let mut m = DMatrix::zeros(c, t1 + t2);
        m.columns_mut(0, t1).copy_from(&data.train);
        m.columns_mut(t1, t2).copy_from(&data.heldout);
        m
    };
    let f0 = c - free;
    let part = |r0: usize, nr: usize, c0: usize, nc: usize| {
        mse(
            &volts.view((r0, c0), (nr, nc)).clone_owned(),
            &target.view((r0, c0), (nr, nc)).clone_owned(),
        )
    };
    Ok(TestResult {
        train_cost: part(f0, free, 0, t1),
        heldout_cost: part(f0, free, t1, t2),
        clamped_cost: part(0, f0, 0, t1 + t2),
        volts,
    })
}

fn run_typed<T: Scalar>(cfg: &RunConfig, opts: &RunOptions) -> anyhow::Result<PathBuf> {
    let s = cfg.ieeg.as_ref().context("not an iEEG configuration")?;
    let dir = run_dir(cfg, opts);
    prepare_dir(&dir, opts)?;
    let data = prepare_data(s, cfg.model.dt, opts.data.as_deref())?;
    let c = data.train.nrows();
    let free = s.free_channels;
    let f0 = c - free;
    let model = cfg.model.model_config();
    let hash = cfg.hash();

    // ridge baseline: clamped channels → free channels, fitted on the training window
    let split = |m: &DMatrix<f64>| (m.rows(0, f0).clone_owned(), m.rows(f0, free).clone_owned());
    let ((train_c, train_f), (held_c, held_f)) = (split(&data.train), split(&data.heldout));
    let ridge = Ridge::fit(&train_c, &train_f, s.ridge_lambda)?;
    let ridge_train = mse(&ridge.predict(&train_c), &train_f);
    let ridge_heldout = mse(&ridge.predict(&held_c), &held_f);
    // Diagnostics of the data, not baselines: the same regression fitted on the held-out window
    // itself (the best linear completion there; far below `ridge_heldout` when the relation
    // between clamped and free channels changes between the windows), and predicting 0.
    let ridge_in_heldout = mse(
        &Ridge::fit(&held_c, &held_f, s.ridge_lambda)?.predict(&held_c),
        &held_f,
    );
    let zero_heldout = mse(&DMatrix::zeros(free, held_f.ncols()), &held_f);

    let beta_train: Vec<T> = vec![T::c(s.beta_train); c];
    let beta_test: Vec<T> = (0..c)
        .map(|k| if k < f0 { T::c(s.beta_test) } else { T::c(0.0) })
        .collect();

    let (mut sim, mut metrics, mut before, start_epoch) = if opts.resume {
        let ck = Checkpoint::<T>::load(&dir, &hash)?;
        let mut sim = Simulator::new(ck.network, model.clone(), 1)?;
        sim.set_state(ck.state)?;
        let before = ck.baseline.first().map(|m| m.map(|v| v.f64_()));
        eprintln!(
            "resuming {} after epoch {}",
            cfg.name,
            ck.epochs_done.saturating_sub(1)
        );
        (sim, ck.metrics, before, ck.epochs_done)
    } else {
        let net = build_network(cfg)?.cast::<T>();
        let sim = Simulator::new(net, model.clone(), 1)?;
        let mut m = new_metrics(cfg, opts);
        m.notes.extend(data.notes.iter().cloned());
        m.notes.push(format!(
            "visible channels (neuron N−{c}+k ↔ channel k): {}",
            data.names.join(",")
        ));
        m.notes.push(format!(
            "free at test (last {free}): {}",
            data.names[f0..].join(",")
        ));
        m.notes.push(format!(
            "training β: {:?} ({}), test β = {} on clamped, 0 on free",
            s.training_beta,
            match s.training_beta {
                TrainingBeta::Paper => format!("{} on all {c} visible neurons", s.beta_train),
                TrainingBeta::ReferenceAliased =>
                    "the test β from epoch 1 on (reference bug, spec §12.6)".into(),
                TrainingBeta::RandomSubset(k) => format!(
                    "{} on {k} of {c} visible neurons, drawn for each repetition",
                    s.beta_train
                ),
            },
            s.beta_test
        ));
        m.notes.push(
            "cost = mean squared error of the free channels' voltages vs the recording".into(),
        );
        (sim, m, None, 0)
    };

    // start-up report: measure the time per step on a throw-away copy of the network
    let net = sim.network().clone();
    let per_step = {
        let mut probe = Simulator::new(net.clone(), model.clone(), 1)?;
        probe.set_beta(&beta_train)?;
        let x = DMatrix::<T>::zeros(0, 1);
        let k = 200.min(data.train.ncols());
        let t0 = Instant::now();
        for t in 0..k {
            let y = data.train.column(t).map(T::c).into_owned();
            let y = DMatrix::from_column_slice(c, 1, y.as_slice());
            probe.step(&x, &y, true)?;
        }
        t0.elapsed().as_secs_f64() / k as f64
    };
    let (t1, t2) = (data.train.ncols(), data.heldout.ncols());
    let steps_per_epoch = (s.repetitions * t1 + t1 + t2) as f64;
    eprintln!(
        "{}: iEEG, layers {:?} ({}), N = {}, {} plastic synapses, {} precision\n  \
         {c} visible channels, {free} free at test; training window {t1} steps × {} repetitions, held-out {t2} steps\n  \
         measured {:.3} ms per training step → about {:.1} s per epoch, {:.1} min for {} epochs\n  \
         ridge baseline (λ = {}): free-channel MSE {:.4} on the training window, {:.4} held out\n  \
         held-out window: ridge fitted there {:.4}, predicting 0 {:.4}\n  output: {}",
        cfg.name,
        cfg.network.layers,
        cfg.network.architecture,
        net.n(),
        net.n_synapses(),
        T::NAME,
        s.repetitions,
        per_step * 1e3,
        per_step * steps_per_epoch,
        per_step * (steps_per_epoch * s.epochs as f64) / 60.0,
        s.epochs,
        s.ridge_lambda,
        ridge_train,
        ridge_heldout,
        ridge_in_heldout,
        zero_heldout,
        dir.display()
    );
    for (key, value) in [
        ("neurons", net.n() as f64),
        ("synapses", net.n_synapses() as f64),
        ("ms_per_step", per_step * 1e3),
        ("ridge_train_cost", ridge_train),
        ("ridge_heldout_cost", ridge_heldout),
        ("ridge_fitted_on_heldout_cost", ridge_in_heldout),
        ("zero_prediction_heldout_cost", zero_heldout),
    ] {
        metrics.startup.insert(key.into(), value);
    }

    let x = DMatrix::<T>::zeros(0, 1);
    let dt_s = cfg.model.dt / 1000.0;
    let mut last_volts: Option<DMatrix<f64>> = None;
    for (session_epochs, epoch) in (start_epoch..s.epochs).enumerate() {
        if opts.stop_after.is_some_and(|k| session_epochs >= k) {
            break;
        }
        let t0 = Instant::now();
        let train = epoch > 0;
        // learning-rate schedule: simulated training time before this epoch
        let trained_s = epoch.saturating_sub(1) as f64 * (s.repetitions * t1) as f64 * dt_s;
        let f = crate::config::lr_factor(&s.lr_schedule, trained_s);
        let mc = crate::config::scaled_learning_rates(&model, f);
        begin_epoch(&mut sim, &mc, epoch)?;
        let steps = if train { s.repetitions * t1 } else { 0 } + t1 + t2;
        let pb = progress(
            steps as u64,
            &format!("epoch {epoch}/{}", s.epochs - 1),
            opts.quiet,
        );
        // the training pass, with its stability diagnostics: the largest |u̇| and the steps on
        // which H was not positive definite (Cholesky fell back to LU; 0 with `solver: Lu`)
        let stability = if train {
            let mut max_udot = 0.0f64;
            let fallbacks0 = sim.stats().cholesky_fallbacks;
            let mut y = DMatrix::<T>::zeros(c, 1);
            for rep in 0..s.repetitions {
                match s.training_beta {
                    TrainingBeta::Paper => sim.set_beta(&beta_train)?,
                    TrainingBeta::ReferenceAliased => sim.set_beta(&beta_test)?,
                    TrainingBeta::RandomSubset(k) => sim.set_beta(&random_subset_beta(
                        c,
                        k,
                        T::c(s.beta_train),
                        cfg.seed,
                        epoch,
                        rep,
                    ))?,
                }
                for t in 0..t1 {
                    for k in 0..c {
                        y[k] = T::c(data.train[(k, t)]);
                    }
                    sim.step(&x, &y, true)
                        .with_context(|| format!("epoch {epoch}: training step {t}"))?;
                    max_udot = sim
                        .state()
                        .udot
                        .iter()
                        .fold(max_udot, |m, v| m.max(v.f64_().abs()));
                    pb.inc(1);
                }
            }
            let fallbacks = (sim.stats().cholesky_fallbacks - fallbacks0) as f64;
            Some((max_udot, fallbacks))
        } else {
            None
        };
        let r = test_pass(&mut sim, &data, &beta_test, free, &pb)?;
        pb.finish_and_clear();
        let wall = t0.elapsed().as_secs_f64();
        let mut values = BTreeMap::new();
        values.insert("train_cost".to_string(), r.train_cost);
        values.insert("heldout_cost".to_string(), r.heldout_cost);
        values.insert("clamped_cost".to_string(), r.clamped_cost);
        values.insert("ridge_train_cost".to_string(), ridge_train);
        values.insert("ridge_heldout_cost".to_string(), ridge_heldout);
        if let Some((max_udot, fallbacks)) = stability {
            values.insert("train_max_abs_udot".to_string(), max_udot);
            values.insert("train_not_pd_steps".to_string(), fallbacks);
        }
        eprintln!(
            "epoch {epoch:>3}: free-channel MSE train window {:.4}, held out {:.4} (ridge {:.4} / {:.4}), clamped {:.4}; {:.1} s",
            r.train_cost, r.heldout_cost, ridge_train, ridge_heldout, r.clamped_cost, wall
        );
        if let Some((max_udot, fallbacks)) = stability {
            eprintln!(
                "           training: max |u̇| {max_udot:.3e}, H not positive definite on {fallbacks} steps"
            );
        }
        metrics.epochs.push(EpochRecord {
            epoch,
            trained: train,
            wall_s: wall,
            steps: steps as u64,
            steps_per_s: steps as f64 / wall.max(1e-9),
            values,
        });
        metrics.total_wall_s += wall;
        if epoch == 0 {
            write_npy(&dir.join("volts_e0.npy"), &r.volts.transpose())?;
            before = Some(r.volts.clone());
        }
        metrics.finished = epoch + 1 == s.epochs;
        let ck = Checkpoint {
            version: 1,
            config_hash: hash.clone(),
            epochs_done: epoch + 1,
            network: sim.network().clone(),
            state: sim.state().clone(),
            protocol: None,
            baseline: before.iter().map(|m| m.map(T::c)).collect(),
            metrics: metrics.clone(),
        };
        ck.save(&dir)?;
        metrics.write(&dir)?;
        last_volts = Some(r.volts);
    }
    // outputs
    if let Some(v) = &last_volts {
        write_npy(&dir.join("volts_final.npy"), &v.transpose())?;
        let target = {
            let mut m = DMatrix::zeros(c, t1 + t2);
            m.columns_mut(0, t1).copy_from(&data.train);
            m.columns_mut(t1, t2).copy_from(&data.heldout);
            m
        };
        let before = before.clone().unwrap_or_else(|| v.clone());
        let panels: Vec<plot::Panel> = (f0..c)
            .map(|k| plot::Panel {
                name: data.names[k].clone(),
                target: target.row(k).iter().copied().collect(),
                before: before.row(k).iter().copied().collect(),
                after: v.row(k).iter().copied().collect(),
            })
            .collect();
        let last = metrics.epochs.last().map(|e| e.epoch).unwrap_or(0);
        plot::series_panels(
            &dir.join("series.png"),
            &format!(
                "{}: free channels at test, epoch 0 vs epoch {last} (training window 0–{} ms, then held out)",
                cfg.name,
                t1 as f64 * cfg.model.dt
            ),
            cfg.model.dt,
            Some(t1 as f64 * cfg.model.dt),
            &panels,
        )?;
    }
    export_network(&dir.join("network"), sim.network())?;
    let pts = |k: &str| -> Vec<(f64, f64)> {
        metrics
            .epochs
            .iter()
            .filter_map(|e| e.values.get(k).map(|v| (e.epoch as f64, *v)))
            .collect()
    };
    plot::line_chart(
        &dir.join("cost.png"),
        &format!("{}: free-channel cost", cfg.name),
        "epoch",
        "mean squared error (z-scored units)",
        &[
            plot::Series {
                name: "NLA, training window",
                points: pts("train_cost"),
            },
            plot::Series {
                name: "NLA, held-out window",
                points: pts("heldout_cost"),
            },
            plot::Series {
                name: "ridge, training window",
                points: pts("ridge_train_cost"),
            },
            plot::Series {
                name: "ridge, held-out window",
                points: pts("ridge_heldout_cost"),
            },
        ],
    )?;
    Ok(dir)
}
