//! Initial weights and biases.
//!
//! Two flavours:
//!
//! * **Clean** ([`init_weights`], [`init_biases`]): draw from any seeded [`rand::Rng`] (e.g.
//!   `StdRng::seed_from_u64`), Normal(mean, std) clipped to `[mean − clip, mean + clip]`, only
//!   where the mask is `> 0`. Use this for new experiments.
//! * **Reference parity** ([`reference_init`], [`reference_init_full`]): reproduces the
//!   reference's initial W, b (and interneuron matrices) bit for bit from the seed, through
//!   the numpy legacy RNG emulation [`NumpyRandomState`] (spec §9, golden README §5.9).
//!
//! ```
//! use lagrange_circuits::{Architecture, DrawOrder, InitParams, TopologySpec, reference_init};
//! let mut spec = TopologySpec::new(vec![3, 5, 4, 2], Architecture::LayeredFeedforward,
//!                                  vec![1.0, 0.5, 0.25]);
//! spec.bias_factor_shift = true;
//! let topo = spec.build().unwrap();
//! let w = InitParams { mean: 0.0, std: 0.6, clip: 1.5 };
//! let b = InitParams { mean: 0.0, std: 0.2, clip: 0.5 };
//! let (w0, b0) = reference_init(&topo, w, Some(b), 2354323495, DrawOrder::SingleSample);
//! assert_eq!(w0.shape(), (14, 14));
//! assert_eq!(b0.len(), 14);
//! ```

use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::CircuitError;
use crate::rng::NumpyRandomState;
use crate::topology::Topology;

/// Parameters of a clipped normal initialisation (the reference's `w_init` / `b_init`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitParams {
    /// Mean of the normal distribution.
    pub mean: f64,
    /// Standard deviation (`>= 0`).
    pub std: f64,
    /// Half-width of the clip interval around the mean (`>= 0`; `f64::INFINITY` disables
    /// clipping).
    pub clip: f64,
}

impl InitParams {
    /// Checks `mean` finite, `std` finite and `>= 0`, `clip >= 0` (not NaN).
    pub fn validate(&self) -> Result<(), CircuitError> {
        if !self.mean.is_finite() {
            return Err(CircuitError::InvalidInitParam {
                field: "mean",
                value: self.mean,
                reason: "must be finite",
            });
        }
        if !self.std.is_finite() || self.std < 0.0 {
            return Err(CircuitError::InvalidInitParam {
                field: "std",
                value: self.std,
                reason: "must be finite and >= 0",
            });
        }
        if self.clip.is_nan() || self.clip < 0.0 {
            return Err(CircuitError::InvalidInitParam {
                field: "clip",
                value: self.clip,
                reason: "must be >= 0",
            });
        }
        Ok(())
    }

    fn clip_value(&self, x: f64, lo: f64, hi: f64) -> f64 {
        // np.clip(x, lo, hi) == minimum(maximum(x, lo), hi)
        let y = if x < lo { lo } else { x };
        if y > hi { hi } else { y }
    }
}

/// Which reference model file to imitate. It fixes the draw order of W and b **and** the
/// clip interval (spec §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrawOrder {
    /// Batched torch file (`lagrange_model_torch_batched.py`, MNIST): b (if biases are on),
    /// then W, then the interneuron draws. Clip interval `[−clip, +clip]`.
    Batched,
    /// Single-sample torch file (`lagrange_model_torch.py`, iEEG): W, then b (if biases are
    /// on), then the interneuron draws. Clip interval `[mean − clip, mean + clip]`.
    SingleSample,
}

impl DrawOrder {
    fn clip_bounds(self, p: &InitParams) -> (f64, f64) {
        match self {
            DrawOrder::Batched => (-p.clip, p.clip),
            DrawOrder::SingleSample => (p.mean - p.clip, p.mean + p.clip),
        }
    }
}

/// Initial interneuron-circuit matrices (spec §9.1, `use_interneurons`).
#[derive(Debug, Clone, PartialEq)]
pub struct InterneuronInit {
    /// Interneuron biases b^I (a bias draw; zeros when biases are off).
    pub b_i: DVector<f64>,
    /// Pyramidal → interneuron weights W_IP (a weight draw, same mask as W).
    pub w_ip: DMatrix<f64>,
    /// Interneuron → pyramidal weights W_PI (a weight draw, then transposed; plays Wᵀ).
    pub w_pi: DMatrix<f64>,
    /// Backward weights W_B (a weight draw, transposed, × `b_scale`; plays Wᵀ).
    pub w_b: DMatrix<f64>,
}

