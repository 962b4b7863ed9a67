//! Network structure: populations (layers) joined by dense projection blocks.
//!
//! The reference stores one N×N weight matrix. Here a network is a list of layers (contiguous
//! neuron index ranges) and a list of [`Projection`]s, each a dense `n_post × n_pre` block with its
//! own learning-rate mask. A layered net therefore never touches the zero blocks of W, and a fully
//! recurrent net is a single population with one self-projection.

use crate::error::CoreError;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// Layer sizes and their offsets in the global neuron index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layers {
    sizes: Vec<usize>,
    offsets: Vec<usize>,
}

impl Layers {
    /// Layer sizes `n_0 … n_(L−1)`. Layer 0 holds the input neurons (it may be empty, as in the
    /// iEEG nets `[0, 40, 56]`); the last layer holds the output neurons.
    pub fn new(sizes: &[usize]) -> Result<Self, CoreError> {
        if sizes.len() < 2 {
            return Err(CoreError::config(
                "layers",
                "needs at least two entries (input and output layer)",
            ));
        }
        if sizes[1..].contains(&0) {
            return Err(CoreError::config(
                "layers",
                "only the input layer (index 0) may be empty",
            ));
        }
        let mut offsets = vec![0];
        for &s in sizes {
            offsets.push(offsets.last().copied().unwrap_or(0) + s);
        }
        Ok(Layers {
            sizes: sizes.to_vec(),
            offsets,
        })
    }
    /// Total number of neurons N.
    pub fn n(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }
    /// Number of layers L.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }
    /// Always false (a network has at least two layers); present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }
    /// Layer sizes.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }
    /// Offsets; `offsets()[k]..offsets()[k+1]` is layer k.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }
    /// Size of layer k.
    pub fn size(&self, k: usize) -> usize {
        self.sizes[k]
    }
    /// First neuron of layer k.
    pub fn offset(&self, k: usize) -> usize {
        self.offsets[k]
    }
    /// Number of input neurons n_0.
    pub fn n_inputs(&self) -> usize {
        self.sizes[0]
    }
    /// Number of output neurons T = n_(L−1).
    pub fn n_outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }
    /// The layer that contains neuron `i`.
    pub fn layer_of(&self, i: usize) -> usize {
        self.offsets[1..]
            .iter()
            .position(|&o| i < o)
            .unwrap_or(self.sizes.len() - 1)
    }
}

/// A dense block of synapses from layer `pre` onto layer `post`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection<T: Real> {
    /// Postsynaptic layer.
    pub post: usize,
    /// Presynaptic layer.
    pub pre: usize,
    /// Weights, `n_post × n_pre` (row = postsynaptic neuron).
    pub weights: DMatrix<T>,
    /// Per-synapse learning-rate factor; 0 means "no plastic synapse" (spec §1.3).
    pub mask: DMatrix<T>,
}

/// Layers, projections and biases: everything that is learned or fixed about the circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network<T: Real> {
    layers: Layers,
    projections: Vec<Projection<T>>,
    /// Biases b (length N).
    pub biases: DVector<T>,
    /// Bias learning-rate factors m_b (length N).
    pub bias_mask: DVector<T>,
}

impl<T: Real> Network<T> {
    /// Builds a network from projection blocks, checking every shape.
    pub fn new(
        layers: Layers,
        projections: Vec<Projection<T>>,
        biases: DVector<T>,
        bias_mask: DVector<T>,
    ) -> Result<Self, CoreError> {
        let n = layers.n();
        for (i, p) in projections.iter().enumerate() {
            if p.post >= layers.len() || p.pre >= layers.len() {
                return Err(CoreError::config(
                    &format!("projections[{i}]"),
                    format!(
                        "layer index ({} <- {}) out of range for {} layers",
                        p.post,
                        p.pre,
                        layers.len()
                    ),
                ));
            }
            let shape = (layers.size(p.post), layers.size(p.pre));
            if p.weights.shape() != shape {
                return Err(CoreError::size(
                    &format!("projections[{i}].weights"),
                    format!("{shape:?}"),
                    format!("{:?}", p.weights.shape()),
                ));
            }
            if p.mask.shape() != shape {
                return Err(CoreError::size(
                    &format!("projections[{i}].mask"),
                    format!("{shape:?}"),
                    format!("{:?}", p.mask.shape()),
                ));
            }
            if projections[..i]
                .iter()
                .any(|q| q.post == p.post && q.pre == p.pre)
            {
                return Err(CoreError::config(
                    &format!("projections[{i}]"),
                    "duplicate (post, pre) block",
                ));
            }
        }
        if biases.len() != n {
            return Err(CoreError::size("biases", n, biases.len()));
        }
        if bias_mask.len() != n {
            return Err(CoreError::size("bias_mask", n, bias_mask.len()));
        }
        Ok(Network {
            layers,
            projections,
            biases,
            bias_mask,
        })
    }

