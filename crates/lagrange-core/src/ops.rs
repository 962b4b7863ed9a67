//! Block products with W over batches of column vectors, and the fixed column partition that
//! makes results independent of the number of threads.

use crate::network::Network;
use crate::real::Real;
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, MatMut, MatRef, Par};
use nalgebra::DMatrix;

/// Zero-copy faer view of a nalgebra matrix.
#[inline]
pub(crate) fn mref<T: Real>(m: &DMatrix<T>) -> MatRef<'_, T> {
    MatRef::from_column_major_slice(m.as_slice(), m.nrows(), m.ncols())
}

/// Zero-copy mutable faer view of a nalgebra matrix.
#[inline]
pub(crate) fn mmut<T: Real>(m: &mut DMatrix<T>) -> MatMut<'_, T> {
    let (r, c) = m.shape();
    MatMut::from_column_major_slice_mut(m.as_mut_slice(), r, c)
}

/// Columns per parallel task for a batch of `b` samples. It depends on `b` only, never on the
/// number of threads, so every sample is computed by the same sequence of operations whatever the
/// thread count (bit-identical results for 1 and 2 threads).
#[inline]
pub(crate) fn chunk_cols(b: usize) -> usize {
    let nch = (b / 16).clamp(1, 8);
    b.div_ceil(nch).max(1)
}

/// `out[post] += alpha · W_p · x[pre]` for every projection p accepted by `keep`.
/// `x` and `out` are N×k column blocks.
pub(crate) fn forward_acc<T: Real>(
    net: &Network<T>,
    keep: impl Fn(usize, usize) -> bool,
    alpha: T,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
) {
    let l = net.layers();
    for p in net.projections() {
        if !keep(p.post, p.pre) {
            continue;
        }
        matmul(
            out.rb_mut().subrows_mut(l.offset(p.post), l.size(p.post)),
            Accum::Add,
            mref(&p.weights),
            x.subrows(l.offset(p.pre), l.size(p.pre)),
            alpha,
            Par::Seq,
        );
    }
}

/// `out[pre] += alpha · W_pᵀ · x[post]` for every projection p accepted by `keep`.
pub(crate) fn backward_acc<T: Real>(
    net: &Network<T>,
    keep: impl Fn(usize, usize) -> bool,
    alpha: T,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
) {
    let l = net.layers();
    for p in net.projections() {
        if !keep(p.post, p.pre) {
            continue;
        }
        matmul(
            out.rb_mut().subrows_mut(l.offset(p.pre), l.size(p.pre)),
            Accum::Add,
            mref(&p.weights).transpose(),
            x.subrows(l.offset(p.post), l.size(p.post)),
            alpha,
            Par::Seq,
        );
    }
}

/// Same as [`forward_acc`] but with a list of per-projection matrices (e.g. Ẇ) in place of W.
pub(crate) fn forward_acc_with<T: Real>(
    net: &Network<T>,
    mats: &[DMatrix<T>],
    alpha: T,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
) {
    let l = net.layers();
    for (p, m) in net.projections().iter().zip(mats) {
        matmul(
            out.rb_mut().subrows_mut(l.offset(p.post), l.size(p.post)),
            Accum::Add,
            mref(m),
            x.subrows(l.offset(p.pre), l.size(p.pre)),
            alpha,
            Par::Seq,
        );
    }
}

/// Same as [`backward_acc`] with per-projection matrices in place of W.
pub(crate) fn backward_acc_with<T: Real>(
    net: &Network<T>,
    mats: &[DMatrix<T>],
    alpha: T,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
) {
    let l = net.layers();
    for (p, m) in net.projections().iter().zip(mats) {
        matmul(
            out.rb_mut().subrows_mut(l.offset(p.pre), l.size(p.pre)),
            Accum::Add,
            mref(m).transpose(),
            x.subrows(l.offset(p.post), l.size(p.post)),
            alpha,
            Par::Seq,
        );
    }
}
