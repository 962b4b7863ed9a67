//! Observables of the least-action principle for one sample: the Lagrangian L, the mismatch
//! energy E^M, the cost C, the gradient ∂L/∂u and its Jacobian (paper.md §A.2–§A.4).
//!
//! These are dense reference computations (O(N²)), meant for monitoring and tests.

use crate::activation::Activation;
use crate::network::Network;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// The basal (dendritic) prediction v = W r̄ + b + pad(x) of every neuron.
pub fn basal_prediction<T: Real>(
    net: &Network<T>,
    act: Activation,
    u: &DVector<T>,
    input: &[T],
) -> DVector<T> {
    let rbar = u.map(|x| act.rho(x));
    let mut v = net.dense_weights() * rbar + &net.biases;
    for (i, &x) in input.iter().enumerate() {
        v[i] += x;
    }
    v
}

/// Mismatch energy E^M = ½ ‖u − W r̄ − b − pad(x)‖² (paper Eq. for E^M_i, summed over neurons).
pub fn mismatch_energy<T: Real>(
    net: &Network<T>,
    act: Activation,
    u: &DVector<T>,
    input: &[T],
) -> T {
    let e = u - basal_prediction(net, act, u, input);
    e.dot(&e) * T::c(0.5)
}

/// Cost C = ½ Σ_i (ŷ_i − u_i)² over the neurons listed in `neurons` (the outputs, or any nudged
/// subset).
pub fn cost<T: Real>(u: &DVector<T>, target: &DVector<T>, neurons: &[usize]) -> T {
    neurons
        .iter()
        .map(|&i| (target[i] - u[i]) * (target[i] - u[i]))
        .fold(T::c(0.0), |a, b| a + b)
        * T::c(0.5)
}

/// Lagrangian L = E^M + ½ Σ_i β̂_i (ŷ_i − u_i)² (spec §4.1; the paper's L = E^M + β C with a
/// per-neuron β̂).
pub fn lagrangian<T: Real>(
    net: &Network<T>,
    act: Activation,
    u: &DVector<T>,
    input: &[T],
    beta: &DVector<T>,
    target: &DVector<T>,
) -> T {
    let mut l = mismatch_energy(net, act, u, input);
    for i in 0..u.len() {
        l += T::c(0.5) * beta[i] * (target[i] - u[i]) * (target[i] - u[i]);
    }
    l
}

/// ∂L/∂u = ē − ρ′(u) ⊙ Wᵀ ē − β̂ ⊙ (ŷ − u) with ē = u − v (paper §A.3: ∂L/∂u = ē − ε̄ − β ē*).
pub fn lagrangian_gradient<T: Real>(
    net: &Network<T>,
    act: Activation,
    u: &DVector<T>,
    input: &[T],
    beta: &DVector<T>,
    target: &DVector<T>,
) -> DVector<T> {
    let e = u - basal_prediction(net, act, u, input);
    let d = u.map(|x| act.eval(x).1);
    let back = net.dense_weights().transpose() * &e;
    let mut f = &e - d.component_mul(&back);
    for i in 0..u.len() {
        f[i] -= beta[i] * (target[i] - u[i]);
    }
    f
}

/// The Jacobian ∂(∂L/∂u)/∂u = (I − W D)ᵀ(I − W D) − diag(ρ″ ⊙ Wᵀē) + diag(β̂) with D = diag(ρ′(u)):
/// the matrix H/τ of the linear system H u̇ = g (spec §5.1, paper §A.4).
pub fn lagrangian_hessian<T: Real>(
    net: &Network<T>,
    act: Activation,
    u: &DVector<T>,
    input: &[T],
    beta: &DVector<T>,
) -> DMatrix<T> {
    let n = u.len();
    let w = net.dense_weights();
    let e = u - basal_prediction(net, act, u, input);
    let ea = w.transpose() * &e;
    let a = DMatrix::from_fn(
        n,
        n,
        |i, j| if i == j { T::c(1.0) } else { T::c(0.0) } - w[(i, j)] * act.eval(u[j]).1,
    );
    let mut h = a.transpose() * a;
    for i in 0..n {
        h[(i, i)] += beta[i] - act.eval(u[i]).2 * ea[i];
    }
    h
}
