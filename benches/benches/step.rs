//! Criterion group `step`: one training step of each experiment's network, with 2 threads.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lagrange_benches::{ieeg_layered, ieeg_recurrent, mnist_b180};
use lagrange_core::Method;

fn threads() -> usize {
    std::env::var("LAGRANGE_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

fn step(c: &mut Criterion) {
    // The global pool: every rayon task of the core runs here.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build_global();
    let mut g = c.benchmark_group("step");
    g.sample_size(20);
    {
        let mut w = ieeg_layered();
        g.throughput(Throughput::Elements(1));
        g.bench_function("ieeg_layered_f64", |b| b.iter(|| w.step()));
        let mut w = ieeg_recurrent();
        g.bench_function("ieeg_recurrent_f64", |b| b.iter(|| w.step()));
        let mut w = mnist_b180(Method::Exact);
        g.bench_function("mnist_exact_f32_b180", |b| b.iter(|| w.step()));
        let mut w = mnist_b180(Method::Euler);
        g.bench_function("mnist_euler_f32_b180", |b| b.iter(|| w.step()));
    }
    g.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
