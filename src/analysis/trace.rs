//! Trace one connection (and request) through a dump the way Envoy would:
//! listener, filter chain (with near misses), TLS at each hop, network filter,
//! virtual host and route, cluster, endpoints. Every decision carries its
//! reason.

use std::net::IpAddr;

use envoy_types::pb::envoy::config::core::v3::{address, socket_address};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
use envoy_types::pb::envoy::config::route::v3::{
    header_matcher, query_parameter_matcher, route, route_action, route_match, HeaderMatcher, Route,
    RouteConfiguration, RouteMatch, VirtualHost,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    http_connection_manager::{RouteSpecifier, StripPortMode},
    HttpConnectionManager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{tcp_proxy, TcpProxy};
use envoy_types::pb::envoy::r#type::matcher::v3::{string_matcher::MatchPattern, StringMatcher};
use serde::Serialize;

use super::matching::{self, full_regex, ChainSelection, Connection, MatcherSelection};
use super::tls::{self, ChainTls, ClusterTls};
use crate::model::{listener_chains, network_filter_config, Index, State};

/// What the user tells us about the connection and request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceRequest {
    /// Use this listener (by name) instead of choosing one by address, e.g.
    /// for internal listeners, which have no port.
    pub listener: Option<String>,
    pub port: u32,
    pub dst_ip: Option<IpAddr>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// `tls` or `raw_buffer`; derived from SNI/ALPN when not given.
    pub transport: Option<String>,
    pub src_ip: Option<IpAddr>,
    pub src_port: Option<u32>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub method: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// How a trace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceResult {
    Routed,
    NoListener,
    NoFilterChain,
    NoRoute,
    DirectResponse,
    Redirect,
    /// The configuration does not fix Envoy's choice, or the tool cannot
    /// evaluate a rule on the way: `summary` says which and why.
    Undetermined,
    /// An HTTP filter before the router answers the request itself (e.g.
    /// `health_check` on its path).
    FilterResponse,
}

