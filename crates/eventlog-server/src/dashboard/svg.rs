//! Charts and icons drawn on the server as inline SVG: no chart library, no script, and
//! the browser gets finished markup. All text is escaped here; colours are validated.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use eventlog_store::analytics::Series;

/// Colours for series without a fixed one (categories, groups), in order.
const PALETTE: &[&str] = &[
    "#2563eb", "#16a34a", "#d97706", "#7c3aed", "#dc2626", "#0891b2", "#db2777", "#65a30d",
    "#6b7280", "#ea580c",
];

/// Escapes text for SVG/HTML content and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `color` when it is a `#rgb`/`#rrggbb` colour (catalog files are user input), else grey.
pub(super) fn safe_color(color: &str) -> &str {
    let hex = color.strip_prefix('#').unwrap_or_default();
    if (hex.len() == 3 || hex.len() == 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        color
    } else {
        "#64748b"
    }
}

/// The fixed colour of a severity.
pub(super) fn severity_color(severity: &str) -> &'static str {
    match severity {
        "DEBUG" => "#94a3b8",
        "INFO" => "#2563eb",
        "WARNING" => "#d97706",
        "ERROR" => "#dc2626",
        "CRITICAL" => "#7f1d1d",
        _ => "#6b7280",
    }
}

/// The fixed colour of a category (others get the palette's).
pub(super) fn category_color(category: &str) -> Option<&'static str> {
    Some(match category {
        "AUTH" => "#2563eb",
        "DATA" | "CRUD" => "#7c3aed",
        "PRED" | "ML" => "#db2777",
        "MODEL" => "#ea580c",
        "SYSTEM" => "#94a3b8",
        "SECURITY" => "#dc2626",
        "ANALYTICS" => "#0891b2",
        "ADMIN" => "#d97706",
        "PLATFORM" => "#16a34a",
        _ => return None,
    })
}

/// A short number: 1234 -> "1.2k".
fn short(n: f64) -> String {
    if n >= 1_000_000.0 {
        format!("{:.1}M", n / 1_000_000.0)
    } else if n >= 10_000.0 {
        format!("{:.0}k", n / 1000.0)
    } else if n >= 1000.0 {
        format!("{:.1}k", n / 1000.0)
    } else if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// Stacked bars of `series` over time (one colour per series, legend on top); `color`
/// picks a series' colour from its key, else the palette is used. Empty data draws an
/// empty frame with `empty` written in it.
pub(super) fn stacked_bars(
    series: &[Series],
    color: impl Fn(&str) -> Option<&'static str>,
    empty: &str,
    wide: bool,
) -> String {
    // A chart alone on a row is drawn wider, so its text keeps the size of the others'.
    let width: f64 = if wide { 1400.0 } else { 720.0 };
    const H: f64 = 220.0;
    const LEFT: f64 = 44.0;
    const TOP: f64 = 28.0;
    const BOTTOM: f64 = 22.0;
    let plot_w = width - LEFT - 8.0;
    let plot_h = H - TOP - BOTTOM;
    let mut times: BTreeMap<DateTime<Utc>, Vec<f64>> = BTreeMap::new();
    for (i, s) in series.iter().enumerate() {
        for p in &s.points {
            let slot = times.entry(p.t).or_insert_with(|| vec![0.0; series.len()]);
            slot[i] = p.value.unwrap_or(0.0);
        }
    }
    let max = times
        .values()
        .map(|v| v.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let mut out = format!(
        r#"<svg class="chart" viewBox="0 0 {width} {H}" role="img" xmlns="http://www.w3.org/2000/svg">"#
    );
    let colors: Vec<&str> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.key
                .as_deref()
                .and_then(&color)
                .unwrap_or(PALETTE[i % PALETTE.len()])
        })
        .collect();
    // Legend.
    let mut x = LEFT;
    for (s, c) in series.iter().zip(&colors) {
        let label = esc(s.key.as_deref().unwrap_or("events"));
        let _ = write!(
            out,
            r#"<rect x="{x}" y="6" width="10" height="10" rx="2" fill="{c}"/><text x="{}" y="15" class="legend">{label}</text>"#,
            x + 14.0
        );
        x += 24.0 + 7.0 * label.chars().count() as f64;
    }
    // Frame and y axis.
    let _ = write!(
        out,
        r#"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" class="axis"/>"#,
        TOP + plot_h,
        width - 8.0,
        TOP + plot_h
    );
    if max <= 0.0 {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" class="empty" text-anchor="middle">{}</text></svg>"#,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0,
            esc(empty)
        );
        return out;
    }
    for frac in [0.5, 1.0] {
        let y = TOP + plot_h * (1.0 - frac);
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" class="grid"/><text x="{}" y="{}" class="tick" text-anchor="end">{}</text>"#,
            width - 8.0,
            LEFT - 4.0,
            y + 4.0,
            short(max * frac)
        );
    }
    let n = times.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.8).max(1.0);
    for (i, (t, values)) in times.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = TOP + plot_h;
        let total: f64 = values.iter().sum();
        let _ = write!(
            out,
            r#"<g><title>{} · {}</title>"#,
            t.format("%Y-%m-%d %H:%M UTC"),
            short(total)
        );
        for (v, c) in values.iter().zip(&colors) {
            if *v <= 0.0 {
                continue;
            }
            let h = plot_h * v / max;
            y -= h;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{c}"/>"#
            );
        }
        out.push_str("</g>");
    }
    // Time labels at the start, middle and end; the page script shows them in local time.
    let keys: Vec<&DateTime<Utc>> = times.keys().collect();
    // Over more than two days a label needs the date, within them the time of day.
    let dated = *keys[keys.len() - 1] - *keys[0] > chrono::Duration::days(2);
    let (format, kind) = if dated {
        ("%m-%d", "date")
    } else {
        ("%H:%M", "time")
    };
    for (i, anchor) in [
        (0, "start"),
        (keys.len() / 2, "middle"),
        (keys.len() - 1, "end"),
    ] {
        let t = keys[i];
        let x = match anchor {
            "start" => LEFT,
            "end" => width - 8.0,
            _ => LEFT + slot * (i as f64 + 0.5),
        };
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{}" class="tick" text-anchor="{anchor}" data-time="{}" data-show="{kind}">{}</text>"#,
            H - 6.0,
            t.to_rfc3339(),
            t.format(format)
        );
    }
    out.push_str("</svg>");
    out
}

