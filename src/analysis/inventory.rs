//! Inventory views: one plain, serialisable row set per resource type, with
//! istioctl's columns plus the state istioctl hides.

use envoy_types::pb::envoy::config::cluster::v3::cluster::{ClusterDiscoveryType, DiscoveryType};
use envoy_types::pb::envoy::config::core::v3::{address, Address};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch};
use envoy_types::pb::envoy::config::route::v3::{route, route_action, route_match, RouteConfiguration};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    http_connection_manager::RouteSpecifier, HttpConnectionManager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{tcp_proxy, TcpProxy};
use serde::Serialize;

use super::filter::{keep, TextFilter};
use crate::model::istio::{cluster_services, ClusterName, IstioConfigRef};
use crate::model::{listener_chains, network_filter_config, Index, Rejection, State};

#[derive(Debug, Clone, Serialize)]
pub struct ListenerView {
    /// The proxy the row is from (`pod.namespace`, else the node id or file).
    pub proxy: String,
    pub name: String,
    /// First address as `ip` (or pipe path / internal name).
    pub address: String,
    /// All addresses, additional ones included.
    pub addresses: Vec<String>,
    pub port: u32,
    pub state: State,
    pub version_info: String,
    pub last_updated: Option<String>,
    pub provenance: Option<IstioConfigRef>,
    pub rejection: Option<Rejection>,
    pub listener_filters: Vec<String>,
    pub filter_chains: Vec<ChainView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainView {
    pub name: String,
    pub is_default: bool,
    /// istioctl's MATCH column (`SNI: a,b; Trans: tls; Addr: *:443`, `ALL`).
    #[serde(rename = "match")]
    pub match_summary: String,
    pub destination_port: Option<u32>,
    pub prefix_ranges: Vec<String>,
    pub server_names: Vec<String>,
    pub transport_protocol: String,
    pub application_protocols: Vec<String>,
    pub filters: Vec<String>,
    /// istioctl's DESTINATION column (`Route: x`, `Cluster: y`, ...).
    pub destination: String,
}

/// What `listeners` keeps; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct ListenerFilter {
    pub port: Option<u32>,
    /// One of the listener's addresses, exactly.
    pub address: Option<String>,
    pub name: Option<TextFilter>,
    pub state: Option<State>,
}

impl ListenerFilter {
    pub fn keep(&self, l: &ListenerView) -> bool {
        self.port.is_none_or(|p| l.port == p)
            && self.address.as_ref().is_none_or(|a| {
                l.addresses
                    .iter()
                    .chain([&l.address])
                    .any(|x| x.eq_ignore_ascii_case(a))
            })
            && keep(&self.name, &l.name)
            && self.state.is_none_or(|s| l.state == s)
    }
}

/// What `clusters` keeps; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct ClusterFilter {
    /// The FQDN, or the whole name of a cluster outside Istio's grammar.
    pub fqdn: Option<TextFilter>,
    pub port: Option<u32>,
    pub subset: Option<String>,
    pub direction: Option<String>,
    pub discovery_type: Option<String>,
    pub state: Option<State>,
}

impl ClusterFilter {
    pub fn keep(&self, c: &ClusterView) -> bool {
        let word = |f: &Option<String>, v: &str| f.as_ref().is_none_or(|f| f.eq_ignore_ascii_case(v));
        self.fqdn
            .as_ref()
            .is_none_or(|f| f.matches(&c.fqdn) || f.matches(&c.name))
            && self.port.is_none_or(|p| c.port == Some(p))
            && word(&self.subset, &c.subset)
            && word(&self.direction, &c.direction)
            && word(&self.discovery_type, &c.discovery_type)
            && self.state.is_none_or(|s| c.state == s)
    }
}

