//! Isolation across gateways: which external hosts each gateway reaches and
//! through which listener and chain (the physical split), which Istio
//! objects reach several gateways (the logical axis and each shared object's
//! blast radius), and which gateways are on the same push.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::paths::{self, PathFilter};
use crate::istio::Config;
use crate::model::istio::{ClusterName, IstioConfigRef};
use crate::model::{Index, State};

#[derive(Debug, Clone, Serialize)]
pub struct HostRoute {
    pub host: String,
    /// Listener and chain that select it (SNI or HTTP domain); null when
    /// the gateway only has a cluster for it.
    pub listener: Option<String>,
    pub chain: Option<String>,
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayHosts {
    pub name: String,
    /// External hosts it can reach, sorted.
    pub hosts: Vec<String>,
    pub routes: Vec<HostRoute>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Shared {
    /// The Istio object (`ServiceEntry default/example-logicaldns`) or
    /// service (`service example.com (default)`) the resources come from.
    pub origin: String,
    pub gateways: Vec<String>,
    /// The resources it produced, by gateway-independent name.
    pub resources: Vec<String>,
    /// True when the object has no narrowing `exportTo` (from --istio) or
    /// is on every gateway given.
    pub global: bool,
    /// `ServiceEntry default/x is on 2 of 2 gateways; exportTo unset`.
    pub blast_radius: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayVersions {
    pub name: String,
    pub versions: BTreeMap<String, String>,
    pub latest_update: Option<String>,
    /// Sections where this gateway is behind the newest version seen.
    pub behind: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IsolationReport {
    pub gateways: Vec<GatewayHosts>,
    pub shared: Vec<Shared>,
    pub versions: Vec<GatewayVersions>,
    /// What reading the inputs passed over (e.g. links in an --istio
    /// directory that were not followed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Hosts outside the cluster: not `*.svc.cluster.local`, not Istio's own.
fn external(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or(host);
    !h.is_empty()
        && h != "*"
        && !h.ends_with(".svc.cluster.local")
        && !h.ends_with(".local")
        && !h.ends_with(".svc")
        && h.contains('.')
        && h.parse::<std::net::IpAddr>().is_err()
}

/// What isolation keeps of one gateway's dump (the dump itself is then
/// dropped: a fleet is read one dump at a time).
#[derive(Debug, Clone)]
pub struct Part {
    gateway: GatewayHosts,
    /// (Istio object, resource of this gateway it made).
    origins: Vec<(String, String)>,
    versions: BTreeMap<String, String>,
    latest_update: Option<String>,
}

/// The hosts, the Istio objects and the versions of one gateway's dump.
pub fn part(ix: &Index, config: Option<&Config>) -> Part {
    part_of(ix, &paths::paths(ix, &PathFilter::default()), config)
}

/// [`part`] from the dump's whole graph, when the caller has made it.
pub fn part_of(ix: &Index, graph: &paths::PathsReport, config: Option<&Config>) -> Part {
    let name = ix.proxy_name();
    let mut origins: Vec<(String, String)> = Vec::new();
    let mut routes = Vec::new();
    // (host, listener) of `routes`, to keep each once without a scan.
    let mut have: std::collections::HashSet<(String, Option<String>)> = std::collections::HashSet::new();
    for l in graph
        .listeners
        .iter()
        .filter(|l| matches!(l.state, State::Active | State::Static))
    {
        for c in &l.chains {
            let chain = match c.index {
                Some(i) if c.name.starts_with('#') || c.name.is_empty() => format!("#{i}"),
                Some(i) => format!("#{i} {}", c.name),
                None => "default".into(),
            };
            let cluster = c.filters.iter().flat_map(|f| f.clusters.iter()).next().cloned();
            for sni in c.tls.server_names.iter().filter(|s| external(s)) {
                have.insert((sni.clone(), Some(l.name.clone())));
                routes.push(HostRoute {
                    host: sni.clone(),
                    listener: Some(l.name.clone()),
                    chain: Some(chain.clone()),
                    cluster: cluster.clone(),
                });
            }
            for f in &c.filters {
                let Some(r) = &f.route else { continue };
                for v in r.vhosts.iter() {
                    for d in v.domains.iter().filter(|d| external(d)) {
                        let host = d.split(':').next().unwrap_or(d).to_string();
                        let cl = v.routes.iter().flat_map(|x| x.clusters.iter()).next().cloned();
                        if have.insert((host.clone(), Some(l.name.clone()))) {
                            routes.push(HostRoute {
                                host,
                                listener: Some(l.name.clone()),
                                chain: Some(chain.clone()),
                                cluster: cl,
                            });
                        }
                    }
                }
            }
        }
    }
    let mut hosts_seen: std::collections::HashSet<String> = routes.iter().map(|r| r.host.clone()).collect();
    for c in ix
        .clusters
        .iter()
        .filter(|c| matches!(c.state, State::Active | State::Static))
    {
        if let Some(p) = ClusterName::parse(&c.name).filter(|p| external(&p.fqdn)) {
            if hosts_seen.insert(p.fqdn.clone()) {
                routes.push(HostRoute {
                    host: p.fqdn.clone(),
                    listener: None,
                    chain: None,
                    cluster: Some(c.name.clone()),
                });
            }
        }
    }
    let hosts: BTreeSet<String> = routes.iter().map(|r| r.host.clone()).collect();
    let gateway = GatewayHosts {
        name: name.clone(),
        hosts: hosts.into_iter().collect(),
        routes,
    };

    let mut add = |origin: String, resource: String| origins.push((origin, resource));
    for l in ix
        .listeners
        .iter()
        .filter(|l| matches!(l.state, State::Active | State::Static))
    {
        if let Some(p) = &l.provenance {
            add(object(p), format!("listener {}", l.name));
        }
    }
    for c in ix.clusters.iter() {
        match &c.provenance {
            Some(p) => add(object(p), format!("cluster {}", c.name)),
            // Without a config path, the service it was built for.
            None => {
                for s in crate::model::istio::cluster_services(c.peek().metadata.as_ref()) {
                    add(service_origin(&s, config), format!("cluster {}", c.name));
                }
            }
        }
    }
    for r in &ix.route_configs {
        for vh in &r.peek().virtual_hosts {
            for route in &vh.routes {
                if let Some(p) = IstioConfigRef::from_metadata(route.metadata.as_ref()) {
                    add(object(&p), format!("route {} / {}", r.name, vh.name));
                }
            }
        }
    }
    Part {
        gateway,
        origins,
        versions: ix.section_versions.clone(),
        latest_update: ix
            .latest_update()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
    }
}

pub fn isolation(dumps: &[Index], config: Option<&Config>) -> IsolationReport {
    combine(dumps.iter().map(|ix| part(ix, config)).collect(), config)
}

/// The report over the gateways' parts, in the order given.
pub fn combine(parts: Vec<Part>, config: Option<&Config>) -> IsolationReport {
    let n = parts.len();
    // origin → gateway → resources
    let mut origins: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for p in &parts {
        for (origin, resource) in &p.origins {
            origins
                .entry(origin.clone())
                .or_default()
                .entry(p.gateway.name.clone())
                .or_default()
                .insert(resource.clone());
        }
    }
    let mut shared: Vec<Shared> = origins
        .into_iter()
        .filter(|(_, by_gw)| by_gw.len() >= 2)
        .map(|(origin, by_gw)| {
            let gws: Vec<String> = by_gw.keys().cloned().collect();
            let resources: BTreeSet<String> = by_gw.values().flatten().cloned().collect();
            let export = export_of(&origin, config);
            let narrowed = export
                .as_ref()
                .is_some_and(|e| !e.is_empty() && !e.iter().any(|x| x == "*"));
            let on_all = gws.len() == n;
            let global = (export.is_some() && !narrowed) || (export.is_none() && on_all);
            let mut blast = format!("{origin} is on {} of {n} gateways", gws.len());
            match &export {
                Some(e) if e.is_empty() => blast.push_str("; exportTo unset: istiod sends it to every proxy"),
                Some(e) if !narrowed => blast.push_str(&format!("; exportTo {e:?}: every namespace")),
                Some(e) => blast.push_str(&format!("; exportTo {e:?}")),
                None if on_all => blast.push_str("; evidently global (on every gateway given)"),
                None => {}
            }
            Shared {
                origin,
                gateways: gws,
                resources: resources.into_iter().collect(),
                global,
                blast_radius: blast,
            }
        })
        .collect();
    shared.sort_by(|a, b| (b.global, b.gateways.len(), &a.origin).cmp(&(a.global, a.gateways.len(), &b.origin)));

    let mut newest: BTreeMap<String, String> = BTreeMap::new();
    for p in &parts {
        for (k, v) in &p.versions {
            let e = newest.entry(k.clone()).or_default();
            if v > e {
                *e = v.clone();
            }
        }
    }
    let versions = parts
        .iter()
        .map(|p| GatewayVersions {
            name: p.gateway.name.clone(),
            versions: p.versions.clone(),
            latest_update: p.latest_update.clone(),
            behind: newest
                .iter()
                .filter(|(k, v)| p.versions.get(*k).is_none_or(|mine| mine < *v))
                .map(|(k, v)| {
                    format!(
                        "{} (has {}, newest {v})",
                        k.trim_end_matches("ConfigDump"),
                        p.versions.get(k).map_or("none", String::as_str)
                    )
                })
                .collect(),
        })
        .collect();
    IsolationReport {
        gateways: parts.into_iter().map(|p| p.gateway).collect(),
        shared,
        versions,
        notes: config
            .map(|c| c.skipped.iter().map(|s| format!("skipped {s}")).collect())
            .unwrap_or_default(),
    }
}

fn object(p: &IstioConfigRef) -> String {
    let kind = match p.kind.as_str() {
        "service-entry" => "ServiceEntry",
        "virtual-service" => "VirtualService",
        "destination-rule" => "DestinationRule",
        "gateway" => "Gateway",
        "sidecar" => "Sidecar",
        "envoy-filter" => "EnvoyFilter",
        other => other,
    };
    format!("{kind} {}/{}", p.namespace, p.name)
}

/// `host (ns)` from a cluster's `istio.services` → the ServiceEntry that
/// declares it, when the config says.
fn service_origin(s: &str, config: Option<&Config>) -> String {
    let (host, ns) = match s.split_once(" (") {
        Some((h, rest)) => (h, rest.trim_end_matches(')')),
        None => (s, ""),
    };
    if let Some(cfg) = config {
        if let Some(se) = cfg
            .service_entries
            .values()
            .find(|se| se.spec.hosts.iter().any(|h| h == host) && (ns.is_empty() || se.metadata.namespace == ns))
        {
            return format!("ServiceEntry {}/{}", se.metadata.namespace, se.metadata.name);
        }
    }
    format!("service {s}")
}

/// The `exportTo` of an origin object, when the config has it.
fn export_of(origin: &str, config: Option<&Config>) -> Option<Vec<String>> {
    let cfg = config?;
    let (kind, rest) = origin.split_once(' ')?;
    let (ns, name) = rest.split_once('/')?;
    let key = (ns.to_string(), name.to_string());
    match kind {
        "ServiceEntry" => cfg.service_entries.get(&key).map(|x| x.spec.export_to.clone()),
        "VirtualService" => cfg.virtual_services.get(&key).map(|x| x.spec.export_to.clone()),
        "DestinationRule" => cfg.destination_rules.get(&key).map(|x| x.spec.export_to.clone()),
        _ => None,
    }
}
