//! Depressing back-projection synapses: the fitted depression lowers the transmission error
//! against plain rate transmission (both with their best affine read-out); the
//! `TransmissionPathway` in voltage mode is the built-in weight transport, and a teacher–student
//! net trained through dynamic depression ends within 1.5× of voltage transmission's test cost.

mod common;
use common::ff_network;
use lagrange_circuits::TransmissionPathway;
use lagrange_circuits::depression::{
    DepressingSynapses, TransmissionMode, fit_depression, fit_rate,
};
use lagrange_core::{Activation, ModelConfig, Network, Simulator, Solver};
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng, rngs::StdRng};

const RANGE: (f64, f64) = (-3.0, 1.0);
const TAU: f64 = 10.0;

#[test]
fn steady_state_depression_beats_rate_transmission() {
    let rate = fit_rate(Activation::Sigmoid, RANGE).unwrap();
    let dep = fit_depression(Activation::Sigmoid, TAU, RANGE).unwrap();
    let factor = rate.rms_error / dep.rms_error;
    eprintln!("rate fit {rate:?}\ndepression fit {dep:?}\nRMS factor {factor:.2}");
    // measured: RMS 0.211 (rate) vs 0.082 (depression, U = 0.172, τ_rec = 10 ms): factor 2.58
    assert!(factor > 2.4, "factor {factor}");
    assert!(dep.release > 0.0);
}

#[test]
fn dynamic_synapse_tracks_voltage_better_than_rate() {
    // u follows a slow sinusoid (period 200 ms ≫ τ_rec = 10 ms) over the operating range
    let (n, dt, steps) = (1, 0.1, 4000);
    let mut dynamic = DepressingSynapses::<f64>::new(
        TransmissionMode::Dynamic,
        Activation::Sigmoid,
        TAU,
        RANGE,
        n,
        1,
    )
    .unwrap();
    let plain = DepressingSynapses::<f64>::new(
        TransmissionMode::Rate,
        Activation::Sigmoid,
        TAU,
        RANGE,
        n,
        1,
    )
    .unwrap();
    let ideal = DepressingSynapses::<f64>::new(
        TransmissionMode::IdealInverse,
        Activation::Sigmoid,
        TAU,
        RANGE,
        n,
        1,
    )
    .unwrap();
    let u_at = |k: usize| {
        let t = k as f64 * dt;
        let (mid, amp) = ((RANGE.0 + RANGE.1) / 2.0, (RANGE.1 - RANGE.0) / 2.0);
        DMatrix::from_element(
            n,
            1,
            mid + amp * (2.0 * std::f64::consts::PI * t / 200.0).sin(),
        )
    };
    dynamic.equilibrate(&u_at(0));
    let (mut e_dyn, mut e_rate, mut e_ideal) = (0.0f64, 0.0f64, 0.0f64);
    for k in 0..steps {
        let u = u_at(k);
        e_dyn += dynamic.transmission_error(&u).0.powi(2);
        e_rate += plain.transmission_error(&u).0.powi(2);
        e_ideal = e_ideal.max(ideal.transmission_error(&u).1);
        dynamic.advance(&u, dt);
    }
    let (e_dyn, e_rate) = (
        (e_dyn / steps as f64).sqrt(),
        (e_rate / steps as f64).sqrt(),
    );
    eprintln!(
        "RMS |s - u|: rate {e_rate:.4}, dynamic depression {e_dyn:.4}, factor {:.2}; ideal inverse max {e_ideal:.1e}",
        e_rate / e_dyn
    );
    assert!(e_ideal < 1e-9);
    // measured: RMS 0.2645 (rate) vs 0.1752 (dynamic depression): factor 1.51
    assert!(e_rate / e_dyn > 1.4, "rate {e_rate} dynamic {e_dyn}");
}

// ---------------------------------------------------------------------------------------------
// The back-projection pathway (`TransmissionPathway`)

