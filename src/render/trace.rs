//! `egress-xray trace` as text: one labelled line per hop (connection,
//! listener, chain, tls in, filter, http, route, cluster, tls out,
//! endpoints, result) with indented detail lines, each hop from its own
//! small function.

use super::Palette;
use crate::analysis::tls::{ChainTls, ClusterTls, Origination, Termination};
use crate::analysis::trace::{RouteHop, Trace};

/// The hop lines: labels padded as plain text, then painted; every text
/// goes through `push_line`, so a newline inside a name cannot forge a line.
struct Hops {
    out: String,
    p: Palette,
}

/// The width of the label column.
const LABEL: usize = 11;

impl Hops {
    fn hop(&mut self, label: &str, text: impl AsRef<str>) {
        let pad = LABEL.saturating_sub(super::width(label));
        super::push_line(
            &mut self.out,
            &format!("{}{:pad$}{}", self.p.bold(label), "", text.as_ref()),
        );
    }

    fn detail(&mut self, text: impl AsRef<str>) {
        super::push_line(&mut self.out, &format!("{:<LABEL$}  {}", "", text.as_ref()));
    }

    /// Up to five items (all with -o wide), then how many more there are.
    fn details_capped(&mut self, items: &[String], wide: bool, more: &str) {
        let shown = if wide { items.len() } else { items.len().min(5) };
        for i in &items[..shown] {
            self.detail(i);
        }
        if shown < items.len() {
            self.detail(self.p.dim(&format!("... {} more {more}", items.len() - shown)));
        }
    }
}

pub fn render(t: &Trace, wide: bool, p: Palette) -> String {
    let mut h = Hops { out: String::new(), p };
    connection(&mut h, t);
    listener(&mut h, t);
    chain(&mut h, t, wide);
    if let Some(ct) = &t.chain_tls {
        tls_in(&mut h, ct);
    }
    filters(&mut h, t);
    if let Some(r) = &t.route {
        route(&mut h, r);
    }
    cluster(&mut h, t);
    if let Some(ct) = &t.cluster_tls {
        tls_out(&mut h, ct);
    }
    endpoints(&mut h, t, wide);
    for n in &t.notes {
        h.hop("note", p.yellow(n));
    }
    let result = snake(&format!("{:?}", t.result));
    h.hop("result", format!("{} — {}", p.bold(&result), t.summary));
    h.out
}

fn connection(h: &mut Hops, t: &Trace) {
    let c = &t.connection;
    let mut seen = Vec::new();
    if let Some(ip) = c.dst_ip {
        seen.push(format!("dst {ip}"));
    }
    seen.push(format!("port {}", c.dst_port));
    if !c.transport.is_empty() {
        seen.push(format!("transport {}", c.transport));
    }
    if let Some(s) = &c.sni {
        seen.push(format!("SNI {s}"));
    }
    if !c.alpn.is_empty() {
        seen.push(format!("ALPN {}", c.alpn.join(",")));
    }
    h.hop("connection", seen.join(", "));
}

fn listener(h: &mut Hops, t: &Trace) {
    let text = match &t.listener {
        Some(l) => format!("{} — {}", if l.is_empty() { "(unnamed)" } else { l }, t.listener_reason),
        None => h.p.red("none"),
    };
    h.hop("listener", text);
}

fn chain(h: &mut Hops, t: &Trace, wide: bool) {
    if let Some(sel) = &t.chain_selection {
        let chosen = match &t.filter_chain {
            Some(fc) => match fc.index {
                Some(i) if fc.name.starts_with('#') => format!("#{i}"),
                Some(i) => format!("#{i} {}", fc.name),
                None => format!("default chain {}", fc.name),
            },
            None if sel.undetermined.is_some() => h.p.yellow("undetermined (see result)"),
            None => h.p.red("none (no default chain: connection closed)"),
        };
        h.hop("chain", chosen);
        for s in &sel.steps {
            h.detail(format!("{}: {}", s.step, s.decision));
        }
        let misses: Vec<String> = sel
            .near_misses
            .iter()
            .map(|m| h.p.dim(&format!("not #{}: {}", m.index, m.reason)))
            .collect();
        h.details_capped(&misses, wide, "near misses (-o wide)");
    }
    if let Some(m) = &t.chain_matcher {
        let chosen = match &t.filter_chain {
            Some(fc) => format!("{} (by filter_chain_matcher)", fc.name),
            None => h.p.red("none (matcher: no match, no default chain)"),
        };
        h.hop("chain", chosen);
        for s in &m.steps {
            h.detail(s);
        }
    }
}

