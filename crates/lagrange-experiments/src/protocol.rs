//! A small API for people who train their own nets on top of [`Simulator`]:
//!
//! * [`fade_weights`]: the reference's logistic cross-fade between consecutive samples (spec §8.1).
//! * [`Presenter`]: `fit` and `predict` over a stream of samples (spec §8.2): each batch is
//!   presented for `steps` time steps, optionally faded in from the previous batch; no state is
//!   reset between samples; the readout is the output voltage after the last step.
//! * [`Stream`]: a streaming step for time series: push one sample with its per-channel nudging
//!   strengths, read the voltages of the visible neurons.
//!
//! Matrices have one column per sample.

use lagrange_core::{CoreError, Real, Simulator};
use nalgebra::DMatrix;

/// Fade weights of a presentation of `n` steps: `1/(1 + exp(−ξ_i/4))` with
/// `ξ = linspace(−20, 90, n)`. For n = 100 the weight is ≈ 0.0067 at i = 0 and exactly 0.5 at
/// i = 18.
pub fn fade_weights(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let xi = if n > 1 {
                -20.0 + 110.0 * i as f64 / (n - 1) as f64
            } else {
                -20.0
            };
            1.0 / (1.0 + (-xi / 4.0).exp())
        })
        .collect()
}

/// Fade weights of a presentation of `n` steps with a logistic of width `width` steps:
/// `1/(1 + exp(−(i − 5·width)/width))`, so that, as with [`fade_weights`] (whose width is
/// 3.6 steps at n = 100), every presentation starts at weight σ(−5) ≈ 0.0067 and the weight
/// is 0.5 at step 5·width. A wider fade changes the input more slowly than the reference's,
/// whose 3.6 ms is faster than τ = 10 ms.
pub fn fade_weights_width(n: usize, width: f64) -> Vec<f64> {
    (0..n)
        .map(|i| 1.0 / (1.0 + (-(i as f64 - 5.0 * width) / width).exp()))
        .collect()
}

/// The fade weights of [`PresentOptions`]: [`fade_weights_width`] with `width`, or the
/// reference's [`fade_weights`] when it is `None`.
pub fn fade_weights_for(n: usize, width: Option<f64>) -> Vec<f64> {
    match width {
        Some(w) => fade_weights_width(n, w),
        None => fade_weights(n),
    }
}

/// Options of [`Presenter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresentOptions {
    /// Time steps per presentation.
    pub steps: usize,
    /// Cross-fade from the previous batch (spec §8.1); `false` holds each sample constant.
    pub fade: bool,
    /// β on the outputs while fitting (predict uses 0).
    pub beta: f64,
    /// Width in steps of the fade's logistic ([`fade_weights_width`]); `None`: the reference's
    /// ([`fade_weights`]).
    pub fade_width: Option<f64>,
}

impl Default for PresentOptions {
    fn default() -> Self {
        PresentOptions {
            steps: 100,
            fade: true,
            beta: 0.1,
            fade_width: None,
        }
    }
}

/// Presents batches of samples to a simulator: the `fit`/`predict` protocol of the reference
/// (spec §8.2), keeping the previous batch for the fade.
#[derive(Debug, Clone)]
pub struct Presenter<T: Real> {
    /// Options.
    pub options: PresentOptions,
    weights: Vec<T>,
    /// The previous batch's input and target (the fade starts from them).
    pub previous: Option<(DMatrix<T>, DMatrix<T>)>,
}

impl<T: Real> Presenter<T> {
    /// A presenter with no previous batch.
    pub fn new(options: PresentOptions) -> Self {
        Presenter {
            weights: fade_weights_for(options.steps, options.fade_width)
                .into_iter()
                .map(T::c)
                .collect(),
            options,
            previous: None,
        }
    }

    /// Forgets the previous batch: the next batch starts unfaded (the reference does this at the
    /// start of every `fit` call).
    pub fn reset_fade(&mut self) {
        self.previous = None;
    }

    /// Presents one batch (x: n_in×B, y: n_out×B or 0×B) for `steps` steps, calling `on_step`
    /// after each step with the presented (faded) input and target; returns the output voltages
    /// after the last step (n_out×B).
    pub fn present_with(
        &mut self,
        sim: &mut Simulator<T>,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
        train: bool,
        mut on_step: impl FnMut(&DMatrix<T>, &DMatrix<T>),
    ) -> Result<DMatrix<T>, CoreError> {
        let b = x.ncols();
        if sim.state().batch() != b {
            sim.retile(b)?;
        }
        let prev = match &self.previous {
            Some((px, py))
                if self.options.fade && px.shape() == x.shape() && py.shape() == y.shape() =>
            {
                Some((px.clone(), py.clone()))
            }
            _ => None,
        };
        let mut xi = x.clone();
        let mut yi = y.clone();
        for s in 0..self.options.steps {
            if let Some((px, py)) = &prev {
                let w = self.weights[s];
                // slices: nalgebra's zip_zip_apply walks element iterators (several times slower)
                for (o, p, n) in [(&mut xi, px, x), (&mut yi, py, y)] {
                    for ((o, &a), &n) in o
                        .as_mut_slice()
                        .iter_mut()
                        .zip(p.as_slice())
                        .zip(n.as_slice())
                    {
                        *o = a + (n - a) * w;
                    }
                }
            }
            sim.step(&xi, &yi, train)?;
            on_step(&xi, &yi);
        }
        self.previous = Some((x.clone(), y.clone()));
        let n = sim.network().n();
        let t = sim.network().layers().n_outputs();
        Ok(sim.state().u.rows(n - t, t).clone_owned())
    }

