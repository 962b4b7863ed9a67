//! Times loading the vendored MNIST training set (checksums + gunzip + IDX checks + f32 scaling).
//!
//! Run: `cargo run --release -p lagrange-data --example load_mnist`

use std::time::Instant;

use lagrange_data::mnist::Split;
use lagrange_data::vendored::{load_mnist_split_vendored, vendored_mnist_dir};

fn main() -> Result<(), lagrange_data::DataError> {
    let t = Instant::now();
    let train = load_mnist_split_vendored(Split::Train)?;
    let with_checksum = t.elapsed();
    let t = Instant::now();
    let again = lagrange_data::mnist::load_split(&vendored_mnist_dir(), Split::Train)?;
    let without_checksum = t.elapsed();
    println!(
        "MNIST train: {} images of {}x{}, histogram {:?}",
        train.len(),
        train.rows,
        train.cols,
        train.class_histogram()
    );
    println!(
        "load with sha256 verification: {:.3} s; without: {:.3} s",
        with_checksum.as_secs_f64(),
        without_checksum.as_secs_f64()
    );
    assert_eq!(train.labels, again.labels);
    Ok(())
}
