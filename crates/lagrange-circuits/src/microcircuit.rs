//! The paper's rt-DeEL microcircuit (eLife Algorithm 2, Fig. 5; `paper.md` §A.9) as an
//! [`ErrorPathway`] on layered feed-forward networks.
//!
//! Every hidden layer l (1 ≤ l ≤ L−2; layer 0 holds the inputs, layer L−1 the outputs, which have
//! B = W^PI = 0 and hence no apical error) has a pool of n^I_l linear interneurons:
//!
//! * u^I_l = (1 − β^I) W^IP_l r̄_l + β^I B^IP_l u_(l+1)  (instantaneous),
//! * e^A_l = B_l u_(l+1) − W^PI_l u^I_l  (apical error; the somatic error is ρ′(u_l) ⊙ e^A_l),
//! * Ẇ^IP_l = η_IP (u^I_l − W^IP_l r̄_l) r̄_lᵀ, Ẇ^PI_l = η_PI (B_l u_(l+1) − W^PI_l u^I_l) u^I_lᵀ
//!   (batch means, masked by the optional per-layer masks),
//! * B_l fixed (feedback alignment) or, with [`FeedbackLearning::TowardForwardTranspose`],
//!   Ḃ_l = η_B (W_(l+1)ᵀ − B_l) (a non-local stand-in for a PAL-type rule).
//!
//! # The linear system
//!
//! The core solves (★) τu̇ = −u + W r + b + pad(x) + τ(Ẇ r̄ + ḃ + pad(ẋ)) + ē + τ dē/dt with
//! ē = ρ′⊙e_A + β̂⊙(ŷ − u). Writing ė_A = J u̇ + ∂_t e_A (J = ∂e_A/∂u), the τ ρ′⊙ė_A part moves
//! −τ D J to the left and τ ρ′⊙∂_t e_A to the right; the τ ρ″⊙u̇⊙e_A part is the core's
//! −diag(ρ″⊙e_A). With u̇^I_l = (1−β^I) W^IP_l D_l u̇_l + β^I B^IP_l u̇_(l+1) + (1−β^I) Ẇ^IP_l r̄_l:
//!
//! * J block (l, l+1) = B_l − β^I W^PI_l B^IP_l, block (l, l) = −(1−β^I) W^PI_l W^IP_l D_l, so
//!   P_b has the blocks −D_l (B_l − β^I W^PI_l B^IP_l) and +(1−β^I) D_l W^PI_l W^IP_l D_l;
//! * q_l = ρ′_l ⊙ [e^A_l + τ(Ḃ_l u_(l+1) − Ẇ^PI_l u^I_l − (1−β^I) W^PI_l Ẇ^IP_l r̄_l)].
//!
//! `tests/microcircuit.rs` checks this against a central finite difference of ē along the
//! solved trajectory.
//!
//! Like [`crate::interneurons::ReferenceInterneurons`], [`Microcircuit`] is a cloneable handle to
//! shared state, so that the monitors stay readable after the pathway is boxed into the
//! simulator.

use crate::error::CircuitError;
use crate::init::InitParams;
use crate::interneurons::check_activation;
use lagrange_core::{Activation, CoreError, ErrorPathway, Network, PathwayContext, Real};
use nalgebra::DMatrix;
use rand_distr::{Distribution, Normal};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How the top-down weights B_l evolve.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum FeedbackLearning {
    /// B_l stays at its (random) initial value: feedback alignment (the paper's default).
    #[default]
    Fixed,
    /// Ḃ_l = η_B (W_(l+1)ᵀ − B_l).
    TowardForwardTranspose {
        /// η_B (per ms).
        lr: f64,
    },
}

