//! The public batched helpers: `outer_update` against the naive sum, and the same bits for 1 and
//! 2 threads; `par_cols` hands every chunk its flat offset.

use faer::MatRef;
use lagrange_core::batched::{chunk_cols, outer_update, par_cols};
use nalgebra::DMatrix;

fn filled(rows: usize, cols: usize, seed: u32) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |i, j| {
        let k = (i as u32 * 7919 + j as u32 * 104729 + seed * 15485863) % 1000;
        k as f64 / 500.0 - 1.0
    })
}

fn view(m: &DMatrix<f64>) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(m.as_slice(), m.nrows(), m.ncols())
}

fn run(threads: usize, rows: usize, cols: usize, b: usize, accumulate: bool) -> DMatrix<f64> {
    let (e, r) = (filled(rows, b, 1), filled(cols, b, 2));
    let mut w = filled(rows, cols, 3);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| outer_update(&mut w, accumulate, view(&e), view(&r), 0.25));
    w
}

#[test]
fn outer_update_is_the_batch_sum_of_outer_products() {
    // (5, 7, 3) runs in one piece, (40, 60, 50) in four column blocks
    for (rows, cols, b) in [(5, 7, 3), (40, 60, 50)] {
        let (e, r) = (filled(rows, b, 1), filled(cols, b, 2));
        let w0 = filled(rows, cols, 3);
        for accumulate in [false, true] {
            let got = run(2, rows, cols, b, accumulate);
            let base = if accumulate { 1.0 } else { 0.0 };
            let want = &w0 * base + (&e * r.transpose()) * 0.25;
            let err = (&got - &want).amax();
            assert!(
                err < 1e-12,
                "{rows}×{cols}, B = {b}, accumulate {accumulate}: {err:e}"
            );
        }
    }
}

#[test]
fn outer_update_bits_do_not_depend_on_the_thread_count() {
    let (a, b) = (run(1, 40, 60, 50, true), run(2, 40, 60, 50, true));
    assert!(
        a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits()),
        "1 and 2 threads differ"
    );
}

#[test]
fn par_cols_visits_every_column_once_with_its_offset() {
    let (n, b) = (3, 100);
    assert!(chunk_cols(b) < b, "B = 100 must be split");
    let mut out = vec![0.0f64; n * b];
    par_cols(&mut out, n, |off, part| {
        for (i, x) in part.iter_mut().enumerate() {
            *x += (off + i) as f64;
        }
    });
    assert!(out.iter().enumerate().all(|(i, &x)| x == i as f64));
}