/// Listeners ordered like istioctl (port, then address), then by name and state.
pub fn listeners(ix: &Index) -> Vec<ListenerView> {
    let proxy = ix.proxy_name();
    let mut views: Vec<ListenerView> = ix
        .listeners
        .iter()
        .map(|e| {
            let l = e.peek();
            let l = l.as_deref();
            let mut addresses: Vec<(String, u32)> = Vec::new();
            if let Some(l) = l {
                addresses.extend(l.address.as_ref().map(address_parts));
                addresses.extend(
                    l.additional_addresses
                        .iter()
                        .filter_map(|a| a.address.as_ref())
                        .map(address_parts),
                );
            }
            let (address, port) = addresses.first().cloned().unwrap_or_default();
            ListenerView {
                proxy: proxy.clone(),
                name: e.name.clone(),
                address,
                addresses: addresses.iter().map(|(a, p)| format!("{a}:{p}")).collect(),
                port,
                state: e.state,
                version_info: e.stamp.version_info.clone(),
                last_updated: e.stamp.last_updated.clone(),
                provenance: e.provenance.clone(),
                rejection: e.rejection.clone(),
                listener_filters: l
                    .map(|l| l.listener_filters.iter().map(|f| f.name.clone()).collect())
                    .unwrap_or_default(),
                filter_chains: l
                    .map(|l| {
                        let default_name = l.default_filter_chain.as_ref().map(|d| d as *const FilterChain);
                        listener_chains(l)
                            .into_iter()
                            .map(|(name, c)| chain_view(name, c, Some(c as *const FilterChain) == default_name))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    views.sort_by(|a, b| (a.port, &a.address, &a.name, a.state).cmp(&(b.port, &b.address, &b.name, b.state)));
    views
}

fn chain_view(name: String, c: &FilterChain, is_default: bool) -> ChainView {
    let m = c.filter_chain_match.clone().unwrap_or_default();
    ChainView {
        name,
        is_default,
        match_summary: if is_default { "ALL".into() } else { describe_match(&m) },
        destination_port: m.destination_port.map(|p| p.value),
        prefix_ranges: m
            .prefix_ranges
            .iter()
            .map(|p| format!("{}/{}", p.address_prefix, p.prefix_len.map_or(0, |l| l.value)))
            .collect(),
        server_names: m.server_names.clone(),
        transport_protocol: m.transport_protocol.clone(),
        application_protocols: m.application_protocols.clone(),
        filters: c.filters.iter().map(|f| f.name.clone()).collect(),
        destination: describe_destination(c),
    }
}

/// istioctl's MATCH column.
pub fn describe_match(m: &FilterChainMatch) -> String {
    let mut parts = Vec::new();
    if !m.server_names.is_empty() {
        parts.push(format!("SNI: {}", m.server_names.join(",")));
    }
    if !m.transport_protocol.is_empty() {
        parts.push(format!("Trans: {}", m.transport_protocol));
    }
    if !m.application_protocols.is_empty() {
        parts.push(format!("App: {}", describe_alpn(&m.application_protocols)));
    }
    let port = m.destination_port.map(|p| format!(":{}", p.value)).unwrap_or_default();
    if !m.prefix_ranges.is_empty() {
        let ranges: Vec<String> = m
            .prefix_ranges
            .iter()
            .map(|p| format!("{}/{}", p.address_prefix, p.prefix_len.map_or(0, |l| l.value)))
            .collect();
        parts.push(format!("Addr: {}{port}", ranges.join(",")));
    } else if !port.is_empty() {
        parts.push(format!("Addr: *{port}"));
    }
    if parts.is_empty() {
        "ALL".into()
    } else {
        parts.join("; ")
    }
}

fn describe_alpn(alpn: &[String]) -> String {
    let is = |set: &[&str]| alpn.len() == set.len() && alpn.iter().zip(set).all(|(a, b)| a == b);
    if is(&["http/1.0", "http/1.1", "h2c"]) {
        "HTTP".into()
    } else if is(&[
        "http/1.0",
        "http/1.1",
        "h2c",
        "istio-http/1.0",
        "istio-http/1.1",
        "istio-h2",
    ]) {
        "HTTP TLS".into()
    } else if is(&["istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"]) {
        "Istio HTTP Plain".into()
    } else if is(&["istio-peer-exchange", "istio"]) {
        "TCP TLS".into()
    } else {
        alpn.join(",")
    }
}

/// istioctl's DESTINATION column: the first HTTP connection manager or
/// tcp_proxy decides. Unlike istioctl, a tcp_proxy to BlackHoleCluster is
/// shown as such rather than skipped.
pub fn describe_destination(c: &FilterChain) -> String {
    for f in &c.filters {
        if let Some(hcm) = network_filter_config::<HttpConnectionManager>(f) {
            return match hcm.route_specifier {
                Some(RouteSpecifier::Rds(rds)) if !rds.route_config_name.is_empty() => {
                    format!("Route: {}", rds.route_config_name)
                }
                Some(RouteSpecifier::RouteConfig(rc)) => describe_inline_route(&rc),
                _ => "HTTP".into(),
            };
        }
        if let Some(tcp) = network_filter_config::<TcpProxy>(f) {
            return match tcp.cluster_specifier {
                Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => cluster_label(&c),
                _ => "Cluster: ".into(),
            };
        }
    }
    "Non-HTTP/Non-TCP".into()
}

/// `Cluster: x`, except Istio's special clusters (`PassthroughCluster`...),
/// which are shown bare.
fn cluster_label(c: &str) -> String {
    if c.contains("Cluster") {
        c.to_string()
    } else {
        format!("Cluster: {c}")
    }
}

fn describe_inline_route(rc: &RouteConfiguration) -> String {
    if let [vh] = rc.virtual_hosts.as_slice() {
        if vh.domains == ["*"] {
            if let [only] = vh.routes.as_slice() {
                let prefix_all = matches!(
                    only.r#match.as_ref().and_then(|m| m.path_specifier.as_ref()),
                    Some(route_match::PathSpecifier::Prefix(p)) if p == "/"
                );
                if let (true, Some(route::Action::Route(a))) = (prefix_all, &only.action) {
                    if let Some(route_action::ClusterSpecifier::Cluster(c)) = &a.cluster_specifier {
                        return cluster_label(c);
                    }
                }
            }
        }
    }
    let vhosts: Vec<String> = rc
        .virtual_hosts
        .iter()
        .map(|vh| {
            let routes: Vec<String> = vh
                .routes
                .iter()
                .map(|r| describe_route_match(r.r#match.as_ref()))
                .collect();
            let routes = routes.join(", ");
            if vh.domains == ["*"] {
                routes
            } else {
                format!("{} {routes}", vh.domains.join("/"))
            }
        })
        .collect();
    format!("Inline Route: {}", vhosts.join("; "))
}

/// A route's path match the way istioctl prints it (`/prefix*`, `/exact`).
pub fn describe_route_match(m: Option<&envoy_types::pb::envoy::config::route::v3::RouteMatch>) -> String {
    let Some(m) = m else { return String::new() };
    match &m.path_specifier {
        Some(route_match::PathSpecifier::Prefix(p)) if !p.is_empty() => format!("{p}*"),
        Some(route_match::PathSpecifier::Path(p)) => p.clone(),
        Some(route_match::PathSpecifier::SafeRegex(r)) => format!("regex {}", r.regex),
        Some(route_match::PathSpecifier::PathSeparatedPrefix(p)) => format!("PathPrefix:{p}"),
        Some(route_match::PathSpecifier::ConnectMatcher(_)) => "CONNECT".into(),
        Some(route_match::PathSpecifier::PathMatchPolicy(p)) => format!("policy {}", p.name),
        _ => String::new(),
    }
}

/// `ip:port`, a pipe path, or `envoy://name`.
pub fn format_address(a: &Address) -> String {
    match address_parts(a) {
        (addr, 0) => addr,
        (addr, port) => format!("{addr}:{port}"),
    }
}

fn address_parts(a: &Address) -> (String, u32) {
    match &a.address {
        Some(address::Address::SocketAddress(s)) => {
            let port = match s.port_specifier {
                Some(envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(p)) => p,
                _ => 0,
            };
            (s.address.clone(), port)
        }
        Some(address::Address::Pipe(p)) => (p.path.clone(), 0),
        Some(address::Address::EnvoyInternalAddress(i)) => {
            use envoy_types::pb::envoy::config::core::v3::envoy_internal_address::AddressNameSpecifier;
            match &i.address_name_specifier {
                Some(AddressNameSpecifier::ServerListenerName(n)) => (format!("envoy://{n}"), 0),
                None => ("envoy://".into(), 0),
            }
        }
        None => (String::new(), 0),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    /// The proxy the row is from (`pod.namespace`, else the node id or file).
    pub proxy: String,
    pub name: String,
    /// Envoy's discovery type (`EDS`, `STRICT_DNS`, ...), or the custom
    /// cluster type's name.
    #[serde(rename = "type")]
    pub discovery_type: String,
    pub state: State,
    /// Istio name parts; `None` for names outside Istio's grammar.
    pub fqdn: String,
    pub port: Option<u32>,
    pub subset: String,
    pub direction: String,
    pub destination_rule: Option<String>,
    pub services: Vec<String>,
    pub version_info: String,
    pub last_updated: Option<String>,
}

/// Clusters ordered like istioctl: FQDN, port, subset, direction.
pub fn clusters(ix: &Index) -> Vec<ClusterView> {
    let proxy = ix.proxy_name();
    let mut views: Vec<ClusterView> = ix
        .clusters
        .iter()
        .map(|e| {
            let parsed = ClusterName::parse(&e.name);
            let cluster = e.peek();
            ClusterView {
                proxy: proxy.clone(),
                name: e.name.clone(),
                discovery_type: discovery_type(&cluster.cluster_discovery_type),
                state: e.state,
                fqdn: parsed.as_ref().map_or_else(|| e.name.clone(), |p| p.fqdn.clone()),
                port: parsed.as_ref().and_then(|p| p.port),
                subset: parsed.as_ref().map(|p| p.subset.clone()).unwrap_or_default(),
                direction: parsed.as_ref().map(|p| p.direction.clone()).unwrap_or_default(),
                destination_rule: e.provenance.as_ref().map(IstioConfigRef::short),
                services: cluster_services(cluster.metadata.as_ref()),
                version_info: e.stamp.version_info.clone(),
                last_updated: e.stamp.last_updated.clone(),
            }
        })
        .collect();
    views.sort_by(|a, b| {
        (&a.fqdn, a.port, &a.subset, &a.direction, a.state).cmp(&(&b.fqdn, b.port, &b.subset, &b.direction, b.state))
    });
    views
}

/// Envoy's discovery type name; an unset type is STATIC, Envoy's default.
pub fn discovery_type(t: &Option<ClusterDiscoveryType>) -> String {
    match t {
        Some(ClusterDiscoveryType::Type(n)) => DiscoveryType::try_from(*n)
            .map(|d| d.as_str_name().to_string())
            .unwrap_or_else(|_| crate::input::normalize::unknown_enum_label(*n)),
        Some(ClusterDiscoveryType::ClusterType(c)) => c.name.clone(),
        None => "STATIC".into(),
    }
}
