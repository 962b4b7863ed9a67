//! The fast paths of the step equal the plain ones: Ẇ kept factored (Ẇ = s ε r̄ᵀ, never
//! materialised) and the dense solver's Gram matrix WᵀW kept by rank-B updates, against a run
//! that materialises Ẇ and recomputes WᵀW every step (forced by a Ẇ clipping bound that never
//! bites). Runs cross the Gram refresh interval, a change of the weights through
//! `network_mut`, and inputs that move and then stand still (clamped-input shortcut).

mod common;
use common::{Arch, random_matrix, random_net, rel_err};
use lagrange_core::{Activation, InputMode, Method, ModelConfig, Simulator};
use nalgebra::DMatrix;

/// A simulator of the seeded 5-7-6-3 test net of `arch` with β = 0.2 on the outputs and random
/// voltages, and the targets (3×B) the tests use.
fn seeded_sim(arch: Arch, cfg: ModelConfig, batch: usize) -> (Simulator<f64>, DMatrix<f64>) {
    let net = random_net::<f64>(&[5, 7, 6, 3], arch, 0.4, 11);
    let n = net.n();
    let mut sim = Simulator::new(net, cfg, batch).unwrap();
    sim.set_beta_outputs(0.2);
    sim.state_mut().u = random_matrix(n, batch, 0.0, 1.0, 2);
    (sim, random_matrix(3, batch, 0.0, 1.0, 4))
}

fn run(
    arch: Arch,
    act: Activation,
    method: Method,
    inputs: InputMode,
    batch: usize,
    plain: bool,
    steps: usize,
) -> Vec<f64> {
    let cfg = ModelConfig {
        activation: act,
        method,
        inputs,
        lr_weights: 2e-2,
        lr_biases: 1e-2,
        learn_biases: true,
        clip_weight_derivative: plain.then_some(1e30),
        ..Default::default()
    };
    let (mut sim, y) = seeded_sim(arch, cfg, batch);
    for t in 0..steps {
        // inputs move for half of the run, then stand still
        let phase = t.min(steps / 2) as f64 * 0.05;
        let x = DMatrix::from_fn(5, batch, |r, c| {
            0.5 + 0.4 * (phase + r as f64 * 0.7 + c as f64 * 1.3).sin()
        });
        sim.step(&x, &y, true).unwrap();
        if t == steps * 2 / 3 {
            for p in sim.network_mut().projections_mut() {
                p.weights.apply(|w| *w *= 0.9);
            }
        }
    }
    let mut out: Vec<f64> = sim.state().u.as_slice().to_vec();
    out.extend_from_slice(sim.network().dense_weights().as_slice());
    out.extend_from_slice(sim.network().biases.as_slice());
    out
}

#[test]
fn factored_plasticity_and_incremental_gram_match_the_plain_step() {
    for (arch, act, method, inputs) in [
        // structured solver, clamped inputs
        (
            Arch::Feedforward,
            Activation::HardSigmoid,
            Method::Exact,
            InputMode::Clamped,
        ),
        // dense solver with the incremental Gram matrix
        (
            Arch::LayeredRecurrent,
            Activation::Sigmoid,
            Method::Exact,
            InputMode::Clamped,
        ),
        (
            Arch::LayeredRecurrent,
            Activation::Sigmoid,
            Method::Exact,
            InputMode::Dynamic,
        ),
        // predictor with factored Ẇ products
        (
            Arch::Feedforward,
            Activation::Sigmoid,
            Method::Richardson2,
            InputMode::Clamped,
        ),
        // fully recurrent: self-blocks with a zero diagonal (factored with the δ correction)
        (
            Arch::FullyRecurrent,
            Activation::Sigmoid,
            Method::Exact,
            InputMode::Dynamic,
        ),
        // predictors with ρ″ ≡ 0: the fused per-chunk evaluation of (★), whose look-ahead takes
        // Ẇ factored (with the δ correction of zero-diagonal self-blocks) or materialised. These
        // recurrent nets with kinked rates are chaotic: differences in the last bits grow about
        // tenfold every 10 steps after step 20 (measured), so they run 40 steps
        (
            Arch::FullyRecurrent,
            Activation::HardSigmoid,
            Method::Euler,
            InputMode::Dynamic,
        ),
        (
            Arch::LayeredRecurrent,
            Activation::HardSigmoid,
            Method::Richardson2,
            InputMode::Clamped,
        ),
    ] {
        let steps = if act == Activation::Sigmoid || arch == Arch::Feedforward {
            300
        } else {
            40
        };
        for batch in [1, 7, 40] {
            let fast = run(arch, act, method, inputs, batch, false, steps);
            let plain = run(arch, act, method, inputs, batch, true, steps);
            let err = rel_err(&fast, &plain);
            assert!(
                err <= 1e-10,
                "{arch:?} {act:?} {method:?} {inputs:?} B={batch}: relative difference {err:.2e}"
            );
        }
    }
}