/// A small icon for a catalog icon name (Lucide names), drawn in `color`: one of a few
/// shapes chosen by what the name is about.
pub(super) fn icon(name: &str, color: &str) -> String {
    let shape = if name.contains("log-in") || name.contains("log-out") || name.contains("key") {
        // A key.
        r#"<circle cx="8" cy="12" r="4"/><path d="M12 12h9M18 12v3M21 12v2"/>"#
    } else if name.contains("lock") {
        r#"<rect x="5" y="11" width="14" height="9" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3"/>"#
    } else if name.starts_with("user") {
        r#"<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>"#
    } else if name.starts_with("shield") || name == "ban" || name == "scan-eye" {
        r#"<path d="M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z"/>"#
    } else if name.contains("alert") || name.contains("warning") {
        r#"<path d="M12 3l10 18H2z"/><path d="M12 10v5M12 18v.5"/>"#
    } else if name.contains("trash") || name.contains("eraser") || name.ends_with("-x") {
        r#"<path d="M6 6l12 12M18 6L6 18"/>"#
    } else if name.contains("database") || name.contains("drive") || name.contains("layers") {
        r#"<ellipse cx="12" cy="6" rx="7" ry="3"/><path d="M5 6v12c0 1.7 3 3 7 3s7-1.3 7-3V6"/>"#
    } else if name.contains("brain")
        || name.contains("sparkles")
        || name.contains("flask")
        || name.contains("chart")
        || name.contains("trending")
        || name.contains("sigma")
    {
        r#"<path d="M3 17l5-5 4 4 8-8"/><path d="M15 8h5v5"/>"#
    } else if name.contains("settings")
        || name.contains("wrench")
        || name.contains("sliders")
        || name.contains("cog")
    {
        r#"<circle cx="12" cy="12" r="3"/><path d="M12 2v4M12 18v4M2 12h4M18 12h4M5 5l3 3M16 16l3 3M5 19l3-3M16 8l3-3"/>"#
    } else if name.contains("plus") || name.contains("upload") || name.contains("rocket") {
        r#"<circle cx="12" cy="12" r="9"/><path d="M12 8v8M8 12h8"/>"#
    } else if name.contains("pen") || name.contains("pencil") || name.contains("refresh") {
        r#"<path d="M4 20l4-1 11-11-3-3L5 16z"/>"#
    } else if name.contains("check") {
        r#"<circle cx="12" cy="12" r="9"/><path d="M8 12l3 3 5-6"/>"#
    } else {
        r#"<circle cx="12" cy="12" r="8"/>"#
    };
    format!(
        r#"<svg class="icon" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="{}" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">{shape}</svg>"#,
        safe_color(color)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventlog_store::analytics::Point;

    fn t(m: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + m * 60, 0).unwrap()
    }

    #[test]
    fn bars_are_stacked_per_time_and_labels_are_escaped() {
        let series = vec![
            Series {
                key: Some("<AUTH>".into()),
                points: vec![
                    Point {
                        t: t(0),
                        value: Some(2.0),
                    },
                    Point {
                        t: t(1),
                        value: Some(4.0),
                    },
                ],
            },
            Series {
                key: Some("DATA".into()),
                points: vec![Point {
                    t: t(1),
                    value: Some(4.0),
                }],
            },
        ];
        let svg = stacked_bars(&series, |_| None, "none", false);
        assert!(svg.contains("&lt;AUTH&gt;") && !svg.contains("<AUTH>"));
        assert_eq!(
            svg.matches("<rect").count(),
            2 + 3,
            "2 legend swatches, 3 bars"
        );
        assert!(
            svg.contains(">8<"),
            "the y axis tops out at the largest stack: {svg}"
        );
        assert!(stacked_bars(&[], |_| None, "No data", true).contains("No data"));
    }

    #[test]
    fn catalog_colours_are_checked() {
        assert_eq!(safe_color("#16a34a"), "#16a34a");
        assert_eq!(safe_color("red\" onload=\"x"), "#64748b");
        assert!(icon("user-plus", "#2563eb").contains("stroke=\"#2563eb\""));
    }
}
