//! How closely the NLA errors follow exact per-step backprop errors during training (the
//! comparison of paper Fig. 4b2), on the `mnist-paper` network and stream.
//!
//! The NLA network of `experiments/mnist-paper.ron` (f64) trains on the faded stream of the first
//! `TRAIN` batches of the official training set (default 200 batches of 50), then keeps training
//! on `DIAG` more batches (default 20) while, after every step, its errors are compared with those
//! of backprop on the free static forward pass of the input presented at that step (same weights):
//! * hidden: ε_h = u_h − W₁ r̄_in − b₁ (the error of the plasticity Ẇ₁ = η ε_h r̄_inᵀ) against
//!   δ_h = ρ′(h) ⊙ W₂ᵀ δ_o, with h the free hidden voltage;
//! * output: ε_o = u_o − W₂ r̄_h − b₂ against δ_o = β(ŷ − o), with o the free output voltage.
//!
//! Printed per time step of a presentation (mean over samples): the cosine of the two, the norm
//! ratio ‖ε‖/‖δ‖ and the relative difference ‖ε − δ‖/‖δ‖.
//!
//! ```text
//! cargo run --release -p lagrange-experiments --example error_alignment [TRAIN] [DIAG] [REFINE] [sigmoid]
//! ```
//!
//! `REFINE` (default 1) divides dt by that factor and multiplies the steps per presentation by it
//! (same presentation and fade in time), to separate time-discretisation error from the
//! dynamics: at REFINE = 4 the output errors stay aligned through the fade (worst cosine 0.96
//! instead of 0.54) while the hidden ones do not (0.77 instead of 0.76), and halving dt in
//! training changed nothing measurable (10k/10k images, 3 epochs: 8.53, 6.97, 5.64 % against
//! 8.56, 6.78, 5.77 % at dt = 1).

use lagrange_core::Simulator;
use lagrange_experiments::baseline::Backprop;
use lagrange_experiments::config::RunConfig;
use lagrange_experiments::mnist::load_data;
use lagrange_experiments::protocol::fade_weights;
use lagrange_experiments::resolve_config;
use lagrange_experiments::run::build_network;
use nalgebra::{DMatrix, DVectorView};

/// (cosine, norm ratio, relative difference) of a against the reference d.
fn compare(a: DVectorView<'_, f64>, d: DVectorView<'_, f64>) -> [f64; 3] {
    let tiny = 1e-30;
    [
        a.dot(&d) / (a.norm() * d.norm() + tiny),
        a.norm() / (d.norm() + tiny),
        (a - d).norm() / (d.norm() + tiny),
    ]
}

fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: usize| -> anyhow::Result<usize> {
        Ok(match std::env::args().nth(i) {
            Some(s) => s.parse()?,
            None => default,
        })
    };
    let (n_train, n_diag, refine) = (arg(1, 200)?, arg(2, 20)?, arg(3, 1)?.max(1));
    let cfg = RunConfig::load(&resolve_config("mnist-paper"))?;
    let m = cfg
        .mnist
        .clone()
        .ok_or_else(|| anyhow::anyhow!("not MNIST"))?;
    let (train, _, _) = load_data::<f64>(&m, cfg.seed)?;
    let (b, beta, steps) = (m.batch, m.beta, m.steps_per_sample * refine);
    anyhow::ensure!(
        (n_train + n_diag) * b <= train.x.ncols(),
        "at most {} batches",
        train.x.ncols() / b
    );
    let mut model = cfg.model.model_config();
    model.dt /= refine as f64;
    if std::env::args().nth(4).as_deref() == Some("sigmoid") {
        model.activation = lagrange_core::Activation::Sigmoid;
    }
    let act = model.activation;
    let mut sim = Simulator::new(build_network(&cfg)?, model, b)?;
    sim.set_beta_outputs(beta);
    let fade = fade_weights(steps);
    let mut prev: Option<(DMatrix<f64>, DMatrix<f64>)> = None;
    // per step of a presentation: hidden (cos, ratio, rel) then output (cos, ratio, rel)
    let mut acc = vec![[0.0f64; 6]; steps];
    for k in 0..n_train + n_diag {
        let xb = train.x.columns(k * b, b).clone_owned();
        let yb = train.y.columns(k * b, b).clone_owned();
        let (mut x, mut y) = (xb.clone(), yb.clone());
        for (s, &w) in fade.iter().enumerate() {
            if let Some((px, py)) = &prev {
                x = px + (&xb - px) * w;
                y = py + (&yb - py) * w;
            }
            sim.step(&x, &y, true)?;
            if k < n_train {
                continue;
            }
            let net = sim.network();
            let bp = Backprop::from_network(net, act)?;
            let l = net.layers();
            let u = &sim.state().u;
            let rho = |v: &DMatrix<f64>| v.map(|z| act.rho(z));
            // NLA: ε of the hidden and output layers (u after this step, clamped input rows = x)
            let us: Vec<DMatrix<f64>> = (0..3)
                .map(|i| u.rows(l.offset(i), l.size(i)).clone_owned())
                .collect();
            let mut eps = Vec::new();
            for i in 1..3 {
                let mut e = &us[i] - &bp.weights[i - 1] * rho(&us[i - 1]);
                for mut col in e.column_iter_mut() {
                    col -= &bp.biases[i - 1];
                }
                eps.push(e);
            }
            // backprop on the free forward pass of the presented input
            let free = bp.forward(&x);
            let d_o = (&y - &free[1]) * beta;
            let d_h = free[0]
                .map(|z| act.eval(z).1)
                .component_mul(&(bp.weights[1].transpose() * &d_o));
            for c in 0..b {
                let h = compare(eps[0].column(c), d_h.column(c));
                let o = compare(eps[1].column(c), d_o.column(c));
                for (a, v) in acc[s].iter_mut().zip(h.iter().chain(&o)) {
                    *a += v;
                }
            }
        }
        prev = Some((xb, yb));
    }
    println!(
        "step  cos_h  ratio_h  rel_h   cos_o  ratio_o  rel_o   (mean over {} samples)",
        n_diag * b
    );
    let cnt = (n_diag * b).max(1) as f64;
    for (s, a) in acc.iter().enumerate() {
        println!(
            "{s:4}  {:.4} {:.4}  {:.4}  {:.4} {:.4}  {:.4}",
            a[0] / cnt,
            a[1] / cnt,
            a[2] / cnt,
            a[3] / cnt,
            a[4] / cnt,
            a[5] / cnt
        );
    }
    Ok(())
}