#[test]
fn velocity_is_the_step_udot_and_changes_nothing() {
    let net = random_net::<f64>(&[4, 6, 3], Arch::LayeredRecurrent, 0.4, 5);
    let n = net.n();
    let cfg = ModelConfig {
        activation: Activation::Sigmoid,
        lr_weights: 1e-2,
        ..Default::default()
    };
    let mut sim = Simulator::new(net, cfg, 3).unwrap();
    sim.set_beta_outputs(0.3);
    sim.state_mut().u = random_matrix(n, 3, 0.0, 1.0, 6);
    let x = random_matrix(4, 3, 0.0, 1.0, 7);
    let y = random_matrix(3, 3, 0.0, 1.0, 8);
    let (u0, w0) = (sim.state().u.clone(), sim.network().dense_weights());
    let v = sim.velocity(&x, &y, true).unwrap().clone();
    assert_eq!(sim.state().u, u0, "velocity must not move u");
    assert_eq!(
        sim.network().dense_weights(),
        w0,
        "velocity must not change W"
    );
    sim.step(&x, &y, true).unwrap();
    assert_eq!(sim.state().udot, v, "step uses the same u̇");
    assert!(v.iter().any(|&x| x != 0.0));
}

/// `weight_constant_for_u` (the reference's `is_weight_constant_for_u`) leaves Ẇ and ḃ out of
/// the voltage dynamics only: u̇ of a training step is then the u̇ of the same step without
/// plasticity, while the weights still learn; without it the two u̇ differ.
#[test]
fn weight_constant_for_u_drops_the_plasticity_terms_from_udot_only() {
    for (arch, act, method, inputs) in [
        (
            Arch::Feedforward,
            Activation::HardSigmoid,
            Method::Exact,
            InputMode::Clamped,
        ),
        (
            Arch::LayeredRecurrent,
            Activation::Sigmoid,
            Method::Exact,
            InputMode::Dynamic,
        ),
        (
            Arch::FullyRecurrent,
            Activation::Sigmoid,
            Method::Exact,
            InputMode::Clamped,
        ),
        (
            Arch::Feedforward,
            Activation::Sigmoid,
            Method::Euler,
            InputMode::Clamped,
        ),
    ] {
        let batch = 4;
        let udot = |constant: bool, train: bool| {
            let cfg = ModelConfig {
                activation: act,
                method,
                inputs,
                lr_weights: 5e-2,
                lr_biases: 5e-2,
                learn_biases: true,
                weight_constant_for_u: constant,
                ..Default::default()
            };
            let (mut sim, y) = seeded_sim(arch, cfg, batch);
            let x = random_matrix(5, batch, 0.0, 1.0, 6);
            // a first step (no plasticity) so that the Euler predictor has a previous u̇
            sim.step(&x, &y, false).unwrap();
            let w0 = sim.network().dense_weights();
            let ud: Vec<f64> = sim.velocity(&x, &y, train).unwrap().as_slice().to_vec();
            sim.step(&x, &y, train).unwrap();
            let learned = (sim.network().dense_weights() - w0).amax();
            (ud, learned)
        };
        let (frozen, _) = udot(true, false);
        let (constant, learned) = udot(true, true);
        let (full, _) = udot(false, true);
        let what = format!("{arch:?} {act:?} {method:?} {inputs:?}");
        assert!(learned > 1e-6, "{what}: the weights must still learn");
        assert!(rel_err(&constant, &frozen) < 1e-12, "{what}");
        assert!(
            rel_err(&full, &frozen) > 1e-6,
            "{what}: Ẇ must matter without the switch"
        );
    }
}

