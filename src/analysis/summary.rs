//! The one-screen summary of a dump: identity, versions, counts per resource
//! type and state, what decoding skipped, and what needs attention.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::findings::{self, Finding};
use crate::input::DecodeReport;
use crate::model::{Identity, Index, State};

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub source: String,
    pub format: crate::input::Format,
    pub gzip: bool,
    pub shape: &'static str,
    pub identity: Option<Identity>,
    pub sections: Vec<String>,
    pub section_versions: BTreeMap<String, String>,
    pub counts: Vec<CountRow>,
    /// The `endpoints` row counts endpoint sets (cluster load assignments);
    /// this is how many hosts they hold.
    pub endpoint_hosts: usize,
    pub skipped: String,
    pub decode_report: DecodeReport,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CountRow {
    pub resource: &'static str,
    #[serde(rename = "static")]
    pub static_: usize,
    pub active: usize,
    pub warming: usize,
    pub draining: usize,
    pub rejected: usize,
    pub total: usize,
}

const TYPES: [&str; 6] = ["listeners", "routes", "clusters", "endpoints", "secrets", "ecds"];

pub fn summarize(ix: &Index) -> Summary {
    let counts = ix.counts();
    let rows = TYPES
        .iter()
        .map(|t| {
            let get = |s: State| counts.get(&(*t, s)).copied().unwrap_or(0);
            let mut row = CountRow {
                resource: t,
                static_: get(State::Static),
                active: get(State::Active),
                warming: get(State::Warming),
                draining: get(State::Draining),
                rejected: get(State::Rejected),
                total: 0,
            };
            row.total = row.static_ + row.active + row.warming + row.draining + row.rejected;
            row
        })
        .collect();
    Summary {
        source: ix.source.clone(),
        format: ix.format,
        gzip: ix.gzip,
        shape: ix.shape,
        identity: ix.identity.clone(),
        sections: ix.sections.clone(),
        section_versions: ix.section_versions.clone(),
        counts: rows,
        endpoint_hosts: endpoint_hosts(ix),
        skipped: ix.report.one_line(),
        decode_report: ix.report.clone(),
        findings: findings(ix),
    }
}

/// Hosts in every endpoint set, counted on the wire
/// (ClusterLoadAssignment.endpoints[].lb_endpoints[]).
fn endpoint_hosts(ix: &Index) -> usize {
    use crate::input::wire;
    ix.endpoints
        .iter()
        .map(|e| {
            wire::repeated(&e.lazy.encoded(), 2)
                .into_iter()
                .map(|group| wire::repeated(group, 2).len())
                .sum::<usize>()
        })
        .sum()
}

/// (cluster, who sends there) pairs.
type Targets = Vec<(String, String)>;

/// Findings the inventory can make on its own.
pub fn findings(ix: &Index) -> Vec<Finding> {
    use rayon::prelude::*;
    let mut out = Vec::new();
    // Each listener is decoded once, in parallel, for its own findings and
    // the clusters its tcp_proxy filters send to.
    let per_listener: Vec<(Vec<Finding>, Targets)> =
        ix.listeners.par_iter().map(|l| listener_findings(ix, l)).collect();
    let mut tcp_targets = Vec::new();
    for (found, targets) in per_listener {
        out.extend(found);
        tcp_targets.extend(targets);
    }
    for c in ix.clusters.iter().filter(|c| c.state == State::Warming) {
        out.push(Finding::new(
            findings::RESOURCE_WARMING,
            format!("cluster {}", c.name),
            "cluster is warming",
        ));
    }
    for s in ix.secrets.iter().filter(|s| s.state == State::Warming) {
        out.push(Finding::new(
            findings::RESOURCE_WARMING,
            format!("secret {}", s.name),
            "secret is warming (no SDS answer yet)",
        ));
    }
    let r = &ix.report;
    if !r.v2_type_urls.is_empty() {
        out.push(Finding::new(
            findings::V2_API,
            "dump",
            format!("v2 API read as v3; {} v2-only field(s) skipped", r.unknown_fields),
        ));
    }
    if r.unknown_enum_values > 0 {
        let mut ex: Vec<(&str, &str)> = r
            .examples
            .iter()
            .filter(|e| e.kind == "unknown enum value")
            .map(|e| (e.detail.as_str(), e.path.as_str()))
            .collect();
        ex.sort();
        let ex: Vec<String> = ex.iter().take(3).map(|(d, p)| format!("{d} at {p}")).collect();
        out.push(Finding::new(
            findings::UNKNOWN_ENUM,
            "dump",
            format!(
                "{} enum value(s) unknown to this Envoy API, shown as UNKNOWN: {}",
                r.unknown_enum_values,
                ex.join("; ")
            ),
        ));
    }
    if r.undecodable > 0 {
        out.push(Finding::new(
            findings::RESOURCE_UNDECODABLE,
            "dump",
            format!(
                "{} resource(s) do not decode as their type and are left out of every view",
                r.undecodable
            ),
        ));
    }
    // Version skew proper: what was skipped or kept opaque, not lost.
    let skew = DecodeReport {
        undecodable: 0,
        ..r.clone()
    };
    if !skew.is_clean() && r.v2_type_urls.is_empty() {
        out.push(Finding::new(findings::DECODE_SKEW, "dump", skew.one_line()));
    }
    dangling_clusters(ix, tcp_targets, &mut out);
    if let Some(message) = gateway_without_listeners(ix) {
        out.push(Finding::new(findings::GATEWAY_NO_LDS_LISTENERS, "dump", message));
    }
    // Most severe first; otherwise by code and resource, never by where the
    // resources stand in the file.
    out.sort_by(|a, b| {
        (a.severity, a.code, &a.resource, &a.message).cmp(&(b.severity, b.code, &b.resource, &b.message))
    });
    out
}

