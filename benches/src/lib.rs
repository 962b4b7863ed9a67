//! Benchmark workloads for lagrange: the network shapes of the two experiments, built once and
//! shared by the criterion benches (`benches/step.rs`) and `cargo xtask bench`.

use lagrange_circuits::{Architecture, InitParams, TopologySpec, init_biases, init_weights};
use lagrange_core::{
    Activation, InputMode, Layers, Method, ModelConfig, Network, Real, Simulator, Solver,
};
use nalgebra::DMatrix;
use rand::{SeedableRng, rngs::StdRng};

/// A ready-to-step simulator with its input and target.
pub struct Workload<T: Real> {
    /// The simulator (state already warmed up by a few steps).
    pub sim: Simulator<T>,
    /// Input, n_0 × B.
    pub input: DMatrix<T>,
    /// Target, T × B.
    pub target: DMatrix<T>,
    /// FLOPs of one step by the cost model of `benches/README.md` (for GFLOP/s).
    pub flops: f64,
}

fn network(
    layers: &[usize],
    arch: Architecture,
    factors: Vec<f64>,
    std: f64,
    seed: u64,
) -> Network<f64> {
    let mut spec = TopologySpec::new(layers.to_vec(), arch, factors);
    spec.only_discriminative = true;
    let topo = spec.build().expect("valid topology");
    let mut rng = StdRng::seed_from_u64(seed);
    let w = init_weights(
        &topo,
        &InitParams {
            mean: 0.0,
            std,
            clip: 3.0 * std,
        },
        &mut rng,
    )
    .expect("init");
    let b = init_biases(
        &topo,
        &InitParams {
            mean: 0.0,
            std: 0.1,
            clip: 0.3,
        },
        &mut rng,
    )
    .expect("init");
    Network::from_dense(
        Layers::new(layers).expect("layers"),
        &w,
        topo.weight_mask(),
        b,
        topo.bias_mask().clone(),
    )
    .expect("network")
}

fn pattern(rows: usize, cols: usize, phase: f64) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |i, j| {
        0.5 + 0.4 * ((i * 7 + j * 13) as f64 * 0.37 + phase).sin()
    })
}

fn build<T: Real>(
    net: Network<f64>,
    cfg: ModelConfig,
    batch: usize,
    beta: f64,
    flops: f64,
) -> Workload<T> {
    let n0 = net.layers().n_inputs();
    let nt = net.layers().n_outputs();
    let mut sim = Simulator::new(net.cast::<T>(), cfg, batch).expect("simulator");
    sim.set_beta_outputs(T::c(beta));
    let input = pattern(n0, batch, 0.0).map(T::c);
    let target = pattern(nt, batch, 1.0).map(T::c);
    for _ in 0..3 {
        sim.step(&input, &target, true).expect("warm-up step");
    }
    Workload {
        sim,
        input,
        target,
        flops,
    }
}

/// An iEEG net: sigmoid, B = 1, training, β = 0.1 on the visible layer, stepped by `method`
/// (exact: dense solve, Cholesky with LU fallback). FLOPs: 12 products with W, plus for the
/// exact method the dense factor + assembly (2N³/3).
fn ieeg<T: Real>(
    layers: &[usize],
    arch: Architecture,
    std: f64,
    seed: u64,
    method: Method,
    clip_weights: Option<f64>,
) -> Workload<T> {
    let factors = vec![1.0; layers.len() - 1];
    let net = network(layers, arch, factors, std, seed);
    let n = net.n() as f64;
    let products = 12.0 * net.n_synapses() as f64;
    let flops = match method {
        Method::Exact => n * n * n / 3.0 * 2.0 + products,
        _ => products,
    };
    let cfg = ModelConfig {
        activation: Activation::Sigmoid,
        solver: Solver::Cholesky,
        method,
        lr_weights: 1e-3,
        clip_weights,
        ..Default::default()
    };
    build(net, cfg, 1, 0.1, flops)
}

/// iEEG layered-recurrent net [0, 40, 100, 56] (19 200 synapses).
pub fn ieeg_layered() -> Workload<f64> {
    ieeg_layered_with(Method::Exact)
}

/// The iEEG layered-recurrent net with W clamped to ±0.5 after every update, as
/// `experiments/ieeg-layered.ron` runs it (weights at the bound are clamped again in later
/// steps, each with a sparse correction of the dense solver's WᵀW).
pub fn ieeg_layered_clipped() -> Workload<f64> {
    layered(Method::Exact, Some(0.5))
}

