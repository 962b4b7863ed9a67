//! Weight transport through (possibly depressing) back-projection synapses, as an
//! [`ErrorPathway`] of `lagrange-core` (paper.md §A.8; our construction).
//!
//! # Construction
//!
//! The built-in pathway forms the apical error e_A = Wᵀ(u − v): the top-down synapses carry the
//! presynaptic voltage u and instantaneous interneurons cancel its prediction, the basal voltage
//! v = W r̄ + b + pad(x). Here both signals travel through synapses of the same kind, which
//! transmit s(·) instead of the voltage itself ([`TransmissionMode`], [`DepressingSynapses`]):
//!
//! e_A = Wᵀ (s_u − s_v),  s_u = s(u; x_u),  s_v = s(v; x_v),
//!
//! where x_u (driven by ρ(u), the pyramidal neuron's own rate) and x_v (driven by ρ(v), the rate
//! of the interneuron that mirrors it) are the Tsodyks–Markram resources of the two synapse
//! populations in [`TransmissionMode::Dynamic`]. The output layer has no back-projections, so
//! only the hidden layers receive an apical error, e_A,l = W_(l+1)ᵀ (s(u_(l+1)) − s(v_(l+1))).
//! The modes give:
//!
//! * [`TransmissionMode::Voltage`]: s = u, exactly the built-in weight transport (verified
//!   numerically in `tests/depression.rs`).
//! * [`TransmissionMode::IdealInverse`]: s = ρ⁻¹(ρ(u)) = u up to rounding.
//! * [`TransmissionMode::Rate`]: s = a ρ(u) + c, so e_A ≈ a Wᵀ(ρ′(u) ⊙ (u − v)) — the
//!   downstream error is distorted by the downstream ρ′ (c cancels).
//! * [`TransmissionMode::Dynamic`]: s = a U x ρ(u) + c with x relaxing to 1/(1 + τ_rec U ρ(u)),
//!   whose steady state is close to u over the fitted operating range.
//!
//! # Linear system
//!
//! The core solves (★) with the look-ahead of the error term, ρ′⊙e_A + τ d/dt(ρ′⊙e_A). Writing
//! D = diag(ρ′(u)), S′_u = diag(∂s/∂u at u), S′_v = diag(∂s/∂v at v) (resources held fixed) and
//! δ_u = (∂s/∂x) ẋ_u, δ_v = (∂s/∂x) ẋ_v for the explicitly known resource drift, the time
//! derivative is
//!
//! ė_A = Ẇᵀ(s_u − s_v) + Wᵀ(S′_u u̇ + δ_u − S′_v v̇ − δ_v),  v̇ = W D u̇ + Ẇ r̄ + ḃ + pad(ẋ),
//!
//! so the pathway's contributions (the ρ″⊙e_A term is added by the core) are
//!
//! * P_b = −D Wᵀ S′_u + D Wᵀ S′_v W D,
//! * q = ρ′⊙e_A + τ ρ′⊙[Ẇᵀ(s_u − s_v) + Wᵀ(δ_u − δ_v) − Wᵀ S′_v (Ẇ r̄ + ḃ + pad(ẋ))].
//!
//! With s = u (S′ = I, δ = 0) these are exactly the P_b and q of
//! [`lagrange_core::WeightTransport`]. Within a step the resources are not unknowns of the
//! linear system: their rate is evaluated explicitly at the start of the step, and
//! [`ErrorPathway::end_step`] advances them by explicit Euler with the pre-step u and v. H is
//! not symmetric unless s = u, so every mode except Voltage is solved by LU.
//!
//! # Handles
//!
//! As for the interneuron circuits, [`TransmissionPathway`] is a cloneable handle to shared
//! state: box one clone into `Simulator::set_pathway` and keep another to read the resources
//! and the transmission error.
//!
//! ```
//! use lagrange_circuits::{TransmissionMode, TransmissionPathway};
//! use lagrange_core::{Activation, Layers, ModelConfig, Network, Simulator, Solver};
//! use nalgebra::{DMatrix, DVector};
//! let layers = Layers::new(&[2, 2, 1]).unwrap();
//! let mut w = DMatrix::<f64>::zeros(5, 5);
//! let mut m = DMatrix::<f64>::zeros(5, 5);
//! for (i, j) in [(2, 0), (2, 1), (3, 0), (3, 1), (4, 2), (4, 3)] { w[(i, j)] = 0.3; m[(i, j)] = 1.0; }
//! let net = Network::from_dense(layers, &w, &m, DVector::zeros(5), DVector::zeros(5)).unwrap();
//! let cfg = ModelConfig { solver: Solver::Lu, lr_weights: 1e-3, ..Default::default() };
//! let mut sim = Simulator::new(net, cfg, 1).unwrap();
//! sim.set_beta_outputs(0.1);
//! let pw = TransmissionPathway::<f64>::new(
//!     TransmissionMode::Dynamic, Activation::Sigmoid, 10.0, (-3.0, 1.0)).unwrap();
//! sim.set_pathway(Box::new(pw.clone()));
//! let (x, y) = (DMatrix::from_column_slice(2, 1, &[1.0, 0.5]), DMatrix::from_element(1, 1, 0.3));
//! for _ in 0..20 { sim.step(&x, &y, true).unwrap(); }
//! assert_eq!(pw.steps(), 20);
//! assert!(pw.resources().0.iter().all(|&x| x > 0.0 && x <= 1.0));
//! ```