/// Parameters of a [`Microcircuit`].
#[derive(Debug, Clone, PartialEq)]
pub struct MicrocircuitConfig {
    /// ρ; must be the simulator's activation (checked at every step).
    pub activation: Activation,
    /// n^I_l for the hidden layers l = 1 … L−2 (length L−2), each ≥ 1.
    pub interneurons: Vec<usize>,
    /// β^I ∈ [0, 1]: top-down nudging of the interneurons (paper: 0.1/1.1).
    pub beta_i: f64,
    /// η_IP (per ms).
    pub lr_ip: f64,
    /// η_PI (per ms).
    pub lr_pi: f64,
    /// Fixed or learned B.
    pub feedback: FeedbackLearning,
    /// When true (default) the microcircuit learns only in steps with the core's `train` flag.
    pub gate_on_train: bool,
}

impl Default for MicrocircuitConfig {
    fn default() -> Self {
        MicrocircuitConfig {
            activation: Activation::HardSigmoid,
            interneurons: Vec::new(),
            beta_i: 0.1 / 1.1,
            lr_ip: 1e-3,
            lr_pi: 1e-3,
            feedback: FeedbackLearning::Fixed,
            gate_on_train: true,
        }
    }
}

/// The matrices of one hidden layer's microcircuit (n_l pyramidal cells, n^I interneurons,
/// n_(l+1) pyramidal cells above).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerCircuit<T: Real> {
    /// W^IP_l, n^I × n_l.
    pub w_ip: DMatrix<T>,
    /// W^PI_l, n_l × n^I.
    pub w_pi: DMatrix<T>,
    /// B_l, n_l × n_(l+1).
    pub b: DMatrix<T>,
    /// B^IP_l, n^I × n_(l+1) (fixed).
    pub b_ip: DMatrix<T>,
    /// Learning-rate factors of W^IP (n^I × n_l); `None` = all ones.
    pub mask_ip: Option<DMatrix<T>>,
    /// Learning-rate factors of W^PI (n_l × n^I); `None` = all ones.
    pub mask_pi: Option<DMatrix<T>>,
}

/// Random initial values of the microcircuit (paper Fig. 5: W ~ N(0, 0.01²) clipped at ±0.03,
/// B ~ 5·N(0, 0.01²) clipped at ±0.15).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MicrocircuitInit {
    /// W^IP and W^PI.
    pub lateral: InitParams,
    /// B and B^IP.
    pub feedback: InitParams,
}

impl Default for MicrocircuitInit {
    fn default() -> Self {
        MicrocircuitInit {
            lateral: InitParams {
                mean: 0.0,
                std: 0.01,
                clip: 0.03,
            },
            feedback: InitParams {
                mean: 0.0,
                std: 0.05,
                clip: 0.15,
            },
        }
    }
}

#[derive(Debug, Clone)]
struct Scratch<T: Real> {
    u_i: DMatrix<T>,
    e_a: DMatrix<T>,
    bp: DMatrix<T>,
    wdot_ip: DMatrix<T>,
    wdot_pi: DMatrix<T>,
    bdot: DMatrix<T>,
    /// B − β^I W^PI B^IP
    m_up: DMatrix<T>,
    /// (1 − β^I) W^PI W^IP
    m_lat: DMatrix<T>,
}

struct Inner<T: Real> {
    cfg: MicrocircuitConfig,
    sizes: Vec<usize>,
    offsets: Vec<usize>,
    layers: Vec<LayerCircuit<T>>,
    scratch: Vec<Scratch<T>>,
    warnings: Vec<String>,
    steps: u64,
}

/// The rt-DeEL microcircuit pathway; a cloneable handle to shared state.
#[derive(Clone)]
pub struct Microcircuit<T: Real> {
    inner: Arc<RwLock<Inner<T>>>,
}

impl<T: Real> std::fmt::Debug for Microcircuit<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.read();
        f.debug_struct("Microcircuit")
            .field("config", &s.cfg)
            .field("sizes", &s.sizes)
            .field("steps", &s.steps)
            .finish()
    }
}

