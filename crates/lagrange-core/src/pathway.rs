//! The error pathway: how the apical (dendritic) error e_A reaches each neuron.
//!
//! With weight transport (the built-in pathway, used by every experiment of the reference), the
//! backward weights equal Wᵀ and instantaneous interneurons make e_A = Wᵀ(u − v). Other pathways,
//! such as the interneuron microcircuits of `lagrange-circuits`, implement [`ErrorPathway`] and are
//! solved on the dense path: they contribute to the right-hand side g and to the matrix H of the
//! linear system H u̇ = g (spec §5.1).

use crate::error::CoreError;
use crate::network::Network;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// Everything a pathway may read during a step. All N×B matrices have one column per sample.
pub struct PathwayContext<'a, T: Real> {
    /// The network before the update.
    pub network: &'a Network<T>,
    /// Somatic voltages u.
    pub u: &'a DMatrix<T>,
    /// Rates r̄ = ρ(u).
    pub rbar: &'a DMatrix<T>,
    /// ρ′(u).
    pub rho_prime: &'a DMatrix<T>,
    /// ρ″(u).
    pub rho_second: &'a DMatrix<T>,
    /// Basal prediction v = W r̄ + b + pad(x).
    pub basal: &'a DMatrix<T>,
    /// pad(x): the input on the rows of layer 0, zero elsewhere.
    pub input: &'a DMatrix<T>,
    /// pad(ẋ) = pad((x − x⁻)/dt).
    pub input_rate: &'a DMatrix<T>,
    /// This step's Ẇ, one matrix per projection (zero when not training).
    pub weight_derivative: &'a [DMatrix<T>],
    /// This step's ḃ.
    pub bias_derivative: &'a DVector<T>,
    /// τ (ms).
    pub tau: T,
    /// dt (ms).
    pub dt: T,
    /// Whether this step trains.
    pub train: bool,
}

/// An error pathway: contributes e_A, its part of g, and its part of H/τ.
///
/// With the pathway's matrices written as W_B (top-down), W_PI (interneuron → pyramidal) and
/// W_IP (pyramidal → interneuron), the core assembles
/// `H/τ = I − W D + P_b − diag(ρ″ ⊙ e_A) + diag(β̂)` and
/// `g = (v − u) + τ pad(ẋ) + τ Ẇ r̄ + c_b ḃ + β̂ ⊙ (ŷ − u + τ ŷ̇) + q`, where the pathway supplies
/// the matrix `P_b` (sample b) through [`ErrorPathway::add_matrix`] and the vector `q` through
/// [`ErrorPathway::add_rhs`] (for the reference circuit: P_b = −D W_B + D W_PI W_IP D and
/// q = ρ′⊙e_A − ρ′⊙W_PI(W_IP r̄ + b^I + pad(x) − u^I) − τ D W_PI pad(ẋ) + τ ρ′⊙(Ẇ_B u − W_PI Ẇ_IP r̄ − Ẇ_PI u^I − W_PI ḃ^I)).
pub trait ErrorPathway<T: Real>: Send + Sync {
    /// Short name for reports.
    fn name(&self) -> &str;
    /// Whether H stays symmetric (then Cholesky may be used; otherwise the core uses LU).
    fn is_symmetric(&self) -> bool;
    /// Start of a step, before any derivative: update interneuron voltages etc.
    fn begin_step(&mut self, ctx: &PathwayContext<'_, T>) -> Result<(), CoreError>;
    /// Writes the apical error e_A (N×B).
    fn apical_error(&self, ctx: &PathwayContext<'_, T>, out: &mut DMatrix<T>);
    /// Adds the pathway's vector `q` to g (N×B).
    fn add_rhs(&self, ctx: &PathwayContext<'_, T>, g: &mut DMatrix<T>);
    /// Adds the pathway's matrix `P_b` of sample `sample` to `h` (N×N, H/τ without the τ).
    fn add_matrix(&self, ctx: &PathwayContext<'_, T>, sample: usize, h: &mut DMatrix<T>);
    /// End of a step: u̇ is known. Learn the pathway's weights and advance its state.
    fn end_step(&mut self, ctx: &PathwayContext<'_, T>, udot: &DMatrix<T>)
    -> Result<(), CoreError>;
}

/// Weight transport (W_B = W_PI = Wᵀ, W_IP = W, instantaneous interneurons), written as an
/// [`ErrorPathway`]. The simulator has this pathway built in (with structured fast paths); this
/// explicit form exists so that the trait can be tested against it and as an example for
/// implementers.
#[derive(Debug, Default, Clone)]
pub struct WeightTransport;

impl<T: Real> ErrorPathway<T> for WeightTransport {
    fn name(&self) -> &str {
        "weight-transport"
    }
    fn is_symmetric(&self) -> bool {
        true
    }
    fn begin_step(&mut self, _ctx: &PathwayContext<'_, T>) -> Result<(), CoreError> {
        Ok(())
    }
    fn apical_error(&self, ctx: &PathwayContext<'_, T>, out: &mut DMatrix<T>) {
        let w = ctx.network.dense_weights();
        let eps = ctx.u - ctx.basal;
        out.copy_from(&(w.transpose() * eps));
    }
    fn add_rhs(&self, ctx: &PathwayContext<'_, T>, g: &mut DMatrix<T>) {
        let w = ctx.network.dense_weights();
        let n = w.nrows();
        let mut wdot = DMatrix::zeros(n, n);
        let l = ctx.network.layers();
        for (p, m) in ctx.network.projections().iter().zip(ctx.weight_derivative) {
            wdot.view_mut((l.offset(p.post), l.offset(p.pre)), m.shape())
                .copy_from(m);
        }
        let eps = ctx.u - ctx.basal;
        let ea = w.transpose() * &eps;
        let mut inner = &wdot * ctx.rbar;
        for mut c in inner.column_iter_mut() {
            c += ctx.bias_derivative;
        }
        let term = ea - w.transpose() * (ctx.input_rate * ctx.tau)
            + (wdot.transpose() * &eps - w.transpose() * inner) * ctx.tau;
        *g += ctx.rho_prime.component_mul(&term);
    }
    fn add_matrix(&self, ctx: &PathwayContext<'_, T>, sample: usize, h: &mut DMatrix<T>) {
        let w = ctx.network.dense_weights();
        let d = ctx.rho_prime.column(sample);
        let wd = DMatrix::from_fn(w.nrows(), w.ncols(), |i, j| w[(i, j)] * d[j]);
        let dwt = wd.transpose();
        *h += dwt.clone() * &wd - dwt;
    }
    fn end_step(
        &mut self,
        _ctx: &PathwayContext<'_, T>,
        _udot: &DMatrix<T>,
    ) -> Result<(), CoreError> {
        Ok(())
    }
}