/// Voltage-mode transmission is the built-in weight transport: same trajectory of u and W
/// (with learning, nudging and changing inputs) to ≤ 1e-12; the ideal inverse agrees to rounding.
#[test]
fn voltage_mode_reproduces_builtin_weight_transport() {
    let mut rng = StdRng::seed_from_u64(3);
    let sizes = [3usize, 4, 3, 2];
    let net = ff_network(&sizes, 0.8, 0.3, &mut rng);
    let cfg = ModelConfig {
        activation: Activation::Sigmoid,
        solver: Solver::Lu,
        tau: 10.0,
        dt: 1.0,
        lr_weights: 0.05,
        lr_biases: 0.02,
        learn_biases: true,
        ..Default::default()
    };
    let batch = 2;
    let inputs: Vec<(DMatrix<f64>, DMatrix<f64>)> = (0..10)
        .map(|_| {
            (
                DMatrix::from_fn(3, batch, |_, _| 2.0 * rng.random::<f64>() - 1.0),
                DMatrix::from_fn(2, batch, |_, _| rng.random::<f64>()),
            )
        })
        .collect();
    let run = |mode: Option<TransmissionMode>| {
        let mut sim = Simulator::new(net.clone(), cfg.clone(), batch).unwrap();
        sim.set_beta_outputs(0.2);
        if let Some(m) = mode {
            let pw = TransmissionPathway::new(m, Activation::Sigmoid, 10.0, RANGE).unwrap();
            sim.set_pathway(Box::new(pw));
        }
        for k in 0..300 {
            let (x, y) = &inputs[(k / 30) % inputs.len()];
            sim.step(x, y, true).unwrap();
        }
        (sim.state().u.clone(), sim.network().dense_weights())
    };
    let (u0, w0) = run(None);
    let diff = |(u, w): (DMatrix<f64>, DMatrix<f64>)| (&u - &u0).amax().max((&w - &w0).amax());
    let dv = diff(run(Some(TransmissionMode::Voltage)));
    let di = diff(run(Some(TransmissionMode::IdealInverse)));
    let dr = diff(run(Some(TransmissionMode::Rate)));
    eprintln!(
        "max |Δu|, |ΔW| vs built-in: voltage {dv:.1e}, ideal inverse {di:.1e}, rate {dr:.1e}"
    );
    assert!(dv <= 1e-12, "voltage {dv}");
    assert!(di <= 1e-9, "ideal inverse {di}");
    assert!(dr > 1e-3, "rate {dr}");
}

struct TeacherStudent {
    /// Mean squared output error of the student on a fixed test set, per checkpoint.
    costs: Vec<f64>,
    /// RMS |s − u| of the u-synapses over the training run (outputs and hidden layer).
    transmission_rms: f64,
}

/// Teacher–student on a [4, 6, 3] sigmoid net: the student learns a fixed random teacher from
/// random inputs (a batch of 8 new samples every 20 steps of 1 ms, τ = 10 ms), β = 0.1 on the
/// outputs, the apical errors formed through `mode`. `None` is the built-in weight transport.
fn teacher_student(mode: Option<TransmissionMode>, presentations: usize) -> TeacherStudent {
    let sizes = [4usize, 6, 3];
    let (n0, no) = (sizes[0], sizes[2]);
    let act = Activation::Sigmoid;
    let mut rng = StdRng::seed_from_u64(21);
    let mut teacher = ff_network(&sizes, 1.0, 0.5, &mut rng);
    for i in n0 + sizes[1]..teacher.n() {
        teacher.biases[i] += TEACHER_OUTPUT_SHIFT;
    }
    let student = ff_network(&sizes, 1.0, 0.5, &mut rng);
    let n = student.n();
    let batch = 8;
    let cfg = ModelConfig {
        activation: act,
        solver: Solver::Lu,
        tau: TAU,
        dt: 1.0,
        lr_weights: LR,
        lr_biases: LR,
        learn_biases: true,
        ..Default::default()
    };
    let forward = |net: &Network<f64>, x: &DMatrix<f64>| {
        let w = net.dense_weights();
        let mut u = DMatrix::zeros(n, x.ncols());
        u.rows_mut(0, n0).copy_from(x);
        for l in 1..sizes.len() {
            let mut v = &w * u.map(|v: f64| act.rho(v));
            for mut c in v.column_iter_mut() {
                c += &net.biases;
            }
            let o = sizes[..l].iter().sum::<usize>();
            u.rows_mut(o, sizes[l]).copy_from(&v.rows(o, sizes[l]));
        }
        u
    };
    let draw = |rng: &mut StdRng, b: usize| {
        DMatrix::from_fn(n0, b, |_, _| 2.0 * (2.0 * rng.random::<f64>() - 1.0))
    };
    let test_x = draw(&mut rng, 200);
    let test_y = forward(&teacher, &test_x).rows(n - no, no).into_owned();
    let cost = |net: &Network<f64>| {
        let y = forward(net, &test_x);
        (y.rows(n - no, no) - &test_y).norm_squared() / test_x.ncols() as f64
    };
    let mut sim = Simulator::new(student, cfg, batch).unwrap();
    sim.set_beta_outputs(BETA);
    let pw = mode.map(|m| TransmissionPathway::new(m, act, TAU, OPERATING_RANGE).unwrap());
    if let Some(p) = &pw {
        sim.set_pathway(Box::new(p.clone()));
    }
    let mut costs = vec![cost(sim.network())];
    let (mut se, mut cnt) = (0.0, 0.0);
    for k in 0..presentations {
        let x = draw(&mut rng, batch);
        let y = forward(&teacher, &x).rows(n - no, no).into_owned();
        for _ in 0..STEPS_PER_SAMPLE {
            sim.step(&x, &y, true).unwrap();
            if let Some(p) = &pw {
                // only the outputs' signals reach an apical error (that of the hidden layer)
                let u = &sim.state().u;
                let s = p.synapses().0.transmit(u);
                se += (s.rows(n - no, no) - u.rows(n - no, no)).norm_squared();
                cnt += (no * batch) as f64;
            }
        }
        if (k + 1) % (presentations / 5) == 0 {
            costs.push(cost(sim.network()));
        }
    }
    TeacherStudent {
        costs,
        transmission_rms: if cnt > 0.0 { (se / cnt).sqrt() } else { 0.0 },
    }
}