/// A shorter (or empty) target after a taller one: the rows the new target does not cover must
/// read as zero targets (the workspace clears only the rows an earlier target wrote).
#[test]
fn a_shorter_target_clears_the_rows_of_the_previous_one() {
    for method in [Method::Exact, Method::Euler] {
        let cfg = ModelConfig {
            method,
            lr_weights: 1e-2,
            ..Default::default()
        };
        let batch = 4;
        let x = random_matrix(5, batch, 0.0, 1.0, 7);
        let run = |second: &DMatrix<f64>| {
            let (mut sim, y) = seeded_sim(Arch::Feedforward, cfg.clone(), batch);
            // the three outputs (a shorter vector is front-padded with zeros)
            sim.set_beta(&[0.3; 3]).unwrap();
            sim.step(&x, &y, true).unwrap();
            sim.step(&x, second, true).unwrap();
            sim.step(&x, second, true).unwrap();
            sim.state().u.clone()
        };
        let y1 = random_matrix(1, batch, 0.0, 1.0, 9);
        let padded = DMatrix::from_fn(3, batch, |r, c| if r < 2 { 0.0 } else { y1[(0, c)] });
        let (a, b) = (run(&y1), run(&padded));
        assert!(
            a.iter()
                .zip(b.iter())
                .all(|(p, q)| p.to_bits() == q.to_bits()),
            "{method:?}: 1-row target"
        );
        let (a, b) = (run(&DMatrix::zeros(0, 0)), run(&DMatrix::zeros(3, batch)));
        assert!(
            a.iter()
                .zip(b.iter())
                .all(|(p, q)| p.to_bits() == q.to_bits()),
            "{method:?}: no target"
        );
    }
}

/// A previous target changed from outside (`state_mut`) is read in full: the workspace tracks
/// which rows of ŷ_prev can be nonzero only for targets it stored itself. Raising ŷ_prev by c on
/// a nudged row that the current target does not cover changes that row's predicted u̇ by exactly
/// β (ŷ̇ − …) = −β c / dt (Euler: u̇ = (★)(p)/τ with the term τ β ŷ̇), and no other row.
#[test]
fn a_previous_target_set_from_outside_is_read_in_full() {
    for act in [Activation::HardSigmoid, Activation::Sigmoid] {
        let cfg = ModelConfig {
            activation: act,
            method: Method::Euler,
            lr_weights: 1e-2,
            ..Default::default()
        };
        let batch = 3;
        let (mut sim, _) = seeded_sim(Arch::Feedforward, cfg, batch);
        let n = sim.network().n();
        let beta = 0.3;
        sim.set_beta(&[beta; 3]).unwrap();
        let x = random_matrix(5, batch, 0.0, 1.0, 7);
        let y1 = random_matrix(1, batch, 0.0, 1.0, 9);
        sim.step(&x, &y1, true).unwrap();
        // `velocity` leaves u, W and b as they are: the two calls differ only in ŷ_prev
        let base = sim.velocity(&x, &y1, true).unwrap().clone();
        let row = n - 3;
        let c = 0.5;
        let prev = sim.state_mut().prev_target.as_mut().unwrap();
        for b in 0..batch {
            prev[(row, b)] += c;
        }
        let moved = sim.velocity(&x, &y1, true).unwrap().clone();
        for b in 0..batch {
            for r in 0..n {
                let d = moved[(r, b)] - base[(r, b)];
                let want = if r == row {
                    -beta * c / sim.config().dt
                } else {
                    0.0
                };
                assert!(
                    (d - want).abs() <= 1e-12,
                    "{act:?}: row {r}, sample {b}: u̇ moved by {d}, expected {want}"
                );
            }
        }
    }
}

/// Weight clipping (`clip_weights`) that clamps a few weights per step keeps the dense solver's
/// Gram matrix WᵀW by a sparse correction per clamped weight instead of recomputing it: the run
/// must match the plain one (Ẇ materialised, WᵀW recomputed every step) to rounding. The bound
/// is set below the largest initial weights, so that the clamped weights are few enough for the
/// correction (at most 1/16 of the weights per step) and the learning keeps pushing some of them
/// back out, step after step.
#[test]
fn clipped_weights_keep_the_incremental_gram_exact() {
    for (arch, inputs) in [
        (Arch::LayeredRecurrent, InputMode::Clamped),
        (Arch::LayeredRecurrent, InputMode::Dynamic),
        (Arch::FullyRecurrent, InputMode::Dynamic),
    ] {
        let net = random_net::<f64>(&[5, 7, 6, 3], arch, 0.4, 11);
        let mut mags: Vec<f64> = net
            .dense_weights()
            .iter()
            .map(|w| w.abs())
            .filter(|&w| w > 0.0)
            .collect();
        mags.sort_by(f64::total_cmp);
        // about 3 % of the weights start above the bound
        let bound = mags[mags.len() * 97 / 100];
        let batch = 3;
        let run = |plain: bool| {
            let cfg = ModelConfig {
                activation: Activation::Sigmoid,
                inputs,
                lr_weights: 2e-2,
                clip_weights: Some(bound),
                clip_weight_derivative: plain.then_some(1e30),
                ..Default::default()
            };
            let (mut sim, y) = seeded_sim(arch, cfg, batch);
            let mut clamped_steps = 0;
            for t in 0..300 {
                let x = DMatrix::from_fn(5, batch, |r, c| {
                    0.5 + 0.4 * (t as f64 * 0.05 + r as f64 * 0.7 + c as f64 * 1.3).sin()
                });
                sim.step(&x, &y, true).unwrap();
                let at_bound = sim
                    .network()
                    .dense_weights()
                    .iter()
                    .filter(|w| w.abs() == bound)
                    .count();
                clamped_steps += usize::from(at_bound > 0);
            }
            let mut out: Vec<f64> = sim.state().u.as_slice().to_vec();
            out.extend_from_slice(sim.network().dense_weights().as_slice());
            (out, clamped_steps)
        };
        let ((fast, clamped), (plain, _)) = (run(false), run(true));
        assert!(
            clamped >= 250,
            "{arch:?} {inputs:?}: the bound must hold weights in most steps, did in {clamped}"
        );
        let err = rel_err(&fast, &plain);
        assert!(
            err <= 1e-10,
            "{arch:?} {inputs:?}: relative difference {err:.2e}"
        );
    }
}