use crate::depression::{DepressingSynapses, TransmissionMode};
use crate::error::CircuitError;
use crate::interneurons::check_activation;
use lagrange_core::{Activation, CoreError, ErrorPathway, PathwayContext, Real};
use nalgebra::DMatrix;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

struct Inner<T: Real> {
    activation: Activation,
    /// Synapses carrying the pyramidal voltages u (resource driven by ρ(u)).
    syn_u: DepressingSynapses<T>,
    /// Synapses carrying the interneuron (basal prediction) voltages v (driven by ρ(v)).
    syn_v: DepressingSynapses<T>,
    initialised: bool,
    // this step's quantities (N×B), computed in `begin_step`
    s_diff: DMatrix<T>,
    slope_u: DMatrix<T>,
    slope_v: DMatrix<T>,
    drift: DMatrix<T>,
    steps: u64,
}

/// Weight transport whose back-projections (and the interneurons' cancelling projections)
/// transmit through synapses of a chosen [`TransmissionMode`]; see the module documentation for
/// the construction and the linear system. A cloneable handle to shared state.
#[derive(Clone)]
pub struct TransmissionPathway<T: Real> {
    inner: Arc<RwLock<Inner<T>>>,
}

impl<T: Real> std::fmt::Debug for TransmissionPathway<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.read();
        f.debug_struct("TransmissionPathway")
            .field("mode", &s.syn_u.mode())
            .field("activation", &s.activation)
            .field("fit", &s.syn_u.fit())
            .field("steps", &s.steps)
            .finish()
    }
}

