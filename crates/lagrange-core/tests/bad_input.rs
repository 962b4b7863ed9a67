//! Bad input gives clear errors naming the field, step or neuron; the state survives a failed step.

mod common;
use common::{Arch, random_matrix, random_net};
use lagrange_core::{Activation, CoreError, Method, ModelConfig, Simulator};
use nalgebra::DMatrix;

fn sim(batch: usize) -> Simulator<f64> {
    let net = random_net::<f64>(&[2, 3, 2], Arch::Feedforward, 0.3, 1);
    Simulator::new(net, ModelConfig::default(), batch).unwrap()
}

#[test]
fn unknown_config_keys_are_rejected() {
    let e = serde_json::from_str::<ModelConfig>(r#"{"tau": 10.0, "dtt": 1.0}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("dtt"), "{e}");
    let c: ModelConfig = serde_json::from_str(r#"{"tau": 5.0}"#).unwrap();
    assert_eq!(
        (c.tau, c.dt),
        (5.0, 1.0),
        "missing keys take their defaults"
    );
}

#[test]
fn impossible_values_name_the_field() {
    let net = random_net::<f64>(&[2, 3, 2], Arch::Feedforward, 0.3, 1);
    for (cfg, field) in [
        (
            ModelConfig {
                dt: -1.0,
                ..Default::default()
            },
            "dt",
        ),
        (
            ModelConfig {
                tau: 0.0,
                ..Default::default()
            },
            "tau",
        ),
        (
            ModelConfig {
                lr_weights: f64::NAN,
                ..Default::default()
            },
            "lr_weights",
        ),
        (
            ModelConfig {
                clip_weights: Some(0.0),
                ..Default::default()
            },
            "clip_weights",
        ),
    ] {
        match Simulator::new(net.clone(), cfg, 1) {
            Err(CoreError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            Err(e) => panic!("{field}: unexpected error {e}"),
            Ok(_) => panic!("{field}: accepted"),
        }
    }
    assert!(matches!(
        Simulator::new(net, ModelConfig::default(), 0),
        Err(CoreError::InvalidConfig { .. })
    ));
}

#[test]
fn wrong_sizes_and_beta_are_errors() {
    let mut s = sim(2);
    let e = s.set_beta(&[0.1; 9]).unwrap_err();
    assert!(
        matches!(e, CoreError::SizeMismatch { ref what, .. } if what == "beta"),
        "{e}"
    );
    let e = s.set_beta(&[0.1, -1.0]).unwrap_err();
    assert!(e.to_string().contains("beta[1]"), "{e}");
    let e = s
        .step(&DMatrix::zeros(3, 2), &DMatrix::zeros(2, 2), false)
        .unwrap_err();
    assert!(
        matches!(e, CoreError::SizeMismatch { ref what, .. } if what == "input"),
        "{e}"
    );
    let e = s
        .step(&DMatrix::zeros(2, 2), &DMatrix::zeros(2, 3), false)
        .unwrap_err();
    assert!(
        matches!(e, CoreError::SizeMismatch { ref what, .. } if what == "target"),
        "{e}"
    );
}

#[test]
fn nan_input_names_the_step_and_keeps_the_state() {
    let mut s = sim(1);
    let x = DMatrix::from_column_slice(2, 1, &[0.5, 0.5]);
    s.step(&x, &DMatrix::zeros(0, 1), false).unwrap();
    let before = s.state().clone();
    let bad = DMatrix::from_column_slice(2, 1, &[0.5, f64::NAN]);
    match s.step(&bad, &DMatrix::zeros(0, 1), false) {
        Err(CoreError::NonFinite {
            field,
            step,
            neuron,
            ..
        }) => {
            assert_eq!((field.as_str(), step, neuron), ("input", 1, 1));
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    assert_eq!(
        s.state(),
        &before,
        "a failed step must not change the state"
    );
}

#[test]
fn a_diverging_run_stops_with_the_step_and_neuron() {
    // the exact solve, and the Euler predictor with ρ″ ≡ 0, whose fused pass computes
    // u + dt u̇ and its divergence check together with u̇
    for (method, activation) in [
        (Method::Exact, ModelConfig::default().activation),
        (Method::Euler, Activation::HardSigmoid),
    ] {
        let net = random_net::<f64>(&[0, 4, 3], Arch::FullyRecurrent, 3.0, 5);
        let cfg = ModelConfig {
            divergence_limit: 50.0,
            lr_weights: 0.5,
            method,
            activation,
            ..Default::default()
        };
        let mut s = Simulator::new(net, cfg, 1).unwrap();
        s.set_beta_outputs(10.0);
        s.state_mut().u = random_matrix(7, 1, -3.0, 3.0, 6);
        let y = DMatrix::from_column_slice(3, 1, &[40.0, -40.0, 45.0]);
        let mut stopped = None;
        for _ in 0..2000 {
            let before = (s.state().clone(), s.network().clone());
            if let Err(e) = s.step(&DMatrix::zeros(0, 1), &y, true) {
                assert!(
                    s.state() == &before.0 && s.network() == &before.1,
                    "{method:?}: a failed step must not change the state or the weights"
                );
                stopped = Some(e);
                break;
            }
        }
        match stopped {
            Some(CoreError::Diverged {
                step,
                neuron,
                value,
                limit,
                ..
            }) => {
                assert!(
                    value.abs() > limit && neuron < 7,
                    "{method:?}: step {step} neuron {neuron} value {value}"
                );
                assert!(
                    s.state().u.amax() <= 50.0,
                    "state stays at the last good step"
                );
            }
            Some(CoreError::NonFinite { .. }) => {}
            other => panic!("{method:?}: expected a divergence error, got {other:?}"),
        }
    }
}
