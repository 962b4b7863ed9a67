//! Block products with W over batches of column vectors, and the fixed column partition that
//! makes results independent of the number of threads.

use crate::network::Network;
use crate::real::Real;
use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
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
    let mut nch = (b / 16).clamp(1, 8);
    if nch > 1 && nch % 2 == 1 {
        // an even number of chunks keeps 2 (or 4, 8) threads equally busy
        nch += 1;
    }
    b.div_ceil(nch).max(1)
}

/// Number of column chunks of a batch of `b` samples.
#[inline]
pub(crate) fn n_chunks(b: usize) -> usize {
    b.div_ceil(chunk_cols(b))
}

/// `out += alpha · op(B) · x` over the projections accepted by `keep`, for one block of columns:
/// B is W (`mats = None`) or the per-projection matrices `mats`; op is the identity
/// (`transpose = false`: out[post] += B_p x[pre]) or the transpose (out[pre] += B_pᵀ x[post]).
pub(crate) fn block_product<T: Real>(
    net: &Network<T>,
    mats: Option<&[DMatrix<T>]>,
    transpose: bool,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    alpha: T,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
) {
    let l = net.layers();
    for (k, p) in net.projections().iter().enumerate() {
        if !keep(p.post, p.pre) {
            continue;
        }
        let m = mref(mats.map_or(&p.weights, |m| &m[k]));
        let (to, from) = if transpose {
            (p.pre, p.post)
        } else {
            (p.post, p.pre)
        };
        let lhs = if transpose { m.transpose() } else { m };
        matmul(
            out.rb_mut().subrows_mut(l.offset(to), l.size(to)),
            Accum::Add,
            lhs,
            x.subrows(l.offset(from), l.size(from)),
            alpha,
            Par::Seq,
        );
    }
}

/// `out += alpha · op(B) · x` over all projections accepted by `keep`, where B is W (`mats =
/// None`) or the per-projection matrices `mats`, and op is the identity (`transpose = false`,
/// out[post] += B x[pre]) or the transpose (out[pre] += Bᵀ x[post]). Columns are split into the
/// fixed chunks of [`chunk_cols`] and processed in parallel; one chunk runs inline.
pub(crate) fn par_product<T: Real>(
    net: &Network<T>,
    mats: Option<&[DMatrix<T>]>,
    transpose: bool,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    alpha: T,
    x: &DMatrix<T>,
    out: &mut DMatrix<T>,
) {
    let (n, b) = out.shape();
    let ncol = chunk_cols(b);
    let run = |c0: usize, o: MatMut<'_, T>| {
        block_product(
            net,
            mats,
            transpose,
            keep,
            alpha,
            mref(x).subcols(c0, o.ncols()),
            o,
        );
    };
    if b <= ncol || n == 0 {
        run(0, mmut(out));
    } else {
        use rayon::prelude::*;
        out.as_mut_slice()
            .par_chunks_mut(ncol * n)
            .enumerate()
            .for_each(|(k, ch)| {
                let nc = ch.len() / n;
                run(k * ncol, MatMut::from_column_major_slice_mut(ch, n, nc));
            });
    }
}

/// `out += alpha · op(Ẇ) · x` over the projections accepted by `keep`, where Ẇ_k is either
/// materialised (`wdot[k]`, when `factored[k]` is `None`) or kept as the rank-B product
/// Ẇ_k = s_k E[post] R[pre]ᵀ (`factored[k] = Some(s_k)`: a uniform mask and no Ẇ clipping make
/// the plasticity rule of spec §6 exactly this product, with E = ε and R = r̄ over the whole
/// batch). The factored form costs O((|post| + |pre|) B²) instead of O(|post| |pre| B):
/// out[post] += alpha s_k E (Rᵀ x[pre]), or transposed out[pre] += alpha s_k R (Eᵀ x[post]).
/// Columns are split into the fixed chunks of [`chunk_cols`]; `scratch` holds one B × ncol
/// matrix per chunk.
#[allow(clippy::too_many_arguments)]
pub(crate) fn par_wdot_product<T: Real>(
    net: &Network<T>,
    wdot: &[DMatrix<T>],
    factored: &[Option<T>],
    e: &DMatrix<T>,
    r: &DMatrix<T>,
    transpose: bool,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    alpha: T,
    x: &DMatrix<T>,
    out: &mut DMatrix<T>,
    scratch: &mut [DMatrix<T>],
) {
    let (n, b) = out.shape();
    let ncol = chunk_cols(b);
    let l = net.layers();
    let dense_keep = |post: usize, pre: usize| {
        keep(post, pre)
            && !net
                .projections()
                .iter()
                .zip(factored)
                .any(|(p, f)| p.post == post && p.pre == pre && f.is_some())
    };
    let run = |c0: usize, mut o: MatMut<'_, T>, sc: &mut DMatrix<T>| {
        let nc = o.ncols();
        let xc = mref(x).subcols(c0, nc);
        block_product(
            net,
            Some(wdot),
            transpose,
            &dense_keep,
            alpha,
            xc,
            o.rb_mut(),
        );
        let mut sc = mmut(sc).subcols_mut(0, nc);
        for (p, f) in net.projections().iter().zip(factored) {
            let Some(s) = *f else { continue };
            if s == T::c(0.0) || !keep(p.post, p.pre) {
                continue;
            }
            let (ep, rp) = (
                mref(e).subrows(l.offset(p.post), l.size(p.post)),
                mref(r).subrows(l.offset(p.pre), l.size(p.pre)),
            );
            // (left, right) = (R, E) for Ẇ x and (E, R) for Ẇᵀ x
            let (inner, outer, from, to) = if transpose {
                (ep, rp, p.post, p.pre)
            } else {
                (rp, ep, p.pre, p.post)
            };
            matmul(
                sc.rb_mut(),
                Accum::Replace,
                inner.transpose(),
                xc.subrows(l.offset(from), l.size(from)),
                T::c(1.0),
                Par::Seq,
            );
            matmul(
                o.rb_mut().subrows_mut(l.offset(to), l.size(to)),
                Accum::Add,
                outer,
                sc.rb(),
                alpha * s,
                Par::Seq,
            );
        }
    };
    if b <= ncol || n == 0 {
        run(0, mmut(out), &mut scratch[0]);
    } else {
        use rayon::prelude::*;
        out.as_mut_slice()
            .par_chunks_mut(ncol * n)
            .zip(scratch.par_iter_mut())
            .enumerate()
            .for_each(|(k, (ch, sc))| {
                let nc = ch.len() / n;
                run(k * ncol, MatMut::from_column_major_slice_mut(ch, n, nc), sc);
            });
    }
}
