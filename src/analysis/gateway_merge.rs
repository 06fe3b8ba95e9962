//! How istiod merges the Gateways that apply to one gateway proxy into the
//! ports it listens on: which Gateways apply (push_context.go
//! `mergeGateways`), which port each server resolves to through the proxy's
//! Services (model/gateway.go `resolvePorts`), and which servers it keeps,
//! shares a port between, or skips (model/gateway.go `mergeGateways`).
//! Pure functions over the Istio config; `explain` builds listeners from the
//! result.

use std::collections::{BTreeMap, BTreeSet};

use crate::istio::{Config, Gateway, Server};

/// Service label that opts a Service out of Gateway port translation; the
/// `experimental.` spelling is the one istiod has read since 1.8.
pub const NO_PORT_TRANSLATION: [&str; 2] = [
    "experimental.istio.io/disable-gateway-port-translation",
    "networking.istio.io/disable-gateway-port-translation",
];

/// Annotation by which a Gateway generated from a Kubernetes Gateway API
/// object names the Services it applies to.
pub const GATEWAY_SERVICE_ANNOTATION: &str = "internal.istio.io/gateway-service";

/// A gateway proxy (an Envoy of type router) as istiod sees it.
#[derive(Debug, Clone)]
pub struct GatewayProxy {
    pub name: String,
    /// Its config namespace: VirtualServices must be exported to it.
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub ips: Vec<String>,
    /// `UNPRIVILEGED_POD` node metadata as istiod reads it; None when the
    /// inputs do not say (no dump, no pod spec).
    pub unprivileged: Option<bool>,
    /// Where `unprivileged` was read.
    pub unprivileged_source: String,
    /// Index of the dump taken from it, if any.
    pub dump: Option<usize>,
}

/// One port of a Service (or ServiceEntry) the proxy is an instance of.
#[derive(Debug, Clone)]
pub struct ServiceTarget {
    /// `Service ns/name` or `ServiceEntry ns/name`.
    pub object: String,
    pub host: String,
    pub namespace: String,
    pub port: u32,
    /// None when the targetPort is a name no container port of the proxy
    /// resolves.
    pub target_port: Option<u32>,
    pub no_translation: bool,
}

/// Go's `strconv.ParseBool`, which istiod applies to `UNPRIVILEGED_POD`
/// (anything else is false).
pub fn parse_go_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

fn subset(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// The Services and ServiceEntries the proxy is an instance of: Services in
/// its namespace whose selector matches its labels, ServiceEntry endpoints
/// at its IPs, and ServiceEntries whose workloadSelector matches it.
pub fn service_targets(cfg: &Config, p: &GatewayProxy, container_ports: &BTreeMap<String, u32>) -> Vec<ServiceTarget> {
    let mut out = Vec::new();
    let no_translation =
        |labels: &BTreeMap<String, String>| NO_PORT_TRANSLATION.iter().any(|l| labels.contains_key(*l));
    for s in cfg.services.values() {
        if s.metadata.namespace != p.namespace || s.spec.selector.is_empty() || !subset(&s.spec.selector, &p.labels) {
            continue;
        }
        for port in &s.spec.ports {
            let target_port = match &port.target_port {
                Some(serde_json::Value::String(name)) => {
                    name.parse().ok().or_else(|| container_ports.get(name).copied())
                }
                _ => Some(port.target()),
            };
            out.push(ServiceTarget {
                object: format!("Service {}/{}", s.metadata.namespace, s.metadata.name),
                host: format!("{}.{}.svc.cluster.local", s.metadata.name, s.metadata.namespace),
                namespace: s.metadata.namespace.clone(),
                port: port.port,
                target_port,
                no_translation: no_translation(&s.metadata.labels),
            });
        }
    }
    for se in cfg.service_entries.values() {
        let by_ip: Vec<_> = se
            .spec
            .endpoints
            .iter()
            .filter(|e| p.ips.contains(&e.address))
            .collect();
        let by_selector = se.spec.workload_selector.as_ref().is_some_and(|w| {
            se.metadata.namespace == p.namespace && !w.labels.is_empty() && subset(&w.labels, &p.labels)
        });
        if by_ip.is_empty() && !by_selector {
            continue;
        }
        for host in &se.spec.hosts {
            for port in &se.spec.ports {
                let endpoint_port = by_ip.iter().find_map(|e| e.ports.get(&port.name).copied());
                out.push(ServiceTarget {
                    object: format!("ServiceEntry {}/{}", se.metadata.namespace, se.metadata.name),
                    host: host.clone(),
                    namespace: se.metadata.namespace.clone(),
                    port: port.number,
                    target_port: Some(endpoint_port.or(port.target_port).unwrap_or(port.number)),
                    no_translation: no_translation(&se.metadata.labels),
                });
            }
        }
    }
    out
}

/// A Gateway that applies to the proxy, with the service instances that
/// translate its ports.
pub struct Applied<'a> {
    pub gateway: &'a Gateway,
    /// Selected by labels (or no selector) rather than by Service reference.
    pub legacy: bool,
    pub instances: Vec<&'a ServiceTarget>,
}

