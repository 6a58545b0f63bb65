//! The summary as one self-contained HTML file: inline CSS, charts drawn
//! here as inline SVG, no script, nothing fetched, so it opens anywhere
//! (an attachment, an air-gapped laptop) exactly as it was written.

use crate::summary::{Example, Side, Summary};
use std::fmt::Write;

const TO_HIGH: &str = "#c0392b";
const TO_NOT: &str = "#2471a3";
const CHANGED: &str = "#7d3c98";

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
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

/// A horizontal bar chart, one group of bars per row, one bar per series.
fn bar_chart(id: &str, rows: &[(String, Vec<u64>)], series: &[(&str, &str)]) -> String {
    const LABEL: u32 = 170;
    const WIDTH: u32 = 460;
    const BAR: u32 = 14;
    let max = rows.iter().flat_map(|(_, v)| v).copied().max().unwrap_or(0);
    if rows.is_empty() || max == 0 {
        return format!(r#"<p class="empty" id="{id}">Nothing changed here.</p>"#);
    }
    let group = BAR * series.len() as u32 + 8;
    let height = group * rows.len() as u32 + 28;
    let mut svg = format!(
        r#"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" role="img">"#,
        LABEL + WIDTH + 70
    );
    for (i, (label, values)) in rows.iter().enumerate() {
        let y0 = i as u32 * group;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end" class="label">{}</text>"#,
            LABEL - 6,
            y0 + group / 2 + 3,
            esc(label)
        );
        for (j, (&value, (name, colour))) in values.iter().zip(series).enumerate() {
            let y = y0 + j as u32 * BAR + 4;
            let w = ((value as f64 / max as f64) * WIDTH as f64).round() as u32;
            let w = if value > 0 { w.max(1) } else { 0 };
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{LABEL}" y="{y}" width="{w}" height="{}" fill="{colour}"><title>{}: {} {value}</title></rect><text x="{}" y="{}" class="value">{value}</text>"#,
                BAR - 2,
                esc(label),
                esc(name),
                LABEL + w + 4,
                y + BAR - 4
            );
        }
    }
    let mut x = LABEL;
    for (name, colour) in series {
        let y = height - 12;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}" class="legend">{}</text>"#,
            x + 14,
            y + 9,
            esc(name)
        );
        x += 14 + 8 * name.len() as u32 + 16;
    }
    svg.push_str("</svg>");
    svg
}

fn side(s: &Side) -> String {
    let verdict = match (s.high_value, &s.rejected) {
        (_, Some(_)) => "rejected",
        (true, None) => "high-value",
        (false, None) => "standard",
    };
    let attrs: Vec<String> = s
        .attributes
        .iter()
        .map(|(k, v)| esc(&format!("{k}={v}")))
        .collect();
    let mut reasons: Vec<String> = s.reasons.iter().map(|r| esc(r)).collect();
    if let Some(r) = &s.rejected {
        reasons.insert(0, esc(r));
    }
    format!(
        "<b>{verdict}</b> {}<ul><li>{}</li></ul>",
        esc(&attrs.join(", ")),
        reasons.join("</li><li>")
    )
}

