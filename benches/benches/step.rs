//! Criterion groups:
//! * `step`: one training step of each experiment's network (2 threads unless
//!   `LAGRANGE_BENCH_THREADS` says otherwise), plus the mnist-paper net (784-500-10, B = 50);
//! * `parts`: the solve alone (`solve_*`: everything of a step up to u̇) and the weight update
//!   alone (`update_*`: W += dt Ẇ) of the MNIST exact and iEEG layered steps;
//! * `limits`: the machine's reference operations of matching shape, measured in the same run
//!   (an f32 GEMM of the MNIST forward shape; dense Cholesky factor + solve of the iEEG sizes,
//!   sequential as the simulator runs them; the iEEG steps without their solve, i.e. an Euler
//!   step of the same nets: rates, errors, products, plasticity and update, what any exact
//!   method does besides solving).
//!
//! The FLOP count of every id is written to `target/criterion/lagrange-flops.json` so that
//! `cargo xtask bench` can print GFLOP/s.

use criterion::{Criterion, criterion_group, criterion_main};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use lagrange_benches::{
    ieeg_layered, ieeg_layered_clipped, ieeg_layered_clipped_f32, ieeg_layered_with,
    ieeg_recurrent, ieeg_recurrent_with, mnist_b180, mnist_paper_b50,
};
use lagrange_core::Method;

fn threads() -> usize {
    std::env::var("LAGRANGE_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

fn write_flops(entries: &[(&str, f64)]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("  \"{k}\": {v:.6e}"))
        .collect();
    let _ = std::fs::write(
        dir.join("lagrange-flops.json"),
        format!("{{\n{}\n}}\n", body.join(",\n")),
    );
}

fn benches(c: &mut Criterion) {
    // The global pool: every rayon task of the core runs here.
    let t = threads();
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(t)
        .build_global();
    let mut il = ieeg_layered();
    let mut ilc = ieeg_layered_clipped();
    let mut ilc32 = ieeg_layered_clipped_f32();
    let mut ir = ieeg_recurrent();
    let mut me = mnist_b180(Method::Exact);
    let mut mu = mnist_b180(Method::Euler);
    let mut mp = mnist_paper_b50();
    let mut ile = ieeg_layered_with(Method::Euler);
    let mut ire = ieeg_recurrent_with(Method::Euler);
    // limits: GEMM of the largest MNIST product (300×784 · 784×180, f32) and dense SPD solves
    let (m, k, n) = (300, 784, 180);
    let a = Mat::<f32>::from_fn(m, k, |i, j| ((i * 7 + j) % 13) as f32 * 0.01);
    let bm = Mat::<f32>::from_fn(k, n, |i, j| ((i + 3 * j) % 11) as f32 * 0.01);
    let mut cm = Mat::<f32>::zeros(m, n);
    let spd = |n: usize| {
        Mat::<f64>::from_fn(n, n, |i, j| {
            if i == j {
                n as f64
            } else {
                1.0 / (1.0 + (i + j) as f64)
            }
        })
    };
    let (s196, s96) = (spd(196), spd(96));
    let rhs = |n: usize| Mat::<f64>::from_fn(n, 1, |i, _| i as f64);
    write_flops(&[
        ("step/ieeg_layered_f64", il.flops),
        ("step/ieeg_layered_clipped_f64", ilc.flops),
        ("step/ieeg_layered_clipped_f32", ilc32.flops),
        ("step/ieeg_recurrent_f64", ir.flops),
        ("step/mnist_exact_f32_b180", me.flops),
        ("step/mnist_euler_f32_b180", mu.flops),
        ("step/mnist_paper_f32_b50", mp.flops),
        (
            "parts/solve_mnist_exact_f32_b180",
            me.flops - me.update_flops(),
        ),
        ("parts/update_mnist_exact_f32_b180", me.update_flops()),
        ("parts/solve_ieeg_layered_f64", il.flops - il.update_flops()),
        ("parts/update_ieeg_layered_f64", il.update_flops()),
        ("limits/gemm_f32_300x784x180", 2.0 * (m * k * n) as f64),
        (
            "limits/cholesky_solve_f64_196",
            196f64.powi(3) / 3.0 + 2.0 * 196f64.powi(2),
        ),
        (
            "limits/cholesky_solve_f64_96",
            96f64.powi(3) / 3.0 + 2.0 * 96f64.powi(2),
        ),
        ("limits/ieeg_layered_nosolve_f64", ile.flops),
        ("limits/ieeg_recurrent_nosolve_f64", ire.flops),
    ]);
    let mut g = c.benchmark_group("step");
    g.sample_size(20);
    g.bench_function("ieeg_layered_f64", |b| b.iter(|| il.step()));
    g.bench_function("ieeg_layered_clipped_f64", |b| b.iter(|| ilc.step()));
    g.bench_function("ieeg_layered_clipped_f32", |b| b.iter(|| ilc32.step()));
    g.bench_function("ieeg_recurrent_f64", |b| b.iter(|| ir.step()));
    g.bench_function("mnist_exact_f32_b180", |b| b.iter(|| me.step()));
    g.bench_function("mnist_euler_f32_b180", |b| b.iter(|| mu.step()));
    g.bench_function("mnist_paper_f32_b50", |b| b.iter(|| mp.step()));
    g.finish();
    let mut g = c.benchmark_group("parts");
    g.sample_size(20);
    g.bench_function("solve_mnist_exact_f32_b180", |b| b.iter(|| me.solve()));
    me.solve();
    g.bench_function("update_mnist_exact_f32_b180", |b| b.iter(|| me.update()));
    g.bench_function("solve_ieeg_layered_f64", |b| b.iter(|| il.solve()));
    il.solve();
    g.bench_function("update_ieeg_layered_f64", |b| b.iter(|| il.update()));
    g.finish();
    let mut g = c.benchmark_group("limits");
    g.sample_size(20);
    let par = if t > 1 { Par::rayon(t) } else { Par::Seq };
    g.bench_function("gemm_f32_300x784x180", |b| {
        b.iter(|| {
            matmul(
                cm.as_mut(),
                Accum::Replace,
                a.as_ref(),
                bm.as_ref(),
                1.0f32,
                par,
            )
        })
    });
    // the simulator factors each sample's H sequentially (the batch is what runs in parallel):
    // the matching limit is the sequential factor + solve
    faer::set_global_parallelism(Par::Seq);
    for (name, s) in [
        ("cholesky_solve_f64_196", &s196),
        ("cholesky_solve_f64_96", &s96),
    ] {
        let r = rhs(s.nrows());
        g.bench_function(name, |b| {
            b.iter(|| {
                use faer::linalg::solvers::Solve;
                s.llt(faer::Side::Lower).map(|l| l.solve(&r)).expect("SPD")
            })
        });
    }
    g.bench_function("ieeg_layered_nosolve_f64", |b| b.iter(|| ile.step()));
    g.bench_function("ieeg_recurrent_nosolve_f64", |b| b.iter(|| ire.step()));
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
