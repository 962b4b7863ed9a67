//! Network topologies: layer lists, architectures, connection masks and bias masks.
//!
//! The whole network is one global N×N weight matrix over all neurons; layers are contiguous
//! index ranges (spec §1.1). Connectivity lives entirely in the **weight mask** `M`:
//! `M[i, j] != 0` iff the synapse from presynaptic neuron `j` onto postsynaptic neuron `i`
//! exists, and its value is the learning-rate factor of that synapse (spec §1.3). The **bias
//! mask** `m_b` plays the same role for the biases (spec §1.4).
//!
//! Build a [`Topology`] from a [`TopologySpec`] (one of the reference [`Architecture`]s) or
//! from explicit masks with [`Topology::custom`].

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::CircuitError;

/// The connection patterns of the reference implementation (`ArchType`, spec §2).
///
/// Serialised as the reference strings, e.g. `"layered-feedforward"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// `FF`: layer k → layer k+1 with factor k.
    LayeredFeedforward,
    /// `FFᵀ`: only layer k+1 → layer k, with factor k.
    LayeredFeedbackward,
    /// `FF + FFᵀ`: forward and backward projections between neighbouring layers (independent
    /// parameters, same factors).
    LayeredRecurrent,
    /// `Intra(FF + FFᵀ)`: like [`LayeredRecurrent`](Self::LayeredRecurrent), plus all-to-all
    /// recurrence (without self-loops) inside every **hidden** layer k (factor k).
    LayeredRecurrentRecurrent,
    /// `Intra(FF)`: feedforward plus all-to-all recurrence (without self-loops) inside every
    /// **hidden** layer k (factor k).
    InRecurrentOut,
    /// All-to-all, factors ignored (all ones), diagonal zero unless `allow_selfloops`.
    FullyRecurrent,
}

impl Architecture {
    /// All architectures, in declaration order.
    pub const ALL: [Architecture; 6] = [
        Architecture::LayeredFeedforward,
        Architecture::LayeredFeedbackward,
        Architecture::LayeredRecurrent,
        Architecture::LayeredRecurrentRecurrent,
        Architecture::InRecurrentOut,
        Architecture::FullyRecurrent,
    ];

    /// The reference string (`ArchType` value), e.g. `"layered-feedforward"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::LayeredFeedforward => "layered-feedforward",
            Architecture::LayeredFeedbackward => "layered-feedbackward",
            Architecture::LayeredRecurrent => "layered-recurrent",
            Architecture::LayeredRecurrentRecurrent => "layered-recurrent-recurrent",
            Architecture::InRecurrentOut => "in-recurrent-out",
            Architecture::FullyRecurrent => "fully-recurrent",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Architecture {
    type Err = CircuitError;

    /// Parses the reference string (`"layered-feedforward"`, …). The reference's enum member
    /// names (`"LAYERED_FEEDFORWARD"`, …) are accepted too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Architecture::ALL
            .into_iter()
            .find(|a| a.as_str() == norm)
            .ok_or_else(|| CircuitError::UnknownArchitecture(s.to_string()))
    }
}

fn default_true() -> bool {
    true
}

