//! Replay of reference trajectories (the golden fixture schema of `shared/golden/README.md` §2).
//!
//! A fixture holds a configuration, the exact initial state and, for every step, the input, the
//! target, the train flag, optional β changes, and the state after the step. [`replay_file`] builds
//! a [`Simulator`] with the reference compatibility options the configuration names, feeds the same
//! inputs, and reports the worst normwise relative error per field:
//! `max_i |a_i − ref_i| / max_i |ref_i|` over the whole vector or matrix (golden README §6). Where
//! the reference array is all zero, the absolute difference is scaled so that 1e-12 counts as the
//! tolerance.

use lagrange_circuits::interneurons::{
    FixtureInterneuronConfig, FixtureInterneuronState, pathway_from_fixture_state,
};
use lagrange_core::{
    Activation, Compat, CoreError, InputMode, Layers, Method, ModelConfig, Network,
    PredictorFormula, Real, Simulator, Solver, State,
};
use nalgebra::{DMatrix, DVector};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// Why a fixture cannot be replayed.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not JSON, or not the fixture schema.
    #[error("{path}: field `{field}`: {reason}")]
    Schema {
        /// File.
        path: String,
        /// JSON path of the offending field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A feature the configuration asks for is not available.
    #[error("{path}: unsupported: {reason}")]
    Unsupported {
        /// File.
        path: String,
        /// What is missing.
        reason: String,
    },
    /// The simulation itself failed.
    #[error("{path}: step {step}: {source}")]
    Core {
        /// File.
        path: String,
        /// Step index.
        step: usize,
        /// Cause.
        source: CoreError,
    },
}

/// The outcome of one replay.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Fixture name (or file name).
    pub name: String,
    /// Number of steps replayed.
    pub steps: usize,
    /// Worst normwise relative error per field, with the step where it occurred.
    pub worst: BTreeMap<String, (f64, usize)>,
    /// Samples solved by the structured solver / dense Cholesky / dense LU, and Cholesky fallbacks.
    pub solves: lagrange_core::SolveStats,
}

impl ReplayReport {
    /// The largest error over all fields.
    pub fn max_error(&self) -> f64 {
        self.worst.values().map(|v| v.0).fold(0.0, f64::max)
    }
    /// Whether every field stays within `tol` at every step.
    pub fn passes(&self, tol: f64) -> bool {
        self.max_error() <= tol
    }
}

struct Ctx<'a> {
    path: &'a str,
}

