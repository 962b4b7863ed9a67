//! Baselines reported beside the model: ridge regression (iEEG) and plain backprop on the
//! same feed-forward network and sample stream (MNIST, paper Fig. 4 "BP per dt").

use lagrange_core::batched::{outer_update, par_cols};
use lagrange_core::{Activation, Network, Real};
use nalgebra::{DMatrix, DVector};

/// A ridge regression `y ≈ W x + c` (x, y column vectors), fitted on centred data.
#[derive(Debug, Clone, PartialEq)]
pub struct Ridge {
    /// Coefficients, q×p.
    pub w: DMatrix<f64>,
    /// Intercept, length q.
    pub c: DVector<f64>,
}

impl Ridge {
    /// Fits on `x` (p×T) and `y` (q×T) with penalty `lambda` (≥ 0) on the coefficients (not the
    /// intercept): W = Y_c X_cᵀ (X_c X_cᵀ + λI)⁻¹.
    pub fn fit(x: &DMatrix<f64>, y: &DMatrix<f64>, lambda: f64) -> anyhow::Result<Ridge> {
        anyhow::ensure!(
            x.ncols() == y.ncols() && x.ncols() > 0,
            "ridge: x and y need the same (non-zero) number of columns"
        );
        let mx = x.column_mean();
        let my = y.column_mean();
        let xc = DMatrix::from_fn(x.nrows(), x.ncols(), |r, c| x[(r, c)] - mx[r]);
        let yc = DMatrix::from_fn(y.nrows(), y.ncols(), |r, c| y[(r, c)] - my[r]);
        let mut g = &xc * xc.transpose();
        for i in 0..g.nrows() {
            g[(i, i)] += lambda;
        }
        let rhs = &xc * yc.transpose(); // p×q
        let sol = g
            .clone()
            .cholesky()
            .map(|ch| ch.solve(&rhs))
            .or_else(|| g.lu().solve(&rhs))
            .ok_or_else(|| anyhow::anyhow!("ridge: singular system (use ridge_lambda > 0)"))?;
        let w = sol.transpose();
        let c = &my - &w * &mx;
        Ok(Ridge { w, c })
    }

    /// Predictions for `x` (p×T) → q×T.
    pub fn predict(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut y = &self.w * x;
        for mut col in y.column_iter_mut() {
            col += &self.c;
        }
        y
    }
}

/// Mean squared error between two equally shaped matrices.
pub fn mse(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let d = a - b;
    d.norm_squared() / d.len().max(1) as f64
}

/// Plain backprop on the feed-forward pass `u_l = W_l ρ(u_{l−1}) + b_l` (inputs: ρ(x)), with the
/// loss β·½‖y − u_L‖², so that its updates have the scale of the NLA updates
/// (Ẇ = η δ r̄ᵀ, batch mean, × dt) and the same learning-rate factors (the network's masks).
#[derive(Debug, Clone)]
pub struct Backprop<T: Real> {
    /// W_l, n_l × n_{l−1}.
    pub weights: Vec<DMatrix<T>>,
    /// Learning-rate factor per synapse.
    pub masks: Vec<DMatrix<T>>,
    /// b_l.
    pub biases: Vec<DVector<T>>,
    /// Bias factors.
    pub bias_masks: Vec<DVector<T>>,
    /// ρ.
    pub activation: Activation,
}

impl<T: Real> Backprop<T> {
    /// The same network and initial weights as a layered feed-forward NLA network.
    pub fn from_network(net: &Network<T>, activation: Activation) -> anyhow::Result<Self> {
        let l = net.layers();
        let mut weights = Vec::new();
        let mut masks = Vec::new();
        let mut biases = Vec::new();
        let mut bias_masks = Vec::new();
        for k in 1..l.len() {
            let p = net
                .projections()
                .iter()
                .find(|p| p.post == k && p.pre == k - 1)
                .ok_or_else(|| {
                    anyhow::anyhow!("backprop baseline: no projection {} → {k}", k - 1)
                })?;
            weights.push(p.weights.clone());
            masks.push(p.mask.clone());
            biases.push(net.biases.rows(l.offset(k), l.size(k)).clone_owned());
            bias_masks.push(net.bias_mask.rows(l.offset(k), l.size(k)).clone_owned());
        }
        anyhow::ensure!(
            net.projections().len() == weights.len(),
            "backprop baseline needs a layered feed-forward network"
        );
        Ok(Backprop {
            weights,
            masks,
            biases,
            bias_masks,
            activation,
        })
    }