/// Frobenius angle (degrees) between two matrices of equal shape; 90 if either is zero.
pub fn frobenius_angle<T: Real>(a: &DMatrix<T>, b: &DMatrix<T>) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| x.f64_() * y.f64_())
        .sum();
    let na = a.iter().map(|x| x.f64_().powi(2)).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x.f64_().powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return 90.0;
    }
    (dot / (na * nb)).clamp(-1.0, 1.0).acos().to_degrees()
}

fn forward_block<T: Real>(net: &Network<T>, post: usize, pre: usize) -> Option<&DMatrix<T>> {
    net.projections()
        .iter()
        .find(|p| p.post == post && p.pre == pre)
        .map(|p| &p.weights)
}

fn core_err(e: CircuitError) -> CoreError {
    e.into()
}

impl<T: Real> Microcircuit<T> {
    /// A microcircuit for `network` with the given per-layer matrices (one [`LayerCircuit`] per
    /// hidden layer, in order). Errors name the offending field: the network must be layered
    /// feed-forward (only projections l → l+1), `config.interneurons` must have one nonzero
    /// entry per hidden layer, β^I ∈ [0, 1], learning rates ≥ 0, and every matrix and mask must
    /// have its shape. Fewer interneurons than min(n_l, n_(l+1)) is allowed but reported by
    /// [`Microcircuit::warnings`] (Theorem 2 then cannot hold).
    pub fn new(
        network: &Network<T>,
        config: MicrocircuitConfig,
        layers: Vec<LayerCircuit<T>>,
    ) -> Result<Self, CircuitError> {
        let sizes = network.layers().sizes().to_vec();
        let warnings = validate(network, &config, Some(&layers))?;
        let scratch = layers
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let (nl, nu, ni) = (sizes[k + 1], sizes[k + 2], c.w_ip.nrows());
                Scratch {
                    u_i: DMatrix::zeros(ni, 1),
                    e_a: DMatrix::zeros(nl, 1),
                    bp: DMatrix::zeros(nl, 1),
                    wdot_ip: DMatrix::zeros(ni, nl),
                    wdot_pi: DMatrix::zeros(nl, ni),
                    bdot: DMatrix::zeros(nl, nu),
                    m_up: DMatrix::zeros(nl, nu),
                    m_lat: DMatrix::zeros(nl, nl),
                }
            })
            .collect();
        Ok(Microcircuit {
            inner: Arc::new(RwLock::new(Inner {
                offsets: network.layers().offsets().to_vec(),
                sizes,
                cfg: config,
                layers,
                scratch,
                warnings,
                steps: 0,
            })),
        })
    }

    /// A microcircuit with random matrices drawn from `init` (clipped normals) with `rng`.
    pub fn random<R: rand::Rng + ?Sized>(
        network: &Network<T>,
        config: MicrocircuitConfig,
        init: MicrocircuitInit,
        rng: &mut R,
    ) -> Result<Self, CircuitError> {
        validate(network, &config, None)?;
        let sizes = network.layers().sizes();
        let mut draw = |p: &InitParams, r: usize, c: usize| -> Result<DMatrix<T>, CircuitError> {
            p.validate()?;
            let normal =
                Normal::new(p.mean, p.std).map_err(|_| CircuitError::InvalidInitParam {
                    field: "std",
                    value: p.std,
                    reason: "must be finite and >= 0",
                })?;
            let (lo, hi) = (p.mean - p.clip, p.mean + p.clip);
            Ok(DMatrix::from_fn(r, c, |_, _| {
                T::c(normal.sample(rng).clamp(lo, hi))
            }))
        };
        let mut layers = Vec::new();
        for (k, &ni) in config.interneurons.iter().enumerate() {
            let (nl, nu) = (sizes[k + 1], sizes[k + 2]);
            layers.push(LayerCircuit {
                w_ip: draw(&init.lateral, ni, nl)?,
                w_pi: draw(&init.lateral, nl, ni)?,
                b: draw(&init.feedback, nl, nu)?,
                b_ip: draw(&init.feedback, ni, nu)?,
                mask_ip: None,
                mask_pi: None,
            });
        }
        Self::new(network, config, layers)
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner<T>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, Inner<T>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Warnings found at construction (e.g. n^I_l < min(n_l, n_(l+1))).
    pub fn warnings(&self) -> Vec<String> {
        self.read().warnings.clone()
    }
    /// The configuration.
    pub fn config(&self) -> MicrocircuitConfig {
        self.read().cfg.clone()
    }
    /// Number of hidden layers with a microcircuit (L−2).
    pub fn n_circuits(&self) -> usize {
        self.read().layers.len()
    }
    /// The matrices of hidden layer `1 + k` (k = 0 … L−3).
    pub fn layer(&self, k: usize) -> LayerCircuit<T> {
        self.read().layers[k].clone()
    }
    /// Replaces the matrices of hidden layer `1 + k` (shapes must match).
    pub fn set_layer(&self, k: usize, c: LayerCircuit<T>) -> Result<(), CircuitError> {
        let mut s = self.write();
        let (nl, nu, ni) = (s.sizes[k + 1], s.sizes[k + 2], s.cfg.interneurons[k]);
        check_layer(k, &c, nl, nu, ni)?;
        s.layers[k] = c;
        Ok(())
    }
    /// Number of completed steps.
    pub fn steps(&self) -> u64 {
        self.read().steps
    }
    /// Changes η_IP and η_PI for the following steps (e.g. 0 to freeze the circuit).
    pub fn set_learning_rates(&self, lr_ip: f64, lr_pi: f64) -> Result<(), CircuitError> {
        for (v, f) in [(lr_ip, "lr_ip"), (lr_pi, "lr_pi")] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CircuitError::config(
                    f,
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        let mut s = self.write();
        s.cfg.lr_ip = lr_ip;
        s.cfg.lr_pi = lr_pi;
        Ok(())
    }
    /// Fig. 5b3 monitor: per hidden layer, the Frobenius angle (degrees) between W^PI_l W^IP_l
    /// and B_l W_(l+1), with W_(l+1) taken from `network`.
    pub fn alignment_angles(&self, network: &Network<T>) -> Vec<f64> {
        let s = self.read();
        s.layers
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let l = k + 1;
                match forward_block(network, l + 1, l) {
                    Some(w) => frobenius_angle(&(&c.w_pi * &c.w_ip), &(&c.b * w)),
                    None => 90.0,
                }
            })
            .collect()
    }
    /// Per hidden layer, from the last step: (angle in degrees, relative error) between the
    /// apical error e^A_l and the (1 − β^I)-scaled B-backpropagated error (1 − β^I) B_l ē_(l+1)
    /// with ē_(l+1) = u_(l+1) − W_(l+1) r̄_l − b_(l+1) (all samples together). With aligned loops
    /// (Theorem 2) and no biases in layer l+1 both go to 0.
    pub fn apical_vs_backprop(&self) -> Vec<(f64, f64)> {
        let s = self.read();
        s.scratch
            .iter()
            .map(|sc| {
                let diff = (&sc.e_a - &sc.bp).norm().f64_();
                let nb = sc.bp.norm().f64_();
                let rel = if nb > 0.0 { diff / nb } else { f64::INFINITY };
                (frobenius_angle(&sc.e_a, &sc.bp), rel)
            })
            .collect()
    }
    /// The apical errors e^A_l of the last step (n_l × B), one per hidden layer.
    pub fn apical_errors(&self) -> Vec<DMatrix<T>> {
        self.read().scratch.iter().map(|s| s.e_a.clone()).collect()
    }
    /// The interneuron voltages u^I_l of the last step (n^I × B), one per hidden layer.
    pub fn interneuron_voltages(&self) -> Vec<DMatrix<T>> {
        self.read().scratch.iter().map(|s| s.u_i.clone()).collect()
    }
}