impl Ctx<'_> {
    fn schema(&self, field: &str, reason: impl Into<String>) -> ReplayError {
        ReplayError::Schema {
            path: self.path.to_string(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }
    fn get<'v>(&self, v: &'v Value, field: &str) -> Result<&'v Value, ReplayError> {
        let mut cur = v;
        for part in field.split('.') {
            cur = cur.get(part).ok_or_else(|| self.schema(field, "missing"))?;
        }
        Ok(cur)
    }
    fn num(&self, v: &Value, field: &str) -> Result<f64, ReplayError> {
        self.get(v, field)?
            .as_f64()
            .ok_or_else(|| self.schema(field, "not a number"))
    }
    fn boolean(&self, v: &Value, field: &str, default: bool) -> Result<bool, ReplayError> {
        match v.pointer(&format!("/{}", field.replace('.', "/"))) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.schema(field, "not a boolean")),
        }
    }
    fn vec(&self, v: &Value, field: &str) -> Result<Vec<f64>, ReplayError> {
        let a = v
            .as_array()
            .ok_or_else(|| self.schema(field, "not an array"))?;
        a.iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_f64()
                    .ok_or_else(|| self.schema(&format!("{field}[{i}]"), "not a number"))
            })
            .collect()
    }
    /// A 1-D array (one sample) or a 2-D array (rows = samples), as a rows×B matrix (columns = samples).
    fn samples(&self, v: &Value, field: &str, rows: usize) -> Result<DMatrix<f64>, ReplayError> {
        let a = v
            .as_array()
            .ok_or_else(|| self.schema(field, "not an array"))?;
        if a.first().is_some_and(|x| x.is_array()) {
            let cols: Vec<Vec<f64>> = a
                .iter()
                .enumerate()
                .map(|(i, r)| self.vec(r, &format!("{field}[{i}]")))
                .collect::<Result<_, _>>()?;
            if let Some((i, c)) = cols.iter().enumerate().find(|(_, c)| c.len() != rows) {
                return Err(self.schema(
                    &format!("{field}[{i}]"),
                    format!("length {} instead of {rows}", c.len()),
                ));
            }
            Ok(DMatrix::from_fn(rows, cols.len(), |r, c| cols[c][r]))
        } else {
            let x = self.vec(v, field)?;
            if x.len() != rows {
                return Err(self.schema(field, format!("length {} instead of {rows}", x.len())));
            }
            Ok(DMatrix::from_column_slice(rows, 1, &x))
        }
    }
    fn square(&self, v: &Value, field: &str, n: usize) -> Result<DMatrix<f64>, ReplayError> {
        let a = v
            .as_array()
            .ok_or_else(|| self.schema(field, "not an array"))?;
        if a.len() != n {
            return Err(self.schema(field, format!("{} rows instead of {n}", a.len())));
        }
        let rows: Vec<Vec<f64>> = a
            .iter()
            .enumerate()
            .map(|(i, r)| self.vec(r, &format!("{field}[{i}]")))
            .collect::<Result<_, _>>()?;
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != n) {
            return Err(self.schema(
                &format!("{field}[{i}]"),
                format!("{} columns instead of {n}", r.len()),
            ));
        }
        Ok(DMatrix::from_fn(n, n, |i, j| rows[i][j]))
    }
}

/// Normwise relative error (golden README §6).
pub fn normwise_error<T: Real>(a: &[T], reference: &[f64], tol: f64) -> f64 {
    let scale = reference.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let diff = a
        .iter()
        .zip(reference)
        .fold(0.0f64, |m, (x, r)| m.max((x.f64_() - r).abs()));
    if a.len() != reference.len() {
        return f64::INFINITY;
    }
    if scale > 0.0 {
        diff / scale
    } else {
        diff * tol / 1e-12
    }
}

/// Replays one fixture file in scalar type `T` (use `f64` for parity, `f32` to measure the
/// single-precision drift).
pub fn replay_file<T: Real>(path: &Path, tol: f64) -> Result<ReplayReport, ReplayError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
        path: p.clone(),
        source,
    })?;
    let root: Value = serde_json::from_str(&text).map_err(|e| ReplayError::Schema {
        path: p.clone(),
        field: "(file)".into(),
        reason: format!("not JSON: {e}"),
    })?;
    replay_value::<T>(&root, &p, tol)
}