    /// Voltages of every layer after the input (forward pass), for x (n_0×B).
    pub fn forward(&self, x: &DMatrix<T>) -> Vec<DMatrix<T>> {
        let mut us = Vec::with_capacity(self.weights.len());
        let mut r = x.map(|v| self.activation.rho(v));
        for (w, b) in self.weights.iter().zip(&self.biases) {
            let mut u = DMatrix::zeros(w.nrows(), r.ncols());
            for col in u.as_mut_slice().chunks_mut(w.nrows().max(1)) {
                col.copy_from_slice(b.as_slice());
            }
            product(&mut u, w, false, &r, T::c(1.0));
            r = u.map(|v| self.activation.rho(v));
            us.push(u);
        }
        us
    }

    /// Output voltages for x.
    pub fn predict(&self, x: &DMatrix<T>) -> DMatrix<T> {
        self.forward(x).pop().unwrap_or_else(|| x.clone())
    }

    /// One update on a batch: ΔW_l = lr_w·M_l ⊙ mean_b(δ_l r_{l−1}ᵀ), Δb_l = lr_b·m_l ⊙ mean_b δ_l,
    /// with δ_L = β(y − u_L) and δ_l = ρ′(u_l) ⊙ W_{l+1}ᵀ δ_{l+1}.
    pub fn train_step(&mut self, x: &DMatrix<T>, y: &DMatrix<T>, beta: T, lr_w: T, lr_b: T) {
        let us = self.forward(x);
        let b = T::c(x.ncols() as f64);
        let nl = self.weights.len();
        let mut delta = (y - &us[nl - 1]) * beta;
        for l in (0..nl).rev() {
            // ρ and ρ′ of the presynaptic layer in one pass (the activation chosen once)
            let pre = if l == 0 { x } else { &us[l - 1] };
            let (mut r_prev, mut slope) = (pre.clone(), pre.clone());
            self.activation.rate_slope_slices(
                pre.as_slice(),
                r_prev.as_mut_slice(),
                slope.as_mut_slice(),
            );
            let next_delta = if l > 0 {
                let mut d = DMatrix::zeros(self.weights[l].ncols(), delta.ncols());
                product(&mut d, &self.weights[l], true, &delta, T::c(1.0));
                for (dv, &s) in d.as_mut_slice().iter_mut().zip(slope.as_slice()) {
                    *dv *= s;
                }
                Some(d)
            } else {
                None
            };
            weight_update(
                &mut self.weights[l],
                &self.masks[l],
                &delta,
                &r_prev,
                lr_w / b,
            );
            let gb = delta.column_sum();
            let sb = lr_b / b;
            self.biases[l].zip_zip_apply(&gb, &self.bias_masks[l], |bv, gv, m| *bv += sb * m * gv);
            if let Some(d) = next_delta {
                delta = d;
            }
        }
    }

    /// The parameters as matrices (weights then biases as columns), for checkpoints.
    pub fn to_matrices(&self) -> Vec<DMatrix<T>> {
        let mut v: Vec<DMatrix<T>> = self.weights.clone();
        v.extend(
            self.biases
                .iter()
                .map(|b| DMatrix::from_column_slice(b.len(), 1, b.as_slice())),
        );
        v
    }

    /// Restores parameters written by [`Backprop::to_matrices`].
    pub fn set_matrices(&mut self, m: &[DMatrix<T>]) -> anyhow::Result<()> {
        let nl = self.weights.len();
        anyhow::ensure!(
            m.len() == 2 * nl,
            "baseline checkpoint has {} matrices, expected {}",
            m.len(),
            2 * nl
        );
        for l in 0..nl {
            anyhow::ensure!(
                m[l].shape() == self.weights[l].shape(),
                "baseline checkpoint: weight shape"
            );
            anyhow::ensure!(
                m[nl + l].nrows() == self.biases[l].len(),
                "baseline checkpoint: bias shape"
            );
            self.weights[l] = m[l].clone();
            self.biases[l] = m[nl + l].column(0).clone_owned();
        }
        Ok(())
    }
}