pub fn gateway_name(g: &Gateway) -> String {
    format!("{}/{}", g.metadata.namespace, g.metadata.name)
}

/// Gateways in istiod's order: creation time, then name, then namespace
/// (objects without a creationTimestamp sort first, as Go's zero time).
pub fn sorted_gateways(cfg: &Config) -> Vec<&Gateway> {
    let mut all: Vec<&Gateway> = cfg.gateways.values().collect();
    all.sort_by(|a, b| {
        let key = |g: &Gateway| {
            (
                g.metadata.creation_timestamp.clone(),
                g.metadata.name.clone(),
                g.metadata.namespace.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    all
}

/// The Gateways istiod merges for the proxy, in its order.
pub fn applicable<'a>(cfg: &'a Config, p: &GatewayProxy, targets: &'a [ServiceTarget]) -> Vec<Applied<'a>> {
    let mut out = Vec::new();
    for g in sorted_gateways(cfg) {
        if let Some(list) = g.metadata.annotations.get(GATEWAY_SERVICE_ANNOTATION) {
            let known: BTreeSet<&str> = list.split(',').map(str::trim).collect();
            let instances: Vec<&ServiceTarget> = targets
                .iter()
                .filter(|t| known.contains(t.host.as_str()) && t.namespace == g.metadata.namespace)
                .collect();
            if !instances.is_empty() {
                out.push(Applied {
                    gateway: g,
                    legacy: false,
                    instances,
                });
            }
        } else if g.spec.selector.is_empty() || subset(&g.spec.selector, &p.labels) {
            out.push(Applied {
                gateway: g,
                legacy: true,
                instances: targets.iter().collect(),
            });
        }
    }
    out
}

/// `HTTP`, `HTTP2`, `GRPC`, `GRPC-WEB` and `HTTP_PROXY` are HTTP to istiod.
pub fn is_http_protocol(p: &str) -> bool {
    matches!(
        p.to_ascii_uppercase().as_str(),
        "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" | "HTTP_PROXY"
    )
}

fn tls_mode(s: &Server) -> Option<String> {
    s.tls.as_ref().map(|t| t.mode.to_ascii_uppercase())
}

pub fn is_passthrough(s: &Server) -> bool {
    matches!(tls_mode(s).as_deref(), Some("PASSTHROUGH" | "AUTO_PASSTHROUGH"))
}

/// A non-HTTP server with TLS settings (terminating or passthrough).
pub fn is_tls_server(s: &Server) -> bool {
    s.tls.is_some() && !is_http_protocol(&s.port.protocol)
}

/// An HTTP server, or an HTTPS server that terminates TLS.
pub fn is_http_server(s: &Server) -> bool {
    is_http_protocol(&s.port.protocol)
        || (s.port.protocol.eq_ignore_ascii_case("HTTPS") && s.tls.is_some() && !is_passthrough(s))
}

/// The RDS route name istiod gives a server (empty for TCP/TLS servers).
pub fn rds_route_name(s: &Server, port: u32, g: &Gateway) -> String {
    let bind = if s.bind.is_empty() {
        String::new()
    } else {
        format!(".{}", s.bind)
    };
    if is_http_protocol(&s.port.protocol) {
        format!("http.{port}{bind}")
    } else if s.port.protocol.eq_ignore_ascii_case("HTTPS") && !is_passthrough(s) {
        format!(
            "https.{}.{}.{}.{}{bind}",
            s.port.number, s.port.name, g.metadata.name, g.metadata.namespace
        )
    } else {
        String::new()
    }
}

/// `./host` → `<gateway ns>/host`, `*/host` → `host`, `*/*` alone → `*`.
pub fn sanitize_hosts(hosts: &[String], ns: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(hosts.len());
    for h in hosts {
        match h.split_once('/') {
            Some((".", rest)) => out.push(format!("{ns}/{rest}")),
            Some(("*", "*")) => return vec!["*".to_string()],
            Some(("*", rest)) => out.push(rest.to_string()),
            _ => out.push(h.clone()),
        }
    }
    out
}

/// The server's hosts without namespaces, de-duplicated and sorted.
pub fn sni_hosts(hosts: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = hosts
        .iter()
        .map(|h| h.split_once('/').map_or(h.as_str(), |(_, h)| h).to_string())
        .collect();
    set.into_iter().collect()
}

/// A server kept by the merge.
#[derive(Clone)]
pub struct MergedServer<'a> {
    pub gateway: &'a Gateway,
    pub index: usize,
    pub server: &'a Server,
    /// `server.hosts` with `./` and `*/` resolved.
    pub hosts: Vec<String>,
    /// The port Envoy listens on (the Service targetPort).
    pub port: u32,
    pub route_name: String,
    pub sni_hosts: Vec<String>,
}

impl MergedServer<'_> {
    pub fn gateway_name(&self) -> String {
        gateway_name(self.gateway)
    }

    /// `Gateway ns/name server 1 (port 443)`.
    pub fn label(&self) -> String {
        format!(
            "Gateway {} server {} (port {})",
            self.gateway_name(),
            self.index,
            self.server.port.number
        )
    }
}

/// The servers istiod put on one (port, protocol, bind).
pub struct MergedPort<'a> {
    pub number: u32,
    pub protocol: String,
    pub bind: String,
    pub route_name: String,
    pub servers: Vec<MergedServer<'a>>,
}

/// Why istiod dropped a server.
#[derive(Debug, Clone)]
pub enum Skip {
    /// A TLS server repeats hosts already on the port and bind.
    DuplicateTlsHosts { hosts: Vec<String>, taken_by: String },
    /// Another protocol (or a second non-HTTP server) already holds the
    /// plain-text port on the same bind.
    Conflict {
        existing: String,
        existing_protocol: String,
    },
    /// A second HTTPS server whose route name is taken.
    NonUniqueHttpsRoute { route: String },
    /// A non-TLS server on a port already used by TLS servers.
    PlainOnTlsPort { existing: String },
    /// A Gateway API Gateway's server whose port is not a port of the
    /// Services it references.
    NoServicePort,
    /// A server without a port number.
    NoPort,
}

pub struct SkippedServer<'a> {
    pub server: MergedServer<'a>,
    pub reason: Skip,
}

