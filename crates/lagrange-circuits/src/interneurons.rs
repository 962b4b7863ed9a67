//! The reference implementation's interneuron circuit (rtDeel, `use_interneurons = true`) as an
//! [`ErrorPathway`] of `lagrange-core` (spec §4.4, §5.1, §6.1; golden README §4.4).
//!
//! All matrices are dense N×N over all neurons (row = postsynaptic), exactly as the reference
//! stores them: `w_b` (top-down, plays the role of Wᵀ), `w_pi` (interneuron → pyramidal, also
//! Wᵀ-shaped), `w_ip` (pyramidal → interneuron, W-shaped). There is one interneuron per neuron,
//! with voltage `u_i` (N×B, one column per sample) and bias `b_i`.
//!
//! Per step (single-sample torch file, spec §6.5):
//!
//! 1. `begin_step`: u^I := W_IP r̄ + b^I + pad(x) (instantaneous) or u^I += dt·u̇^I (dynamic); then
//!    the derivatives from the pre-step state
//!    * Ẇ_B = η_B · Mᵀ ⊙ (r̄ − W_B u) uᵀ (reference quirk: r̄, not u),
//!    * Ẇ_PI = η_PI · Mᵀ ⊙ (W_B u − W_PI(ρ(u^I) + τ ρ′(u̇^I) ⊙ u̇^I)) u^Iᵀ (quirk: ρ′ at u̇^I),
//!    * ḃ^I = η_bI · m_b ⊙ (W_B u − W_PI u^I) (only with `learn_biases`),
//!
//!    each averaged over the batch (the reference is single-sample).
//! 2. e_A = W_B u − W_PI u^I; the core's linear system gets P_b = −D W_B + D W_PI W_IP D and
//!    q = ρ′⊙[e_A − W_PI(W_IP r̄ + b^I + pad(x) − u^I) − τ W_PI pad(ẋ)
//!    + τ(Ẇ_B u − Ẇ_PI u^I − W_PI ḃ^I)] (Ẇ_IP = 0; the error part keeps τ on ḃ^I).
//! 3. `end_step`: u̇^I = [−u^I + W_IP(r̄ + τρ′⊙u̇) + b^I + pad(x) + τ ḃ^I + τ pad(ẋ)]/τ (dynamic
//!    only; instantaneous interneurons keep u̇^I = 0), then W_B += dt Ẇ_B, W_PI += dt Ẇ_PI,
//!    b^I += dt ḃ^I and W_IP := W + dt Ẇ (the reference's "weight alignment"; off with
//!    `tie_w_ip = false`, which is what the TF file does).
//!
//! H is not symmetric, so [`ErrorPathway::is_symmetric`] is `false` and the core uses LU.
//!
//! # Handles
//!
//! The core owns the pathway as a `Box<dyn ErrorPathway>` and offers no mutable access or
//! downcast. [`ReferenceInterneurons`] is therefore a cheap, cloneable *handle* to shared state
//! (`Arc<RwLock<…>>`): keep a clone, box another one into the simulator, and use the kept clone
//! to set the per-step train flags and to read the matrices.
//!
//! ```
//! use lagrange_circuits::interneurons::{ReferenceInterneuronConfig, ReferenceInterneurons};
//! use lagrange_core::{Layers, ModelConfig, Network, Simulator, Solver};
//! use nalgebra::{DMatrix, DVector};
//! let layers = Layers::new(&[2, 2, 1]).unwrap();
//! let mut w = DMatrix::<f64>::zeros(5, 5);
//! let mut m = DMatrix::<f64>::zeros(5, 5);
//! for (i, j) in [(2, 0), (2, 1), (3, 0), (3, 1), (4, 2), (4, 3)] { w[(i, j)] = 0.3; m[(i, j)] = 1.0; }
//! let net = Network::from_dense(layers, &w, &m, DVector::zeros(5), DVector::zeros(5)).unwrap();
//! let cfg = ModelConfig { solver: Solver::Lu, lr_weights: 1e-3, ..Default::default() };
//! let mut sim = Simulator::new(net, cfg, 1).unwrap();
//! sim.set_beta_outputs(0.1);
//! let icfg = ReferenceInterneuronConfig { lr_w_b: 1e-3, lr_pi: 1e-3, ..Default::default() };
//! let pw = ReferenceInterneurons::new(icfg, w.transpose(), w.transpose(), w.clone(),
//!     DVector::zeros(5), DMatrix::zeros(5, 1), DMatrix::zeros(5, 1)).unwrap();
//! sim.set_pathway(Box::new(pw.clone()));
//! pw.set_training(true, false); // train W_B only in the next steps
//! let (x, y) = (DMatrix::from_column_slice(2, 1, &[1.0, 0.5]), DMatrix::from_element(1, 1, 0.3));
//! for _ in 0..20 { sim.step(&x, &y, true).unwrap(); }
//! assert_eq!(pw.w_ip(), sim.network().dense_weights()); // W_IP is tied to W
//! ```