/// Replays an already parsed fixture.
pub fn replay_value<T: Real>(
    root: &Value,
    path: &str,
    tol: f64,
) -> Result<ReplayReport, ReplayError> {
    let cx = Ctx { path };
    let unsupported = |reason: &str| ReplayError::Unsupported {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let cfg = cx.get(root, "config")?;
    let layers_v: Vec<usize> = cx
        .vec(cx.get(cfg, "layers")?, "config.layers")?
        .iter()
        .map(|&x| {
            if x >= 0.0 && x.fract() == 0.0 {
                Ok(x as usize)
            } else {
                Err(cx.schema("config.layers", "entries must be non-negative integers"))
            }
        })
        .collect::<Result<_, _>>()?;
    let layers = Layers::new(&layers_v).map_err(|e| cx.schema("config.layers", e.to_string()))?;
    let n = layers.n();
    let n0 = layers.n_inputs();
    let batched = cx.get(cfg, "model_kind")?.as_str() == Some("batched");
    let interneurons = cx.boolean(cfg, "interneurons.use_interneurons", false)?;
    if interneurons && batched {
        return Err(unsupported(
            "the batched reference's interneuron circuit (its W_B/W_PI derivatives are not batch-reduced, spec §15.2)",
        ));
    }
    if cx.boolean(cfg, "is_weight_constant_for_u", false)? {
        return Err(unsupported(
            "is_weight_constant_for_u = true (the m term dropped)",
        ));
    }
    if cx.boolean(cfg, "clip_weight", false)? || cx.boolean(cfg, "clip_weight_deriv", false)? {
        return Err(unsupported(
            "weight clipping (the schema carries no clip values)",
        ));
    }
    if !cx.boolean(cfg, "input_handling.use_input_neurons", true)? && n0 > 0 {
        return Err(unsupported(
            "use_input_neurons = false (inputs as nudged targets)",
        ));
    }
    let activation = match cx.get(cfg, "activation")?.as_str() {
        Some("sigmoid") => Activation::Sigmoid,
        Some("hard-sigmoid") => Activation::HardSigmoid,
        Some("relu") => Activation::Relu,
        other => return Err(unsupported(&format!("activation {other:?}"))),
    };
    let iterations = cfg
        .get("integration_method_iterations")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let (method, solver) = match cx.get(cfg, "integration_method")?.as_str() {
        Some("LU") => (Method::Exact, Solver::Lu),
        Some("CHOLESKY") => (Method::Exact, Solver::Cholesky),
        Some("EULER") if iterations > 1 => (Method::Picard { iterations }, Solver::Lu),
        Some("EULER") => (Method::Euler, Solver::Lu),
        Some("RICHARDSON_1ST") => (Method::Richardson1, Solver::Lu),
        Some("RICHARDSON_2ND") => (Method::Richardson2, Solver::Lu),
        other => return Err(unsupported(&format!("integration_method {other:?}"))),
    };
    let clamped = cx.boolean(cfg, "input_handling.clamped_inputs", !batched)?;
    let config_learn_biases = cx.boolean(cfg, "use_biases", false)?;
    let config = ModelConfig {
        tau: cx.num(cfg, "tau")?,
        dt: cx.num(cfg, "dt")?,
        activation,
        method,
        solver,
        inputs: if clamped {
            InputMode::Clamped
        } else {
            InputMode::Dynamic
        },
        lr_weights: cx.num(cfg, "lr_W")?,
        lr_biases: cfg.get("lr_b").and_then(Value::as_f64).unwrap_or(0.0),
        learn_biases: cx.boolean(cfg, "use_biases", false)?,
        compat: Compat {
            tau_on_bias_derivative: cx.boolean(cfg, "quirks.bias_deriv_tau_in_rhs", batched)?,
            predictor: if batched {
                PredictorFormula::ReferenceBatched
            } else {
                PredictorFormula::ReferenceSingle
            },
        },
        ..ModelConfig::default()
    };
    let as_rates = cx.boolean(cfg, "use_input_as_rates", false)?;

    let init = cx.get(root, "initial_state")?;
    let w = cx.square(cx.get(init, "W")?, "initial_state.W", n)?;
    let mask = cx.square(cx.get(init, "weight_mask")?, "initial_state.weight_mask", n)?;
    let b = DVector::from_vec(cx.vec(cx.get(init, "b")?, "initial_state.b")?);
    let bm = DVector::from_vec(cx.vec(cx.get(init, "bias_mask")?, "initial_state.bias_mask")?);
    let net = Network::from_dense(layers.clone(), &w, &mask, b, bm)
        .map_err(|e| cx.schema("initial_state", e.to_string()))?;
    let u = cx.samples(cx.get(init, "u")?, "initial_state.u", n)?;
    let bsz = u.ncols();
    let udot = cx.samples(cx.get(init, "udot")?, "initial_state.udot", n)?;
    if udot.ncols() != bsz {
        return Err(cx.schema("initial_state.udot", "batch size differs from u"));
    }
    let prev_input = if n0 > 0 {
        let x = cx.samples(cx.get(init, "prev_input")?, "initial_state.prev_input", n0)?;
        Some(broadcast(x, bsz, &cx, "initial_state.prev_input")?)
    } else {
        Some(DMatrix::zeros(0, bsz))
    };
    let prev_target = {
        let v = cx.get(init, "prev_target")?;
        let len = first_len(v);
        let y = cx.samples(v, "initial_state.prev_target", len)?;
        let y = broadcast(y, bsz, &cx, "initial_state.prev_target")?;
        if len > n {
            return Err(cx.schema(
                "initial_state.prev_target",
                format!("length {len} exceeds N = {n}"),
            ));
        }
        let mut full = DMatrix::zeros(n, bsz);
        full.rows_mut(n - len, len).copy_from(&y);
        Some(full)
    };
    let mut sim = Simulator::<T>::new(net.cast::<T>(), config, bsz)
        .map_err(|e| cx.schema("config", e.to_string()))?;
    let state = State {
        u: u.map(T::c),
        udot: udot.map(T::c),
        prev_input: prev_input.map(|m| m.map(T::c)),
        prev_target: prev_target.map(|m| m.map(T::c)),
        udot_trace: Vec::new(),
        step: 0,
    };
    sim.set_state(state)
        .map_err(|e| cx.schema("initial_state", e.to_string()))?;
    let beta0 = cx.get(cfg, "beta.value")?;
    let beta0 = match beta0 {
        Value::Array(_) => cx.vec(beta0, "config.beta.value")?,
        Value::Number(x) => {
            let t = layers.n_outputs();
            vec![x.as_f64().unwrap_or(0.0); t]
        }
        _ => return Err(cx.schema("config.beta.value", "not a number or array")),
    };
    set_beta(&mut sim, &beta0, &cx, "config.beta.value")?;
    let pathway = if interneurons {
        let icfg: FixtureInterneuronConfig =
            serde_json::from_value(cx.get(cfg, "interneurons")?.clone())
                .map_err(|e| cx.schema("config.interneurons", e.to_string()))?;
        let istate: FixtureInterneuronState = serde_json::from_value(init.clone())
            .map_err(|e| cx.schema("initial_state", e.to_string()))?;
        let pw = pathway_from_fixture_state::<T>(&icfg, &istate, activation, config_learn_biases)
            .map_err(|e| cx.schema("initial_state", e.to_string()))?;
        sim.set_pathway(Box::new(pw.clone()));
        Some(pw)
    } else {
        None
    };

    let steps = cx
        .get(root, "steps")?
        .as_array()
        .ok_or_else(|| cx.schema("steps", "not an array"))?;
    let mut worst: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut record = |field: &str, err: f64, k: usize| {
        let e = worst.entry(field.to_string()).or_insert((0.0, k));
        if err > e.0 || err.is_nan() {
            *e = (err, k);
        }
    };
    for (k, st) in steps.iter().enumerate() {
        let f = |name: &str| format!("steps[{k}].{name}");
        if let Some(bv) = st.get("beta") {
            let bv = match bv {
                Value::Array(_) => cx.vec(bv, &f("beta"))?,
                Value::Number(x) => vec![x.as_f64().unwrap_or(0.0); layers.n_outputs()],
                _ => return Err(cx.schema(&f("beta"), "not a number or array")),
            };
            set_beta(&mut sim, &bv, &cx, &f("beta"))?;
        }
        let x = if n0 > 0 {
            let mut x = cx.samples(cx.get(st, "input")?, &f("input"), n0)?;
            if as_rates {
                x.apply(|v| *v = activation.inverse(*v));
            }
            broadcast(x, bsz, &cx, &f("input"))?
        } else {
            DMatrix::zeros(0, bsz)
        };
        let tv = cx.get(st, "target")?;
        let tlen = first_len(tv);
        if tlen > n {
            return Err(cx.schema(&f("target"), format!("length {tlen} exceeds N = {n}")));
        }
        let y = broadcast(cx.samples(tv, &f("target"), tlen)?, bsz, &cx, &f("target"))?;
        let train = st
            .get("train")
            .and_then(Value::as_bool)
            .ok_or_else(|| cx.schema(&f("train"), "missing or not a boolean"))?;
        if let Some(pw) = &pathway {
            let flag = |k: &str| st.get(k).and_then(Value::as_bool).unwrap_or(true);
            pw.set_training(flag("train_B"), flag("train_PI"));
        }
        sim.step(&x.map(T::c), &y.map(T::c), train)
            .map_err(|source| ReplayError::Core {
                path: path.to_string(),
                step: k,
                source,
            })?;
        // compare
        let ref_u = broadcast(cx.samples(cx.get(st, "u")?, &f("u"), n)?, bsz, &cx, &f("u"))?;
        record(
            "u",
            normwise_error(sim.state().u.as_slice(), ref_u.as_slice(), tol),
            k,
        );
        let ref_ud = broadcast(
            cx.samples(cx.get(st, "udot")?, &f("udot"), n)?,
            bsz,
            &cx,
            &f("udot"),
        )?;
        record(
            "udot",
            normwise_error(sim.state().udot.as_slice(), ref_ud.as_slice(), tol),
            k,
        );
        if let Some(wv) = st.get("W") {
            let rw = cx.square(wv, &f("W"), n)?;
            record(
                "W",
                normwise_error(sim.network().dense_weights().as_slice(), rw.as_slice(), tol),
                k,
            );
        }
        if let Some(bv) = st.get("b") {
            let rb = cx.vec(bv, &f("b"))?;
            record(
                "b",
                normwise_error(sim.network().biases.as_slice(), &rb, tol),
                k,
            );
        }
        if let Some(pw) = &pathway {
            for (field, got) in [("W_B", pw.w_b()), ("W_PI", pw.w_pi())] {
                if let Some(v) = st.get(field) {
                    let r = cx.square(v, &f(field), n)?;
                    record(field, normwise_error(got.as_slice(), r.as_slice(), tol), k);
                }
            }
            for (field, got) in [("u_I", pw.u_i()), ("udot_I", pw.udot_i())] {
                if let Some(v) = st.get(field) {
                    let r = broadcast(cx.samples(v, &f(field), n)?, bsz, &cx, &f(field))?;
                    record(field, normwise_error(got.as_slice(), r.as_slice(), tol), k);
                }
            }
            if let Some(v) = st.get("b_I") {
                let r = cx.vec(v, &f("b_I"))?;
                record("b_I", normwise_error(pw.b_i().as_slice(), &r, tol), k);
            }
        }
    }
    let name = root
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| path.to_string());
    Ok(ReplayReport {
        name,
        steps: steps.len(),
        worst,
        solves: sim.stats(),
    })
}

fn first_len(v: &Value) -> usize {
    match v.as_array() {
        Some(a) => match a.first() {
            Some(Value::Array(inner)) => inner.len(),
            _ => a.len(),
        },
        None => 0,
    }
}

fn broadcast(
    m: DMatrix<f64>,
    b: usize,
    cx: &Ctx<'_>,
    field: &str,
) -> Result<DMatrix<f64>, ReplayError> {
    if m.ncols() == b {
        Ok(m)
    } else if m.ncols() == 1 {
        Ok(DMatrix::from_fn(m.nrows(), b, |r, _| m[(r, 0)]))
    } else {
        Err(cx.schema(
            field,
            format!("batch size {} differs from the state's {b}", m.ncols()),
        ))
    }
}

fn set_beta<T: Real>(
    sim: &mut Simulator<T>,
    beta: &[f64],
    cx: &Ctx<'_>,
    field: &str,
) -> Result<(), ReplayError> {
    let b: Vec<T> = beta.iter().map(|&x| T::c(x)).collect();
    sim.set_beta(&b)
        .map_err(|e| cx.schema(field, e.to_string()))
}
