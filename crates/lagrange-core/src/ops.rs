//! Block products with W over batches of column vectors, and the fixed column partition that
//! makes results independent of the number of threads. [`chunk_cols`], [`par_cols`] and
//! [`outer_update`] are public (as `lagrange_core::batched`) for crates that train their own
//! models on the same batches (e.g. a backprop baseline).

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
pub fn chunk_cols(b: usize) -> usize {
    // About 48 columns per chunk: every chunk re-packs the weight matrix of each product (4
    // chunks of 45 for B = 180 instead of 8 of 23 made the 1-thread MNIST steps ~8 % faster;
    // at 2 threads the difference was within the noise); an even number of chunks keeps 2 (or
    // 4, 8) threads equally busy. Batches from 16 on are split in two (B = 20: 2 × 10), so that
    // the small batches of an online-like run use both cores as well.
    let nch = if b < 16 {
        1
    } else {
        (b / 48).clamp(1, 8).next_multiple_of(2).min(8)
    };
    b.div_ceil(nch).max(1)
}

/// `out += alpha · op(B) · x` over the projections accepted by `keep`, for one block of columns:
/// B is W (`mats = None`) or the per-projection matrices `mats`; op is the identity
/// (`transpose = false`: out[post] += B_p x[pre]) or the transpose (out[pre] += B_pᵀ x[post]).
/// With `replace`, `out` is overwritten instead: the first product into a population replaces its
/// rows, later ones add, and the rows of populations that receive no product are set to zero
/// (the same values as zeroing `out` first, without the extra pass over it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_product<T: Real>(
    net: &Network<T>,
    mats: Option<&[DMatrix<T>]>,
    transpose: bool,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    alpha: T,
    replace: bool,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
) {
    let l = net.layers();
    if replace && l.len() > 128 {
        // more populations than the bit set below holds (no allocation per call)
        out.fill(T::c(0.0));
        return block_product(net, mats, transpose, keep, alpha, false, x, out);
    }
    // populations written so far (bit set; only used with `replace`)
    let mut written = 0u128;
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
        let accum = if replace && written & (1 << to) == 0 {
            Accum::Replace
        } else {
            Accum::Add
        };
        written |= 1 << to;
        matmul(
            out.rb_mut().subrows_mut(l.offset(to), l.size(to)),
            accum,
            lhs,
            x.subrows(l.offset(from), l.size(from)),
            alpha,
            Par::Seq,
        );
    }
    if replace {
        for pop in (0..l.len()).filter(|&p| written & (1 << p) == 0) {
            out.rb_mut()
                .subrows_mut(l.offset(pop), l.size(pop))
                .fill(T::c(0.0));
        }
    }
}

/// `out += alpha · op(B) · x` (or, with `replace`, `out = alpha · op(B) · x`, see
/// [`block_product`]) over all projections accepted by `keep`, where B is W (`mats = None`) or
/// the per-projection matrices `mats`, and op is the identity (`transpose = false`,
/// out[post] += B x[pre]) or the transpose (out[pre] += Bᵀ x[post]). Columns are split into the
/// fixed chunks of [`chunk_cols`] and processed in parallel; one chunk runs inline.
#[allow(clippy::too_many_arguments)]
pub(crate) fn par_product<T: Real>(
    net: &Network<T>,
    mats: Option<&[DMatrix<T>]>,
    transpose: bool,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    alpha: T,
    replace: bool,
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
            replace,
            mref(x).subcols(c0, o.ncols()),
            o,
        );
    };
    par_col_blocks(out.as_mut_slice(), n, b, ncol, run);
}

