//! The paper's claims as tests: instantaneous propagation (Fig. 2c), exponential decay of ∂L/∂u
//! (paper §A.3), and Theorem 1 (ē r̄ᵀ/β → −dC/dW as β → 0).

mod common;
use common::{Arch, random_matrix, random_net};
use lagrange_core::observables::lagrangian_gradient;
use lagrange_core::{Activation, InputMode, ModelConfig, Network, Simulator};
use nalgebra::{DMatrix, DVector};

fn col(v: &[f64]) -> DMatrix<f64> {
    DMatrix::from_column_slice(v.len(), 1, v)
}

/// Free (β = 0) equilibrium of a feed-forward net with clamped inputs: a forward pass.
fn forward_equilibrium(net: &Network<f64>, act: Activation, x: &[f64]) -> DVector<f64> {
    let n = net.n();
    let mut u = DVector::zeros(n);
    u.rows_mut(0, x.len()).copy_from_slice(x);
    let l = net.layers().clone();
    for k in 1..l.len() {
        let r = u.map(|v| act.rho(v));
        let v = net.dense_weights() * r + &net.biases;
        for i in l.offset(k)..l.offset(k) + l.size(k) {
            u[i] = v[i];
        }
    }
    u
}

#[test]
fn a_step_in_the_input_reaches_the_output_layer_within_one_dt() {
    let sizes = [3, 6, 5, 4];
    let act = Activation::Sigmoid;
    let net = random_net::<f64>(&sizes, Arch::Feedforward, 0.8, 1);
    let n = net.n();
    let xa = [0.2, 0.5, 0.9];
    let xb = [0.3, 0.35, 1.0];
    let ua = forward_equilibrium(&net, act, &xa);
    let ub = forward_equilibrium(&net, act, &xb);
    let cfg = ModelConfig {
        activation: act,
        inputs: InputMode::Clamped,
        tau: 10.0,
        dt: 1.0,
        ..Default::default()
    };
    let mut sim = Simulator::new(net, cfg, 1).unwrap();
    sim.state_mut().u.set_column(0, &ua);
    sim.state_mut().prev_input = Some(col(&xa));
    // one step with the new input
    sim.step(&col(&xb), &DMatrix::zeros(0, 1), false).unwrap();
    let out = n - 4..n;
    let moved: f64 = out
        .clone()
        .map(|i| (ub[i] - ua[i]).abs())
        .fold(0.0, f64::max);
    let left: f64 = out
        .clone()
        .map(|i| (ub[i] - sim.state().u[(i, 0)]).abs())
        .fold(0.0, f64::max);
    // within one dt the output layer covers > 97 % of the way (a leaky integrator would cover dt/τ = 10 %)
    eprintln!("instantaneous propagation: change {moved:.3e}, residual after one dt {left:.3e}");
    assert!(moved > 1e-2, "test needs a visible change ({moved})");
    assert!(
        left < 0.03 * moved,
        "output layer after one step: residual {left:.3e} of a change {moved:.3e}"
    );
}

#[test]
fn dl_du_decays_like_exp_minus_t_over_tau() {
    let sizes = [0, 5, 4];
    let act = Activation::Sigmoid;
    let net = random_net::<f64>(&sizes, Arch::FullyRecurrent, 0.4, 2);
    let n = net.n();
    let tau = 10.0;
    let dt = 0.05;
    let cfg = ModelConfig {
        activation: act,
        tau,
        dt,
        ..Default::default()
    };
    let mut sim = Simulator::new(net.clone(), cfg, 1).unwrap();
    sim.state_mut().u = random_matrix(n, 1, -1.0, 1.0, 3);
    sim.set_beta_outputs(0.5);
    let y = col(&[0.3, -0.2, 0.5, 0.1]);
    let mut yfull = DVector::zeros(n);
    yfull.rows_mut(n - 4, 4).copy_from(&y.column(0));
    let grad = |sim: &Simulator<f64>| {
        lagrangian_gradient(
            &net,
            act,
            &sim.state().u.column(0).clone_owned(),
            &[],
            sim.beta(),
            &yfull,
        )
    };
    // first step sets x⁻, y⁻ (no kick since None means "no change")
    let f0 = grad(&sim);
    let steps = 200; // t = τ
    for _ in 0..steps {
        sim.step(&DMatrix::zeros(0, 1), &y, false).unwrap();
    }
    let f1 = grad(&sim);
    let ratio = f1.norm() / f0.norm();
    let expected = (-(steps as f64) * dt / tau).exp();
    eprintln!("dL/du decay over tau: ratio {ratio:.6} vs e^-1 {expected:.6}");
    assert!(
        (ratio / expected - 1.0).abs() < 0.01,
        "‖∂L/∂u(τ)‖/‖∂L/∂u(0)‖ = {ratio:.5}, e^-1 = {expected:.5}"
    );
    // and the direction is preserved (the solution is c·e^(−t/τ))
    let cos = f1.dot(&f0) / (f1.norm() * f0.norm());
    assert!(cos > 0.999, "direction changed: cos = {cos}");
}

