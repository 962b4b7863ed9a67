//! Mask construction: hand-written masks per architecture, flags, errors, serde, and
//! property tests.

use lagrange_circuits::{
    Architecture, CircuitError, InitParams, Topology, TopologySpec, init_biases, init_weights,
};
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

const A: f64 = 1.0; // factor 0: layer 0 -> 1
const B: f64 = 0.5; // factor 1: layer 1 -> 2
const C: f64 = 0.25; // factor 2: layer 2 -> 3

/// Layers [2, 3, 2, 1]: L0 = {0,1}, L1 = {2,3,4}, L2 = {5,6}, L3 = {7}.
fn spec(arch: Architecture) -> TopologySpec {
    TopologySpec::new(vec![2, 3, 2, 1], arch, vec![A, B, C])
}

fn m8(rows: [[f64; 8]; 8]) -> DMatrix<f64> {
    DMatrix::from_row_slice(8, 8, rows.as_flattened())
}

fn build(s: &TopologySpec) -> Topology {
    s.build().unwrap_or_else(|e| panic!("{e}"))
}

#[rustfmt::skip]
fn ff_8() -> DMatrix<f64> {
    m8([
        [0., 0., 0., 0., 0., 0., 0., 0.],
        [0., 0., 0., 0., 0., 0., 0., 0.],
        [A,  A,  0., 0., 0., 0., 0., 0.],
        [A,  A,  0., 0., 0., 0., 0., 0.],
        [A,  A,  0., 0., 0., 0., 0., 0.],
        [0., 0., B,  B,  B,  0., 0., 0.],
        [0., 0., B,  B,  B,  0., 0., 0.],
        [0., 0., 0., 0., 0., C,  C,  0.],
    ])
}

#[test]
fn layered_feedforward_mask() {
    let t = build(&spec(Architecture::LayeredFeedforward));
    assert_eq!(t.weight_mask(), &ff_8());
    assert_eq!(t.blocks(), vec![(1, 0), (2, 1), (3, 2)]);
    assert_eq!(t.n_synapses(), 6 + 6 + 2);
    assert_eq!(t.offsets(), &[0, 2, 5, 7, 8]);
    assert_eq!(t.input_range(), 0..2);
    assert_eq!(t.output_range(), 7..8);
    assert_eq!(t.layer_range(1), 2..5);
}

#[test]
#[rustfmt::skip]
fn layered_feedbackward_mask() {
    let t = build(&spec(Architecture::LayeredFeedbackward));
    let want = m8([
        [0., 0., A,  A,  A,  0., 0., 0.],
        [0., 0., A,  A,  A,  0., 0., 0.],
        [0., 0., 0., 0., 0., B,  B,  0.],
        [0., 0., 0., 0., 0., B,  B,  0.],
        [0., 0., 0., 0., 0., B,  B,  0.],
        [0., 0., 0., 0., 0., 0., 0., C ],
        [0., 0., 0., 0., 0., 0., 0., C ],
        [0., 0., 0., 0., 0., 0., 0., 0.],
    ]);
    assert_eq!(t.weight_mask(), &want);
    assert_eq!(t.blocks(), vec![(0, 1), (1, 2), (2, 3)]);
}