/// Everything one reference `_initialize_network` call draws.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceInit {
    /// Initial weights W (N×N, zero off the mask).
    pub w: DMatrix<f64>,
    /// Initial biases b (zeros when biases are off).
    pub b: DVector<f64>,
    /// Interneuron matrices, if requested.
    pub interneurons: Option<InterneuronInit>,
}

/// Full description of a reference-compatible initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceInitSpec {
    /// Weight distribution (`w_init`).
    pub weights: InitParams,
    /// Bias distribution (`b_init`); `None` means `use_biases = false`: zero biases and **no
    /// random numbers consumed**.
    pub biases: Option<InitParams>,
    /// Seed of numpy's global RNG (`rnd_seed`; the reference default is 2354323495).
    pub seed: u32,
    /// Reference model file to imitate.
    pub order: DrawOrder,
    /// `Some(b_scale)` draws the interneuron circuit too (`use_interneurons = true`);
    /// `b_scale` is `arg_interneuron_b_scale`.
    #[serde(default)]
    pub interneuron_b_scale: Option<f64>,
    /// Index of the draw to keep, counting from 1 after seeding. The torch constructors draw,
    /// warm up (no RNG use), then redraw, so the reference's final state is draw **2**
    /// (the default). Use 1 for the TF file (which restores the first draw).
    #[serde(default = "default_draw_index")]
    pub draw_index: usize,
}

fn default_draw_index() -> usize {
    2
}

/// One weight draw of the reference: full N×N normal matrix in row-major order, clipped,
/// multiplied by `(mask > 0)` (a literal multiplication, so clipped negative values off the
/// mask become `-0.0`, as in numpy).
fn reference_weight_draw(
    rs: &mut NumpyRandomState,
    mask: &DMatrix<f64>,
    p: &InitParams,
    order: DrawOrder,
) -> DMatrix<f64> {
    let n = mask.nrows();
    let (lo, hi) = order.clip_bounds(p);
    let mut w = rs.normal_matrix(n, mask.ncols(), p.mean, p.std);
    for (x, &m) in w.iter_mut().zip(mask.iter()) {
        *x = p.clip_value(*x, lo, hi) * if m > 0.0 { 1.0 } else { 0.0 };
    }
    w
}

/// One bias draw of the reference (length N, clipped, × `(bias_mask > 0)`), or zeros without
/// consuming random numbers when `p` is `None`.
fn reference_bias_draw(
    rs: &mut NumpyRandomState,
    mask: &DVector<f64>,
    p: Option<&InitParams>,
    order: DrawOrder,
) -> DVector<f64> {
    match p {
        None => DVector::zeros(mask.len()),
        Some(p) => {
            let (lo, hi) = order.clip_bounds(p);
            let mut b = rs.normal_vector(mask.len(), p.mean, p.std);
            for (x, &m) in b.iter_mut().zip(mask.iter()) {
                *x = p.clip_value(*x, lo, hi) * if m > 0.0 { 1.0 } else { 0.0 };
            }
            b
        }
    }
}

/// Performs exactly the draws of one reference `_initialize_network` call on an existing
/// numpy RNG stream (spec §9.1): W and b in the order of `order`, then, if
/// `interneuron_b_scale` is `Some`, b^I, W_IP, W_PI (transposed) and W_B (transposed,
/// × b_scale), each with the same parameters and masks as b and W.
///
/// b^I follows the same rule as b: without biases it is zero and consumes nothing
/// (assumption; no fixture has interneurons without biases).
pub fn reference_draw(
    rs: &mut NumpyRandomState,
    topology: &Topology,
    weights: &InitParams,
    biases: Option<&InitParams>,
    order: DrawOrder,
    interneuron_b_scale: Option<f64>,
) -> ReferenceInit {
    let mask = topology.weight_mask();
    let bmask = topology.bias_mask();
    let (w, b) = match order {
        DrawOrder::Batched => {
            let b = reference_bias_draw(rs, bmask, biases, order);
            let w = reference_weight_draw(rs, mask, weights, order);
            (w, b)
        }
        DrawOrder::SingleSample => {
            let w = reference_weight_draw(rs, mask, weights, order);
            let b = reference_bias_draw(rs, bmask, biases, order);
            (w, b)
        }
    };
    let interneurons = interneuron_b_scale.map(|b_scale| {
        let b_i = reference_bias_draw(rs, bmask, biases, order);
        let w_ip = reference_weight_draw(rs, mask, weights, order);
        let w_pi = reference_weight_draw(rs, mask, weights, order).transpose();
        let w_b = reference_weight_draw(rs, mask, weights, order).transpose() * b_scale;
        InterneuronInit {
            b_i,
            w_ip,
            w_pi,
            w_b,
        }
    });
    ReferenceInit { w, b, interneurons }
}

