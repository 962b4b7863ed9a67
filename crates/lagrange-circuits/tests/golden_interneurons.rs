//! Golden parity of the reference interneuron circuit (golden README §4.4): replays
//! `single_ff_interneurons_{instant,dynamic}.json` through `lagrange_core::Simulator` with the
//! [`ReferenceInterneurons`] pathway and checks every step's u, u̇, W, b, W_B, W_PI, u_I, b_I and
//! u̇_I with the normwise error max|a − ref| / max|ref| ≤ 1e-9 (golden README §6).
//!
//! If the golden folder is missing the test fails when `CI` is set and is skipped otherwise.

mod common;
use common::{f64s, golden_dir, matrix};
use std::collections::BTreeMap;

use lagrange_circuits::interneurons::{
    FixtureInterneuronConfig, FixtureInterneuronState, pathway_from_fixture_state,
};
use lagrange_core::{
    Activation, Compat, InputMode, Layers, Method, ModelConfig, Network, Simulator, Solver, State,
};
use nalgebra::{DMatrix, DVector};
use serde_json::Value;

const RTOL: f64 = 1e-9;

fn column(v: &Value) -> DMatrix<f64> {
    let x = f64s(v);
    DMatrix::from_column_slice(x.len(), 1, &x)
}

/// Normwise error; absolute (scaled so that 1e-12 ↔ tolerance) for an all-zero reference.
fn normwise(a: &[f64], r: &[f64]) -> f64 {
    assert_eq!(a.len(), r.len(), "length");
    let scale = r.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let diff = a
        .iter()
        .zip(r)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    if scale > 0.0 {
        diff / scale
    } else {
        diff * RTOL / 1e-12
    }
}

fn replay(dir: &std::path::Path, name: &str) -> BTreeMap<&'static str, (f64, usize)> {
    let text = std::fs::read_to_string(dir.join(name)).expect("read fixture");
    let root: Value = serde_json::from_str(&text).expect("parse fixture");
    let cfg = &root["config"];
    let init = &root["initial_state"];
    let layers: Vec<usize> = f64s(&cfg["layers"]).iter().map(|&x| x as usize).collect();
    let layers = Layers::new(&layers).unwrap();
    let activation = match cfg["activation"].as_str().unwrap() {
        "sigmoid" => Activation::Sigmoid,
        "hard-sigmoid" => Activation::HardSigmoid,
        "relu" => Activation::Relu,
        a => panic!("unknown activation {a}"),
    };
    assert_eq!(cfg["model_kind"].as_str(), Some("single-sample"));
    assert_eq!(cfg["integration_method"].as_str(), Some("LU"));
    let use_biases = cfg["use_biases"].as_bool().unwrap();
    let net = Network::from_dense(
        layers,
        &matrix(&init["W"]),
        &matrix(&init["weight_mask"]),
        DVector::from_vec(f64s(&init["b"])),
        DVector::from_vec(f64s(&init["bias_mask"])),
    )
    .unwrap();
    let clamped = cfg["input_handling"]["clamped_inputs"].as_bool().unwrap();
    let config = ModelConfig {
        activation,
        method: Method::Exact,
        solver: Solver::Lu,
        inputs: if clamped {
            InputMode::Clamped
        } else {
            InputMode::Dynamic
        },
        lr_weights: cfg["lr_W"].as_f64().unwrap(),
        lr_biases: cfg["lr_b"].as_f64().unwrap(),
        learn_biases: use_biases,
        compat: Compat {
            tau_on_bias_derivative: cfg["quirks"]["bias_deriv_tau_in_rhs"]
                .as_bool()
                .unwrap_or(false),
            ..Compat::reference_single()
        },
        tau: cfg["tau"].as_f64().unwrap(),
        dt: cfg["dt"].as_f64().unwrap(),
        ..Default::default()
    };
    let mut sim = Simulator::<f64>::new(net, config, 1).unwrap();
    sim.set_state(State {
        u: column(&init["u"]),
        udot: column(&init["udot"]),
        prev_input: Some(column(&init["prev_input"])),
        prev_target: Some(column(&init["prev_target"])),
        udot_trace: Vec::new(),
        step: 0,
    })
    .unwrap();
    sim.set_beta(&f64s(&cfg["beta"]["value"])).unwrap();
    let icfg: FixtureInterneuronConfig =
        serde_json::from_value(cfg["interneurons"].clone()).unwrap();
    let istate: FixtureInterneuronState = serde_json::from_value(init.clone()).unwrap();
    let pw = pathway_from_fixture_state::<f64>(&icfg, &istate, activation, use_biases).unwrap();
    sim.set_pathway(Box::new(pw.clone()));

    let mut worst: BTreeMap<&'static str, (f64, usize)> = BTreeMap::new();
    let mut record = |field: &'static str, k: usize, e: f64| {
        let w = worst.entry(field).or_insert((0.0, k));
        if e > w.0 || e.is_nan() {
            *w = (e, k);
        }
    };
    for (k, s) in root["steps"].as_array().unwrap().iter().enumerate() {
        assert!(s.get("beta").is_none(), "β changes are not expected here");
        let train = s["train"].as_bool().unwrap();
        pw.set_training(
            s["train_B"].as_bool().unwrap_or(true),
            s["train_PI"].as_bool().unwrap_or(true),
        );
        sim.step(&column(&s["input"]), &column(&s["target"]), train)
            .unwrap_or_else(|e| panic!("{name}: step {k}: {e}"));
        let st = sim.state();
        record("u", k, normwise(st.u.as_slice(), &f64s(&s["u"])));
        record("udot", k, normwise(st.udot.as_slice(), &f64s(&s["udot"])));
        let w = sim.network().dense_weights();
        let wref = matrix(&s["W"]);
        record("W", k, normwise(w.as_slice(), wref.as_slice()));
        if let Some(b) = s.get("b") {
            record("b", k, normwise(sim.network().biases.as_slice(), &f64s(b)));
        }
        record(
            "W_B",
            k,
            normwise(pw.w_b().as_slice(), matrix(&s["W_B"]).as_slice()),
        );
        record(
            "W_PI",
            k,
            normwise(pw.w_pi().as_slice(), matrix(&s["W_PI"]).as_slice()),
        );
        record("u_I", k, normwise(pw.u_i().as_slice(), &f64s(&s["u_I"])));
        record("b_I", k, normwise(pw.b_i().as_slice(), &f64s(&s["b_I"])));
        if let Some(ud) = s.get("udot_I") {
            record("udot_I", k, normwise(pw.udot_i().as_slice(), &f64s(ud)));
        }
        // W_IP is tied to W after every step
        assert_eq!(pw.w_ip(), w, "{name}: step {k}: W_IP != W");
    }
    worst
}

fn check(name: &str) {
    let Some(dir) = golden_dir("interneuron parity") else {
        return;
    };
    let worst = replay(&dir, name);
    eprintln!("{name}:");
    for (f, (e, k)) in &worst {
        eprintln!("  {f:7} worst normwise error {e:.3e} at step {k}");
    }
    for (f, (e, k)) in &worst {
        assert!(
            *e <= RTOL,
            "{name}: field {f} deviates by {e:e} at step {k} (tolerance {RTOL:e})"
        );
    }
}

#[test]
fn interneurons_instantaneous_match_reference() {
    check("single_ff_interneurons_instant.json");
}

#[test]
fn interneurons_dynamic_match_reference() {
    check("single_ff_interneurons_dynamic.json");
}
