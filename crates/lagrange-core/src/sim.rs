//! The time step: state, nudging, the exact linear solve, predictors, plasticity and the Euler
//! update.

use crate::config::{InputMode, Method, ModelConfig, PredictorFormula, Solver};
use crate::error::CoreError;
use crate::network::Network;
use crate::ops::{
    Factored, all_finite, block_product, block_wdot_product, cholesky_solve_1, chunk_cols, copy,
    copy_rows, lu_solve_1, mmut, mref, outer_update, par_cols, par_product, par_wdot_product,
    wdot_grams, zero_fill,
};
use crate::pathway::{ErrorPathway, PathwayContext};
use crate::real::Real;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Par};
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The dynamic state of a batch of B independent trajectories that share one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State<T: Real> {
    /// Somatic voltages u, N×B (one column per sample).
    pub u: DMatrix<T>,
    /// u̇ of the last step, N×B (the Euler predictor's estimate for the next step).
    pub udot: DMatrix<T>,
    /// Input of the previous step (n_0×B), for ẋ = (x − x⁻)/dt. `None`: the first step uses
    /// x⁻ = x (no kick).
    pub prev_input: Option<DMatrix<T>>,
    /// Embedded target of the previous step (N×B), for ŷ̇. `None`: ŷ⁻ = ŷ at the first step.
    pub prev_target: Option<DMatrix<T>>,
    /// The last u̇ (newest last, at most 4) for the Richardson predictors.
    pub udot_trace: Vec<DMatrix<T>>,
    /// Number of completed steps.
    pub step: u64,
}

impl<T: Real> State<T> {
    /// All-zero state of N neurons and B samples.
    pub fn zeros(n: usize, batch: usize) -> Self {
        State {
            u: DMatrix::zeros(n, batch),
            udot: DMatrix::zeros(n, batch),
            prev_input: None,
            prev_target: None,
            udot_trace: Vec::new(),
            step: 0,
        }
    }
    /// Batch size B.
    pub fn batch(&self) -> usize {
        self.u.ncols()
    }
}

/// Counters of the linear solves, reported by runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SolveStats {
    /// Samples solved by the structured (layer-wise) solver.
    pub structured: u64,
    /// Samples solved by a dense Cholesky factorisation.
    pub cholesky: u64,
    /// Samples solved by dense LU (requested, or because the pathway is not symmetric).
    pub lu: u64,
    /// Samples where Cholesky failed (H not positive definite) and LU was used instead.
    pub cholesky_fallbacks: u64,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepInfo {
    /// The step counter after the step.
    pub step: u64,
    /// Samples where Cholesky fell back to LU in this step.
    pub cholesky_fallbacks: u64,
    /// Whether the structured solver was used.
    pub structured: bool,
}

struct Slot<T: Real> {
    /// M over all N neurons (empty when no rows are clamped: M is then assembled into `m`).
    full: DMatrix<T>,
    /// The free block M_FF, factorised in place.
    m: DMatrix<T>,
    rhs: DMatrix<T>,
    perm: Vec<usize>,
    perm_inv: Vec<usize>,
    /// Length-n scratch of the single-right-hand-side LU solve.
    scratch: Vec<T>,
    mem: MemBuffer,
}

/// One column chunk of (r̄, ρ′, ρ″, ε) as the rates-and-ε pass of `prepare` receives it.
type RatesChunk<'a, T> = (((&'a mut [T], &'a mut [T]), &'a mut [T]), &'a mut [T]);

/// One column chunk of ((u̇, t1), (g, u + dt u̇)) as the fused predictor's task receives it.
type PredictorChunk<'a, T> = ((&'a mut [T], &'a mut [T]), (&'a mut [T], &'a mut [T]));

/// Scratch of one column chunk of the structured solver.
struct ChunkScratch<T: Real> {
    shape: (usize, usize, usize, usize),
    sigma: Vec<T>,
    tmp: Vec<T>,
    dz: Vec<T>,
    kmat: faer::Mat<T>,
    y: Vec<T>,
}

#[derive(Default)]
struct Workspace<T: Real> {
    batch: usize,
    rbar: DMatrix<T>,
    d: DMatrix<T>,
    dd: DMatrix<T>,
    v: DMatrix<T>,
    eps: DMatrix<T>,
    ea: DMatrix<T>,
    xpad: DMatrix<T>,
    xdot: DMatrix<T>,
    yhat: DMatrix<T>,
    ydot: DMatrix<T>,
    g: DMatrix<T>,
    delta: DMatrix<T>,
    tmp: DMatrix<T>,
    tmp2: DMatrix<T>,
    p: DMatrix<T>,
    udot: DMatrix<T>,
    wdot: Vec<DMatrix<T>>,
    bdot: DVector<T>,
    has_wdot: bool,
    /// `wdot` holds zeros (set once when plasticity is off, instead of every step).
    wdot_zero: bool,
    /// `ea` holds zeros (skips re-zeroing it every step while e_A is not needed).
    ea_zero: bool,
    /// `dd` (ρ″) holds zeros (written once while the activation has ρ″ ≡ 0).
    dd_zero: bool,
    /// `Some(ok)` when `tmp2` already holds u + dt u̇ for this step's final u̇ (the fused
    /// predictor computes it with u̇), `ok` being the result of the divergence check on it.
    advanced: Option<bool>,
    /// Only the last `yhat_rows` rows of `yhat` can be nonzero (the rows of the last target).
    yhat_rows: usize,
    /// Only the last `ydot_rows` rows of `ydot` can be nonzero.
    ydot_rows: usize,
    /// Only the last `prev_rows` rows of the state's `prev_target` can be nonzero; `None` when
    /// unknown (a state set or borrowed mutably from outside).
    prev_rows: Option<usize>,
    /// Per projection: the mask's common value f when all its entries are f, or when the block
    /// maps a population onto itself with a zero diagonal and f elsewhere (flagged in
    /// `zero_diag`); cached, cleared by `network_mut`.
    mask_uniform: Vec<Option<T>>,
    /// Per projection: the mask is f off a zero diagonal (see `mask_uniform`).
    zero_diag: Vec<bool>,
    /// Per projection with `zero_diag`: δ_i = Σ_b ε_ib r̄_ib, the diagonal that the mask removes
    /// from ε r̄ᵀ.
    fdelta: Vec<DVector<T>>,
    /// Per projection with `zero_diag`: the frozen diagonal of W kept across the factored update.
    fsave: Vec<DVector<T>>,
    /// Per projection: `Some(s)` when this step's Ẇ = s ε[post] r̄[pre]ᵀ (minus diag δ for a
    /// zero-diagonal mask) is kept factored and not materialised in `wdot` (mask of the forms in
    /// `mask_uniform`, no Ẇ clipping, built-in pathway).
    factored: Vec<Option<T>>,
    /// One B × B Gram matrix per projection for the factored look-ahead products.
    lr_scratch: Vec<DMatrix<T>>,
    /// A second set of `lr_scratch` (Eᵀ E while `lr_scratch` holds Rᵀ R, in the fused predictor).
    gram_e: Vec<DMatrix<T>>,
    train: bool,
    // structured solver
    nudged: Vec<usize>,
    chunks: Vec<ChunkScratch<T>>,
    // dense solver
    wdense: DMatrix<T>,
    wdense_t: DMatrix<T>,
    gram: DMatrix<T>,
    /// `gram` = WᵀW of the current weights (kept by rank-B updates between refreshes).
    gram_valid: bool,
    /// Incremental updates since `gram` was last computed from scratch.
    gram_age: u32,
    /// Per projection W_kᵀ ε[post] (|pre| × B), scratch of the incremental Gram update.
    gram_p: Vec<DMatrix<T>>,
    /// εᵀε of one layer (B × B), scratch of the incremental Gram update.
    gram_s: DMatrix<T>,
    /// Weights that `clip_weights` clamps in this update while `gram` is kept incrementally:
    /// (projection, column-major index, clamped value), applied after the rank-B update of
    /// `gram` together with their own sparse correction (see `update_weights`).
    clip_log: Vec<(usize, usize, T)>,
    slots: Vec<Slot<T>>,
}

/// Incremental updates of the Gram matrix WᵀW before it is recomputed from scratch: bounds the
/// accumulated rounding to a few hundred updates' worth in f64 (far below the 1e-9 parity
/// tolerance) and a few dozen in f32.
fn gram_refresh<T: Real>() -> u32 {
    if T::c(1.0 + 1e-10) == T::c(1.0) {
        32
    } else {
        256
    }
}

/// The work matrix that receives a [`Workspace::lookahead_product`].
#[derive(Clone, Copy)]
enum LookaheadOut {
    Tmp,
    Tmp2,
    G,
}

impl<T: Real> Workspace<T> {
    fn out_mut(&mut self, out: LookaheadOut) -> &mut DMatrix<T> {
        match out {
            LookaheadOut::Tmp => &mut self.tmp,
            LookaheadOut::Tmp2 => &mut self.tmp2,
            LookaheadOut::G => &mut self.g,
        }
    }

    /// `out += alpha · op(Ẇ) · x` for the look-ahead terms of the dynamics (spec §4.1), with x = r̄
    /// for Ẇ r̄ (`transpose = false`) and x = ε for Ẇᵀ ε; Ẇ materialised or kept factored.
    fn lookahead_product(
        &mut self,
        net: &Network<T>,
        transpose: bool,
        keep: &(dyn Fn(usize, usize) -> bool + Sync),
        alpha: T,
        out: LookaheadOut,
    ) {
        let mut o = std::mem::take(self.out_mut(out));
        par_wdot_product(
            net,
            &self.wdot,
            &Factored {
                s: &self.factored,
                zero_diag: &self.zero_diag,
                delta: &self.fdelta,
                e: &self.eps,
                r: &self.rbar,
            },
            transpose,
            keep,
            alpha,
            &mut o,
            &mut self.lr_scratch,
        );
        *self.out_mut(out) = o;
    }
}

/// A network, its configuration and the state of a batch of trajectories: the object that steps
/// the NLA dynamics.
///
/// ```
/// use lagrange_core::{Activation, Layers, ModelConfig, Network, Simulator};
/// use nalgebra::{DMatrix, DVector};
/// // a 2-3-1 feed-forward net with all weights 0.1
/// let layers = Layers::new(&[2, 3, 1]).unwrap();
/// let mut w = DMatrix::<f64>::zeros(6, 6);
/// let mut mask = DMatrix::<f64>::zeros(6, 6);
/// for i in 2..5 { for j in 0..2 { w[(i, j)] = 0.1; mask[(i, j)] = 1.0; } }
/// for j in 2..5 { w[(5, j)] = 0.1; mask[(5, j)] = 1.0; }
/// let net = Network::from_dense(layers, &w, &mask, DVector::zeros(6), DVector::zeros(6)).unwrap();
/// let cfg = ModelConfig { activation: Activation::Sigmoid, lr_weights: 1e-3, ..Default::default() };
/// let mut sim = Simulator::new(net, cfg, 1).unwrap();
/// sim.set_beta_outputs(0.1);
/// let x = DMatrix::from_column_slice(2, 1, &[1.0, 0.5]);
/// let y = DMatrix::from_column_slice(1, 1, &[0.8]);
/// for _ in 0..100 { sim.step(&x, &y, true).unwrap(); }
/// assert!(sim.state().u[(5, 0)].is_finite());
/// ```
pub struct Simulator<T: Real> {
    network: Network<T>,
    config: ModelConfig,
    state: State<T>,
    beta: DVector<T>,
    pathway: Option<Box<dyn ErrorPathway<T>>>,
    ws: Workspace<T>,
    stats: SolveStats,
}

impl<T: Real> Simulator<T> {
    /// A simulator with a zero state of `batch` samples and no nudging (β = 0).
    pub fn new(network: Network<T>, config: ModelConfig, batch: usize) -> Result<Self, CoreError> {
        config.validate()?;
        if batch == 0 {
            return Err(CoreError::config("batch", "must be >= 1"));
        }
        let n = network.n();
        let mut sim = Simulator {
            state: State::zeros(n, batch),
            beta: DVector::zeros(n),
            network,
            config,
            pathway: None,
            ws: Workspace::default(),
            stats: SolveStats::default(),
        };
        sim.ensure_workspace();
        Ok(sim)
    }

