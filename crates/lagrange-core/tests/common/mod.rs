//! Shared helpers for the integration tests: seeded random networks.
#![allow(dead_code)]

use lagrange_core::{Layers, Network, Real};
use nalgebra::{DMatrix, DVector};
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Normal};

/// Architectures of spec §2 used by the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Feedforward,
    LayeredRecurrent,
    FullyRecurrent,
}

/// A random network: masks per the architecture (factor 1), weights N(0, std²), biases N(0, 0.1²).
pub fn random_net<T: Real>(sizes: &[usize], arch: Arch, std: f64, seed: u64) -> Network<T> {
    let layers = Layers::new(sizes).unwrap();
    let n = layers.n();
    let mut mask = DMatrix::<f64>::zeros(n, n);
    let o = layers.offsets().to_vec();
    match arch {
        Arch::Feedforward | Arch::LayeredRecurrent => {
            for k in 0..sizes.len() - 1 {
                for i in o[k + 1]..o[k + 2] {
                    for j in o[k]..o[k + 1] {
                        mask[(i, j)] = 1.0;
                        if matches!(arch, Arch::LayeredRecurrent) {
                            mask[(j, i)] = 1.0;
                        }
                    }
                }
            }
        }
        Arch::FullyRecurrent => {
            for i in 0..n {
                for j in 0..n {
                    if i != j {
                        mask[(i, j)] = 1.0;
                    }
                }
            }
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let nd = Normal::new(0.0, std).unwrap();
    let w = DMatrix::from_fn(n, n, |i, j| {
        if mask[(i, j)] > 0.0 {
            nd.sample(&mut rng)
        } else {
            0.0
        }
    });
    let nb = Normal::new(0.0, 0.1).unwrap();
    let b = DVector::from_fn(n, |_, _| nb.sample(&mut rng));
    let bm = DVector::from_element(n, 1.0);
    Network::from_dense(layers, &w, &mask, b, bm)
        .unwrap()
        .cast::<T>()
}

/// A seeded matrix with entries uniform-ish in [lo, hi].
pub fn random_matrix(rows: usize, cols: usize, lo: f64, hi: f64, seed: u64) -> DMatrix<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let nd = Normal::new(0.0, 1.0).unwrap();
    DMatrix::from_fn(rows, cols, |_, _| {
        let z: f64 = nd.sample(&mut rng);
        lo + (hi - lo) * (0.5 + 0.5 * (z / 2.0).tanh())
    })
}

/// Max |a − b| / max |b|.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let s = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / s
}