/// [`ieeg_layered_clipped`] in f32, the precision `experiments/ieeg-layered.ron` runs in (the
/// network is drawn in f64 and cast, so both workloads start from the same weights).
pub fn ieeg_layered_clipped_f32() -> Workload<f32> {
    layered(Method::Exact, Some(0.5))
}

/// iEEG fully recurrent net [0, 40, 56] (9 120 synapses).
pub fn ieeg_recurrent() -> Workload<f64> {
    ieeg_recurrent_with(Method::Exact)
}

/// The iEEG layered-recurrent workload with another method. With [`Method::Euler`] the step does
/// everything an exact step does except the linear solve (rates, errors, the products with W
/// and Ẇ, plasticity, the update): a lower bound of the exact step's time.
pub fn ieeg_layered_with(method: Method) -> Workload<f64> {
    layered(method, None)
}

/// The iEEG layered-recurrent net of every `ieeg_layered*` workload (init std 0.3, seed 1).
fn layered<T: Real>(method: Method, clip_weights: Option<f64>) -> Workload<T> {
    ieeg(
        &[0, 40, 100, 56],
        Architecture::LayeredRecurrent,
        0.3,
        1,
        method,
        clip_weights,
    )
}

/// The iEEG fully recurrent workload with another method (see [`ieeg_layered_with`]).
pub fn ieeg_recurrent_with(method: Method) -> Workload<f64> {
    ieeg(
        &[0, 40, 56],
        Architecture::FullyRecurrent,
        0.1,
        2,
        method,
        None,
    )
}

/// The reference MNIST net 784-300-100-10, hard-sigmoid, B = 180, dynamic inputs as the
/// reference runs it, f32, exact solve (`Method::Exact`) or Euler.
pub fn mnist_b180(method: Method) -> Workload<f32> {
    let layers = [784, 300, 100, 10];
    let net = network(
        &layers,
        Architecture::LayeredFeedforward,
        vec![1.0, 0.2, 0.1],
        0.1,
        3,
    );
    let nnz = 266_200.0f64;
    let b = 180.0;
    let flops = match method {
        Method::Exact => (2.0 * 10.0 + 12.0) * nnz * b,
        _ => 12.0 * nnz * b,
    };
    let cfg = ModelConfig {
        activation: Activation::HardSigmoid,
        method,
        inputs: InputMode::Dynamic,
        lr_weights: 1e-4,
        lr_biases: 1e-4,
        learn_biases: true,
        ..Default::default()
    };
    build(net, cfg, 180, 0.1, flops)
}

/// The mnist-paper net 784-500-10 (paper Fig. 4), hard-sigmoid, B = 50, clamped inputs, f32,
/// exact solve by the structured solver, learned biases, as `experiments/mnist-paper.ron` runs it.
/// FLOPs: three products with the 784×500 block per sample (forward, W r̄ for the plasticity,
/// Ẇ) plus the small layer, i.e. 6 · nnz · B.
pub fn mnist_paper_b50() -> Workload<f32> {
    let layers = [784, 500, 10];
    let net = network(
        &layers,
        Architecture::LayeredFeedforward,
        vec![1.0, 1.0],
        0.01,
        4,
    );
    let nnz = net.n_synapses() as f64;
    let b = 50.0;
    let cfg = ModelConfig {
        activation: Activation::HardSigmoid,
        lr_weights: 0.05,
        lr_biases: 0.05,
        learn_biases: true,
        ..Default::default()
    };
    build(net, cfg, 50, 0.1, 6.0 * nnz * b)
}

impl<T: Real> Workload<T> {
    /// One training step.
    pub fn step(&mut self) {
        self.sim
            .step(&self.input, &self.target, true)
            .expect("step");
    }

    /// Everything of a training step up to u̇ (rates, ε, Ẇ products, the solve or predictor),
    /// without the Euler update.
    pub fn solve(&mut self) {
        self.sim
            .velocity(&self.input, &self.target, true)
            .expect("velocity");
    }

    /// The weight update W += dt Ẇ alone (Ẇ of the last `solve` or `step`).
    pub fn update(&mut self) {
        self.sim.apply_weight_update();
    }

    /// FLOPs of the weight update alone: one product ε r̄ᵀ per plastic block, 2 · nnz · B.
    pub fn update_flops(&self) -> f64 {
        2.0 * self.sim.network().n_synapses() as f64 * self.sim.state().batch() as f64
    }
}
