//! Endpoint view: one row per host of every cluster load assignment — the EDS
//! section (`/config_dump?include_eds`) and, for clusters it does not cover,
//! the cluster's own `load_assignment`.

use envoy_types::pb::envoy::config::core::v3::{address, socket_address, Address, HealthStatus, Locality};
use envoy_types::pb::envoy::config::endpoint::v3::{lb_endpoint::HostIdentifier, LbEndpoint};
use serde::Serialize;

use super::filter::{keep, TextFilter};
use crate::model::istio::ClusterName;
use crate::model::{EndpointOrigin, Index, State};

#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    /// The proxy the row is from (`pod.namespace`, else the node id or file).
    pub proxy: String,
    /// istioctl's NAME: `ip:port`, a pipe path, or `envoy://listener/id`.
    pub address: String,
    /// The socket port; None for pipes and internal addresses.
    pub port: Option<u32>,
    /// Envoy's health status name (`HEALTHY`, `UNHEALTHY`, `DRAINING`,
    /// `UNKNOWN`, ...).
    pub status: String,
    /// `region/zone/subzone`, shortened from the right when parts are empty.
    pub locality: String,
    pub priority: u32,
    pub weight: Option<u32>,
    pub hostname: String,
    pub cluster: String,
    /// The EDS service name the assignment was published under, when the
    /// cluster names one (`eds_cluster_config.service_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eds_service: Option<String>,
    pub state: State,
    pub origin: EndpointOrigin,
    pub version_info: String,
    pub last_updated: Option<String>,
}

/// What `endpoints` keeps; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct EndpointFilter {
    /// `10.0.0.1` or `10.0.0.1:8080`, exactly.
    pub address: Option<String>,
    pub port: Option<u32>,
    pub cluster: Option<TextFilter>,
    /// A health status (`HEALTHY`, `UNHEALTHY`, `DRAINING`, ...), exactly.
    pub status: Option<String>,
}

impl EndpointFilter {
    pub fn keep(&self, e: &EndpointView) -> bool {
        self.address.as_ref().is_none_or(|a| {
            e.address.eq_ignore_ascii_case(a)
                || e.address.rsplit_once(':').is_some_and(|(ip, _)| {
                    ip.trim_matches(['[', ']'])
                        .eq_ignore_ascii_case(a.trim_matches(['[', ']']))
                })
        }) && self.port.is_none_or(|p| e.port == Some(p))
            && keep(&self.cluster, &e.cluster)
            && self.status.as_ref().is_none_or(|s| e.status.eq_ignore_ascii_case(s))
    }
}

/// Rows in istioctl's order: clusters by FQDN, subset, port, direction
/// (EDS entries before static ones on ties), hosts as listed.
pub fn endpoints(ix: &Index) -> Vec<EndpointView> {
    let proxy = ix.proxy_name();
    // Clusters that take their endpoints from EDS under another name
    // (`eds_cluster_config.service_name`: Cilium, Consul, Envoy Gateway):
    // the assignment is listed under each such cluster.
    let mut by_service: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &ix.clusters {
        let cl = c.peek();
        let key = crate::model::eds_key(&cl);
        if key != cl.name {
            by_service.entry(key.to_string()).or_default().push(cl.name.clone());
        }
    }
    let mut entries: Vec<_> = ix.endpoints.iter().collect();
    entries.sort_by_key(|e| e.state == State::Static);
    entries.sort_by_cached_key(|e| {
        let p = ClusterName::parse(&e.cluster_name);
        match p {
            Some(p) => (p.fqdn, p.subset, p.port.unwrap_or(0), p.direction),
            None => (e.cluster_name.clone(), String::new(), 0, String::new()),
        }
    });
    let mut rows = Vec::new();
    for e in entries {
        match by_service.get(&e.cluster_name) {
            Some(clusters) if e.origin != EndpointOrigin::LoadAssignment => {
                for c in clusters {
                    rows.extend(rows_of(&proxy, e, c, Some(&e.cluster_name)));
                }
            }
            _ => rows.extend(rows_of(&proxy, e, &e.cluster_name, None)),
        }
    }
    rows
}

