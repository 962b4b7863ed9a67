//! The MNIST experiments (spec §11, paper Fig. 4).
//!
//! Each epoch: (unless it is the untrained epoch 0) a seeded shuffle of the training list and one
//! `fit` pass ([`Presenter::fit`]: batches of B samples, each presented for `steps_per_sample`
//! steps with the logistic fade from the previous batch, β on the outputs, plasticity on, the
//! tail that does not fill a batch dropped); then `predict` on the test list (β = 0, readout =
//! output voltages after the last step, argmax; the test tail that does not fill a batch is
//! dropped too, as the reference does). No state is reset anywhere.
//!
//! The backprop baseline ([`Backprop`]) starts from the same weights and sees the same stream:
//! with [`BaselineEvery::Step`] it takes one plain-backprop step at every dt on the faded
//! input/label (paper Fig. 4 "BP per dt"), with the same learning rates and schedule.

use crate::baseline::Backprop;
use crate::config::{BaselineEvery, MnistData, MnistSection, Precision, RunConfig};
use crate::io::{Checkpoint, EpochRecord, Scalar, export_network};
use crate::plot;
use crate::protocol::{PresentOptions, Presenter, argmax_columns};
use crate::run::{
    RunOptions, begin_epoch, build_network, new_metrics, prepare_dir, progress, run_dir,
};
use anyhow::Context;
use lagrange_core::{ModelConfig, Simulator};
use lagrange_data::mnist::{MnistSet, ReferenceProtocol, reference_split_with};
use nalgebra::DMatrix;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Runs an MNIST configuration; returns the run folder.
pub fn run(cfg: &RunConfig, opts: &RunOptions) -> anyhow::Result<PathBuf> {
    match cfg.model.precision {
        Precision::F32 => run_typed::<f32>(cfg, opts),
        Precision::F64 => run_typed::<f64>(cfg, opts),
    }
}

/// Images (784×S) and labels of a set.
pub struct Samples<T: Scalar> {
    /// One column per image.
    pub x: DMatrix<T>,
    /// One-hot targets, 10×S.
    pub y: DMatrix<T>,
    /// Labels.
    pub labels: Vec<u8>,
}

fn samples<T: Scalar>(set: &MnistSet, limit: Option<usize>) -> Samples<T> {
    let n = limit.unwrap_or(set.len()).min(set.len());
    let p = set.pixels();
    let x = DMatrix::from_fn(p, n, |r, c| T::c(set.images[c * p + r] as f64));
    let labels: Vec<u8> = set.labels[..n].to_vec();
    let y = DMatrix::from_fn(10, n, |r, c| {
        T::c(if labels[c] as usize == r { 1.0 } else { 0.0 })
    });
    Samples { x, y, labels }
}

/// Loads the training and test sets of a configuration.
pub fn load_data<T: Scalar>(
    m: &MnistSection,
    seed: u64,
) -> anyhow::Result<(Samples<T>, Samples<T>, String)> {
    let data = lagrange_data::load_mnist_vendored().context("loading the vendored MNIST")?;
    Ok(match m.data {
        MnistData::Official => (
            samples(&data.train, m.max_train),
            samples(&data.test, m.max_test),
            "official MNIST split (60k/10k)".into(),
        ),
        MnistData::Reference {
            train_per_class,
            test_per_class,
        } => {
            let (tr, te) = reference_split_with(
                &data.all(),
                seed,
                ReferenceProtocol {
                    train_per_class,
                    test_per_class,
                    ..Default::default()
                },
            )?;
            (
                samples(&tr, m.max_train),
                samples(&te, m.max_test),
                format!(
                    "reference protocol (spec §11.3): seeded 67/33 split of all 70k images, \
                     {train_per_class}/{test_per_class} per class (our RNG, not numpy's)"
                ),
            )
        }
    })
}

fn accuracy(pred: &[usize], labels: &[u8]) -> f64 {
    let ok = pred
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as usize)
        .count();
    ok as f64 / pred.len().max(1) as f64
}

