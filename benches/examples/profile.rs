//! Runs one benchmark workload for a number of steps (for `perf record`):
//! `cargo run --profile profiling -p lagrange-benches --example profile -- mnist_exact 200`.

use lagrange_benches::{
    ieeg_layered, ieeg_layered_clipped, ieeg_layered_clipped_f32, ieeg_layered_with,
    ieeg_recurrent, ieeg_recurrent_with, mnist_b180, mnist_paper_b50,
};
use lagrange_core::Method;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("mnist_exact");
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let t = Instant::now();
    match which {
        "ieeg_layered" => {
            let mut w = ieeg_layered();
            (0..steps).for_each(|_| w.step());
        }
        "ieeg_layered_clipped" => {
            let mut w = ieeg_layered_clipped();
            (0..steps).for_each(|_| w.step());
        }
        "ieeg_layered_clipped_f32" => {
            let mut w = ieeg_layered_clipped_f32();
            (0..steps).for_each(|_| w.step());
        }
        "ieeg_recurrent" => {
            let mut w = ieeg_recurrent();
            (0..steps).for_each(|_| w.step());
        }
        "ieeg_layered_nosolve" => {
            let mut w = ieeg_layered_with(Method::Euler);
            (0..steps).for_each(|_| w.step());
        }
        "ieeg_recurrent_nosolve" => {
            let mut w = ieeg_recurrent_with(Method::Euler);
            (0..steps).for_each(|_| w.step());
        }
        "mnist_paper" => {
            let mut w = mnist_paper_b50();
            (0..steps).for_each(|_| w.step());
        }
        "mnist_euler" => {
            let mut w = mnist_b180(Method::Euler);
            (0..steps).for_each(|_| w.step());
        }
        _ => {
            let mut w = mnist_b180(Method::Exact);
            (0..steps).for_each(|_| w.step());
        }
    }
    println!(
        "{which}: {:.3} ms per step",
        t.elapsed().as_secs_f64() * 1e3 / steps as f64
    );
}