/// Runs `f(first column, block)` over the consecutive blocks of `block_cols` columns of a
/// column-major `rows` × `cols` matrix, in parallel; inline when one block holds every column
/// (or there are no rows).
fn par_col_blocks<T: Real>(
    data: &mut [T],
    rows: usize,
    cols: usize,
    block_cols: usize,
    f: impl Fn(usize, MatMut<'_, T>) + Sync,
) {
    use rayon::prelude::*;
    if block_cols >= cols || rows == 0 {
        f(0, MatMut::from_column_major_slice_mut(data, rows, cols));
        return;
    }
    data.par_chunks_mut(block_cols * rows)
        .enumerate()
        .for_each(|(k, ch)| {
            let nc = ch.len() / rows;
            f(
                k * block_cols,
                MatMut::from_column_major_slice_mut(ch, rows, nc),
            );
        });
}

/// The plasticity Ẇ of this step in factored form, per projection k: `s[k] = Some(s_k)` when
/// Ẇ_k = s_k (E[post] R[pre]ᵀ ⊙ M_k) with a mask M_k that is either all ones or, for a block of
/// a population onto itself (`zero_diag[k]`), ones off the diagonal; then
/// Ẇ_k = s_k (E R ᵀ − diag(δ_k)) with δ_k,i = Σ_b E_ib R_ib (`delta[k]`). E = ε and R = r̄ over
/// the whole batch (spec §6: a uniform mask and no Ẇ clipping make the rule exactly this).
pub(crate) struct Factored<'a, T: Real> {
    pub s: &'a [Option<T>],
    pub zero_diag: &'a [bool],
    pub delta: &'a [nalgebra::DVector<T>],
    pub e: &'a DMatrix<T>,
    pub r: &'a DMatrix<T>,
}

/// `out += alpha · op(Ẇ) · x` over the projections accepted by `keep`, where Ẇ_k is either
/// materialised (`wdot[k]`, when `f.s[k]` is `None`) or kept factored (see [`Factored`]), for the
/// look-ahead terms: x = R (= r̄, `transpose = false`, Ẇ r̄) or x = E (= ε, Ẇᵀ ε). The factored
/// form costs O((|post| + |pre|) B²) instead of O(|post| |pre| B):
/// out[post] += alpha s_k (E (Rᵀ R[pre]) − δ ⊙ R[pre]), or transposed
/// out[pre] += alpha s_k (R (Eᵀ E[post]) − δ ⊙ E[post]). Rᵀ R and Eᵀ E are symmetric B × B Gram
/// matrices, computed once per projection into `grams` (one B × B matrix per projection), half of
/// each by symmetry; the outer products then run over the fixed column chunks of
/// [`chunk_cols`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn par_wdot_product<T: Real>(
    net: &Network<T>,
    wdot: &[DMatrix<T>],
    f: &Factored<'_, T>,
    transpose: bool,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    alpha: T,
    out: &mut DMatrix<T>,
    grams: &mut [DMatrix<T>],
) {
    let (n, b) = out.shape();
    wdot_grams(net, f, transpose, keep, grams);
    let grams = &*grams;
    let run = |c0: usize, o: MatMut<'_, T>| {
        block_wdot_product(net, wdot, f, transpose, keep, alpha, c0, o, grams);
    };
    par_col_blocks(out.as_mut_slice(), n, b, chunk_cols(b), run);
}

/// The factor s_k of projection `k` when [`block_wdot_product`] takes it in factored form.
fn factored_scale<T: Real>(
    f: &Factored<'_, T>,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    k: usize,
    p: &crate::network::Projection<T>,
) -> Option<T> {
    f.s[k].filter(|&s| s != T::c(0.0) && keep(p.post, p.pre))
}

/// The Gram matrices of [`par_wdot_product`]'s factored projections (`grams[k]`, B × B): Rᵀ R
/// over the presynaptic rows for Ẇ r̄ (`transpose = false`), Eᵀ E over the postsynaptic ones for
/// Ẇᵀ ε. In parallel over the projections (and halves of each) when large.
pub(crate) fn wdot_grams<T: Real>(
    net: &Network<T>,
    f: &Factored<'_, T>,
    transpose: bool,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    grams: &mut [DMatrix<T>],
) {
    use rayon::prelude::*;
    let l = net.layers();
    let x = if transpose { f.e } else { f.r };
    let b = x.ncols();
    let from = |p: &crate::network::Projection<T>| if transpose { p.post } else { p.pre };
    let big = net
        .projections()
        .iter()
        .enumerate()
        .filter(|&(k, p)| factored_scale(f, keep, k, p).is_some())
        .map(|(_, p)| l.size(from(p)) * b * b)
        .sum::<usize>()
        >= 1 << 16;
    let gram = |k: usize, g: &mut DMatrix<T>| {
        let p = &net.projections()[k];
        if factored_scale(f, keep, k, p).is_some() {
            sym_gram(mref(x).subrows(l.offset(from(p)), l.size(from(p))), g, big);
        }
    };
    if big {
        grams
            .par_iter_mut()
            .enumerate()
            .for_each(|(k, g)| gram(k, g));
    } else {
        grams.iter_mut().enumerate().for_each(|(k, g)| gram(k, g));
    }
}