fn check_layer<T: Real>(
    k: usize,
    c: &LayerCircuit<T>,
    nl: usize,
    nu: usize,
    ni: usize,
) -> Result<(), CircuitError> {
    let l = k + 1;
    let chk = |name: &str, m: &DMatrix<T>, e: (usize, usize)| {
        if m.shape() != e {
            Err(CircuitError::shape(
                format!("layers[{k}].{name} (hidden layer {l})"),
                e,
                m.shape(),
            ))
        } else if m.iter().any(|x| !x.finite_()) {
            Err(CircuitError::config(
                format!("layers[{k}].{name}"),
                "must be finite",
            ))
        } else {
            Ok(())
        }
    };
    chk("w_ip", &c.w_ip, (ni, nl))?;
    chk("w_pi", &c.w_pi, (nl, ni))?;
    chk("b", &c.b, (nl, nu))?;
    chk("b_ip", &c.b_ip, (ni, nu))?;
    if let Some(m) = &c.mask_ip {
        chk("mask_ip", m, (ni, nl))?;
    }
    if let Some(m) = &c.mask_pi {
        chk("mask_pi", m, (nl, ni))?;
    }
    Ok(())
}

fn validate<T: Real>(
    network: &Network<T>,
    cfg: &MicrocircuitConfig,
    layers: Option<&[LayerCircuit<T>]>,
) -> Result<Vec<String>, CircuitError> {
    let sizes = network.layers().sizes();
    let nh = sizes.len().saturating_sub(2);
    if let Some(p) = network.projections().iter().find(|p| p.post != p.pre + 1) {
        return Err(CircuitError::config(
            "network",
            format!(
                "the microcircuit needs a layered feed-forward network (projections l -> l+1 only), found a projection {} -> {}",
                p.pre, p.post
            ),
        ));
    }
    if cfg.interneurons.len() != nh {
        return Err(CircuitError::config(
            "interneurons",
            format!(
                "has {} entries, but the network {:?} has {nh} hidden layers (one count per hidden layer 1..L-2)",
                cfg.interneurons.len(),
                sizes
            ),
        ));
    }
    if let Some(k) = cfg.interneurons.iter().position(|&n| n == 0) {
        return Err(CircuitError::config(
            format!("interneurons[{k}]"),
            "must be >= 1 (hidden layer without interneurons)",
        ));
    }
    if !(cfg.beta_i.is_finite() && (0.0..=1.0).contains(&cfg.beta_i)) {
        return Err(CircuitError::config(
            "beta_i",
            format!("must lie in [0, 1], got {}", cfg.beta_i),
        ));
    }
    let lr_b = match cfg.feedback {
        FeedbackLearning::Fixed => 0.0,
        FeedbackLearning::TowardForwardTranspose { lr } => lr,
    };
    for (v, f) in [
        (cfg.lr_ip, "lr_ip"),
        (cfg.lr_pi, "lr_pi"),
        (lr_b, "feedback.lr"),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(CircuitError::config(
                f,
                format!("must be finite and >= 0, got {v}"),
            ));
        }
    }
    if let Some(layers) = layers {
        if layers.len() != nh {
            return Err(CircuitError::config(
                "layers",
                format!(
                    "has {} entries, expected {nh} (one per hidden layer)",
                    layers.len()
                ),
            ));
        }
        for (k, c) in layers.iter().enumerate() {
            check_layer(k, c, sizes[k + 1], sizes[k + 2], cfg.interneurons[k])?;
        }
    }
    let mut warnings = Vec::new();
    for (k, &ni) in cfg.interneurons.iter().enumerate() {
        let need = sizes[k + 1].min(sizes[k + 2]);
        if ni < need {
            warnings.push(format!(
                "interneurons[{k}] = {ni} < min(n_{}, n_{}) = {need}: W^PI W^IP cannot align with B W (Theorem 2)",
                k + 1,
                k + 2
            ));
        }
    }
    Ok(warnings)
}