fn run_typed<T: Scalar>(cfg: &RunConfig, opts: &RunOptions) -> anyhow::Result<PathBuf> {
    let m = cfg.mnist.as_ref().context("not an MNIST configuration")?;
    let dir = run_dir(cfg, opts);
    prepare_dir(&dir, opts)?;
    let hash = cfg.hash();
    let (train, test, data_note) = load_data::<T>(m, cfg.seed)?;
    let b = m.batch;
    anyhow::ensure!(
        train.x.ncols() >= b,
        "mnist: {} training images < batch {b}",
        train.x.ncols()
    );
    anyhow::ensure!(
        test.x.ncols() >= b,
        "mnist: {} test images < batch {b}",
        test.x.ncols()
    );
    let n_test = test.x.ncols() / b * b;
    let n_train = train.x.ncols() / b * b;
    let base_model: ModelConfig = cfg.model.model_config();
    let dt = cfg.model.dt;
    let popts = PresentOptions {
        steps: m.steps_per_sample,
        fade: m.fade,
        beta: m.beta,
        fade_width: m.fade_width,
    };
    let seconds_per_epoch = n_train as f64 * m.steps_per_sample as f64 * dt / 1000.0;
    let trained_before = |epoch: usize| -> usize {
        // training epochs completed before `epoch`
        if m.untrained_epoch0 {
            epoch.saturating_sub(1)
        } else {
            epoch
        }
    };
    let model_for = |epoch: usize| -> ModelConfig {
        let f = crate::config::lr_factor(
            &m.lr_schedule,
            trained_before(epoch) as f64 * seconds_per_epoch,
        );
        crate::config::scaled_learning_rates(&base_model, f)
    };
    let activation = base_model.activation;

    let mut presenter = Presenter::<T>::new(popts);
    let (mut sim, mut bp, mut metrics, start_epoch) = if opts.resume {
        let ck = Checkpoint::<T>::load(&dir, &hash)?;
        let mut bp = match m.baseline {
            Some(_) => Some(Backprop::from_network(&ck.network, activation)?),
            None => None,
        };
        if let Some(bp) = &mut bp {
            bp.set_matrices(&ck.baseline)?;
        }
        let mut sim = Simulator::new(ck.network, model_for(ck.epochs_done), b)?;
        sim.set_state(ck.state)?;
        presenter.previous = ck.protocol;
        eprintln!(
            "resuming {} after epoch {}",
            cfg.name,
            ck.epochs_done.saturating_sub(1)
        );
        (sim, bp, ck.metrics, ck.epochs_done)
    } else {
        let net = build_network(cfg)?.cast::<T>();
        let bp = match m.baseline {
            Some(_) => Some(Backprop::from_network(&net, activation)?),
            None => None,
        };
        let sim = Simulator::new(net, model_for(0), b)?;
        let mut mt = new_metrics(cfg, opts);
        mt.notes.push(data_note.clone());
        mt.notes.push(format!(
            "{} training images per epoch ({} used: whole batches of {b}), {} test images ({n_test} scored: whole batches)",
            train.x.ncols(),
            n_train,
            test.x.ncols()
        ));
        mt.notes.push(format!(
            "readout: output voltages after step {} of each presentation, argmax; β = {} while training, 0 while testing",
            m.steps_per_sample, m.beta
        ));
        (sim, bp, mt, 0)
    };

    // start-up report: time per (batched) training step on a throw-away simulator
    let net0 = sim.network().clone();
    let per_step = {
        let mut probe = Simulator::new(net0.clone(), model_for(1), b)?;
        probe.set_beta_outputs(T::c(m.beta));
        let x = train.x.columns(0, b).clone_owned();
        let y = train.y.columns(0, b).clone_owned();
        probe.step(&x, &y, true)?;
        let k = 10;
        let t0 = Instant::now();
        for _ in 0..k {
            probe.step(&x, &y, true)?;
        }
        t0.elapsed().as_secs_f64() / k as f64
    };
    let per_bp = match &mut bp.clone() {
        Some(bpc) => {
            let x = train.x.columns(0, b).clone_owned();
            let y = train.y.columns(0, b).clone_owned();
            let t0 = Instant::now();
            for _ in 0..10 {
                bpc.train_step(&x, &y, T::c(m.beta), T::c(1e-6), T::c(1e-6));
            }
            t0.elapsed().as_secs_f64() / 10.0
        }
        None => 0.0,
    };
    let bp_steps_per_pres = match m.baseline {
        Some(BaselineEvery::Step) => m.steps_per_sample,
        Some(BaselineEvery::Presentation) => 1,
        None => 0,
    };
    let train_steps = (n_train / b * m.steps_per_sample) as f64;
    let test_steps = (n_test / b * m.steps_per_sample) as f64;
    let epoch_s =
        per_step * (train_steps + test_steps) + per_bp * (n_train / b * bp_steps_per_pres) as f64;
    eprintln!(
        "{}: MNIST, layers {:?}, N = {}, {} plastic synapses, {} precision, inputs {:?}, batch {b}\n  \
         {data_note}\n  {} presentations of {} steps per training epoch, {} per test\n  \
         measured {:.2} ms per batched step ({:.1} µs per sample-step), backprop baseline {:.2} ms per update\n  \
         → about {:.0} s per training epoch, {:.1} min for {} epochs\n  output: {}",
        cfg.name,
        cfg.network.layers,
        net0.n(),
        net0.n_synapses(),
        T::NAME,
        cfg.model.inputs,
        n_train / b,
        m.steps_per_sample,
        n_test / b,
        per_step * 1e3,
        per_step * 1e6 / b as f64,
        per_bp * 1e3,
        epoch_s,
        epoch_s * m.epochs as f64 / 60.0,
        m.epochs,
        dir.display()
    );
    metrics.startup.insert("neurons".into(), net0.n() as f64);
    metrics
        .startup
        .insert("synapses".into(), net0.n_synapses() as f64);
    metrics
        .startup
        .insert("ms_per_batched_step".into(), per_step * 1e3);
    metrics.startup.insert("batch".into(), b as f64);
    metrics
        .startup
        .insert("ms_per_bp_update".into(), per_bp * 1e3);

    let mut last_conf = None;
    for (session, epoch) in (start_epoch..m.epochs).enumerate() {
        if opts.stop_after.is_some_and(|k| session >= k) {
            break;
        }
        let t0 = Instant::now();
        let train_now = !(m.untrained_epoch0 && epoch == 0);
        let mc = model_for(epoch);
        begin_epoch(&mut sim, &mc, epoch)?;
        let (lr_w, lr_b) = (T::c(mc.lr_weights * dt), T::c(mc.lr_biases * dt));
        let mut steps = 0u64;
        let total = if train_now { n_train / b } else { 0 } + n_test / b;
        let pb = progress(
            total as u64,
            &format!("epoch {epoch}/{}", m.epochs - 1),
            opts.quiet,
        );
        if train_now {
            let mut order: Vec<usize> = (0..train.x.ncols()).collect();
            if m.shuffle {
                let mut rng = rand::rngs::StdRng::seed_from_u64(
                    cfg.seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(epoch as u64 + 1)),
                );
                for i in (1..order.len()).rev() {
                    let j = rand::RngExt::random_range(&mut rng, 0..=i);
                    order.swap(i, j);
                }
            }
            sim.set_beta_outputs(T::c(m.beta));
            presenter.reset_fade();
            let beta = T::c(m.beta);
            for k in 0..n_train / b {
                let idx = &order[k * b..(k + 1) * b];
                let xb = train.x.select_columns(idx);
                let yb = train.y.select_columns(idx);
                match (&mut bp, m.baseline) {
                    (Some(bp), Some(BaselineEvery::Step)) => {
                        presenter.present_with(&mut sim, &xb, &yb, true, |xi, yi| {
                            bp.train_step(xi, yi, beta, lr_w, lr_b)
                        })?;
                    }
                    (Some(bp), Some(BaselineEvery::Presentation)) => {
                        presenter.present_with(&mut sim, &xb, &yb, true, |_, _| {})?;
                        let s = T::c(m.steps_per_sample as f64);
                        bp.train_step(&xb, &yb, beta, lr_w * s, lr_b * s);
                    }
                    _ => {
                        presenter.present_with(&mut sim, &xb, &yb, true, |_, _| {})?;
                    }
                }
                steps += m.steps_per_sample as u64;
                pb.inc(1);
            }
        }
        // test
        sim.set_beta_outputs(T::c(0.0));
        let mut preds = Vec::with_capacity(n_test);
        for k in 0..n_test / b {
            let xb = test.x.columns(k * b, b).clone_owned();
            let yb = DMatrix::zeros(10, b);
            let out = presenter.present_with(&mut sim, &xb, &yb, false, |_, _| {})?;
            preds.extend(argmax_columns(&out));
            steps += m.steps_per_sample as u64;
            pb.inc(1);
        }
        pb.finish_and_clear();
        let acc = accuracy(&preds, &test.labels[..n_test]);
        let mut values = BTreeMap::new();
        values.insert("test_accuracy".to_string(), acc);
        values.insert("test_error".to_string(), 1.0 - acc);
        values.insert("lr_weights".to_string(), mc.lr_weights);
        let mut conf = [[0u32; 10]; 10];
        for (p, l) in preds.iter().zip(&test.labels[..n_test]) {
            conf[*l as usize][*p] += 1;
        }
        let mut bp_note = String::new();
        if let Some(bp) = &bp {
            let mut bpp = Vec::with_capacity(n_test);
            for k in 0..n_test / b {
                let xb = test.x.columns(k * b, b).clone_owned();
                bpp.extend(argmax_columns(&bp.predict(&xb)));
            }
            let bacc = accuracy(&bpp, &test.labels[..n_test]);
            values.insert("bp_test_accuracy".to_string(), bacc);
            values.insert("bp_test_error".to_string(), 1.0 - bacc);
            bp_note = format!(", backprop baseline {:.2} %", 100.0 * (1.0 - bacc));
        }
        let wall = t0.elapsed().as_secs_f64();
        eprintln!(
            "epoch {epoch:>2}{}: NLA test error {:.2} % ({} images){bp_note}; {:.1} s",
            if train_now { "" } else { " (untrained)" },
            100.0 * (1.0 - acc),
            n_test,
            wall
        );
        metrics.epochs.push(EpochRecord {
            epoch,
            trained: train_now,
            wall_s: wall,
            steps,
            steps_per_s: steps as f64 / wall.max(1e-9),
            values,
        });
        metrics.total_wall_s += wall;
        metrics.finished = epoch + 1 == m.epochs;
        let ck = Checkpoint {
            version: 1,
            config_hash: hash.clone(),
            epochs_done: epoch + 1,
            network: sim.network().clone(),
            state: sim.state().clone(),
            protocol: presenter.previous.clone(),
            baseline: bp.as_ref().map(|b| b.to_matrices()).unwrap_or_default(),
            metrics: metrics.clone(),
        };
        ck.save(&dir)?;
        metrics.write(&dir)?;
        last_conf = Some((epoch, conf));
    }
    export_network(&dir.join("network"), sim.network())?;
    let pts = |k: &str| -> Vec<(f64, f64)> {
        metrics
            .epochs
            .iter()
            .filter_map(|e| e.values.get(k).map(|v| (e.epoch as f64, 100.0 * v)))
            .collect()
    };
    let mut series = vec![plot::Series {
        name: "NLA",
        points: pts("test_accuracy"),
    }];
    if bp.is_some() {
        series.push(plot::Series {
            name: "backprop baseline (same stream)",
            points: pts("bp_test_accuracy"),
        });
    }
    plot::line_chart(
        &dir.join("accuracy.png"),
        &format!("{}: test accuracy", cfg.name),
        "epoch",
        "accuracy (%)",
        &series,
    )?;
    if let Some((epoch, conf)) = last_conf {
        plot::confusion_matrix(
            &dir.join("confusion.png"),
            &format!("{}: confusion matrix, epoch {epoch}", cfg.name),
            &conf,
        )?;
    }
    Ok(dir)
}