/// One column block (first column `c0`) of [`par_wdot_product`], with the Gram matrices of
/// [`wdot_grams`] computed for the same `f`, `transpose` and `keep`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_wdot_product<T: Real>(
    net: &Network<T>,
    wdot: &[DMatrix<T>],
    f: &Factored<'_, T>,
    transpose: bool,
    keep: &(dyn Fn(usize, usize) -> bool + Sync),
    alpha: T,
    c0: usize,
    mut o: MatMut<'_, T>,
    grams: &[DMatrix<T>],
) {
    let l = net.layers();
    let x = if transpose { f.e } else { f.r };
    let dense_keep = |post: usize, pre: usize| {
        keep(post, pre)
            && !net
                .projections()
                .iter()
                .zip(f.s)
                .any(|(p, s)| p.post == post && p.pre == pre && s.is_some())
    };
    let nc = o.ncols();
    let xc = mref(x).subcols(c0, nc);
    block_product(
        net,
        Some(wdot),
        transpose,
        &dense_keep,
        alpha,
        false,
        xc,
        o.rb_mut(),
    );
    for (k, p) in net.projections().iter().enumerate() {
        let Some(s) = factored_scale(f, keep, k, p) else {
            continue;
        };
        // (outer, to) = (E, post) for Ẇ r̄ and (R, pre) for Ẇᵀ ε
        let (outer, to) = if transpose {
            (mref(f.r).subrows(l.offset(p.pre), l.size(p.pre)), p.pre)
        } else {
            (mref(f.e).subrows(l.offset(p.post), l.size(p.post)), p.post)
        };
        let mut ot = o.rb_mut().subrows_mut(l.offset(to), l.size(to));
        matmul(
            ot.rb_mut(),
            Accum::Add,
            outer,
            mref(&grams[k]).subcols(c0, nc),
            alpha * s,
            Par::Seq,
        );
        if f.zero_diag[k] {
            // from = to: a population onto itself
            let (d, xf) = (&f.delta[k], xc.subrows(l.offset(to), l.size(to)));
            for c in 0..nc {
                for i in 0..d.len() {
                    ot[(i, c)] -= alpha * s * d[i] * xf[(i, c)];
                }
            }
        }
    }
}

/// g = xᵀ x (B × B) for x with one column per sample: the lower triangle in two parts of equal
/// work (`parallel`: at the same time), then mirrored. The split depends on B only, so the bits
/// do not depend on the number of threads.
fn sym_gram<T: Real>(x: MatRef<'_, T>, g: &mut DMatrix<T>, parallel: bool) {
    use faer::linalg::matmul::triangular::{BlockStructure, matmul as tri};
    let b = x.ncols();
    // rows 0..k of the lower triangle hold k²/2 entries, rows k..B the other B²/2 − k²/2
    let k = ((b as f64) * std::f64::consts::FRAC_1_SQRT_2).round() as usize;
    let (x0, x1) = x.split_at_col(k);
    let mut gm = mmut(g);
    let (top, bottom) = gm.rb_mut().split_at_row_mut(k);
    let upper = move || {
        tri(
            top.subcols_mut(0, k),
            BlockStructure::TriangularLower,
            Accum::Replace,
            x0.transpose(),
            BlockStructure::Rectangular,
            x0,
            BlockStructure::Rectangular,
            T::c(1.0),
            Par::Seq,
        );
    };
    let lower = move || {
        let (left, right) = bottom.split_at_col_mut(k);
        matmul(
            left,
            Accum::Replace,
            x1.transpose(),
            x0,
            T::c(1.0),
            Par::Seq,
        );
        tri(
            right,
            BlockStructure::TriangularLower,
            Accum::Replace,
            x1.transpose(),
            BlockStructure::Rectangular,
            x1,
            BlockStructure::Rectangular,
            T::c(1.0),
            Par::Seq,
        );
    };
    if parallel {
        rayon::join(upper, lower);
    } else {
        upper();
        lower();
    }
    for j in 0..b {
        for i in j + 1..b {
            g[(j, i)] = g[(i, j)];
        }
    }
}