#[test]
fn theorem_1_nudged_errors_give_the_cost_gradient() {
    let sizes = [3, 4, 2];
    let act = Activation::Sigmoid;
    let net = random_net::<f64>(&sizes, Arch::Feedforward, 0.8, 4);
    let n = net.n();
    let x = [0.3, 0.8, 0.5];
    let y = [0.9, -0.4];
    let cost = |net: &Network<f64>| {
        let u = forward_equilibrium(net, act, &x);
        0.5 * ((y[0] - u[n - 2]).powi(2) + (y[1] - u[n - 1]).powi(2))
    };
    // −dC/dW by central differences on every synapse
    let h = 1e-6;
    let mut grads = vec![];
    for (k, p) in net.projections().iter().enumerate() {
        let mut g = DMatrix::zeros(p.weights.nrows(), p.weights.ncols());
        for i in 0..g.nrows() {
            for j in 0..g.ncols() {
                let (mut a, mut b) = (net.clone(), net.clone());
                a.projections_mut()[k].weights[(i, j)] += h;
                b.projections_mut()[k].weights[(i, j)] -= h;
                g[(i, j)] = -(cost(&a) - cost(&b)) / (2.0 * h);
            }
        }
        grads.push(g);
    }
    let mut errs = vec![];
    for beta in [1e-1, 1e-2, 1e-3] {
        let cfg = ModelConfig {
            activation: act,
            inputs: InputMode::Clamped,
            ..Default::default()
        };
        let mut sim = Simulator::new(net.clone(), cfg, 1).unwrap();
        sim.state_mut()
            .u
            .set_column(0, &forward_equilibrium(&net, act, &x));
        sim.state_mut().prev_input = Some(col(&x));
        sim.set_beta_outputs(beta);
        for _ in 0..400 {
            sim.step(&col(&x), &col(&y), false).unwrap();
        }
        // ē r̄ᵀ / β at the nudged equilibrium
        let u = sim.state().u.column(0).clone_owned();
        let r = u.map(|v| act.rho(v));
        let e = &u - (net.dense_weights() * &r + &net.biases);
        let l = net.layers();
        let mut num = 0.0f64;
        let mut den = 0.0f64;
        for (p, g) in net.projections().iter().zip(&grads) {
            for i in 0..g.nrows() {
                for j in 0..g.ncols() {
                    let est = e[l.offset(p.post) + i] * r[l.offset(p.pre) + j] / beta;
                    num = num.max((est - g[(i, j)]).abs());
                    den = den.max(g[(i, j)].abs());
                }
            }
        }
        errs.push(num / den);
    }
    eprintln!("theorem 1 relative errors for beta = 1e-1, 1e-2, 1e-3: {errs:?}");
    assert!(errs[2] < 5e-3, "β = 1e-3: relative error {:.3e}", errs[2]);
    assert!(
        errs[0] > errs[1] && errs[1] > errs[2],
        "error must shrink with β: {errs:?}"
    );
    // the error is O(β)
    assert!(errs[1] / errs[2] > 5.0, "convergence order: {errs:?}");
}
