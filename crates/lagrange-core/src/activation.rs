//! Activation functions ρ with their first and second derivatives.

use crate::real::Real;
use serde::{Deserialize, Serialize};

/// The somatic transfer function ρ that maps voltages to (low-pass) rates r̄ = ρ(u).
///
/// Derivative conventions at the kinks are the reference implementation's (golden README §5.6):
/// hard-sigmoid ρ′ = 1 on the closed interval [0, 1]; ReLU ρ′(0) = 0; ρ″ ≡ 0 for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// Logistic σ(u) = 1/(1+e^(−u)), no clipping of u. ρ′ = σ(1−σ), ρ″ = σ(1−σ)(1−2σ).
    #[default]
    Sigmoid,
    /// clamp(u, 0, 1); ρ′ = 1 for 0 ≤ u ≤ 1 (both ends inclusive), else 0; ρ″ = 0.
    HardSigmoid,
    /// max(u, 0); ρ′ = 1 for u > 0, 0 for u ≤ 0; ρ″ = 0.
    Relu,
}

impl Activation {
    /// Evaluates (ρ(u), ρ′(u), ρ″(u)).
    #[inline(always)]
    pub fn eval<T: Real>(self, u: T) -> (T, T, T) {
        let zero = T::c(0.0);
        let one = T::c(1.0);
        match self {
            Activation::Sigmoid => {
                let s = one / (one + (-u).exp_());
                let d = s * (one - s);
                (s, d, d * (one - T::c(2.0) * s))
            }
            Activation::HardSigmoid => {
                let r = u.max_(zero).min_(one);
                let d = if u >= zero && u <= one { one } else { zero };
                (r, d, zero)
            }
            Activation::Relu => {
                if u > zero {
                    (u, one, zero)
                } else {
                    (zero, zero, zero)
                }
            }
        }
    }

    /// (ρ, ρ′, ρ″) of every element of `u` into `r`, `d`, `dd` (all of the same length): the same
    /// values as [`Activation::eval`], with the choice of function made once per slice instead
    /// of per element, so that each loop is a plain vectorisable pass.
    pub fn eval_slices<T: Real>(self, u: &[T], r: &mut [T], d: &mut [T], dd: &mut [T]) {
        let n = u.len();
        let (r, d, dd) = (&mut r[..n], &mut d[..n], &mut dd[..n]);
        match self {
            Activation::Sigmoid => {
                for i in 0..n {
                    (r[i], d[i], dd[i]) = self.eval(u[i]);
                }
            }
            Activation::HardSigmoid | Activation::Relu => {
                self.rate_slope_slices(u, r, d);
                dd.fill(T::c(0.0));
            }
        }
    }

    /// (ρ, ρ′) of every element of `u` into `r` and `d` (ρ″ is not computed): the first two
    /// outputs of [`Activation::eval_slices`], for callers that know ρ″ ≡ 0
    /// ([`Activation::has_zero_curvature`]) or do not need it.
    pub fn rate_slope_slices<T: Real>(self, u: &[T], r: &mut [T], d: &mut [T]) {
        let (zero, one) = (T::c(0.0), T::c(1.0));
        let n = u.len();
        let (r, d) = (&mut r[..n], &mut d[..n]);
        match self {
            Activation::Sigmoid => {
                for i in 0..n {
                    (r[i], d[i], _) = self.eval(u[i]);
                }
            }
            Activation::HardSigmoid => {
                for i in 0..n {
                    let x = u[i];
                    r[i] = x.max_(zero).min_(one);
                    d[i] = if x >= zero && x <= one { one } else { zero };
                }
            }
            Activation::Relu => {
                for i in 0..n {
                    let x = u[i];
                    let pos = x > zero;
                    r[i] = if pos { x } else { zero };
                    d[i] = if pos { one } else { zero };
                }
            }
        }
    }

    /// ρ(u).
    #[inline(always)]
    pub fn rho<T: Real>(self, u: T) -> T {
        self.eval(u).0
    }

    /// `true` when ρ″ ≡ 0, so that the −diag(ρ″ ⊙ e_A) term of H vanishes identically.
    pub fn has_zero_curvature(self) -> bool {
        !matches!(self, Activation::Sigmoid)
    }

    /// The reference's inverse used for `use_input_as_rates` (spec §1.5): logit clamped to
    /// [−1000, 1000] for the sigmoid, identity on the clamp range otherwise.
    pub fn inverse<T: Real>(self, r: T) -> T {
        match self {
            Activation::Sigmoid => {
                let one = T::c(1.0);
                let z = (r / (one - r)).ln_();
                if z.finite_() {
                    z.max_(T::c(-1000.0)).min_(T::c(1000.0))
                } else if r >= one {
                    T::c(1000.0)
                } else {
                    T::c(-1000.0)
                }
            }
            Activation::HardSigmoid => r.max_(T::c(0.0)).min_(T::c(1.0)),
            Activation::Relu => r.max_(T::c(0.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kink_conventions() {
        assert_eq!(Activation::HardSigmoid.eval(0.0f64), (0.0, 1.0, 0.0));
        assert_eq!(Activation::HardSigmoid.eval(1.0f64), (1.0, 1.0, 0.0));
        assert_eq!(Activation::HardSigmoid.eval(1.0f64 + 1e-12).1, 0.0);
        assert_eq!(Activation::Relu.eval(0.0f64), (0.0, 0.0, 0.0));
        assert_eq!(Activation::Relu.eval(1e-300f64).1, 1.0);
    }

    #[test]
    fn slice_evaluation_equals_the_elementwise_one_bit_for_bit() {
        let u: Vec<f32> = vec![
            -2.0,
            -1e-30,
            -0.0,
            0.0,
            1e-30,
            0.3,
            1.0,
            1.0 + f32::EPSILON,
            7.5,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for act in [
            Activation::Sigmoid,
            Activation::HardSigmoid,
            Activation::Relu,
        ] {
            let n = u.len();
            let (mut r, mut d, mut dd) = (vec![9.0; n], vec![9.0; n], vec![9.0; n]);
            act.eval_slices(&u, &mut r, &mut d, &mut dd);
            for i in 0..n {
                let (a, b, c) = act.eval(u[i]);
                let same =
                    |x: f32, y: f32| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
                assert!(
                    same(r[i], a) && same(d[i], b) && same(dd[i], c),
                    "{act:?} at u = {}: slices ({}, {}, {}), eval ({a}, {b}, {c})",
                    u[i],
                    r[i],
                    d[i],
                    dd[i]
                );
            }
        }
    }

    #[test]
    fn sigmoid_derivatives_match_finite_differences() {
        for &u in &[-3.0f64, -0.5, 0.0, 0.7, 2.5] {
            let h = 1e-5;
            let (_, d, dd) = Activation::Sigmoid.eval(u);
            let fd1 = (Activation::Sigmoid.rho(u + h) - Activation::Sigmoid.rho(u - h)) / (2.0 * h);
            let fd2 =
                (Activation::Sigmoid.eval(u + h).1 - Activation::Sigmoid.eval(u - h).1) / (2.0 * h);
            assert!((d - fd1).abs() < 1e-9, "rho' at {u}");
            assert!((dd - fd2).abs() < 1e-9, "rho'' at {u}");
        }
    }
}
