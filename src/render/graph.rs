//! The paths graph as a terminal tree, a mermaid flowchart or a Graphviz
//! digraph. Large graphs are collapsed (virtual hosts folded into their route
//! configuration) so a real sidecar stays readable.

use std::fmt::Write;

use super::Palette;
use crate::analysis::paths::{ChainPath, ClusterNode, PathsReport};
use crate::analysis::tls::{Origination, Termination};

/// Above this many virtual hosts in the whole graph, diagrams fold them.
const FOLD_VHOSTS: usize = 40;
/// In the tree, per level, unless `-o wide`.
const TREE_LIMIT: usize = 6;

fn termination(t: Termination) -> &'static str {
    match t {
        Termination::None => "plain",
        Termination::Passthrough => "passthrough",
        Termination::Tls => "terminates tls",
        Termination::Mtls => "terminates mtls (client cert required)",
        Termination::IstioMutual => "terminates istio_mutual (client cert required, mesh CA)",
        Termination::Unknown => "unknown transport socket",
    }
}

fn chain_label(c: &ChainPath) -> String {
    let id = match c.index {
        Some(i) if c.name.starts_with('#') || c.name.is_empty() => format!("#{i}"),
        Some(i) => format!("#{i} {}", c.name),
        None if c.name == "default" || c.name.is_empty() => "default".to_string(),
        None => format!("default {}", c.name),
    };
    let mut s = format!("{id}  {}", c.match_summary);
    if !c.source_match.is_empty() {
        s.push_str(&format!("; {}", c.source_match.join("; ")));
    }
    s.push_str(&format!("  [tls in: {}]", termination(c.tls.termination)));
    s
}

fn cluster_brief(n: Option<&ClusterNode>) -> String {
    let Some(n) = n else { return String::new() };
    if !n.found {
        return "NOT IN DUMP".into();
    }
    let mut s = format!(
        "{}, tls out: {}",
        n.discovery_type.as_deref().unwrap_or("?"),
        n.origination.map_or("?", Origination::as_str)
    );
    if let Some(sni) = &n.sni {
        s.push_str(&format!(" (SNI {sni})"));
    }
    s
}

