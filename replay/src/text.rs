//! The summary as an operator reads it in a terminal.

use crate::summary::{Example, Flips, Side, Summary};
use std::fmt::Write;

fn short(revision: &str) -> &str {
    &revision[..revision.len().min(19)]
}

fn percent(part: u64, whole: u64) -> String {
    match whole {
        0 => "0%".into(),
        w => format!("{:.2}%", part as f64 * 100.0 / w as f64),
    }
}

fn flips_row(out: &mut String, label: &str, f: &Flips) {
    let _ = writeln!(
        out,
        "  {label:<12} {:>10} {:>10} {:>10}  {}",
        f.orders,
        f.to_high_value,
        f.to_not_high_value,
        percent(f.flipped(), f.orders)
    );
}

fn side(label: &str, s: &Side) -> String {
    let verdict = match (s.high_value, &s.rejected) {
        (_, Some(_)) => "REJECTED",
        (true, None) => "HIGH-VALUE",
        (false, None) => "standard",
    };
    let attrs: Vec<String> = s
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let attrs = if attrs.is_empty() {
        "-".to_string()
    } else {
        attrs.join(",")
    };
    let mut why = s.reasons.join("; ");
    if let Some(r) = &s.rejected {
        why = format!("{r}; {why}");
    }
    format!("    {label:<10} {verdict:<10} {attrs:<16} {why}")
}

fn example(out: &mut String, e: &Example) {
    let rules: Vec<String> = e
        .difference
        .rules
        .iter()
        .map(|r| {
            format!(
                "{} {} -> {}",
                r.rule,
                r.baseline.as_str(),
                r.candidate.as_str()
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "  {} ({}:{}, {} {}){}",
        e.order_id,
        e.source,
        e.line,
        e.total_minor,
        e.currency,
        if rules.is_empty() {
            String::new()
        } else {
            format!(": {}", rules.join(", "))
        }
    );
    let _ = writeln!(out, "{}", side("baseline", &e.baseline));
    let _ = writeln!(out, "{}", side("candidate", &e.candidate));
}

/// Renders the summary as plain text.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay: baseline {} vs candidate {}",
        short(&s.baseline),
        short(&s.candidate)
    );
    let _ = writeln!(
        out,
        "{} orders decided: {} flipped ({}): {} to high-value, {} to not high-value; {} changed without a flip",
        s.orders,
        s.flipped(),
        percent(s.flipped(), s.orders),
        s.to_high_value,
        s.to_not_high_value,
        s.changed_without_flip
    );
    if !s.rules.is_empty() {
        let _ = writeln!(out, "\nrules whose verdict changed (orders):");
        for (rule, c) in &s.rules {
            let how: Vec<String> = c
                .transitions
                .iter()
                .map(|(t, n)| format!("{t}: {n}"))
                .collect();
            let _ = writeln!(out, "  {rule:<20} {:>10}  {}", c.changed, how.join(", "));
        }
    }
    if !s.attributes.is_empty() {
        let _ = writeln!(out, "\nattributes that changed (orders):");
        for (name, c) in &s.attributes {
            let _ = writeln!(
                out,
                "  {name:<20} added {}, removed {}, changed {}",
                c.added, c.removed, c.changed
            );
        }
    }
    let header = |out: &mut String, title: &str| {
        let _ = writeln!(
            out,
            "\n{title}\n  {:<12} {:>10} {:>10} {:>10}  flipped",
            "", "orders", "to high", "to not"
        );
    };
    header(&mut out, "by currency:");
    for (currency, f) in &s.by_currency {
        flips_row(&mut out, currency, f);
    }
    header(
        &mut out,
        "by order total (decades of the currency's major unit):",
    );
    for b in s.by_band.iter().filter(|b| b.flips.orders > 0) {
        flips_row(&mut out, b.band, &b.flips);
    }
    for (title, list) in [
        ("to high-value", &s.examples.to_high_value),
        ("to not high-value", &s.examples.to_not_high_value),
        ("changed without a flip", &s.examples.changed_without_flip),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\nexamples, {title}:");
            for e in list {
                example(&mut out, e);
            }
        }
    }
    if s.invalid.count > 0 {
        let _ = writeln!(out, "\n{} invalid lines:", s.invalid.count);
        for l in &s.invalid.lines {
            let _ = writeln!(out, "  {}:{}: {}", l.source, l.line, l.error);
        }
        if s.invalid.count > s.invalid.lines.len() as u64 {
            let _ = writeln!(out, "  … (the first {} listed)", s.invalid.lines.len());
        }
    }
    if s.log_records > 0 {
        let _ = writeln!(
            out,
            "\n{} decision-log records; the baseline reproduces the recorded decision of all but {}",
            s.log_records, s.log_disagrees_with_baseline
        );
    }
    if s.unsettled > 0 {
        let _ = writeln!(
            out,
            "\n{} orders left out: a rule missed its deadline on every try (a loaded machine); run again",
            s.unsettled
        );
    }
    out
}
