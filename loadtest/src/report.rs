//! A run's results: printed summary, JSON file, and an SVG chart (latency over time and distribution).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::stats::{Recorder, Second, Summary};

/// Bytes as MiB, rounded to one decimal (every memory figure of the reports).
pub fn mib(bytes: u64) -> f64 {
    (bytes as f64 / 1_048_576.0 * 10.0).round() / 10.0
}

/// One measured latency with its timeline and distribution.
#[derive(Serialize, Debug, Clone)]
pub struct Series {
    pub name: String,
    pub summary: Summary,
    pub timeline: Vec<Second>,
    pub distribution: Vec<(f64, f64)>,
}

impl Series {
    pub fn of(name: &str, r: &Recorder) -> Self {
        Self {
            name: name.to_owned(),
            summary: r.summary(),
            timeline: r.timeline(),
            distribution: r.distribution(),
        }
    }
}

/// Everything a run produced.
#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub scenario: String,
    pub label: Option<String>,
    /// Unix seconds at the start.
    pub started_at: u64,
    pub params: Value,
    /// Scalar results: counts, rates, memory.
    pub figures: BTreeMap<String, Value>,
    pub latencies: Vec<Series>,
    pub errors: BTreeMap<String, u64>,
}

impl Report {
    pub fn new(scenario: &str, label: Option<String>, params: Value) -> Self {
        Self {
            scenario: scenario.to_owned(),
            label,
            started_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            params,
            figures: BTreeMap::new(),
            latencies: Vec::new(),
            errors: BTreeMap::new(),
        }
    }

    pub fn figure(&mut self, key: &str, value: impl Into<Value>) {
        self.figures.insert(key.to_owned(), value.into());
    }

    /// A number figure, if present.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.figures.get(key).and_then(Value::as_f64)
    }

    pub fn latency(&self, name: &str) -> Option<&Summary> {
        self.latencies.iter().find(|s| s.name == name).map(|s| &s.summary)
    }

    /// Human-readable lines for the terminal.
    pub fn summary_text(&self) -> String {
        let mut out = format!("== {} {}\n", self.scenario, self.label.as_deref().unwrap_or(""));
        for (k, v) in &self.figures {
            out.push_str(&format!("  {k:<28} {v}\n"));
        }
        for s in &self.latencies {
            let m = &s.summary;
            out.push_str(&format!(
                "  {:<28} n={} p50={:.3}ms p90={:.3}ms p99={:.3}ms max={:.3}ms\n",
                s.name, m.count, m.p50_ms, m.p90_ms, m.p99_ms, m.max_ms
            ));
        }
        if self.errors.is_empty() {
            out.push_str("  errors                       none\n");
        } else {
            for (code, n) in &self.errors {
                out.push_str(&format!("  error {code:<22} {n}\n"));
            }
        }
        out
    }

    /// Writes `<scenario>[-label]-<started_at>.json` and `.svg` into `dir`; returns both paths.
    pub fn write(&self, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let stem = match &self.label {
            Some(l) => format!("{}-{}-{}", self.scenario, l, self.started_at),
            None => format!("{}-{}", self.scenario, self.started_at),
        };
        let json = dir.join(format!("{stem}.json"));
        std::fs::write(&json, serde_json::to_vec_pretty(self)?)?;
        let svg = dir.join(format!("{stem}.svg"));
        self.chart(&svg)?;
        Ok((json, svg))
    }

    fn chart(&self, path: &Path) -> anyhow::Result<()> {
        let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (top, bottom) = root.split_vertically(360);
        let colors = [&BLUE, &RED, &GREEN, &MAGENTA, &CYAN, &BLACK];
        let title = format!("{} {}", self.scenario, self.label.as_deref().unwrap_or(""));

        let t_max = self
            .latencies
            .iter()
            .flat_map(|s| s.timeline.iter().map(|p| p.t))
            .max()
            .unwrap_or(1)
            .max(1) as f64
            + 1.0;
        let y_max = self
            .latencies
            .iter()
            .flat_map(|s| s.timeline.iter().map(|p| p.p99_ms))
            .fold(0.1f64, f64::max)
            * 1.1;
        let mut c = ChartBuilder::on(&top)
            .caption(
                format!("{title}: latency over time (solid p50, dashed p99)"),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..t_max, 0f64..y_max)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        c.configure_mesh()
            .x_desc("seconds")
            .y_desc("ms")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (i, s) in self.latencies.iter().enumerate() {
            let color = colors[i % colors.len()];
            c.draw_series(LineSeries::new(
                s.timeline.iter().map(|p| (p.t as f64, p.p50_ms)),
                color,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
            c.draw_series(DashedLineSeries::new(
                s.timeline.iter().map(|p| (p.t as f64, p.p99_ms)),
                4,
                3,
                color.stroke_width(1),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;

        // Distribution: x = -log10(1 - q), so 90% → 1, 99% → 2, 99.9% → 3.
        let to_x = |q: f64| -(1.0 - q.min(0.99999)).log10();
        let d_max = self
            .latencies
            .iter()
            .flat_map(|s| s.distribution.iter().map(|p| p.1))
            .fold(0.1f64, f64::max)
            * 1.1;
        let mut d = ChartBuilder::on(&bottom)
            .caption(format!("{title}: latency by percentile"), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..5f64, 0f64..d_max)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        d.configure_mesh()
            .x_desc("percentile")
            .y_desc("ms")
            .x_labels(6)
            .x_label_formatter(&|x| match x.round() as i64 {
                0 => "0%".into(),
                1 => "90%".into(),
                2 => "99%".into(),
                3 => "99.9%".into(),
                4 => "99.99%".into(),
                _ => "max".into(),
            })
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (i, s) in self.latencies.iter().enumerate() {
            let color = colors[i % colors.len()];
            d.draw_series(LineSeries::new(
                s.distribution
                    .iter()
                    .map(|&(q, v)| (if q >= 1.0 { 5.0 } else { to_x(q) }, v)),
                color,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
        d.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mib_rounds_to_one_decimal() {
        assert_eq!(super::mib(0), 0.0);
        assert_eq!(super::mib(3 * 1_048_576 / 2), 1.5);
        assert_eq!(super::mib(1_048_576 + 52_429), 1.1);
        assert_eq!(super::mib(1_048_576 + 52_428), 1.0);
    }
}