/// `out += alpha · op(w) · x` (op = identity or transpose), over the core's fixed column chunks
/// in parallel ([`par_cols`]), each chunk one sequential faer product: the bits do not depend on
/// the number of threads.
fn product<T: Real>(
    out: &mut DMatrix<T>,
    w: &DMatrix<T>,
    transpose: bool,
    x: &DMatrix<T>,
    alpha: T,
) {
    use faer::{Accum, MatMut, MatRef, Par};
    let (m, b) = out.shape();
    if m == 0 || b == 0 {
        return;
    }
    let wv = MatRef::from_column_major_slice(w.as_slice(), w.nrows(), w.ncols());
    let lhs = if transpose { wv.transpose() } else { wv };
    let xv = MatRef::from_column_major_slice(x.as_slice(), x.nrows(), b);
    par_cols(out.as_mut_slice(), m, |off, o| {
        let c = o.len() / m;
        faer::linalg::matmul::matmul(
            MatMut::from_column_major_slice_mut(o, m, c),
            Accum::Add,
            lhs,
            xv.subcols(off / m, c),
            alpha,
            Par::Seq,
        );
    });
}

/// `w += scale · M ⊙ (δ rᵀ)`: the core's [`outer_update`] (fixed column blocks of w; every entry
/// one full reduction over the batch, so the result does not depend on the number of threads),
/// with a uniform mask folded into the factor.
fn weight_update<T: Real>(
    w: &mut DMatrix<T>,
    mask: &DMatrix<T>,
    delta: &DMatrix<T>,
    r: &DMatrix<T>,
    scale: T,
) {
    use faer::MatRef;
    let (m, k) = w.shape();
    if m == 0 || k == 0 {
        return;
    }
    let m0 = mask.as_slice()[0];
    // branch-free (vectorised): an early-exit scan of the 392 000 entries of a 784×500 mask was
    // a tenth of a backprop step
    let uniform = mask.as_slice().iter().fold(true, |ok, &v| ok & (v == m0));
    let d = MatRef::from_column_major_slice(delta.as_slice(), m, delta.ncols());
    let rv = MatRef::from_column_major_slice(r.as_slice(), k, r.ncols());
    if uniform {
        outer_update(w, true, d, rv, scale * m0);
    } else {
        let mut g = DMatrix::zeros(m, k);
        outer_update(&mut g, false, d, rv, scale);
        for ((wv, &mv), &gv) in w
            .as_mut_slice()
            .iter_mut()
            .zip(mask.as_slice())
            .zip(g.as_slice())
        {
            *wv += mv * gv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ridge_recovers_a_linear_map() {
        // y = A x + c + tiny noise
        let p = 3;
        let t = 400;
        let x = DMatrix::from_fn(p, t, |r, c| {
            ((r * 31 + c * 17) % 23) as f64 / 7.0 - 1.5 + (c as f64 * 0.1 + r as f64).sin()
        });
        let a = DMatrix::from_row_slice(2, 3, &[0.5, -1.0, 2.0, 0.0, 0.3, -0.7]);
        let c = DVector::from_vec(vec![0.25, -2.0]);
        let mut y = &a * &x;
        for mut col in y.column_iter_mut() {
            col += &c;
        }
        let r = Ridge::fit(&x, &y, 1e-9).unwrap();
        assert!((r.w.clone() - a).amax() < 1e-6, "{}", r.w);
        assert!((r.c.clone() - c).amax() < 1e-6);
        assert!(mse(&r.predict(&x), &y) < 1e-12);
        // a large penalty shrinks towards the mean predictor
        let big = Ridge::fit(&x, &y, 1e9).unwrap();
        assert!(big.w.amax() < 1e-3);
    }

    /// A 5-7-3 sigmoid net with deterministic pseudo-random weights.
    fn small_net(mask: f64) -> Backprop<f64> {
        let val = |k: usize| ((k * 7919 + 13) % 101) as f64 / 101.0 - 0.5;
        let w0 = DMatrix::from_fn(7, 5, |r, c| val(r * 5 + c));
        let w1 = DMatrix::from_fn(3, 7, |r, c| val(100 + r * 7 + c));
        // a non-uniform mask on the first layer exercises the masked path
        let m0 = DMatrix::from_fn(7, 5, |r, c| if (r + c) % 3 == 0 { mask } else { 1.0 });
        Backprop {
            masks: vec![m0, DMatrix::from_element(3, 7, 1.0)],
            weights: vec![w0, w1],
            biases: vec![
                DVector::from_fn(7, |r, _| val(200 + r)),
                DVector::from_fn(3, |r, _| val(300 + r)),
            ],
            bias_masks: vec![DVector::from_element(7, 1.0), DVector::from_element(3, 1.0)],
            activation: Activation::Sigmoid,
        }
    }

    #[test]
    fn backprop_step_is_minus_the_loss_gradient() {
        // ΔW = −lr ∂/∂W mean_b β·½‖y − u_L‖², checked by central differences (f64, h = 1e-6)
        let b = 20; // two column chunks
        let x = DMatrix::from_fn(5, b, |r, c| ((r * 3 + c * 5) % 11) as f64 / 11.0);
        let y = DMatrix::from_fn(3, b, |r, c| if (c % 3) == r { 1.0 } else { 0.0 });
        let beta = 0.1;
        let loss = |net: &Backprop<f64>| {
            let u = net.predict(&x);
            0.5 * beta * (&y - u).norm_squared() / b as f64
        };
        let base = small_net(1.0);
        let mut stepped = base.clone();
        stepped.train_step(&x, &y, beta, 1.0, 1.0);
        for l in 0..2 {
            let dw = &stepped.weights[l] - &base.weights[l];
            for idx in 0..dw.len() {
                let h = 1e-6;
                let (mut p, mut m) = (base.clone(), base.clone());
                p.weights[l].as_mut_slice()[idx] += h;
                m.weights[l].as_mut_slice()[idx] -= h;
                let g = (loss(&p) - loss(&m)) / (2.0 * h);
                assert!(
                    (dw.as_slice()[idx] + g).abs() < 1e-8,
                    "layer {l} entry {idx}: {} vs {}",
                    dw.as_slice()[idx],
                    -g
                );
            }
            let db = &stepped.biases[l] - &base.biases[l];
            for idx in 0..db.len() {
                let h = 1e-6;
                let (mut p, mut m) = (base.clone(), base.clone());
                p.biases[l][idx] += h;
                m.biases[l][idx] -= h;
                let g = (loss(&p) - loss(&m)) / (2.0 * h);
                assert!((db[idx] + g).abs() < 1e-8, "bias {l}/{idx}");
            }
        }
        // the mask scales the update entry by entry
        let mut masked = small_net(0.25);
        masked.train_step(&x, &y, beta, 1.0, 1.0);
        let (d1, d4) = (
            &stepped.weights[0] - &base.weights[0],
            &masked.weights[0] - &base.weights[0],
        );
        for r in 0..7 {
            for c in 0..5 {
                let f = if (r + c) % 3 == 0 { 0.25 } else { 1.0 };
                assert!((d4[(r, c)] - f * d1[(r, c)]).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn backprop_bits_do_not_depend_on_the_thread_count() {
        let b = 40;
        let x = DMatrix::from_fn(5, b, |r, c| ((r * 3 + c * 5) % 11) as f64 / 11.0);
        let y = DMatrix::from_fn(3, b, |r, c| if (c % 3) == r { 1.0 } else { 0.0 });
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut net = small_net(0.5);
                for _ in 0..5 {
                    net.train_step(&x, &y, 0.1, 0.3, 0.3);
                }
                net.to_matrices()
            })
        };
        assert_eq!(run(1), run(2));
    }
}
