//! Prints the `lagrange inspect` report for each path given on the command line.
//!
//! Run: `cargo run -p lagrange-data --example inspect -- data/ieeg/pt01/pt01_sz1_ecog_84ch_1000hz.edf`

fn main() {
    let mut failed = false;
    for arg in std::env::args().skip(1) {
        match lagrange_data::inspect(std::path::Path::new(&arg)) {
            Ok(report) => println!("{report}"),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
