//! The analytics report: one self-contained HTML page with server-rendered SVG charts (plotters' SVG
//! backend; text is left as `<text>` for the browser to render, so no font library is needed): volumes,
//! hotspots with their key contributors, rising keywords, causes, KPIs against the seed's figures, major
//! issues. [`render`] is the library function the command line and `GetReport` (and the console) call.
use super::causes::{CauseRow, MajorIssue};
use super::hotspots::Hotspot;
use super::keywords::Keyword;
use super::kpi::Figure;
use super::volumes::Volumes;
use plotters::prelude::*;

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub from_us: i64,
    pub to_us: i64,
    /// `None`: every region.
    pub regions: Option<Vec<String>>,
    /// By category.
    pub volumes: Volumes,
    pub regions_volumes: Volumes,
    pub hotspots: Vec<Hotspot>,
    /// Series too new to be judged over part of the range (warm-up, see `analytics::detect`).
    pub hotspots_warming_up: usize,
    pub top_keywords: Vec<Keyword>,
    pub rising_keywords: Vec<Keyword>,
    pub causes: Vec<CauseRow>,
    pub kpis: Vec<Figure>,
    pub issues: Vec<MajorIssue>,
}

const PALETTE: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
];

/// `YYYY-MM-DD HH:MM` in Beijing time.
pub fn local(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us + crate::cases::facts::BEIJING_OFFSET_US)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart of `v`'s series over its buckets.
pub fn volume_chart(v: &Volumes, title: &str) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let n = v.buckets.len().max(2);
        let max = v
            .series
            .iter()
            .flat_map(|s| s.counts.iter())
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        let buckets = v.buckets.clone();
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .right_y_label_area_size(0)
            .build_cartesian_2d(0..n - 1, 0..max + max / 10 + 1);
        if let Ok(mut chart) = chart {
            let _ = chart
                .configure_mesh()
                .x_labels(8)
                .x_label_formatter(&|i| {
                    buckets
                        .get(*i)
                        .map(|b| local(*b)[5..10].to_string())
                        .unwrap_or_default()
                })
                .draw();
            for (k, s) in v.series.iter().enumerate() {
                let color = PALETTE[k % PALETTE.len()];
                if let Ok(a) = chart.draw_series(LineSeries::new(
                    s.counts.iter().enumerate().map(|(i, c)| (i, *c)),
                    color.stroke_width(2),
                )) {
                    a.label(s.value.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
                }
            }
            let _ = chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw();
        }
        let _ = root.present();
    }
    svg
}

/// Horizontal bars: (label, value, optional reference mark), values in `[0, max]`.
pub fn bar_chart(title: &str, bars: &[(String, f64, Option<f64>)], percent: bool) -> String {
    let mut svg = String::new();
    {
        let height = 60 + 26 * bars.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let max = bars
            .iter()
            .flat_map(|b| [b.1, b.2.unwrap_or(0.0)])
            .fold(if percent { 1.0 } else { 1e-9 }, f64::max);
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let n = bars.len().max(1);
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(25)
            .y_label_area_size(330)
            .build_cartesian_2d(0.0..max * 1.1, 0.0..n as f64);
        if let Ok(mut chart) = chart {
            let _ = chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n)
                .y_label_formatter(&|y| {
                    let i = y.floor() as usize;
                    labels.get(n.saturating_sub(i + 1)).cloned().unwrap_or_default()
                })
                .x_label_formatter(&|x| {
                    if percent {
                        format!("{:.0}%", x * 100.0)
                    } else {
                        format!("{x:.0}")
                    }
                })
                .draw();
            for (i, (_, value, reference)) in bars.iter().enumerate() {
                let y = (n - i - 1) as f64;
                let _ = chart.draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.15), (*value, y + 0.85)],
                    PALETTE[0].filled(),
                )));
                if let Some(r) = reference {
                    let _ = chart.draw_series(std::iter::once(PathElement::new(
                        vec![(*r, y + 0.05), (*r, y + 0.95)],
                        PALETTE[3].stroke_width(3),
                    )));
                }
            }
        }
        let _ = root.present();
    }
    svg
}