/// A new simulator with configuration `cfg` and clones of `sim`'s network, β̂ and state.
fn rebuilt(sim: &Simulator<f64>, cfg: ModelConfig) -> Simulator<f64> {
    let mut fresh = Simulator::new(sim.network().clone(), cfg, sim.state().batch()).unwrap();
    fresh.set_beta(sim.beta().as_slice()).unwrap();
    fresh.set_state(sim.state().clone()).unwrap();
    fresh
}

#[test]
fn reset_caches_steps_to_the_bits_of_a_rebuilt_simulator() {
    // the dense solver keeps WᵀW by rank-B updates between recomputations: after 100 steps a
    // rebuilt simulator starts from a fresh WᵀW, the running one does not until reset_caches
    for (arch, batch) in [(Arch::FullyRecurrent, 1), (Arch::LayeredRecurrent, 3)] {
        let cfg = ModelConfig {
            activation: Activation::Sigmoid,
            inputs: InputMode::Dynamic,
            lr_weights: 2e-2,
            ..Default::default()
        };
        let (mut sim, y) = seeded_sim(arch, cfg, batch);
        let x = |t: usize| {
            DMatrix::from_fn(5, batch, |r, c| {
                0.5 + 0.4 * (t as f64 * 0.05 + r as f64 * 0.7 + c as f64 * 1.3).sin()
            })
        };
        for t in 0..100 {
            sim.step(&x(t), &y, true).unwrap();
        }
        let mut fresh = rebuilt(&sim, sim.config().clone());
        sim.reset_caches();
        for t in 100..400 {
            sim.step(&x(t), &y, true).unwrap();
            fresh.step(&x(t), &y, true).unwrap();
        }
        assert_eq!(sim.network(), fresh.network(), "{arch:?} B={batch}");
        assert_eq!(sim.state(), fresh.state(), "{arch:?} B={batch}");
    }
}

#[test]
fn set_learning_rates_takes_effect_at_the_next_step_and_rejects_bad_rates() {
    let cfg = ModelConfig {
        activation: Activation::Sigmoid,
        lr_weights: 2e-2,
        lr_biases: 1e-2,
        learn_biases: true,
        ..Default::default()
    };
    let (mut sim, y) = seeded_sim(Arch::LayeredRecurrent, cfg, 2);
    let x = DMatrix::from_element(5, 2, 0.3);
    for _ in 0..20 {
        sim.step(&x, &y, true).unwrap();
    }
    // the same as a simulator built with the new rates from the same network and state
    // (with fresh caches on both sides, see reset_caches)
    let mut other = rebuilt(&sim, sim.config().clone());
    let mut dropped = rebuilt(
        &sim,
        ModelConfig {
            lr_weights: 5e-3,
            lr_biases: 0.0,
            ..sim.config().clone()
        },
    );
    sim.reset_caches();
    sim.set_learning_rates(5e-3, 0.0).unwrap();
    let biases = sim.network().biases.clone();
    for _ in 0..20 {
        sim.step(&x, &y, true).unwrap();
        dropped.step(&x, &y, true).unwrap();
        other.step(&x, &y, true).unwrap();
    }
    assert_eq!(sim.network(), dropped.network());
    assert_eq!(sim.state(), dropped.state());
    assert_ne!(
        sim.network(),
        other.network(),
        "the old rates learn something else"
    );
    assert_eq!(sim.network().biases, biases, "η_b = 0 freezes the biases");
    // invalid rates name the field and change nothing
    for (w, b, field) in [(-1e-3, 0.0, "lr_weights"), (1e-3, f64::NAN, "lr_biases")] {
        let e = sim.set_learning_rates(w, b).unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
        assert_eq!(sim.config().lr_weights, 5e-3);
        assert_eq!(sim.config().lr_biases, 0.0);
    }
}