fn examples(out: &mut String, title: &str, list: &[Example]) {
    if list.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h3>{}</h3><table class=\"examples\"><tr><th>order</th><th>total</th><th>rules changed</th><th>baseline</th><th>candidate</th></tr>",
        esc(title)
    );
    for e in list {
        let rules: Vec<String> = e
            .difference
            .rules
            .iter()
            .map(|r| {
                esc(&format!(
                    "{}: {} → {}",
                    r.rule,
                    r.baseline.as_str(),
                    r.candidate.as_str()
                ))
            })
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}<br><small>{}:{}</small></td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.order_id),
            esc(&e.source),
            e.line,
            e.total_minor,
            esc(&e.currency),
            rules.join("<br>"),
            side(&e.baseline),
            side(&e.candidate)
        );
    }
    out.push_str("</table>");
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}\
.kpi td{font-size:1.2em}.chart .label,.chart .value,.chart .legend{font-size:12px;fill:#333}\
ul{margin:0;padding-left:1.2em}small{color:#666}";

/// Renders the summary as one HTML document.
pub fn render(s: &Summary) -> String {
    let both = [("to high-value", TO_HIGH), ("to not high-value", TO_NOT)];
    let rules: Vec<(String, Vec<u64>)> = s
        .rules
        .iter()
        .map(|(name, c)| (name.clone(), vec![c.changed]))
        .collect();
    let currencies: Vec<(String, Vec<u64>)> = s
        .by_currency
        .iter()
        .map(|(c, f)| (c.clone(), vec![f.to_high_value, f.to_not_high_value]))
        .collect();
    let bands: Vec<(String, Vec<u64>)> = s
        .by_band
        .iter()
        .filter(|b| b.flips.orders > 0)
        .map(|b| {
            (
                b.band.to_string(),
                vec![b.flips.to_high_value, b.flips.to_not_high_value],
            )
        })
        .collect();
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>orderflow replay</title><style>{STYLE}</style></head><body>\
<h1>orderflow replay</h1><p>baseline <code>{}</code><br>candidate <code>{}</code></p>\
<table class=\"kpi\"><tr><th>orders decided</th><th>to high-value</th><th>to not high-value</th><th>flip rate</th><th>changed without a flip</th><th>invalid lines</th></tr>\
<tr><td id=\"orders\">{}</td><td id=\"to_high_value\">{}</td><td id=\"to_not_high_value\">{}</td><td>{:.2}%</td><td>{}</td><td>{}</td></tr></table>",
        esc(&s.baseline),
        esc(&s.candidate),
        s.orders,
        s.to_high_value,
        s.to_not_high_value,
        s.flip_rate * 100.0,
        s.changed_without_flip,
        s.invalid.count
    );
    let _ = write!(
        out,
        "<h2>Orders whose verdict changed, by rule</h2>{}\
<h2>Flips by currency</h2>{}\
<h2>Flips by order total</h2><p><small>Decades of the order's major currency unit (not exchange-rate normalised).</small></p>{}",
        bar_chart("by-rule", &rules, &[("orders", CHANGED)]),
        bar_chart("by-currency", &currencies, &both),
        bar_chart("by-band", &bands, &both)
    );
    if !s.attributes.is_empty() {
        out.push_str("<h2>Attributes that changed</h2><table><tr><th>attribute</th><th>added</th><th>removed</th><th>changed</th></tr>");
        for (name, c) in &s.attributes {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                c.added,
                c.removed,
                c.changed
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Example orders</h2>");
    examples(&mut out, "To high-value", &s.examples.to_high_value);
    examples(&mut out, "To not high-value", &s.examples.to_not_high_value);
    examples(
        &mut out,
        "Changed without a flip",
        &s.examples.changed_without_flip,
    );
    if s.invalid.count > 0 {
        let _ = write!(
            out,
            "<h2>Invalid lines ({})</h2><table><tr><th>where</th><th>why</th></tr>",
            s.invalid.count
        );
        for l in &s.invalid.lines {
            let _ = write!(
                out,
                "<tr><td>{}:{}</td><td>{}</td></tr>",
                esc(&l.source),
                l.line,
                esc(&l.error)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn a_chart_draws_one_bar_per_value_and_nothing_for_no_data() {
        let rows = vec![
            ("EUR".to_string(), vec![3, 0]),
            ("<b>".to_string(), vec![1, 2]),
        ];
        let svg = bar_chart("c", &rows, &[("a", "red"), ("b", "blue")]);
        assert_eq!(svg.matches("class=\"bar\"").count(), 4, "{svg}");
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "{svg}");
        assert!(bar_chart("c", &[], &[("a", "red")]).contains("Nothing changed"));
    }
}