    /// Splits a dense N×N weight matrix and mask into projection blocks. A block is kept when its
    /// mask or its weights have any nonzero entry.
    pub fn from_dense(
        layers: Layers,
        weights: &DMatrix<T>,
        mask: &DMatrix<T>,
        biases: DVector<T>,
        bias_mask: DVector<T>,
    ) -> Result<Self, CoreError> {
        let n = layers.n();
        if weights.shape() != (n, n) {
            return Err(CoreError::size(
                "weights",
                format!("({n}, {n})"),
                format!("{:?}", weights.shape()),
            ));
        }
        if mask.shape() != (n, n) {
            return Err(CoreError::size(
                "weight_mask",
                format!("({n}, {n})"),
                format!("{:?}", mask.shape()),
            ));
        }
        let zero = T::c(0.0);
        let mut projections = Vec::new();
        for post in 0..layers.len() {
            for pre in 0..layers.len() {
                let (np, nq) = (layers.size(post), layers.size(pre));
                if np == 0 || nq == 0 {
                    continue;
                }
                let (op, oq) = (layers.offset(post), layers.offset(pre));
                let w = weights.view((op, oq), (np, nq)).clone_owned();
                let m = mask.view((op, oq), (np, nq)).clone_owned();
                if w.iter().any(|&x| x != zero) || m.iter().any(|&x| x != zero) {
                    projections.push(Projection {
                        post,
                        pre,
                        weights: w,
                        mask: m,
                    });
                }
            }
        }
        Network::new(layers, projections, biases, bias_mask)
    }

    /// The layer structure.
    pub fn layers(&self) -> &Layers {
        &self.layers
    }
    /// Total number of neurons N.
    pub fn n(&self) -> usize {
        self.layers.n()
    }
    /// The projection blocks.
    pub fn projections(&self) -> &[Projection<T>] {
        &self.projections
    }
    /// Mutable projection blocks (shapes must not be changed).
    pub fn projections_mut(&mut self) -> &mut [Projection<T>] {
        &mut self.projections
    }
    /// The layers and the mutable projection blocks at once (shapes must not be changed).
    pub(crate) fn layers_and_projections_mut(&mut self) -> (&Layers, &mut [Projection<T>]) {
        (&self.layers, &mut self.projections)
    }
    /// Number of synapses with a nonzero learning-rate factor (a count, not the reference's sum of factors).
    pub fn n_synapses(&self) -> usize {
        self.projections
            .iter()
            .map(|p| p.mask.iter().filter(|&&m| m != T::c(0.0)).count())
            .sum()
    }
    /// Number of stored weights (sum of block sizes), the cost unit of one product with W.
    pub fn n_stored_weights(&self) -> usize {
        self.projections.iter().map(|p| p.weights.len()).sum()
    }
    /// `true` when every projection goes from a lower to a strictly higher layer, so that I − W D
    /// is block unit-lower-triangular (spec §16.3).
    pub fn is_feedforward(&self) -> bool {
        self.projections.iter().all(|p| p.post > p.pre)
    }
    /// `true` when no projection ends on the input layer.
    pub fn inputs_have_no_afferents(&self) -> bool {
        self.projections.iter().all(|p| p.post != 0)
    }
    /// The dense N×N weight matrix (for export and tests).
    pub fn dense_weights(&self) -> DMatrix<T> {
        self.dense(|p| &p.weights)
    }
    /// The dense N×N mask.
    pub fn dense_mask(&self) -> DMatrix<T> {
        self.dense(|p| &p.mask)
    }
    fn dense(&self, f: impl Fn(&Projection<T>) -> &DMatrix<T>) -> DMatrix<T> {
        let n = self.n();
        let mut out = DMatrix::zeros(n, n);
        for p in &self.projections {
            let (op, oq) = (self.layers.offset(p.post), self.layers.offset(p.pre));
            out.view_mut((op, oq), f(p).shape()).copy_from(f(p));
        }
        out
    }
    /// Converts the scalar type (f64 → f32 and back).
    pub fn cast<U: Real>(&self) -> Network<U> {
        let c = |m: &DMatrix<T>| m.map(|x| U::c(x.f64_()));
        Network {
            layers: self.layers.clone(),
            projections: self
                .projections
                .iter()
                .map(|p| Projection {
                    post: p.post,
                    pre: p.pre,
                    weights: c(&p.weights),
                    mask: c(&p.mask),
                })
                .collect(),
            biases: self.biases.map(|x| U::c(x.f64_())),
            bias_mask: self.bias_mask.map(|x| U::c(x.f64_())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_round_trip_and_blocks() {
        let layers = Layers::new(&[2, 3, 1]).unwrap();
        let mut w = DMatrix::<f64>::zeros(6, 6);
        let mut m = DMatrix::<f64>::zeros(6, 6);
        for i in 2..5 {
            for j in 0..2 {
                w[(i, j)] = (i * 7 + j) as f64 * 0.1;
                m[(i, j)] = 1.0;
            }
        }
        m[(5, 2)] = 0.5;
        w[(5, 3)] = 0.25;
        let net =
            Network::from_dense(layers, &w, &m, DVector::zeros(6), DVector::zeros(6)).unwrap();
        assert_eq!(net.projections().len(), 2);
        assert!(net.is_feedforward());
        assert_eq!(net.dense_weights(), w);
        assert_eq!(net.dense_mask(), m);
        assert_eq!(net.n_synapses(), 7);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let layers = Layers::new(&[2, 3]).unwrap();
        let e = Network::<f64>::from_dense(
            layers.clone(),
            &DMatrix::zeros(4, 4),
            &DMatrix::zeros(5, 5),
            DVector::zeros(5),
            DVector::zeros(5),
        );
        assert!(matches!(e, Err(CoreError::SizeMismatch { .. })));
        assert!(Layers::new(&[3]).is_err());
        assert!(Layers::new(&[3, 0, 2]).is_err());
        let p = Projection {
            post: 1,
            pre: 0,
            weights: DMatrix::<f64>::zeros(2, 2),
            mask: DMatrix::zeros(2, 2),
        };
        assert!(Network::new(layers, vec![p], DVector::zeros(5), DVector::zeros(5)).is_err());
    }
}
