//! `report`: one self-contained HTML page (no fetches: styles and the
//! small filtering script are inline, and the page's Content Security
//! Policy forbids loading anything else). Every string from a dump or log
//! goes through maud's escaping; the page reads without JavaScript.

use base64::Engine;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::Digest;

use crate::analysis::report::{FindingGroup, ProxyPart, Report};
use crate::render::svg;

const CSS: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:0 2em 3em;color:#1d2330;background:#fff}
h1{margin:.6em 0 .2em}h2{margin-top:1.6em;border-bottom:2px solid #d8dde8}h3{margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #d8dde8;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f0f3f8}code,.mono{font-family:ui-monospace,monospace;font-size:12.5px}
nav a{margin-right:1em}.meta{color:#5a6478}
.sev-error{color:#b3261e;font-weight:600}.sev-warning{color:#9a6700;font-weight:600}.sev-info{color:#2f5fa7}
.graph .edge{fill:none;stroke:#8a94a8;stroke-width:1}
.graph rect{fill:#e9f2ff;stroke:#5b7db8}.graph text{font:11px ui-monospace,monospace;fill:#1d2330}
.graph .rejected rect{fill:#fde7e7;stroke:#b3261e;stroke-width:2}.graph .warming rect{fill:#fff4d6;stroke:#9a6700}
.graph .draining rect{fill:#eee;stroke:#777;stroke-dasharray:4 2}.graph .missing rect{fill:#fff;stroke:#b3261e;stroke-dasharray:4 2}
.graph .more rect{fill:#f6f6f6;stroke:#aaa;stroke-dasharray:2 2}.graph .unknown rect{fill:#f3f0ff;stroke:#7a5cc2}
.graph .static rect{fill:#eef7ee;stroke:#4a8a4a}.graph .endpoint rect{fill:#f4faf4;stroke:#6a9a6a}
.graph a.node:hover rect{stroke-width:2.5}.graph text.head{font:600 12px system-ui,sans-serif;fill:#5a6478}
.st-rejected{color:#b3261e;font-weight:600}.st-warming{color:#9a6700}.st-draining{color:#777}
figure{margin:.5em 0;overflow-x:auto}figcaption{color:#5a6478}
input.filter{margin:.3em 0;padding:2px 6px;width:24em}
"#;

/// Hides the rows of a table that do not contain what is typed in its
/// filter box; the page works without it.
const SCRIPT: &str = r#"document.querySelectorAll('input.filter').forEach(function(i){i.addEventListener('input',function(){var t=document.getElementById(i.dataset.table),q=i.value.toLowerCase();t.querySelectorAll('tbody tr').forEach(function(r){r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});});"#;

/// Tables longer than this are folded (`<details>`, still in the page).
const FOLD_ROWS: usize = 60;

fn script_hash() -> String {
    let digest = sha2::Sha256::digest(SCRIPT.as_bytes());
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

fn size(n: Option<u64>) -> String {
    match n {
        None => "–".into(),
        Some(n) if n >= 1 << 20 => format!("{:.1} MB", n as f64 / 1e6),
        Some(n) if n >= 1024 => format!("{:.1} kB", n as f64 / 1e3),
        Some(n) => format!("{n} B"),
    }
}

fn proxies(list: &[(String, String)], total: usize) -> Markup {
    html! {
        @if total > 1 && list.len() == total {
            "all " (total) " proxies"
        } @else {
            @for (i, (p, a)) in list.iter().enumerate() {
                @if i > 0 { ", " }
                @if i == 12 { "… " (list.len() - 12) " more" }
                @if i < 12 { a href={"#" (a)} { (p) } }
            }
        }
    }
}

fn fold(rows: usize, what: &str, body: Markup) -> Markup {
    html! {
        @if rows > FOLD_ROWS {
            details { summary { (rows) " " (what) } (body) }
        } @else {
            (body)
        }
    }
}

fn filter(table: &str) -> Markup {
    html! { input.filter type="search" placeholder="filter rows…" data-table=(table) aria-label="filter rows"; }
}

/// Where a finding's resource lives on the page: a cluster's TLS row, or
/// a listener's box in the first graph (of the proxies that have the
/// finding) that draws it.
fn resource_link(f: &FindingGroup, r: &Report, graphs: &[svg::Graph]) -> Option<String> {
    if let Some(c) = f.resource.strip_prefix("cluster ") {
        return r
            .cluster_tls
            .iter()
            .any(|t| t.cluster == c)
            .then(|| svg::cluster_anchor(c));
    }
    let l = f.resource.strip_prefix("listener ")?;
    f.proxies.iter().find_map(|(_, anchor)| {
        let i = r.proxies.iter().position(|p| &p.anchor == anchor)?;
        graphs[i].listeners.contains(l).then(|| svg::listener_anchor(anchor, l))
    })
}

fn findings(r: &Report, graphs: &[svg::Graph]) -> Markup {
    let n = r.proxies.len();
    html! {
        h2 id="findings" { "Findings (" (r.findings.len()) ")" }
        @if r.findings.is_empty() {
            p { "No findings in the dumps" @if r.nack.is_some() { " or the logs" } "." }
        } @else {
            (filter("findings-table"))
            table id="findings-table" {
                thead { tr { th { "severity" } th { "code" } th { "resource" } th { "what" } th { "proxies" } th { "fix" } } }
                tbody {
                    @for f in &r.findings { (finding_row(f, n, resource_link(f, r, graphs))) }
                }
            }
            p.meta { "Codes are explained in docs/findings.md (" code { "egress-xray findings CODE" } ")." }
        }
    }
}

fn finding_row(f: &FindingGroup, total: usize, link: Option<String>) -> Markup {
    let sev = serde_json::to_value(f.severity).ok();
    let sev = sev.as_ref().and_then(|v| v.as_str()).unwrap_or("error");
    html! {
        tr.finding {
            td class={"sev-" (sev)} { (sev) }
            td { code { (f.code) } br; span.meta { (f.name) } }
            td.mono { @match link { Some(a) => a href={"#" (a)} { (f.resource) }, None => (f.resource) } }
            td { (f.message) @if f.source != "dump" { " " span.meta { "(from " (f.source) ")" } } }
            td { (proxies(&f.proxies, total)) }
            td { (f.fix) }
        }
    }
}

fn proxy(p: &ProxyPart, g: &svg::Graph) -> Markup {
    let s = &p.summary;
    let id = s.identity.as_ref();
    html! {
        section.proxy id=(p.anchor) {
            h3 { (p.proxy) }
            table.identity {
                tr { th { "source" } td.mono { (s.source) } }
                @if let Some(id) = id {
                    tr { th { "node" } td.mono { (id.node_id) } }
                    tr { th { "proxy type" } td { (id.proxy_type.as_deref().unwrap_or("unknown")) } }
                    tr { th { "Istio" } td { (id.istio_version.as_deref().unwrap_or("unknown")) } }
                    tr { th { "Envoy" } td { (id.envoy_version.as_deref().unwrap_or("unknown")) } }
                }
                tr { th { "findings" } td { (s.findings.len()) } }
            }
            table.counts {
                thead { tr { th { "resource" } th { "static" } th { "active" } th { "warming" } th { "draining" } th { "rejected" } } }
                tbody {
                    @for c in &s.counts {
                        tr {
                            td { (c.resource) } td { (c.static_) } td { (c.active) }
                            td class=[(c.warming > 0).then_some("st-warming")] { (c.warming) }
                            td class=[(c.draining > 0).then_some("st-draining")] { (c.draining) }
                            td class=[(c.rejected > 0).then_some("st-rejected")] { (c.rejected) }
                        }
                    }
                }
            }
            figure {
                (svg::svg(g, &format!("{}-graph", p.anchor)))
                figcaption {
                    (g.totals.0) " listeners, " (g.totals.1) " filter chains, " (g.totals.2) " clusters reached"
                    @if g.folded {
                        " — folded: rejected, warming and draining listeners first, at most "
                        (svg::CHAINS_PER_LISTENER) " chains per listener and " (svg::CLUSTERS_PER_ROUTE)
                        " clusters per route; the whole graph: " code { "egress-xray paths " (s.source) }
                    }
                    ". Red: rejected or missing; amber: warming; dashed: draining or not in the dump."
                }
            }
        }
    }
}

fn tls(r: &Report) -> Markup {
    let n = r.proxies.len();
    let mut seen = std::collections::BTreeSet::new();
    let mut seen_chain = std::collections::BTreeSet::new();
    html! {
        h2 id="tls" { "TLS" }
        h3 { "Clusters: origination (" (r.cluster_tls.len()) ")" }
        (filter("cluster-tls"))
        (fold(r.cluster_tls.len(), "clusters", html! {
            table id="cluster-tls" {
                thead { tr { th { "cluster" } th { "state" } th { "origination" } th { "SNI" } th { "client certificate" } th { "validated against" } th { "proxies" } } }
                tbody {
                    @for c in &r.cluster_tls {
                        tr id=[seen.insert(c.cluster.clone()).then(|| svg::cluster_anchor(&c.cluster))] {
                            td.mono { (c.cluster) }
                            td class={"st-" (c.state.as_str())} { (c.state.as_str()) }
                            td { (c.origination.as_str()) }
                            td.mono { (c.sni.as_deref().unwrap_or("–")) }
                            td.mono { @if c.client_certificates.is_empty() { "none" } @else { (c.client_certificates.join(", ")) } }
                            td.mono { @if c.trust.is_empty() { "–" } @else { (c.trust.join(", ")) } }
                            td { (proxies(&c.proxies, n)) }
                        }
                    }
                }
            }
        }))
        h3 { "Filter chains: termination (" (r.chain_tls.len()) ")" }
        (filter("chain-tls"))
        (fold(r.chain_tls.len(), "filter chains", html! {
            table id="chain-tls" {
                thead { tr { th { "listener" } th { "chain" } th { "SNI" } th { "termination" } th { "client certificate required" } th { "certificate" } th { "destination" } th { "proxies" } } }
                tbody {
                    @for c in &r.chain_tls {
                        tr id=[seen_chain.insert((c.listener.clone(), c.chain.clone())).then(|| svg::chain_anchor(&c.listener, &c.chain))] {
                            td.mono { (c.listener) }
                            td.mono { (c.chain) }
                            td.mono { @if c.server_names.is_empty() { "any" } @else { (c.server_names.join(", ")) } }
                            td { (serde_json::to_value(c.termination).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) }
                            td { @if c.require_client_certificate { "yes" } @else { "no" } }
                            td.mono { @if c.certificates.is_empty() { "–" } @else { (c.certificates.join(", ")) } }
                            td.mono { (c.destination) }
                            td { (proxies(&c.proxies, n)) }
                        }
                    }
                }
            }
        }))
    }
}

fn across(r: &Report) -> Markup {
    html! {
        @if let Some(iso) = &r.isolation {
            h2 id="isolation" { "Across proxies: isolation" }
            table {
                thead { tr { th { "gateway" } th { "external hosts" } th { "sections behind the newest push" } } }
                tbody {
                    @for g in &iso.gateways {
                        @let v = iso.versions.iter().find(|v| v.name == g.name);
                        tr {
                            td.mono { (g.name) }
                            td { (g.hosts.len()) }
                            td { @match v { Some(v) if !v.behind.is_empty() => span.st-warming { (v.behind.join(", ")) }, _ => "none" } }
                        }
                    }
                }
            }
            h3 { "Shared Istio objects: blast radius (" (iso.shared.len()) ")" }
            (filter("shared"))
            (fold(iso.shared.len(), "shared objects", html! {
                table id="shared" {
                    thead { tr { th { "object" } th { "gateways" } th { "blast radius" } } }
                    tbody {
                        @for s in &iso.shared {
                            tr { td.mono { (s.origin) } td { (s.gateways.join(", ")) } td { (s.blast_radius) } }
                        }
                    }
                }
            }))
        }
        @for d in &r.diffs {
            h2 id="diff" { "Diff: " (d.a) " → " (d.b) }
            @if d.changes.is_empty() {
                p { "No differences." }
            } @else {
                table {
                    thead { tr { th { "type" } th { "added" } th { "removed" } th { "changed" } } }
                    tbody { @for (t, (a, rm, c)) in &d.stat { tr { td { (t) } td { (a) } td { (rm) } td { (c) } } } }
                }
                (fold(d.changes.len(), "changes", html! {
                    table {
                        thead { tr { th { "type" } th { "name" } th { "change" } th { "fields" } } }
                        tbody {
                            @for c in &d.changes {
                                tr {
                                    td { (c.kind) } td.mono { (c.name) } td { (c.change) }
                                    td.mono { @for f in c.fields.iter().take(8) { (f.path) ": " (f.old.to_string()) " → " (f.new.to_string()) br; } }
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

fn nack(r: &Report) -> Markup {
    html! {
        @if let Some(n) = &r.nack {
            h2 id="nack" { "Rejected config (NACK) timeline" }
            @if n.timeline.is_empty() {
                p { "No rejections in the logs and dumps given." }
            } @else {
                (filter("timeline"))
                (fold(n.timeline.len(), "events", html! {
                    table id="timeline" {
                        thead { tr { th { "time" } th { "proxy" } th { "what" } th { "source" } } }
                        tbody {
                            @for t in &n.timeline {
                                tr { td.mono { (t.time.as_deref().unwrap_or("unknown")) } td.mono { (t.proxy) } td { (t.what) } td.mono { (t.source) } }
                            }
                        }
                    }
                }))
            }
            @if !n.groups.is_empty() {
                h3 { "Grouped, with the Istio object" }
                table {
                    thead { tr { th { "resource" } th { "proxies" } th { "first" } th { "last" } th { "Istio object" } th { "why" } } }
                    tbody {
                        @for g in &n.groups {
                            tr {
                                td.mono { (g.xds_type) " " (g.resource.as_deref().unwrap_or("(unnamed)")) }
                                td { (g.proxies.join(", ")) }
                                td.mono { (g.first.as_deref().unwrap_or("unknown")) }
                                td.mono { (g.last.as_deref().unwrap_or("unknown")) }
                                td.mono { (g.origin.as_deref().unwrap_or("undetermined")) }
                                td { (g.message) }
                            }
                        }
                    }
                }
            }
            @if !n.notes.is_empty() { ul.meta { @for x in &n.notes { li { (x) } } } }
        }
    }
}

/// The whole page.
pub fn page(r: &Report) -> String {
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src '{}'; img-src data:; base-uri 'none'; form-action 'none'",
        script_hash()
    );
    let graphs: Vec<svg::Graph> = r.proxies.iter().map(|p| svg::graph(&p.paths, &p.anchor)).collect();
    let title = match r.proxies.len() {
        1 => format!("egress-xray report: {}", r.proxies[0].proxy),
        n => format!("egress-xray report: {n} proxies"),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { (title) }
                    p.meta { "egress-xray " (r.tool_version) ", report made " (r.generated_at) "." }
                    p.meta {
                        "Read " (r.inputs.len()) " " (if r.inputs.len() == 1 { "input" } else { "inputs" })
                        " (" (size(Some(r.inputs.iter().filter_map(|i| i.size).sum()))) "): "
                        (r.proxies.len()) " " (if r.proxies.len() == 1 { "proxy" } else { "proxies" }) "; "
                        a href="#inputs" { (r.notes.len()) " notes on what was passed over or could not be decided" } "."
                    }
                    nav {
                        a href="#findings" { "Findings" }
                        a href="#proxies" { "Proxies" }
                        a href="#tls" { "TLS" }
                        @if r.isolation.is_some() { a href="#isolation" { "Isolation" } }
                        @if !r.diffs.is_empty() { a href="#diff" { "Diff" } }
                        @if r.nack.is_some() { a href="#nack" { "NACK timeline" } }
                        a href="#inputs" { "Inputs" }
                    }
                }
                main {
                    (findings(r, &graphs))
                    h2 id="proxies" { "Proxies (" (r.proxies.len()) ")" }
                    @if r.proxies.len() > 1 {
                        ul { @for p in &r.proxies { li { a href={"#" (p.anchor)} { (p.proxy) } " — " (p.summary.findings.len()) " findings" } } }
                    }
                    @for (p, g) in r.proxies.iter().zip(&graphs) { (proxy(p, g)) }
                    (tls(r))
                    (across(r))
                    (nack(r))
                    h2 id="inputs" { "Inputs" }
                    table {
                        thead { tr { th { "file" } th { "read as" } th { "size" } } }
                        tbody { @for i in &r.inputs { tr { td.mono { (i.path) } td { (i.role) } td { (size(i.size)) } } } }
                    }
                    @if !r.notes.is_empty() {
                        h3 { "Notes" }
                        ul { @for n in &r.notes { li.mono { (n) } } }
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}
