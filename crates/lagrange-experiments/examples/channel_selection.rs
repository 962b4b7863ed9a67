//! Chooses which channels of an iEEG configuration are freed at test, on its training window
//! only, and reports the ridge baseline of the choice:
//!
//! `cargo run --release -p lagrange-experiments --example channel_selection -- [CONFIG] [SPLIT_S] [FREE]`
//!
//! CONFIG (default `ieeg-recurrent`) gives the recording, its visible channels, their scaling and
//! the windows. The training window is cut at SPLIT_S seconds (default 1.5): a ridge regression
//! (λ = the config's `ridge_lambda`) is fitted on the part before the cut and validated on the
//! part after it. Greedy: among the channels still clamped, free the one whose validation MSE,
//! predicted from all other clamped channels, is lowest; repeat FREE times (default the
//! config's `free_channels`). The held-out window is not looked at during the choice; it is
//! only scored afterwards (ridge refitted on the whole training window, as the run's baseline).
//!
//! The printed channel list (clamped first, then the free ones in the order chosen) is the
//! `channels: Names([...])` of the config. The shipped iEEG configs use SPLIT_S = 1.5.

use anyhow::Context;
use lagrange_experiments::baseline::{Ridge, mse};
use lagrange_experiments::ieeg::prepare_data;
use lagrange_experiments::{RunConfig, resolve_config};
use nalgebra::DMatrix;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("ieeg-recurrent", String::as_str);
    let cfg = RunConfig::load(&resolve_config(name))?;
    let s = cfg.ieeg.as_ref().context("not an iEEG configuration")?;
    let split_s: f64 = match args.get(1) {
        Some(a) => a
            .parse()
            .with_context(|| format!("SPLIT_S: {a:?} is not a number"))?,
        None => 1.5,
    };
    let n_free: usize = match args.get(2) {
        Some(a) => a
            .parse()
            .with_context(|| format!("FREE: {a:?} is not a count"))?,
        None => s.free_channels,
    };
    let data = prepare_data(s, cfg.model.dt, None)?;
    let (c, t) = data.train.shape();
    let cut = (split_s * 1000.0 / cfg.model.dt).round() as usize;
    anyhow::ensure!(
        cut > 0 && cut < t,
        "SPLIT_S = {split_s} s cuts the {t}-step training window at step {cut}: not inside it"
    );
    anyhow::ensure!(
        n_free < c,
        "FREE = {n_free} leaves no clamped channel of {c}"
    );
    let fit = data.train.columns(0, cut).clone_owned();
    let val = data.train.columns(cut, t - cut).clone_owned();
    let lambda = s.ridge_lambda;

    let mut clamped: Vec<usize> = (0..c).collect();
    let mut freed = Vec::new();
    println!("{name}: {c} channels, fit on steps 0..{cut}, validate on {cut}..{t}, λ = {lambda}");
    for k in 0..n_free {
        let mut best: Option<(f64, usize)> = None;
        for (pos, &ch) in clamped.iter().enumerate() {
            let others: Vec<usize> = clamped.iter().copied().filter(|&o| o != ch).collect();
            let r = Ridge::fit(&fit.select_rows(&others), &fit.select_rows(&[ch]), lambda)?;
            let e = mse(
                &r.predict(&val.select_rows(&others)),
                &val.select_rows(&[ch]),
            );
            if best.is_none_or(|(b, _)| e < b) {
                best = Some((e, pos));
            }
        }
        let (e, pos) = best.context("no clamped channel left")?;
        let ch = clamped.remove(pos);
        println!(
            "  free {:>2}: {:<6} validation MSE {e:.4}",
            k + 1,
            data.names[ch]
        );
        freed.push(ch);
    }

    // the run's baseline for this choice: refitted on the whole training window
    let (tc, tf) = (
        data.train.select_rows(&clamped),
        data.train.select_rows(&freed),
    );
    let (hc, hf) = (
        data.heldout.select_rows(&clamped),
        data.heldout.select_rows(&freed),
    );
    let r = Ridge::fit(&tc, &tf, lambda)?;
    let train_mse = mse(&r.predict(&tc), &tf);
    let held_mse = mse(&r.predict(&hc), &hf);
    let in_held = mse(&Ridge::fit(&hc, &hf, lambda)?.predict(&hc), &hf);
    let zero = mse(&DMatrix::zeros(hf.nrows(), hf.ncols()), &hf);
    println!(
        "ridge on the free channels: training window {train_mse:.4}, held out {held_mse:.4} \
         (fitted on the held-out window itself {in_held:.4}, predicting 0 {zero:.4})"
    );
    let list: Vec<String> = clamped
        .iter()
        .chain(&freed)
        .map(|&k| format!("{:?}", data.names[k]))
        .collect();
    println!("channels: Names([{}])", list.join(","));
    Ok(())
}
