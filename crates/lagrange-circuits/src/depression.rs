//! Short-term depression on the back-projections (paper.md §A.8; the paper's Appendix 1 was not
//! available, so this follows the main text and is documented as our construction).
//!
//! Errors are defined on voltages: top-down signals should carry u_(l+1), but a synapse sees the
//! presynaptic rate r̄ = ρ(u). A depressing synapse whose release probability falls with the
//! low-pass presynaptic rate compresses large rates and so partly undoes the saturation-free part
//! of ρ. The model here is a rate-based Tsodyks–Markram resource x per presynaptic neuron:
//!
//! τ_rec ẋ = (1 − x) − τ_rec U x r̄,  transmitted s = a · U x r̄ + c,
//!
//! whose effective release probability U x* = U/(1 + τ_rec U r̄) falls with r̄. The depression
//! strength U (with τ_rec, default τ) and the affine read-out (a, c) (a synaptic gain and a
//! postsynaptic offset) are fitted by least squares so that the steady-state s*(ρ(u)) ≈ u over the
//! operating range. [`TransmissionMode`] also offers the plain rate (the uncorrected synapse, with
//! its own best affine read-out), the voltage itself (what the reference assumes) and the exact
//! inverse ρ⁻¹(r̄). [`DepressingSynapses::transmission_error`] monitors |s − u|.
//!
//! For the sigmoid the inverse (the logit) is convex above u = 0 and concave below, while the
//! depression map r ↦ r/(1 + k r) is concave everywhere, so the correction can only be partial;
//! `tests/depression.rs` states the measured factors. [`crate::depression_pathway`] puts these
//! synapses on the back-projections of a simulated network.

use crate::error::CircuitError;
use lagrange_core::{Activation, Real};
use nalgebra::DMatrix;

/// What a back-projecting synapse transmits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmissionMode {
    /// The presynaptic rate r̄ = ρ(u) through the best affine read-out (uncorrected synapse).
    Rate,
    /// The presynaptic voltage u (what the reference implementation assumes).
    Voltage,
    /// ρ⁻¹(r̄) (exact wherever ρ is invertible; the reference's clamped inverse).
    IdealInverse,
    /// The depressing synapse with its resource variable integrated in time.
    Dynamic,
}

/// A fitted affine read-out `s = gain · f(r̄) + offset` and its steady-state quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransmissionFit {
    /// Release probability U (0 for the plain-rate fit).
    pub release: f64,
    /// Recovery time constant τ_rec (ms).
    pub tau_rec: f64,
    /// a.
    pub gain: f64,
    /// c.
    pub offset: f64,
    /// Root-mean-square of s* − u over the operating range (uniform grid).
    pub rms_error: f64,
    /// Largest |s* − u| over the operating range.
    pub max_error: f64,
}

const GRID: usize = 401;

fn grid(range: (f64, f64)) -> impl Iterator<Item = f64> {
    (0..GRID).map(move |i| range.0 + (range.1 - range.0) * i as f64 / (GRID - 1) as f64)
}

/// Least-squares affine fit of u ≈ a f + c over the grid; returns (a, c, rms, max).
fn affine_fit(range: (f64, f64), f: impl Fn(f64) -> f64) -> (f64, f64, f64, f64) {
    let pts: Vec<(f64, f64)> = grid(range).map(|u| (f(u), u)).collect();
    let n = pts.len() as f64;
    let (mf, mu) = pts
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in &pts {
        sxy += (x - mf) * (y - mu);
        sxx += (x - mf) * (x - mf);
    }
    let a = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let c = mu - a * mf;
    let (mut se, mut me) = (0.0f64, 0.0f64);
    for (x, y) in &pts {
        let e = a * x + c - y;
        se += e * e;
        me = me.max(e.abs());
    }
    (a, c, (se / n).sqrt(), me)
}

fn check_range(range: (f64, f64), tau_rec: f64) -> Result<(), CircuitError> {
    if !(range.0.is_finite() && range.1.is_finite() && range.0 < range.1) {
        return Err(CircuitError::config(
            "operating_range",
            format!("must be a finite interval (lo < hi), got {range:?}"),
        ));
    }
    if !(tau_rec.is_finite() && tau_rec > 0.0) {
        return Err(CircuitError::config(
            "tau_rec",
            format!("must be finite and > 0, got {tau_rec}"),
        ));
    }
    Ok(())
}