/// `w = alpha · e rᵀ` (`accumulate = false`) or `w += alpha · e rᵀ` (`true`), for `e` (m×B) and
/// `r` (k×B) with one column per sample and `w` m×k: the batch reduction of an outer-product
/// rule such as Ẇ = η ε r̄ᵀ (spec §6). Large products run over four fixed blocks of `w`'s columns
/// in parallel; every entry is one full-length reduction over the batch, computed the same way
/// whatever the number of threads.
pub fn outer_update<T: Real>(
    w: &mut DMatrix<T>,
    accumulate: bool,
    e: MatRef<'_, T>,
    r: MatRef<'_, T>,
    alpha: T,
) {
    let (rows, cols) = w.shape();
    assert!(
        e.nrows() == rows && r.nrows() == cols && e.ncols() == r.ncols(),
        "outer_update: w {rows}×{cols}, e {}×{}, r {}×{}",
        e.nrows(),
        e.ncols(),
        r.nrows(),
        r.ncols()
    );
    if rows == 0 || cols == 0 {
        return;
    }
    let acc = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    let run = |c0: usize, part: MatMut<'_, T>| {
        let nc = part.ncols();
        matmul(part, acc, e, r.subrows(c0, nc).transpose(), alpha, Par::Seq);
    };
    // small products in one piece
    let block = if rows * cols * e.ncols() < 1 << 16 {
        cols
    } else {
        cols.div_ceil(4)
    };
    par_col_blocks(w.as_mut_slice(), rows, cols, block, run);
}