/// Declarative description of a layered network (the mask-relevant part of the reference's
/// `NetworkParams`). Call [`build`](Self::build) to get a [`Topology`].
///
/// Serde: unknown fields are rejected; `layers`, `architecture` and `lr_factors` are
/// required, the flags default to the reference defaults (`with_afferent_input_weights =
/// true`, the rest `false`).
///
/// ```
/// use lagrange_circuits::{Architecture, TopologySpec};
/// let spec: TopologySpec = serde_json::from_str(
///     r#"{"layers": [784, 300, 100, 10], "architecture": "layered-feedforward",
///         "lr_factors": [1.0, 0.2, 0.1], "only_discriminative": true}"#,
/// ).unwrap();
/// assert_eq!(spec.architecture, Architecture::LayeredFeedforward);
/// let topo = spec.build().unwrap();
/// assert_eq!(topo.n_neurons(), 1194);
/// assert_eq!(topo.n_synapses(), 266_200);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// Layer sizes `n_0 … n_{L-1}`. Layer 0 holds the input neurons (a leading 0 means there
    /// are none, spec §1.6); the last layer holds the output / visible neurons.
    pub layers: Vec<usize>,
    /// Connection pattern.
    pub architecture: Architecture,
    /// Learning-rate factors, exactly `L - 1` entries, all finite and `>= 0`. Factor k scales
    /// the projection layer k → layer k+1 (and its transposed copy for recurrent
    /// architectures); a factor of 0 removes the projection. Ignored by the weight mask of
    /// [`Architecture::FullyRecurrent`].
    pub lr_factors: Vec<f64>,
    /// Zero the input rows of the weight mask (no synapses onto input neurons) and the input
    /// entries of the bias mask.
    #[serde(default)]
    pub only_discriminative: bool,
    /// If `false`, zero the input rows of the weight mask (weights only, not biases).
    #[serde(default = "default_true")]
    pub with_afferent_input_weights: bool,
    /// Keep the diagonal (self-loops) of the fully-recurrent mask. Only valid with
    /// [`Architecture::FullyRecurrent`]; any other architecture returns
    /// [`CircuitError::SelfloopsNotSupported`], because their masks always have a zero
    /// diagonal in the reference.
    #[serde(default)]
    pub allow_selfloops: bool,
    /// Bias-mask convention.
    ///
    /// * `false` (default, **clean**): the biases of layer k use the factor of the weights
    ///   *into* layer k (factor k−1); input-layer biases use 1 (0 with `only_discriminative`);
    ///   with [`Architecture::FullyRecurrent`] (whose weights ignore the factors) every bias
    ///   uses 1 (inputs 0 with `only_discriminative`).
    /// * `true` (**reference parity**, spec §1.4 / golden README §5.3): `m_b = ones`, the slice
    ///   of layer k is multiplied by factor k for k = 0…L−2, the last layer keeps 1, then the
    ///   inputs are zeroed if `only_discriminative`. This shifted convention is independent of
    ///   the architecture and is what every golden fixture uses.
    #[serde(default)]
    pub bias_factor_shift: bool,
}

impl TopologySpec {
    /// A spec with the given layers, architecture and factors and the reference defaults for
    /// every flag (clean bias convention).
    pub fn new(layers: Vec<usize>, architecture: Architecture, lr_factors: Vec<f64>) -> Self {
        Self {
            layers,
            architecture,
            lr_factors,
            only_discriminative: false,
            with_afferent_input_weights: true,
            allow_selfloops: false,
            bias_factor_shift: false,
        }
    }

    /// Validates the spec and builds the masks (spec §1.3–§1.5, §2).
    pub fn build(&self) -> Result<Topology, CircuitError> {
        let offsets = validate_layers(&self.layers)?;
        let n_layers = self.layers.len();
        let expected = n_layers - 1;
        if self.lr_factors.len() != expected {
            return Err(CircuitError::LrFactorsLength {
                got: self.lr_factors.len(),
                expected,
                n_layers,
            });
        }
        for (index, &value) in self.lr_factors.iter().enumerate() {
            if !value.is_finite() || value < 0.0 {
                return Err(CircuitError::InvalidLrFactor { index, value });
            }
        }
        if self.allow_selfloops && self.architecture != Architecture::FullyRecurrent {
            return Err(CircuitError::SelfloopsNotSupported {
                architecture: self.architecture.to_string(),
            });
        }

        let n = offsets[n_layers];
        let f = &self.lr_factors;
        let mut mask = match self.architecture {
            Architecture::LayeredFeedforward => feed_forward(&offsets, f),
            Architecture::LayeredFeedbackward => feed_forward(&offsets, f).transpose(),
            Architecture::LayeredRecurrent => {
                let ff = feed_forward(&offsets, f);
                &ff + ff.transpose()
            }
            Architecture::LayeredRecurrentRecurrent => {
                let ff = feed_forward(&offsets, f);
                let mut m = &ff + ff.transpose();
                add_intralayer(&mut m, &offsets, f);
                m
            }
            Architecture::InRecurrentOut => {
                let mut m = feed_forward(&offsets, f);
                add_intralayer(&mut m, &offsets, f);
                m
            }
            Architecture::FullyRecurrent => {
                let mut m = DMatrix::from_element(n, n, 1.0);
                if !self.allow_selfloops {
                    m.fill_diagonal(0.0);
                }
                m
            }
        };
        let n_in = self.layers[0];
        if self.only_discriminative || !self.with_afferent_input_weights {
            mask.rows_mut(0, n_in).fill(0.0);
        }

        let mut bias = DVector::from_element(n, 1.0);
        if self.bias_factor_shift {
            for (k, &fk) in f.iter().enumerate() {
                bias.rows_mut(offsets[k], self.layers[k]).scale_mut(fk);
            }
        } else if self.architecture != Architecture::FullyRecurrent {
            for k in 1..n_layers {
                bias.rows_mut(offsets[k], self.layers[k]).fill(f[k - 1]);
            }
        }
        if self.only_discriminative {
            bias.rows_mut(0, n_in).fill(0.0);
        }

        Ok(Topology {
            layers: self.layers.clone(),
            offsets,
            weight_mask: mask,
            bias_mask: bias,
        })
    }
}