    /// Replaces the built-in weight transport by another error pathway (dense solves only).
    pub fn set_pathway(&mut self, pathway: Box<dyn ErrorPathway<T>>) {
        self.pathway = Some(pathway);
    }
    /// The custom error pathway, if any.
    pub fn pathway(&self) -> Option<&dyn ErrorPathway<T>> {
        self.pathway.as_deref()
    }
    /// The network (weights, biases, masks).
    pub fn network(&self) -> &Network<T> {
        &self.network
    }
    /// Mutable access to the network (shapes must not change).
    pub fn network_mut(&mut self) -> &mut Network<T> {
        // weights or masks may change: drop what is cached about them
        self.reset_caches();
        &mut self.network
    }
    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    /// Sets the learning rates η_W and η_b of the plasticity rule Ẇ = η M ⊙ (ε r̄ᵀ) (spec §6),
    /// from the next step on (a schedule's drop). Everything else is kept: state, network,
    /// error pathway, solve counters. Rates must be finite and ≥ 0; on an error nothing changes.
    pub fn set_learning_rates(&mut self, lr_weights: f64, lr_biases: f64) -> Result<(), CoreError> {
        let next = ModelConfig {
            lr_weights,
            lr_biases,
            ..self.config.clone()
        };
        next.validate()?;
        self.config = next;
        Ok(())
    }
    /// Drops every cache derived from the weights, so that the next step recomputes it. From
    /// here on the simulator steps to the same bits as a new one built from clones of its
    /// network, configuration and state (`Simulator::new` then `set_state`).
    ///
    /// Without this call the two can differ in the last bits: the dense solver keeps WᵀW by
    /// rank-B updates and recomputes it from scratch every few hundred steps, so its rounding
    /// depends on the steps since the last recomputation. A run that writes checkpoints calls
    /// this at each of them, and a run resumed from a checkpoint then reaches the same weights
    /// as an uninterrupted one.
    pub fn reset_caches(&mut self) {
        self.ws.mask_uniform.clear();
        self.ws.gram_valid = false;
        self.ws.prev_rows = None;
    }
    /// The state.
    pub fn state(&self) -> &State<T> {
        &self.state
    }
    /// Replaces the state; its shape must be N×B for some B ≥ 1.
    pub fn set_state(&mut self, state: State<T>) -> Result<(), CoreError> {
        let n = self.network.n();
        if state.u.nrows() != n || state.udot.shape() != state.u.shape() || state.u.ncols() == 0 {
            return Err(CoreError::size(
                "state.u/udot",
                format!("{n}×B"),
                format!("{:?}/{:?}", state.u.shape(), state.udot.shape()),
            ));
        }
        let b = state.u.ncols();
        if let Some(x) = &state.prev_input
            && x.shape() != (self.network.layers().n_inputs(), b)
        {
            return Err(CoreError::size(
                "state.prev_input",
                format!("({}, {b})", self.network.layers().n_inputs()),
                format!("{:?}", x.shape()),
            ));
        }
        if let Some(y) = &state.prev_target
            && y.shape() != (n, b)
        {
            return Err(CoreError::size(
                "state.prev_target",
                format!("({n}, {b})"),
                format!("{:?}", y.shape()),
            ));
        }
        self.state = state;
        self.ws.prev_rows = None;
        self.ensure_workspace();
        Ok(())
    }
    /// Mutable state access (keep the shapes).
    pub fn state_mut(&mut self) -> &mut State<T> {
        self.ws.prev_rows = None;
        &mut self.state
    }
    /// Solve counters since construction.
    pub fn stats(&self) -> SolveStats {
        self.stats
    }
    /// The per-neuron nudging strengths β̂ (length N).
    pub fn beta(&self) -> &DVector<T> {
        &self.beta
    }
    /// Sets β̂ on the output layer only (the reference's scalar β).
    pub fn set_beta_outputs(&mut self, beta: T) {
        let n = self.network.n();
        let t = self.network.layers().n_outputs();
        self.beta.fill(T::c(0.0));
        for i in n - t..n {
            self.beta[i] = beta;
        }
        self.ensure_workspace();
    }
    /// Sets β̂ from a vector of length ≤ N, placed on the **last** neurons (front-padded with
    /// zeros, the reference's convention); any neuron may be nudged. Entries must be ≥ 0.
    pub fn set_beta(&mut self, beta: &[T]) -> Result<(), CoreError> {
        let n = self.network.n();
        if beta.len() > n {
            return Err(CoreError::size("beta", format!("<= {n}"), beta.len()));
        }
        if let Some(i) = beta.iter().position(|&b| !(b >= T::c(0.0) && b.finite_())) {
            return Err(CoreError::config(
                &format!("beta[{i}]"),
                format!("must be finite and >= 0, got {}", beta[i]),
            ));
        }
        self.beta.fill(T::c(0.0));
        self.beta
            .rows_mut(n - beta.len(), beta.len())
            .copy_from_slice(beta);
        self.ensure_workspace();
        Ok(())
    }

    /// Re-tiles the state to a new batch size with the reference's rule (spec §7): each existing
    /// sample is repeated ⌊B/B′⌋ times and the last one gets B mod B′ extra copies; stored
    /// previous inputs/targets are replaced by their batch mean.
    pub fn retile(&mut self, batch: usize) -> Result<(), CoreError> {
        if batch == 0 {
            return Err(CoreError::config("batch", "must be >= 1"));
        }
        let old = self.state.batch();
        if old == batch {
            return Ok(());
        }
        let rep = batch / old;
        let mut idx = Vec::with_capacity(batch);
        for i in 0..old {
            let k = if i + 1 == old { rep + batch % old } else { rep };
            idx.extend(std::iter::repeat_n(i, k));
        }
        let tile = |m: &DMatrix<T>| DMatrix::from_fn(m.nrows(), batch, |r, c| m[(r, idx[c])]);
        let mean = |m: &DMatrix<T>| {
            let mu = m.column_mean();
            DMatrix::from_fn(m.nrows(), batch, |r, _| mu[r])
        };
        self.state.u = tile(&self.state.u);
        self.state.udot = tile(&self.state.udot);
        self.state.udot_trace = self.state.udot_trace.iter().map(tile).collect();
        self.state.prev_input = self.state.prev_input.as_ref().map(mean);
        self.state.prev_target = self.state.prev_target.as_ref().map(mean);
        self.ws.prev_rows = None;
        self.ensure_workspace();
        Ok(())
    }

    fn free_start(&self) -> usize {
        match self.config.inputs {
            InputMode::Clamped => self.network.layers().n_inputs(),
            InputMode::Dynamic => 0,
        }
    }

    fn ensure_workspace(&mut self) {
        let n = self.network.n();
        let b = self.state.batch();
        let ws = &mut self.ws;
        if ws.batch != b || ws.rbar.nrows() != n {
            let z = || DMatrix::<T>::zeros(n, b);
            ws.batch = b;
            ws.rbar = z();
            ws.d = z();
            ws.dd = z();
            ws.dd_zero = true;
            ws.v = z();
            ws.eps = z();
            ws.ea = z();
            ws.ea_zero = true;
            ws.xpad = z();
            ws.xdot = z();
            ws.yhat = z();
            ws.yhat_rows = 0;
            ws.ydot = z();
            ws.ydot_rows = 0;
            ws.prev_rows = None;
            ws.g = z();
            ws.delta = z();
            ws.tmp = z();
            ws.tmp2 = z();
            ws.p = z();
            ws.udot = z();
            ws.slots.clear();
            ws.chunks.clear();
            ws.lr_scratch.clear();
            ws.gram_e.clear();
            ws.gram_s = DMatrix::zeros(b, b);
            ws.gram_p.clear();
        }
        let np = self.network.projections().len();
        if ws.lr_scratch.len() != np {
            ws.lr_scratch = (0..np).map(|_| DMatrix::zeros(b, b)).collect();
            ws.gram_e = ws.lr_scratch.clone();
        }
        if ws.gram_p.len() != np {
            let l = self.network.layers();
            ws.gram_p = self
                .network
                .projections()
                .iter()
                .map(|p| DMatrix::zeros(l.size(p.pre), b))
                .collect();
        }
        if ws.factored.len() != np {
            ws.factored = vec![None; np];
            let l = self.network.layers();
            let sq = |p: &crate::network::Projection<T>| {
                if p.post == p.pre { l.size(p.post) } else { 0 }
            };
            ws.fdelta = self
                .network
                .projections()
                .iter()
                .map(|p| DVector::zeros(sq(p)))
                .collect();
            ws.fsave = ws.fdelta.clone();
        }
        if ws.wdot.len() != self.network.projections().len() {
            ws.wdot = self
                .network
                .projections()
                .iter()
                .map(|p| DMatrix::zeros(p.weights.nrows(), p.weights.ncols()))
                .collect();
            ws.bdot = DVector::zeros(n);
            ws.wdot_zero = true;
        }
        let f0 = match self.config.inputs {
            InputMode::Clamped => self.network.layers().n_inputs(),
            InputMode::Dynamic => 0,
        };
        let is_nudged = |i: &usize| self.beta[*i] != T::c(0.0);
        if !ws.nudged.iter().copied().eq((f0..n).filter(is_nudged)) {
            ws.nudged = (f0..n).filter(is_nudged).collect();
        }
    }

    fn use_structured(&self) -> bool {
        let nf = self.network.n() - self.free_start();
        self.config.structured_solver
            && self.pathway.is_none()
            && self.config.activation.has_zero_curvature()
            && self.network.is_feedforward()
            && self.ws.nudged.len() * 2 <= nf.max(1)
    }

    /// Advances the dynamics by one step of dt.
    ///
    /// * `input`: n_0×B (the input of every sample; 0×B when there are no input neurons).
    /// * `target`: n_t×B with n_t ≤ N, placed on the last n_t neurons (0×B: no target). Only
    ///   neurons with β̂ > 0 feel it.
    /// * `train`: apply the plasticity rule (spec §6) in this step.
    ///
    /// On error the state is left as it was before the step.
    pub fn step(
        &mut self,
        input: &DMatrix<T>,
        target: &DMatrix<T>,
        train: bool,
    ) -> Result<StepInfo, CoreError> {
        let (fallbacks, structured) = self.solve_velocity(input, target, train)?;
        self.advance(input)?;
        Ok(StepInfo {
            step: self.state.step,
            cholesky_fallbacks: fallbacks,
            structured,
        })
    }

    /// Everything of a step up to u̇ (into `ws.udot`): returns (LU fallbacks, structured).
    fn solve_velocity(
        &mut self,
        input: &DMatrix<T>,
        target: &DMatrix<T>,
        train: bool,
    ) -> Result<(u64, bool), CoreError> {
        self.prepare(input, target, train)?;
        match self.config.method {
            Method::Exact => self.solve_exact(),
            _ => {
                self.predict()?;
                Ok((0, false))
            }
        }
    }

    /// u̇ of every sample at the current state for the given input and target (the exact solve of
    /// spec §5.1, or the configured predictor), without stepping: voltages, weights and biases are
    /// left as they are (the solve counters of [`Simulator::stats`] count it). `step` is this, then
    /// the Euler update of u, W and b.
    pub fn velocity(
        &mut self,
        input: &DMatrix<T>,
        target: &DMatrix<T>,
        train: bool,
    ) -> Result<&DMatrix<T>, CoreError> {
        self.solve_velocity(input, target, train)?;
        Ok(&self.ws.udot)
    }

    /// Applies W += dt Ẇ (spec §6.3) with the Ẇ of the last [`Simulator::velocity`] or
    /// [`Simulator::step`] call, alone (no change of u or b; a second call applies it again).
    /// Meant for benchmarks that time the weight update by itself.
    #[doc(hidden)]
    pub fn apply_weight_update(&mut self) {
        if self.ws.has_wdot {
            self.update_weights(T::c(self.config.dt));
        }
    }

    /// The dense linear system (H, g) of sample `sample` at the current state for the given
    /// input and target (spec §5.1, paper Eqs. 64–70), without stepping. H includes the factor τ
    /// and covers all N neurons (no clamping). Meant for tests and inspection: O(N²) memory.
    pub fn linear_system(
        &mut self,
        input: &DMatrix<T>,
        target: &DMatrix<T>,
        train: bool,
        sample: usize,
    ) -> Result<(DMatrix<T>, DVector<T>), CoreError> {
        self.prepare(input, target, train)?;
        self.rhs_native_or_pathway();
        if sample >= self.state.batch() {
            return Err(CoreError::size(
                "sample",
                format!("< {}", self.state.batch()),
                sample,
            ));
        }
        let n = self.network.n();
        self.dense_prepare_shared();
        let mut h = DMatrix::zeros(n, n);
        self.assemble_dense(sample, &mut h, false);
        let tau = T::c(self.config.tau);
        Ok((h * tau, self.ws.g.column(sample) * tau))
    }

