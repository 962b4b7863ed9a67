//! The scalar types a network can be simulated in (`f32` and `f64`).

use std::fmt::{Debug, Display, LowerExp};

/// A floating-point scalar usable by the whole crate: nalgebra storage and products, faer
/// factorisations, rayon parallelism.
///
/// Implemented for `f32` and `f64` only. The helper methods carry a trailing underscore so they
/// never clash with the same-named methods of nalgebra's and faer's traits.
pub trait Real:
    nalgebra::RealField
    + faer::traits::RealField
    + Copy
    + Send
    + Sync
    + Debug
    + Display
    + LowerExp
    + Default
    + 'static
{
    /// Converts an `f64` constant (rounding to nearest for `f32`).
    fn c(x: f64) -> Self;
    /// Widens to `f64`.
    fn f64_(self) -> f64;
    /// e^self.
    fn exp_(self) -> Self;
    /// Natural logarithm.
    fn ln_(self) -> Self;
    /// Square root.
    fn sqrt_(self) -> Self;
    /// Absolute value.
    fn abs_(self) -> Self;
    /// `true` unless NaN or ±∞.
    fn finite_(self) -> bool;
    /// Smaller of the two (NaN-propagating is not required).
    fn min_(self, o: Self) -> Self;
    /// Larger of the two.
    fn max_(self, o: Self) -> Self;
    /// Machine epsilon.
    fn eps_() -> Self;
    /// Name used in reports ("f32" or "f64").
    const NAME: &'static str;
}

macro_rules! impl_real {
    ($t:ty, $name:literal) => {
        impl Real for $t {
            #[inline(always)]
            fn c(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn f64_(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp_(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln_(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt_(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs_(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn finite_(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn min_(self, o: Self) -> Self {
                <$t>::min(self, o)
            }
            #[inline(always)]
            fn max_(self, o: Self) -> Self {
                <$t>::max(self, o)
            }
            #[inline(always)]
            fn eps_() -> Self {
                <$t>::EPSILON
            }
            const NAME: &'static str = $name;
        }
    };
}
impl_real!(f32, "f32");
impl_real!(f64, "f64");
