//! `status` and `shadow` for people (`--json` prints the reports
//! themselves), and where `status --decision-log` reads.

use crate::short;
use anyhow::{Context, Result};
use orderflow_aws::operator::{DryRun, Reported, ShadowReport, Status};
use orderflow_host::LoadedManifest;
use orderflow_host::manifest::diff::PluginChange;

/// `s3://bucket/prefix` → the decision log's location.
pub(super) fn decision_log_location(
    uri: &str,
) -> Result<orderflow_aws::config::DecisionLogLocation> {
    let rest = uri
        .strip_prefix("s3://")
        .with_context(|| format!("--decision-log {uri}: give it as s3://bucket/prefix/"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let mut prefix = prefix.to_string();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok(orderflow_aws::config::DecisionLogLocation {
        bucket: bucket.to_string(),
        prefix,
    })
}

pub(super) fn status_text(s: &Status) -> String {
    let mut out = format!("live      {}", short(&s.revision));
    if let (Some(seq), Some(action), Some(at)) = (s.sequence, &s.action, &s.published_at) {
        out += &format!("  (#{seq}, {action} at {at})");
    }
    out += &match &s.signed_by {
        Some(key_id) => format!("\nsigned    by key {key_id}"),
        None => "\nsigned    no".to_string(),
    };
    out += &match &s.reported {
        Reported::Unknown { why } => format!("\nreported  unknown ({why})"),
        Reported::DecisionLog { revision, at, .. } => format!(
            "\nreported  {} by the producer (its newest decision log object, {}){}",
            short(revision),
            at.as_deref().unwrap_or("time unknown"),
            if *revision == s.revision {
                ""
            } else {
                ": not the live revision yet"
            }
        ),
    };
    out += &format!(
        "\nrollback  {}\nplugins\n",
        s.previous
            .as_deref()
            .map_or("(nothing to roll back to)".into(), short)
    );
    for p in &s.plugins {
        let size = p
            .size
            .map_or("missing".into(), |b| format!("{} KiB", b.div_ceil(1024)));
        out += &format!(
            "  {:<9} {} {}  {}  {size}\n",
            p.kind, p.name, p.version, p.key
        );
    }
    if let Some(shadow) = &s.shadow {
        out += &format!("shadow    {}", short(&shadow.revision));
        out += match shadow.problems.is_empty() {
            true => "  (the producer also decides every order with it)\n",
            false => "  NOT LOADABLE (the live set serves alone):\n",
        };
        for p in &shadow.problems {
            out += &format!("  {p}\n");
        }
    }
    out += "history\n";
    for e in &s.history {
        let shadow = e
            .shadow
            .as_deref()
            .map_or(String::new(), |r| format!("  shadow {}", short(r)));
        out += &format!(
            "  #{:<4} {:<10} {}  {}{shadow}\n",
            e.sequence,
            e.action.as_str(),
            short(&e.revision),
            e.at
        );
    }
    if s.problems.is_empty() {
        out += "healthy: every plugin is there and the set loads\n";
    } else {
        out += "PROBLEMS (a function cannot activate this set; it keeps its last good one)\n";
        for p in &s.problems {
            out += &format!("  {p}\n");
        }
    }
    out
}

pub(super) fn shadow_text(r: &ShadowReport) -> String {
    let live = short(&r.live);
    match (&r.shadow, r.changed) {
        (Some(s), true) => format!(
            "shadow on: {} is evaluated beside live {live}; disagreements are the producer's \"shadow disagreement\" events (metric ShadowDisagreements)",
            short(s)
        ),
        (Some(s), false) => format!("{} is the shadow already; nothing changed", short(s)),
        (None, true) => format!(
            "shadow off (was {}); {live} serves alone",
            r.previous.as_deref().map_or("none".into(), short)
        ),
        (None, false) => "no shadow was on; nothing changed".into(),
    }
}

pub(super) fn shadow_of(v: &Option<serde_json::Value>) -> String {
    v.as_ref()
        .and_then(|v| v.as_str())
        .map_or("(none)".into(), short)
}

pub(super) fn show_text(m: &LoadedManifest) -> String {
    let mut out = format!("revision {}\n", m.revision);
    if let Some(s) = &m.manifest.shadow {
        out += &format!("shadow   {}\n", s.revision);
    }
    for (chain, specs) in [
        ("rules", &m.manifest.rules),
        ("transforms", &m.manifest.transforms),
    ] {
        out += &format!("{chain}\n");
        for (i, p) in specs.iter().enumerate() {
            out += &format!(
                "  {}. {} {}  sha256 {}  on_error {:?}\n     config {}\n",
                i + 1,
                p.name,
                p.version,
                &p.sha256[..p.sha256.len().min(12)],
                p.on_error,
                p.config
            );
            if !p.limits.is_empty() {
                out += &format!(
                    "     limits {}\n",
                    serde_json::to_string(&p.limits).unwrap_or_default()
                );
            }
        }
    }
    out
}

pub(super) fn dry_run_text(plan: &DryRun) -> String {
    let live = plan.live.as_deref().map_or("nothing".into(), short);
    let mut out = if plan.live.as_deref() == Some(plan.revision.as_str()) {
        format!(
            "{} is live already: publishing would change nothing\n",
            short(&plan.revision)
        )
    } else {
        format!(
            "would publish {} (live: {live}); nothing written\n",
            short(&plan.revision)
        )
    };
    out += &changes_text(&plan.changes);
    for key in &plan.uploads {
        out += &format!("would upload {key}\n");
    }
    out
}

pub(super) fn changes_text(changes: &[PluginChange]) -> String {
    if changes.is_empty() {
        return "no plugin changes\n".into();
    }
    let show =
        |v: &Option<serde_json::Value>| v.as_ref().map_or("(none)".into(), |v| v.to_string());
    let mut out = String::new();
    for c in changes {
        match c {
            PluginChange::Added {
                chain,
                name,
                position,
            } => out += &format!("+ {} {name} (at {})\n", chain.kind(), position + 1),
            PluginChange::Removed { chain, name } => out += &format!("- {} {name}\n", chain.kind()),
            PluginChange::Changed {
                chain,
                name,
                moved,
                fields,
            } => {
                out += &format!("~ {} {name}\n", chain.kind());
                if let Some((from, to)) = moved {
                    out += &format!("    position: {} → {}\n", from + 1, to + 1);
                }
                for f in fields {
                    out += &format!("    {}: {} → {}\n", f.path, show(&f.before), show(&f.after));
                }
            }
        }
    }
    out
}