/// Checks the layer list and returns the offsets `o_0 = 0, …, o_L = N`.
fn validate_layers(layers: &[usize]) -> Result<Vec<usize>, CircuitError> {
    if layers.is_empty() {
        return Err(CircuitError::EmptyLayers);
    }
    let mut offsets = Vec::with_capacity(layers.len() + 1);
    let mut acc = 0usize;
    offsets.push(0);
    for &n in layers {
        acc += n;
        offsets.push(acc);
    }
    if acc == 0 {
        return Err(CircuitError::NoNeurons {
            layers: layers.to_vec(),
        });
    }
    Ok(offsets)
}

/// `FF(layers, f)`: block rows `[o_{k+1}, o_{k+2})` × cols `[o_k, o_{k+1})` set to `f[k]`.
fn feed_forward(offsets: &[usize], f: &[f64]) -> DMatrix<f64> {
    let n = *offsets.last().unwrap_or(&0);
    let mut m = DMatrix::zeros(n, n);
    for (k, &fk) in f.iter().enumerate() {
        let (r0, r1) = (offsets[k + 1], offsets[k + 2]);
        let (c0, c1) = (offsets[k], offsets[k + 1]);
        m.view_mut((r0, c0), (r1 - r0, c1 - c0)).fill(fk);
    }
    m
}

/// `Intra(M, layers, f)`: for k = 1 … len(f)−1 set the diagonal block of layer k to `f[k]`
/// (hidden layers only), then zero the whole diagonal.
fn add_intralayer(m: &mut DMatrix<f64>, offsets: &[usize], f: &[f64]) {
    for (k, &fk) in f.iter().enumerate().skip(1) {
        let (a, b) = (offsets[k], offsets[k + 1]);
        m.view_mut((a, a), (b - a, b - a)).fill(fk);
    }
    m.fill_diagonal(0.0);
}

/// A validated network topology: layer ranges plus weight and bias masks.
///
/// Invariants (checked by every constructor): at least one layer, `N = Σ n_k > 0`, the weight
/// mask is N×N (row = postsynaptic, column = presynaptic, value = learning-rate factor, 0 =
/// no synapse), the bias mask has length N, and every mask entry is finite and `>= 0`.
///
/// Serde stores `layers`, `weight_mask` and `bias_mask`; deserialising re-validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TopologyRepr", into = "TopologyRepr")]
pub struct Topology {
    layers: Vec<usize>,
    offsets: Vec<usize>,
    weight_mask: DMatrix<f64>,
    bias_mask: DVector<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyRepr {
    layers: Vec<usize>,
    weight_mask: DMatrix<f64>,
    bias_mask: DVector<f64>,
}

impl TryFrom<TopologyRepr> for Topology {
    type Error = CircuitError;
    fn try_from(r: TopologyRepr) -> Result<Self, Self::Error> {
        Topology::custom(r.layers, r.weight_mask, r.bias_mask)
    }
}

impl From<Topology> for TopologyRepr {
    fn from(t: Topology) -> Self {
        TopologyRepr {
            layers: t.layers,
            weight_mask: t.weight_mask,
            bias_mask: t.bias_mask,
        }
    }
}

impl Topology {
    /// A topology with user-supplied masks.
    ///
    /// `weight_mask` must be N×N and `bias_mask` of length N, where `N = Σ layers`; all
    /// entries must be finite and `>= 0`.
    pub fn custom(
        layers: Vec<usize>,
        weight_mask: DMatrix<f64>,
        bias_mask: DVector<f64>,
    ) -> Result<Self, CircuitError> {
        let offsets = validate_layers(&layers)?;
        let n = offsets[layers.len()];
        if weight_mask.shape() != (n, n) {
            return Err(CircuitError::ShapeMismatch {
                field: "weight_mask",
                expected_rows: n,
                expected_cols: n,
                got_rows: weight_mask.nrows(),
                got_cols: weight_mask.ncols(),
            });
        }
        if bias_mask.len() != n {
            return Err(CircuitError::ShapeMismatch {
                field: "bias_mask",
                expected_rows: n,
                expected_cols: 1,
                got_rows: bias_mask.len(),
                got_cols: 1,
            });
        }
        for row in 0..n {
            for col in 0..n {
                let value = weight_mask[(row, col)];
                if !value.is_finite() || value < 0.0 {
                    return Err(CircuitError::InvalidMaskValue {
                        field: "weight_mask",
                        row,
                        col,
                        value,
                    });
                }
            }
            let value = bias_mask[row];
            if !value.is_finite() || value < 0.0 {
                return Err(CircuitError::InvalidMaskValue {
                    field: "bias_mask",
                    row,
                    col: 0,
                    value,
                });
            }
        }
        Ok(Self {
            layers,
            offsets,
            weight_mask,
            bias_mask,
        })
    }