use crate::error::CircuitError;
use lagrange_core::{Activation, CoreError, ErrorPathway, PathwayContext, Real};
use nalgebra::{DMatrix, DVector};
use serde::Deserialize;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How the interneuron voltages evolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterneuronDynamics {
    /// u^I := W_IP r̄ + b^I + pad(x) at the start of every step (Eq. 33).
    #[default]
    Instantaneous,
    /// u^I += dt·u̇^I at the start of every step with the u̇^I of the previous step (Eq. 32).
    Dynamic,
}

/// Parameters of [`ReferenceInterneurons`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceInterneuronConfig {
    /// ρ; must be the simulator's activation (checked at every step).
    pub activation: Activation,
    /// Instantaneous or dynamic interneurons.
    pub dynamics: InterneuronDynamics,
    /// η_B (`arg_lrate_W_B`).
    pub lr_w_b: f64,
    /// η_PI (`arg_lrate_PI`).
    pub lr_pi: f64,
    /// η_bI (`arg_lrate_biases_I`).
    pub lr_b_i: f64,
    /// Whether b^I learns (the reference's `use_biases`; it also needs `train_pi`).
    pub learn_biases: bool,
    /// Train W_B (`train_B`); change between steps with [`ReferenceInterneurons::set_training`].
    pub train_b: bool,
    /// Train W_PI and b^I (`train_PI`).
    pub train_pi: bool,
    /// When true, the interneuron rules also require the core's per-step `train` flag. The
    /// reference does not gate them (false).
    pub gate_on_train: bool,
    /// W_IP := W after every step (torch files). False keeps W_IP at its initial value (TF file).
    pub tie_w_ip: bool,
}

impl Default for ReferenceInterneuronConfig {
    fn default() -> Self {
        ReferenceInterneuronConfig {
            activation: Activation::Sigmoid,
            dynamics: InterneuronDynamics::Instantaneous,
            lr_w_b: 0.0,
            lr_pi: 0.0,
            lr_b_i: 0.0,
            learn_biases: false,
            train_b: true,
            train_pi: true,
            gate_on_train: false,
            tie_w_ip: true,
        }
    }
}