/// Reference-compatible initial state: seeds numpy's legacy RNG once with `spec.seed`,
/// performs `spec.draw_index` complete initialisations and returns the last one.
///
/// A `draw_index` of 0 is treated as 1.
pub fn reference_init_full(topology: &Topology, spec: &ReferenceInitSpec) -> ReferenceInit {
    let mut rs = NumpyRandomState::new(spec.seed);
    let mut out = reference_draw(
        &mut rs,
        topology,
        &spec.weights,
        spec.biases.as_ref(),
        spec.order,
        spec.interneuron_b_scale,
    );
    for _ in 1..spec.draw_index {
        out = reference_draw(
            &mut rs,
            topology,
            &spec.weights,
            spec.biases.as_ref(),
            spec.order,
            spec.interneuron_b_scale,
        );
    }
    out
}

/// Reference-compatible initial `(W, b)` of a torch model without interneurons: the
/// **second** draw after seeding (spec §9.3, golden README §5.9). `b = None` means biases
/// off (zeros, no random numbers consumed).
///
/// With interneurons the stream differs (the first draw also consumes the interneuron
/// matrices); use [`reference_init_full`] then.
pub fn reference_init(
    topology: &Topology,
    w: InitParams,
    b: Option<InitParams>,
    seed: u32,
    order: DrawOrder,
) -> (DMatrix<f64>, DVector<f64>) {
    let out = reference_init_full(
        topology,
        &ReferenceInitSpec {
            weights: w,
            biases: b,
            seed,
            order,
            interneuron_b_scale: None,
            draw_index: 2,
        },
    );
    (out.w, out.b)
}

fn clipped_normal(params: &InitParams) -> Result<(Normal<f64>, f64, f64), CircuitError> {
    params.validate()?;
    let normal =
        Normal::new(params.mean, params.std).map_err(|_| CircuitError::InvalidInitParam {
            field: "std",
            value: params.std,
            reason: "must be finite and >= 0",
        })?;
    Ok((normal, params.mean - params.clip, params.mean + params.clip))
}

/// Clean initial weights: for every synapse of the mask (entries `> 0`, visited row-major),
/// draw Normal(mean, std) from `rng` and clip it to `[mean − clip, mean + clip]`; every other
/// entry is 0. Deterministic for a seeded `rng`.
///
/// ```
/// use lagrange_circuits::{Architecture, InitParams, TopologySpec, init_weights};
/// use rand::{SeedableRng, rngs::StdRng};
/// let topo = TopologySpec::new(vec![2, 3, 1], Architecture::LayeredFeedforward, vec![1.0, 1.0])
///     .build().unwrap();
/// let mut rng = StdRng::seed_from_u64(42);
/// let w = init_weights(&topo, &InitParams { mean: 0.0, std: 0.5, clip: 1.0 }, &mut rng).unwrap();
/// assert_eq!(w[(0, 0)], 0.0); // no synapse onto an input neuron
/// ```
pub fn init_weights<R: rand::Rng + ?Sized>(
    topology: &Topology,
    params: &InitParams,
    rng: &mut R,
) -> Result<DMatrix<f64>, CircuitError> {
    let (normal, lo, hi) = clipped_normal(params)?;
    let mask = topology.weight_mask();
    let n = topology.n_neurons();
    let mut w = DMatrix::zeros(n, n);
    for i in 0..n {
        for j in 0..n {
            if mask[(i, j)] > 0.0 {
                w[(i, j)] = normal.sample(rng).clamp(lo, hi);
            }
        }
    }
    Ok(w)
}

/// Clean initial biases: Normal(mean, std) clipped to `[mean − clip, mean + clip]` where the
/// bias mask is `> 0`, 0 elsewhere.
pub fn init_biases<R: rand::Rng + ?Sized>(
    topology: &Topology,
    params: &InitParams,
    rng: &mut R,
) -> Result<DVector<f64>, CircuitError> {
    let (normal, lo, hi) = clipped_normal(params)?;
    let mask = topology.bias_mask();
    Ok(DVector::from_iterator(
        mask.len(),
        mask.iter().map(|&m| {
            if m > 0.0 {
                normal.sample(rng).clamp(lo, hi)
            } else {
                0.0
            }
        }),
    ))
}