/// A gateway (router) dump with no listener from LDS: what to say, if so.
pub fn gateway_without_listeners(ix: &Index) -> Option<String> {
    let id = ix.identity.as_ref()?;
    if id.proxy_type.as_deref() != Some("router") || ix.listeners.iter().any(|l| l.state != State::Static) {
        return None;
    }
    let statics = ix.listeners.len();
    let lds = match ix.section_versions.get("ListenersConfigDump") {
        Some(v) => format!("its LDS version {v} holds none"),
        None => "it has no listener version (it may never have received LDS)".into(),
    };
    Some(format!(
        "gateway has no listeners from LDS ({statics} static): {lds}. istiod built none for it; run `egress-xray explain DUMP --istio <config> --k8s <services>` on this dump to see why"
    ))
}

/// One listener's findings, and (cluster, sender) for each cluster its
/// tcp_proxy filters send to when it serves (active or static).
fn listener_findings(ix: &Index, l: &crate::model::ListenerEntry) -> (Vec<Finding>, Targets) {
    use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{tcp_proxy, TcpProxy};
    let mut out = Vec::new();
    let mut targets = Vec::new();
    let shown = if l.name.is_empty() {
        "(no name)"
    } else {
        l.name.as_str()
    };
    if let Some(r) = &l.rejection {
        let when = r.last_update_attempt.as_deref().unwrap_or("an unknown time");
        let standing = if ix
            .listeners
            .iter()
            .any(|o| o.name == l.name && o.state == State::Active && !l.name.is_empty())
        {
            "the previous version is still active"
        } else {
            "no active version: nothing listens"
        };
        out.push(Finding::new(
            findings::LISTENER_REJECTED,
            format!("listener {shown}"),
            format!("update rejected at {when} ({standing}): {}", first_line(&r.details)),
        ));
    }
    if l.state == State::Warming {
        out.push(Finding::new(
            findings::RESOURCE_WARMING,
            format!("listener {shown}"),
            "listener is warming",
        ));
    }
    if l.state != State::Rejected && l.serves_nothing() {
        out.push(Finding::new(
            findings::LISTENER_WITHOUT_CHAINS,
            format!("listener {shown}"),
            "no filter chains and no default filter chain: every connection is closed",
        ));
    }
    if matches!(l.state, State::Active | State::Static) {
        // Decoding every listener would cost the summary a quarter of its
        // time on a large sidecar dump: the wire says first whether a tie is
        // possible at all.
        if l.lazy.as_ref().is_some_and(|z| may_tie_on_zero_prefix(&z.encoded())) {
            if let Some(listener) = l.peek() {
                out.extend(zero_prefix_ties(&listener, shown));
            }
        }
        for (chain, t) in l.filter_configs::<TcpProxy>() {
            let by = format!("listener {} chain {chain}", l.name);
            match t.cluster_specifier {
                Some(tcp_proxy::ClusterSpecifier::Cluster(cl)) => targets.push((cl, by)),
                Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => {
                    targets.extend(w.clusters.into_iter().map(|cl| (cl.name, by.clone())))
                }
                None => {}
            }
        }
    }
    (out, targets)
}