/// One HTTP filter of the connection manager, in order, and whether it can
/// answer (stop) a request before it reaches the router.
#[derive(Debug, Clone, Serialize)]
pub struct HttpFilterHop {
    pub name: String,
    /// Why this filter may answer before routing (None: it passes requests
    /// on, as far as the tool knows).
    pub may_stop: Option<String>,
    /// Set when the tool evaluated the filter and it answers this request.
    pub answers: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainRef {
    /// Index in `filter_chains`; None for the default chain.
    pub index: Option<usize>,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteHop {
    pub route_config: String,
    /// Where the route configuration came from (`rds`, `inline`).
    pub source: String,
    pub host: String,
    pub vhost: Option<String>,
    pub vhost_reason: String,
    pub route_index: Option<usize>,
    pub route_name: Option<String>,
    #[serde(rename = "match")]
    pub match_summary: Option<String>,
    /// Why each earlier route of the virtual host did not match.
    pub skipped_routes: Vec<String>,
    pub action: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub result: TraceResult,
    /// Why the trace ended where it did, in one sentence.
    pub summary: String,
    pub listener: Option<String>,
    pub listener_reason: String,
    /// What the listener filters let Envoy see.
    pub connection: Connection,
    pub notes: Vec<String>,
    pub filter_chain: Option<ChainRef>,
    /// The `filter_chain_match` narrowing (steps, near misses).
    pub chain_selection: Option<ChainSelection>,
    /// The `filter_chain_matcher` evaluation, when the listener has one.
    pub chain_matcher: Option<MatcherSelection>,
    pub chain_tls: Option<ChainTls>,
    /// The network filter that decides (`tcp_proxy`, `http_connection_manager`).
    pub network_filter: Option<String>,
    /// The HTTP filters the request passes, in order, up to the one that
    /// answers or the router.
    pub http_filters: Vec<HttpFilterHop>,
    pub route: Option<RouteHop>,
    pub cluster: Option<String>,
    /// Weighted clusters as (name, weight), when the action splits.
    pub weighted_clusters: Vec<(String, u32)>,
    pub cluster_found: bool,
    pub cluster_type: Option<String>,
    pub cluster_tls: Option<ClusterTls>,
    pub endpoints: Vec<String>,
    pub endpoints_known: bool,
    /// Why there is no endpoint list (original destination, DNS...).
    pub endpoints_note: Option<String>,
}

/// Traces `req` through the dump.
/// Resources the dump holds but that could not be read make any "none
/// matched" answer uncertain: say so on every trace of such a dump.
fn undecodable_note(ix: &Index) -> Option<String> {
    let n = ix.report.undecodable;
    (n > 0).then(|| {
        format!(
            "{n} resource(s) or section(s) of this dump do not decode and are left out (XR0041): \
             a listener, chain, route or cluster this trace did not find may be among them"
        )
    })
}

pub fn trace(ix: &Index, req: &TraceRequest) -> Trace {
    let mut t = Trace {
        result: TraceResult::NoListener,
        summary: String::new(),
        listener: None,
        listener_reason: String::new(),
        connection: Connection {
            dst_ip: req.dst_ip,
            dst_port: req.port,
            sni: req.sni.clone(),
            transport: req.transport.clone().unwrap_or_default(),
            alpn: req.alpn.clone(),
            src_ip: req.src_ip,
            src_port: req.src_port,
        },
        notes: undecodable_note(ix).into_iter().collect(),
        filter_chain: None,
        chain_selection: None,
        chain_matcher: None,
        chain_tls: None,
        network_filter: None,
        http_filters: Vec::new(),
        route: None,
        cluster: None,
        weighted_clusters: Vec::new(),
        cluster_found: false,
        cluster_type: None,
        cluster_tls: None,
        endpoints: Vec::new(),
        endpoints_known: false,
        endpoints_note: None,
    };
    let Some((entry_name, state, l)) = pick_listener(ix, req, &mut t) else {
        t.summary = format!("no listener accepts port {}: the connection is refused", req.port);
        return t;
    };
    t.listener = Some(entry_name.clone());
    let conn = connection(l, req, &mut t.notes);
    t.connection = conn.clone();

    // Filter chain.
    let chains = listener_chains(l);
    let chosen: Option<(Option<usize>, String, &FilterChain)> = if let Some(m) = &l.filter_chain_matcher {
        let sel = matching::select_by_matcher(m, &conn);
        let hit = sel.chain.as_ref().and_then(|name| {
            l.filter_chains
                .iter()
                .enumerate()
                .find(|(_, c)| &c.name == name)
                .map(|(i, c)| (Some(i), c.name.clone(), c))
        });
        if sel.chain.is_some() && hit.is_none() {
            t.notes.push(format!(
                "the matcher chose filter chain {:?}, which the listener does not have",
                sel.chain.as_deref().unwrap_or("")
            ));
        }
        t.chain_matcher = Some(sel);
        hit
    } else {
        let matches: Vec<_> = l
            .filter_chains
            .iter()
            .map(|c| c.filter_chain_match.clone().unwrap_or_default())
            .collect();
        let sel = matching::select_by_match(&matches, &conn);
        if sel.ambiguous {
            t.notes
                .push("more than one chain matched (Envoy would have rejected this listener)".into());
        }
        if let Some(u) = &sel.undetermined {
            let default =
                l.default_filter_chain
                    .as_ref()
                    .map_or("no chain (Envoy closes the connection)".to_string(), |d| {
                        format!(
                            "the default chain {:?}",
                            if d.name.is_empty() { "default" } else { &d.name }
                        )
                    });
            let options: Vec<String> = u
                .possible
                .iter()
                .map(|p| p.map_or(default.clone(), |i| format!("chain {:?}", chains[i].0)))
                .collect();
            t.result = TraceResult::Undetermined;
            t.summary = format!("undetermined: Envoy may pick {} — {}", options.join(" or "), u.reason);
            t.chain_selection = Some(sel);
            return t;
        }
        let hit = sel.chosen.map(|i| (Some(i), chains[i].0.clone(), &l.filter_chains[i]));
        t.chain_selection = Some(sel);
        hit
    };
    let chosen = chosen.or_else(|| {
        l.default_filter_chain.as_ref().map(|d| {
            let name = if d.name.is_empty() {
                "default".to_string()
            } else {
                d.name.clone()
            };
            (None, name, d)
        })
    });
    let Some((index, name, chain)) = chosen else {
        t.result = TraceResult::NoFilterChain;
        t.summary =
            format!("no filter chain of {entry_name} matches and it has no default chain: Envoy closes the connection");
        return t;
    };
    t.filter_chain = Some(ChainRef {
        index,
        name: name.clone(),
        is_default: index.is_none(),
    });
    t.chain_tls = Some(tls::chain_tls(&entry_name, state, index, name, chain, index.is_none()));

    // Network filters: the first tcp_proxy or HTTP connection manager decides;
    // sni_cluster before a tcp_proxy replaces its cluster with the SNI
    // (Istio's AUTO_PASSTHROUGH gateways).
    let mut sni_cluster = false;
    // Network filters before the deciding one whose type this tool does not
    // know: they may close, redirect or rewrite the connection.
    let mut opaque_before: Vec<String> = Vec::new();
    for f in &chain.filters {
        if f.name.contains("sni_cluster") {
            sni_cluster = true;
            continue;
        }
        {
            use envoy_types::pb::envoy::config::listener::v3::filter::ConfigType;
            if let Some(ConfigType::TypedConfig(a)) = &f.config_type {
                let ty = crate::input::pool::type_url_name(&a.type_url);
                if ty == crate::input::pool::OPAQUE_EXTENSION || crate::input::pool::message(ty).is_none() {
                    opaque_before.push(format!("{} ({})", f.name, ty));
                }
            }
        }
        if f.name.contains("sni_dynamic_forward_proxy") {
            t.notes.push(format!(
                "{}: the upstream is resolved from the SNI at connection time (dynamic forward proxy)",
                f.name
            ));
        }
        if let Some(tcp) = network_filter_config::<TcpProxy>(f) {
            t.network_filter = Some("tcp_proxy".into());
            match tcp.cluster_specifier {
                Some(tcp_proxy::ClusterSpecifier::Cluster(c)) if !c.is_empty() => t.cluster = Some(c),
                Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => {
                    t.weighted_clusters = w.clusters.iter().map(|c| (c.name.clone(), c.weight)).collect();
                    t.cluster = w.clusters.iter().max_by_key(|c| c.weight).map(|c| c.name.clone());
                }
                _ => {}
            }
            if sni_cluster {
                match &conn.sni {
                    Some(sni) if !sni.is_empty() => {
                        t.notes.push(format!(
                            "sni_cluster: the cluster is the SNI {sni}, not the tcp_proxy's"
                        ));
                        t.cluster = Some(sni.clone());
                    }
                    _ => t
                        .notes
                        .push("sni_cluster without an SNI: the tcp_proxy's cluster is used".into()),
                }
            }
            break;
        }
        if let Some(hcm) = network_filter_config::<HttpConnectionManager>(f) {
            t.network_filter = Some("http_connection_manager".into());
            http(ix, req, &conn, &hcm, &mut t);
            break;
        }
    }
    if t.network_filter.is_none() {
        let names: Vec<&str> = chain.filters.iter().map(|f| f.name.as_str()).collect();
        t.notes.push(format!(
            "no tcp_proxy or HTTP connection manager in the chain (filters: {})",
            names.join(", ")
        ));
    }
    if matches!(
        t.result,
        TraceResult::DirectResponse | TraceResult::Redirect | TraceResult::FilterResponse | TraceResult::Undetermined
    ) {
        return t;
    }
    let Some(cluster) = t.cluster.clone() else {
        if !opaque_before.is_empty() && t.network_filter.is_none() {
            t.result = TraceResult::Undetermined;
            t.summary = format!(
                "undetermined: the chain's network filters are of types this tool cannot read ({}): where they send the connection is not known",
                opaque_before.join(", ")
            );
            return t;
        }
        t.result = TraceResult::NoRoute;
        if t.summary.is_empty() {
            t.summary = "the chain names no cluster".into();
        }
        return t;
    };
    t.result = TraceResult::Routed;
    cluster_hop(ix, &cluster, &mut t);
    if !opaque_before.is_empty() {
        t.result = TraceResult::Undetermined;
        t.summary = format!(
            "undetermined: the chain runs network filters this tool cannot read before it decides ({}); if they let the connection through, it goes to {cluster}",
            opaque_before.join(", ")
        );
        return t;
    }
    if t.weighted_clusters.len() > 1 {
        let total: u64 = t.weighted_clusters.iter().map(|(_, w)| u64::from(*w)).sum();
        let set: Vec<String> = t
            .weighted_clusters
            .iter()
            .map(|(n, w)| match total {
                0 => format!("{n} (weight {w})"),
                _ => format!("{n} ({}%)", u64::from(*w) * 100 / total),
            })
            .collect();
        t.summary = format!(
            "routed to one of {} — Envoy picks one at random by weight for each {}; the cluster details below are {cluster}'s, the heaviest",
            set.join(", "),
            if t.network_filter.as_deref() == Some("tcp_proxy") { "connection" } else { "request" }
        );
    }
    t
}

/// Without `--port`: the ports whose listener picks a chain for this SNI by
/// its `server_names` (not a catch-all chain), or routes this Host to a
/// virtual host by name (not the `*` catch-all) — each with why. The trace
/// is then run on each.
pub fn infer_ports(ix: &Index, req: &TraceRequest) -> Vec<(u32, String)> {
    let mut ports: Vec<u32> = ix
        .listeners
        .iter()
        .filter(|e| matches!(e.state, State::Active | State::Static))
        .filter_map(|e| e.listener())
        .flat_map(|l| addresses(l).into_iter().map(|(_, p)| p))
        .filter(|p| *p != 0)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let mut out = Vec::new();
    for port in ports {
        let t = trace(ix, &TraceRequest { port, ..req.clone() });
        let chain_names_sni = req.sni.is_some()
            && t.filter_chain.as_ref().and_then(|c| c.index).is_some_and(|i| {
                ix.listeners
                    .iter()
                    .filter(|e| Some(&e.name) == t.listener.as_ref())
                    .filter_map(|e| e.listener())
                    .any(|l| {
                        l.filter_chains
                            .get(i)
                            .and_then(|c| c.filter_chain_match.as_ref())
                            .is_some_and(|m| !m.server_names.is_empty())
                    })
            });
        let vhost_names_host = req.host.is_some()
            && t.route
                .as_ref()
                .is_some_and(|r| r.vhost.is_some() && !r.vhost_reason.starts_with("catch-all"));
        let listener = t.listener.clone().unwrap_or_default();
        if chain_names_sni {
            out.push((
                port,
                format!(
                    "listener {listener} has a chain for SNI {}",
                    req.sni.as_deref().unwrap_or("")
                ),
            ));
        } else if vhost_names_host {
            out.push((
                port,
                format!(
                    "listener {listener} routes Host {} by name",
                    req.host.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    out
}

/// The listener the connection reaches: an exact address, else a wildcard
/// bind on the port, else a listener that hands off by original destination.
fn pick_listener<'a>(ix: &'a Index, req: &TraceRequest, t: &mut Trace) -> Option<(String, State, &'a Listener)> {
    if let Some(want) = req.listener.as_ref() {
        let found = ix
            .listeners
            .iter()
            .filter(|e| &e.name == want)
            .min_by_key(|e| !matches!(e.state, State::Active | State::Static))
            .and_then(|e| e.listener().map(|l| (e.name.clone(), e.state, l)));
        t.listener_reason = match &found {
            Some((_, state, _)) => format!("named with --listener ({})", state.as_str()),
            None => format!("--listener {want}: no such listener in the dump"),
        };
        return found;
    }
    let serving: Vec<(&str, State, &Listener)> = ix
        .listeners
        .iter()
        .filter(|e| matches!(e.state, State::Active | State::Static))
        .filter_map(|e| e.listener().map(|l| (e.name.as_str(), e.state, l)))
        .collect();
    let on_port: Vec<&(&str, State, &Listener)> = serving
        .iter()
        .filter(|(_, _, l)| addresses(l).iter().any(|(_, p)| *p == req.port))
        .collect();
    let bound_ip = |l: &Listener| -> Vec<String> {
        addresses(l)
            .into_iter()
            .filter(|(_, p)| *p == req.port)
            .map(|(a, _)| a)
            .collect()
    };
    let exact = req.dst_ip.and_then(|ip| {
        on_port
            .iter()
            .find(|(_, _, l)| bound_ip(l).iter().any(|a| a.parse::<IpAddr>().ok() == Some(ip)))
    });
    let wildcard = on_port
        .iter()
        .find(|(_, _, l)| bound_ip(l).iter().any(|a| a == "0.0.0.0" || a == "::"));
    let others: Vec<&str> = ix
        .listeners
        .iter()
        .filter(|e| !matches!(e.state, State::Active | State::Static))
        .filter(|e| {
            e.listener()
                .is_some_and(|l| addresses(l).iter().any(|(_, p)| *p == req.port))
        })
        .map(|e| e.name.as_str())
        .collect();
    if !others.is_empty() {
        t.notes.push(format!(
            "listeners on port {} that do not serve yet or any more (warming, draining, rejected): {}",
            req.port,
            others.join(", ")
        ));
    }
    let pick = if let Some(e) = exact {
        t.listener_reason = format!(
            "bound to {}:{}",
            req.dst_ip.map(|i| i.to_string()).unwrap_or_default(),
            req.port
        );
        Some(*e)
    } else if let Some(e) = wildcard {
        t.listener_reason = format!("bound to every address on port {}", req.port);
        if req.dst_ip.is_none() && on_port.len() > 1 {
            t.notes.push(format!(
                "{} listeners use port {}; without --dst-ip the wildcard one is assumed",
                on_port.len(),
                req.port
            ));
        }
        Some(*e)
    } else if let Some(e) = on_port.first().filter(|_| req.dst_ip.is_none()) {
        t.listener_reason = format!(
            "the only kind of listener on port {} (give --dst-ip to be exact)",
            req.port
        );
        Some(*e)
    } else {
        None
    };
    if let Some((name, state, l)) = pick {
        if l.bind_to_port.is_some_and(|b| !b.value) {
            // Istio names the hand-off listener virtualOutbound (15001) or
            // virtualInbound (15006).
            let via = serving
                .iter()
                .find(|(_, _, v)| v.use_original_dst.is_some_and(|b| b.value))
                .map(|(n, _, _)| n.to_string());
            t.listener_reason.push_str(&match via {
                Some(v) => format!("; it does not bind the port itself: iptables sends the connection to {v}, which hands it here by its original destination (use_original_dst)"),
                None => "; it does not bind the port itself: connections reach it from the listener iptables sends them to (virtualOutbound in Istio), by their original destination".into(),
            });
        }
        return Some((name.to_string(), *state, l));
    }
    // Sidecars: iptables sends everything to a listener with use_original_dst,
    // which keeps connections no other listener claims.
    let virtual_listener = serving
        .iter()
        .find(|(_, _, l)| l.use_original_dst.is_some_and(|b| b.value))
        .or_else(|| serving.iter().find(|(_, _, l)| has_listener_filter(l, "original_dst")));
    if let Some((name, state, l)) = virtual_listener {
        t.listener_reason = format!(
            "no listener for port {}: {name}, the listener iptables sends every connection to (use_original_dst), keeps it",
            req.port
        );
        return Some((name.to_string(), *state, l));
    }
    None
}

fn addresses(l: &Listener) -> Vec<(String, u32)> {
    let mut v = Vec::new();
    let mut add = |a: &envoy_types::pb::envoy::config::core::v3::Address| {
        if let Some(address::Address::SocketAddress(s)) = &a.address {
            let port = match s.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p,
                _ => 0,
            };
            v.push((s.address.clone(), port));
        }
    };
    if let Some(a) = &l.address {
        add(a);
    }
    for a in l.additional_addresses.iter().filter_map(|a| a.address.as_ref()) {
        add(a);
    }
    v
}

fn has_listener_filter(l: &Listener, what: &str) -> bool {
    use envoy_types::pb::envoy::config::listener::v3::listener_filter::ConfigType;
    l.listener_filters.iter().any(|f| {
        f.name.contains(what)
            || matches!(&f.config_type, Some(ConfigType::TypedConfig(a)) if a.type_url.to_ascii_lowercase().contains(&what.replace('_', "")))
    })
}

/// What the listener filters would let Envoy see of this connection.
fn connection(l: &Listener, req: &TraceRequest, notes: &mut Vec<String>) -> Connection {
    let tls_inspector = has_listener_filter(l, "tls_inspector");
    let http_inspector = has_listener_filter(l, "http_inspector");
    let wants_tls = req.transport.as_deref() == Some("tls")
        || (req.transport.is_none() && (req.sni.is_some() || !req.alpn.is_empty() && req.host.is_none()));
    let mut conn = Connection {
        dst_ip: req.dst_ip,
        dst_port: req.port,
        src_ip: req.src_ip,
        src_port: req.src_port,
        transport: "raw_buffer".into(),
        ..Default::default()
    };
    if wants_tls {
        if tls_inspector {
            conn.transport = "tls".into();
            conn.sni = req.sni.clone();
            conn.alpn = req.alpn.clone();
        } else {
            notes.push(
                "the listener has no tls_inspector: SNI, ALPN and the TLS transport are not seen when it picks a chain"
                    .into(),
            );
        }
    } else if http_inspector && (req.host.is_some() || req.path.is_some() || !req.alpn.is_empty()) {
        conn.alpn = if req.alpn.is_empty() {
            vec!["http/1.1".into()]
        } else {
            req.alpn.clone()
        };
    }
    if conn.dst_ip.is_none() {
        // A listener bound to one address only sees connections to it.
        if let Some(ip) = addresses(l)
            .iter()
            .find(|(_, p)| *p == req.port)
            .and_then(|(a, _)| a.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified())
        {
            conn.dst_ip = Some(ip);
        }
    }
    conn
}

/// The HTTP connection manager: route configuration → virtual host → route.
fn http(ix: &Index, req: &TraceRequest, conn: &Connection, hcm: &HttpConnectionManager, t: &mut Trace) {
    let (rc, name, source): (Option<RouteConfiguration>, String, &str) = match &hcm.route_specifier {
        Some(RouteSpecifier::Rds(rds)) => {
            let found = ix
                .route_configs
                .iter()
                .find(|r| {
                    r.name == rds.route_config_name && !matches!(r.origin, crate::model::RouteOrigin::Inline { .. })
                })
                .map(|r| r.route_config().clone());
            (found, rds.route_config_name.clone(), "rds")
        }
        Some(RouteSpecifier::RouteConfig(rc)) => (Some(rc.clone()), rc.name.clone(), "inline"),
        _ => (None, String::new(), "unsupported"),
    };
    let host_in = req
        .host
        .clone()
        .or_else(|| conn.sni.clone())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut hop = RouteHop {
        route_config: name.clone(),
        source: source.to_string(),
        host: host_in.clone(),
        vhost: None,
        vhost_reason: String::new(),
        route_index: None,
        route_name: None,
        match_summary: None,
        skipped_routes: Vec::new(),
        action: None,
    };
    let Some(rc) = rc else {
        t.result = TraceResult::NoRoute;
        t.summary = match source {
            "rds" => format!("the HTTP connection manager asks RDS for {name:?}, which is not in the dump (Envoy answers 404 until it arrives)"),
            _ => "the HTTP connection manager has no route configuration (scoped routes are not traced)".into(),
        };
        t.route = Some(hop);
        return;
    };
    if host_in.is_empty() {
        t.notes
            .push("no --host (or SNI) given: virtual hosts are matched against an empty Host".into());
    }
    // The request as the HTTP filters and the routes see it.
    let path = req.path.clone().unwrap_or_else(|| "/".into());
    let method = req.method.clone().unwrap_or_else(|| "GET".into());
    let mut headers = req.headers.clone();
    headers.push((":authority".into(), host_in.clone()));
    headers.push((":path".into(), path.clone()));
    headers.push((":method".into(), method.clone()));
    if let Some(stop) = walk_http_filters(hcm, &headers, t) {
        t.result = TraceResult::FilterResponse;
        t.summary = stop;
        return;
    }
    // Port handling of the Host header.
    let strip = hcm.strip_matching_host_port
        || matches!(hcm.strip_port_mode, Some(StripPortMode::StripAnyHostPort(true)))
        || rc.ignore_port_in_host_matching;
    let host = if strip { strip_port(&host_in) } else { host_in.clone() };
    hop.host = host.clone();
    let Some((vh, why)) = select_vhost(&rc.virtual_hosts, &host) else {
        t.result = TraceResult::NoRoute;
        t.summary = format!("no virtual host of {name:?} matches Host {host:?}: Envoy answers 404");
        hop.vhost_reason = "no domain matches".into();
        t.route = Some(hop);
        return;
    };
    hop.vhost = Some(vh.name.clone());
    hop.vhost_reason = why;
    let mut chosen = None;
    for (i, r) in vh.routes.iter().enumerate() {
        match route_matches(r.r#match.as_ref(), &path, &method, &headers) {
            Ok(()) => {
                chosen = Some((i, r));
                break;
            }
            Err(Miss::No(why)) => hop.skipped_routes.push(format!(
                "#{i} {}: {why}",
                super::inventory::describe_route_match(r.r#match.as_ref())
            )),
            Err(Miss::Unknown(why)) => {
                // Whether this route matches decides everything after it.
                t.result = TraceResult::Undetermined;
                t.summary = format!(
                    "undetermined: route #{i} of virtual host {:?} cannot be evaluated offline ({why}); \
                     the request goes there if it matches, else on to the routes after it",
                    vh.name
                );
                hop.route_index = Some(i);
                hop.route_name = Some(r.name.clone()).filter(|n| !n.is_empty());
                t.route = Some(hop);
                return;
            }
        }
    }
    let Some((i, r)) = chosen else {
        t.result = TraceResult::NoRoute;
        t.summary = format!(
            "no route of virtual host {:?} matches {method} {path}: Envoy answers 404",
            vh.name
        );
        t.route = Some(hop);
        return;
    };
    hop.route_index = Some(i);
    hop.route_name = Some(r.name.clone()).filter(|n| !n.is_empty());
    hop.match_summary = Some(super::inventory::describe_route_match(r.r#match.as_ref()));
    apply_action(r, &headers, &mut hop, t);
    t.route = Some(hop);
}

/// HTTP filters that can answer a request themselves before the router, and
/// how (Envoy's filter names and type names).
const STOPPING_FILTERS: &[(&str, &str)] = &[
    (
        "health_check",
        "answers health checks on its path itself (200, or 503 when failing or draining)",
    ),
    (
        "jwt_authn",
        "answers 401/403 when the JWT its rules require is missing or invalid",
    ),
    ("rbac", "answers 403 when its policies deny the request"),
    (
        "ext_authz",
        "answers with the authorization service's verdict (403 by default) when it denies",
    ),
    ("fault", "can abort the request with its configured status or delay it"),
    ("lua", "its script can answer the request itself (respond())"),
    ("cors", "answers CORS preflight (OPTIONS) requests itself"),
    ("local_ratelimit", "answers 429 when its token bucket is empty"),
    ("ratelimit", "answers 429 when the rate limit service says over limit"),
    ("csrf", "answers 403 to unsafe cross-origin requests"),
    ("basic_auth", "answers 401 without valid credentials"),
    ("oauth2", "redirects to the sign-in page without a session"),
    ("ext_proc", "its processor can answer the request immediately"),
    ("wasm", "its module can answer the request itself"),
    ("buffer", "answers 413 when the body exceeds its limit"),
    (
        "admission_control",
        "rejects a share of requests when the success rate drops (503)",
    ),
    (
        "composite",
        "delegates to a filter chosen at run time, which may answer",
    ),
    // Istio's own filters of the v2 era.
    (
        "jwt-auth",
        "answers 401 when the JWT its rules require is missing or invalid",
    ),
    (
        "istio_authn",
        "answers 401 when Istio authentication policy rejects the peer or origin",
    ),
    (
        "mixer",
        "Istio's policy check answers 403/429 when a policy denies the request",
    ),
];

/// Walks the connection manager's HTTP filters in order up to the router:
/// records each (and whether it can stop a request); Some(summary) when one
/// answers this request itself (evaluated for `health_check`).
fn walk_http_filters(hcm: &HttpConnectionManager, headers: &[(String, String)], t: &mut Trace) -> Option<String> {
    use envoy_types::pb::envoy::extensions::filters::http::health_check::v3::HealthCheck;
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_filter::ConfigType;
    for f in &hcm.http_filters {
        let type_name = match &f.config_type {
            Some(ConfigType::TypedConfig(a)) => crate::input::pool::type_url_name(&a.type_url).to_string(),
            _ => String::new(),
        };
        let key = |k: &str| {
            let n = f.name.to_ascii_lowercase();
            n.ends_with(&format!(".{k}"))
                || n == k
                || type_name.contains(&format!(".{k}.v3."))
                || type_name.contains(&format!(".{k}.v2."))
        };
        if key("router") {
            t.http_filters.push(HttpFilterHop {
                name: f.name.clone(),
                may_stop: None,
                answers: false,
            });
            let stops: Vec<String> = t
                .http_filters
                .iter()
                .filter_map(|h| h.may_stop.as_ref().map(|w| format!("{} ({w})", h.name)))
                .collect();
            if !stops.is_empty() {
                t.notes.push(format!(
                    "HTTP filters before the router can answer the request themselves: {}; the route below applies only if they let it through",
                    stops.join("; ")
                ));
            }
            return None;
        }
        let stop = STOPPING_FILTERS
            .iter()
            .find(|(k, _)| key(k))
            .map(|(_, why)| why.to_string());
        let mut hop = HttpFilterHop {
            name: f.name.clone(),
            may_stop: stop,
            answers: false,
        };
        if key("health_check") {
            if let Some(Some(hc)) = match &f.config_type {
                Some(ConfigType::TypedConfig(a)) => Some(crate::model::util::decode_any::<HealthCheck>(a)),
                _ => None,
            } {
                let pass_through = hc.pass_through_mode.is_some_and(|b| b.value);
                let hit = !hc.headers.is_empty() && hc.headers.iter().all(|h| header_matches(h, headers));
                if hit && !pass_through {
                    hop.answers = true;
                    let name = hop.name.clone();
                    t.http_filters.push(hop);
                    return Some(format!(
                        "the HTTP filter {name} (health_check) answers this request itself, before routing: \
                         200 while Envoy is healthy, 503 when it fails or drains"
                    ));
                }
                // Evaluated: it does not answer this request (no match, or
                // pass-through mode forwards health checks upstream).
                hop.may_stop = None;
            }
        }
        t.http_filters.push(hop);
    }
    None
}

fn apply_action(r: &Route, headers: &[(String, String)], hop: &mut RouteHop, t: &mut Trace) {
    match &r.action {
        Some(route::Action::Route(a)) => match &a.cluster_specifier {
            Some(route_action::ClusterSpecifier::Cluster(c)) => {
                hop.action = Some(format!("cluster {c}"));
                t.cluster = Some(c.clone());
            }
            Some(route_action::ClusterSpecifier::WeightedClusters(w)) => {
                t.weighted_clusters = w
                    .clusters
                    .iter()
                    .map(|c| (c.name.clone(), c.weight.map_or(0, |v| v.value)))
                    .collect();
                hop.action = Some(format!(
                    "weighted {}",
                    t.weighted_clusters
                        .iter()
                        .map(|(n, w)| format!("{n} ({w})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                t.cluster = t
                    .weighted_clusters
                    .iter()
                    .max_by_key(|(_, w)| *w)
                    .map(|(n, _)| n.clone());
            }
            Some(route_action::ClusterSpecifier::ClusterHeader(h)) => {
                let v = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(h))
                    .map(|(_, v)| v.clone());
                hop.action = Some(format!("cluster from header {h}"));
                match v {
                    Some(v) => t.cluster = Some(v),
                    None => t.summary = format!("the route takes its cluster from header {h}, which the request lacks"),
                }
            }
            _ => {
                hop.action = Some("cluster chosen by a plugin (not traced)".into());
                t.summary = "the route's cluster is chosen by a cluster specifier plugin".into();
            }
        },
        Some(route::Action::Redirect(rd)) => {
            hop.action = Some(format!("redirect to {}", rd.host_redirect).trim_end().to_string());
            t.result = TraceResult::Redirect;
            t.summary = "the route answers with a redirect".into();
        }
        Some(route::Action::DirectResponse(d)) => {
            hop.action = Some(format!("direct response {}", d.status));
            t.result = TraceResult::DirectResponse;
            t.summary = format!("the route answers {} itself", d.status);
        }
        _ => {
            hop.action = Some("no forwarding action".into());
            t.summary = "the route does not forward".into();
        }
    }
}

fn strip_port(host: &str) -> String {
    if host.starts_with('[') {
        return host.split_once("]:").map_or(host.to_string(), |(h, _)| format!("{h}]"));
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h.to_string(),
        _ => host.to_string(),
    }
}

/// Envoy's virtual host selection: exact, then suffix wildcards, then
/// prefix wildcards (longest first), then `*`.
pub fn select_vhost<'a>(vhosts: &'a [VirtualHost], host: &str) -> Option<(&'a VirtualHost, String)> {
    let host = host.to_ascii_lowercase();
    let mut exact = None;
    let mut suffix: Option<(usize, &VirtualHost, String)> = None;
    let mut prefix: Option<(usize, &VirtualHost, String)> = None;
    let mut any = None;
    for vh in vhosts {
        for d in &vh.domains {
            let d = d.to_ascii_lowercase();
            if d == "*" {
                any.get_or_insert(vh);
            } else if let Some(rest) = d.strip_prefix('*') {
                if host.len() > rest.len()
                    && host.ends_with(rest)
                    && suffix.as_ref().is_none_or(|(l, ..)| rest.len() > *l)
                {
                    suffix = Some((rest.len(), vh, d.clone()));
                }
            } else if let Some(rest) = d.strip_suffix('*') {
                if host.len() > rest.len()
                    && host.starts_with(rest)
                    && prefix.as_ref().is_none_or(|(l, ..)| rest.len() > *l)
                {
                    prefix = Some((rest.len(), vh, d.clone()));
                }
            } else if d == host && exact.is_none() {
                exact = Some(vh);
            }
        }
    }
    if let Some(vh) = exact {
        return Some((vh, format!("exact domain {host}")));
    }
    if let Some((_, vh, d)) = suffix {
        return Some((vh, format!("wildcard domain {d} (longest suffix)")));
    }
    if let Some((_, vh, d)) = prefix {
        return Some((vh, format!("wildcard domain {d} (longest prefix)")));
    }
    any.map(|vh| (vh, "catch-all domain *".to_string()))
}

/// Why a route does not match, or why the tool cannot tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    No(String),
    Unknown(String),
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::No(s) => write!(f, "{s}"),
            Miss::Unknown(s) => write!(f, "cannot tell: {s}"),
        }
    }
}

impl From<String> for Miss {
    fn from(s: String) -> Self {
        Miss::No(s)
    }
}

/// Envoy's URI template (`envoy.path.match.uri_template`) as a regex over
/// the path without its query, the way Envoy rewrites it for RE2: `*` is one
/// path segment, `**` any number of segments (possibly none), `{name}` and
/// `{name=pattern}` capture what they match. Err for a template outside this
/// grammar.
pub fn uri_template_regex(template: &str) -> Result<String, String> {
    const SEGMENT: &str = "[a-zA-Z0-9-._~%!$&'()+,;:@=]+";
    const SEGMENTS: &str = "[a-zA-Z0-9-._~%!$&'()+,;:@=/]*";
    let literal = |c: char| c.is_ascii_alphanumeric() || "-._~%!$&'()+,;:@=".contains(c);
    if !template.starts_with('/') {
        return Err(format!("template {template:?} does not start with /"));
    }
    let mut out = String::from("^");
    let mut chars = template.chars().peekable();
    let mut in_var = false;
    while let Some(c) = chars.next() {
        match c {
            '/' => out.push('/'),
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(SEGMENTS);
            }
            '*' => out.push_str(SEGMENT),
            '{' if !in_var => {
                let mut name = String::new();
                let mut has_pattern = false;
                let mut closed = false;
                for n in chars.by_ref() {
                    match n {
                        '=' => {
                            has_pattern = true;
                            break;
                        }
                        '}' => {
                            closed = true;
                            break;
                        }
                        n => name.push(n),
                    }
                }
                if !has_pattern && !closed {
                    return Err(format!("unclosed variable in {template:?}"));
                }
                if name.is_empty() || !name.chars().all(|n| n.is_ascii_alphanumeric() || n == '_') {
                    return Err(format!("variable {name:?} in {template:?}"));
                }
                if has_pattern {
                    in_var = true;
                } else {
                    out.push_str(SEGMENT);
                }
            }
            '}' if in_var => in_var = false,
            c if literal(c) => out.push_str(&regex::escape(&c.to_string())),
            c => return Err(format!("character {c:?} in template {template:?}")),
        }
    }
    if in_var {
        return Err(format!("unclosed variable in {template:?}"));
    }
    out.push('$');
    Ok(out)
}

fn path_match_policy(
    p: &envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig,
    path: &str,
) -> Result<bool, String> {
    use envoy_types::pb::envoy::extensions::path::r#match::uri_template::v3::UriTemplateMatchConfig;
    let any = p.typed_config.as_ref().ok_or("path match policy without a config")?;
    if !any.type_url.ends_with("UriTemplateMatchConfig") {
        return Err(format!("path match policy {} is not known", any.type_url));
    }
    let cfg: UriTemplateMatchConfig =
        crate::model::util::decode_any(any).ok_or("the URI template config does not decode")?;
    let re = uri_template_regex(&cfg.path_template)?;
    let re = regex::Regex::new(&re).map_err(|e| e.to_string())?;
    Ok(re.is_match(path))
}

/// Whether a route matches; Err says why not (or that it cannot tell).
pub fn route_matches(
    m: Option<&RouteMatch>,
    path_and_query: &str,
    method: &str,
    headers: &[(String, String)],
) -> Result<(), Miss> {
    let Some(m) = m else {
        return Err(Miss::No("no match".into()));
    };
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let sensitive = m.case_sensitive.is_none_or(|c| c.value);
    let eq = |a: &str, b: &str| if sensitive { a == b } else { a.eq_ignore_ascii_case(b) };
    let starts = |a: &str, p: &str| {
        if sensitive {
            a.starts_with(p)
        } else {
            a.to_ascii_lowercase().starts_with(&p.to_ascii_lowercase())
        }
    };
    let ok = match &m.path_specifier {
        Some(route_match::PathSpecifier::Prefix(p)) => starts(path, p),
        Some(route_match::PathSpecifier::Path(p)) => eq(path, p),
        Some(route_match::PathSpecifier::SafeRegex(r)) => full_regex(&r.regex).is_some_and(|re| re.is_match(path)),
        Some(route_match::PathSpecifier::PathSeparatedPrefix(p)) => {
            eq(path, p) || (starts(path, p) && path[p.len()..].starts_with(['/', '?', '#']))
        }
        Some(route_match::PathSpecifier::ConnectMatcher(_)) => method.eq_ignore_ascii_case("CONNECT"),
        Some(route_match::PathSpecifier::PathMatchPolicy(p)) => {
            path_match_policy(p, path).map_err(|why| Miss::Unknown(format!("path match policy {}: {why}", p.name)))?
        }
        None => true,
    };
    if !ok {
        return Err(Miss::No(format!("path {path} does not match")));
    }
    for h in &m.headers {
        if !header_matches(h, headers) {
            return Err(Miss::No(format!("header {} does not match", h.name)));
        }
    }
    for q in &m.query_parameters {
        let value = query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == q.name)
            .map(|(_, v)| v);
        let hit = match (&q.query_parameter_match_specifier, value) {
            (None, Some(_)) => true,
            (Some(query_parameter_matcher::QueryParameterMatchSpecifier::PresentMatch(p)), v) => v.is_some() == *p,
            (Some(query_parameter_matcher::QueryParameterMatchSpecifier::StringMatch(s)), Some(v)) => {
                envoy_string_matches(s, v)
            }
            _ => false,
        };
        if !hit {
            return Err(Miss::No(format!("query parameter {} does not match", q.name)));
        }
    }
    if m.grpc.is_some()
        && !headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.starts_with("application/grpc"))
    {
        return Err(Miss::No("not a gRPC request".into()));
    }
    Ok(())
}

// The deprecated header matchers are still what older control planes send.
#[allow(deprecated)]
fn header_matches(h: &HeaderMatcher, headers: &[(String, String)]) -> bool {
    let value = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(&h.name))
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let present = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(&h.name));
    use header_matcher::HeaderMatchSpecifier as S;
    let hit = match &h.header_match_specifier {
        None => present,
        Some(S::PresentMatch(p)) => present == *p,
        Some(_) if !present => false,
        Some(S::ExactMatch(v)) => value == *v,
        Some(S::PrefixMatch(v)) => value.starts_with(v.as_str()),
        Some(S::SuffixMatch(v)) => value.ends_with(v.as_str()),
        Some(S::ContainsMatch(v)) => value.contains(v.as_str()),
        Some(S::SafeRegexMatch(r)) => full_regex(&r.regex).is_some_and(|re| re.is_match(&value)),
        Some(S::StringMatch(s)) => envoy_string_matches(s, &value),
        Some(S::RangeMatch(r)) => value.parse::<i64>().is_ok_and(|n| n >= r.start && n < r.end),
    };
    // A missing header with invert_match does not match unless asked.
    if !present && h.invert_match {
        return h.treat_missing_header_as_empty;
    }
    hit != h.invert_match
}

fn envoy_string_matches(m: &StringMatcher, v: &str) -> bool {
    let (v, norm): (String, fn(&str) -> String) = if m.ignore_case {
        (v.to_ascii_lowercase(), |s: &str| s.to_ascii_lowercase())
    } else {
        (v.to_string(), |s: &str| s.to_string())
    };
    match &m.match_pattern {
        Some(MatchPattern::Exact(s)) => v == norm(s),
        Some(MatchPattern::Prefix(s)) => v.starts_with(&norm(s)),
        Some(MatchPattern::Suffix(s)) => v.ends_with(&norm(s)),
        Some(MatchPattern::Contains(s)) => v.contains(&norm(s)),
        Some(MatchPattern::SafeRegex(r)) => full_regex(&r.regex).is_some_and(|re| re.is_match(&v)),
        _ => false,
    }
}

/// The cluster: is it in the dump, its type, TLS, endpoints.
fn cluster_hop(ix: &Index, name: &str, t: &mut Trace) {
    let entry = ix
        .clusters
        .iter()
        .filter(|c| c.name == name)
        .min_by_key(|c| match c.state {
            State::Active | State::Static => 0,
            _ => 1,
        });
    let Some(c) = entry else {
        t.summary =
            format!("routed to cluster {name}, which is not in the dump: Envoy resets the connection (HTTP: 503 NC)");
        return;
    };
    t.cluster_found = true;
    t.cluster_type = Some(super::inventory::discovery_type(&c.cluster().cluster_discovery_type));
    let ctls = tls::cluster_tls(ix, c.cluster(), c.state);
    let (rows, known) = super::endpoints::of_cluster(ix, c.cluster());
    let eps: Vec<String> = rows
        .into_iter()
        .map(|e| match e.status.as_str() {
            "UNKNOWN" => e.address,
            s => format!("{} {s}", e.address),
        })
        .collect();
    t.endpoints_known = known;
    t.endpoints = eps;
    if t.endpoints.is_empty() {
        t.endpoints_note = Some(match t.cluster_type.as_deref() {
            Some("ORIGINAL_DST") => "the connection's original destination".into(),
            Some("EDS") if !t.endpoints_known => "not in the dump (taken without ?include_eds)".into(),
            _ if !t.endpoints_known => "not in the dump".into(),
            _ => "none: Envoy has no host to send to (503 UH / connection reset)".into(),
        });
    }
    t.summary = match name {
        "BlackHoleCluster" => "routed to BlackHoleCluster: the connection is dropped".into(),
        "PassthroughCluster" => "routed to PassthroughCluster: forwarded to the original destination as is".into(),
        _ => format!(
            "routed to {name} ({}, originates {})",
            t.cluster_type.as_deref().unwrap_or("?"),
            ctls.origination.as_str()
        ),
    };
    if c.state == State::Warming {
        t.notes
            .push(format!("cluster {name} is still warming: Envoy does not use it yet"));
    }
    t.cluster_tls = Some(ctls);
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::route::v3::RouteMatch;
    use envoy_types::pb::google::protobuf::BoolValue;

    fn vh(name: &str, domains: &[&str]) -> VirtualHost {
        VirtualHost {
            name: name.into(),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn virtual_hosts_exact_then_suffix_then_prefix_then_any() {
        let v = vec![
            vh("any", &["*"]),
            vh("prefix", &["api.*"]),
            vh("short-suffix", &["*.com"]),
            vh("suffix", &["*.example.com"]),
            vh("dash", &["*-bar.example.com"]),
            vh("exact", &["www.example.com", "www.example.com:443"]),
        ];
        let pick = |h: &str| select_vhost(&v, h).map(|(v, _)| v.name.clone()).unwrap();
        assert_eq!(pick("www.example.com"), "exact");
        assert_eq!(pick("WWW.Example.com"), "exact");
        assert_eq!(pick("www.example.com:443"), "exact");
        assert_eq!(pick("a.example.com"), "suffix");
        assert_eq!(pick("foo-bar.example.com"), "dash");
        assert_eq!(pick("example.com"), "short-suffix");
        assert_eq!(pick("api.internal"), "prefix");
        // A wildcard never matches the empty string.
        assert_eq!(pick(".com"), "any");
        assert_eq!(pick("api."), "any");
        // Suffix wildcards beat prefix wildcards.
        assert_eq!(pick("api.example.com"), "suffix");
        assert!(select_vhost(&v[1..], "nothing.org").is_none());
    }

    #[test]
    fn port_in_host_is_kept_unless_stripped() {
        assert_eq!(strip_port("a.example.com:8080"), "a.example.com");
        assert_eq!(strip_port("[fd00::1]:443"), "[fd00::1]");
        assert_eq!(strip_port("fd00::1"), "fd00::1");
        let v = vec![vh("plain", &["a.example.com"])];
        assert!(select_vhost(&v, "a.example.com:8080").is_none());
    }

    #[test]
    fn uri_templates_as_envoy_matches_them() {
        let m = |t: &str, p: &str| regex::Regex::new(&uri_template_regex(t).unwrap()).unwrap().is_match(p);
        assert!(m("/api/{version}/items", "/api/v2/items"));
        assert!(!m("/api/{version}/items", "/api/v2/x/items"));
        assert!(!m("/api/{version}/items", "/api//items"));
        assert!(m("/api/**", "/api/"));
        assert!(m("/api/**", "/api/a/b"));
        assert!(!m("/api/**", "/api"));
        assert!(m("/{a}/v1/{rest=**}", "/x/v1/a/b"));
        assert!(m("/videos/{file=**}.m3u8", "/videos/a/b.m3u8"));
        assert!(!m("/videos/{file=**}.m3u8", "/videos/a/b.mpd"));
        assert!(m("/a/*", "/a/b"));
        assert!(!m("/a/*", "/a/b/c"));
        assert!(uri_template_regex("api/{x}").is_err());
        assert!(uri_template_regex("/api/{x").is_err());
    }

    #[test]
    fn route_matching_rules() {
        let m = |p: route_match::PathSpecifier| RouteMatch {
            path_specifier: Some(p),
            ..Default::default()
        };
        let prefix = m(route_match::PathSpecifier::Prefix("/api".into()));
        assert!(route_matches(Some(&prefix), "/api/v1?x=1", "GET", &[]).is_ok());
        assert!(route_matches(Some(&prefix), "/API", "GET", &[]).is_err());
        let mut insensitive = prefix.clone();
        insensitive.case_sensitive = Some(BoolValue { value: false });
        assert!(route_matches(Some(&insensitive), "/API", "GET", &[]).is_ok());
        let sep = m(route_match::PathSpecifier::PathSeparatedPrefix("/get".into()));
        assert!(route_matches(Some(&sep), "/get", "GET", &[]).is_ok());
        assert!(route_matches(Some(&sep), "/get/x", "GET", &[]).is_ok());
        assert!(route_matches(Some(&sep), "/getter", "GET", &[]).is_err());
        let exact = m(route_match::PathSpecifier::Path("/healthz".into()));
        assert!(route_matches(Some(&exact), "/healthz?full=1", "GET", &[]).is_ok());
        assert!(route_matches(Some(&exact), "/healthz/", "GET", &[]).is_err());
        let mut with_header = prefix.clone();
        with_header.headers.push(HeaderMatcher {
            name: "x-env".into(),
            header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::StringMatch(StringMatcher {
                match_pattern: Some(MatchPattern::Exact("canary".into())),
                ignore_case: false,
            })),
            ..Default::default()
        });
        let canary = [("x-env".to_string(), "canary".to_string())];
        assert!(route_matches(Some(&with_header), "/api", "GET", &canary).is_ok());
        assert!(route_matches(Some(&with_header), "/api", "GET", &[]).is_err());
    }
}