pub struct Merged<'a> {
    pub ports: Vec<MergedPort<'a>>,
    pub skipped: Vec<SkippedServer<'a>>,
    /// What the inputs could not decide, said as limits.
    pub undetermined: Vec<String>,
}

/// The ports a server's port number resolves to (model/gateway.go
/// `resolvePorts`).
fn resolve_ports(number: u32, a: &Applied, undetermined: &mut Vec<String>) -> Vec<u32> {
    let matching: Vec<&&ServiceTarget> = a
        .instances
        .iter()
        .filter(|t| t.port == number && !(a.legacy && t.no_translation))
        .collect();
    if !a.legacy {
        let set: BTreeSet<u32> = matching.iter().filter_map(|t| t.target_port).collect();
        return set.into_iter().collect();
    }
    let Some(first) = matching.first() else {
        return vec![number];
    };
    let distinct: BTreeSet<Option<u32>> = matching.iter().map(|t| t.target_port).collect();
    if distinct.len() > 1 {
        undetermined.push(format!(
            "port {number} of Gateway {} is a port of several Services with different targetPorts ({}): istiod takes the first service instance, whose order the inputs do not show; assumed {}",
            gateway_name(a.gateway),
            matching
                .iter()
                .map(|t| format!("{} → {}", t.object, t.target_port.map_or("unresolved".into(), |p| p.to_string())))
                .collect::<Vec<_>>()
                .join(", "),
            first.object
        ));
    }
    match first.target_port {
        Some(p) => vec![p],
        None => {
            undetermined.push(format!(
                "{} port {number} has a named targetPort that no container port of the gateway resolves (give the Deployment/Pod spec): assumed {number}",
                first.object
            ));
            vec![number]
        }
    }
}