/// The best affine read-out of the plain rate ρ(u) over `range` (the uncorrected baseline).
pub fn fit_rate(
    activation: Activation,
    range: (f64, f64),
) -> Result<TransmissionFit, CircuitError> {
    check_range(range, 1.0)?;
    let (gain, offset, rms_error, max_error) = affine_fit(range, |u| activation.rho(u));
    Ok(TransmissionFit {
        release: 0.0,
        tau_rec: 0.0,
        gain,
        offset,
        rms_error,
        max_error,
    })
}

/// Fits the depression strength U (log-grid search plus golden-section refinement over
/// k = τ_rec U ∈ [1e-3, 1e3]) and the affine read-out so that the steady-state transmission
/// a U r̄/(1 + τ_rec U r̄) + c is closest to u (RMS) over `range`.
pub fn fit_depression(
    activation: Activation,
    tau_rec: f64,
    range: (f64, f64),
) -> Result<TransmissionFit, CircuitError> {
    check_range(range, tau_rec)?;
    let cost = |lk: f64| {
        let k = 10f64.powf(lk);
        affine_fit(range, |u| {
            let r = activation.rho(u);
            r / (1.0 + k * r)
        })
        .2
    };
    let mut best = (-3.0, cost(-3.0));
    for i in 0..=60 {
        let lk = -3.0 + 6.0 * i as f64 / 60.0;
        let c = cost(lk);
        if c < best.1 {
            best = (lk, c);
        }
    }
    let (mut a, mut b) = (best.0 - 0.1, best.0 + 0.1);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (c1, c2) = (b - g * (b - a), a + g * (b - a));
        if cost(c1) < cost(c2) {
            b = c2;
        } else {
            a = c1;
        }
    }
    let k = 10f64.powf((a + b) / 2.0);
    let u_rel = k / tau_rec;
    let (gain, offset, rms_error, max_error) = affine_fit(range, |u| {
        let r = activation.rho(u);
        u_rel * r / (1.0 + k * r)
    });
    Ok(TransmissionFit {
        release: u_rel,
        tau_rec,
        gain,
        offset,
        rms_error,
        max_error,
    })
}

/// A population of back-projecting synapses (one resource per presynaptic neuron and sample).
#[derive(Debug, Clone)]
pub struct DepressingSynapses<T: Real> {
    mode: TransmissionMode,
    activation: Activation,
    fit: TransmissionFit,
    x: DMatrix<T>,
}

