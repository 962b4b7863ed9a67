//! Baselines reported beside the model: ridge regression (iEEG) and plain backprop on the
//! same feed-forward network and sample stream (MNIST, paper Fig. 4 "BP per dt").

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
            let mut u = w * &r;
            for mut col in u.column_iter_mut() {
                col += b;
            }
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
            let r_prev = if l == 0 {
                x.map(|v| self.activation.rho(v))
            } else {
                us[l - 1].map(|v| self.activation.rho(v))
            };
            let next_delta = if l > 0 {
                let mut d = self.weights[l].transpose() * &delta;
                d.zip_apply(&us[l - 1], |dv, u| *dv *= self.activation.eval(u).1);
                Some(d)
            } else {
                None
            };
            let g = &delta * r_prev.transpose();
            let scale = lr_w / b;
            self.weights[l].zip_zip_apply(&g, &self.masks[l], |w, gv, m| *w += scale * m * gv);
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
}