    fn ctx(&self, train: bool) -> PathwayContext<'_, T> {
        pathway_context(&self.network, &self.state.u, &self.ws, &self.config, train)
    }

    /// Everything up to (not including) the right-hand side: embedded inputs and targets, rates,
    /// basal prediction v, mismatch ε = u − v, Ẇ, ḃ, the apical error e_A.
    fn prepare(
        &mut self,
        input: &DMatrix<T>,
        target: &DMatrix<T>,
        train: bool,
    ) -> Result<(), CoreError> {
        let n = self.network.n();
        let b = self.state.batch();
        let n0 = self.network.layers().n_inputs();
        if input.nrows() != n0 || (input.ncols() != b && !(n0 == 0 && input.ncols() == 0)) {
            return Err(CoreError::size(
                "input",
                format!("({n0}, {b})"),
                format!("{:?}", input.shape()),
            ));
        }
        if target.nrows() > n
            || (target.ncols() != b && !(target.nrows() == 0 && target.ncols() == 0))
        {
            return Err(CoreError::size(
                "target",
                format!("(<= {n}, {b})"),
                format!("{:?}", target.shape()),
            ));
        }
        // a branch-free pass first; the search for the offending entry runs only when it fails
        if let Some(i) = (!all_finite(input.as_slice()))
            .then(|| input.as_slice().iter().position(|x| !x.finite_()))
            .flatten()
        {
            return Err(CoreError::NonFinite {
                field: "input".into(),
                step: self.state.step,
                neuron: i % n0.max(1),
                sample: i / n0.max(1),
            });
        }
        self.ensure_workspace();
        self.ws.advanced = None;
        let dt = T::c(self.config.dt);
        let zero = T::c(0.0);
        let nt = target.nrows();
        let ws = &mut self.ws;
        // embedded input and target, finite differences. Only this function writes xpad, xdot
        // and yhat: rows n0.. of xpad and xdot stay zero from their allocation, and of yhat only
        // the last `yhat_rows` rows can be nonzero
        if n0 > 0 {
            let xs = input.as_slice();
            let px = (self.state.prev_input.as_ref())
                .map(|m| m.as_slice())
                .filter(|p| p.len() == xs.len());
            let inv_dt = T::c(1.0) / dt;
            // x̂ = pad(x) and ẋ = (x − x_prev)/dt, column chunks in parallel
            let body = |c0: usize, (xd, xp): (&mut [T], &mut [T])| {
                for (j, (xd, xp)) in xd.chunks_mut(n).zip(xp.chunks_mut(n)).enumerate() {
                    let c = (c0 + j) * n0..(c0 + j + 1) * n0;
                    xp[..n0].copy_from_slice(&xs[c.clone()]);
                    match px {
                        Some(p) => {
                            for ((o, &a), &q) in xd[..n0].iter_mut().zip(&xs[c.clone()]).zip(&p[c])
                            {
                                *o = (a - q) * inv_dt;
                            }
                        }
                        None => xd[..n0].fill(zero),
                    }
                }
            };
            let ccx = chunk_cols(b) * n;
            if ccx >= n * b {
                body(0, (ws.xdot.as_mut_slice(), ws.xpad.as_mut_slice()));
            } else {
                ws.xdot
                    .as_mut_slice()
                    .par_chunks_mut(ccx)
                    .zip(ws.xpad.as_mut_slice().par_chunks_mut(ccx))
                    .enumerate()
                    .for_each(|(k, x)| body(k * chunk_cols(b), x));
            }
        }
        let rows = if nt > 0 && target.ncols() == b { nt } else { 0 };
        if ws.yhat_rows > rows {
            for col in ws.yhat.as_mut_slice().chunks_mut(n) {
                col[n - ws.yhat_rows..n - rows].fill(zero);
            }
        }
        if rows > 0 {
            copy_rows(&mut ws.yhat, n - rows, target);
        }
        ws.yhat_rows = rows;
        // ŷ̇ = (ŷ − ŷ_prev)/dt on the last rows that either can have nonzero (and on those where
        // the last ŷ̇ could be nonzero, to clear them)
        match &self.state.prev_target {
            Some(py) => {
                let k = rows.max(ws.prev_rows.unwrap_or(n));
                let k2 = k.max(ws.ydot_rows);
                let (ys, ps) = (ws.yhat.as_slice(), py.as_slice());
                for (j, col) in ws.ydot.as_mut_slice().chunks_mut(n).enumerate() {
                    for (r, o) in col.iter_mut().enumerate().skip(n - k2) {
                        *o = (ys[j * n + r] - ps[j * n + r]) / dt;
                    }
                }
                ws.ydot_rows = k;
            }
            None => {
                if ws.ydot_rows > 0 {
                    zero_fill(&mut ws.ydot);
                }
                ws.ydot_rows = 0;
            }
        }
        // rates; ρ″ is written only when it can be nonzero (`dd_zero`: it holds zeros already)
        let act = self.config.activation;
        let flat = act.has_zero_curvature();
        if flat && !ws.dd_zero {
            zero_fill(&mut ws.dd);
        }
        ws.dd_zero = flat;
        let cc = chunk_cols(b) * n;
        let rates = |r: &mut [T], d: &mut [T], dd: &mut [T], u: &[T]| {
            if flat {
                act.rate_slope_slices(u, r, d);
            } else {
                act.eval_slices(u, r, d, dd);
            }
        };
        // v = W r̄ + b + pad(x); ε = u − v. The basal potential v itself is only read by an error
        // pathway; without one, ε = (u − pad(x) − b) − W r̄ is written directly, in the same
        // per-chunk task as the rates (every term is local to a sample)
        let (bias, xp) = (self.network.biases.as_slice(), ws.xpad.as_slice());
        let us = self.state.u.as_slice();
        let net = &self.network;
        if self.pathway.is_some() {
            if cc >= n * b {
                rates(
                    ws.rbar.as_mut_slice(),
                    ws.d.as_mut_slice(),
                    ws.dd.as_mut_slice(),
                    us,
                );
            } else {
                ws.rbar
                    .as_mut_slice()
                    .par_chunks_mut(cc)
                    .zip(ws.d.as_mut_slice().par_chunks_mut(cc))
                    .zip(ws.dd.as_mut_slice().par_chunks_mut(cc))
                    .zip(us.par_chunks(cc))
                    .for_each(|(((r, d), dd), u)| rates(r, d, dd, u));
            }
            par_cols(ws.v.as_mut_slice(), n, |off, v| {
                for (vc, x) in v.chunks_mut(n).zip(xp[off..].chunks(n)) {
                    for ((o, &x), &b) in vc.iter_mut().zip(x).zip(bias) {
                        *o = x + b;
                    }
                }
            });
            par_product(
                net,
                None,
                false,
                &|_, _| true,
                T::c(1.0),
                false,
                &ws.rbar,
                &mut ws.v,
            );
            let vs = ws.v.as_slice();
            par_cols(ws.eps.as_mut_slice(), n, |off, e| {
                let m = e.len();
                for ((e, &u), &v) in e.iter_mut().zip(&us[off..off + m]).zip(&vs[off..off + m]) {
                    *e = u - v;
                }
            });
        } else {
            let chunk = |k: usize, (((r, d), dd), e): RatesChunk<'_, T>| {
                let off = k * cc;
                let u = &us[off..off + e.len()];
                rates(r, d, dd, u);
                // rows n0.. of pad(x) are zero
                for (j, ec) in e.chunks_mut(n).enumerate() {
                    let (u, x) = (&u[j * n..(j + 1) * n], &xp[off + j * n..off + j * n + n0]);
                    for r in 0..n0 {
                        ec[r] = u[r] - (x[r] + bias[r]);
                    }
                    for r in n0..n {
                        ec[r] = u[r] - bias[r];
                    }
                }
                let nc = e.len() / n;
                block_product(
                    net,
                    None,
                    false,
                    &|_, _| true,
                    T::c(-1.0),
                    false,
                    faer::MatRef::from_column_major_slice(r, n, nc),
                    faer::MatMut::from_column_major_slice_mut(e, n, nc),
                );
            };
            if cc >= n * b {
                let (r, d, dd) = (
                    ws.rbar.as_mut_slice(),
                    ws.d.as_mut_slice(),
                    ws.dd.as_mut_slice(),
                );
                chunk(0, (((r, d), dd), ws.eps.as_mut_slice()));
            } else {
                ws.rbar
                    .as_mut_slice()
                    .par_chunks_mut(cc)
                    .zip(ws.d.as_mut_slice().par_chunks_mut(cc))
                    .zip(ws.dd.as_mut_slice().par_chunks_mut(cc))
                    .zip(ws.eps.as_mut_slice().par_chunks_mut(cc))
                    .enumerate()
                    .for_each(|(k, x)| chunk(k, x));
            }
        }
        // plasticity (spec §6): Ẇ = η M ⊙ mean_b(ε r̄ᵀ), ḃ = η_b m_b ⊙ mean_b(ε)
        let lr = self.config.lr_weights;
        ws.has_wdot = train && lr > 0.0;
        let scale = T::c(lr) / T::c(b as f64);
        let l = net.layers();
        if ws.mask_uniform.len() != net.projections().len() {
            let forms: Vec<(Option<T>, bool)> = net
                .projections()
                .iter()
                .map(|p| {
                    let m = p.mask.as_slice();
                    let m0 = m.first().copied().unwrap_or(zero);
                    if m.iter().all(|&x| x == m0) {
                        return (Some(m0), false);
                    }
                    // a population onto itself without self-connections: f off a zero diagonal
                    let k = p.mask.nrows();
                    if p.post == p.pre && k > 1 {
                        let f = p.mask[(1, 0)];
                        let ok = (0..k).all(|j| {
                            (0..k).all(|i| p.mask[(i, j)] == if i == j { zero } else { f })
                        });
                        if ok {
                            return (Some(f), true);
                        }
                    }
                    (None, false)
                })
                .collect();
            ws.mask_uniform = forms.iter().map(|f| f.0).collect();
            ws.zero_diag = forms.iter().map(|f| f.1).collect();
        }
        let can_factor =
            self.pathway.is_none() && self.config.clip_weight_derivative.is_none() && ws.has_wdot;
        for (f, m) in ws.factored.iter_mut().zip(&ws.mask_uniform) {
            *f = m.filter(|_| can_factor).map(|m| scale * m);
        }
        for (k, p) in net.projections().iter().enumerate() {
            if ws.factored[k].is_some() && ws.zero_diag[k] {
                let (o, d) = (l.offset(p.post), &mut ws.fdelta[k]);
                for i in 0..d.len() {
                    let mut acc = zero;
                    for c in 0..b {
                        acc += ws.eps[(o + i, c)] * ws.rbar[(o + i, c)];
                    }
                    d[i] = acc;
                }
            }
        }
        if !ws.has_wdot {
            if !ws.wdot_zero {
                ws.wdot.iter_mut().for_each(|wd| zero_fill(wd));
                ws.wdot_zero = true;
            }
        } else {
            ws.wdot_zero = false;
        }
        for ((wd, p), f) in ws.wdot.iter_mut().zip(net.projections()).zip(&ws.factored) {
            if !ws.has_wdot || f.is_some() {
                continue;
            }
            let (op, oq) = (l.offset(p.post), l.offset(p.pre));
            let (rows, cols) = wd.shape();
            let eps = mref(&ws.eps).subrows(op, rows);
            let rb = mref(&ws.rbar).subrows(oq, cols);
            outer_update(wd, false, eps, rb, scale);
            for (x, &m) in wd.as_mut_slice().iter_mut().zip(p.mask.as_slice()) {
                *x *= m;
            }
            if let Some(c) = self.config.clip_weight_derivative {
                let c = T::c(c);
                wd.apply(|x| *x = x.max_(-c).min_(c));
            }
        }
        if train && self.config.learn_biases && self.config.lr_biases > 0.0 {
            let lrb = T::c(self.config.lr_biases) / T::c(b as f64);
            // column by column: the same additions in the same order as a row-wise sum; blocks
            // of rows in parallel (each row's sum is the same sequence whatever the split)
            let acc = ws.bdot.as_mut_slice();
            acc.fill(zero);
            let es = ws.eps.as_slice();
            let rows = n.div_ceil(4).max(64);
            let sum_rows = |r0: usize, a: &mut [T]| {
                for col in es.chunks(n) {
                    for (a, &e) in a.iter_mut().zip(&col[r0..]) {
                        *a += e;
                    }
                }
            };
            if n * b < 1 << 14 {
                sum_rows(0, acc);
            } else {
                acc.par_chunks_mut(rows)
                    .enumerate()
                    .for_each(|(k, a)| sum_rows(k * rows, a));
            }
            for (a, &m) in acc.iter_mut().zip(net.bias_mask.as_slice()) {
                *a = lrb * m * *a;
            }
        } else {
            ws.bdot.as_mut_slice().fill(zero);
        }
        // apical error
        if let Some(pw) = self.pathway.as_mut() {
            let ctx = pathway_context(&self.network, &self.state.u, &self.ws, &self.config, train);
            pw.begin_step(&ctx)?;
            let mut ea = DMatrix::zeros(0, 0);
            std::mem::swap(&mut ea, &mut self.ws.ea);
            if let Some(pw) = self.pathway.as_ref() {
                pw.apical_error(&self.ctx(train), &mut ea);
            }
            self.ws.ea = ea;
            self.ws.ea_zero = false;
        } else {
            let k0 = self.clamped_skip();
            let ws = &mut self.ws;
            // e_A only enters through ρ″ ⊙ e_A in the exact step: skip it when ρ″ ≡ 0; the
            // predictors fold it into their transposed product then (`evaluate_star`)
            let needed = !self.config.activation.has_zero_curvature();
            if needed {
                let keep = move |_post: usize, pre: usize| pre >= k0;
                par_product(net, None, true, &keep, T::c(1.0), true, &ws.eps, &mut ws.ea);
                ws.ea_zero = false;
            } else if !ws.ea_zero {
                zero_fill(&mut ws.ea);
                ws.ea_zero = true;
            }
        }
        self.ws.train = train;
        Ok(())
    }

    /// Right-hand side r = g/τ of M u̇ = r with M = H/τ, and Δ = β̂ − ρ″⊙e_A (spec §5.1).
    fn rhs_native_or_pathway(&mut self) {
        let n = self.network.n();
        let b = self.state.batch();
        let tau = T::c(self.config.tau);
        let c_b = if self.config.compat.tau_on_bias_derivative {
            tau
        } else {
            T::c(1.0)
        };
        let k0 = self.clamped_skip();
        let net = &self.network;
        // m = τ(Ẇ r̄ + ḃ) + … is left out with `weight_constant_for_u` (spec §5.1)
        let m_on = !self.config.weight_constant_for_u;
        let mb = if m_on { T::c(1.0) } else { T::c(0.0) };
        let ws = &mut self.ws;
        // q = τ(pad(ẋ) + Ẇ r̄ + ḃ)  (tmp)
        let (xd, bdot) = (ws.xdot.as_slice(), ws.bdot.as_slice());
        par_cols(ws.tmp.as_mut_slice(), n, |off, t| {
            for (tc, x) in t.chunks_mut(n).zip(xd[off..].chunks(n)) {
                for r in 0..n {
                    tc[r] = tau * (x[r] + mb * bdot[r]);
                }
            }
        });
        if ws.has_wdot && m_on {
            ws.lookahead_product(net, false, &|_, _| true, tau, LookaheadOut::Tmp);
        }
        let beta = self.beta.as_slice();
        let u = self.state.u.as_slice();
        if self.pathway.is_none() {
            // s = ε − q (tmp); tmp2 = Wᵀ s + τ Ẇᵀ ε (rows of clamped inputs are not needed)
            let es = ws.eps.as_slice();
            par_cols(ws.tmp.as_mut_slice(), n, |off, t| {
                for (t, &e) in t.iter_mut().zip(&es[off..]) {
                    *t = e - *t;
                }
            });
            let keep = move |_post: usize, pre: usize| pre >= k0;
            par_product(
                net,
                None,
                true,
                &keep,
                T::c(1.0),
                true,
                &ws.tmp,
                &mut ws.tmp2,
            );
            if ws.has_wdot && m_on {
                ws.lookahead_product(net, true, &keep, tau, LookaheadOut::Tmp2);
            }
            // g = −s + ρ′⊙tmp2 + (c_b − τ) ḃ + β̂⊙(ŷ − u + τ ŷ̇)
            let (bdot, ts, t2s, ds, ys, yds) = (
                ws.bdot.as_slice(),
                ws.tmp.as_slice(),
                ws.tmp2.as_slice(),
                ws.d.as_slice(),
                ws.yhat.as_slice(),
                ws.ydot.as_slice(),
            );
            par_cols(ws.g.as_mut_slice(), n, |off, g| {
                for (j, g) in g.chunks_mut(n).enumerate() {
                    let s = off + j * n..off + (j + 1) * n;
                    let (t, t2, d) = (&ts[s.clone()], &t2s[s.clone()], &ds[s.clone()]);
                    let (y, yd, uu) = (&ys[s.clone()], &yds[s.clone()], &u[s]);
                    for r in 0..n {
                        g[r] = (-t[r]
                            + d[r] * t2[r]
                            + (c_b - tau) * mb * bdot[r]
                            + beta[r] * (y[r] - uu[r] + tau * yd[r]))
                            / tau;
                    }
                }
            });
        } else {
            // g = −ε + τ pad(ẋ) + τ Ẇ r̄ + c_b ḃ + β̂⊙(ŷ − u + τŷ̇) + q_pathway
            let bdot = ws.bdot.as_slice();
            for c in 0..b {
                let s = c * n..(c + 1) * n;
                let g = &mut ws.g.as_mut_slice()[s.clone()];
                let (t, e) = (&ws.tmp.as_slice()[s.clone()], &ws.eps.as_slice()[s.clone()]);
                let (y, yd, uu) = (
                    &ws.yhat.as_slice()[s.clone()],
                    &ws.ydot.as_slice()[s.clone()],
                    &u[s],
                );
                for r in 0..n {
                    g[r] = -e[r]
                        + t[r]
                        + (c_b - tau) * mb * bdot[r]
                        + beta[r] * (y[r] - uu[r] + tau * yd[r]);
                }
            }
            let mut g = std::mem::take(&mut self.ws.g);
            if let Some(pw) = self.pathway.as_ref() {
                pw.add_rhs(&self.ctx(self.ws.train), &mut g);
            }
            g.apply(|x| *x /= tau);
            self.ws.g = g;
        }
        let ws = &mut self.ws;
        let (dds, eas) = (ws.dd.as_slice(), ws.ea.as_slice());
        par_cols(ws.delta.as_mut_slice(), n, |off, dl| {
            for (j, dl) in dl.chunks_mut(n).enumerate() {
                let s = off + j * n..off + (j + 1) * n;
                let (dd, ea) = (&dds[s.clone()], &eas[s]);
                for r in 0..n {
                    dl[r] = beta[r] - dd[r] * ea[r];
                }
            }
        });
    }

    /// First layer whose incoming back-projected products are needed: 1 when the exact method
    /// clamps the input layer with the built-in pathway (the input rows of e_A and Wᵀs are never
    /// read then), else 0.
    fn clamped_skip(&self) -> usize {
        let clamped =
            self.config.inputs == InputMode::Clamped && self.network.layers().n_inputs() > 0;
        usize::from(clamped && self.pathway.is_none() && self.config.method == Method::Exact)
    }

    /// Exact solve of H u̇ = g into `ws.udot`. Returns (fallbacks, structured).
    fn solve_exact(&mut self) -> Result<(u64, bool), CoreError> {
        self.rhs_native_or_pathway();
        let n = self.network.n();
        let f0 = self.free_start();
        let dt = T::c(self.config.dt);
        // clamped inputs: u̇_C = (x − u_C)/dt, zero elsewhere (one parallel pass)
        let moving = std::sync::atomic::AtomicBool::new(false);
        let (xs, us) = (self.ws.xpad.as_slice(), self.state.u.as_slice());
        par_cols(self.ws.udot.as_mut_slice(), n, |off, ud| {
            let mut mv = false;
            for (j, ud) in ud.chunks_mut(n).enumerate() {
                let c = off + j * n;
                let (x, u) = (&xs[c..c + f0], &us[c..c + f0]);
                for ((o, &x), &u) in ud[..f0].iter_mut().zip(x).zip(u) {
                    *o = (x - u) / dt;
                    mv |= *o != T::c(0.0);
                }
                ud[f0..].fill(T::c(0.0));
            }
            if mv {
                moving.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let moving = moving.into_inner();
        if self.use_structured() {
            if moving {
                // r_F −= (M [u̇_C; 0])_F, matrix-free: M x = Aᵀ(A x) + Δ⊙x with A = I − W D
                // (skipped while the clamped inputs stand still)
                self.apply_m_into_tmp();
                let ts = self.ws.tmp.as_slice();
                par_cols(self.ws.g.as_mut_slice(), n, |off, g| {
                    for (j, g) in g.chunks_mut(n).enumerate() {
                        let t = &ts[off + j * n..off + (j + 1) * n];
                        for (g, &t) in g[f0..].iter_mut().zip(&t[f0..]) {
                            *g -= t;
                        }
                    }
                });
            }
            self.solve_structured(f0);
            self.stats.structured += self.state.batch() as u64;
            Ok((0, true))
        } else {
            let fb = self.solve_dense(f0)?;
            Ok((fb, false))
        }
    }

    /// tmp = M x with x = ws.udot (nonzero on the clamped rows, i.e. layer 0, only), using the
    /// built-in pathway. Only the free rows (layers ≥ 1) of tmp are computed.
    fn apply_m_into_tmp(&mut self) {
        let net = &self.network;
        let ws = &mut self.ws;
        // p = d ⊙ x ; tmp2 = x − W p (= A x)
        let n = net.n();
        let (ds, xs) = (ws.d.as_slice(), ws.udot.as_slice());
        par_cols(ws.p.as_mut_slice(), n, |off, p| {
            for ((p, &d), &x) in p.iter_mut().zip(&ds[off..]).zip(&xs[off..]) {
                *p = d * x;
            }
        });
        par_cols(ws.tmp2.as_mut_slice(), n, |off, t| {
            t.copy_from_slice(&xs[off..off + t.len()]);
        });
        // p is zero outside layer 0
        par_product(
            net,
            None,
            false,
            &|_, pre| pre == 0,
            T::c(-1.0),
            false,
            &ws.p,
            &mut ws.tmp2,
        );
        // tmp = tmp2 − d ⊙ (Wᵀ tmp2) + Δ ⊙ x  (rows of layer 0 are not needed)
        par_product(
            net,
            None,
            true,
            &|_, pre| pre >= 1,
            T::c(1.0),
            true,
            &ws.tmp2,
            &mut ws.tmp,
        );
        let (t2, d, dl, x) = (
            ws.tmp2.as_slice(),
            ws.d.as_slice(),
            ws.delta.as_slice(),
            ws.udot.as_slice(),
        );
        par_cols(ws.tmp.as_mut_slice(), n, |off, t| {
            for (i, t) in t.iter_mut().enumerate() {
                let k = off + i;
                *t = t2[k] - d[k] * *t + dl[k] * x[k];
            }
        });
    }

    /// Structured exact solve for feed-forward nets with ρ″ ≡ 0 (spec §16.3 item 4):
    /// M = A_FFᵀ A_FF + Pᵀ diag(β̂_S) P with A = I − W D unit block-lower-triangular, solved by
    /// block back/forward substitution and a Woodbury correction of rank |S| (nudged neurons):
    /// w = A⁻ᵀ r, Σ = A⁻ᵀ Pᵀ, K = I + √β ΣᵀΣ √β, u̇ = A⁻¹ (w − Σ √β K⁻¹ √β Σᵀ w).
    fn solve_structured(&mut self, f0: usize) {
        let n = self.network.n();
        let b = self.state.batch();
        let net = &self.network;
        let layers = net.layers();
        let k0 = usize::from(f0 > 0);
        let keep = move |post: usize, pre: usize| post >= k0 && pre >= k0;
        let ns = self.ws.nudged.len();
        let ncol = chunk_cols(b);
        let nl = layers.len();
        let max_layer = layers.sizes().iter().copied().max().unwrap_or(0);
        let nchunks = b.div_ceil(ncol);
        let ws = &mut self.ws;
        // per-chunk scratch, (re)allocated only when the shapes change
        // Σ is only needed on the free rows f0..n (the clamped rows of every product are skipped)
        let nf = n - f0;
        let need = (
            nf * ns * ncol,
            max_layer * (ns.max(1) * ncol),
            max_layer * ncol,
            ns,
        );
        if ws.chunks.len() != nchunks || ws.chunks.first().is_some_and(|c| c.shape != need) {
            ws.chunks = (0..nchunks)
                .map(|_| ChunkScratch {
                    shape: need,
                    sigma: vec![T::c(0.0); need.0],
                    tmp: vec![T::c(0.0); need.1],
                    dz: vec![T::c(0.0); need.2],
                    kmat: faer::Mat::zeros(ns, ns),
                    y: vec![T::c(0.0); ns],
                })
                .collect();
        }
        let (d, beta, nudged) = (&ws.d, &self.beta, &ws.nudged);
        let body = |k: usize, gch: &mut [T], uch: &mut [T], scr: &mut ChunkScratch<T>| {
            let nc = gch.len() / n;
            let c0 = k * ncol;
            let ChunkScratch {
                sigma,
                tmp,
                dz,
                kmat,
                y,
                ..
            } = scr;
            // backward substitution A_FFᵀ x = rhs in place, for a block of m columns holding
            // rows base..n (`rows` = n − base of them) whose column j belongs to sample
            // j / per_sample: x_k += ρ′_k ⊙ Σ_{p.pre = k} W_pᵀ x_post
            let dsl = &d.as_slice()[c0 * n..(c0 + nc) * n];
            let mut backward = |xs: &mut [T], base: usize, m: usize, per_sample: usize| {
                let rows = n - base;
                for kl in (k0..nl).rev() {
                    let (o, sz) = (layers.offset(kl), layers.size(kl));
                    if sz == 0
                        || !net
                            .projections()
                            .iter()
                            .any(|p| p.pre == kl && keep(p.post, p.pre))
                    {
                        continue;
                    }
                    {
                        let x = faer::MatRef::from_column_major_slice(xs, rows, m);
                        let mut acc =
                            faer::MatMut::from_column_major_slice_mut(&mut tmp[..sz * m], sz, m);
                        acc.fill(T::c(0.0));
                        for p in net
                            .projections()
                            .iter()
                            .filter(|p| p.pre == kl && keep(p.post, p.pre))
                        {
                            matmul(
                                acc.rb_mut(),
                                Accum::Add,
                                mref(&p.weights).transpose(),
                                x.subrows(layers.offset(p.post) - base, layers.size(p.post)),
                                T::c(1.0),
                                Par::Seq,
                            );
                        }
                    }
                    for j in 0..m {
                        let s = j / per_sample;
                        let col = &mut xs[j * rows + o - base..j * rows + o - base + sz];
                        let dcol = &dsl[s * n + o..s * n + o + sz];
                        let acol = &tmp[j * sz..(j + 1) * sz];
                        for i in 0..sz {
                            col[i] += dcol[i] * acol[i];
                        }
                    }
                }
            };
            if ns > 0 {
                let sig = &mut sigma[..nf * ns * nc];
                sig.fill(T::c(0.0));
                for s in 0..nc {
                    for (j, &i) in nudged.iter().enumerate() {
                        sig[(s * ns + j) * nf + i - f0] = T::c(1.0);
                    }
                }
                backward(sig, f0, ns * nc, ns);
            }
            backward(gch, 0, nc, 1);
            if ns > 0 {
                let sigs = &sigma[..nf * ns * nc];
                let sig = faer::MatRef::from_column_major_slice(sigs, nf, ns * nc);
                for s in 0..nc {
                    let sb = sig.subcols(s * ns, ns);
                    // K = I + √β Σᵀ Σ √β ; y = √β Σᵀ w
                    matmul(
                        kmat.as_mut(),
                        Accum::Replace,
                        sb.transpose(),
                        sb,
                        T::c(1.0),
                        Par::Seq,
                    );
                    // Σᵀw as a product (a dot product per column with one accumulator is bound
                    // by the latency of the additions: it was a fifth of the exact MNIST step)
                    let wcol = &gch[s * n + f0..(s + 1) * n];
                    matmul(
                        faer::MatMut::from_column_major_slice_mut(&mut y[..], ns, 1),
                        Accum::Replace,
                        sb.transpose(),
                        faer::MatRef::from_column_major_slice(wcol, nf, 1),
                        T::c(1.0),
                        Par::Seq,
                    );
                    for a in 0..ns {
                        let ba = beta[nudged[a]].sqrt_();
                        for c in 0..ns {
                            kmat[(a, c)] = ba * kmat[(a, c)] * beta[nudged[c]].sqrt_();
                        }
                        kmat[(a, a)] += T::c(1.0);
                        y[a] *= ba;
                    }
                    small_cholesky_solve(kmat, y);
                    // w −= Σ √β K⁻¹ y
                    for a in 0..ns {
                        y[a] *= beta[nudged[a]].sqrt_();
                    }
                    let wcol = &mut gch[s * n + f0..(s + 1) * n];
                    matmul(
                        faer::MatMut::from_column_major_slice_mut(wcol, nf, 1),
                        Accum::Add,
                        sb,
                        faer::MatRef::from_column_major_slice(&y[..], ns, 1),
                        T::c(-1.0),
                        Par::Seq,
                    );
                }
            }
            // forward substitution A_FF z = w: z_k += Σ_{p.post = k} W_p (ρ′ ⊙ z_pre)
            for kl in k0..nl {
                let (o, sz) = (layers.offset(kl), layers.size(kl));
                for p in net
                    .projections()
                    .iter()
                    .filter(|p| p.post == kl && keep(p.post, p.pre))
                {
                    let (oq, nq) = (layers.offset(p.pre), layers.size(p.pre));
                    for j in 0..nc {
                        let (dcol, wcol) = (
                            &dsl[j * n + oq..j * n + oq + nq],
                            &gch[j * n + oq..j * n + oq + nq],
                        );
                        for (i, z) in dz[j * nq..(j + 1) * nq].iter_mut().enumerate() {
                            *z = dcol[i] * wcol[i];
                        }
                    }
                    let dzm = faer::MatRef::from_column_major_slice(&dz[..nq * nc], nq, nc);
                    let mut w = faer::MatMut::from_column_major_slice_mut(gch, n, nc);
                    matmul(
                        w.rb_mut().subrows_mut(o, sz),
                        Accum::Add,
                        mref(&p.weights),
                        dzm,
                        T::c(1.0),
                        Par::Seq,
                    );
                }
            }
            for j in 0..nc {
                uch[j * n + f0..(j + 1) * n].copy_from_slice(&gch[j * n + f0..(j + 1) * n]);
            }
        };
        if nchunks == 1 {
            body(
                0,
                ws.g.as_mut_slice(),
                ws.udot.as_mut_slice(),
                &mut ws.chunks[0],
            );
        } else {
            ws.g.as_mut_slice()
                .par_chunks_mut(ncol * n)
                .zip(ws.udot.as_mut_slice().par_chunks_mut(ncol * n))
                .zip(ws.chunks.par_iter_mut())
                .enumerate()
                .for_each(|(k, ((gch, uch), scr))| body(k, gch, uch, scr));
        }
    }

    /// W and Wᵀ (dense) and G = WᵀW, shared by all samples of the step.
    fn dense_prepare_shared(&mut self) {
        let n = self.network.n();
        let ws = &mut self.ws;
        if ws.wdense.nrows() != n {
            ws.wdense = DMatrix::zeros(n, n);
            ws.wdense_t = DMatrix::zeros(n, n);
            ws.gram = DMatrix::zeros(n, n);
        }
        let l = self.network.layers();
        // the projection blocks of W and Wᵀ; every other entry stays zero from the allocation
        // (the projections of a network never change, `network_mut` keeps shapes)
        let (ws_w, ws_wt) = (ws.wdense.as_mut_slice(), ws.wdense_t.as_mut_slice());
        for p in self.network.projections() {
            let (o_post, o_pre) = (l.offset(p.post), l.offset(p.pre));
            let (rows, cols) = p.weights.shape();
            let w = p.weights.as_slice();
            for (j, wc) in w.chunks(rows.max(1)).enumerate().take(cols) {
                let o = (o_pre + j) * n + o_post;
                ws_w[o..o + rows].copy_from_slice(wc);
            }
            // Wᵀ block, eight columns of W at a time: eight sequential read streams and one
            // contiguous 8-wide write per row (a plain loop writes with stride n)
            for jb in (0..cols).step_by(8) {
                let jn = (cols - jb).min(8);
                let src = &w[jb * rows..(jb + jn) * rows];
                for i in 0..rows {
                    let o = (o_post + i) * n + o_pre + jb;
                    for (k, d) in ws_wt[o..o + jn].iter_mut().enumerate() {
                        *d = src[k * rows + i];
                    }
                }
            }
        }
        if self.pathway.is_none() && !(ws.gram_valid && ws.gram_age < gram_refresh::<T>()) {
            ws.gram_valid = true;
            ws.gram_age = 0;
            // G_ij = Σ_k W_kiᵀ W_kj over projections sharing a postsynaptic layer; blocks with
            // pre_i <= pre_j are computed, the others mirrored (G is symmetric).
            zero_fill(&mut ws.gram);
            let ps = self.network.projections();
            for p in ps {
                for q in ps {
                    if p.post != q.post || p.pre > q.pre {
                        continue;
                    }
                    let mut gv = mmut(&mut ws.gram);
                    let blk = gv.rb_mut().submatrix_mut(
                        l.offset(p.pre),
                        l.offset(q.pre),
                        l.size(p.pre),
                        l.size(q.pre),
                    );
                    matmul(
                        blk,
                        Accum::Add,
                        mref(&p.weights).transpose(),
                        mref(&q.weights),
                        T::c(1.0),
                        Par::Seq,
                    );
                }
            }
            for (pi, qi) in ps
                .iter()
                .flat_map(|p| ps.iter().map(move |q| (p.pre, q.pre)))
            {
                if pi < qi {
                    let (oi, oj, ni, nj) = (l.offset(pi), l.offset(qi), l.size(pi), l.size(qi));
                    for j in 0..nj {
                        for i in 0..ni {
                            ws.gram[(oj + j, oi + i)] = ws.gram[(oi + i, oj + j)];
                        }
                    }
                }
            }
        }
    }

    /// M = H/τ of sample `c` over all N neurons, into `h`. With `lower`, only the lower triangle
    /// of the weight-transport M is written (all a Cholesky factorisation reads).
    fn assemble_dense(&self, c: usize, h: &mut DMatrix<T>, lower: bool) {
        let n = self.network.n();
        let ws = &self.ws;
        let d = &ws.d.as_slice()[c * n..(c + 1) * n];
        let w = ws.wdense.as_slice();
        let wt = ws.wdense_t.as_slice();
        let hs = h.as_mut_slice();
        if self.pathway.is_none() {
            let g = ws.gram.as_slice();
            for j in 0..n {
                let (hc, wc, wr, gc) = (
                    &mut hs[j * n..(j + 1) * n],
                    &w[j * n..(j + 1) * n],
                    &wt[j * n..(j + 1) * n],
                    &g[j * n..(j + 1) * n],
                );
                let dj = d[j];
                let i0 = if lower { j } else { 0 };
                for i in i0..n {
                    hc[i] = -wc[i] * dj - d[i] * wr[i] + d[i] * gc[i] * dj;
                }
            }
        } else {
            for j in 0..n {
                let (hc, wc) = (&mut hs[j * n..(j + 1) * n], &w[j * n..(j + 1) * n]);
                let dj = d[j];
                for i in 0..n {
                    hc[i] = -wc[i] * dj;
                }
            }
            if let Some(pw) = self.pathway.as_ref() {
                pw.add_matrix(&self.ctx(ws.train), c, h);
            }
        }
        for i in 0..n {
            h[(i, i)] += T::c(1.0) + ws.delta[(i, c)];
        }
    }

    fn solve_dense(&mut self, f0: usize) -> Result<u64, CoreError> {
        self.dense_prepare_shared();
        let n = self.network.n();
        let nf = n - f0;
        let b = self.state.batch();
        let ncol = chunk_cols(b);
        let nslots = b.div_ceil(ncol);
        // the full N×N M is only needed to subtract the clamped columns (f0 > 0)
        let nfull = if f0 > 0 { n } else { 0 };
        if self.ws.slots.len() != nslots
            || self
                .ws
                .slots
                .first()
                .is_some_and(|s| s.m.nrows() != nf || s.full.nrows() != nfull)
        {
            let req = StackReq::any_of(&[
                faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<T>(
                    nf,
                    Par::Seq,
                    Default::default(),
                ),
                faer::linalg::lu::partial_pivoting::factor::lu_in_place_scratch::<usize, T>(
                    nf,
                    nf,
                    Par::Seq,
                    Default::default(),
                ),
            ]);
            self.ws.slots = (0..nslots)
                .map(|_| Slot {
                    full: DMatrix::zeros(nfull, nfull),
                    m: DMatrix::zeros(nf, nf),
                    rhs: DMatrix::zeros(nf, 1),
                    perm: vec![0; nf],
                    perm_inv: vec![0; nf],
                    scratch: vec![T::c(0.0); nf],
                    mem: MemBuffer::new(req),
                })
                .collect();
        }
        let symmetric = self.pathway.as_ref().is_none_or(|p| p.is_symmetric());
        let use_chol = symmetric && self.config.solver == Solver::Cholesky;
        let mut slots = std::mem::take(&mut self.ws.slots);
        let mut udot = std::mem::take(&mut self.ws.udot);
        let step = self.state.step;
        let this = &*self;
        let work =
            |k: usize, slot: &mut Slot<T>, uch: &mut [T]| -> Result<(u64, u64, u64), CoreError> {
                let mut counts = (0u64, 0u64, 0u64); // cholesky, lu, fallbacks
                let nc = uch.len() / n;
                for j in 0..nc {
                    let c = k * ncol + j;
                    // the full M only to subtract the clamped columns
                    if f0 > 0 {
                        this.assemble_dense(c, &mut slot.full, false);
                    }
                    // rhs_F = r_F − M_FC u̇_C
                    for i in 0..nf {
                        let mut v = this.ws.g[(f0 + i, c)];
                        for q in 0..f0 {
                            v -= slot.full[(f0 + i, q)] * uch[j * n + q];
                        }
                        slot.rhs[(i, 0)] = v;
                    }
                    if nf == 0 {
                        continue;
                    }
                    // M_FF into the factor's storage: without clamped rows assembled straight
                    // there (`lower`: only the triangle a Cholesky factorisation reads), else
                    // copied out of the full M
                    let fill_m = |slot: &mut Slot<T>, lower: bool| {
                        if f0 == 0 {
                            this.assemble_dense(c, &mut slot.m, lower);
                            return;
                        }
                        let (full, m) = (slot.full.as_slice(), slot.m.as_mut_slice());
                        for j in 0..nf {
                            let o = (f0 + j) * n;
                            m[j * nf..(j + 1) * nf].copy_from_slice(&full[o + f0..o + n]);
                        }
                    };
                    fill_m(slot, use_chol);
                    let mut solved = false;
                    if use_chol {
                        let stack = MemStack::new(&mut slot.mem);
                        let ok = faer::linalg::cholesky::llt::factor::cholesky_in_place(
                            mmut(&mut slot.m),
                            Default::default(),
                            Par::Seq,
                            stack,
                            Default::default(),
                        )
                        .is_ok();
                        if ok {
                            cholesky_solve_1(slot.m.as_slice(), slot.rhs.as_mut_slice());
                            counts.0 += 1;
                            solved = true;
                        } else {
                            counts.2 += 1;
                            fill_m(slot, false);
                        }
                    }
                    if !solved {
                        let stack = MemStack::new(&mut slot.mem);
                        faer::linalg::lu::partial_pivoting::factor::lu_in_place(
                            mmut(&mut slot.m),
                            &mut slot.perm,
                            &mut slot.perm_inv,
                            Par::Seq,
                            stack,
                            Default::default(),
                        );
                        for i in 0..nf {
                            let piv = slot.m[(i, i)];
                            if piv == T::c(0.0) || !piv.finite_() {
                                return Err(CoreError::SolveFailed {
                                    step,
                                    sample: c,
                                    reason: format!(
                                        "H is singular (zero LU pivot at free neuron {})",
                                        f0 + i
                                    ),
                                });
                            }
                        }
                        lu_solve_1(
                            slot.m.as_slice(),
                            &slot.perm,
                            slot.rhs.as_mut_slice(),
                            &mut slot.scratch,
                        );
                        counts.1 += 1;
                    }
                    for i in 0..nf {
                        uch[j * n + f0 + i] = slot.rhs[(i, 0)];
                    }
                }
                Ok(counts)
            };
        let results = if nslots == 1 {
            work(0, &mut slots[0], udot.as_mut_slice())
        } else {
            slots
                .par_iter_mut()
                .zip(udot.as_mut_slice().par_chunks_mut(ncol * n))
                .enumerate()
                .map(|(k, (slot, uch))| work(k, slot, uch))
                .try_reduce(|| (0, 0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1, a.2 + b.2)))
        };
        self.ws.slots = slots;
        self.ws.udot = udot;
        let (c, l, fb) = results?;
        self.stats.cholesky += c;
        self.stats.lu += l;
        self.stats.cholesky_fallbacks += fb;
        if fb > 0 {
            tracing::debug!(
                step = self.state.step,
                fallbacks = fb,
                "Cholesky failed (H not positive definite); used LU"
            );
        }
        Ok(fb)
    }

    /// Predictor methods: u̇ from an explicit evaluation of (★) at an estimate p of u̇.
    fn predict(&mut self) -> Result<(), CoreError> {
        let b = self.state.batch();
        let f0 = self.free_start();
        let dt = T::c(self.config.dt);
        let st = &mut self.state;
        // the k-th last u̇; entries the trace does not hold yet (the first steps) read as the
        // state's u̇. The trace itself is only filled in `advance`, after the step succeeded
        let tr = &st.udot_trace;
        let q = |k: usize| tr.get(tr.len().wrapping_sub(k)).unwrap_or(&st.udot);
        let ws = &mut self.ws;
        let n = self.network.n();
        // plain Euler without clamped rows reads p = the state's u̇ in place (swapped in below)
        let in_place = self.config.method == Method::Euler && f0 == 0;
        match self.config.method {
            Method::Richardson1 => {
                let (q1, q2) = (q(1).as_slice(), q(2).as_slice());
                par_cols(ws.p.as_mut_slice(), n, |off, p| {
                    for (i, p) in p.iter_mut().enumerate() {
                        *p = T::c(2.0) * q1[off + i] - q2[off + i];
                    }
                });
            }
            Method::Richardson2 => {
                let (q1, q2, q4) = (q(1).as_slice(), q(2).as_slice(), q(4).as_slice());
                par_cols(ws.p.as_mut_slice(), n, |off, p| {
                    for (i, p) in p.iter_mut().enumerate() {
                        let j = off + i;
                        *p = (T::c(8.0) * q1[j] - T::c(6.0) * q2[j] + q4[j]) / T::c(3.0);
                    }
                });
            }
            _ if in_place => {}
            _ => copy(&mut ws.p, &st.udot),
        }
        let iterations = match self.config.method {
            Method::Picard { iterations } => iterations,
            _ => 1,
        };
        let formula = self.config.compat.predictor;
        for it in 0..iterations {
            if it > 0 {
                let ws = &mut self.ws;
                copy(&mut ws.p, &ws.udot);
            }
            if formula != PredictorFormula::ReferenceSingle {
                let ws = &mut self.ws;
                for c in 0..b {
                    for r in 0..f0 {
                        ws.p[(r, c)] = (ws.xpad[(r, c)] - self.state.u[(r, c)]) / dt;
                    }
                }
            }
            if in_place {
                std::mem::swap(&mut self.ws.p, &mut self.state.udot);
            }
            // the fused predictor also computes u + dt u̇ when nothing changes u̇ after it
            self.evaluate_star(formula, f0 == 0 && iterations == 1);
            if in_place {
                std::mem::swap(&mut self.ws.p, &mut self.state.udot);
            }
            let ws = &mut self.ws;
            for c in 0..b {
                for r in 0..f0 {
                    let clamp = (ws.xpad[(r, c)] - self.state.u[(r, c)]) / dt;
                    if formula == PredictorFormula::ReferenceSingle {
                        ws.udot[(r, c)] += clamp;
                    } else {
                        ws.udot[(r, c)] = clamp;
                    }
                }
            }
        }
        Ok(())
    }

    /// ws.udot = (★)(p)/τ for the chosen formula.
    fn evaluate_star(&mut self, formula: PredictorFormula, with_advance: bool) {
        let n = self.network.n();
        let f0 = self.free_start();
        let tau = T::c(self.config.tau);
        let zero = T::c(0.0);
        let net = &self.network;
        let ws = &mut self.ws;
        let u = self.state.u.as_slice();
        let beta = self.beta.as_slice();
        let all = |_: usize, _: usize| true;
        // with ρ″ ≡ 0 and the built-in pathway, e_A = Wᵀε was not computed (`prepare`): ρ′⊙e_A and
        // τρ′⊙Wᵀh are one product ρ′⊙Wᵀ(ε + τh) (and the look-ahead τρ′⊙Ẇᵀε)
        let fused = self.pathway.is_none() && self.config.activation.has_zero_curvature();
        if fused && formula != PredictorFormula::ReferenceSingle {
            return self.evaluate_star_fused(formula, with_advance);
        }
        let n0 = self.network.layers().n_inputs();
        let kh = if fused { tau } else { T::c(1.0) };
        let inv_tau = T::c(1.0) / tau;
        // t1 = W(d⊙p) (tmp)
        let (ds, ps) = (ws.d.as_slice(), ws.p.as_slice());
        par_cols(ws.udot.as_mut_slice(), n, |off, t| {
            let m = t.len();
            for ((t, &d), &p) in t.iter_mut().zip(&ds[off..off + m]).zip(&ps[off..off + m]) {
                *t = d * p;
            }
        });
        par_product(
            net,
            None,
            false,
            &all,
            T::c(1.0),
            true,
            &ws.udot,
            &mut ws.tmp,
        );
        let reference_single = formula == PredictorFormula::ReferenceSingle;
        // t1 + t2 = tmp + pad(ẋ) + c_ḃ ḃ: the look-ahead Ẇ r̄ is added to tmp, ẋ and ḃ are read
        // where needed (E_b and E_s leave ḃ out)
        let m_on = !self.config.weight_constant_for_u;
        let with_bdot = if formula == PredictorFormula::Consistent && m_on {
            T::c(1.0)
        } else {
            zero
        };
        if !reference_single {
            if ws.has_wdot && m_on {
                ws.lookahead_product(net, false, &all, T::c(1.0), LookaheadOut::Tmp);
            }
            // h = p − t1 − t2 (udot as scratch); not fused here (that case is
            // `evaluate_star_fused`)
            let (p, t1, xd, bd) = (
                ws.p.as_slice(),
                ws.tmp.as_slice(),
                ws.xdot.as_slice(),
                ws.bdot.as_slice(),
            );
            par_cols(ws.udot.as_mut_slice(), n, |off, h| {
                for (j, h) in h.chunks_mut(n).enumerate() {
                    let c = off + j * n..off + (j + 1) * n;
                    let (p, t1, xd) = (&p[c.clone()], &t1[c.clone()], &xd[c]);
                    for r in 0..n {
                        h[r] = p[r] - t1[r] - (xd[r] + with_bdot * bd[r]);
                    }
                }
            });
        } else {
            // E_s: h = p − (W ρ′) ⊙ p, no Ẇ terms (tmp2 = W ρ′); t2 = pad(ẋ)
            par_product(net, None, false, &all, T::c(1.0), true, &ws.d, &mut ws.tmp2);
            let (p, t2, es) = (ws.p.as_slice(), ws.tmp2.as_slice(), ws.eps.as_slice());
            for (i, h) in ws.udot.as_mut_slice().iter_mut().enumerate() {
                let x = p[i] - t2[i] * p[i];
                *h = if fused { es[i] + kh * x } else { x };
            }
        }
        // t2 = Wᵀ h (+ Ẇᵀ ε) (g as scratch); fused: e_A + τ t2 = Wᵀ(ε + τh) (+ τ Ẇᵀ ε)
        par_product(net, None, true, &all, T::c(1.0), true, &ws.udot, &mut ws.g);
        if ws.has_wdot && !reference_single && m_on {
            ws.lookahead_product(net, true, &all, kh, LookaheadOut::G);
        }
        // the coefficient of ρ′ ⊙ g below: τ, or 1 when g already carries it
        let kg = if fused { T::c(1.0) } else { tau };
        let (eps, t1, xd, bd, d, dd, p, ea, g) = (
            ws.eps.as_slice(),
            ws.tmp.as_slice(),
            ws.xdot.as_slice(),
            ws.bdot.as_slice(),
            ws.d.as_slice(),
            ws.dd.as_slice(),
            ws.p.as_slice(),
            ws.ea.as_slice(),
            ws.g.as_slice(),
        );
        let (yh, yd) = (ws.yhat.as_slice(), ws.ydot.as_slice());
        // the nudging terms only on the rows with β ≠ 0 (the free ones, plus, for E_s, whose
        // clamped rows keep the computed value, the clamped ones)
        let nudged = ws.nudged.as_slice();
        let clamped_nudged = reference_single && beta[..f0].iter().any(|&b| b != zero);
        par_cols(ws.udot.as_mut_slice(), n, |off, ud| {
            for (j, out) in ud.chunks_mut(n).enumerate() {
                let c = off + j * n..off + (j + 1) * n;
                let (e, t1, xd, d, g) = (
                    &eps[c.clone()],
                    &t1[c.clone()],
                    &xd[c.clone()],
                    &d[c.clone()],
                    &g[c.clone()],
                );
                if fused {
                    // ρ″ ≡ 0 and e_A folded into g; ẋ is zero below the input rows
                    for r in 0..n0 {
                        out[r] = -e[r] + tau * (t1[r] + (xd[r] + with_bdot * bd[r])) + d[r] * g[r];
                    }
                    for r in n0..n {
                        out[r] = -e[r] + tau * (t1[r] + with_bdot * bd[r]) + d[r] * g[r];
                    }
                } else {
                    let (dd, p, ea) = (&dd[c.clone()], &p[c.clone()], &ea[c.clone()]);
                    for r in 0..n {
                        out[r] = -e[r]
                            + tau * (t1[r] + (xd[r] + with_bdot * bd[r]))
                            + d[r] * ea[r]
                            + kg * d[r] * g[r]
                            + tau * (dd[r] * p[r] * ea[r]);
                    }
                }
                let c0 = c.start;
                let mut nudge = |r: usize| {
                    let (bt, i) = (beta[r], c0 + r);
                    out[r] += bt * (yh[i] - u[i]) + tau * (bt * (yd[i] - p[i]));
                };
                nudged.iter().for_each(|&r| nudge(r));
                if clamped_nudged {
                    (0..f0).filter(|&r| beta[r] != zero).for_each(&mut nudge);
                }
                // × 1/τ: a division per element is several times slower than a product
                for o in out.iter_mut() {
                    *o *= inv_tau;
                }
            }
        });
    }

    /// [`Simulator::evaluate_star`] for ρ″ ≡ 0, the built-in pathway and the formulas with the
    /// look-ahead (all but E_s): every term of (★)(p) is local to a sample except the Gram
    /// matrices of the factored look-ahead, so after those the whole evaluation runs as one
    /// parallel task per fixed column chunk, each chunk's intermediate columns staying in cache:
    /// t1 = W(ρ′⊙p) + Ẇ r̄, h = ε + τ(p − t1 − ẋ − c ḃ), g = Wᵀh + τ Ẇᵀε,
    /// τ u̇ = −ε + τ(t1 + ẋ + c ḃ) + ρ′⊙g + β̂⊙(ŷ − u) + τ β̂⊙(ŷ̇ − p)
    /// (the same operations, column by column, as the general path).
    fn evaluate_star_fused(&mut self, formula: PredictorFormula, with_advance: bool) {
        use rayon::prelude::*;
        let n = self.network.n();
        let b = self.state.batch();
        let n0 = self.network.layers().n_inputs();
        let tau = T::c(self.config.tau);
        let inv_tau = T::c(1.0) / tau;
        let zero = T::c(0.0);
        let net = &self.network;
        let u = self.state.u.as_slice();
        let beta = self.beta.as_slice();
        let all = |_: usize, _: usize| true;
        let m_on = !self.config.weight_constant_for_u;
        let with_bdot = if formula == PredictorFormula::Consistent && m_on {
            T::c(1.0)
        } else {
            zero
        };
        let ws = &mut self.ws;
        let look = ws.has_wdot && m_on;
        let f = Factored {
            s: &ws.factored,
            zero_diag: &ws.zero_diag,
            delta: &ws.fdelta,
            e: &ws.eps,
            r: &ws.rbar,
        };
        if look {
            let (gr, ge) = (&mut ws.lr_scratch, &mut ws.gram_e);
            rayon::join(
                || wdot_grams(net, &f, false, &all, gr),
                || wdot_grams(net, &f, true, &all, ge),
            );
        }
        let (gr, ge, wdot) = (&ws.lr_scratch, &ws.gram_e, &ws.wdot);
        let (p, d, eps, xd, bd) = (
            ws.p.as_slice(),
            ws.d.as_slice(),
            ws.eps.as_slice(),
            ws.xdot.as_slice(),
            ws.bdot.as_slice(),
        );
        let (yh, yd, nudged) = (ws.yhat.as_slice(), ws.ydot.as_slice(), &ws.nudged);
        let cc = chunk_cols(b) * n;
        let (dt, limit) = (T::c(self.config.dt), T::c(self.config.divergence_limit));
        let failed = std::sync::atomic::AtomicBool::new(false);
        let chunk = |k: usize, ((ud, t1), (g, nu)): PredictorChunk<'_, T>| {
            let (off, nc) = (k * cc, ud.len() / n);
            let cols = off..off + ud.len();
            let (p, d, e) = (&p[cols.clone()], &d[cols.clone()], &eps[cols.clone()]);
            fn view<T: Real>(x: &mut [T], n: usize, nc: usize) -> faer::MatMut<'_, T> {
                faer::MatMut::from_column_major_slice_mut(x, n, nc)
            }
            // t1 = W(ρ′⊙p) + Ẇ r̄ (ρ′⊙p in ud as scratch)
            for ((o, &d), &p) in ud.iter_mut().zip(d).zip(p) {
                *o = d * p;
            }
            let dp = faer::MatRef::from_column_major_slice(&*ud, n, nc);
            block_product(net, None, false, &all, T::c(1.0), true, dp, view(t1, n, nc));
            if look {
                block_wdot_product(
                    net,
                    wdot,
                    &f,
                    false,
                    &all,
                    T::c(1.0),
                    k * cc / n,
                    view(t1, n, nc),
                    gr,
                );
            }
            // h = ε + τ(p − t1 − ẋ − c ḃ) (ud); ẋ is zero below the input rows
            for j in 0..nc {
                let c = j * n..(j + 1) * n;
                let (h, p, t1, e) = (
                    &mut ud[c.clone()],
                    &p[c.clone()],
                    &t1[c.clone()],
                    &e[c.clone()],
                );
                let x = &xd[off + j * n..off + j * n + n0];
                for r in 0..n0 {
                    h[r] = e[r] + tau * (p[r] - t1[r] - (x[r] + with_bdot * bd[r]));
                }
                for r in n0..n {
                    h[r] = e[r] + tau * (p[r] - t1[r] - with_bdot * bd[r]);
                }
            }
            // g = Wᵀ h + τ Ẇᵀ ε
            let h = faer::MatRef::from_column_major_slice(&*ud, n, nc);
            block_product(net, None, true, &all, T::c(1.0), true, h, view(g, n, nc));
            if look {
                block_wdot_product(
                    net,
                    wdot,
                    &f,
                    true,
                    &all,
                    tau,
                    k * cc / n,
                    view(g, n, nc),
                    ge,
                );
            }
            // u̇ (ud)
            for j in 0..nc {
                let c = j * n..(j + 1) * n;
                let (out, t1, e, d, g) = (
                    &mut ud[c.clone()],
                    &t1[c.clone()],
                    &e[c.clone()],
                    &d[c.clone()],
                    &g[c.clone()],
                );
                let x = &xd[off + j * n..off + j * n + n0];
                for r in 0..n0 {
                    out[r] = -e[r] + tau * (t1[r] + (x[r] + with_bdot * bd[r])) + d[r] * g[r];
                }
                for r in n0..n {
                    out[r] = -e[r] + tau * (t1[r] + with_bdot * bd[r]) + d[r] * g[r];
                }
                let c0 = off + j * n;
                for &r in nudged {
                    let (bt, i) = (beta[r], c0 + r);
                    out[r] += bt * (yh[i] - u[i]) + tau * (bt * (yd[i] - p[j * n + r]));
                }
                // × 1/τ: a division per element is several times slower than a product
                for o in out.iter_mut() {
                    *o *= inv_tau;
                }
                // u + dt u̇ and its divergence check (`advance` takes both)
                if with_advance
                    && !advance_chunk(&mut nu[c.clone()], out, &u[c0..c0 + n], dt, limit)
                {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        };
        let (ud, t1, g, nu) = (
            ws.udot.as_mut_slice(),
            ws.tmp.as_mut_slice(),
            ws.g.as_mut_slice(),
            ws.tmp2.as_mut_slice(),
        );
        if cc >= n * b {
            chunk(0, ((ud, t1), (g, nu)));
        } else {
            (ud.par_chunks_mut(cc).zip(t1.par_chunks_mut(cc)))
                .zip(g.par_chunks_mut(cc).zip(nu.par_chunks_mut(cc)))
                .enumerate()
                .for_each(|(k, x)| chunk(k, x));
        }
        self.ws.advanced = with_advance.then(|| !failed.into_inner());
    }

    /// W += dt Ẇ (spec §6.3) with the optional clipping of W. Factored Ẇ (see `Workspace::factored`)
    /// is added by one product per projection, W += dt s ε[post] r̄[pre]ᵀ, never materialised.
    ///
    /// When the dense solver's Gram matrix G = WᵀW is current and every Ẇ is factored, G is
    /// updated in O((nnz + N²) B) instead of recomputed in O(N³): with W′_k = W_k + a_k E R_kᵀ
    /// (E = ε of the common postsynaptic layer, R_k = r̄[pre_k], a_k = dt s_k),
    /// W′_pᵀW′_q = W_pᵀW_q + a_q Q_p R_qᵀ + a_p R_p Q_qᵀ with Q_k = W_kᵀE + (a_k/2) R_k EᵀE.
    /// A block of a population onto itself whose mask removes the diagonal has
    /// W′_k = W_k + a_k (E R_kᵀ − D_k), D_k = diag(δ_k); this adds −a_q W_pᵀ D_q − a_p D_p W_q
    /// (with the old W), −a_k D_k E to Q_k, and a_k² D_k² to the diagonal block.
    fn update_weights(&mut self, dt: T) {
        let zero = T::c(0.0);
        let clip = self.config.clip_weights.map(T::c);
        let b = self.state.batch();
        let ws = &mut self.ws;
        let incremental = ws.gram_valid
            && ws.gram_age < gram_refresh::<T>()
            && ws.factored.iter().all(Option::is_some);
        let (l, projections) = self.network.layers_and_projections_mut();
        let fac = |k: usize| dt * ws.factored[k].unwrap_or(zero);
        if incremental {
            for (p, gp) in projections.iter().zip(ws.gram_p.iter_mut()) {
                matmul(
                    mmut(gp),
                    Accum::Replace,
                    mref(&p.weights).transpose(),
                    mref(&ws.eps).subrows(l.offset(p.post), l.size(p.post)),
                    T::c(1.0),
                    Par::Seq,
                );
            }
            // the terms of the removed diagonals that need the old W:
            // G[pre_p, post] −= a_q W_pᵀ diag(δ_q), G[post, pre_q] −= a_p diag(δ_p) W_q
            for (kz, z) in projections.iter().enumerate() {
                if !ws.zero_diag[kz] || fac(kz) == zero {
                    continue;
                }
                let (a, d, o) = (fac(kz), ws.fdelta[kz].as_slice(), l.offset(z.post));
                if d.is_empty() {
                    continue;
                }
                let ng = ws.gram.nrows();
                let g = ws.gram.as_mut_slice();
                for p in projections.iter().filter(|p| p.post == z.post) {
                    let (op, w, cols) = (l.offset(p.pre), p.weights.as_slice(), p.weights.ncols());
                    let rows = d.len();
                    // G[pre_p, post] −= a W_pᵀ diag(δ): column o + j takes row j of W_p
                    for (j, &dj) in d.iter().enumerate() {
                        let col = &mut g[(o + j) * ng + op..(o + j) * ng + op + cols];
                        for (x, &wv) in col.iter_mut().zip(w[j..].iter().step_by(rows)) {
                            *x -= a * wv * dj;
                        }
                    }
                    // G[post, pre_p] −= a diag(δ) W_p: column op + i takes column i of W_p
                    for (i, wc) in w.chunks(rows).enumerate() {
                        let col = &mut g[(op + i) * ng + o..(op + i) * ng + o + rows];
                        for ((x, &wv), &dj) in col.iter_mut().zip(wc).zip(d.iter()) {
                            *x -= a * wv * dj;
                        }
                    }
                }
            }
        }
        // clamped weights: logged (and applied with a sparse correction of G at the end) while G
        // is kept incrementally, unless so many are clamped that recomputing G is cheaper
        ws.clip_log.clear();
        let clip_cap = if incremental {
            projections.iter().map(|p| p.weights.len()).sum::<usize>() / 16
        } else {
            0
        };
        let mut overflow = false;
        for (k, p) in projections.iter_mut().enumerate() {
            let (rows, cols) = p.weights.shape();
            // contiguous column chunks of W: every entry is computed the same way whatever the
            // number of threads
            let cch = cols.div_ceil(4).max(1);
            let parallel = rows * cols * b >= 1 << 16;
            match ws.factored[k] {
                Some(s) if s == zero => {}
                Some(s) => {
                    let zd = ws.zero_diag[k];
                    if zd {
                        // masked diagonal: kept as it is
                        for (i, v) in ws.fsave[k].iter_mut().enumerate() {
                            *v = p.weights[(i, i)];
                        }
                    }
                    let e = mref(&ws.eps).subrows(l.offset(p.post), rows);
                    let r = mref(&ws.rbar).subrows(l.offset(p.pre), cols);
                    outer_update(&mut p.weights, true, e, r, dt * s);
                    if zd {
                        for (i, &v) in ws.fsave[k].iter().enumerate() {
                            p.weights[(i, i)] = v;
                        }
                    }
                }
                None => {
                    let body = |(w, x): (&mut [T], &[T])| {
                        for (w, &x) in w.iter_mut().zip(x) {
                            *w += dt * x;
                        }
                    };
                    let wd = ws.wdot[k].as_slice();
                    if parallel {
                        p.weights
                            .as_mut_slice()
                            .par_chunks_mut(cch * rows)
                            .zip(wd.par_chunks(cch * rows))
                            .for_each(body);
                    } else {
                        body((p.weights.as_mut_slice(), wd));
                    }
                }
            }
            if let Some(c) = clip {
                for (idx, w) in p.weights.as_mut_slice().iter_mut().enumerate() {
                    let x = w.max_(-c).min_(c);
                    if x != *w {
                        if ws.clip_log.len() < clip_cap {
                            ws.clip_log.push((k, idx, x));
                        } else {
                            overflow = true;
                            *w = x;
                        }
                    }
                }
            }
        }
        if !incremental || overflow {
            for &(k, idx, x) in &ws.clip_log {
                projections[k].weights.as_mut_slice()[idx] = x;
            }
            ws.gram_valid = false;
            return;
        }
        let ps = &*projections;
        for post in 0..l.len() {
            if !ps.iter().any(|p| p.post == post) {
                continue;
            }
            let e = mref(&ws.eps).subrows(l.offset(post), l.size(post));
            matmul(
                mmut(&mut ws.gram_s),
                Accum::Replace,
                e.transpose(),
                e,
                T::c(1.0),
                Par::Seq,
            );
            for (k, p) in ps.iter().enumerate() {
                if p.post == post {
                    matmul(
                        mmut(&mut ws.gram_p[k]),
                        Accum::Add,
                        mref(&ws.rbar).subrows(l.offset(p.pre), l.size(p.pre)),
                        mref(&ws.gram_s),
                        fac(k) * T::c(0.5),
                        Par::Seq,
                    );
                    if ws.zero_diag[k] && !ws.fdelta[k].is_empty() {
                        // Q_k −= a_k diag(δ_k) E, and G_kk += a_k² diag(δ_k)²
                        let (a, o) = (fac(k), l.offset(post));
                        let d = ws.fdelta[k].as_slice();
                        let (ne, es) = (ws.eps.nrows(), ws.eps.as_slice());
                        let gp = ws.gram_p[k].as_mut_slice();
                        for (c, gc) in gp.chunks_mut(d.len()).enumerate().take(b) {
                            let ec = &es[c * ne + o..c * ne + o + d.len()];
                            for ((g, &di), &e) in gc.iter_mut().zip(d).zip(ec) {
                                *g -= a * di * e;
                            }
                        }
                        for i in 0..d.len() {
                            ws.gram[(o + i, o + i)] += a * a * d[i] * d[i];
                        }
                    }
                }
            }
            for (kp, p) in ps.iter().enumerate() {
                for (kq, q) in ps.iter().enumerate() {
                    if p.post != post || q.post != post {
                        continue;
                    }
                    let rp = mref(&ws.rbar).subrows(l.offset(p.pre), l.size(p.pre));
                    let rq = mref(&ws.rbar).subrows(l.offset(q.pre), l.size(q.pre));
                    let mut g = mmut(&mut ws.gram);
                    let mut blk = g.rb_mut().submatrix_mut(
                        l.offset(p.pre),
                        l.offset(q.pre),
                        l.size(p.pre),
                        l.size(q.pre),
                    );
                    matmul(
                        blk.rb_mut(),
                        Accum::Add,
                        mref(&ws.gram_p[kp]),
                        rq.transpose(),
                        fac(kq),
                        Par::Seq,
                    );
                    matmul(
                        blk,
                        Accum::Add,
                        rp,
                        mref(&ws.gram_p[kq]).transpose(),
                        fac(kp),
                        Par::Seq,
                    );
                }
            }
        }
        // G = Σ_i w_i w_iᵀ over the rows w_i of W (over all presynaptic neurons): clamping
        // W[i, j] from w to x changes one row by c e_j (c = x − w), so
        // G += c (e_j w_iᵀ + w_i e_jᵀ) + c² e_j e_jᵀ with the row as it was before; the clamps
        // are applied one after the other, each with the row left by the previous ones.
        let ng = ws.gram.nrows();
        let g = ws.gram.as_mut_slice();
        for &(k, idx, x) in &ws.clip_log {
            let p = &projections[k];
            let rows = p.weights.nrows();
            let (i, jg) = (idx % rows, l.offset(p.pre) + idx / rows);
            let c = x - p.weights.as_slice()[idx];
            for q in projections.iter().filter(|q| q.post == p.post) {
                let (oq, qr) = (l.offset(q.pre), q.weights.nrows());
                for (jj, &w) in q.weights.as_slice()[i..].iter().step_by(qr).enumerate() {
                    let cw = c * w;
                    g[jg * ng + oq + jj] += cw;
                    g[(oq + jj) * ng + jg] += cw;
                }
            }
            g[jg * ng + jg] += c * c;
            projections[k].weights.as_mut_slice()[idx] = x;
        }
        ws.gram_age += 1;
    }

    /// Checks u̇, then applies u += dt u̇, W += dt Ẇ, b += dt ḃ (spec §6.3) and shifts the stored
    /// input/target.
    fn advance(&mut self, input: &DMatrix<T>) -> Result<(), CoreError> {
        let n = self.network.n();
        let dt = T::c(self.config.dt);
        let limit = T::c(self.config.divergence_limit);
        let step = self.state.step;
        // one branch-free pass writes u + dt u̇ into `tmp2` (scratch here) and checks it; the state
        // takes it below. The search for the offending entry only runs when the check fails (NaN
        // fails `<=`, and a non-finite u̇ makes u + dt u̇ non-finite or NaN)
        let failed = match self.ws.advanced.take() {
            Some(ok) => !ok,
            None => {
                let (us, uds) = (self.state.u.as_slice(), self.ws.udot.as_slice());
                let failed = std::sync::atomic::AtomicBool::new(false);
                par_cols(self.ws.tmp2.as_mut_slice(), n, |off, nu| {
                    if !advance_chunk(nu, &uds[off..], &us[off..], dt, limit) {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                });
                failed.into_inner()
            }
        };
        if failed {
            for (i, (&ud, &u)) in self
                .ws
                .udot
                .as_slice()
                .iter()
                .zip(self.state.u.as_slice().iter())
                .enumerate()
            {
                let nu = u + dt * ud;
                if !ud.finite_() || !nu.finite_() {
                    return Err(CoreError::NonFinite {
                        field: "udot".into(),
                        step,
                        neuron: i % n,
                        sample: i / n,
                    });
                }
                if nu.abs_() > limit {
                    return Err(CoreError::Diverged {
                        field: "u".into(),
                        step,
                        neuron: i % n,
                        sample: i / n,
                        value: nu.f64_(),
                        limit: limit.f64_(),
                    });
                }
            }
        }
        if let Some(pw) = self.pathway.as_mut() {
            let ctx = pathway_context(
                &self.network,
                &self.state.u,
                &self.ws,
                &self.config,
                self.ws.train,
            );
            pw.end_step(&ctx, &self.ws.udot)?;
        }
        if self.ws.has_wdot {
            self.update_weights(dt);
        }
        let st = &mut self.state;
        // the state takes u + dt u̇ (computed above) and this step's u̇; every step overwrites
        // tmp2 and ws.udot before reading them
        std::mem::swap(&mut st.u, &mut self.ws.tmp2);
        std::mem::swap(&mut st.udot, &mut self.ws.udot);
        if self.ws.bdot.as_slice().iter().any(|&x| x != T::c(0.0)) {
            self.network.biases.axpy(dt, &self.ws.bdot, T::c(1.0));
            if let Some(c) = self.config.clip_biases.map(T::c) {
                self.network.biases.apply(|x| *x = x.max_(-c).min_(c));
            }
        }
        let n0 = self.network.layers().n_inputs();
        let b = st.batch();
        match &mut st.prev_input {
            Some(px) if px.shape() == (n0, b) && input.shape() == (n0, b) => {
                let xs = input.as_slice();
                par_cols(px.as_mut_slice(), n0, |off, d| {
                    d.copy_from_slice(&xs[off..off + d.len()]);
                });
            }
            _ => {
                st.prev_input = if input.shape() == (n0, b) {
                    Some(input.clone())
                } else {
                    Some(DMatrix::zeros(n0, b))
                }
            }
        }
        // ŷ_prev = ŷ: only the last rows where either can be nonzero are copied
        let ws = &mut self.ws;
        match &mut st.prev_target {
            Some(py) if py.shape() == ws.yhat.shape() => {
                let k = ws.yhat_rows.max(ws.prev_rows.unwrap_or(n));
                for (d, s) in py
                    .as_mut_slice()
                    .chunks_mut(n)
                    .zip(ws.yhat.as_slice().chunks(n))
                {
                    d[n - k..].copy_from_slice(&s[n - k..]);
                }
            }
            Some(py) => *py = ws.yhat.clone(),
            None => st.prev_target = Some(ws.yhat.clone()),
        }
        ws.prev_rows = Some(ws.yhat_rows);
        if matches!(
            self.config.method,
            Method::Richardson1 | Method::Richardson2
        ) {
            // a short trace (the first step) is completed with the previous u̇ (swapped out above)
            while st.udot_trace.len() < 4 {
                st.udot_trace.insert(0, self.ws.udot.clone());
            }
            let mut oldest = st.udot_trace.remove(0);
            copy(&mut oldest, &st.udot);
            st.udot_trace.push(oldest);
        }
        st.step += 1;
        Ok(())
    }
}

/// The view of a step that an [`ErrorPathway`] gets (built from disjoint borrows, so that the
/// pathway itself can be borrowed mutably at the same time).
fn pathway_context<'a, T: Real>(
    network: &'a Network<T>,
    u: &'a DMatrix<T>,
    ws: &'a Workspace<T>,
    config: &ModelConfig,
    train: bool,
) -> PathwayContext<'a, T> {
    PathwayContext {
        network,
        u,
        rbar: &ws.rbar,
        rho_prime: &ws.d,
        rho_second: &ws.dd,
        basal: &ws.v,
        input: &ws.xpad,
        input_rate: &ws.xdot,
        weight_derivative: &ws.wdot,
        bias_derivative: &ws.bdot,
        tau: T::c(config.tau),
        dt: T::c(config.dt),
        train,
    }
}

