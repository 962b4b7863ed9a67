//! Train your own NLA network with the library API: `fit`/`predict` over a stream of samples
//! (with the fade between samples), a streaming time series with per-channel nudging, and `.npy`
//! export for Python users.
//!
//! ```text
//! cargo run --release -p lagrange-experiments --example train_your_own
//! ```

use lagrange_circuits::{Architecture, InitParams, TopologySpec, init_weights};
use lagrange_core::{Activation, Layers, ModelConfig, Network, Simulator};
use lagrange_experiments::io::{export_network, write_npy};
use lagrange_experiments::{PresentOptions, Presenter, Stream};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;

fn main() -> anyhow::Result<()> {
    // 1. A 4-8-2 feed-forward hard-sigmoid net learns XOR-like targets with fit/predict.
    let topo = TopologySpec::new(
        vec![4, 8, 2],
        Architecture::LayeredFeedforward,
        vec![1.0, 1.0],
    )
    .build()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let w = init_weights(
        &topo,
        &InitParams {
            mean: 0.0,
            std: 0.3,
            clip: 0.9,
        },
        &mut rng,
    )?;
    let net = Network::from_dense(
        Layers::new(topo.layers())?,
        &w,
        topo.weight_mask(),
        DVector::from_element(topo.n_neurons(), 0.1),
        topo.bias_mask().clone(),
    )?;
    let cfg = ModelConfig {
        activation: Activation::HardSigmoid,
        lr_weights: 0.02,
        lr_biases: 0.02,
        learn_biases: true,
        ..ModelConfig::default()
    };
    let mut sim = Simulator::<f64>::new(net, cfg, 4)?;
    // four samples, one per column: inputs (a, b, 1−a, 1−b), targets (a xor b, not)
    let x = DMatrix::from_column_slice(
        4,
        4,
        &[
            0., 0., 1., 1., 0., 1., 1., 0., 1., 0., 0., 1., 1., 1., 0., 0.,
        ],
    );
    let y = DMatrix::from_column_slice(2, 4, &[0.2, 0.8, 0.8, 0.2, 0.8, 0.2, 0.2, 0.8]);
    let mut p = Presenter::new(PresentOptions {
        steps: 50,
        fade: true,
        beta: 0.5,
        fade_width: None,
    });
    for epoch in 0..=60 {
        if epoch % 20 == 0 {
            let out = p.predict(&mut sim, &x, 4)?;
            println!(
                "epoch {epoch:>2}: |prediction − target| = {:.4}",
                (&out - &y).norm()
            );
        }
        p.fit(&mut sim, &x, &y, 4)?;
    }
    let dir = std::env::temp_dir().join("lagrange-example");
    export_network(&dir, sim.network())?; // weights.npy, weight_mask.npy, biases.npy, bias_mask.npy
    println!("weights exported to {}", dir.display());

    // 2. A recurrent net without inputs follows a two-channel time series; channel 1 is nudged
    //    during training and left free at test, where it is completed from channel 0.
    let topo =
        TopologySpec::new(vec![0, 6, 2], Architecture::FullyRecurrent, vec![1.0, 1.0]).build()?;
    let w = init_weights(
        &topo,
        &InitParams {
            mean: 0.0,
            std: 0.1,
            clip: 0.3,
        },
        &mut rng,
    )?;
    let n = topo.n_neurons();
    let net = Network::from_dense(
        Layers::new(topo.layers())?,
        &w,
        topo.weight_mask(),
        DVector::zeros(n),
        DVector::zeros(n),
    )?;
    let cfg = ModelConfig {
        lr_weights: 1e-3,
        ..ModelConfig::default()
    };
    let mut stream = Stream::new(Simulator::<f64>::new(net, cfg, 1)?)?;
    let signal = |t: usize| {
        let s = (t as f64 * 0.02).sin();
        [s, 0.5 * s]
    };
    for t in 0..20_000 {
        stream.push(&signal(t), &[0.1, 0.1], true)?;
    }
    let mut trace = DMatrix::zeros(500, 3);
    for t in 0..500 {
        let v = stream.push(&signal(t), &[10.0, 0.0], false)?;
        trace[(t, 0)] = signal(t)[1];
        trace[(t, 1)] = v[1];
        trace[(t, 2)] = v[0];
    }
    let err = (0..500)
        .map(|t| (trace[(t, 0)] - trace[(t, 1)]).powi(2))
        .sum::<f64>()
        / 500.0;
    println!("free channel completed from the clamped one: MSE {err:.4}");
    write_npy(&dir.join("trace.npy"), &trace)?; // columns: target, free voltage, clamped voltage
    Ok(())
}