impl<T: Real> ErrorPathway<T> for Microcircuit<T> {
    fn name(&self) -> &str {
        "rt-deel-microcircuit"
    }
    fn is_symmetric(&self) -> bool {
        false
    }
    fn begin_step(&mut self, ctx: &PathwayContext<'_, T>) -> Result<(), CoreError> {
        let mut guard = self.write();
        let s = &mut *guard;
        if ctx.network.layers().sizes() != s.sizes.as_slice() {
            return Err(core_err(CircuitError::config(
                "network",
                format!(
                    "layers {:?} differ from the microcircuit's {:?}",
                    ctx.network.layers().sizes(),
                    s.sizes
                ),
            )));
        }
        check_activation(s.cfg.activation, ctx)?;
        let b = ctx.u.ncols();
        let beta = T::c(s.cfg.beta_i);
        let one = T::c(1.0);
        let inv_b = one / T::c(b as f64);
        let train = !s.cfg.gate_on_train || ctx.train;
        let (lr_ip, lr_pi) = (T::c(s.cfg.lr_ip), T::c(s.cfg.lr_pi));
        let lr_b = match s.cfg.feedback {
            FeedbackLearning::TowardForwardTranspose { lr } if train => T::c(lr),
            _ => T::c(0.0),
        };
        for k in 0..s.layers.len() {
            let l = k + 1;
            let (o, nl) = (s.offsets[l], s.sizes[l]);
            let (ou, nu) = (s.offsets[l + 1], s.sizes[l + 1]);
            let c = &s.layers[k];
            let sc = &mut s.scratch[k];
            let rl = ctx.rbar.rows(o, nl);
            let uu = ctx.u.rows(ou, nu);
            let w_ip_r = &c.w_ip * rl;
            sc.u_i = &w_ip_r * (one - beta) + (&c.b_ip * uu) * beta;
            let bu = &c.b * uu;
            sc.e_a = &bu - &c.w_pi * &sc.u_i;
            // B-backpropagated error of the upper layer, for the monitor
            let eps_u = uu - ctx.basal.rows(ou, nu);
            sc.bp = (&c.b * eps_u) * (one - beta);
            if train && lr_ip != T::c(0.0) {
                let mut d = (&sc.u_i - &w_ip_r) * rl.transpose() * (lr_ip * inv_b);
                if let Some(m) = &c.mask_ip {
                    d.component_mul_assign(m);
                }
                sc.wdot_ip = d;
            } else {
                sc.wdot_ip.fill(T::c(0.0));
            }
            if train && lr_pi != T::c(0.0) {
                let mut d = &sc.e_a * sc.u_i.transpose() * (lr_pi * inv_b);
                if let Some(m) = &c.mask_pi {
                    d.component_mul_assign(m);
                }
                sc.wdot_pi = d;
            } else {
                sc.wdot_pi.fill(T::c(0.0));
            }
            if lr_b != T::c(0.0) {
                let w = forward_block(ctx.network, l + 1, l)
                    .cloned()
                    .unwrap_or_else(|| DMatrix::zeros(nu, nl));
                sc.bdot = (w.transpose() - &c.b) * lr_b;
            } else {
                sc.bdot.fill(T::c(0.0));
            }
            sc.m_up = &c.b - (&c.w_pi * &c.b_ip) * beta;
            sc.m_lat = (&c.w_pi * &c.w_ip) * (one - beta);
        }
        Ok(())
    }
    fn apical_error(&self, ctx: &PathwayContext<'_, T>, out: &mut DMatrix<T>) {
        let s = self.read();
        if out.shape() != ctx.u.shape() {
            *out = DMatrix::zeros(ctx.u.nrows(), ctx.u.ncols());
        } else {
            out.fill(T::c(0.0));
        }
        for (k, sc) in s.scratch.iter().enumerate() {
            let l = k + 1;
            out.rows_mut(s.offsets[l], s.sizes[l]).copy_from(&sc.e_a);
        }
    }
    fn add_rhs(&self, ctx: &PathwayContext<'_, T>, g: &mut DMatrix<T>) {
        let s = self.read();
        let tau = ctx.tau;
        let one = T::c(1.0);
        let beta = T::c(s.cfg.beta_i);
        for (k, sc) in s.scratch.iter().enumerate() {
            let l = k + 1;
            let (o, nl) = (s.offsets[l], s.sizes[l]);
            let (ou, nu) = (s.offsets[l + 1], s.sizes[l + 1]);
            let c = &s.layers[k];
            let rl = ctx.rbar.rows(o, nl);
            let uu = ctx.u.rows(ou, nu);
            let look = &sc.bdot * uu
                - &sc.wdot_pi * &sc.u_i
                - (&c.w_pi * (&sc.wdot_ip * rl)) * (one - beta);
            let t = &sc.e_a + look * tau;
            let d = ctx.rho_prime.rows(o, nl);
            let mut gl = g.rows_mut(o, nl);
            gl += d.component_mul(&t);
        }
    }
    fn add_matrix(&self, ctx: &PathwayContext<'_, T>, sample: usize, h: &mut DMatrix<T>) {
        let s = self.read();
        let d = ctx.rho_prime.column(sample);
        for (k, sc) in s.scratch.iter().enumerate() {
            let l = k + 1;
            let (o, nl) = (s.offsets[l], s.sizes[l]);
            let (ou, nu) = (s.offsets[l + 1], s.sizes[l + 1]);
            for j in 0..nu {
                for i in 0..nl {
                    h[(o + i, ou + j)] -= d[o + i] * sc.m_up[(i, j)];
                }
            }
            for j in 0..nl {
                for i in 0..nl {
                    h[(o + i, o + j)] += d[o + i] * sc.m_lat[(i, j)] * d[o + j];
                }
            }
        }
    }
    fn end_step(
        &mut self,
        ctx: &PathwayContext<'_, T>,
        _udot: &DMatrix<T>,
    ) -> Result<(), CoreError> {
        let mut guard = self.write();
        let s = &mut *guard;
        let dt = ctx.dt;
        for (c, sc) in s.layers.iter_mut().zip(&s.scratch) {
            c.w_ip.zip_apply(&sc.wdot_ip, |p, q| *p += dt * q);
            c.w_pi.zip_apply(&sc.wdot_pi, |p, q| *p += dt * q);
            c.b.zip_apply(&sc.bdot, |p, q| *p += dt * q);
        }
        s.steps += 1;
        Ok(())
    }
}

/// e^A_l for every hidden layer at voltages `u` (N×B) with the given matrices — a plain
/// evaluation of the definitions, independent of the pathway's step cache (for tests and
/// monitors). Returns an N×B matrix that is zero outside the hidden layers.
pub fn apical_error_at<T: Real>(
    sizes: &[usize],
    layers: &[LayerCircuit<T>],
    beta_i: f64,
    activation: Activation,
    u: &DMatrix<T>,
) -> DMatrix<T> {
    let mut offsets = vec![0];
    for &s in sizes {
        offsets.push(offsets.last().copied().unwrap_or(0) + s);
    }
    let beta = T::c(beta_i);
    let one = T::c(1.0);
    let mut out = DMatrix::zeros(u.nrows(), u.ncols());
    for (k, c) in layers.iter().enumerate() {
        let l = k + 1;
        let rl = u.rows(offsets[l], sizes[l]).map(|x| activation.rho(x));
        let uu = u.rows(offsets[l + 1], sizes[l + 1]);
        let ui = (&c.w_ip * rl) * (one - beta) + (&c.b_ip * uu) * beta;
        let ea = &c.b * uu - &c.w_pi * ui;
        out.rows_mut(offsets[l], sizes[l]).copy_from(&ea);
    }
    out
}
