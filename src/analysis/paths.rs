//! Paths: every listener → filter chain → network filter → route → cluster →
//! endpoints, as one graph of plain data, with the references that lead
//! nowhere reported as findings.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::cluster::v3::cluster::LbPolicy;
use envoy_types::pb::envoy::config::listener::v3::{filter::ConfigType, Filter, FilterChain, Listener};
use envoy_types::pb::envoy::config::route::v3::{route, route_action, RouteConfiguration};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    http_connection_manager::RouteSpecifier, http_filter, HttpConnectionManager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{tcp_proxy, TcpProxy};
use serde::Serialize;

use super::inventory::{describe_match, describe_route_match, discovery_type};
use super::matching::cidr_text;
use super::routes::describe_domains;
use super::tls::{self, ChainTls, Origination};
use crate::findings::{self, Finding};
use crate::model::{listener_chains, network_filter_config, Index, RouteOrigin, State};

#[derive(Debug, Clone, Serialize)]
pub struct PathsReport {
    pub listeners: Vec<ListenerPath>,
    /// Every cluster a path reaches, once, by name.
    pub clusters: BTreeMap<String, ClusterNode>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenerPath {
    pub name: String,
    pub state: State,
    pub addresses: Vec<String>,
    pub listener_filters: Vec<String>,
    pub use_original_dst: bool,
    /// True when chains are chosen by `filter_chain_matcher`.
    pub uses_matcher: bool,
    /// The matcher, one line per leaf (`DestinationIP in 10.0.0.1/32,
    /// DestinationPort = 80 → chain x`).
    pub matcher: Vec<String>,
    pub chains: Vec<ChainPath>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainPath {
    pub index: Option<usize>,
    pub name: String,
    pub is_default: bool,
    /// istioctl-style summary of the match (`SNI: a; Trans: tls`, `ALL`).
    #[serde(rename = "match")]
    pub match_summary: String,
    /// Criteria istioctl does not show: source type, ranges, ports.
    pub source_match: Vec<String>,
    pub tls: ChainTls,
    pub filters: Vec<FilterHop>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FilterHop {
    pub name: String,
    /// `tcp_proxy`, `http_connection_manager`, `sni_cluster`,
    /// `sni_dynamic_forward_proxy`, `ecds`, or `other`.
    pub kind: String,
    /// Clusters this filter sends to directly (tcp_proxy).
    pub clusters: Vec<String>,
    pub route: Option<RoutePath>,
    /// HTTP filters in order; ECDS ones as `ecds:<name>` (`missing` when
    /// the dump lacks the config).
    pub http_filters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoutePath {
    pub name: String,
    /// `rds` or `inline`.
    pub source: String,
    /// False for an RDS name with no route configuration in the dump.
    pub found: bool,
    /// Shared by every chain that asks RDS for the same configuration.
    pub vhosts: std::sync::Arc<Vec<VhostPath>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VhostPath {
    pub name: String,
    pub domains: Vec<String>,
    pub domains_summary: String,
    pub routes: Vec<RouteLeaf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteLeaf {
    #[serde(rename = "match")]
    pub match_summary: String,
    pub action: String,
    pub clusters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterNode {
    pub name: String,
    /// False when a path names it but the dump has no such cluster.
    pub found: bool,
    pub state: Option<State>,
    #[serde(rename = "type")]
    pub discovery_type: Option<String>,
    pub lb_policy: Option<String>,
    pub circuit_breakers: Option<String>,
    pub origination: Option<Origination>,
    pub sni: Option<String>,
    pub endpoints: Vec<String>,
    /// False when the dump says nothing about its endpoints.
    pub endpoints_known: bool,
}

/// Filters on the graph; all empty = everything.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    pub listener: Option<super::filter::TextFilter>,
    pub port: Option<u32>,
    /// A host name as a client sends it: kept where a chain's server names
    /// or a virtual host's domains (wildcards included) serve it.
    pub host: Option<String>,
    /// A cluster the chain may send to.
    pub cluster: Option<super::filter::TextFilter>,
}

/// The whole graph of the dump (active and static listeners, plus warming,
/// draining and rejected ones, marked), filtered.
pub fn paths(ix: &Index, filter: &PathFilter) -> PathsReport {
    let mut listeners = Vec::new();
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    let mut findings = Vec::new();
    // An RDS configuration's virtual hosts, made once however many chains
    // use it (a sidecar's thousands of listeners share a few).
    let mut rds = RdsCache::new();
    for e in &ix.listeners {
        let Some(l) = e.listener() else { continue };
        if filter.listener.as_ref().is_some_and(|n| !n.matches(&e.name)) {
            continue;
        }
        let addresses = addresses(l);
        if let Some(p) = filter.port {
            if !addresses.iter().any(|a| a.ends_with(&format!(":{p}"))) {
                continue;
            }
        }
        let default = l.default_filter_chain.as_ref().map(|d| d as *const FilterChain);
        let mut chains = Vec::new();
        for (i, (name, c)) in listener_chains(l).into_iter().enumerate() {
            let is_default = Some(c as *const FilterChain) == default;
            let index = (!is_default).then_some(i);
            let chain = chain_path(
                ix,
                &e.name,
                e.state,
                index,
                name,
                c,
                is_default,
                &mut findings,
                &mut rds,
            );
            if keep_chain(&chain, filter) {
                chains.push(chain);
            }
        }
        let filtered = filter.host.is_some() || filter.cluster.is_some();
        if filtered && chains.is_empty() {
            continue;
        }
        for c in &chains {
            for f in &c.filters {
                referenced.extend(f.clusters.iter().cloned());
                if let Some(r) = &f.route {
                    for v in r.vhosts.iter() {
                        for leaf in &v.routes {
                            referenced.extend(leaf.clusters.iter().cloned());
                        }
                    }
                }
            }
        }
        listeners.push(ListenerPath {
            name: e.name.clone(),
            state: e.state,
            addresses,
            listener_filters: l.listener_filters.iter().map(|f| f.name.clone()).collect(),
            use_original_dst: l.use_original_dst.is_some_and(|b| b.value),
            uses_matcher: l.filter_chain_matcher.is_some(),
            matcher: l
                .filter_chain_matcher
                .as_ref()
                .map(super::matching::describe_matcher)
                .unwrap_or_default(),
            chains,
        });
    }
    let mut clusters = BTreeMap::new();
    for name in referenced {
        let node = cluster_node(ix, &name);
        if !node.found {
            findings.push(Finding::new(
                findings::DANGLING_CLUSTER,
                format!("cluster {name}"),
                "a route or tcp_proxy sends here, but the dump has no such cluster",
            ));
        } else if node.endpoints_known
            && node.endpoints.is_empty()
            && node.discovery_type.as_deref() != Some("ORIGINAL_DST")
            && !is_istio_special(&name)
        {
            findings.push(Finding::new(
                findings::CLUSTER_WITHOUT_ENDPOINTS,
                format!("cluster {name}"),
                "paths lead here, but the cluster has no endpoints",
            ));
        }
        if matches!(name.as_str(), "BlackHoleCluster" | "PassthroughCluster") {
            findings.push(Finding::new(
                findings::SPECIAL_DESTINATION,
                format!("cluster {name}"),
                if name == "BlackHoleCluster" {
                    "some paths end in BlackHoleCluster: that traffic is dropped"
                } else {
                    "some paths end in PassthroughCluster: that traffic leaves to its original destination unchecked"
                },
            ));
        }
        clusters.insert(name, node);
    }
    missing_secrets(ix, &mut findings);
    findings.sort_by(|a, b| (a.code, &a.resource).cmp(&(b.code, &b.resource)));
    findings.dedup_by(|a, b| a.code == b.code && a.resource == b.resource);
    PathsReport {
        listeners,
        clusters,
        findings,
    }
}

/// Istio's built-in clusters, empty by design.
fn is_istio_special(name: &str) -> bool {
    matches!(
        name,
        "BlackHoleCluster" | "PassthroughCluster" | "InboundPassthroughCluster"
    ) || name.starts_with("InboundPassthroughCluster")
}

fn keep_chain(c: &ChainPath, f: &PathFilter) -> bool {
    let host_ok = f.host.as_ref().is_none_or(|h| {
        let h = h.to_ascii_lowercase();
        c.tls.server_names.iter().any(|s| domain_matches(s, &h))
            || c.filters.iter().any(|f| {
                f.route.as_ref().is_some_and(|r| {
                    r.vhosts.iter().any(|v| {
                        v.domains.iter().any(|d| domain_matches(d, &h))
                            || v.routes
                                .iter()
                                .any(|leaf| leaf.clusters.iter().any(|cl| cl.contains(&h)))
                    })
                }) || f.clusters.iter().any(|cl| cl.contains(&h))
            })
    });
    let cluster_ok = f.cluster.as_ref().is_none_or(|want| {
        c.filters.iter().any(|f| {
            want.any(&f.clusters)
                || f.route.as_ref().is_some_and(|r| {
                    r.vhosts
                        .iter()
                        .any(|v| v.routes.iter().any(|leaf| want.any(&leaf.clusters)))
                })
        })
    });
    host_ok && cluster_ok
}

/// A server name or domain pattern against a host (wildcards either side,
/// `*` not counted as a match for a --host filter).
fn domain_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let p = p.split(':').next().unwrap_or(&p);
    if p == "*" {
        return false;
    }
    if let Some(rest) = p.strip_prefix('*') {
        return host.len() > rest.len() && host.ends_with(rest);
    }
    if let Some(rest) = p.strip_suffix('*') {
        return host.len() > rest.len() && host.starts_with(rest);
    }
    p == host
}

fn addresses(l: &Listener) -> Vec<String> {
    let mut v: Vec<String> = l.address.iter().map(super::inventory::format_address).collect();
    v.extend(
        l.additional_addresses
            .iter()
            .filter_map(|a| a.address.as_ref())
            .map(super::inventory::format_address),
    );
    v
}

#[allow(clippy::too_many_arguments)]
fn chain_path(
    ix: &Index,
    listener: &str,
    state: State,
    index: Option<usize>,
    name: String,
    c: &FilterChain,
    is_default: bool,
    findings: &mut Vec<Finding>,
    rds: &mut RdsCache,
) -> ChainPath {
    let m = c.filter_chain_match.clone().unwrap_or_default();
    let mut source_match = Vec::new();
    if m.source_type != 0 {
        source_match.push(format!("source type {}", m.source_type));
    }
    if !m.source_prefix_ranges.is_empty() {
        let r: Vec<String> = m.source_prefix_ranges.iter().map(cidr_text).collect();
        source_match.push(format!("source {}", r.join(",")));
    }
    if !m.direct_source_prefix_ranges.is_empty() {
        let r: Vec<String> = m.direct_source_prefix_ranges.iter().map(cidr_text).collect();
        source_match.push(format!("direct source {}", r.join(",")));
    }
    if !m.source_ports.is_empty() {
        source_match.push(format!("source ports {:?}", m.source_ports));
    }
    ChainPath {
        index,
        name: name.clone(),
        is_default,
        match_summary: if is_default { "ALL".into() } else { describe_match(&m) },
        source_match,
        tls: tls::chain_tls(listener, state, index, name, c, is_default),
        filters: c
            .filters
            .iter()
            .map(|f| filter_hop(ix, listener, f, findings, rds))
            .collect(),
    }
}

type RdsCache = std::collections::HashMap<String, Option<std::sync::Arc<Vec<VhostPath>>>>;

fn filter_hop(ix: &Index, listener: &str, f: &Filter, findings: &mut Vec<Finding>, rds: &mut RdsCache) -> FilterHop {
    let mut hop = FilterHop {
        name: f.name.clone(),
        kind: "other".into(),
        clusters: Vec::new(),
        route: None,
        http_filters: Vec::new(),
    };
    if let Some(ConfigType::ConfigDiscovery(d)) = &f.config_type {
        hop.kind = "ecds".into();
        let found = ix.ecds.iter().any(|e| e.name == f.name);
        hop.http_filters
            .push(format!("ecds:{}{}", f.name, if found { "" } else { " (missing)" }));
        let _ = d;
        return hop;
    }
    if let Some(tcp) = network_filter_config::<TcpProxy>(f) {
        hop.kind = "tcp_proxy".into();
        match tcp.cluster_specifier {
            Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => hop.clusters.push(c),
            Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => {
                hop.clusters.extend(w.clusters.into_iter().map(|c| c.name))
            }
            None => {}
        }
        return hop;
    }
    if let Some(hcm) = network_filter_config::<HttpConnectionManager>(f) {
        hop.kind = "http_connection_manager".into();
        hop.http_filters = hcm
            .http_filters
            .iter()
            .map(|h| match &h.config_type {
                Some(http_filter::ConfigType::ConfigDiscovery(_)) => {
                    let found = ix.ecds.iter().any(|e| e.name == h.name);
                    format!("ecds:{}{}", h.name, if found { "" } else { " (missing)" })
                }
                _ => h.name.clone(),
            })
            .collect();
        hop.route = Some(match hcm.route_specifier {
            Some(RouteSpecifier::Rds(r)) => {
                let name = r.route_config_name;
                let vhosts = rds
                    .entry(name.clone())
                    .or_insert_with(|| {
                        ix.route_configs
                            .iter()
                            .find(|r| r.name == name && !matches!(r.origin, RouteOrigin::Inline { .. }))
                            .map(|r| vhost_paths(r.route_config()))
                    })
                    .clone();
                if vhosts.is_none() {
                    findings.push(Finding::new(
                        findings::MISSING_ROUTE_CONFIG,
                        format!("route {name}"),
                        format!("listener {listener} asks RDS for it, but the dump has no such route configuration"),
                    ));
                }
                RoutePath {
                    name,
                    source: "rds".into(),
                    found: vhosts.is_some(),
                    vhosts: vhosts.unwrap_or_default(),
                }
            }
            Some(RouteSpecifier::RouteConfig(rc)) => RoutePath {
                name: rc.name.clone(),
                source: "inline".into(),
                found: true,
                vhosts: vhost_paths(&rc),
            },
            _ => RoutePath {
                name: String::new(),
                source: "scoped".into(),
                found: false,
                vhosts: Default::default(),
            },
        });
        return hop;
    }
    let lower = f.name.to_ascii_lowercase();
    if lower.contains("sni_cluster") {
        hop.kind = "sni_cluster".into();
    } else if lower.contains("sni_dynamic_forward_proxy") {
        hop.kind = "sni_dynamic_forward_proxy".into();
    }
    hop
}

fn vhost_paths(rc: &RouteConfiguration) -> std::sync::Arc<Vec<VhostPath>> {
    std::sync::Arc::new(
        rc.virtual_hosts
            .iter()
            .map(|vh| VhostPath {
                name: vh.name.clone(),
                domains: vh.domains.clone(),
                domains_summary: describe_domains(&vh.domains),
                routes: vh
                    .routes
                    .iter()
                    .map(|r| {
                        let (action, clusters) = leaf_action(r);
                        RouteLeaf {
                            match_summary: describe_route_match(r.r#match.as_ref()),
                            action,
                            clusters,
                        }
                    })
                    .collect(),
            })
            .collect(),
    )
}

fn leaf_action(r: &envoy_types::pb::envoy::config::route::v3::Route) -> (String, Vec<String>) {
    match &r.action {
        Some(route::Action::Route(a)) => match &a.cluster_specifier {
            Some(route_action::ClusterSpecifier::Cluster(c)) => ("cluster".into(), vec![c.clone()]),
            Some(route_action::ClusterSpecifier::WeightedClusters(w)) => (
                "weighted clusters".into(),
                w.clusters.iter().map(|c| c.name.clone()).collect(),
            ),
            Some(route_action::ClusterSpecifier::ClusterHeader(h)) => (format!("cluster from header {h}"), Vec::new()),
            _ => ("cluster from a plugin".into(), Vec::new()),
        },
        Some(route::Action::Redirect(rd)) => (
            format!("redirect {}", rd.host_redirect).trim_end().to_string(),
            Vec::new(),
        ),
        Some(route::Action::DirectResponse(d)) => (format!("direct response {}", d.status), Vec::new()),
        _ => ("no forwarding".into(), Vec::new()),
    }
}

fn cluster_node(ix: &Index, name: &str) -> ClusterNode {
    let entry = ix
        .clusters_named(name)
        .min_by_key(|c| !matches!(c.state, State::Active | State::Static));
    let Some(e) = entry else {
        return ClusterNode {
            name: name.to_string(),
            found: false,
            state: None,
            discovery_type: None,
            lb_policy: None,
            circuit_breakers: None,
            origination: None,
            sni: None,
            endpoints: Vec::new(),
            endpoints_known: false,
        };
    };
    let c = e.cluster();
    let t = tls::cluster_tls(ix, c, e.state);
    let eds_key = crate::model::eds_key(c);
    // In dump order, as a scan would find them.
    let mut endpoint_sets: Vec<_> = ix.endpoints_named(name).collect();
    if eds_key != name {
        endpoint_sets.extend(ix.endpoints_named(eds_key));
        endpoint_sets.sort_by_key(|x| std::ptr::from_ref(*x) as usize);
    }
    let endpoints: Vec<String> = endpoint_sets
        .iter()
        .flat_map(|x| x.assignment().endpoints.iter())
        .flat_map(|g| g.lb_endpoints.iter())
        .map(super::endpoints::lb_endpoint_address)
        .collect();
    let breakers = c
        .circuit_breakers
        .as_ref()
        .and_then(|cb| cb.thresholds.first())
        .map(|t| {
            let v = |x: Option<envoy_types::pb::google::protobuf::UInt32Value>| {
                x.map_or("-".to_string(), |v| v.value.to_string())
            };
            format!(
                "max connections {}, pending {}, requests {}, retries {}",
                v(t.max_connections),
                v(t.max_pending_requests),
                v(t.max_requests),
                v(t.max_retries)
            )
        });
    ClusterNode {
        name: name.to_string(),
        found: true,
        state: Some(e.state),
        discovery_type: Some(discovery_type(&c.cluster_discovery_type)),
        lb_policy: Some(
            LbPolicy::try_from(c.lb_policy)
                .map(|p| p.as_str_name().to_string())
                .unwrap_or_else(|_| crate::input::normalize::unknown_enum_label(c.lb_policy)),
        ),
        circuit_breakers: breakers,
        origination: Some(t.origination),
        sni: t.sni,
        endpoints,
        endpoints_known: !endpoint_sets.is_empty(),
    }
}

/// SDS secret names that clusters and chains use but the dump does not hold
/// (only judged when the dump has a secrets section).
fn missing_secrets(ix: &Index, findings: &mut Vec<Finding>) {
    if !ix.sections.iter().any(|s| s == "SecretsConfigDump") {
        return;
    }
    let have: BTreeSet<&str> = ix.secrets.iter().map(|s| s.name.as_str()).collect();
    let report = tls::tls(ix);
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for c in &report.clusters {
        let mut names: Vec<&String> = c
            .default_socket
            .certificates
            .iter()
            .chain(&c.default_socket.trust)
            .collect();
        for m in &c.socket_matches {
            names.extend(m.verdict.certificates.iter().chain(&m.verdict.trust));
        }
        for n in names {
            if let Some(s) = n.strip_prefix("sds ") {
                wanted
                    .entry(s.to_string())
                    .or_insert_with(|| format!("cluster {}", c.name));
            }
        }
    }
    for c in &report.filter_chains {
        for n in c.certificates.iter().chain(&c.trust) {
            if let Some(s) = n.strip_prefix("sds ") {
                wanted
                    .entry(s.to_string())
                    .or_insert_with(|| format!("listener {} chain {}", c.listener, c.name));
            }
        }
    }
    for (secret, user) in wanted {
        if !have.contains(secret.as_str()) {
            findings.push(Finding::new(
                findings::MISSING_SECRET,
                format!("secret {secret}"),
                format!("{user} uses it over SDS, but the dump has no such secret"),
            ));
        }
    }
}