impl<T: Real> TransmissionPathway<T> {
    /// A pathway transmitting with `mode` for the simulator's ρ `activation`. The read-out of
    /// the Rate and Dynamic modes is fitted over the voltage range `range` (Dynamic: with the
    /// recovery time constant `tau_rec`, use the membrane τ); see [`DepressingSynapses::new`].
    /// The resources are set to their steady state at the first step (and whenever the batch
    /// size changes).
    pub fn new(
        mode: TransmissionMode,
        activation: Activation,
        tau_rec: f64,
        range: (f64, f64),
    ) -> Result<Self, CircuitError> {
        let syn = DepressingSynapses::new(mode, activation, tau_rec, range, 1, 1)?;
        Ok(TransmissionPathway {
            inner: Arc::new(RwLock::new(Inner {
                activation,
                syn_u: syn.clone(),
                syn_v: syn,
                initialised: false,
                s_diff: DMatrix::zeros(0, 0),
                slope_u: DMatrix::zeros(0, 0),
                slope_v: DMatrix::zeros(0, 0),
                drift: DMatrix::zeros(0, 0),
                steps: 0,
            })),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner<T>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<T>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The transmission mode.
    pub fn mode(&self) -> TransmissionMode {
        self.read().syn_u.mode()
    }

    /// The synapses carrying u and those carrying v (clones; their resources are N×B).
    pub fn synapses(&self) -> (DepressingSynapses<T>, DepressingSynapses<T>) {
        let s = self.read();
        (s.syn_u.clone(), s.syn_v.clone())
    }

    /// The resources (x_u, x_v), N×B each (1×1 before the first step).
    pub fn resources(&self) -> (DMatrix<T>, DMatrix<T>) {
        let s = self.read();
        (s.syn_u.resources().clone(), s.syn_v.resources().clone())
    }

    /// Sets the resources to their steady state for the voltages `u` and basal predictions `v`
    /// (N×B each).
    pub fn equilibrate(&self, u: &DMatrix<T>, v: &DMatrix<T>) {
        let mut s = self.write();
        s.syn_u.equilibrate(u);
        s.syn_v.equilibrate(v);
        s.initialised = true;
    }

    /// Monitor: (RMS, max) of s_u − u over all entries for the voltages `u` (N×B) with the
    /// current resources of the u-synapses.
    pub fn transmission_error(&self, u: &DMatrix<T>) -> (f64, f64) {
        self.read().syn_u.transmission_error(u)
    }

    /// Number of completed steps.
    pub fn steps(&self) -> u64 {
        self.read().steps
    }
}

/// The dense N×N Ẇ of all projections.
fn dense_wdot<T: Real>(ctx: &PathwayContext<'_, T>) -> DMatrix<T> {
    let n = ctx.network.n();
    let l = ctx.network.layers();
    let mut wdot = DMatrix::zeros(n, n);
    for (p, m) in ctx.network.projections().iter().zip(ctx.weight_derivative) {
        wdot.view_mut((l.offset(p.post), l.offset(p.pre)), m.shape())
            .copy_from(m);
    }
    wdot
}

impl<T: Real> ErrorPathway<T> for TransmissionPathway<T> {
    fn name(&self) -> &str {
        "transmission-weight-transport"
    }
    fn is_symmetric(&self) -> bool {
        self.mode() == TransmissionMode::Voltage
    }
    fn begin_step(&mut self, ctx: &PathwayContext<'_, T>) -> Result<(), CoreError> {
        let mut guard = self.write();
        let s = &mut *guard;
        check_activation(s.activation, ctx)?;
        let (u, v) = (ctx.u, ctx.basal);
        if !s.initialised || s.syn_u.resources().shape() != u.shape() {
            s.syn_u.equilibrate(u);
            s.syn_v.equilibrate(v);
            s.initialised = true;
        }
        s.s_diff = s.syn_u.transmit(u) - s.syn_v.transmit(v);
        s.slope_u = s.syn_u.slope(u);
        s.slope_v = s.syn_v.slope(v);
        s.drift = s.syn_u.resource_drift(u) - s.syn_v.resource_drift(v);
        Ok(())
    }
    fn apical_error(&self, ctx: &PathwayContext<'_, T>, out: &mut DMatrix<T>) {
        let s = self.read();
        let w = ctx.network.dense_weights();
        *out = w.transpose() * &s.s_diff;
    }
    fn add_rhs(&self, ctx: &PathwayContext<'_, T>, g: &mut DMatrix<T>) {
        let s = self.read();
        let w = ctx.network.dense_weights();
        let wt = w.transpose();
        let wdot = dense_wdot(ctx);
        let tau = ctx.tau;
        let ea = &wt * &s.s_diff;
        // v̇ without the u̇ part: Ẇ r̄ + ḃ + pad(ẋ)
        let mut vdot = &wdot * ctx.rbar + ctx.input_rate;
        for mut c in vdot.column_iter_mut() {
            c += ctx.bias_derivative;
        }
        let inner =
            wdot.transpose() * &s.s_diff + &wt * (&s.drift - s.slope_v.component_mul(&vdot));
        let term = ea + inner * tau;
        *g += ctx.rho_prime.component_mul(&term);
    }
    fn add_matrix(&self, ctx: &PathwayContext<'_, T>, sample: usize, h: &mut DMatrix<T>) {
        let s = self.read();
        let w = ctx.network.dense_weights();
        let n = w.nrows();
        let d = ctx.rho_prime.column(sample);
        let su = s.slope_u.column(sample);
        let sv = s.slope_v.column(sample);
        // Wᵀ S′_v W D − Wᵀ S′_u, then scale row i by ρ′_i
        let svwd = DMatrix::from_fn(n, n, |i, j| sv[i] * w[(i, j)] * d[j]);
        let mut p = w.transpose() * svwd;
        for j in 0..n {
            for i in 0..n {
                p[(i, j)] -= w[(j, i)] * su[j];
            }
        }
        for i in 0..n {
            let di = d[i];
            for j in 0..n {
                h[(i, j)] += di * p[(i, j)];
            }
        }
    }
    fn end_step(
        &mut self,
        ctx: &PathwayContext<'_, T>,
        _udot: &DMatrix<T>,
    ) -> Result<(), CoreError> {
        let mut s = self.write();
        let dt = ctx.dt.f64_();
        s.syn_u.advance(ctx.u, dt);
        s.syn_v.advance(ctx.basal, dt);
        s.steps += 1;
        Ok(())
    }
}