fn tls_in(h: &mut Hops, ct: &ChainTls) {
    let certs = ct.certificates.join(",");
    let trust = ct.trust.join(",");
    let what = match ct.termination {
        Termination::Unknown => format!(
            "unknown: transport socket {} cannot be read, so what it does to the bytes is not known",
            ct.unknown_socket.as_deref().unwrap_or("?")
        ),
        Termination::None => "plain bytes (no TLS handling)".to_string(),
        Termination::Passthrough => "TLS passes through, not decrypted (chosen on SNI/transport)".to_string(),
        Termination::Tls => format!("terminates TLS, no client certificate; cert {certs}"),
        Termination::Mtls => {
            format!("terminates TLS and requires a client certificate; cert {certs}, validated by {trust}")
        }
        Termination::IstioMutual => format!(
            "terminates Istio mutual TLS (istio_mutual): requires a client certificate from the mesh; cert {certs}, validated by {trust}"
        ),
    };
    h.hop("tls in", what);
    if let Some(v) = super::table::tls_versions_sentence(ct.tls_min.as_deref(), ct.tls_max.as_deref()) {
        h.detail(v);
    }
    if !ct.cipher_suites.is_empty() {
        h.detail(format!("cipher suites {}", ct.cipher_suites.join(",")));
    }
}

fn filters(h: &mut Hops, t: &Trace) {
    if let Some(f) = &t.network_filter {
        h.hop("filter", f);
    }
    if !t.http_filters.is_empty() {
        let chain: Vec<String> = t
            .http_filters
            .iter()
            .map(|f| {
                if f.answers {
                    format!("{} (answers)", f.name)
                } else if f.may_stop.is_some() {
                    format!("{} (may answer)", f.name)
                } else {
                    f.name.clone()
                }
            })
            .collect();
        h.hop("http", chain.join(" → "));
    }
}

fn route(h: &mut Hops, r: &RouteHop) {
    let name = if r.route_config.is_empty() {
        "(unnamed)"
    } else {
        &r.route_config
    };
    h.hop("route", format!("{name} ({}) for Host {:?}", r.source, r.host));
    if let Some(v) = &r.vhost {
        h.detail(format!("virtual host {v}: {}", r.vhost_reason));
    }
    for s in &r.skipped_routes {
        h.detail(h.p.dim(&format!("not route {s}")));
    }
    if let (Some(i), Some(m)) = (r.route_index, &r.match_summary) {
        h.detail(format!("route #{i} {m} → {}", r.action.clone().unwrap_or_default()));
    }
}

fn cluster(h: &mut Hops, t: &Trace) {
    let Some(cl) = &t.cluster else { return };
    let text = if !t.cluster_found {
        h.p.red(&format!("{cl} (not in the dump)"))
    } else {
        match &t.cluster_type {
            Some(ty) => format!("{cl} ({ty})"),
            None => cl.clone(),
        }
    };
    h.hop("cluster", text);
    for (n, w) in &t.weighted_clusters {
        h.detail(format!("weight {w}: {n}"));
    }
}

fn tls_out(h: &mut Hops, ct: &ClusterTls) {
    let mut text = ct.origination.as_str().to_string();
    if let Some(s) = &ct.sni {
        text.push_str(&format!(", SNI {s}"));
    }
    match ct.origination {
        Origination::None => text.push_str(" — plain TCP to the upstream (any TLS inside is the client's own)"),
        Origination::Unknown => text.push_str(&format!(
            " — transport socket {} cannot be read: whether it encrypts is not known",
            ct.default_socket.unknown_socket.as_deref().unwrap_or("?")
        )),
        _ => {}
    }
    h.hop("tls out", text);
}

fn endpoints(h: &mut Hops, t: &Trace, wide: bool) {
    if !t.cluster_found {
        return;
    }
    if t.endpoints.is_empty() {
        h.hop("endpoints", h.p.yellow(t.endpoints_note.as_deref().unwrap_or("none")));
        return;
    }
    let shown = if wide {
        t.endpoints.len()
    } else {
        t.endpoints.len().min(5)
    };
    h.hop("endpoints", t.endpoints[..shown].join(", "));
    if shown < t.endpoints.len() {
        h.detail(format!("... {} more", t.endpoints.len() - shown));
    }
}

/// `NoFilterChain` → `no_filter_chain`.
fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