/// The endpoints a cluster uses: its own load assignment, or the EDS
/// assignment under its name or its `eds_cluster_config.service_name`.
pub fn of_cluster(ix: &Index, c: &envoy_types::pb::envoy::config::cluster::v3::Cluster) -> (Vec<EndpointView>, bool) {
    let key = crate::model::eds_key(c);
    let entries: Vec<_> = ix
        .endpoints
        .iter()
        .filter(|e| e.cluster_name == c.name || e.cluster_name == key)
        .collect();
    let known = !entries.is_empty();
    let proxy = ix.proxy_name();
    let rows = entries
        .into_iter()
        .flat_map(|e| {
            rows_of(
                &proxy,
                e,
                &c.name,
                (e.cluster_name != c.name).then_some(e.cluster_name.as_str()),
            )
        })
        .collect();
    (rows, known)
}

/// One row per host of an assignment, shown under `cluster`.
fn rows_of(proxy: &str, e: &crate::model::EndpointEntry, cluster: &str, service: Option<&str>) -> Vec<EndpointView> {
    let mut rows = Vec::new();
    for group in &e.assignment().endpoints {
        for lb in &group.lb_endpoints {
            let endpoint = match &lb.host_identifier {
                Some(HostIdentifier::Endpoint(ep)) => Some(ep),
                _ => None,
            };
            let (address, port) = endpoint
                .and_then(|ep| ep.address.as_ref())
                .map(endpoint_address)
                .unwrap_or_else(|| ("unknown".into(), None));
            rows.push(EndpointView {
                proxy: proxy.to_string(),
                address,
                port,
                status: HealthStatus::try_from(lb.health_status)
                    .map(|s| s.as_str_name().to_string())
                    .unwrap_or_else(|_| format!("UNKNOWN({})", lb.health_status)),
                locality: locality(group.locality.as_ref()),
                priority: group.priority,
                weight: lb.load_balancing_weight.map(|w| w.value),
                hostname: endpoint.map(|ep| ep.hostname.clone()).unwrap_or_default(),
                cluster: cluster.to_string(),
                eds_service: service.map(str::to_string),
                state: e.state,
                origin: e.origin,
                version_info: e.stamp.version_info.clone(),
                last_updated: e.stamp.last_updated.clone(),
            });
        }
    }
    rows
}

/// An lb_endpoint's address the way istioctl prints it.
pub fn lb_endpoint_address(lb: &LbEndpoint) -> String {
    match &lb.host_identifier {
        Some(HostIdentifier::Endpoint(ep)) => ep
            .address
            .as_ref()
            .map_or_else(|| "unknown".into(), |a| endpoint_address(a).0),
        Some(HostIdentifier::EndpointName(n)) => format!("named endpoint {n}"),
        None => "unknown".into(),
    }
}

/// An endpoint's address the way istioctl prints it.
fn endpoint_address(a: &Address) -> (String, Option<u32>) {
    match &a.address {
        Some(address::Address::SocketAddress(s)) => {
            let port = match s.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p,
                _ => 0,
            };
            (format!("{}:{port}", s.address), Some(port))
        }
        Some(address::Address::Pipe(p)) => (p.path.clone(), None),
        Some(address::Address::EnvoyInternalAddress(i)) => {
            use envoy_types::pb::envoy::config::core::v3::envoy_internal_address::AddressNameSpecifier;
            match &i.address_name_specifier {
                Some(AddressNameSpecifier::ServerListenerName(n)) => (format!("envoy://{n}/{}", i.endpoint_id), None),
                None => ("unknown".into(), None),
            }
        }
        None => ("unknown".into(), None),
    }
}

fn locality(l: Option<&Locality>) -> String {
    let Some(l) = l else { return String::new() };
    let mut s = l.region.clone();
    if l.zone.is_empty() {
        return s;
    }
    s.push('/');
    s.push_str(&l.zone);
    if l.sub_zone.is_empty() {
        return s;
    }
    s.push('/');
    s.push_str(&l.sub_zone);
    s
}