/// istiod's `mergeGateways` for one proxy.
pub fn merge<'a>(applied: &[Applied<'a>]) -> Merged<'a> {
    type Key = (u32, String, String);
    let mut ports: Vec<MergedPort<'a>> = Vec::new();
    let mut index: BTreeMap<Key, usize> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut undetermined = Vec::new();
    let mut gateway_ports: BTreeSet<u32> = BTreeSet::new();
    // port → (key, label of the first plain-text server)
    let mut plain_text: BTreeMap<u32, (Key, String)> = BTreeMap::new();
    let mut non_plain_binds: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut by_route: BTreeSet<String> = BTreeSet::new();
    // port → host → (bind, server label)
    let mut tls_hosts: BTreeMap<u32, BTreeMap<String, (String, String)>> = BTreeMap::new();

    let mut push = |ports: &mut Vec<MergedPort<'a>>, key: &Key, route: &str, s: MergedServer<'a>| {
        let i = *index.entry(key.clone()).or_insert_with(|| {
            ports.push(MergedPort {
                number: key.0,
                protocol: key.1.clone(),
                bind: key.2.clone(),
                route_name: route.to_string(),
                servers: Vec::new(),
            });
            ports.len() - 1
        });
        ports[i].servers.push(s);
        i
    };

    for a in applied {
        let g = a.gateway;
        for (i, s) in g.spec.servers.iter().enumerate() {
            let hosts = sanitize_hosts(&s.hosts, &g.metadata.namespace);
            let base = MergedServer {
                gateway: g,
                index: i,
                server: s,
                hosts: hosts.clone(),
                port: s.port.number,
                route_name: String::new(),
                sni_hosts: Vec::new(),
            };
            if s.port.number == 0 {
                skipped.push(SkippedServer {
                    server: base,
                    reason: Skip::NoPort,
                });
                continue;
            }
            let resolved = resolve_ports(s.port.number, a, &mut undetermined);
            if resolved.is_empty() {
                skipped.push(SkippedServer {
                    server: base.clone(),
                    reason: Skip::NoServicePort,
                });
            }
            for port in resolved {
                let route = rds_route_name(s, port, g);
                let mut ms = MergedServer {
                    port,
                    route_name: route.clone(),
                    ..base.clone()
                };
                let label = ms.label();
                let skip = |ms: MergedServer<'a>, reason: Skip, skipped: &mut Vec<SkippedServer<'a>>| {
                    skipped.push(SkippedServer { server: ms, reason });
                };
                if s.tls.is_some() {
                    let known = tls_hosts.entry(port).or_default();
                    let dups: Vec<(String, String)> = hosts
                        .iter()
                        .filter_map(|h| {
                            known
                                .get(h)
                                .filter(|(bind, _)| *bind == s.bind)
                                .map(|(_, by)| (h.clone(), by.clone()))
                        })
                        .collect();
                    if let Some((_, by)) = dups.first() {
                        let taken_by = by.clone();
                        skip(
                            ms,
                            Skip::DuplicateTlsHosts {
                                hosts: dups.into_iter().map(|(h, _)| h).collect(),
                                taken_by,
                            },
                            &mut skipped,
                        );
                        continue;
                    }
                    for h in &hosts {
                        known.insert(h.clone(), (s.bind.clone(), label.clone()));
                    }
                    ms.sni_hosts = sni_hosts(&hosts);
                }
                let key: Key = (port, s.port.protocol.clone(), s.bind.clone());
                if gateway_ports.contains(&port) {
                    if let Some((current, existing)) = plain_text.get(&port).cloned() {
                        let can_merge = is_http_protocol(&current.1)
                            && (is_http_protocol(&s.port.protocol) || current.1.eq_ignore_ascii_case(&s.port.protocol));
                        // Another protocol on the port and bind, or a second
                        // server without a route name (TCP): istiod skips it.
                        if (!can_merge || route.is_empty()) && current.2 == s.bind {
                            skip(
                                ms,
                                Skip::Conflict {
                                    existing,
                                    existing_protocol: current.1.clone(),
                                },
                                &mut skipped,
                            );
                            continue;
                        }
                        by_route.insert(route.clone());
                        if current.2 != s.bind {
                            let i = push(&mut ports, &key, &route, ms);
                            ports[i].route_name = route;
                        } else {
                            push(&mut ports, &current, &route, ms);
                        }
                    } else {
                        if is_http_server(s) {
                            if route.is_empty() || by_route.contains(&route) {
                                skip(ms, Skip::NonUniqueHttpsRoute { route }, &mut skipped);
                                continue;
                            }
                            by_route.insert(route.clone());
                        }
                        let new_bind = non_plain_binds.entry(port).or_default().insert(s.bind.clone());
                        if s.tls.is_none() && !new_bind {
                            let existing = ports
                                .iter()
                                .find(|p| p.number == port && p.bind == s.bind)
                                .and_then(|p| p.servers.first())
                                .map(|m| m.label())
                                .unwrap_or_default();
                            skip(ms, Skip::PlainOnTlsPort { existing }, &mut skipped);
                            continue;
                        }
                        push(&mut ports, &key, &route, ms);
                    }
                } else {
                    gateway_ports.insert(port);
                    if !is_tls_server(s) {
                        plain_text.insert(port, (key.clone(), label.clone()));
                    }
                    if is_http_server(s) {
                        by_route.insert(route.clone());
                    }
                    push(&mut ports, &key, &route, ms);
                }
            }
        }
    }
    Merged {
        ports,
        skipped,
        undetermined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_sanitizing_and_sni() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sanitize_hosts(&h(&["./a", "*/b", "x/c"]), "ns"),
            h(&["ns/a", "b", "x/c"])
        );
        assert_eq!(sanitize_hosts(&h(&["./a", "*/*"]), "ns"), h(&["*"]));
        assert_eq!(
            sni_hosts(&h(&["example.org", "ns/example.org", "*.example.org"])),
            h(&["*.example.org", "example.org"])
        );
        assert!(parse_go_bool("True") && !parse_go_bool("") && !parse_go_bool("yes"));
    }
}