/// `nu = u + dt u̇` over one part of the batch; whether every entry passes the divergence check
/// (u̇ and u + dt u̇ finite, |u + dt u̇| ≤ limit) — a branch-free pass.
#[inline]
fn advance_chunk<T: Real>(nu: &mut [T], udot: &[T], u: &[T], dt: T, limit: T) -> bool {
    (nu.iter_mut().zip(udot).zip(u)).fold(true, |ok, ((o, &ud), &u)| {
        let v = u + dt * ud;
        *o = v;
        ok & ud.finite_() & v.finite_() & (v.abs_() <= limit)
    })
}

/// In-place Cholesky solve of a small SPD system (K x = y, x written into y).
fn small_cholesky_solve<T: Real>(k: &mut faer::Mat<T>, y: &mut [T]) {
    let n = y.len();
    for j in 0..n {
        let mut s = k[(j, j)];
        for p in 0..j {
            s -= k[(j, p)] * k[(j, p)];
        }
        let l = s.sqrt_();
        k[(j, j)] = l;
        for i in j + 1..n {
            let mut s = k[(i, j)];
            for p in 0..j {
                s -= k[(i, p)] * k[(j, p)];
            }
            k[(i, j)] = s / l;
        }
    }
    for i in 0..n {
        let mut s = y[i];
        for p in 0..i {
            s -= k[(i, p)] * y[p];
        }
        y[i] = s / k[(i, i)];
    }
    for i in (0..n).rev() {
        let mut s = y[i];
        for p in i + 1..n {
            s -= k[(p, i)] * y[p];
        }
        y[i] = s / k[(i, i)];
    }
}