    /// Trains on `x` (n_in×S) with targets `y` (n_out×S) in consecutive batches of `batch`
    /// samples with β on the outputs; the tail that does not fill a batch is dropped (the
    /// reference's `drop_last`). The first batch starts unfaded. Returns the number of samples used.
    pub fn fit(
        &mut self,
        sim: &mut Simulator<T>,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
        batch: usize,
    ) -> Result<usize, CoreError> {
        if x.ncols() != y.ncols() {
            return Err(CoreError::SizeMismatch {
                what: "fit targets (columns)".into(),
                expected: x.ncols().to_string(),
                found: y.ncols().to_string(),
            });
        }
        sim.set_beta_outputs(T::c(self.options.beta));
        self.reset_fade();
        let nb = x.ncols() / batch.max(1);
        for k in 0..nb {
            let xb = x.columns(k * batch, batch).clone_owned();
            let yb = y.columns(k * batch, batch).clone_owned();
            self.present_with(sim, &xb, &yb, true, |_, _| {})?;
        }
        Ok(nb * batch)
    }

    /// Predicts the output voltages (n_out×S) of `x` (n_in×S) with β = 0, in batches of `batch`;
    /// a tail that does not fill a batch is padded by repeating its last sample (the padded
    /// outputs are discarded), so every sample is predicted.
    pub fn predict(
        &mut self,
        sim: &mut Simulator<T>,
        x: &DMatrix<T>,
        batch: usize,
    ) -> Result<DMatrix<T>, CoreError> {
        sim.set_beta_outputs(T::c(0.0));
        let t = sim.network().layers().n_outputs();
        let s = x.ncols();
        let batch = batch.max(1);
        let mut out = DMatrix::zeros(t, s);
        let mut k = 0;
        while k < s {
            let m = batch.min(s - k);
            let xb = DMatrix::from_fn(x.nrows(), batch, |r, c| x[(r, k + c.min(m - 1))]);
            // the target is irrelevant with β = 0; keep its shape for the fade memory
            let yb = DMatrix::zeros(t, batch);
            let o = self.present_with(sim, &xb, &yb, false, |_, _| {})?;
            out.columns_mut(k, m).copy_from(&o.columns(0, m));
            k += m;
        }
        Ok(out)
    }
}

/// Index of the largest entry of each column (ties: the first, numpy's convention).
pub fn argmax_columns<T: Real>(m: &DMatrix<T>) -> Vec<usize> {
    (0..m.ncols())
        .map(|c| {
            let col = m.column(c);
            let mut best = 0;
            for r in 1..col.len() {
                if col[r] > col[best] {
                    best = r;
                }
            }
            best
        })
        .collect()
}

/// A streaming interface for time series (batch 1): push one sample of the C visible channels
/// (placed on the last C neurons) with its per-channel nudging strengths, read the voltages.
pub struct Stream<T: Real> {
    sim: Simulator<T>,
    beta: Vec<T>,
    empty_input: DMatrix<T>,
}

impl<T: Real> Stream<T> {
    /// Wraps a simulator (retiled to batch 1). The network may have input neurons; then
    /// [`Stream::push_with_input`] must be used.
    pub fn new(mut sim: Simulator<T>) -> Result<Self, CoreError> {
        sim.retile(1)?;
        let n0 = sim.network().layers().n_inputs();
        Ok(Stream {
            sim,
            beta: Vec::new(),
            empty_input: DMatrix::zeros(n0, 1),
        })
    }

    /// The simulator.
    pub fn simulator(&self) -> &Simulator<T> {
        &self.sim
    }
    /// Mutable simulator (e.g. to replace the network).
    pub fn simulator_mut(&mut self) -> &mut Simulator<T> {
        &mut self.sim
    }
    /// Gives the simulator back.
    pub fn into_simulator(self) -> Simulator<T> {
        self.sim
    }

    /// One step: `sample` holds the C channel values, `nudge` the β of each channel (0 = free),
    /// `train` switches plasticity. Returns the voltages of the last C neurons after the step.
    pub fn push(&mut self, sample: &[T], nudge: &[T], train: bool) -> Result<Vec<T>, CoreError> {
        let x = self.empty_input.clone();
        self.push_with_input(&x, sample, nudge, train)
    }

    /// As [`Stream::push`] with an input vector for the input neurons (n_0×1).
    pub fn push_with_input(
        &mut self,
        input: &DMatrix<T>,
        sample: &[T],
        nudge: &[T],
        train: bool,
    ) -> Result<Vec<T>, CoreError> {
        if sample.len() != nudge.len() {
            return Err(CoreError::SizeMismatch {
                what: "nudge".into(),
                expected: sample.len().to_string(),
                found: nudge.len().to_string(),
            });
        }
        if self.beta.as_slice() != nudge {
            self.sim.set_beta(nudge)?;
            self.beta = nudge.to_vec();
        }
        let y = DMatrix::from_column_slice(sample.len(), 1, sample);
        self.sim.step(input, &y, train)?;
        let n = self.sim.network().n();
        let c = sample.len();
        Ok(self
            .sim
            .state()
            .u
            .column(0)
            .rows(n - c, c)
            .iter()
            .copied()
            .collect())
    }
}