/// η (weights and biases).
const LR: f64 = 0.05;
/// Added to the teacher's output biases so that its outputs (≈ [−3.4, 1.5]) lie mostly in the
/// operating range of the fitted depression, which is below the sigmoid's midpoint (module
/// documentation of `depression.rs`: the correction is only partial above it).
const TEACHER_OUTPUT_SHIFT: f64 = -0.8;
const BETA: f64 = 0.1;
const STEPS_PER_SAMPLE: usize = 20;
const OPERATING_RANGE: (f64, f64) = (-3.0, 1.0);

/// Teacher–student learning with the error back-projected through depressing synapses ends
/// close to voltage transmission (the paper's assumption); plain rate transmission is reported
/// for comparison.
#[test]
fn teacher_student_dynamic_depression_learns_like_voltage() {
    let presentations = 500;
    let t = std::time::Instant::now();
    let voltage = teacher_student(Some(TransmissionMode::Voltage), presentations);
    let dynamic = teacher_student(Some(TransmissionMode::Dynamic), presentations);
    let rate = teacher_student(Some(TransmissionMode::Rate), presentations);
    let ideal = teacher_student(Some(TransmissionMode::IdealInverse), presentations);
    for (name, r) in [
        ("voltage", &voltage),
        ("dynamic", &dynamic),
        ("rate", &rate),
        ("ideal inverse", &ideal),
    ] {
        eprintln!(
            "{name:>13}: test cost {:.5?}; transmission RMS {:.4}",
            r.costs, r.transmission_rms
        );
    }
    let last = |r: &TeacherStudent| *r.costs.last().unwrap();
    let (v, d, ra) = (last(&voltage), last(&dynamic), last(&rate));
    eprintln!(
        "final cost / voltage: dynamic {:.3}, rate {:.3} ({:.1} s)",
        d / v,
        ra / v,
        t.elapsed().as_secs_f64()
    );
    // measured (seed 21, 500 presentations): test cost 4.645 → voltage 0.0505, dynamic 0.0691
    // (×1.37), rate 0.0774 (×1.53), ideal inverse = voltage; output transmission RMS |s − u|:
    // dynamic 0.170, rate 0.332
    assert!(
        v < 0.02 * voltage.costs[0],
        "voltage did not learn: {:?}",
        voltage.costs
    );
    assert!(d <= 1.5 * v, "dynamic {d} vs voltage {v}");
    assert!(d < ra, "dynamic {d} vs rate {ra}");
    assert!((last(&ideal) - v).abs() <= 1e-9 * v);
    assert!(dynamic.transmission_rms < 0.6 * rate.transmission_rms);
}
