//! Golden parity: every trajectory fixture of `shared/golden` replayed from its initial state
//! stays within 1e-9 normwise relative error at every step for u, u̇, W and b.

use lagrange_experiments::{golden_dir, replay_file};
use std::path::PathBuf;

fn fixtures() -> Option<Vec<PathBuf>> {
    let dir = golden_dir();
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "golden fixtures missing at {} (required in CI)",
            dir.display()
        );
        eprintln!(
            "note: {} not found; golden parity not checked",
            dir.display()
        );
        return None;
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p.file_name().unwrap().to_string_lossy().starts_with("rng_")
        })
        .collect();
    v.sort();
    assert!(
        v.len() >= 12,
        "expected the 12 trajectory fixtures, found {}",
        v.len()
    );
    Some(v)
}

#[test]
fn every_trajectory_fixture_matches_the_reference_to_1e_9() {
    let Some(files) = fixtures() else { return };
    let mut replayed = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        match replay_file::<f64>(f, 1e-9) {
            Ok(rep) => {
                for (field, (err, step)) in &rep.worst {
                    eprintln!("{name}: {field} {err:.2e} (step {step})");
                }
                assert!(
                    rep.passes(1e-9),
                    "{name}: worst error {:.3e} > 1e-9: {:?}",
                    rep.max_error(),
                    rep.worst
                );
                replayed += 1;
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert_eq!(
        replayed,
        files.len(),
        "every trajectory fixture must replay"
    );
}

#[test]
fn float32_replay_stays_close() {
    let Some(files) = fixtures() else { return };
    for f in files
        .iter()
        .filter(|f| !f.to_string_lossy().contains("interneurons"))
    {
        let rep = replay_file::<f32>(f, 1e-4).unwrap();
        assert!(
            rep.passes(1e-4),
            "{}: f32 drift {:.3e}",
            f.display(),
            rep.max_error()
        );
    }
}
