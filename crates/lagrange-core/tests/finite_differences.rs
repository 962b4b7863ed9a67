//! Finite-difference checks: ∂L/∂u is the gradient of L, H/τ is the Jacobian of ∂L/∂u (and the
//! matrix the simulator assembles), and the plasticity rule is −η ∂L/∂W on the mask.

mod common;
use common::{Arch, random_matrix, random_net};
use lagrange_core::observables::{lagrangian, lagrangian_gradient, lagrangian_hessian};
use lagrange_core::{Activation, InputMode, ModelConfig, Simulator};
use nalgebra::{DMatrix, DVector};

type Setup = (
    lagrange_core::Network<f64>,
    DVector<f64>,
    Vec<f64>,
    DVector<f64>,
    DVector<f64>,
);

const CASES: [(Arch, &[usize]); 3] = [
    (Arch::Feedforward, &[3, 5, 4, 2]),
    (Arch::LayeredRecurrent, &[0, 4, 5, 3]),
    (Arch::FullyRecurrent, &[2, 5, 3]),
];

fn setup(arch: Arch, sizes: &[usize], seed: u64) -> Setup {
    let net = random_net::<f64>(sizes, arch, 0.6, seed);
    let n = net.n();
    let u = random_matrix(n, 1, -1.5, 2.0, seed + 1)
        .column(0)
        .clone_owned();
    let x = random_matrix(sizes[0], 1, 0.0, 1.0, seed + 2)
        .as_slice()
        .to_vec();
    let t = *sizes.last().unwrap();
    let mut beta = DVector::zeros(n);
    let mut y = DVector::zeros(n);
    for i in n - t..n {
        beta[i] = 0.3 + 0.1 * (i % 3) as f64;
        y[i] = 0.2 * (i % 4) as f64;
    }
    (net, u, x, beta, y)
}

#[test]
fn gradient_of_the_lagrangian() {
    for (arch, sizes) in CASES {
        let (net, u, x, beta, y) = setup(arch, sizes, 3);
        let f = lagrangian_gradient(&net, Activation::Sigmoid, &u, &x, &beta, &y);
        let h = 1e-6;
        for i in 0..u.len() {
            let (mut up, mut dn) = (u.clone(), u.clone());
            up[i] += h;
            dn[i] -= h;
            let fd = (lagrangian(&net, Activation::Sigmoid, &up, &x, &beta, &y)
                - lagrangian(&net, Activation::Sigmoid, &dn, &x, &beta, &y))
                / (2.0 * h);
            assert!(
                (fd - f[i]).abs() < 1e-7 * (1.0 + f[i].abs()),
                "{arch:?} dL/du[{i}]: fd {fd} vs {}",
                f[i]
            );
        }
    }
}

#[test]
fn h_is_the_jacobian_of_the_residual() {
    for (arch, sizes) in CASES {
        let (net, u, x, beta, y) = setup(arch, sizes, 5);
        let n = u.len();
        let hs = lagrangian_hessian(&net, Activation::Sigmoid, &u, &x, &beta);
        let h = 1e-6;
        let mut jac = DMatrix::zeros(n, n);
        for j in 0..n {
            let (mut up, mut dn) = (u.clone(), u.clone());
            up[j] += h;
            dn[j] -= h;
            let col = (lagrangian_gradient(&net, Activation::Sigmoid, &up, &x, &beta, &y)
                - lagrangian_gradient(&net, Activation::Sigmoid, &dn, &x, &beta, &y))
                / (2.0 * h);
            jac.set_column(j, &col);
        }
        let err = (&jac - &hs).amax() / hs.amax();
        assert!(err < 1e-8, "{arch:?}: |FD Jacobian − H/τ| = {err:.2e}");
        // the simulator's assembled matrix is τ times the same (dynamic inputs: no clamping)
        let cfg = ModelConfig {
            activation: Activation::Sigmoid,
            inputs: InputMode::Dynamic,
            tau: 7.0,
            ..Default::default()
        };
        let mut sim = Simulator::new(net.clone(), cfg, 1).unwrap();
        sim.state_mut().u.set_column(0, &u);
        sim.set_beta(beta.as_slice()).unwrap();
        let xm = DMatrix::from_column_slice(x.len(), 1, &x);
        let ym = DMatrix::from_column_slice(n, 1, y.as_slice());
        let (hh, _) = sim.linear_system(&xm, &ym, false, 0).unwrap();
        let err = (&hh / 7.0 - &hs).amax() / hs.amax();
        assert!(
            err < 1e-13,
            "{arch:?}: simulator H/τ vs closed form {err:.2e}"
        );
        // symmetric under weight transport
        assert!((&hh - hh.transpose()).amax() < 1e-12 * hh.amax());
    }
}

#[test]
fn plasticity_is_minus_eta_dl_dw_on_the_mask() {
    for (arch, sizes) in CASES {
        let (net, u, x, beta, y) = setup(arch, sizes, 9);
        let n = u.len();
        let eta = 0.01;
        let dt = 0.5;
        let cfg = ModelConfig {
            activation: Activation::Sigmoid,
            inputs: InputMode::Dynamic,
            lr_weights: eta,
            dt,
            ..Default::default()
        };
        let mut sim = Simulator::new(net.clone(), cfg, 1).unwrap();
        sim.state_mut().u.set_column(0, &u);
        sim.set_beta(beta.as_slice()).unwrap();
        let w0 = net.dense_weights();
        let mask = net.dense_mask();
        let xm = DMatrix::from_column_slice(x.len(), 1, &x);
        let ym = DMatrix::from_column_slice(n, 1, y.as_slice());
        sim.step(&xm, &ym, true).unwrap();
        let wdot = (sim.network().dense_weights() - &w0) / dt;
        let h = 1e-6;
        let mut checked = 0;
        for i in 0..n {
            for j in 0..n {
                let mut np = net.clone();
                let mut nm = net.clone();
                let (l, m) = (np.layers().clone(), mask[(i, j)]);
                let (pi, pj) = (l.layer_of(i), l.layer_of(j));
                let Some(k) = net
                    .projections()
                    .iter()
                    .position(|p| p.post == pi && p.pre == pj)
                else {
                    assert_eq!(wdot[(i, j)], 0.0, "Ẇ off the blocks must be 0");
                    continue;
                };
                let (ri, cj) = (i - l.offset(pi), j - l.offset(pj));
                np.projections_mut()[k].weights[(ri, cj)] += h;
                nm.projections_mut()[k].weights[(ri, cj)] -= h;
                let dl = (lagrangian(&np, Activation::Sigmoid, &u, &x, &beta, &y)
                    - lagrangian(&nm, Activation::Sigmoid, &u, &x, &beta, &y))
                    / (2.0 * h);
                let want = -eta * m * dl;
                assert!(
                    (wdot[(i, j)] - want).abs() < 1e-9,
                    "{arch:?} Ẇ[{i},{j}] = {} vs −η m ∂L/∂W = {want}",
                    wdot[(i, j)]
                );
                checked += 1;
            }
        }
        assert!(checked > 10);
    }
}
