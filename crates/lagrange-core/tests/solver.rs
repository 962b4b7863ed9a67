//! The exact step: structured and dense solvers agree, the solution satisfies H u̇ = g, the
//! explicit `WeightTransport` pathway reproduces the built-in one, and Cholesky falls back to LU.

mod common;
use common::{Arch, random_matrix, random_net, rel_err};
use lagrange_core::{
    Activation, InputMode, Method, ModelConfig, Simulator, Solver, WeightTransport,
};
use nalgebra::DMatrix;

fn cfg(act: Activation, inputs: InputMode, structured: bool) -> ModelConfig {
    ModelConfig {
        activation: act,
        inputs,
        structured_solver: structured,
        lr_weights: 1e-2,
        lr_biases: 1e-2,
        learn_biases: true,
        ..Default::default()
    }
}

/// Runs a few steps from a random state, returns the u̇ of each step.
fn run(
    sizes: &[usize],
    arch: Arch,
    c: ModelConfig,
    beta: &[f64],
    b: usize,
    seed: u64,
    pathway: bool,
) -> (Vec<DMatrix<f64>>, lagrange_core::SolveStats) {
    let net = random_net::<f64>(sizes, arch, 0.5, seed);
    let n = net.n();
    let n0 = sizes[0];
    let mut sim = Simulator::new(net, c, b).unwrap();
    if pathway {
        sim.set_pathway(Box::new(WeightTransport));
    }
    sim.state_mut().u = random_matrix(n, b, -0.5, 1.5, seed + 1);
    sim.set_beta(beta).unwrap();
    let nt = *sizes.last().unwrap();
    let mut out = vec![];
    for k in 0..4 {
        let x = random_matrix(n0, b, 0.0, 1.0, seed + 10 + k);
        let y = random_matrix(nt, b, 0.0, 1.0, seed + 20 + k);
        sim.step(&x, &y, true).unwrap();
        out.push(sim.state().udot.clone());
    }
    (out, sim.stats())
}

#[test]
fn structured_solver_matches_dense_on_feedforward_nets() {
    for act in [Activation::HardSigmoid, Activation::Relu] {
        for inputs in [InputMode::Clamped, InputMode::Dynamic] {
            for (beta, sizes) in [
                (vec![0.1, 0.2, 0.3], vec![4, 6, 5, 3]),
                (vec![], vec![3, 7, 2]),
                (vec![0.5, 0.0, 0.0, 0.0, 0.0, 2.0], vec![5, 4, 4, 3]),
            ] {
                let (a, sa) = run(
                    &sizes,
                    Arch::Feedforward,
                    cfg(act, inputs, true),
                    &beta,
                    3,
                    7,
                    false,
                );
                let (d, sd) = run(
                    &sizes,
                    Arch::Feedforward,
                    cfg(act, inputs, false),
                    &beta,
                    3,
                    7,
                    false,
                );
                assert!(
                    sa.structured > 0 && sa.cholesky == 0,
                    "structured path not taken: {sa:?}"
                );
                assert!(
                    sd.structured == 0 && sd.cholesky > 0,
                    "dense path not taken: {sd:?}"
                );
                for (x, y) in a.iter().zip(&d) {
                    let e = rel_err(x.as_slice(), y.as_slice());
                    assert!(
                        e <= 1e-10,
                        "{act:?} {inputs:?} beta={beta:?}: structured vs dense {e:.2e}"
                    );
                }
            }
        }
    }
}