    /// Layer sizes `n_0 … n_{L-1}`.
    pub fn layers(&self) -> &[usize] {
        &self.layers
    }

    /// Layer offsets `o_0 = 0, o_1, …, o_L = N` (length L+1); layer k is `[o_k, o_{k+1})`.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// Number of layers L.
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Total number of neurons N.
    pub fn n_neurons(&self) -> usize {
        self.offsets[self.layers.len()]
    }

    /// Neuron index range of layer `k`.
    ///
    /// # Panics
    /// If `k >= self.n_layers()` (like slice indexing).
    pub fn layer_range(&self, k: usize) -> Range<usize> {
        self.offsets[k]..self.offsets[k + 1]
    }

    /// Input neurons (layer 0; empty for a leading 0 in `layers`).
    pub fn input_range(&self) -> Range<usize> {
        self.layer_range(0)
    }

    /// Output / visible neurons (the last layer).
    pub fn output_range(&self) -> Range<usize> {
        self.layer_range(self.layers.len() - 1)
    }

    /// The N×N weight mask (row = post, column = pre, value = learning-rate factor).
    pub fn weight_mask(&self) -> &DMatrix<f64> {
        &self.weight_mask
    }

    /// The length-N bias mask (value = bias learning-rate factor, 0 = no bias).
    pub fn bias_mask(&self) -> &DVector<f64> {
        &self.bias_mask
    }

    /// Number of synapses (nonzero entries of the weight mask). Not the reference's "sum of
    /// factors" figure.
    pub fn n_synapses(&self) -> usize {
        self.weight_mask.iter().filter(|&&v| v != 0.0).count()
    }

    /// The layer pairs `(post_layer, pre_layer)` whose mask block (rows of `post_layer` ×
    /// columns of `pre_layer`) contains at least one nonzero entry, sorted by `post_layer`,
    /// then `pre_layer`. Layers of size 0 never appear.
    ///
    /// Weights can be stored as one dense block per returned pair; every synapse of the mask
    /// lies in one of these blocks.
    pub fn blocks(&self) -> Vec<(usize, usize)> {
        let l = self.layers.len();
        let mut out = Vec::new();
        for post in 0..l {
            for pre in 0..l {
                let (rows, cols) = self.block_ranges(post, pre);
                let nonzero = rows
                    .clone()
                    .any(|i| cols.clone().any(|j| self.weight_mask[(i, j)] != 0.0));
                if nonzero {
                    out.push((post, pre));
                }
            }
        }
        out
    }

    /// Row range (neurons of `post_layer`) and column range (neurons of `pre_layer`) of a
    /// mask block.
    ///
    /// # Panics
    /// If either layer index is `>= self.n_layers()`.
    pub fn block_ranges(
        &self,
        post_layer: usize,
        pre_layer: usize,
    ) -> (Range<usize>, Range<usize>) {
        (self.layer_range(post_layer), self.layer_range(pre_layer))
    }

    /// Consumes the topology and returns `(layers, weight_mask, bias_mask)`.
    pub fn into_parts(self) -> (Vec<usize>, DMatrix<f64>, DVector<f64>) {
        (self.layers, self.weight_mask, self.bias_mask)
    }
}