/// The report as one HTML page.
pub fn render(d: &ReportData) -> String {
    let mut h = String::new();
    let scope = d
        .regions
        .as_ref()
        .map(|r| r.join(", "))
        .unwrap_or_else(|| "全部地市 all regions".into());
    h.push_str(&format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>投诉分析报告 {} – {}</title>\
         <style>body{{font-family:sans-serif;max-width:960px;margin:auto}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}h2{{margin-top:2em}}</style></head><body>\
         <h1>投诉分析报告 Complaint analytics</h1><p>{} – {} (Beijing time) · {} · {} complaints ({} in the period before)</p>",
        esc(&local(d.from_us)),
        esc(&local(d.to_us)),
        esc(&local(d.from_us)),
        esc(&local(d.to_us)),
        esc(&scope),
        d.volumes.total,
        d.volumes.previous_total
    ));
    h.push_str("<h2>KPI 指标 (red mark: the seed's figure)</h2>");
    let kpi_bars: Vec<(String, f64, Option<f64>)> = d
        .kpis
        .iter()
        .map(|f| {
            (
                format!("{} {}/{}", f.name, f.numerator, f.denominator),
                f.value,
                f.reference,
            )
        })
        .collect();
    h.push_str(&bar_chart("KPIs", &kpi_bars, true));
    h.push_str("<table><tr><th>KPI</th><th>value</th><th>numerator</th><th>denominator</th><th>seed</th></tr>");
    for f in &d.kpis {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(f.label),
            f.value * 100.0,
            f.numerator,
            f.denominator,
            f.reference.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_default()
        ));
    }
    h.push_str("</table><h2>投诉量 Volumes</h2>");
    h.push_str(&volume_chart(&d.volumes, "by category"));
    h.push_str(&volume_chart(&d.regions_volumes, "by region"));
    h.push_str("<h2>热点 Hotspots</h2>");
    let hs: Vec<(String, f64, Option<f64>)> = d
        .hotspots
        .iter()
        .take(15)
        .map(|x| {
            let key = x
                .key()
                .map(|k| format!(" ← {}={}", k.dimension, k.value))
                .unwrap_or_default();
            let place = if x.region.is_empty() {
                String::new()
            } else {
                format!("@{}", x.region)
            };
            (format!("{}={}{}{}", x.dimension, x.value, place, key), x.excess(), None)
        })
        .collect();
    h.push_str(&format!(
        "<p>Daily series against their seasonal baseline. Detection starts after a warm-up: a series (a new \
         deployment, cell or category) is judged only once it has {} days of history since its first complaint.",
        super::detect::Params::daily().min_history
    ));
    if d.hotspots_warming_up > 0 {
        h.push_str(&format!(
            " {} series were still in their warm-up during part of this range.",
            d.hotspots_warming_up
        ));
    }
    h.push_str("</p>");
    if hs.is_empty() {
        h.push_str("<p>No hotspot in this range.</p>");
    } else {
        h.push_str(&bar_chart(
            "excess complaints per hotspot, with its key contributor",
            &hs,
            false,
        ));
        h.push_str("<table><tr><th>series</th><th>start</th><th>observed / expected</th><th>key contributors (the part of the excess each accounts for)</th><th>major issue</th><th>samples</th></tr>");
        for x in d.hotspots.iter().take(15) {
            let contributors: Vec<String> = x
                .contributors
                .iter()
                .take(3)
                .map(|c| {
                    format!(
                        "{}={}: {} vs {:.1} expected, accounts for {:.0}% of the excess",
                        c.dimension,
                        c.value,
                        c.observed,
                        c.expected,
                        c.share_of_excess * 100.0
                    )
                })
                .collect();
            let samples: Vec<String> = x
                .samples
                .iter()
                .take(2)
                .map(|s| format!("{}: {}", s.complaint_id, s.text))
                .collect();
            h.push_str(&format!(
                "<tr><td>{}={} {}</td><td>{}</td><td>{} / {:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.dimension),
                esc(&x.value),
                esc(&x.region),
                esc(&local(x.start_us)),
                x.observed,
                x.expected,
                esc(&contributors.join("; ")),
                esc(&x.major_issue_id),
                esc(&samples.join(" | "))
            ));
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>上升关键词 Rising keywords</h2>");
    let kw: Vec<(String, f64, Option<f64>)> = d
        .rising_keywords
        .iter()
        .map(|k| {
            (
                format!("{} ({} vs {:.1} expected)", k.term, k.documents, k.expected),
                k.score,
                None,
            )
        })
        .collect();
    if kw.is_empty() {
        h.push_str("<p>No rising keyword.</p>");
    } else {
        h.push_str(&bar_chart("burst score", &kw, false));
    }
    let top: Vec<String> = d
        .top_keywords
        .iter()
        .map(|k| format!("{} ({})", esc(&k.term), k.documents))
        .collect();
    h.push_str(&format!("<p>Top keywords: {}</p>", top.join("、")));
    h.push_str("<h2>原因 Causes</h2>");
    let cs: Vec<(String, f64, Option<f64>)> = d
        .causes
        .iter()
        .take(12)
        .map(|c| {
            (
                format!(
                    "{} / {} (was {})",
                    c.category,
                    if c.cause_code.is_empty() { "-" } else { &c.cause_code },
                    c.previous_count
                ),
                c.count as f64,
                None,
            )
        })
        .collect();
    h.push_str(&bar_chart("complaints per cause", &cs, false));
    h.push_str("<table><tr><th>category</th><th>cause</th><th>count</th><th>before</th><th>auto-replied</th></tr>");
    for c in d.causes.iter().take(30) {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}%</td></tr>",
            esc(&c.category),
            esc(&c.cause_code),
            c.count,
            c.previous_count,
            c.auto_reply_share * 100.0
        ));
    }
    h.push_str("</table><h2>重大问题 Major issues</h2><table><tr><th>issue</th><th>category</th><th>place</th><th>region</th><th>team</th><th>from – to</th><th>complaints</th></tr>");
    for i in &d.issues {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}={}</td><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td></tr>",
            esc(&i.issue_id),
            esc(&i.category),
            esc(&i.place_dim),
            esc(&i.place_value),
            esc(&i.region),
            esc(&i.owner_group),
            esc(&local(i.first_at_us)),
            esc(&local(i.last_at_us)),
            i.complaints
        ));
    }
    h.push_str("</table></body></html>\n");
    h
}