#[test]
fn exact_udot_solves_the_linear_system() {
    for (arch, act, sizes) in [
        (Arch::Feedforward, Activation::HardSigmoid, vec![4, 6, 5, 3]),
        (Arch::Feedforward, Activation::Sigmoid, vec![4, 6, 5, 3]),
        (
            Arch::LayeredRecurrent,
            Activation::Sigmoid,
            vec![0, 5, 7, 4],
        ),
        (Arch::FullyRecurrent, Activation::Sigmoid, vec![0, 6, 4]),
    ] {
        for structured in [true, false] {
            let net = random_net::<f64>(&sizes, arch, 0.5, 3);
            let n = net.n();
            let mut sim = Simulator::new(
                net,
                ModelConfig {
                    solver: Solver::Lu,
                    ..cfg(act, InputMode::Dynamic, structured)
                },
                2,
            )
            .unwrap();
            sim.state_mut().u = random_matrix(n, 2, -1.0, 2.0, 4);
            sim.set_beta_outputs(0.3);
            let x = random_matrix(sizes[0], 2, 0.0, 1.0, 5);
            let y = random_matrix(*sizes.last().unwrap(), 2, 0.0, 1.0, 6);
            sim.step(&x, &y, true).unwrap();
            let x2 = random_matrix(sizes[0], 2, 0.0, 1.0, 7);
            let mut probe = Simulator::new(sim.network().clone(), sim.config().clone(), 2).unwrap();
            probe.set_state(sim.state().clone()).unwrap();
            probe.set_beta_outputs(0.3);
            sim.step(&x2, &y, true).unwrap();
            for s in 0..2 {
                let (h, g) = probe.linear_system(&x2, &y, true, s).unwrap();
                let udot = sim.state().udot.column(s).clone_owned();
                let res = &h * &udot - &g;
                let rel = res.amax() / (h.amax() * udot.amax() + g.amax());
                assert!(
                    rel < 1e-12,
                    "{arch:?} {act:?} structured={structured}: relative residual {rel:.2e}"
                );
            }
        }
    }
}

#[test]
fn explicit_weight_transport_pathway_reproduces_the_builtin_one() {
    for (arch, sizes, inputs) in [
        (Arch::Feedforward, vec![3, 5, 4, 2], InputMode::Clamped),
        (Arch::LayeredRecurrent, vec![0, 4, 5, 3], InputMode::Dynamic),
        (Arch::FullyRecurrent, vec![2, 5, 3], InputMode::Dynamic),
    ] {
        let c = ModelConfig {
            solver: Solver::Lu,
            ..cfg(Activation::Sigmoid, inputs, false)
        };
        let (a, _) = run(&sizes, arch, c.clone(), &[0.2, 0.1], 2, 11, false);
        let (b, _) = run(&sizes, arch, c, &[0.2, 0.1], 2, 11, true);
        for (x, y) in a.iter().zip(&b) {
            let e = rel_err(x.as_slice(), y.as_slice());
            assert!(e < 1e-11, "{arch:?}: pathway trait vs built-in {e:.2e}");
        }
    }
}

#[test]
fn cholesky_falls_back_to_lu_when_h_is_indefinite() {
    // A strongly curved sigmoid net with large errors makes −diag(ρ″⊙e_A) dominate.
    let sizes = [0, 3, 3];
    let net = random_net::<f64>(&sizes, Arch::FullyRecurrent, 6.0, 21);
    let n = net.n();
    let mut sim = Simulator::new(
        net,
        ModelConfig {
            activation: Activation::Sigmoid,
            method: Method::Exact,
            solver: Solver::Cholesky,
            ..Default::default()
        },
        8,
    )
    .unwrap();
    sim.state_mut().u = random_matrix(n, 8, -4.0, 4.0, 22);
    // the same net solved by LU throughout: the fallback must give its u̇ (the factor storage
    // holds a failed partial Cholesky factor when LU takes over)
    let mut lu = Simulator::new(
        sim.network().clone(),
        ModelConfig {
            solver: Solver::Lu,
            ..sim.config().clone()
        },
        8,
    )
    .unwrap();
    lu.state_mut().u = sim.state().u.clone();
    let mut fallbacks = 0;
    for _ in 0..5 {
        let (x, y) = (DMatrix::zeros(0, 8), DMatrix::zeros(0, 8));
        if let Ok(info) = sim.step(&x, &y, false) {
            fallbacks += info.cholesky_fallbacks;
            lu.step(&x, &y, false).unwrap();
            let e = rel_err(sim.state().udot.as_slice(), lu.state().udot.as_slice());
            assert!(e < 1e-10, "fallback u̇ vs LU u̇: {e:.2e}");
        }
    }
    assert!(
        fallbacks > 0,
        "expected at least one indefinite H: {:?}",
        sim.stats()
    );
    assert_eq!(sim.stats().cholesky_fallbacks, fallbacks);
}