/// The tree on a terminal; clusters listed once at the end.
pub fn tree(r: &PathsReport, wide: bool, p: Palette) -> String {
    let mut out = String::new();
    let limit = |n: usize| if wide { n } else { n.min(TREE_LIMIT) };
    for l in &r.listeners {
        let name = if l.name.is_empty() { "(unnamed)" } else { &l.name };
        let mut head = format!("{}  {}  {}", p.bold(name), l.state.as_str(), l.addresses.join(","));
        if !l.listener_filters.is_empty() {
            head.push_str(&format!("  [{}]", l.listener_filters.join(", ")));
        }
        if l.use_original_dst {
            head.push_str("  use_original_dst");
        }
        if l.uses_matcher {
            head.push_str("  (chains chosen by filter_chain_matcher)");
        }
        super::push_line(&mut out, &head);
        let mshown = if wide { l.matcher.len() } else { l.matcher.len().min(8) };
        for m in &l.matcher[..mshown] {
            super::push_line(&mut out, &format!("│   matcher: {m}"));
        }
        if mshown < l.matcher.len() {
            super::push_line(
                &mut out,
                &format!("│   matcher: … {} more entries (-o wide)", l.matcher.len() - mshown),
            );
        }
        if l.chains.is_empty() {
            super::push_line(
                &mut out,
                &format!("└── {}", p.red("no filter chains: every connection is closed")),
            );
        }
        let shown = limit(l.chains.len());
        for (ci, c) in l.chains.iter().take(shown).enumerate() {
            let last_chain = ci + 1 == l.chains.len().min(shown) && shown == l.chains.len();
            let (branch, indent) = if last_chain {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            super::push_line(&mut out, &format!("{branch}{}", chain_label(c)));
            let filters: Vec<_> = c
                .filters
                .iter()
                .filter(|f| f.kind != "other" || c.filters.len() == 1)
                .collect();
            for (fi, f) in filters.iter().enumerate() {
                let last = fi + 1 == filters.len();
                let (b2, i2) = if last {
                    ("└── ", "    ")
                } else {
                    ("├── ", "│   ")
                };
                match (&f.route, f.clusters.is_empty()) {
                    (Some(rt), _) => {
                        let rname = if rt.name.is_empty() { "(unnamed)" } else { &rt.name };
                        let missing = if rt.found { String::new() } else { p.red(" NOT IN DUMP") };
                        super::push_line(
                            &mut out,
                            &format!("{indent}{b2}{} → route {rname} ({}){missing}", f.kind, rt.source),
                        );
                        let vshown = limit(rt.vhosts.len());
                        for (vi, v) in rt.vhosts.iter().take(vshown).enumerate() {
                            let vlast = vi + 1 == vshown && vshown == rt.vhosts.len();
                            let (b3, i3) = if vlast {
                                ("└── ", "    ")
                            } else {
                                ("├── ", "│   ")
                            };
                            super::push_line(
                                &mut out,
                                &format!("{indent}{i2}{b3}vhost {} [{}]", v.name, v.domains_summary),
                            );
                            let rshown = limit(v.routes.len());
                            for (ri, leaf) in v.routes.iter().take(rshown).enumerate() {
                                let rlast = ri + 1 == rshown && rshown == v.routes.len();
                                let b4 = if rlast { "└── " } else { "├── " };
                                let to = if leaf.clusters.is_empty() {
                                    leaf.action.clone()
                                } else {
                                    leaf.clusters
                                        .iter()
                                        .map(|c| {
                                            let n = r.clusters.get(c);
                                            if n.is_some_and(|n| !n.found) {
                                                p.red(&format!("{c} (not in dump)"))
                                            } else {
                                                c.clone()
                                            }
                                        })
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                };
                                super::push_line(
                                    &mut out,
                                    &format!("{indent}{i2}{i3}{b4}{} → {to}", leaf.match_summary),
                                );
                            }
                            if rshown < v.routes.len() {
                                super::push_line(
                                    &mut out,
                                    &format!(
                                        "{indent}{i2}{i3}└── … {} more routes (-o wide)",
                                        v.routes.len() - rshown
                                    ),
                                );
                            }
                        }
                        if vshown < rt.vhosts.len() {
                            super::push_line(
                                &mut out,
                                &format!(
                                    "{indent}{i2}└── … {} more virtual hosts (-o wide)",
                                    rt.vhosts.len() - vshown
                                ),
                            );
                        }
                    }
                    (None, false) => {
                        for cl in &f.clusters {
                            let brief = cluster_brief(r.clusters.get(cl));
                            super::push_line(&mut out, &format!("{indent}{b2}{} → {cl}  ({brief})", f.kind));
                        }
                    }
                    (None, true) => {
                        let extra = if f.http_filters.is_empty() {
                            String::new()
                        } else {
                            format!(" {}", f.http_filters.join(", "))
                        };
                        super::push_line(&mut out, &format!("{indent}{b2}{}{extra}", f.name));
                    }
                }
            }
        }
        if shown < l.chains.len() {
            super::push_line(
                &mut out,
                &format!("└── … {} more filter chains (-o wide)", l.chains.len() - shown),
            );
        }
        let _ = writeln!(out);
    }
    if !r.clusters.is_empty() {
        super::push_line(&mut out, &p.bold("clusters"));
        for (name, n) in &r.clusters {
            let eps = if !n.found {
                p.red("not in the dump")
            } else if n.endpoints.is_empty() {
                if n.endpoints_known {
                    p.yellow("no endpoints")
                } else {
                    "endpoints not in dump".into()
                }
            } else {
                let k = limit(n.endpoints.len());
                let mut e = n.endpoints[..k].join(", ");
                if k < n.endpoints.len() {
                    e.push_str(&format!(" … +{}", n.endpoints.len() - k));
                }
                e
            };
            super::push_line(&mut out, &format!("  {name}  {}  → {eps}", cluster_brief(Some(n))));
        }
    }
    if !r.findings.is_empty() {
        super::push_line(&mut out, &format!("\n{}", p.bold("findings")));
        for f in &r.findings {
            super::push_line(&mut out, &format!("  {}", super::table::finding_line(f, p)));
        }
    }
    out
}

/// Graph nodes and edges, shared by mermaid and dot.
struct Graph {
    nodes: Vec<(String, String, &'static str)>,
    edges: Vec<(String, String)>,
}

fn graph(r: &PathsReport) -> Graph {
    let total_vhosts: usize = r
        .listeners
        .iter()
        .flat_map(|l| &l.chains)
        .flat_map(|c| &c.filters)
        .filter_map(|f| f.route.as_ref())
        .map(|rt| rt.vhosts.len())
        .sum();
    let fold = total_vhosts > FOLD_VHOSTS;
    let mut g = Graph {
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let cluster_id = |name: &str| -> String {
        let keys: Vec<&String> = r.clusters.keys().collect();
        format!("K{}", keys.iter().position(|k| k.as_str() == name).unwrap_or(0))
    };
    for (li, l) in r.listeners.iter().enumerate() {
        let lid = format!("L{li}");
        let name = if l.name.is_empty() { "(unnamed)" } else { &l.name };
        g.nodes.push((
            lid.clone(),
            format!("listener {name}\n{}", l.addresses.join(",")),
            "listener",
        ));
        for (ci, c) in l.chains.iter().enumerate() {
            let cid = format!("{lid}C{ci}");
            g.nodes.push((
                cid.clone(),
                format!("{}\ntls in: {}", c.match_summary, termination(c.tls.termination)),
                "chain",
            ));
            g.edges.push((lid.clone(), cid.clone()));
            for (fi, f) in c.filters.iter().enumerate() {
                for cl in &f.clusters {
                    g.edges.push((cid.clone(), cluster_id(cl)));
                }
                let Some(rt) = &f.route else { continue };
                let rid = format!("{cid}R{fi}");
                let rname = if rt.name.is_empty() { "(inline)" } else { &rt.name };
                g.nodes.push((
                    rid.clone(),
                    format!("route {rname}\n{} virtual hosts", rt.vhosts.len()),
                    "route",
                ));
                g.edges.push((cid.clone(), rid.clone()));
                for (vi, v) in rt.vhosts.iter().enumerate() {
                    let from = if fold {
                        rid.clone()
                    } else {
                        let vid = format!("{rid}V{vi}");
                        g.nodes
                            .push((vid.clone(), format!("vhost {}\n{}", v.name, v.domains_summary), "vhost"));
                        g.edges.push((rid.clone(), vid.clone()));
                        vid
                    };
                    for leaf in &v.routes {
                        for cl in &leaf.clusters {
                            g.edges.push((from.clone(), cluster_id(cl)));
                        }
                    }
                }
            }
        }
    }
    for (name, n) in &r.clusters {
        g.nodes.push((
            cluster_id(name),
            format!("{name}\n{}", cluster_brief(Some(n))),
            "cluster",
        ));
    }
    g.edges.sort();
    g.edges.dedup();
    g
}

/// A label's text for mermaid: everything mermaid interprets inside a
/// quoted label becomes an entity code (`#` first, as it starts them): `%`
/// (a `%%{init: ...}%%` directive in a name would reconfigure the diagram),
/// `<` and `>` (HTML), quotes, backticks (markdown strings), braces and `&`.
/// Our own line breaks become `<br/>`.
fn mermaid_text(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '%' => out.push_str("#37;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '"' => out.push_str("#quot;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '{' => out.push_str("#123;"),
            '}' => out.push_str("#125;"),
            '\n' => out.push_str("<br/>"),
            c => out.push(c),
        }
    }
    out
}

/// A mermaid flowchart (paste into a runbook).
pub fn mermaid(r: &PathsReport) -> String {
    let g = graph(r);
    let mut out = String::from("flowchart LR\n");
    for (id, label, kind) in &g.nodes {
        let text = mermaid_text(label);
        let (open, close) = match *kind {
            "listener" => ("[/\"", "\"/]"),
            "chain" => ("{{\"", "\"}}"),
            "route" | "vhost" => ("(\"", "\")"),
            _ => ("[\"", "\"]"),
        };
        super::push_line(&mut out, &format!("  {id}{open}{text}{close}"));
    }
    for (a, b) in &g.edges {
        super::push_line(&mut out, &format!("  {a} --> {b}"));
    }
    out
}

/// A Graphviz digraph (`dot -Tsvg`).
pub fn dot(r: &PathsReport) -> String {
    let g = graph(r);
    let mut out = String::from("digraph paths {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
    for (id, label, kind) in &g.nodes {
        let shape = match *kind {
            "listener" => "box3d",
            "chain" => "hexagon",
            "route" | "vhost" => "ellipse",
            _ => "box",
        };
        let text = label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        super::push_line(&mut out, &format!("  {id} [shape={shape}, label=\"{text}\"];"));
    }
    for (a, b) in &g.edges {
        super::push_line(&mut out, &format!("  {a} -> {b};"));
    }
    out.push_str("}\n");
    out
}