/// Σ a_i b_i with four partial sums (so that the loop vectorises; a fixed order, the same
/// bits whatever the thread count).
fn dot4<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::c(0.0); 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (&x, &y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Solves L Lᵀ x = y in place for one right-hand side, with L the n×n lower Cholesky factor in
/// the lower triangle of the column-major `l` (its upper triangle is not read). Forward pass by
/// column updates, backward pass by column dot products: both stream contiguous columns of L
/// (faer's general in-place solve pays its blocking overhead at the iEEG sizes, n ≤ 200).
pub(crate) fn cholesky_solve_1<T: Real>(l: &[T], y: &mut [T]) {
    let n = y.len();
    debug_assert_eq!(l.len(), n * n);
    for j in 0..n {
        let col = &l[j * n..(j + 1) * n];
        let yj = y[j] / col[j];
        y[j] = yj;
        for (yi, &lij) in y[j + 1..].iter_mut().zip(&col[j + 1..]) {
            *yi -= yj * lij;
        }
    }
    for i in (0..n).rev() {
        let col = &l[i * n..(i + 1) * n];
        let s = y[i] - dot4(&col[i + 1..], &y[i + 1..]);
        y[i] = s / col[i];
    }
}

/// Solves A x = y in place for one right-hand side from faer's partial-pivoting LU of A: `lu`
/// (column-major n×n) holds the unit lower L below and U on and above the diagonal, `perm` the
/// row permutation (row i of L U is row `perm[i]` of A); `scratch` has length n.
pub(crate) fn lu_solve_1<T: Real>(lu: &[T], perm: &[usize], y: &mut [T], scratch: &mut [T]) {
    let n = y.len();
    debug_assert_eq!(lu.len(), n * n);
    for (s, &p) in scratch.iter_mut().zip(perm) {
        *s = y[p];
    }
    for j in 0..n {
        let col = &lu[j * n..(j + 1) * n];
        let sj = scratch[j];
        for (si, &lij) in scratch[j + 1..].iter_mut().zip(&col[j + 1..]) {
            *si -= sj * lij;
        }
    }
    for j in (0..n).rev() {
        let col = &lu[j * n..(j + 1) * n];
        let xj = scratch[j] / col[j];
        scratch[j] = xj;
        for (si, &uij) in scratch[..j].iter_mut().zip(&col[..j]) {
            *si -= xj * uij;
        }
    }
    y.copy_from_slice(scratch);
}

/// Sets every entry to zero (a `memset`; nalgebra's `fill` walks an element iterator, which was
/// a third of the elementwise time of a step).
#[inline]
pub(crate) fn zero_fill<T: Real>(m: &mut DMatrix<T>) {
    m.as_mut_slice().fill(T::c(0.0));
}

/// `dst = src` for equally shaped matrices (a `memcpy`).
#[inline]
pub(crate) fn copy<T: Real>(dst: &mut DMatrix<T>, src: &DMatrix<T>) {
    dst.as_mut_slice().copy_from_slice(src.as_slice());
}

/// Copies `src` (r×B) into rows `row0..row0 + r` of `dst` (n×B), column by column.
#[inline]
pub(crate) fn copy_rows<T: Real>(dst: &mut DMatrix<T>, row0: usize, src: &DMatrix<T>) {
    let (n, r) = (dst.nrows(), src.nrows());
    if r == 0 {
        return;
    }
    for (d, s) in dst
        .as_mut_slice()
        .chunks_mut(n)
        .zip(src.as_slice().chunks(r))
    {
        d[row0..row0 + r].copy_from_slice(s);
    }
}

/// Whether every entry is finite; a branch-free pass (the slow search for the first bad entry
/// is left to the caller's error path).
#[inline]
pub(crate) fn all_finite<T: Real>(x: &[T]) -> bool {
    x.iter().fold(true, |ok, v| ok & v.finite_())
}

/// Runs `f(offset, part)` over the fixed column chunks (of [`chunk_cols`] columns of `n` rows)
/// of a column-major batch `out`, in parallel; `offset` is the flat index of `part[0]`, so that
/// inputs of the same shape are read as `&x[offset..offset + part.len()]`. For elementwise
/// passes: the result does not depend on the number of threads. One chunk runs inline.
#[inline]
pub fn par_cols<T: Real>(out: &mut [T], n: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    use rayon::prelude::*;
    let b = out.len() / n.max(1);
    let cc = chunk_cols(b) * n;
    if out.len() <= cc || cc == 0 {
        f(0, out);
    } else {
        out.par_chunks_mut(cc)
            .enumerate()
            .for_each(|(k, o)| f(k * cc, o));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::dyn_stack::{MemBuffer, MemStack};

    /// A random well-conditioned n×n matrix (diagonally dominated) and a right-hand side.
    fn system(n: usize, seed: u64, spd: bool) -> (DMatrix<f64>, Vec<f64>) {
        let mut x = seed;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let b = DMatrix::from_fn(n, n, |_, _| next());
        let a = if spd {
            &b * b.transpose() + DMatrix::identity(n, n) * (n as f64)
        } else {
            b + DMatrix::identity(n, n) * 2.0
        };
        let y = (0..n).map(|_| next()).collect();
        (a, y)
    }

    /// ‖A x − y‖ / ‖y‖.
    fn rel_residual(a: &DMatrix<f64>, x: &[f64], y: &[f64]) -> f64 {
        let y = nalgebra::DVector::from_column_slice(y);
        (a * nalgebra::DVector::from_column_slice(x) - &y).norm() / y.norm()
    }

    #[test]
    fn cholesky_solve_1_solves_spd_systems() {
        for &n in &[1usize, 2, 5, 17, 96] {
            let (a, y) = system(n, n as u64, true);
            // the strictly upper triangle is never read (the dense solver assembles only the
            // lower one for Cholesky): poison it
            let mut l = a.clone();
            for j in 1..n {
                for i in 0..j {
                    l[(i, j)] = f64::NAN;
                }
            }
            let req = faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(
                n,
                Par::Seq,
                Default::default(),
            );
            let mut mem = MemBuffer::new(req);
            faer::linalg::cholesky::llt::factor::cholesky_in_place(
                mmut(&mut l),
                Default::default(),
                Par::Seq,
                MemStack::new(&mut mem),
                Default::default(),
            )
            .unwrap();
            let mut x = y.clone();
            cholesky_solve_1(l.as_slice(), &mut x);
            let r = rel_residual(&a, &x, &y);
            assert!(r <= 1e-13, "n = {n}: relative residual {r:.2e}");
        }
    }

    #[test]
    fn lu_solve_1_solves_general_systems_with_pivoting() {
        for &n in &[1usize, 2, 5, 17, 96] {
            let (mut a, y) = system(n, 100 + n as u64, false);
            if n > 1 {
                // a zero leading entry forces a row exchange
                a[(0, 0)] = 0.0;
            }
            let mut lu = a.clone();
            let (mut perm, mut perm_inv) = (vec![0usize; n], vec![0usize; n]);
            let req = faer::linalg::lu::partial_pivoting::factor::lu_in_place_scratch::<usize, f64>(
                n,
                n,
                Par::Seq,
                Default::default(),
            );
            let mut mem = MemBuffer::new(req);
            faer::linalg::lu::partial_pivoting::factor::lu_in_place(
                mmut(&mut lu),
                &mut perm,
                &mut perm_inv,
                Par::Seq,
                MemStack::new(&mut mem),
                Default::default(),
            );
            let (mut x, mut scratch) = (y.clone(), vec![0.0; n]);
            lu_solve_1(lu.as_slice(), &perm, &mut x, &mut scratch);
            let r = rel_residual(&a, &x, &y);
            assert!(r <= 1e-12, "n = {n}: relative residual {r:.2e}");
        }
    }
}
