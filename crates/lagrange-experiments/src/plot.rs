//! PNG plots (plotters, bitmap backend) with the bundled DejaVu Sans font
//! (`assets/DejaVuSans.ttf`, licence in `assets/LICENSE-DejaVu.txt`).

use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn ensure_font() {
    REGISTER.call_once(|| {
        // registration can only fail on an invalid font file, which is bundled
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

const COLORS: [RGBColor; 6] = [
    RGBColor(178, 24, 43),
    RGBColor(33, 102, 172),
    RGBColor(27, 120, 55),
    RGBColor(118, 42, 131),
    RGBColor(224, 130, 20),
    RGBColor(90, 90, 90),
];

/// One named line of a [`line_chart`].
pub struct Series<'a> {
    /// Legend label.
    pub name: &'a str,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
}

fn range(points: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in points.filter(|p| p.is_finite()) {
        lo = lo.min(p);
        hi = hi.max(p);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// Whether the legend goes in the lower right corner: true when fewer points fall into the
/// lower third than into the upper third of the right half of the plotting area (a falling
/// cost curve leaves the top free, a rising accuracy curve the bottom).
fn legend_below(series: &[Series], (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> bool {
    let (mut upper, mut lower) = (0usize, 0usize);
    let xm = 0.5 * (x0 + x1);
    let (ylo, yhi) = (y0 + (y1 - y0) / 3.0, y1 - (y1 - y0) / 3.0);
    for &(x, y) in series.iter().flat_map(|s| &s.points) {
        if x >= xm {
            upper += usize::from(y > yhi);
            lower += usize::from(y < ylo);
        }
    }
    lower < upper
}

/// Tick label for the x axis: whole numbers without a decimal point, others with at most three
/// decimals; with `whole_only` (the x values are epochs) a fractional tick gets no label.
fn x_tick(x: f64, whole_only: bool) -> String {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * r.abs().max(1.0) && r.abs() < 1e15 {
        format!("{:.0}", r + 0.0)
    } else if whole_only {
        String::new()
    } else {
        let t = format!("{x:.3}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A line chart with a legend, written as PNG (800×500). The y range is extended above (or, when
/// the lower right is emptier, below) the data to make room for the legend, which then covers no
/// curve; whole-number x values (epochs) get whole-number ticks.
pub fn line_chart(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    ensure_font();
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (x0, x1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (mut y0, mut y1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    // room for the legend (about 20 px per line in a plotting area of about 400 px) beyond the
    // data, on the side where fewer points lie, so that it never covers a curve
    let below = legend_below(series, (x0, x1), (y0, y1));
    let share = ((series.len() as f64 * 20.0 + 16.0) / 400.0).min(0.5);
    let room = share / (1.0 - share) * (y1 - y0);
    if below {
        y0 -= room;
    } else {
        y1 += room;
    }
    let whole_x = series
        .iter()
        .flat_map(|s| &s.points)
        .all(|p| p.0.fract() == 0.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(xlabel)
        .y_desc(ylabel)
        .x_label_formatter(&|x| x_tick(*x, whole_x))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(err)?;
    }
    let corner = if below {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    };
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A confusion matrix (rows = true class, columns = predicted class) as a heat map with counts.
pub fn confusion_matrix(path: &Path, title: &str, counts: &[[u32; 10]; 10]) -> anyhow::Result<()> {
    ensure_font();
    let root = BitMapBackend::new(path, (620, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(40)
        .build_cartesian_2d(0i32..10i32, 0i32..10i32)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted (label at the cell's left edge)")
        .y_desc("true (label at the cell's lower edge)")
        .x_labels(10)
        .y_labels(10)
        .y_label_formatter(&|v| {
            if (0..=9).contains(v) {
                format!("{}", 9 - v)
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (t, row) in counts.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            let v = (n as f64 / max).sqrt();
            let shade = (255.0 * (1.0 - v)) as u8;
            let (x, y) = (p as i32, 9 - t as i32);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1, y + 1)],
                    RGBColor(shade, shade, 255).filled(),
                )))
                .map_err(err)?;
            let color = if v > 0.6 { WHITE } else { BLACK };
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{n}"),
                    (x, y + 1),
                    ("sans-serif", 12).into_font().color(&color),
                )))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

/// One panel of [`series_panels`]: a channel's recording and the model's voltage before and
/// after training.
pub struct Panel {
    /// Channel name.
    pub name: String,
    /// Recorded (target) values.
    pub target: Vec<f64>,
    /// Voltage before training (epoch 0).
    pub before: Vec<f64>,
    /// Voltage after training.
    pub after: Vec<f64>,
}

/// Stacked panels of free channels (the reference's series plot), time axis in ms. `split_ms`
/// (the end of the training window) is marked by a grey vertical line in every panel; the
/// legends sit in a band right of the data.
pub fn series_panels(
    path: &Path,
    title: &str,
    dt_ms: f64,
    split_ms: Option<f64>,
    panels: &[Panel],
) -> anyhow::Result<()> {
    ensure_font();
    let h = 60 + 130 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (1200, h)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, rest) = root.split_vertically(40);
    top.draw(&Text::new(title, (10, 10), ("sans-serif", 20)))
        .map_err(err)?;
    let areas = rest.split_evenly((panels.len().max(1), 1));
    for (i, (p, area)) in panels.iter().zip(areas.iter()).enumerate() {
        let n = p.target.len().max(p.after.len()).max(1);
        let end_ms = n as f64 * dt_ms;
        let (y0, y1) = range(p.target.iter().chain(&p.before).chain(&p.after).copied());
        let mut chart = ChartBuilder::on(area)
            .margin(4)
            .x_label_area_size(if i + 1 == panels.len() { 30 } else { 14 })
            .y_label_area_size(50)
            // 15 % more time axis than data: the legend's band
            .build_cartesian_2d(0.0..1.15 * end_ms, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_label_formatter(&|x| {
                if *x <= end_ms {
                    x_tick(*x, false)
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 11))
            .x_desc(if i + 1 == panels.len() {
                "time (ms)"
            } else {
                ""
            })
            .draw()
            .map_err(err)?;
        if let Some(t) = split_ms.filter(|t| *t > 0.0 && *t < end_ms) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(t, y0), (t, y1)],
                    BLACK.mix(0.35).stroke_width(1),
                )))
                .map_err(err)?;
        }
        let xs = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(k, &y)| (k as f64 * dt_ms, y))
                .collect()
        };
        chart
            .draw_series(LineSeries::new(
                xs(&p.target),
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("{} recording", p.name))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
        chart
            .draw_series(LineSeries::new(
                xs(&p.before),
                COLORS[1].mix(0.7).stroke_width(1),
            ))
            .map_err(err)?
            .label("before training")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], COLORS[1]));
        chart
            .draw_series(LineSeries::new(xs(&p.after), COLORS[0].stroke_width(2)))
            .map_err(err)?
            .label("after training")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], COLORS[0]));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(f: impl Fn(f64) -> f64) -> Vec<Series<'static>> {
        let points = (0..20).map(|e| (e as f64, f(e as f64))).collect();
        vec![Series { name: "c", points }]
    }

    #[test]
    fn the_legend_avoids_the_curves_on_the_right() {
        // a falling cost: the top right is free, the legend stays up
        let falling = curve(|e| 2.0 * (-e / 3.0).exp());
        assert!(!legend_below(&falling, (0.0, 19.0), (0.0, 2.0)));
        // a rising accuracy: the bottom right is free
        let rising = curve(|e| 1.0 - (-e / 3.0).exp());
        assert!(legend_below(&rising, (0.0, 19.0), (0.0, 1.0)));
    }

    #[test]
    fn x_ticks_are_short_and_epochs_whole() {
        assert_eq!(x_tick(5.0, true), "5");
        assert_eq!(x_tick(0.0, false), "0");
        assert_eq!(x_tick(0.30000000000000004, true), "");
        assert_eq!(x_tick(0.30000000000000004, false), "0.3");
        assert_eq!(x_tick(2.5, false), "2.5");
        assert_eq!(x_tick(-1.25, false), "-1.25");
        // a tick that misses a whole number by rounding is still labelled as one
        assert_eq!(x_tick(0.9999999999999999, true), "1");
        assert_eq!(x_tick(-0.0000000000001, true), "0");
    }

    #[test]
    fn a_line_chart_is_written_as_png() {
        let dir = std::env::temp_dir().join(format!("lagrange-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cost.png");
        line_chart(&path, "t", "epoch", "cost", &curve(|e| 1.0 / (1.0 + e))).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