impl ReferenceInterneuronConfig {
    /// Checks the learning rates; the error names the field.
    pub fn validate(&self) -> Result<(), CircuitError> {
        for (v, f) in [
            (self.lr_w_b, "lr_w_b"),
            (self.lr_pi, "lr_pi"),
            (self.lr_b_i, "lr_b_i"),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CircuitError::config(
                    f,
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

struct Inner<T: Real> {
    cfg: ReferenceInterneuronConfig,
    w_b: DMatrix<T>,
    w_pi: DMatrix<T>,
    w_ip: DMatrix<T>,
    b_i: DVector<T>,
    u_i: DMatrix<T>,
    udot_i: DMatrix<T>,
    // this step's derived quantities
    wdot_b: DMatrix<T>,
    wdot_pi: DMatrix<T>,
    bdot_i: DVector<T>,
    e_a: DMatrix<T>,
    pi_ip: DMatrix<T>,
    steps: u64,
}

/// The reference's interneuron circuit as an [`ErrorPathway`]; a cloneable handle to shared
/// state (see the module documentation).
#[derive(Clone)]
pub struct ReferenceInterneurons<T: Real> {
    inner: Arc<RwLock<Inner<T>>>,
}

impl<T: Real> std::fmt::Debug for ReferenceInterneurons<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.read();
        f.debug_struct("ReferenceInterneurons")
            .field("config", &s.cfg)
            .field("n", &s.w_b.nrows())
            .field("batch", &s.u_i.ncols())
            .field("steps", &s.steps)
            .finish()
    }
}

fn check_shape<T: Real>(
    field: &str,
    m: &DMatrix<T>,
    expected: (usize, usize),
) -> Result<(), CircuitError> {
    if m.shape() != expected {
        return Err(CircuitError::shape(field, expected, m.shape()));
    }
    Ok(())
}

fn size_err(what: &str, expected: impl ToString, found: impl ToString) -> CoreError {
    CoreError::SizeMismatch {
        what: what.to_string(),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

impl<T: Real> ReferenceInterneurons<T> {
    /// A circuit with the given initial matrices (N×N `w_b`, `w_pi`, `w_ip`; length-N `b_i`;
    /// N×B `u_i` and `udot_i`, where a single column is tiled to the simulator's batch at the
    /// first step). Pass the fixture's `initial_state` values for a replay.
    pub fn new(
        config: ReferenceInterneuronConfig,
        w_b: DMatrix<T>,
        w_pi: DMatrix<T>,
        w_ip: DMatrix<T>,
        b_i: DVector<T>,
        u_i: DMatrix<T>,
        udot_i: DMatrix<T>,
    ) -> Result<Self, CircuitError> {
        config.validate()?;
        let n = w_b.nrows();
        check_shape("w_b", &w_b, (n, n))?;
        check_shape("w_pi", &w_pi, (n, n))?;
        check_shape("w_ip", &w_ip, (n, n))?;
        if b_i.len() != n {
            return Err(CircuitError::shape("b_i", (n, 1), (b_i.len(), 1)));
        }
        let b = u_i.ncols().max(1);
        check_shape("u_i", &u_i, (n, b))?;
        check_shape("udot_i", &udot_i, (n, b))?;
        for (name, m) in [("w_b", &w_b), ("w_pi", &w_pi), ("w_ip", &w_ip)] {
            if let Some(i) = m.iter().position(|x| !x.finite_()) {
                return Err(CircuitError::config(
                    format!("{name}[{}, {}]", i % n, i / n),
                    "must be finite",
                ));
            }
        }
        Ok(ReferenceInterneurons {
            inner: Arc::new(RwLock::new(Inner {
                cfg: config,
                wdot_b: DMatrix::zeros(n, n),
                wdot_pi: DMatrix::zeros(n, n),
                bdot_i: DVector::zeros(n),
                e_a: DMatrix::zeros(n, b),
                pi_ip: DMatrix::zeros(n, n),
                steps: 0,
                w_b,
                w_pi,
                w_ip,
                b_i,
                u_i,
                udot_i,
            })),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner<T>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, Inner<T>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the reference's `train_B` / `train_PI` flags for the following steps.
    pub fn set_training(&self, train_b: bool, train_pi: bool) {
        let mut s = self.write();
        s.cfg.train_b = train_b;
        s.cfg.train_pi = train_pi;
    }
    /// The configuration (with the current train flags).
    pub fn config(&self) -> ReferenceInterneuronConfig {
        self.read().cfg.clone()
    }
    /// W_B (N×N).
    pub fn w_b(&self) -> DMatrix<T> {
        self.read().w_b.clone()
    }
    /// W_PI (N×N).
    pub fn w_pi(&self) -> DMatrix<T> {
        self.read().w_pi.clone()
    }
    /// W_IP (N×N); equals W after every step when tied.
    pub fn w_ip(&self) -> DMatrix<T> {
        self.read().w_ip.clone()
    }
    /// b^I (length N).
    pub fn b_i(&self) -> DVector<T> {
        self.read().b_i.clone()
    }
    /// u^I (N×B): the interneuron voltage used during the last step.
    pub fn u_i(&self) -> DMatrix<T> {
        self.read().u_i.clone()
    }
    /// u̇^I (N×B) computed at the end of the last step (zero for instantaneous interneurons).
    pub fn udot_i(&self) -> DMatrix<T> {
        self.read().udot_i.clone()
    }
    /// The apical error e_A = W_B u − W_PI u^I of the last step (N×B).
    pub fn apical(&self) -> DMatrix<T> {
        self.read().e_a.clone()
    }
    /// Number of completed steps.
    pub fn steps(&self) -> u64 {
        self.read().steps
    }
}

/// The `config.interneurons` object of a golden fixture (golden README §2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[allow(non_snake_case)]
pub struct FixtureInterneuronConfig {
    /// Must be true.
    pub use_interneurons: bool,
    /// Dynamic (true) or instantaneous interneurons.
    pub dynamic_interneurons: bool,
    /// η_B.
    pub lr_W_B: f64,
    /// η_PI.
    pub lr_PI: f64,
    /// η_bI.
    pub lr_b_I: f64,
}

/// One vector (`[N]`) or one vector per sample (`[B][N]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum FixtureSamples {
    /// A single sample.
    One(Vec<f64>),
    /// Rows = samples.
    Many(Vec<Vec<f64>>),
}

impl FixtureSamples {
    fn to_matrix<T: Real>(&self, field: &str, n: usize) -> Result<DMatrix<T>, CircuitError> {
        let rows: Vec<&Vec<f64>> = match self {
            FixtureSamples::One(v) => vec![v],
            FixtureSamples::Many(v) => v.iter().collect(),
        };
        if rows.is_empty() {
            return Err(CircuitError::config(field, "no samples"));
        }
        for r in &rows {
            if r.len() != n {
                return Err(CircuitError::shape(field, (n, 1), (r.len(), 1)));
            }
        }
        Ok(DMatrix::from_fn(n, rows.len(), |i, c| T::c(rows[c][i])))
    }
}

/// The interneuron fields of a golden fixture's `initial_state` (golden README §2). Other fields
/// of `initial_state` are ignored, so the whole object can be deserialised into this struct.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[allow(non_snake_case)]
pub struct FixtureInterneuronState {
    /// W_B, N rows of N.
    pub W_B: Vec<Vec<f64>>,
    /// W_PI, N rows of N.
    pub W_PI: Vec<Vec<f64>>,
    /// W_IP, N rows of N.
    pub W_IP: Vec<Vec<f64>>,
    /// b^I, length N.
    pub b_I: Vec<f64>,
    /// u^I, `[N]` or `[B][N]`.
    pub u_I: FixtureSamples,
    /// u̇^I, `[N]` or `[B][N]`.
    pub udot_I: FixtureSamples,
}

fn rows_to_matrix<T: Real>(field: &str, rows: &[Vec<f64>]) -> Result<DMatrix<T>, CircuitError> {
    let n = rows.len();
    for r in rows {
        if r.len() != n {
            return Err(CircuitError::shape(field, (n, n), (n, r.len())));
        }
    }
    Ok(DMatrix::from_fn(n, n, |i, j| T::c(rows[i][j])))
}

/// Builds the reference interneuron pathway from a golden fixture, for the replay tool.
///
/// * `interneurons`: `config.interneurons` deserialised (`serde_json::from_value`).
/// * `initial`: `initial_state` deserialised (its interneuron fields `W_B`, `W_PI`, `W_IP`, `b_I`,
///   `u_I`, `udot_I`).
/// * `activation`: the fixture's `config.activation` (the simulator's ρ).
/// * `use_biases`: `config.use_biases` (whether b^I learns).
///
/// The pathway starts with `train_b = train_pi = true`; before each step call
/// [`ReferenceInterneurons::set_training`] with that step's `train_B` / `train_PI` (default true
/// when a step has no such key). The simulator must use `Solver::Lu` (H is not symmetric; the
/// core switches to LU anyway) and `compat.tau_on_bias_derivative = false` for single-sample
/// fixtures. Keep a clone of the returned handle and box the other into
/// `Simulator::set_pathway`; read W_B, W_PI, u_I, b_I, u̇_I from the kept handle after each step.
pub fn pathway_from_fixture_state<T: Real>(
    interneurons: &FixtureInterneuronConfig,
    initial: &FixtureInterneuronState,
    activation: Activation,
    use_biases: bool,
) -> Result<ReferenceInterneurons<T>, CircuitError> {
    if !interneurons.use_interneurons {
        return Err(CircuitError::config(
            "config.interneurons.use_interneurons",
            "is false: the fixture uses weight transport",
        ));
    }
    let w_b = rows_to_matrix::<T>("initial_state.W_B", &initial.W_B)?;
    let n = w_b.nrows();
    let cfg = ReferenceInterneuronConfig {
        activation,
        dynamics: if interneurons.dynamic_interneurons {
            InterneuronDynamics::Dynamic
        } else {
            InterneuronDynamics::Instantaneous
        },
        lr_w_b: interneurons.lr_W_B,
        lr_pi: interneurons.lr_PI,
        lr_b_i: interneurons.lr_b_I,
        learn_biases: use_biases,
        ..Default::default()
    };
    ReferenceInterneurons::new(
        cfg,
        w_b,
        rows_to_matrix("initial_state.W_PI", &initial.W_PI)?,
        rows_to_matrix("initial_state.W_IP", &initial.W_IP)?,
        DVector::from_iterator(initial.b_I.len(), initial.b_I.iter().map(|&x| T::c(x))),
        initial.u_I.to_matrix("initial_state.u_I", n)?,
        initial.udot_I.to_matrix("initial_state.udot_I", n)?,
    )
}

/// Dense N×N Ẇ from the core's per-projection blocks.
pub(crate) fn dense_weight_derivative<T: Real>(ctx: &PathwayContext<'_, T>) -> DMatrix<T> {
    let n = ctx.network.n();
    let l = ctx.network.layers();
    let mut out = DMatrix::zeros(n, n);
    for (p, m) in ctx.network.projections().iter().zip(ctx.weight_derivative) {
        out.view_mut((l.offset(p.post), l.offset(p.pre)), m.shape())
            .copy_from(m);
    }
    out
}

/// m += a·x (element-wise, computed as m + a·x like the reference's Euler update).
pub(crate) fn add_scaled<T: Real>(m: &mut DMatrix<T>, a: T, x: &DMatrix<T>) {
    m.zip_apply(x, |p, q| *p += a * q);
}

/// Adds the vector `v` to every column of `m`.
pub(crate) fn add_col<T: Real>(m: &mut DMatrix<T>, v: &DVector<T>) {
    for mut c in m.column_iter_mut() {
        c += v;
    }
}

/// Checks that the pathway's ρ is the simulator's (ρ(u) must reproduce r̄ bit for bit).
pub(crate) fn check_activation<T: Real>(
    act: Activation,
    ctx: &PathwayContext<'_, T>,
) -> Result<(), CoreError> {
    for (i, (&u, &r)) in ctx.u.iter().zip(ctx.rbar.iter()).take(64).enumerate() {
        if act.rho(u) != r {
            return Err(CoreError::InvalidConfig {
                field: "pathway.activation".into(),
                reason: format!(
                    "{act:?} does not reproduce the simulator's rates (entry {i}: rho({u}) != {r})"
                ),
            });
        }
    }
    Ok(())
}

impl<T: Real> ErrorPathway<T> for ReferenceInterneurons<T> {
    fn name(&self) -> &str {
        "reference-interneurons"
    }
    fn is_symmetric(&self) -> bool {
        false
    }
    fn begin_step(&mut self, ctx: &PathwayContext<'_, T>) -> Result<(), CoreError> {
        let mut guard = self.write();
        let s = &mut *guard;
        let n = ctx.network.n();
        let b = ctx.u.ncols();
        if s.w_b.nrows() != n {
            return Err(size_err(
                "interneurons.w_b",
                format!("{n}x{n}"),
                s.w_b.nrows(),
            ));
        }
        if s.u_i.ncols() != b {
            if s.u_i.ncols() == 1 {
                s.u_i = DMatrix::from_fn(n, b, |i, _| s.u_i[(i, 0)]);
                s.udot_i = DMatrix::from_fn(n, b, |i, _| s.udot_i[(i, 0)]);
            } else {
                return Err(size_err(
                    "interneurons.u_i",
                    format!("{n}x{b}"),
                    format!("{}x{}", n, s.u_i.ncols()),
                ));
            }
        }
        check_activation(s.cfg.activation, ctx)?;
        let act = s.cfg.activation;
        let (tau, dt) = (ctx.tau, ctx.dt);
        let zero = T::c(0.0);
        if s.cfg.tie_w_ip && s.steps > 0 {
            s.w_ip = ctx.network.dense_weights();
        }
        // interneuron voltage
        match s.cfg.dynamics {
            InterneuronDynamics::Dynamic => add_scaled(&mut s.u_i, dt, &s.udot_i),
            InterneuronDynamics::Instantaneous => {
                let mut ui = &s.w_ip * ctx.rbar + ctx.input;
                add_col(&mut ui, &s.b_i);
                s.u_i = ui;
            }
        }
        // derivatives from the pre-step state (batch means)
        let inv_b = T::c(1.0) / T::c(b as f64);
        let gate = !s.cfg.gate_on_train || ctx.train;
        let wbu = &s.w_b * ctx.u;
        let mask_t = ctx.network.dense_mask().transpose();
        if gate && s.cfg.train_b && s.cfg.lr_w_b > 0.0 {
            let err = ctx.rbar - &wbu;
            let mut d = err * ctx.u.transpose();
            d *= T::c(s.cfg.lr_w_b) * inv_b;
            s.wdot_b = d.component_mul(&mask_t);
        } else {
            s.wdot_b.fill(zero);
        }
        s.e_a = &wbu - &s.w_pi * &s.u_i;
        let train_pi = gate && s.cfg.train_pi;
        if train_pi && s.cfg.lr_pi > 0.0 {
            let rate = s.u_i.zip_map(&s.udot_i, |ui, udi| {
                let (_, d, _) = act.eval(udi);
                act.rho(ui) + tau * d * udi
            });
            let err = &wbu - &s.w_pi * rate;
            let mut d = err * s.u_i.transpose();
            d *= T::c(s.cfg.lr_pi) * inv_b;
            s.wdot_pi = d.component_mul(&mask_t);
        } else {
            s.wdot_pi.fill(zero);
        }
        if train_pi && s.cfg.learn_biases && s.cfg.lr_b_i > 0.0 {
            let lr = T::c(s.cfg.lr_b_i) * inv_b;
            for r in 0..n {
                let sum = s.e_a.row(r).sum();
                s.bdot_i[r] = lr * ctx.network.bias_mask[r] * sum;
            }
        } else {
            s.bdot_i.fill(zero);
        }
        s.pi_ip = &s.w_pi * &s.w_ip;
        Ok(())
    }
    fn apical_error(&self, _ctx: &PathwayContext<'_, T>, out: &mut DMatrix<T>) {
        let s = self.read();
        if out.shape() != s.e_a.shape() {
            *out = s.e_a.clone();
        } else {
            out.copy_from(&s.e_a);
        }
    }
    fn add_rhs(&self, ctx: &PathwayContext<'_, T>, g: &mut DMatrix<T>) {
        let s = self.read();
        let tau = ctx.tau;
        // lag = W_IP r̄ + b^I + pad(x) − u^I (zero for instantaneous interneurons)
        let mut lag = &s.w_ip * ctx.rbar + ctx.input - &s.u_i;
        add_col(&mut lag, &s.b_i);
        let mut look = &s.wdot_b * ctx.u - &s.wdot_pi * &s.u_i;
        let wpi_bdot = &s.w_pi * &s.bdot_i;
        for mut c in look.column_iter_mut() {
            c -= &wpi_bdot;
        }
        let t = &s.e_a - &s.w_pi * (lag + ctx.input_rate * tau) + look * tau;
        *g += ctx.rho_prime.component_mul(&t);
    }
    fn add_matrix(&self, ctx: &PathwayContext<'_, T>, sample: usize, h: &mut DMatrix<T>) {
        let s = self.read();
        let d = ctx.rho_prime.column(sample);
        let n = h.nrows();
        for j in 0..n {
            for i in 0..n {
                h[(i, j)] += d[i] * (s.pi_ip[(i, j)] * d[j] - s.w_b[(i, j)]);
            }
        }
    }
    fn end_step(
        &mut self,
        ctx: &PathwayContext<'_, T>,
        udot: &DMatrix<T>,
    ) -> Result<(), CoreError> {
        let mut guard = self.write();
        let s = &mut *guard;
        let (tau, dt) = (ctx.tau, ctx.dt);
        if s.cfg.dynamics == InterneuronDynamics::Dynamic {
            let r_la = ctx.rbar + ctx.rho_prime.component_mul(udot) * tau;
            let mut v = &s.w_ip * r_la + ctx.input - &s.u_i + ctx.input_rate * tau;
            let bterm = &s.b_i + &s.bdot_i * tau;
            add_col(&mut v, &bterm);
            s.udot_i = v / tau;
        }
        let one = T::c(1.0);
        add_scaled(&mut s.w_b, dt, &s.wdot_b);
        add_scaled(&mut s.w_pi, dt, &s.wdot_pi);
        s.b_i.axpy(dt, &s.bdot_i, one);
        if s.cfg.tie_w_ip {
            let mut w = ctx.network.dense_weights();
            add_scaled(&mut w, dt, &dense_weight_derivative(ctx));
            s.w_ip = w;
        }
        s.steps += 1;
        Ok(())
    }
}
