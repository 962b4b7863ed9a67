//! The time-step loop does not allocate: a counting global allocator sees zero allocations
//! over many steps once the workspace exists (exact structured, exact dense, Euler).
//! (The counting allocator needs `unsafe`; the library itself denies it.)
#![allow(unsafe_code)]

mod common;
use common::{Arch, random_matrix, random_net};
use lagrange_core::{Activation, InputMode, Method, ModelConfig, Simulator};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steps_do_not_allocate() {
    // One test function (the counter is global), run inside a rayon pool (the parallel code
    // paths run as they do in a run): rayon's injector queue, used by callers outside any pool,
    // allocates a block per 63 injected jobs by itself. One thread: the matrix-product kernels
    // allocate a per-thread packing buffer on a thread's first product, and with more threads
    // which thread first steals which chunk varies from run to run (a one-off per thread, not
    // an allocation of the step loop, but it would make this count flaky).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(run_cases);
}

fn run_cases() {
    for (arch, act, method, inputs, batch) in [
        (
            Arch::Feedforward,
            Activation::HardSigmoid,
            Method::Exact,
            InputMode::Dynamic,
            1,
        ),
        (
            Arch::Feedforward,
            Activation::HardSigmoid,
            Method::Exact,
            InputMode::Clamped,
            40,
        ),
        (
            Arch::LayeredRecurrent,
            Activation::Sigmoid,
            Method::Exact,
            InputMode::Clamped,
            1,
        ),
        (
            Arch::FullyRecurrent,
            Activation::Sigmoid,
            Method::Exact,
            InputMode::Dynamic,
            40,
        ),
        (
            Arch::Feedforward,
            Activation::Sigmoid,
            Method::Euler,
            InputMode::Clamped,
            40,
        ),
    ] {
        let sizes = [4usize, 6, 5, 3];
        let net = random_net::<f64>(&sizes, arch, 0.3, 1);
        let n = net.n();
        let cfg = ModelConfig {
            activation: act,
            method,
            inputs,
            lr_weights: 1e-3,
            lr_biases: 1e-3,
            learn_biases: true,
            ..Default::default()
        };
        let mut sim = Simulator::new(net, cfg, batch).unwrap();
        sim.set_beta_outputs(0.1);
        sim.state_mut().u = random_matrix(n, batch, 0.0, 1.0, 2);
        let x = random_matrix(4, batch, 0.0, 1.0, 3);
        let y = random_matrix(3, batch, 0.0, 1.0, 4);
        // warm-up: the workspace, and the matrix-product kernels' per-thread packing buffers,
        // which each pool thread allocates on its first product (which thread steals which
        // chunk varies from run to run)
        for _ in 0..30 {
            sim.step(&x, &y, true).unwrap();
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..100 {
            sim.step(&x, &y, true).unwrap();
        }
        let during = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(
            during, 0,
            "{arch:?} {act:?} {method:?} {inputs:?} B={batch}: {during} allocations in 100 steps"
        );
    }
}
