//! Human-facing text: the summary screen and istioctl-style tables.

use std::fmt::Write;

use tabled::builder::Builder;
use tabled::settings::{Padding, Style};

use super::Palette;
use crate::analysis::inventory::{ClusterView, ListenerView};
use crate::analysis::summary::Summary;
use crate::findings::{Finding, Severity};
use crate::model::State;

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|s| s.to_string()));
    for r in rows {
        b.push_record(r);
    }
    let mut t = b.build();
    t.with(Style::blank()).with(Padding::new(0, 3, 0, 0));
    let mut s = t.to_string();
    // tabled pads the last column; istioctl does not.
    s = s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    s.push('\n');
    s
}

pub fn summary(s: &Summary, p: Palette) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", p.bold(&s.source));
    let mut how = format!("{:?} {}", s.format, s.shape).to_lowercase();
    if s.gzip {
        how.push_str(", gzip");
    }
    let _ = writeln!(out, "  read as     {how}; sections: {}", s.sections.join(", "));
    if let Some(id) = &s.identity {
        let _ = writeln!(out, "  node        {}", id.node_id);
        let mut who = Vec::new();
        if let Some(t) = &id.proxy_type {
            who.push(format!("type {t}"));
        }
        if let Some(pod) = &id.pod {
            who.push(format!("pod {pod}"));
        }
        if let Some(ns) = &id.namespace {
            who.push(format!("namespace {ns}"));
        }
        if !id.cluster.is_empty() {
            who.push(format!("cluster {}", id.cluster));
        }
        if !who.is_empty() {
            let _ = writeln!(out, "  identity    {}", who.join(", "));
        }
        let _ = writeln!(
            out,
            "  versions    Envoy {}, Istio {}",
            id.envoy_version.as_deref().unwrap_or("unknown"),
            id.istio_version.as_deref().unwrap_or("-")
        );
    } else {
        let _ = writeln!(out, "  node        {}", p.dim("no bootstrap in this dump"));
    }
    for (section, v) in &s.section_versions {
        let _ = writeln!(
            out,
            "  {:<11} version {v}",
            section.trim_end_matches("ConfigDump").to_lowercase()
        );
    }
    let _ = writeln!(out);
    let rows = s
        .counts
        .iter()
        .map(|c| {
            let n = |v: usize| if v == 0 { "-".to_string() } else { v.to_string() };
            vec![
                c.resource.to_string(),
                n(c.static_),
                n(c.active),
                n(c.warming),
                n(c.draining),
                if c.rejected == 0 {
                    "-".into()
                } else {
                    p.red(&c.rejected.to_string())
                },
                c.total.to_string(),
            ]
        })
        .collect();
    for line in table(
        &[
            "RESOURCE", "STATIC", "ACTIVE", "WARMING", "DRAINING", "REJECTED", "TOTAL",
        ],
        rows,
    )
    .lines()
    {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  skipped     {}", s.skipped);
    if s.findings.is_empty() {
        let _ = writeln!(out, "  findings    none");
    } else {
        let _ = writeln!(out, "  findings");
        for f in &s.findings {
            let _ = writeln!(out, "    {}", finding_line(f, p));
        }
    }
    out
}

pub fn finding_line(f: &Finding, p: Palette) -> String {
    let sev = match f.severity {
        Severity::Error => p.red("error"),
        Severity::Warning => p.yellow("warning"),
        Severity::Info => p.dim("info"),
    };
    format!("{} {sev} {}: {}", f.code, f.resource, f.message)
}

fn state_cell(s: State, p: Palette) -> String {
    match s {
        State::Rejected => p.red("rejected"),
        State::Warming | State::Draining => p.yellow(s.as_str()),
        _ => s.as_str().to_string(),
    }
}

/// One row per filter chain (the default chain too), like `istioctl pc listener`.
pub fn listeners(views: &[ListenerView], wide: bool, p: Palette) -> String {
    let mut rows = Vec::new();
    for l in views {
        let port = l.port.to_string();
        let chains: Vec<(String, String, String)> = if l.filter_chains.is_empty() {
            let dest = match &l.rejection {
                Some(r) => format!("rejected: {}", r.details.lines().next().unwrap_or("")),
                None => "no filter chains".into(),
            };
            vec![(String::new(), "-".into(), dest)]
        } else {
            let mut v: Vec<_> = l
                .filter_chains
                .iter()
                .map(|c| (c.name.clone(), c.match_summary.clone(), c.destination.clone()))
                .collect();
            // istioctl's row order within a listener.
            v.sort_by(|a, b| b.2.cmp(&a.2));
            v
        };
        for (chain, m, dest) in chains {
            let mut row = vec![
                l.name.clone(),
                l.address.clone(),
                port.clone(),
                m,
                dest,
                state_cell(l.state, p),
            ];
            if wide {
                row.insert(3, chain);
                row.push(l.version_info.clone());
                row.push(l.last_updated.clone().unwrap_or_default());
            }
            rows.push(row);
        }
    }
    let mut header = vec!["NAME", "ADDRESSES", "PORT", "MATCH", "DESTINATION", "STATE"];
    if wide {
        header.insert(3, "CHAIN");
        header.extend(["VERSION", "LAST UPDATED"]);
    }
    table(&header, rows)
}

/// Like `istioctl pc cluster`, plus STATE.
pub fn clusters(views: &[ClusterView], wide: bool, p: Palette) -> String {
    let rows = views
        .iter()
        .map(|c| {
            let dash = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
            let mut row = vec![
                c.fqdn.clone(),
                c.port.map_or("-".into(), |p| p.to_string()),
                dash(&c.subset),
                dash(&c.direction),
                c.discovery_type.clone(),
                c.destination_rule.clone().unwrap_or_default(),
                state_cell(c.state, p),
            ];
            if wide {
                row.insert(0, c.name.clone());
                row.push(c.version_info.clone());
                row.push(c.last_updated.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    let mut header = vec![
        "SERVICE FQDN",
        "PORT",
        "SUBSET",
        "DIRECTION",
        "TYPE",
        "DESTINATION RULE",
        "STATE",
    ];
    if wide {
        header.insert(0, "NAME");
        header.extend(["VERSION", "LAST UPDATED"]);
    }
    table(&header, rows)
}
