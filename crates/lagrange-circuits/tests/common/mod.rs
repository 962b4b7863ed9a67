//! Helpers shared by the integration tests.
#![allow(dead_code)]

use lagrange_core::{Layers, Network};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, rngs::StdRng};
use serde_json::Value;
use std::path::PathBuf;

/// A layered feed-forward network with uniform weights of standard deviation `std`, biases
/// uniform in ±`bias` (none on the input layer), all masks 1.
pub fn ff_network(sizes: &[usize], std: f64, bias: f64, rng: &mut StdRng) -> Network<f64> {
    let layers = Layers::new(sizes).unwrap();
    let n = layers.n();
    let mut w = DMatrix::zeros(n, n);
    let mut m = DMatrix::zeros(n, n);
    for l in 1..sizes.len() {
        for i in 0..sizes[l] {
            for j in 0..sizes[l - 1] {
                let (r, c) = (layers.offset(l) + i, layers.offset(l - 1) + j);
                w[(r, c)] = std * (2.0 * rng.random::<f64>() - 1.0) * 3f64.sqrt();
                m[(r, c)] = 1.0;
            }
        }
    }
    let n0 = sizes[0];
    let b = DVector::from_fn(n, |i, _| {
        if i < n0 {
            0.0
        } else {
            bias * (2.0 * rng.random::<f64>() - 1.0)
        }
    });
    let bm = DVector::from_fn(n, |i, _| if i < n0 { 0.0 } else { 1.0 });
    Network::from_dense(layers, &w, &m, b, bm).unwrap()
}

/// The numbers of a JSON array.
pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// A JSON array of rows as a matrix.
pub fn matrix(v: &Value) -> DMatrix<f64> {
    let rows: Vec<Vec<f64>> = v.as_array().expect("rows").iter().map(f64s).collect();
    let n = rows.len();
    let m = rows.first().map_or(0, Vec::len);
    DMatrix::from_fn(n, m, |i, j| rows[i][j])
}

/// The shared golden fixtures, relative to this crate.
pub const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/golden");

/// The golden folder; `None` (with a note naming `what` is skipped) when it is missing outside CI,
/// a panic when it is missing and `CI` is set.
pub fn golden_dir(what: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(GOLDEN);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("golden fixture folder {GOLDEN} is missing (CI is set, so this is an error)");
    }
    eprintln!("NOTE: golden fixture folder {GOLDEN} not found; skipping {what}");
    None
}