impl<T: Real> DepressingSynapses<T> {
    /// Synapses for `n` presynaptic neurons and `batch` samples. The read-out is fitted over the
    /// operating range `range` of voltages: [`fit_depression`] with `tau_rec` (use τ) for
    /// [`TransmissionMode::Dynamic`], [`fit_rate`] for [`TransmissionMode::Rate`]. Resources start
    /// fully recovered (x = 1).
    pub fn new(
        mode: TransmissionMode,
        activation: Activation,
        tau_rec: f64,
        range: (f64, f64),
        n: usize,
        batch: usize,
    ) -> Result<Self, CircuitError> {
        if batch == 0 {
            return Err(CircuitError::config("batch", "must be >= 1"));
        }
        let fit = match mode {
            TransmissionMode::Dynamic => fit_depression(activation, tau_rec, range)?,
            TransmissionMode::Rate => fit_rate(activation, range)?,
            _ => {
                check_range(range, tau_rec)?;
                TransmissionFit {
                    release: 0.0,
                    tau_rec,
                    gain: 1.0,
                    offset: 0.0,
                    rms_error: 0.0,
                    max_error: 0.0,
                }
            }
        };
        Ok(DepressingSynapses {
            mode,
            activation,
            fit,
            x: DMatrix::from_element(n, batch, T::c(1.0)),
        })
    }
    /// The mode.
    pub fn mode(&self) -> TransmissionMode {
        self.mode
    }
    /// The fitted read-out.
    pub fn fit(&self) -> TransmissionFit {
        self.fit
    }
    /// The resources x (n × B).
    pub fn resources(&self) -> &DMatrix<T> {
        &self.x
    }
    /// Sets every resource to its steady state for the voltages `u` (n × B).
    pub fn equilibrate(&mut self, u: &DMatrix<T>) {
        let k = T::c(self.fit.release * self.fit.tau_rec);
        let act = self.activation;
        self.x = u.map(|v| T::c(1.0) / (T::c(1.0) + k * act.rho(v)));
    }
    /// The transmitted signal for presynaptic voltages `u` (n × B) with the current resources.
    pub fn transmit(&self, u: &DMatrix<T>) -> DMatrix<T> {
        let act = self.activation;
        let (a, c) = (T::c(self.fit.gain), T::c(self.fit.offset));
        match self.mode {
            TransmissionMode::Voltage => u.clone(),
            TransmissionMode::IdealInverse => u.map(|v| act.inverse(act.rho(v))),
            TransmissionMode::Rate => u.map(|v| a * act.rho(v) + c),
            TransmissionMode::Dynamic => {
                let ur = T::c(self.fit.release);
                u.zip_map(&self.x, |v, x| a * ur * x * act.rho(v) + c)
            }
        }
    }
    /// The slope ∂s/∂u of the transmitted signal at the voltages `u` (n × B) with the resources
    /// held fixed: 1 (voltage), a ρ′(u) (rate), ρ′(u)/ρ′(ρ⁻¹(ρ(u))) (ideal inverse; 0 where that
    /// denominator vanishes) and a U x ρ′(u) (dynamic).
    pub fn slope(&self, u: &DMatrix<T>) -> DMatrix<T> {
        let act = self.activation;
        let a = T::c(self.fit.gain);
        let zero = T::c(0.0);
        match self.mode {
            TransmissionMode::Voltage => u.map(|_| T::c(1.0)),
            TransmissionMode::IdealInverse => u.map(|v| {
                let (r, d, _) = act.eval(v);
                let ds = act.eval(act.inverse(r)).1;
                if ds != zero { d / ds } else { zero }
            }),
            TransmissionMode::Rate => u.map(|v| a * act.eval(v).1),
            TransmissionMode::Dynamic => {
                let ur = T::c(self.fit.release);
                u.zip_map(&self.x, |v, x| a * ur * x * act.eval(v).1)
            }
        }
    }
    /// The resource rate ẋ = (1 − x)/τ_rec − U x ρ(u) for the voltages `u` (n × B); zero for the
    /// exact modes and the plain rate.
    pub fn resource_rate(&self, u: &DMatrix<T>) -> DMatrix<T> {
        if self.mode != TransmissionMode::Dynamic {
            return DMatrix::zeros(u.nrows(), u.ncols());
        }
        let act = self.activation;
        let (ur, tr) = (T::c(self.fit.release), T::c(self.fit.tau_rec));
        let one = T::c(1.0);
        u.zip_map(&self.x, |v, x| (one - x) / tr - ur * x * act.rho(v))
    }
    /// The part of ṡ carried by the resources, (∂s/∂x) ẋ = a U ρ(u) ẋ, for the voltages `u`
    /// (n × B); zero except in [`TransmissionMode::Dynamic`].
    pub fn resource_drift(&self, u: &DMatrix<T>) -> DMatrix<T> {
        let mut xdot = self.resource_rate(u);
        if self.mode == TransmissionMode::Dynamic {
            let act = self.activation;
            let aur = T::c(self.fit.gain * self.fit.release);
            xdot.zip_apply(u, |xd, v| *xd *= aur * act.rho(v));
        }
        xdot
    }
    /// Advances the resources by dt with the presynaptic voltages `u` (explicit Euler; exact
    /// modes ignore it): x += dt [(1 − x)/τ_rec − U x ρ(u)].
    pub fn advance(&mut self, u: &DMatrix<T>, dt: f64) {
        if self.mode != TransmissionMode::Dynamic {
            return;
        }
        let act = self.activation;
        let (ur, tr, dt) = (T::c(self.fit.release), T::c(self.fit.tau_rec), T::c(dt));
        let one = T::c(1.0);
        self.x.zip_apply(u, |x, v| {
            *x += dt * ((one - *x) / tr - ur * *x * act.rho(v))
        });
    }
    /// Monitor: (RMS, max) of s − u over all entries for voltages `u`.
    pub fn transmission_error(&self, u: &DMatrix<T>) -> (f64, f64) {
        let s = self.transmit(u);
        let mut se = 0.0f64;
        let mut me = 0.0f64;
        for (a, b) in s.iter().zip(u.iter()) {
            let e = (a.f64_() - b.f64_()).abs();
            se += e * e;
            me = me.max(e);
        }
        ((se / u.len().max(1) as f64).sqrt(), me)
    }
}