/// Whether a listener's chains (read on the wire: Listener.filter_chains 3 →
/// FilterChain.filter_chain_match 1 → prefix_ranges 3, source_prefix_ranges
/// 6, direct_source_prefix_ranges 13 → CidrRange.prefix_len 2) have, for one
/// kind of range, both a /0 and a chain without ranges.
fn may_tie_on_zero_prefix(raw: &[u8]) -> bool {
    use crate::input::wire;
    let chains = wire::repeated(raw, 3);
    if chains.len() < 2 {
        return false;
    }
    let zero_len = |r: &[u8]| match wire::field(r, 2) {
        None => true,
        Some(b) => b.is_empty() || b == [0x08, 0x00],
    };
    [3u32, 6, 13].into_iter().any(|tag| {
        let lists: Vec<Vec<&[u8]>> = chains
            .iter()
            .map(|ch| wire::repeated(wire::field(ch, 1).unwrap_or(&[]), tag))
            .collect();
        lists.iter().any(|l| l.is_empty()) && lists.iter().flatten().any(|r| zero_len(r))
    })
}

/// XR0042: chains listing an explicit /0 beside chains listing no range,
/// for the destination, direct source and source ranges.
fn zero_prefix_ties(l: &envoy_types::pb::envoy::config::listener::v3::Listener, shown: &str) -> Vec<Finding> {
    use envoy_types::pb::envoy::config::core::v3::CidrRange;
    use envoy_types::pb::envoy::config::listener::v3::FilterChainMatch;
    type Ranges = fn(&FilterChainMatch) -> &Vec<CidrRange>;
    let kinds: [(&str, Ranges); 3] = [
        ("destination", |m| &m.prefix_ranges),
        ("direct source", |m| &m.direct_source_prefix_ranges),
        ("source", |m| &m.source_prefix_ranges),
    ];
    let name = |i: usize| {
        let n = &l.filter_chains[i].name;
        if n.is_empty() {
            format!("#{i}")
        } else {
            n.clone()
        }
    };
    let mut out = Vec::new();
    let default = FilterChainMatch::default();
    for (kind, ranges) in kinds {
        let m = |i: usize| l.filter_chains[i].filter_chain_match.as_ref().unwrap_or(&default);
        let zero: Vec<usize> = (0..l.filter_chains.len())
            .filter(|&i| ranges(m(i)).iter().any(|c| c.prefix_len.is_none_or(|p| p.value == 0)))
            .collect();
        if zero.is_empty() {
            continue;
        }
        // Only chains that can meet at this step (same destination port).
        let port = |i: usize| m(i).destination_port.map(|p| p.value);
        let empty: Vec<usize> = (0..l.filter_chains.len())
            .filter(|&i| ranges(m(i)).is_empty() && zero.iter().any(|&z| port(z) == port(i)))
            .collect();
        if empty.is_empty() {
            continue;
        }
        let list = |v: &[usize]| v.iter().map(|&i| name(i)).collect::<Vec<_>>().join(", ");
        out.push(Finding::new(
            findings::CHAIN_ZERO_PREFIX_TIE,
            format!("listener {shown}"),
            format!(
                "chains {} list a /0 {kind} range and chains {} list none: which group Envoy uses differs per process",
                list(&zero),
                list(&empty)
            ),
        ));
    }
    out
}

/// Clusters that routes and tcp_proxy filters send to but the dump lacks
/// (the cheap part of `egress-xray paths`, for the summary screen).
fn dangling_clusters(ix: &Index, tcp_targets: Targets, out: &mut Vec<Finding>) {
    use rayon::prelude::*;
    use std::collections::{BTreeMap, HashSet};
    if ix.clusters.is_empty() {
        return; // a partial dump (no clusters section): nothing to judge
    }
    let have: HashSet<&str> = ix.clusters.iter().map(|c| c.name.as_str()).collect();
    // Route targets the dump lacks, per route configuration, in parallel.
    let route_targets: Vec<Targets> = ix
        .route_configs
        .par_iter()
        .filter(|r| matches!(r.state, State::Active | State::Static))
        .map(|rc| {
            rc.route_clusters()
                .into_iter()
                .filter(|(_, c)| !have.contains(c.as_str()))
                .map(|(vh, c)| (c, format!("route {} / {vh}", rc.name)))
                .collect::<Vec<_>>()
        })
        .collect();
    // cluster → everyone who sends there, in name order
    let mut missing: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (cluster, by) in route_targets.into_iter().flatten().chain(tcp_targets) {
        if !cluster.is_empty() && !have.contains(cluster.as_str()) {
            missing.entry(cluster).or_default().insert(by);
        }
    }
    for (cluster, senders) in missing {
        let mut by = senders.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        if senders.len() > 3 {
            by.push_str(&format!(" and {} more", senders.len() - 3));
        }
        out.push(Finding::new(
            findings::DANGLING_CLUSTER,
            format!("cluster {cluster}"),
            format!(
                "{by} send{} here, but the dump has no such cluster",
                if senders.len() == 1 { "s" } else { "" }
            ),
        ));
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
