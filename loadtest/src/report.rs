//! The report: a table on stdout, JSON, and an SVG plot of throughput and p99 over time.

use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;
use serde::Serialize;

use crate::stats::{Percentiles, SecondPoint};

/// What a scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    /// The flags it ran with.
    pub params: serde_json::Value,
    /// Named figures, in display order: (name, value, unit).
    pub figures: Vec<(String, f64, String)>,
    /// Named latency distributions.
    pub latencies: Vec<(String, Percentiles)>,
    /// Per-second throughput and p99.
    pub series: Vec<SecondPoint>,
    /// What the series counts ("deliveries", "pages", ...).
    pub series_label: String,
    /// Checks that failed (the run exits non-zero when there are any).
    pub failures: Vec<String>,
}

impl Report {
    pub fn new(scenario: &str, params: serde_json::Value, series_label: &str) -> Self {
        Self {
            scenario: scenario.into(),
            params,
            figures: Vec::new(),
            latencies: Vec::new(),
            series: Vec::new(),
            series_label: series_label.into(),
            failures: Vec::new(),
        }
    }

    pub fn figure(&mut self, name: &str, value: f64, unit: &str) {
        self.figures.push((name.into(), value, unit.into()));
    }

    pub fn print(&self) {
        println!("\nchatload {}  {}", self.scenario, self.params);
        println!("{:-<72}", "");
        for (name, value, unit) in &self.figures {
            println!("{name:<40} {value:>18.2} {unit}");
        }
        if !self.latencies.is_empty() {
            println!("{:-<72}", "");
            println!(
                "{:<18} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
            );
            for (name, p) in &self.latencies {
                println!(
                    "{name:<18} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                    p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms
                );
            }
        }
        println!("{:-<72}", "");
        if !self.failures.is_empty() {
            println!("FAILED: {} problems", self.failures.len());
            for f in &self.failures {
                println!("  {f}");
            }
        }
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
    }

    pub fn write_plot(&self, path: &Path) -> anyhow::Result<()> {
        let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (top, bottom) = root.split_vertically(300);
        let seconds = self.series.len().max(1) as u64;
        let max_count = self
            .series
            .iter()
            .map(|p| p.count)
            .max()
            .unwrap_or(1)
            .max(1);
        let max_p99 = self.series.iter().map(|p| p.p99_ms).fold(1.0, f64::max);
        let draw = |area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
                    title: String,
                    points: Vec<(u64, f64)>,
                    y_max: f64,
                    color: RGBColor|
         -> anyhow::Result<()> {
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(0u64..seconds, 0f64..y_max * 1.1)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            chart
                .configure_mesh()
                .x_desc("second")
                .draw()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            chart
                .draw_series(LineSeries::new(points, &color))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(())
        };
        draw(
            &top,
            format!("{} per second ({})", self.series_label, self.scenario),
            self.series
                .iter()
                .map(|p| (p.second, p.count as f64))
                .collect(),
            max_count as f64,
            BLUE,
        )?;
        draw(
            &bottom,
            "p99 latency per second (ms)".into(),
            self.series.iter().map(|p| (p.second, p.p99_ms)).collect(),
            max_p99,
            RED,
        )?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}
