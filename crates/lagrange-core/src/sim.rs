//! The time step: state, nudging, the exact linear solve, predictors, plasticity and the Euler
//! update.

use crate::config::{InputMode, Method, ModelConfig, PredictorFormula, Solver};
use crate::error::CoreError;
use crate::network::Network;
use crate::ops::{
    backward_acc, backward_acc_with, chunk_cols, forward_acc, forward_acc_with, mmut, mref,
};
use crate::pathway::{ErrorPathway, PathwayContext};
use crate::real::Real;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
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
    full: DMatrix<T>,
    m: DMatrix<T>,
    rhs: DMatrix<T>,
    perm: Vec<usize>,
    perm_inv: Vec<usize>,
    mem: MemBuffer,
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
    train: bool,
    // structured solver
    nudged: Vec<usize>,
    sigma: DMatrix<T>,
    // dense solver
    wdense: DMatrix<T>,
    gram: DMatrix<T>,
    slots: Vec<Slot<T>>,
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
        &mut self.network
    }
    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
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
        self.ensure_workspace();
        Ok(())
    }
    /// Mutable state access (keep the shapes).
    pub fn state_mut(&mut self) -> &mut State<T> {
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
            ws.v = z();
            ws.eps = z();
            ws.ea = z();
            ws.xpad = z();
            ws.xdot = z();
            ws.yhat = z();
            ws.ydot = z();
            ws.g = z();
            ws.delta = z();
            ws.tmp = z();
            ws.tmp2 = z();
            ws.p = z();
            ws.udot = z();
            ws.slots.clear();
            ws.sigma = DMatrix::zeros(0, 0);
        }
        if ws.wdot.len() != self.network.projections().len() {
            ws.wdot = self
                .network
                .projections()
                .iter()
                .map(|p| DMatrix::zeros(p.weights.nrows(), p.weights.ncols()))
                .collect();
            ws.bdot = DVector::zeros(n);
        }
        let f0 = match self.config.inputs {
            InputMode::Clamped => self.network.layers().n_inputs(),
            InputMode::Dynamic => 0,
        };
        let nudged: Vec<usize> = (f0..n).filter(|&i| self.beta[i] != T::c(0.0)).collect();
        if nudged != ws.nudged || ws.sigma.ncols() != nudged.len() * b {
            ws.sigma = DMatrix::zeros(n, nudged.len() * b);
            ws.nudged = nudged;
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
        self.prepare(input, target, train)?;
        let (fallbacks, structured) = match self.config.method {
            Method::Exact => self.solve_exact()?,
            _ => {
                self.predict()?;
                (0, false)
            }
        };
        self.advance(input)?;
        Ok(StepInfo {
            step: self.state.step,
            cholesky_fallbacks: fallbacks,
            structured,
        })
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
        self.assemble_dense(sample, &mut h);
        let tau = T::c(self.config.tau);
        Ok((h * tau, self.ws.g.column(sample) * tau))
    }

    fn ctx(&self, train: bool) -> PathwayContext<'_, T> {
        PathwayContext {
            network: &self.network,
            u: &self.state.u,
            rbar: &self.ws.rbar,
            rho_prime: &self.ws.d,
            rho_second: &self.ws.dd,
            basal: &self.ws.v,
            input: &self.ws.xpad,
            input_rate: &self.ws.xdot,
            weight_derivative: &self.ws.wdot,
            bias_derivative: &self.ws.bdot,
            tau: T::c(self.config.tau),
            dt: T::c(self.config.dt),
            train,
        }
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
        if let Some((i, _)) = input.iter().enumerate().find(|(_, x)| !x.finite_()) {
            return Err(CoreError::NonFinite {
                field: "input".into(),
                step: self.state.step,
                neuron: i % n0.max(1),
                sample: i / n0.max(1),
            });
        }
        self.ensure_workspace();
        let dt = T::c(self.config.dt);
        let zero = T::c(0.0);
        let nt = target.nrows();
        let ws = &mut self.ws;
        // embedded input and target, finite differences
        ws.xpad.fill(zero);
        ws.xdot.fill(zero);
        if n0 > 0 {
            ws.xpad.rows_mut(0, n0).copy_from(input);
            if let Some(px) = &self.state.prev_input {
                for c in 0..b {
                    for r in 0..n0 {
                        ws.xdot[(r, c)] = (input[(r, c)] - px[(r, c)]) / dt;
                    }
                }
            }
        }
        ws.yhat.fill(zero);
        if nt > 0 && target.ncols() == b {
            ws.yhat.rows_mut(n - nt, nt).copy_from(target);
        }
        match &self.state.prev_target {
            Some(py) => {
                for ((yd, &y), &p) in ws.ydot.iter_mut().zip(ws.yhat.iter()).zip(py.iter()) {
                    *yd = (y - p) / dt;
                }
            }
            None => ws.ydot.fill(zero),
        }
        // rates
        let act = self.config.activation;
        let cc = chunk_cols(b) * n;
        ws.rbar
            .as_mut_slice()
            .par_chunks_mut(cc)
            .zip(ws.d.as_mut_slice().par_chunks_mut(cc))
            .zip(ws.dd.as_mut_slice().par_chunks_mut(cc))
            .zip(self.state.u.as_slice().par_chunks(cc))
            .for_each(|(((r, d), dd), u)| {
                for i in 0..u.len() {
                    let (a, b1, b2) = act.eval(u[i]);
                    r[i] = a;
                    d[i] = b1;
                    dd[i] = b2;
                }
            });
        // v = W r̄ + b + pad(x); ε = u − v
        let bias = &self.network.biases;
        for c in 0..b {
            for r in 0..n {
                ws.v[(r, c)] = ws.xpad[(r, c)] + bias[r];
            }
        }
        let net = &self.network;
        let ncol = chunk_cols(b);
        {
            let rbar = &ws.rbar;
            ws.v.as_mut_slice()
                .par_chunks_mut(ncol * n)
                .enumerate()
                .for_each(|(k, chunk)| {
                    let nc = chunk.len() / n;
                    let out = faer::MatMut::from_column_major_slice_mut(chunk, n, nc);
                    forward_acc(
                        net,
                        |_, _| true,
                        T::c(1.0),
                        mref(rbar).subcols(k * ncol, nc),
                        out,
                    );
                });
        }
        for ((e, &u), &v) in ws.eps.iter_mut().zip(self.state.u.iter()).zip(ws.v.iter()) {
            *e = u - v;
        }
        // plasticity (spec §6): Ẇ = η M ⊙ mean_b(ε r̄ᵀ), ḃ = η_b m_b ⊙ mean_b(ε)
        let lr = self.config.lr_weights;
        ws.has_wdot = train && lr > 0.0;
        let scale = T::c(lr) / T::c(b as f64);
        let l = net.layers();
        for (wd, p) in ws.wdot.iter_mut().zip(net.projections()) {
            if !ws.has_wdot {
                wd.fill(zero);
                continue;
            }
            let (op, oq) = (l.offset(p.post), l.offset(p.pre));
            let rows = wd.nrows();
            let cols = wd.ncols();
            let eps = mref(&ws.eps).subrows(op, rows);
            let rb = mref(&ws.rbar).subrows(oq, cols);
            // row chunks: each output row is one full-length reduction over the batch
            let rch = rows.div_ceil(4).max(1);
            let mut wdm = mmut(wd);
            let mut parts = Vec::with_capacity(4);
            let mut rest = wdm.rb_mut();
            let mut r0 = 0;
            while r0 < rows {
                let take = rch.min(rows - r0);
                let (top, bot) = rest.split_at_row_mut(take);
                parts.push((r0, top));
                rest = bot;
                r0 += take;
            }
            parts.into_par_iter().for_each(|(r0, part)| {
                let take = part.nrows();
                matmul(
                    part,
                    Accum::Replace,
                    eps.subrows(r0, take),
                    rb.transpose(),
                    scale,
                    Par::Seq,
                );
            });
            wd.component_mul_assign(&p.mask);
            if let Some(c) = self.config.clip_weight_derivative {
                let c = T::c(c);
                wd.apply(|x| *x = x.max_(-c).min_(c));
            }
        }
        if train && self.config.learn_biases && self.config.lr_biases > 0.0 {
            let lrb = T::c(self.config.lr_biases) / T::c(b as f64);
            for r in 0..n {
                let mut s = zero;
                for c in 0..b {
                    s += ws.eps[(r, c)];
                }
                ws.bdot[r] = lrb * net.bias_mask[r] * s;
            }
        } else {
            ws.bdot.fill(zero);
        }
        // apical error
        if let Some(pw) = self.pathway.as_mut() {
            let ctx = PathwayContext {
                network: &self.network,
                u: &self.state.u,
                rbar: &self.ws.rbar,
                rho_prime: &self.ws.d,
                rho_second: &self.ws.dd,
                basal: &self.ws.v,
                input: &self.ws.xpad,
                input_rate: &self.ws.xdot,
                weight_derivative: &self.ws.wdot,
                bias_derivative: &self.ws.bdot,
                tau: T::c(self.config.tau),
                dt,
                train,
            };
            pw.begin_step(&ctx)?;
            let mut ea = DMatrix::zeros(0, 0);
            std::mem::swap(&mut ea, &mut self.ws.ea);
            if let Some(pw) = self.pathway.as_ref() {
                pw.apical_error(&self.ctx(train), &mut ea);
            }
            self.ws.ea = ea;
        } else {
            let ws = &mut self.ws;
            ws.ea.fill(zero);
            let eps = &ws.eps;
            ws.ea
                .as_mut_slice()
                .par_chunks_mut(ncol * n)
                .enumerate()
                .for_each(|(k, chunk)| {
                    let nc = chunk.len() / n;
                    let out = faer::MatMut::from_column_major_slice_mut(chunk, n, nc);
                    backward_acc(
                        net,
                        |_, _| true,
                        T::c(1.0),
                        mref(eps).subcols(k * ncol, nc),
                        out,
                    );
                });
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
        let zero = T::c(0.0);
        let ncol = chunk_cols(b);
        let net = &self.network;
        let ws = &mut self.ws;
        // q = τ(pad(ẋ) + Ẇ r̄ + ḃ)  (tmp), s = ε − q (tmp)
        for c in 0..b {
            for r in 0..n {
                ws.tmp[(r, c)] = tau * (ws.xdot[(r, c)] + ws.bdot[r]);
            }
        }
        if ws.has_wdot {
            let (rbar, wdot) = (&ws.rbar, &ws.wdot);
            ws.tmp
                .as_mut_slice()
                .par_chunks_mut(ncol * n)
                .enumerate()
                .for_each(|(k, chunk)| {
                    let nc = chunk.len() / n;
                    let out = faer::MatMut::from_column_major_slice_mut(chunk, n, nc);
                    forward_acc_with(net, wdot, tau, mref(rbar).subcols(k * ncol, nc), out);
                });
        }
        if self.pathway.is_none() {
            // g = −s + ρ′⊙(Wᵀ s) + τ ρ′⊙(Ẇᵀ ε) + (c_b − τ) ḃ + β̂⊙(ŷ − u + τ ŷ̇)
            for (t, &e) in ws.tmp.iter_mut().zip(ws.eps.iter()) {
                *t = e - *t;
            }
            ws.tmp2.fill(zero);
            let (s, eps, wdot, has) = (&ws.tmp, &ws.eps, &ws.wdot, ws.has_wdot);
            ws.tmp2
                .as_mut_slice()
                .par_chunks_mut(ncol * n)
                .enumerate()
                .for_each(|(k, chunk)| {
                    let nc = chunk.len() / n;
                    let mut out = faer::MatMut::from_column_major_slice_mut(chunk, n, nc);
                    backward_acc(
                        net,
                        |_, _| true,
                        T::c(1.0),
                        mref(s).subcols(k * ncol, nc),
                        out.rb_mut(),
                    );
                    if has {
                        backward_acc_with(net, wdot, tau, mref(eps).subcols(k * ncol, nc), out);
                    }
                });
            for c in 0..b {
                for r in 0..n {
                    let beta = self.beta[r];
                    let u = self.state.u[(r, c)];
                    ws.g[(r, c)] = (-ws.tmp[(r, c)]
                        + ws.d[(r, c)] * ws.tmp2[(r, c)]
                        + (c_b - tau) * ws.bdot[r]
                        + beta * (ws.yhat[(r, c)] - u + tau * ws.ydot[(r, c)]))
                        / tau;
                }
            }
        } else {
            // g = −ε + τ pad(ẋ) + τ Ẇ r̄ + c_b ḃ + β̂⊙(ŷ − u + τŷ̇) + q_pathway
            for c in 0..b {
                for r in 0..n {
                    let beta = self.beta[r];
                    let u = self.state.u[(r, c)];
                    ws.g[(r, c)] = -ws.eps[(r, c)]
                        + ws.tmp[(r, c)]
                        + (c_b - tau) * ws.bdot[r]
                        + beta * (ws.yhat[(r, c)] - u + tau * ws.ydot[(r, c)]);
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
        for c in 0..b {
            for r in 0..n {
                ws.delta[(r, c)] = self.beta[r] - ws.dd[(r, c)] * ws.ea[(r, c)];
            }
        }
    }

    /// Exact solve of H u̇ = g into `ws.udot`. Returns (fallbacks, structured).
    fn solve_exact(&mut self) -> Result<(u64, bool), CoreError> {
        self.rhs_native_or_pathway();
        let n = self.network.n();
        let b = self.state.batch();
        let f0 = self.free_start();
        let dt = T::c(self.config.dt);
        // clamped inputs: u̇_C = (x − u_C)/dt
        self.ws.udot.fill(T::c(0.0));
        for c in 0..b {
            for r in 0..f0 {
                self.ws.udot[(r, c)] = (self.ws.xpad[(r, c)] - self.state.u[(r, c)]) / dt;
            }
        }
        if self.use_structured() {
            if f0 > 0 {
                // r_F −= (M [u̇_C; 0])_F, matrix-free: M x = Aᵀ(A x) + Δ⊙x with A = I − W D
                self.apply_m_into_tmp();
                for c in 0..b {
                    for r in f0..n {
                        self.ws.g[(r, c)] -= self.ws.tmp[(r, c)];
                    }
                }
            }
            self.solve_structured(f0);
            self.stats.structured += b as u64;
            Ok((0, true))
        } else {
            let fb = self.solve_dense(f0)?;
            Ok((fb, false))
        }
    }

    /// tmp = M x with x = ws.udot (nonzero on the clamped rows only), using the built-in pathway.
    fn apply_m_into_tmp(&mut self) {
        let n = self.network.n();
        let b = self.state.batch();
        let net = &self.network;
        let ws = &mut self.ws;
        // p = d ⊙ x ; tmp2 = x − W p (= A x)
        for (p, (&d, &x)) in ws.p.iter_mut().zip(ws.d.iter().zip(ws.udot.iter())) {
            *p = d * x;
        }
        ws.tmp2.copy_from(&ws.udot);
        forward_acc(
            net,
            |_, _| true,
            T::c(-1.0),
            mref(&ws.p),
            mmut(&mut ws.tmp2),
        );
        // tmp = tmp2 − d ⊙ (Wᵀ tmp2) + Δ ⊙ x
        ws.tmp.fill(T::c(0.0));
        backward_acc(
            net,
            |_, _| true,
            T::c(1.0),
            mref(&ws.tmp2),
            mmut(&mut ws.tmp),
        );
        for c in 0..b {
            for r in 0..n {
                ws.tmp[(r, c)] = ws.tmp2[(r, c)] - ws.d[(r, c)] * ws.tmp[(r, c)]
                    + ws.delta[(r, c)] * ws.udot[(r, c)];
            }
        }
    }

    /// Structured exact solve for feed-forward nets with ρ″ ≡ 0 (spec §16.3 item 4):
    /// M = A_FFᵀ A_FF + Pᵀ diag(β̂_S) P with A = I − W D unit block-lower-triangular, solved by
    /// block back/forward substitution and a Woodbury correction of rank |S| (nudged neurons).
    fn solve_structured(&mut self, f0: usize) {
        let n = self.network.n();
        let b = self.state.batch();
        let net = &self.network;
        let layers = net.layers();
        let k0 = if f0 > 0 { 1 } else { 0 };
        let keep = move |post: usize, pre: usize| post >= k0 && pre >= k0;
        let ns = self.ws.nudged.len();
        let ncol = chunk_cols(b);
        let nl = layers.len();
        let ws = &mut self.ws;
        let (d, beta, nudged) = (&ws.d, &self.beta, &ws.nudged);
        let sig_chunk = (ncol * ns * n).max(1);
        let mut sig_chunks: Vec<&mut [T]> = if ns > 0 {
            ws.sigma.as_mut_slice().chunks_mut(sig_chunk).collect()
        } else {
            Vec::new()
        };
        sig_chunks.resize_with(b.div_ceil(ncol), Default::default);
        // w = g (rows F); solved in place chunk by chunk.
        ws.g.as_mut_slice()
            .par_chunks_mut(ncol * n)
            .zip(ws.udot.as_mut_slice().par_chunks_mut(ncol * n))
            .zip(sig_chunks.into_par_iter())
            .enumerate()
            .for_each(|(k, ((gch, uch), sch))| {
                let nc = gch.len() / n;
                let c0 = k * ncol;
                let dch = mref(d).subcols(c0, nc);
                // backward substitution A_FFᵀ w = r for an N×m block whose column j belongs to sample s(j)
                let backward = |mut x: faer::MatMut<'_, T>, sample_of: &dyn Fn(usize) -> usize| {
                    for kl in (k0..nl).rev() {
                        let (o, sz) = (layers.offset(kl), layers.size(kl));
                        if sz == 0 {
                            continue;
                        }
                        // x_k += d_k ⊙ Σ_{p.pre = k} W_pᵀ x_post  (post > k are final)
                        let mut acc_needed = false;
                        for p in net.projections() {
                            if p.pre == kl && keep(p.post, p.pre) {
                                acc_needed = true;
                            }
                        }
                        if !acc_needed {
                            continue;
                        }
                        let m = x.ncols();
                        let mut tmp = faer::Mat::<T>::zeros(sz, m);
                        for p in net.projections() {
                            if p.pre == kl && keep(p.post, p.pre) {
                                matmul(
                                    tmp.as_mut(),
                                    Accum::Add,
                                    mref(&p.weights).transpose(),
                                    x.rb().subrows(layers.offset(p.post), layers.size(p.post)),
                                    T::c(1.0),
                                    Par::Seq,
                                );
                            }
                        }
                        for j in 0..m {
                            let s = sample_of(j);
                            for i in 0..sz {
                                let v = x[(o + i, j)] + dch[(o + i, s)] * tmp[(i, j)];
                                x[(o + i, j)] = v;
                            }
                        }
                    }
                };
                let mut w = faer::MatMut::from_column_major_slice_mut(gch, n, nc);
                // Woodbury factors: Σ = A_FF⁻ᵀ [e_s], one block of ns columns per sample
                if ns > 0 {
                    let mut sig = faer::MatMut::from_column_major_slice_mut(
                        &mut sch[..ns * nc * n],
                        n,
                        ns * nc,
                    );
                    sig.fill(T::c(0.0));
                    for s in 0..nc {
                        for (j, &i) in nudged.iter().enumerate() {
                            sig[(i, s * ns + j)] = T::c(1.0);
                        }
                    }
                    backward(sig.rb_mut(), &|j| j / ns);
                }
                backward(w.rb_mut(), &|j| j);
                if ns > 0 {
                    let sig =
                        faer::MatRef::from_column_major_slice(&sch[..ns * nc * n], n, ns * nc);
                    let mut kmat = faer::Mat::<T>::zeros(ns, ns);
                    let mut y = vec![T::c(0.0); ns];
                    for s in 0..nc {
                        let sb = sig.subcols(s * ns, ns).subrows(f0, n - f0);
                        // K = I + √β Σᵀ Σ √β ; y = Σᵀ w
                        matmul(
                            kmat.as_mut(),
                            Accum::Replace,
                            sb.transpose(),
                            sb,
                            T::c(1.0),
                            Par::Seq,
                        );
                        for a in 0..ns {
                            let ba = beta[nudged[a]].sqrt_();
                            for c in 0..ns {
                                kmat[(a, c)] = ba * kmat[(a, c)] * beta[nudged[c]].sqrt_();
                            }
                            kmat[(a, a)] += T::c(1.0);
                            let mut acc = T::c(0.0);
                            for i in f0..n {
                                acc += sig[(i, s * ns + a)] * w[(i, s)];
                            }
                            y[a] = acc * ba;
                        }
                        small_cholesky_solve(&mut kmat, &mut y);
                        // w −= Σ √β y
                        for a in 0..ns {
                            let ca = y[a] * beta[nudged[a]].sqrt_();
                            for i in f0..n {
                                w[(i, s)] -= sig[(i, s * ns + a)] * ca;
                            }
                        }
                    }
                }
                // forward substitution A_FF z = w
                for kl in k0..nl {
                    let (o, sz) = (layers.offset(kl), layers.size(kl));
                    for p in net.projections() {
                        if p.post != kl || !keep(p.post, p.pre) {
                            continue;
                        }
                        let (oq, nq) = (layers.offset(p.pre), layers.size(p.pre));
                        let mut dz = faer::Mat::<T>::zeros(nq, nc);
                        for j in 0..nc {
                            for i in 0..nq {
                                dz[(i, j)] = dch[(oq + i, j)] * w[(oq + i, j)];
                            }
                        }
                        matmul(
                            w.rb_mut().subrows_mut(o, sz),
                            Accum::Add,
                            mref(&p.weights),
                            dz.as_ref(),
                            T::c(1.0),
                            Par::Seq,
                        );
                    }
                }
                // u̇_F = z
                for j in 0..nc {
                    for i in f0..n {
                        uch[j * n + i] = w[(i, j)];
                    }
                }
            });
    }

    /// W (dense) and G = WᵀW, shared by all samples of the step.
    fn dense_prepare_shared(&mut self) {
        let n = self.network.n();
        let ws = &mut self.ws;
        if ws.wdense.nrows() != n {
            ws.wdense = DMatrix::zeros(n, n);
            ws.gram = DMatrix::zeros(n, n);
        }
        let l = self.network.layers();
        ws.wdense.fill(T::c(0.0));
        for p in self.network.projections() {
            ws.wdense
                .view_mut((l.offset(p.post), l.offset(p.pre)), p.weights.shape())
                .copy_from(&p.weights);
        }
        if self.pathway.is_none() {
            ws.gram.fill(T::c(0.0));
            let ps = self.network.projections();
            for p in ps {
                for q in ps {
                    if p.post != q.post {
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
        }
    }

    /// M = H/τ of sample `c` over all N neurons, into `h`.
    fn assemble_dense(&self, c: usize, h: &mut DMatrix<T>) {
        let n = self.network.n();
        let ws = &self.ws;
        let d = ws.d.column(c);
        let w = &ws.wdense;
        if self.pathway.is_none() {
            let g = &ws.gram;
            for j in 0..n {
                for i in 0..n {
                    h[(i, j)] = -w[(i, j)] * d[j] - d[i] * w[(j, i)] + d[i] * g[(i, j)] * d[j];
                }
            }
        } else {
            for j in 0..n {
                for i in 0..n {
                    h[(i, j)] = -w[(i, j)] * d[j];
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
        if self.ws.slots.len() != nslots
            || self
                .ws
                .slots
                .first()
                .is_some_and(|s| s.m.nrows() != nf || s.full.nrows() != n)
        {
            let req = StackReq::any_of(&[
                faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<T>(
                    nf,
                    Par::Seq,
                    Default::default(),
                ),
                faer::linalg::cholesky::llt::solve::solve_in_place_scratch::<T>(nf, 1, Par::Seq),
                faer::linalg::lu::partial_pivoting::factor::lu_in_place_scratch::<usize, T>(
                    nf,
                    nf,
                    Par::Seq,
                    Default::default(),
                ),
                faer::linalg::lu::partial_pivoting::solve::solve_in_place_scratch::<usize, T>(
                    nf,
                    1,
                    Par::Seq,
                ),
            ]);
            self.ws.slots = (0..nslots)
                .map(|_| Slot {
                    full: DMatrix::zeros(n, n),
                    m: DMatrix::zeros(nf, nf),
                    rhs: DMatrix::zeros(nf, 1),
                    perm: vec![0; nf],
                    perm_inv: vec![0; nf],
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
        let results: Vec<Result<(u64, u64, u64), CoreError>> = slots
            .par_iter_mut()
            .zip(udot.as_mut_slice().par_chunks_mut(ncol * n))
            .enumerate()
            .map(|(k, (slot, uch))| {
                let mut counts = (0u64, 0u64, 0u64); // cholesky, lu, fallbacks
                let nc = uch.len() / n;
                for j in 0..nc {
                    let c = k * ncol + j;
                    this.assemble_dense(c, &mut slot.full);
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
                    let copy_m = |slot: &mut Slot<T>| {
                        let sub = slot.full.view((f0, f0), (nf, nf)).clone_owned();
                        slot.m.copy_from(&sub);
                    };
                    copy_m(slot);
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
                            faer::linalg::cholesky::llt::solve::solve_in_place(
                                mref(&slot.m),
                                mmut(&mut slot.rhs),
                                Par::Seq,
                                stack,
                            );
                            counts.0 += 1;
                            solved = true;
                        } else {
                            counts.2 += 1;
                            copy_m(slot);
                        }
                    }
                    if !solved {
                        let stack = MemStack::new(&mut slot.mem);
                        let (_, perm) = faer::linalg::lu::partial_pivoting::factor::lu_in_place(
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
                        faer::linalg::lu::partial_pivoting::solve::solve_in_place(
                            mref(&slot.m),
                            mref(&slot.m),
                            perm,
                            mmut(&mut slot.rhs),
                            Par::Seq,
                            stack,
                        );
                        counts.1 += 1;
                    }
                    for i in 0..nf {
                        uch[j * n + f0 + i] = slot.rhs[(i, 0)];
                    }
                }
                Ok(counts)
            })
            .collect();
        self.ws.slots = slots;
        self.ws.udot = udot;
        let mut fb = 0;
        for r in results {
            let (c, l, f) = r?;
            self.stats.cholesky += c;
            self.stats.lu += l;
            self.stats.cholesky_fallbacks += f;
            fb += f;
        }
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
        let n = self.network.n();
        let b = self.state.batch();
        let f0 = self.free_start();
        let dt = T::c(self.config.dt);
        let st = &mut self.state;
        if st.udot_trace.is_empty() {
            st.udot_trace = vec![st.udot.clone(); 4];
        }
        let tr = &st.udot_trace;
        let q = |k: usize| &tr[tr.len() - k];
        let ws = &mut self.ws;
        match self.config.method {
            Method::Richardson1 => {
                for i in 0..n * b {
                    ws.p[i] = T::c(2.0) * q(1)[i] - q(2)[i];
                }
            }
            Method::Richardson2 => {
                for i in 0..n * b {
                    ws.p[i] = (T::c(8.0) * q(1)[i] - T::c(6.0) * q(2)[i] + q(4)[i]) / T::c(3.0);
                }
            }
            _ => ws.p.copy_from(&st.udot),
        }
        let iterations = match self.config.method {
            Method::Picard { iterations } => iterations,
            _ => 1,
        };
        let formula = self.config.compat.predictor;
        for it in 0..iterations {
            if it > 0 {
                let ws = &mut self.ws;
                ws.p.copy_from(&ws.udot);
            }
            if formula != PredictorFormula::ReferenceSingle {
                let ws = &mut self.ws;
                for c in 0..b {
                    for r in 0..f0 {
                        ws.p[(r, c)] = (ws.xpad[(r, c)] - self.state.u[(r, c)]) / dt;
                    }
                }
            }
            self.evaluate_star(formula);
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
    fn evaluate_star(&mut self, formula: PredictorFormula) {
        let n = self.network.n();
        let b = self.state.batch();
        let tau = T::c(self.config.tau);
        let zero = T::c(0.0);
        let net = &self.network;
        let ws = &mut self.ws;
        let u = &self.state.u;
        let beta = &self.beta;
        match formula {
            PredictorFormula::Consistent | PredictorFormula::ReferenceBatched => {
                let with_bdot = if formula == PredictorFormula::Consistent {
                    T::c(1.0)
                } else {
                    zero
                };
                // t1 = W(d⊙p) (tmp); q' = Ẇ r̄ + ḃ + pad(ẋ) (tmp2)
                for ((t, &d), &p) in ws.udot.iter_mut().zip(ws.d.iter()).zip(ws.p.iter()) {
                    *t = d * p;
                }
                ws.tmp.fill(zero);
                forward_acc(
                    net,
                    |_, _| true,
                    T::c(1.0),
                    mref(&ws.udot),
                    mmut(&mut ws.tmp),
                );
                for c in 0..b {
                    for r in 0..n {
                        ws.tmp2[(r, c)] = ws.xdot[(r, c)] + with_bdot * ws.bdot[r];
                    }
                }
                if ws.has_wdot {
                    forward_acc_with(net, &ws.wdot, T::c(1.0), mref(&ws.rbar), mmut(&mut ws.tmp2));
                }
                // h = p − t1 − q' (udot as scratch); t2 = Wᵀ h + Ẇᵀ ε (g as scratch)
                for i in 0..n * b {
                    ws.udot[i] = ws.p[i] - ws.tmp[i] - ws.tmp2[i];
                }
                ws.g.fill(zero);
                backward_acc(net, |_, _| true, T::c(1.0), mref(&ws.udot), mmut(&mut ws.g));
                if ws.has_wdot {
                    backward_acc_with(net, &ws.wdot, T::c(1.0), mref(&ws.eps), mmut(&mut ws.g));
                }
                for c in 0..b {
                    for r in 0..n {
                        let (d, dd, p) = (ws.d[(r, c)], ws.dd[(r, c)], ws.p[(r, c)]);
                        let bt = beta[r];
                        let f = -ws.eps[(r, c)]
                            + tau * (ws.tmp[(r, c)] + ws.tmp2[(r, c)])
                            + d * ws.ea[(r, c)]
                            + bt * (ws.yhat[(r, c)] - u[(r, c)])
                            + tau
                                * (dd * p * ws.ea[(r, c)]
                                    + d * ws.g[(r, c)]
                                    + bt * (ws.ydot[(r, c)] - p));
                        ws.udot[(r, c)] = f / tau;
                    }
                }
            }
            PredictorFormula::ReferenceSingle => {
                // a − u = −ε + τ W(d⊙p) + τ pad(ẋ); ε_s = d⊙e_A + β̂(ŷ−u) + τ[dd⊙p⊙e_A + d⊙Wᵀ(p − (W d)⊙p) + β̂(ŷ̇ − p)]
                for ((t, &d), &p) in ws.udot.iter_mut().zip(ws.d.iter()).zip(ws.p.iter()) {
                    *t = d * p;
                }
                ws.tmp.fill(zero);
                forward_acc(
                    net,
                    |_, _| true,
                    T::c(1.0),
                    mref(&ws.udot),
                    mmut(&mut ws.tmp),
                );
                ws.tmp2.fill(zero);
                forward_acc(net, |_, _| true, T::c(1.0), mref(&ws.d), mmut(&mut ws.tmp2));
                for i in 0..n * b {
                    ws.udot[i] = ws.p[i] - ws.tmp2[i] * ws.p[i];
                }
                ws.g.fill(zero);
                backward_acc(net, |_, _| true, T::c(1.0), mref(&ws.udot), mmut(&mut ws.g));
                for c in 0..b {
                    for r in 0..n {
                        let (d, dd, p) = (ws.d[(r, c)], ws.dd[(r, c)], ws.p[(r, c)]);
                        let bt = beta[r];
                        let f = -ws.eps[(r, c)]
                            + tau * (ws.tmp[(r, c)] + ws.xdot[(r, c)])
                            + d * ws.ea[(r, c)]
                            + bt * (ws.yhat[(r, c)] - u[(r, c)])
                            + tau
                                * (dd * p * ws.ea[(r, c)]
                                    + d * ws.g[(r, c)]
                                    + bt * (ws.ydot[(r, c)] - p));
                        ws.udot[(r, c)] = f / tau;
                    }
                }
            }
        }
    }

    /// Checks u̇, then applies u += dt u̇, W += dt Ẇ, b += dt ḃ (spec §6.3) and shifts the stored
    /// input/target.
    fn advance(&mut self, input: &DMatrix<T>) -> Result<(), CoreError> {
        let n = self.network.n();
        let dt = T::c(self.config.dt);
        let limit = T::c(self.config.divergence_limit);
        let step = self.state.step;
        for (i, (&ud, &u)) in self.ws.udot.iter().zip(self.state.u.iter()).enumerate() {
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
        if let Some(pw) = self.pathway.as_mut() {
            let ctx = PathwayContext {
                network: &self.network,
                u: &self.state.u,
                rbar: &self.ws.rbar,
                rho_prime: &self.ws.d,
                rho_second: &self.ws.dd,
                basal: &self.ws.v,
                input: &self.ws.xpad,
                input_rate: &self.ws.xdot,
                weight_derivative: &self.ws.wdot,
                bias_derivative: &self.ws.bdot,
                tau: T::c(self.config.tau),
                dt,
                train: self.ws.train,
            };
            pw.end_step(&ctx, &self.ws.udot)?;
        }
        let st = &mut self.state;
        for (u, &ud) in st.u.iter_mut().zip(self.ws.udot.iter()) {
            *u += dt * ud;
        }
        st.udot.copy_from(&self.ws.udot);
        if self.ws.has_wdot {
            let clip = self.config.clip_weights.map(T::c);
            for (p, wd) in self.network.projections_mut().iter_mut().zip(&self.ws.wdot) {
                for (w, &x) in p.weights.iter_mut().zip(wd.iter()) {
                    *w += dt * x;
                }
                if let Some(c) = clip {
                    p.weights.apply(|x| *x = x.max_(-c).min_(c));
                }
            }
        }
        if self.ws.bdot.iter().any(|&x| x != T::c(0.0)) {
            self.network.biases.axpy(dt, &self.ws.bdot, T::c(1.0));
            if let Some(c) = self.config.clip_biases.map(T::c) {
                self.network.biases.apply(|x| *x = x.max_(-c).min_(c));
            }
        }
        let n0 = self.network.layers().n_inputs();
        let b = st.batch();
        match &mut st.prev_input {
            Some(px) if px.shape() == (n0, b) && input.shape() == (n0, b) => px.copy_from(input),
            _ => {
                st.prev_input = if input.shape() == (n0, b) {
                    Some(input.clone())
                } else {
                    Some(DMatrix::zeros(n0, b))
                }
            }
        }
        match &mut st.prev_target {
            Some(py) => py.copy_from(&self.ws.yhat),
            None => st.prev_target = Some(self.ws.yhat.clone()),
        }
        if matches!(
            self.config.method,
            Method::Richardson1 | Method::Richardson2
        ) {
            let mut oldest = st.udot_trace.remove(0);
            oldest.copy_from(&self.ws.udot);
            st.udot_trace.push(oldest);
        }
        st.step += 1;
        Ok(())
    }
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