#[test]
#[rustfmt::skip]
fn layered_recurrent_mask() {
    let t = build(&spec(Architecture::LayeredRecurrent));
    let want = m8([
        [0., 0., A,  A,  A,  0., 0., 0.],
        [0., 0., A,  A,  A,  0., 0., 0.],
        [A,  A,  0., 0., 0., B,  B,  0.],
        [A,  A,  0., 0., 0., B,  B,  0.],
        [A,  A,  0., 0., 0., B,  B,  0.],
        [0., 0., B,  B,  B,  0., 0., C ],
        [0., 0., B,  B,  B,  0., 0., C ],
        [0., 0., 0., 0., 0., C,  C,  0.],
    ]);
    assert_eq!(t.weight_mask(), &want);
    assert_eq!(t.blocks(), vec![(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]);
}

#[test]
#[rustfmt::skip]
fn layered_recurrent_recurrent_mask() {
    // Intra: hidden layers 1 and 2 only, with factors f[1] and f[2], zero diagonal.
    let t = build(&spec(Architecture::LayeredRecurrentRecurrent));
    let want = m8([
        [0., 0., A,  A,  A,  0., 0., 0.],
        [0., 0., A,  A,  A,  0., 0., 0.],
        [A,  A,  0., B,  B,  B,  B,  0.],
        [A,  A,  B,  0., B,  B,  B,  0.],
        [A,  A,  B,  B,  0., B,  B,  0.],
        [0., 0., B,  B,  B,  0., C,  C ],
        [0., 0., B,  B,  B,  C,  0., C ],
        [0., 0., 0., 0., 0., C,  C,  0.],
    ]);
    assert_eq!(t.weight_mask(), &want);
    assert_eq!(
        t.blocks(),
        vec![(0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 2)]
    );
}

#[test]
#[rustfmt::skip]
fn in_recurrent_out_mask() {
    let t = build(&spec(Architecture::InRecurrentOut));
    let want = m8([
        [0., 0., 0., 0., 0., 0., 0., 0.],
        [0., 0., 0., 0., 0., 0., 0., 0.],
        [A,  A,  0., B,  B,  0., 0., 0.],
        [A,  A,  B,  0., B,  0., 0., 0.],
        [A,  A,  B,  B,  0., 0., 0., 0.],
        [0., 0., B,  B,  B,  0., C,  0.],
        [0., 0., B,  B,  B,  C,  0., 0.],
        [0., 0., 0., 0., 0., C,  C,  0.],
    ]);
    assert_eq!(t.weight_mask(), &want);
    assert_eq!(t.blocks(), vec![(1, 0), (1, 1), (2, 1), (2, 2), (3, 2)]);
}

#[test]
fn fully_recurrent_mask() {
    let t = build(&spec(Architecture::FullyRecurrent));
    let mut want = DMatrix::from_element(8, 8, 1.0);
    want.fill_diagonal(0.0);
    assert_eq!(t.weight_mask(), &want);
    // 16 layer pairs, but the 1-neuron output layer has no self-block without self-loops.
    assert_eq!(t.blocks().len(), 15);
    assert!(!t.blocks().contains(&(3, 3)));
    // Clean bias convention: fully recurrent ignores the factors.
    assert_eq!(t.bias_mask(), &DVector::from_element(8, 1.0));

    let mut s = spec(Architecture::FullyRecurrent);
    s.allow_selfloops = true;
    assert_eq!(build(&s).weight_mask(), &DMatrix::from_element(8, 8, 1.0));

    // The reference's shifted bias mask uses the factors even here.
    let mut s = spec(Architecture::FullyRecurrent);
    s.bias_factor_shift = true;
    assert_eq!(
        build(&s).bias_mask().as_slice(),
        &[A, A, B, B, B, C, C, 1.0]
    );
}

#[test]
fn bias_masks_clean_and_shifted() {
    let clean = build(&spec(Architecture::LayeredFeedforward));
    assert_eq!(clean.bias_mask().as_slice(), &[1.0, 1.0, A, A, A, B, B, C]);

    let mut s = spec(Architecture::LayeredFeedforward);
    s.bias_factor_shift = true;
    let shifted = build(&s);
    assert_eq!(shifted.bias_mask().as_slice(), &[A, A, B, B, B, C, C, 1.0]);
    assert_eq!(shifted.weight_mask(), &ff_8());
}

#[test]
fn only_discriminative_and_afferent_flags() {
    for arch in Architecture::ALL {
        let full = build(&spec(arch));

        let mut s = spec(arch);
        s.only_discriminative = true;
        let t = build(&s);
        let mut want = full.weight_mask().clone();
        want.rows_mut(0, 2).fill(0.0);
        assert_eq!(t.weight_mask(), &want, "{arch}");
        assert_eq!(t.bias_mask().rows(0, 2).sum(), 0.0, "{arch}");
        assert_eq!(
            t.bias_mask().rows(2, 6),
            full.bias_mask().rows(2, 6),
            "{arch}"
        );

        let mut s = spec(arch);
        s.with_afferent_input_weights = false;
        let t = build(&s);
        assert_eq!(t.weight_mask(), &want, "{arch}");
        assert_eq!(t.bias_mask(), full.bias_mask(), "{arch}: biases untouched");
    }
}

#[test]
fn leading_zero_layer_like_ieeg() {
    // iEEG layered [0, 40, 100, 56], f = [1, 1, 1] (spec §2): 19,200 synapses.
    let t = build(&TopologySpec::new(
        vec![0, 40, 100, 56],
        Architecture::LayeredRecurrent,
        vec![1.0; 3],
    ));
    assert_eq!(t.n_neurons(), 196);
    assert_eq!(t.n_synapses(), 19_200);
    assert_eq!(t.input_range(), 0..0);
    assert_eq!(t.blocks(), vec![(1, 2), (2, 1), (2, 3), (3, 2)]);

    let t = build(&TopologySpec::new(
        vec![0, 40, 56],
        Architecture::FullyRecurrent,
        vec![1.0; 2],
    ));
    assert_eq!(t.n_synapses(), 9_120);
}

#[test]
fn mnist_mask() {
    let mut s = TopologySpec::new(
        vec![784, 300, 100, 10],
        Architecture::LayeredFeedforward,
        vec![1.0, 0.2, 0.1],
    );
    s.only_discriminative = true;
    let t = build(&s);
    assert_eq!(t.n_synapses(), 266_200);
    assert!((t.weight_mask().sum() - 241_300.0).abs() < 1e-6);
}

#[test]
fn zero_factor_removes_block() {
    let t = build(&TopologySpec::new(
        vec![2, 3, 2, 1],
        Architecture::LayeredFeedforward,
        vec![1.0, 0.0, 1.0],
    ));
    assert_eq!(t.blocks(), vec![(1, 0), (3, 2)]);
}

#[test]
fn errors_name_the_field() {
    let e = TopologySpec::new(vec![], Architecture::LayeredFeedforward, vec![])
        .build()
        .unwrap_err();
    assert_eq!(e, CircuitError::EmptyLayers);
    assert!(e.to_string().contains("`layers`"));

    let e = TopologySpec::new(vec![0, 0], Architecture::FullyRecurrent, vec![1.0])
        .build()
        .unwrap_err();
    assert!(matches!(e, CircuitError::NoNeurons { .. }), "{e}");

    let e = TopologySpec::new(vec![2, 3], Architecture::LayeredFeedforward, vec![1.0, 1.0])
        .build()
        .unwrap_err();
    assert_eq!(
        e,
        CircuitError::LrFactorsLength {
            got: 2,
            expected: 1,
            n_layers: 2
        }
    );
    assert!(e.to_string().contains("`lr_factors`"));

    for bad in [-0.5, f64::NAN, f64::INFINITY] {
        let e = TopologySpec::new(vec![2, 3], Architecture::LayeredFeedforward, vec![bad])
            .build()
            .unwrap_err();
        assert!(
            matches!(e, CircuitError::InvalidLrFactor { index: 0, .. }),
            "{e}"
        );
    }

    let mut s = spec(Architecture::LayeredRecurrent);
    s.allow_selfloops = true;
    assert!(matches!(
        s.build().unwrap_err(),
        CircuitError::SelfloopsNotSupported { .. }
    ));

    let e = "layered-sideways".parse::<Architecture>().unwrap_err();
    assert!(matches!(e, CircuitError::UnknownArchitecture(_)));
}

#[test]
fn custom_topology_validates_shapes_and_values() {
    let ok = Topology::custom(
        vec![1, 2],
        DMatrix::from_element(3, 3, 0.5),
        DVector::from_element(3, 1.0),
    )
    .unwrap();
    assert_eq!(ok.blocks(), vec![(0, 0), (0, 1), (1, 0), (1, 1)]);

    let e = Topology::custom(vec![1, 2], DMatrix::zeros(3, 2), DVector::zeros(3)).unwrap_err();
    assert_eq!(
        e,
        CircuitError::ShapeMismatch {
            field: "weight_mask",
            expected_rows: 3,
            expected_cols: 3,
            got_rows: 3,
            got_cols: 2
        }
    );
    let e = Topology::custom(vec![1, 2], DMatrix::zeros(3, 3), DVector::zeros(4)).unwrap_err();
    assert!(
        matches!(
            e,
            CircuitError::ShapeMismatch {
                field: "bias_mask",
                ..
            }
        ),
        "{e}"
    );
    let mut bad = DMatrix::zeros(3, 3);
    bad[(1, 2)] = -1.0;
    let e = Topology::custom(vec![1, 2], bad, DVector::zeros(3)).unwrap_err();
    assert!(matches!(
        e,
        CircuitError::InvalidMaskValue {
            field: "weight_mask",
            row: 1,
            col: 2,
            ..
        }
    ));
    let mut badb = DVector::zeros(3);
    badb[0] = f64::NAN;
    let e = Topology::custom(vec![1, 2], DMatrix::zeros(3, 3), badb).unwrap_err();
    assert!(matches!(
        e,
        CircuitError::InvalidMaskValue {
            field: "bias_mask",
            ..
        }
    ));
    assert_eq!(
        Topology::custom(vec![], DMatrix::zeros(0, 0), DVector::zeros(0)).unwrap_err(),
        CircuitError::EmptyLayers
    );
}

#[test]
fn architecture_names_and_serde() {
    for arch in Architecture::ALL {
        let json = serde_json::to_string(&arch).unwrap();
        assert_eq!(json, format!("\"{}\"", arch.as_str()));
        assert_eq!(serde_json::from_str::<Architecture>(&json).unwrap(), arch);
        assert_eq!(arch.as_str().parse::<Architecture>().unwrap(), arch);
    }
    assert_eq!(
        "LAYERED_RECURRENT_RECURRENT"
            .parse::<Architecture>()
            .unwrap(),
        Architecture::LayeredRecurrentRecurrent
    );
    assert_eq!(Architecture::InRecurrentOut.as_str(), "in-recurrent-out");
}

#[test]
fn spec_serde_defaults_and_unknown_fields() {
    let s: TopologySpec = serde_json::from_str(
        r#"{"layers": [2, 3], "architecture": "fully-recurrent", "lr_factors": [1.0]}"#,
    )
    .unwrap();
    assert!(s.with_afferent_input_weights);
    assert!(!s.only_discriminative && !s.allow_selfloops && !s.bias_factor_shift);
    assert_eq!(
        s,
        TopologySpec::new(vec![2, 3], Architecture::FullyRecurrent, vec![1.0])
    );

    let e = serde_json::from_str::<TopologySpec>(
        r#"{"layers": [2, 3], "architecture": "fully-recurrent", "lr_factors": [1.0], "typo": 1}"#,
    );
    assert!(e.is_err());
    let e = serde_json::from_str::<InitParams>(r#"{"mean": 0, "std": 1, "clip": 1, "x": 0}"#);
    assert!(e.is_err());
}

#[test]
fn topology_serde_roundtrip_and_validation() {
    let t = build(&spec(Architecture::LayeredRecurrentRecurrent));
    let json = serde_json::to_string(&t).unwrap();
    let back: Topology = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);

    // A deserialised topology is re-validated.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["layers"] = serde_json::json!([2, 3, 2, 2]);
    assert!(serde_json::from_value::<Topology>(v).is_err());
}

#[test]
fn clean_init_is_seeded_masked_and_clipped() {
    let t = build(&spec(Architecture::LayeredRecurrent));
    let p = InitParams {
        mean: 0.1,
        std: 1.0,
        clip: 0.5,
    };
    let w1 = init_weights(&t, &p, &mut StdRng::seed_from_u64(7)).unwrap();
    let w2 = init_weights(&t, &p, &mut StdRng::seed_from_u64(7)).unwrap();
    assert_eq!(w1, w2);
    let w3 = init_weights(&t, &p, &mut StdRng::seed_from_u64(8)).unwrap();
    assert_ne!(w1, w3);
    for (x, m) in w1.iter().zip(t.weight_mask().iter()) {
        if *m == 0.0 {
            assert_eq!(*x, 0.0);
        } else {
            assert!((-0.4..=0.6).contains(x), "{x}");
        }
    }
    let mut s = spec(Architecture::LayeredFeedforward);
    s.only_discriminative = true;
    let t = build(&s);
    let b = init_biases(&t, &p, &mut StdRng::seed_from_u64(1)).unwrap();
    assert_eq!(b.rows(0, 2).iter().filter(|x| **x != 0.0).count(), 0);
    assert!(
        b.rows(2, 6)
            .iter()
            .all(|x| (-0.4..=0.6).contains(x) && *x != 0.0)
    );

    for bad in [
        InitParams {
            mean: 0.0,
            std: -1.0,
            clip: 1.0,
        },
        InitParams {
            mean: f64::NAN,
            std: 1.0,
            clip: 1.0,
        },
        InitParams {
            mean: 0.0,
            std: 1.0,
            clip: -1.0,
        },
    ] {
        let e = init_weights(&t, &bad, &mut StdRng::seed_from_u64(1)).unwrap_err();
        assert!(matches!(e, CircuitError::InvalidInitParam { .. }), "{e}");
    }
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

fn arch_strategy() -> impl Strategy<Value = Architecture> {
    prop::sample::select(Architecture::ALL.to_vec())
}

fn spec_strategy() -> impl Strategy<Value = TopologySpec> {
    (
        prop::collection::vec(0usize..5, 1..6),
        arch_strategy(),
        any::<[bool; 4]>(),
    )
        .prop_filter("N > 0", |(layers, _, _)| layers.iter().sum::<usize>() > 0)
        .prop_flat_map(|(layers, arch, flags)| {
            let l = layers.len();
            let factor = prop_oneof![Just(0.0), Just(1.0), 0.01f64..2.0];
            (
                Just(layers),
                Just(arch),
                Just(flags),
                prop::collection::vec(factor, l - 1),
            )
        })
        .prop_map(|(layers, arch, flags, lr_factors)| {
            let mut s = TopologySpec::new(layers, arch, lr_factors);
            s.only_discriminative = flags[0];
            s.with_afferent_input_weights = flags[1];
            s.allow_selfloops = flags[2] && arch == Architecture::FullyRecurrent;
            s.bias_factor_shift = flags[3];
            s
        })
}

fn layer_of(offsets: &[usize], i: usize) -> usize {
    (0..offsets.len() - 1)
        .find(|&k| offsets[k] <= i && i < offsets[k + 1])
        .unwrap()
}

/// Element-wise definition of the mask (independent of the block-filling implementation).
fn expected_entry(s: &TopologySpec, offsets: &[usize], i: usize, j: usize) -> f64 {
    let (p, q) = (layer_of(offsets, i), layer_of(offsets, j));
    let f = &s.lr_factors;
    let l = s.layers.len();
    if p == 0 && (s.only_discriminative || !s.with_afferent_input_weights) {
        return 0.0;
    }
    let fwd = if p == q + 1 { f[q] } else { 0.0 };
    let bwd = if q == p + 1 { f[p] } else { 0.0 };
    let intra = if p == q && p >= 1 && p + 1 < l && i != j {
        f[p]
    } else {
        0.0
    };
    match s.architecture {
        Architecture::LayeredFeedforward => fwd,
        Architecture::LayeredFeedbackward => bwd,
        Architecture::LayeredRecurrent => fwd + bwd,
        Architecture::LayeredRecurrentRecurrent => fwd + bwd + intra,
        Architecture::InRecurrentOut => fwd + intra,
        Architecture::FullyRecurrent => {
            if i != j || s.allow_selfloops {
                1.0
            } else {
                0.0
            }
        }
    }
}

proptest! {
    #[test]
    fn prop_masks_follow_definition(s in spec_strategy()) {
        let t = s.build().unwrap();
        let n: usize = s.layers.iter().sum();
        prop_assert_eq!(t.n_neurons(), n);
        prop_assert_eq!(t.weight_mask().shape(), (n, n));
        prop_assert_eq!(t.bias_mask().len(), n);
        let offsets = t.offsets().to_vec();
        for i in 0..n {
            for j in 0..n {
                prop_assert_eq!(
                    t.weight_mask()[(i, j)],
                    expected_entry(&s, &offsets, i, j),
                    "entry ({}, {})", i, j
                );
            }
        }
        // Fully recurrent: zero diagonal unless self-loops are allowed.
        if s.architecture != Architecture::FullyRecurrent || !s.allow_selfloops {
            prop_assert!(t.weight_mask().diagonal().iter().all(|&d| d == 0.0));
        }
        // Inputs: zero rows with only_discriminative / no afferent weights; zero biases
        // with only_discriminative.
        let n_in = s.layers[0];
        if s.only_discriminative || !s.with_afferent_input_weights {
            prop_assert!(t.weight_mask().rows(0, n_in).iter().all(|&x| x == 0.0));
        }
        if s.only_discriminative {
            prop_assert!(t.bias_mask().rows(0, n_in).iter().all(|&x| x == 0.0));
        }
        prop_assert!(t.bias_mask().iter().all(|&x| x >= 0.0 && x.is_finite()));
    }

    #[test]
    fn prop_blocks_cover_exactly_the_nonzero_entries(s in spec_strategy()) {
        let t = s.build().unwrap();
        let blocks = t.blocks();
        let n = t.n_neurons();
        let offsets = t.offsets().to_vec();
        for i in 0..n {
            for j in 0..n {
                if t.weight_mask()[(i, j)] != 0.0 {
                    let b = (layer_of(&offsets, i), layer_of(&offsets, j));
                    prop_assert!(blocks.contains(&b));
                }
            }
        }
        for &(post, pre) in &blocks {
            let (rows, cols) = t.block_ranges(post, pre);
            let any = rows.clone().any(|i| cols.clone().any(|j| t.weight_mask()[(i, j)] != 0.0));
            prop_assert!(any);
        }
        let mut sorted = blocks.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(sorted, blocks);
    }

    #[test]
    fn prop_build_never_panics(
        layers in prop::collection::vec(0usize..4, 0..5),
        factors in prop::collection::vec(prop_oneof![Just(-1.0), Just(f64::NAN), 0.0f64..2.0], 0..5),
        arch in arch_strategy(),
        selfloops in any::<bool>(),
    ) {
        let mut s = TopologySpec::new(layers, arch, factors);
        s.allow_selfloops = selfloops;
        let _ = s.build();
    }
}
