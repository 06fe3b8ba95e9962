//! Model layer: one index per dump of every listener, route config, cluster,
//! endpoint set, secret and ECDS config it holds — in every state, rejected
//! ones included — with versions and Istio provenance.

pub mod istio;
pub mod lazy;
pub mod util;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;

use envoy_types::pb::envoy::admin::v3 as admin;
use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;
use envoy_types::pb::google::protobuf::{Any, Timestamp};
use prost::{Message, Name};
use rayon::prelude::*;
use serde::Serialize;

use crate::input::wire::{field as wire_field, repeated as wire_fields};
use crate::input::{DecodeReport, LoadedDump, Section};
use istio::IstioConfigRef;
pub use lazy::Lazy;
use util::{decode_any, field_number, format_timestamp, struct_str};

/// Where a resource stands in Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// From the bootstrap: never changes at run time.
    Static,
    Active,
    /// Received, waiting for its dependencies (e.g. a cluster's endpoints).
    Warming,
    /// Replaced; finishing its connections.
    Draining,
    /// The last update of it was rejected (listener `error_state`).
    Rejected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Static => "static",
            State::Active => "active",
            State::Warming => "warming",
            State::Draining => "draining",
            State::Rejected => "rejected",
        }
    }
}

/// Version and time Envoy recorded for a resource.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stamp {
    pub version_info: String,
    pub last_updated: Option<String>,
}

impl Stamp {
    fn new(version_info: &str, ts: Option<&Timestamp>) -> Self {
        Self {
            version_info: version_info.to_string(),
            last_updated: ts.and_then(format_timestamp),
        }
    }
}

/// A rejected update (`UpdateFailureState`).
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    pub details: String,
    pub version_info: String,
    pub last_update_attempt: Option<String>,
}

pub struct ListenerEntry {
    /// The dynamic entry's name, else the listener's own.
    pub name: String,
    /// The dump entry itself carried no name (seen on `error_state`-only
    /// entries); `name` then comes from the listener's configuration.
    pub unnamed_entry: bool,
    /// A rejected listener that Envoy also listed without its name (the
    /// unnamed twin is not kept as a second entry).
    pub listed_twice: bool,
    pub state: State,
    pub stamp: Stamp,
    /// None for an `error_state` whose failed configuration is absent.
    pub lazy: Option<Lazy<Listener>>,
    pub rejection: Option<Rejection>,
    pub provenance: Option<IstioConfigRef>,
}

pub struct ClusterEntry {
    pub name: String,
    pub state: State,
    pub stamp: Stamp,
    pub lazy: Lazy<Cluster>,
    pub provenance: Option<IstioConfigRef>,
}

/// Where a route configuration came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RouteOrigin {
    Static,
    Rds,
    /// Inline in an HTTP connection manager of a listener's filter chain.
    Inline {
        listener: String,
        filter_chain: String,
    },
}

pub struct RouteConfigEntry {
    pub name: String,
    pub state: State,
    pub origin: RouteOrigin,
    /// Listed in the dump's RoutesConfigDump (false for an inline config only
    /// found in a listener, e.g. in `istioctl pc listener -o json` output).
    pub in_routes_section: bool,
    pub stamp: Stamp,
    pub lazy: Lazy<RouteConfiguration>,
}

/// Where an endpoint set came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointOrigin {
    /// The EDS section (`/config_dump?include_eds`).
    Eds,
    /// A cluster's own `load_assignment`.
    LoadAssignment,
}

/// The name a cluster's endpoints are published under by EDS: its
/// `eds_cluster_config.service_name`, or its own name.
pub fn eds_key(c: &Cluster) -> &str {
    c.eds_cluster_config
        .as_ref()
        .map(|e| e.service_name.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(&c.name)
}

pub struct EndpointEntry {
    pub cluster_name: String,
    pub state: State,
    pub origin: EndpointOrigin,
    pub stamp: Stamp,
    pub lazy: Lazy<ClusterLoadAssignment>,
}

pub struct SecretEntry {
    pub name: String,
    pub state: State,
    pub stamp: Stamp,
    pub secret: Option<Secret>,
    pub rejection: Option<Rejection>,
}

pub struct EcdsEntry {
    pub name: String,
    pub type_url: String,
    pub stamp: Stamp,
    pub rejection: Option<Rejection>,
}

impl ListenerEntry {
    /// The listener's configuration, decoded on first use and kept.
    pub fn listener(&self) -> Option<&Listener> {
        self.lazy.as_ref().map(Lazy::get)
    }
    /// The configuration without keeping it decoded (passes over every listener).
    pub fn peek(&self) -> Option<std::borrow::Cow<'_, Listener>> {
        self.lazy.as_ref().map(Lazy::peek)
    }
}

impl ListenerEntry {
    /// The typed configs of type `T` its network filters carry, with their
    /// chain's display name (as in `listener_chains`): read from the
    /// listener's encoding, decoding only those configs. For passes over
    /// every listener.
    pub fn filter_configs<T: Message + Name + Default>(&self) -> Vec<(String, T)> {
        let Some(lazy) = &self.lazy else { return Vec::new() };
        let raw = lazy.encoded();
        wire_filter_configs(&raw, &T::full_name())
            .into_iter()
            .filter_map(|(chain, b)| Some((chain, T::decode(b).ok()?)))
            .collect()
    }

    /// Whether its configuration has no filter chain, no default chain, no
    /// matcher, and is neither an API listener nor an internal listener:
    /// it closes every connection. False without a configuration.
    pub fn serves_nothing(&self) -> bool {
        let Some(lazy) = &self.lazy else { return false };
        let raw = lazy.encoded();
        FIELDS.listener_serving.iter().all(|&n| wire_fields(&raw, n).is_empty())
    }
}

impl ClusterEntry {
    pub fn cluster(&self) -> &Cluster {
        self.lazy.get()
    }
    pub fn peek(&self) -> std::borrow::Cow<'_, Cluster> {
        self.lazy.peek()
    }
}

impl RouteConfigEntry {
    pub fn route_config(&self) -> &RouteConfiguration {
        self.lazy.get()
    }

    /// (virtual host, cluster) for every cluster its routes send to by
    /// name (`route.cluster`, `route.weighted_clusters`), in order, read
    /// from the encoding without decoding the configuration (a pass over
    /// every route configuration). As prost reads it: of a oneof, the
    /// member that comes last wins.
    pub fn route_clusters(&self) -> Vec<(String, String)> {
        let raw = self.lazy.encoded();
        let f = &*FIELDS;
        let mut out = Vec::new();
        for vh in wire_fields(&raw, f.rc_virtual_hosts) {
            let vh_name = wire_str(vh, f.vh_name);
            for route in wire_fields(vh, f.vh_routes) {
                let Some((n, action)) = last_of(route, &f.route_action) else {
                    continue;
                };
                if n != f.route_route {
                    continue;
                }
                match last_of(action, &f.ra_cluster_specifier) {
                    Some((n, name)) if n == f.ra_cluster => {
                        out.push((vh_name.clone(), String::from_utf8_lossy(name).into_owned()));
                    }
                    Some((n, weighted)) if n == f.ra_weighted_clusters => {
                        for c in wire_fields(weighted, f.wc_clusters) {
                            out.push((vh_name.clone(), wire_str(c, f.cw_name)));
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }
    pub fn peek(&self) -> std::borrow::Cow<'_, RouteConfiguration> {
        self.lazy.peek()
    }
}

impl EndpointEntry {
    pub fn assignment(&self) -> &ClusterLoadAssignment {
        self.lazy.get()
    }
    pub fn peek(&self) -> std::borrow::Cow<'_, ClusterLoadAssignment> {
        self.lazy.peek()
    }
}

/// Who the proxy is, from the bootstrap node.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Identity {
    pub node_id: String,
    pub cluster: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub proxy_type: Option<String>,
    pub ip: Option<String>,
    pub istio_version: Option<String>,
    pub envoy_version: Option<String>,
    pub user_agent: Option<String>,
}

/// Everything one dump holds.
pub struct Index {
    pub source: String,
    pub format: crate::input::Format,
    pub gzip: bool,
    pub shape: &'static str,
    pub identity: Option<Identity>,
    pub bootstrap: Option<Bootstrap>,
    /// The bootstrap section's `last_updated`.
    pub bootstrap_updated: Option<String>,
    pub listeners: Vec<ListenerEntry>,
    pub clusters: Vec<ClusterEntry>,
    pub route_configs: Vec<RouteConfigEntry>,
    pub scoped_route_configs: usize,
    pub endpoints: Vec<EndpointEntry>,
    pub secrets: Vec<SecretEntry>,
    pub ecds: Vec<EcdsEntry>,
    /// `version_info` of each section: section type → version.
    pub section_versions: BTreeMap<String, String>,
    /// Which section types the dump has, in order.
    pub sections: Vec<String>,
    pub report: DecodeReport,
    /// Cluster and endpoint-set positions by name, made on first use.
    by_name: std::sync::OnceLock<Names>,
}

/// Positions of [`Index::clusters`] and [`Index::endpoints`] by name.
#[derive(Debug, Default)]
struct Names {
    clusters: std::collections::HashMap<String, Vec<usize>>,
    endpoints: std::collections::HashMap<String, Vec<usize>>,
}

impl Index {
    fn names(&self) -> &Names {
        self.by_name.get_or_init(|| {
            let mut n = Names::default();
            for (i, c) in self.clusters.iter().enumerate() {
                n.clusters.entry(c.name.clone()).or_default().push(i);
            }
            for (i, e) in self.endpoints.iter().enumerate() {
                n.endpoints.entry(e.cluster_name.clone()).or_default().push(i);
            }
            n
        })
    }

    /// The clusters of this name (one per state it is in), in dump order.
    pub fn clusters_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a ClusterEntry> + 'a {
        let at: &[usize] = self.names().clusters.get(name).map_or(&[], Vec::as_slice);
        at.iter().map(|&i| &self.clusters[i])
    }

    /// The endpoint sets (cluster load assignments) of this cluster or EDS
    /// service name, in dump order.
    pub fn endpoints_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a EndpointEntry> + 'a {
        let at: &[usize] = self.names().endpoints.get(name).map_or(&[], Vec::as_slice);
        at.iter().map(|&i| &self.endpoints[i])
    }

    pub fn build(loaded: LoadedDump) -> Self {
        let mut ix = Index {
            source: loaded.label(),
            format: loaded.format,
            gzip: loaded.gzip,
            shape: loaded.shape,
            identity: None,
            bootstrap: None,
            bootstrap_updated: None,
            listeners: Vec::new(),
            clusters: Vec::new(),
            route_configs: Vec::new(),
            scoped_route_configs: 0,
            endpoints: Vec::new(),
            secrets: Vec::new(),
            ecds: Vec::new(),
            section_versions: BTreeMap::new(),
            sections: Vec::new(),
            report: loaded.report,
            by_name: std::sync::OnceLock::new(),
        };
        // Sections are consumed one by one so their bytes are freed as soon
        // as they are split into resources. Each resource is decoded once,
        // here, to check it and to learn its name, provenance and what it
        // carries inline; the index keeps its bytes (see `Lazy`).
        let mut pending = Pending::default();
        for section in loaded.sections {
            ix.add_section(section, &mut pending);
        }
        ix.add_inline_routes(pending.inline_routes);
        ix.add_static_load_assignments(pending.load_assignments);
        // The order of sections in a file carries no meaning: list them in
        // the order Envoy's admin endpoint writes them.
        ix.sections
            .sort_by(|a, b| (section_rank(a), a).cmp(&(section_rank(b), b)));
        ix
    }

    fn add_section(&mut self, section: Section, pending: &mut Pending) {
        let name = crate::input::pool::type_url_name(&section.type_url).to_string();
        let short = name.rsplit('.').next().unwrap_or(&name).to_string();
        self.sections.push(short.clone());
        // A section that does not decode as its type (corrupt, or nested
        // beyond prost's recursion limit) is listed, counted as undecodable
        // (finding XR0041) and skipped; never read as empty.
        if name == admin::BootstrapConfigDump::full_name() {
            let Ok(d) = section.decode::<admin::BootstrapConfigDump>() else {
                self.report.undecodable(1, "BootstrapConfigDump");
                return;
            };
            self.identity = d.bootstrap.as_ref().map(identity);
            self.bootstrap_updated = d.last_updated.as_ref().and_then(format_timestamp);
            self.bootstrap = d.bootstrap;
        } else if name == admin::ListenersConfigDump::full_name() {
            let Ok(parts) = section.decode_parts::<admin::ListenersConfigDump>() else {
                self.report.undecodable(1, "ListenersConfigDump");
                return;
            };
            self.version(&short, &parts[0].version_info);
            self.add_listeners(parts, pending);
        } else if name == admin::ClustersConfigDump::full_name() {
            let Ok(parts) = section.decode_parts::<admin::ClustersConfigDump>() else {
                self.report.undecodable(1, "ClustersConfigDump");
                return;
            };
            self.version(&short, &parts[0].version_info);
            self.add_clusters(parts, pending);
        } else if name == admin::RoutesConfigDump::full_name() {
            let Ok(mut parts) = section.decode_parts::<admin::RoutesConfigDump>() else {
                self.report.undecodable(1, "RoutesConfigDump");
                return;
            };
            let mut items = Vec::new();
            for r in parts
                .iter_mut()
                .flat_map(|d| std::mem::take(&mut d.static_route_configs))
            {
                items.push((
                    State::Static,
                    RouteOrigin::Static,
                    Stamp::new("", r.last_updated.as_ref()),
                    r.route_config,
                ));
            }
            for r in parts.into_iter().flat_map(|d| d.dynamic_route_configs) {
                let stamp = Stamp::new(&r.version_info, r.last_updated.as_ref());
                items.push((State::Active, RouteOrigin::Rds, stamp, r.route_config));
            }
            let bad = AtomicUsize::new(0);
            let decoded: Vec<RouteConfigEntry> = items
                .into_par_iter()
                .filter_map(|(state, origin, stamp, any)| {
                    let lazy = kept::<RouteConfiguration>(any?, &bad)?;
                    Some(RouteConfigEntry {
                        name: wire_str(lazy.raw(), FIELDS.route_name),
                        state,
                        origin,
                        in_routes_section: true,
                        stamp,
                        lazy,
                    })
                })
                .collect();
            self.report.undecodable(bad.into_inner(), "RouteConfiguration");
            self.route_configs.extend(decoded);
        } else if name == admin::ScopedRoutesConfigDump::full_name() {
            let Ok(d) = section.decode::<admin::ScopedRoutesConfigDump>() else {
                self.report.undecodable(1, "ScopedRoutesConfigDump");
                return;
            };
            self.scoped_route_configs = d.inline_scoped_route_configs.len() + d.dynamic_scoped_route_configs.len();
        } else if name == admin::SecretsConfigDump::full_name() {
            let Ok(d) = section.decode::<admin::SecretsConfigDump>() else {
                self.report.undecodable(1, "SecretsConfigDump");
                return;
            };
            self.add_secrets(d);
        } else if name == admin::EndpointsConfigDump::full_name() {
            let Ok(mut parts) = section.decode_parts::<admin::EndpointsConfigDump>() else {
                self.report.undecodable(1, "EndpointsConfigDump");
                return;
            };
            let mut items: Vec<(State, Stamp, Option<Any>)> = Vec::new();
            for e in parts
                .iter_mut()
                .flat_map(|d| std::mem::take(&mut d.static_endpoint_configs))
            {
                items.push((
                    State::Static,
                    Stamp::new("", e.last_updated.as_ref()),
                    e.endpoint_config,
                ));
            }
            for e in parts.into_iter().flat_map(|d| d.dynamic_endpoint_configs) {
                let stamp = Stamp::new(&e.version_info, e.last_updated.as_ref());
                items.push((State::Active, stamp, e.endpoint_config));
            }
            let bad = AtomicUsize::new(0);
            let decoded: Vec<EndpointEntry> = items
                .into_par_iter()
                .filter_map(|(state, stamp, any)| {
                    let lazy = kept::<ClusterLoadAssignment>(any?, &bad)?;
                    Some(EndpointEntry {
                        cluster_name: wire_str(lazy.raw(), FIELDS.cla_cluster_name),
                        state,
                        origin: EndpointOrigin::Eds,
                        stamp,
                        lazy,
                    })
                })
                .collect();
            self.report.undecodable(bad.into_inner(), "ClusterLoadAssignment");
            self.endpoints.extend(decoded);
        } else if name == admin::EcdsConfigDump::full_name() {
            let Ok(d) = section.decode::<admin::EcdsConfigDump>() else {
                self.report.undecodable(1, "EcdsConfigDump");
                return;
            };
            for f in d.ecds_filters {
                let (name, type_url) = ecds_name(f.ecds_filter.as_ref());
                self.ecds.push(EcdsEntry {
                    name,
                    type_url,
                    stamp: Stamp::new(&f.version_info, f.last_updated.as_ref()),
                    rejection: f.error_state.as_ref().map(rejection),
                });
            }
        }
    }

    fn version(&mut self, section: &str, version: &str) {
        if !version.is_empty() {
            self.section_versions.insert(section.to_string(), version.to_string());
        }
    }

    fn add_listeners(&mut self, mut parts: Vec<admin::ListenersConfigDump>, pending: &mut Pending) {
        // (dynamic name, state, stamp, config, rejection), decoded in parallel.
        type Item = (String, State, Stamp, Option<Any>, Option<Rejection>);
        let mut items: Vec<Item> = Vec::new();
        for s in parts.iter_mut().flat_map(|d| std::mem::take(&mut d.static_listeners)) {
            if s.listener.is_some() {
                items.push((
                    String::new(),
                    State::Static,
                    Stamp::new("", s.last_updated.as_ref()),
                    s.listener,
                    None,
                ));
            }
        }
        for dl in parts.into_iter().flat_map(|d| d.dynamic_listeners) {
            let states = [
                (State::Active, dl.active_state),
                (State::Warming, dl.warming_state),
                (State::Draining, dl.draining_state),
            ];
            for (state, st) in states {
                let Some(st) = st else { continue };
                let stamp = Stamp::new(&st.version_info, st.last_updated.as_ref());
                items.push((dl.name.clone(), state, stamp, st.listener, None));
            }
            if let Some(err) = dl.error_state {
                let stamp = Stamp::new(&err.version_info, None);
                let rej = rejection(&err);
                items.push((
                    dl.name.clone(),
                    State::Rejected,
                    stamp,
                    err.failed_configuration,
                    Some(rej),
                ));
            }
        }
        let bad = AtomicUsize::new(0);
        let decoded: Vec<(Option<ListenerEntry>, Vec<InlineRoute>)> = items
            .into_par_iter()
            .map(|(name, state, stamp, any, rejection)| {
                let Some(lazy) = any.and_then(|a| kept::<Listener>(a, &bad)) else {
                    // A static listener that does not decode as a Listener is
                    // dropped; dynamic entries are kept (a rejection without
                    // its configuration).
                    if state == State::Static {
                        return (None, Vec::new());
                    }
                    let entry = ListenerEntry {
                        unnamed_entry: name.is_empty(),
                        listed_twice: false,
                        name,
                        state,
                        stamp,
                        lazy: None,
                        rejection,
                        provenance: None,
                    };
                    return (Some(entry), Vec::new());
                };
                // Only the fields the index needs, read from the wire.
                let raw = lazy.raw();
                let unnamed_entry = name.is_empty() && state != State::Static;
                let name = if name.is_empty() {
                    wire_str(raw, FIELDS.listener_name)
                } else {
                    name
                };
                let inline = inline_routes(&name, state, &stamp, raw);
                let metadata = wire_field(raw, FIELDS.listener_metadata).and_then(|b| Metadata::decode(b).ok());
                let entry = ListenerEntry {
                    provenance: IstioConfigRef::from_metadata(metadata.as_ref()),
                    name,
                    unnamed_entry,
                    listed_twice: false,
                    state,
                    stamp,
                    lazy: Some(lazy),
                    rejection,
                };
                (Some(entry), inline)
            })
            .collect();
        self.report.undecodable(bad.into_inner(), "Listener");
        // Envoy lists each rejected listener twice in error_state: once under
        // its name and once without. The unnamed twin (same listener, same
        // details) is the same rejection: kept once, the named entry marked.
        let named: Vec<(String, String)> = decoded
            .iter()
            .filter_map(|(e, _)| e.as_ref())
            .filter(|e| !e.unnamed_entry)
            .filter_map(|e| {
                e.rejection
                    .as_ref()
                    .map(|r| (e.name.clone(), r.details.trim().to_string()))
            })
            .collect();
        let mut twins: Vec<String> = Vec::new();
        for (entry, inline) in decoded {
            let twin = entry.as_ref().is_some_and(|e| {
                e.unnamed_entry
                    && e.rejection
                        .as_ref()
                        .is_some_and(|r| named.contains(&(e.name.clone(), r.details.trim().to_string())))
            });
            if twin {
                twins.extend(entry.map(|e| e.name));
                continue;
            }
            self.listeners.extend(entry);
            pending.inline_routes.extend(inline);
        }
        for l in self.listeners.iter_mut() {
            if !l.unnamed_entry && l.rejection.is_some() && twins.contains(&l.name) {
                l.listed_twice = true;
            }
        }
    }

    fn add_clusters(&mut self, parts: Vec<admin::ClustersConfigDump>, pending: &mut Pending) {
        let mut items: Vec<(State, Stamp, Option<Any>)> = Vec::new();
        let mut active = Vec::new();
        let mut warming = Vec::new();
        for d in parts {
            for s in d.static_clusters {
                items.push((State::Static, Stamp::new("", s.last_updated.as_ref()), s.cluster));
            }
            active.extend(d.dynamic_active_clusters);
            warming.extend(d.dynamic_warming_clusters);
        }
        for (state, list) in [(State::Active, active), (State::Warming, warming)] {
            for c in list {
                items.push((state, Stamp::new(&c.version_info, c.last_updated.as_ref()), c.cluster));
            }
        }
        let bad = AtomicUsize::new(0);
        let decoded: Vec<(ClusterEntry, Option<ClusterLoadAssignment>)> = items
            .into_par_iter()
            .filter_map(|(state, stamp, any)| {
                let lazy = kept::<Cluster>(any?, &bad)?;
                // Only the fields the index needs, read from the wire.
                let raw = lazy.raw();
                let metadata = wire_field(raw, FIELDS.cluster_metadata).and_then(|b| Metadata::decode(b).ok());
                let load_assignment =
                    wire_field(raw, FIELDS.cluster_load_assignment).and_then(|b| ClusterLoadAssignment::decode(b).ok());
                let entry = ClusterEntry {
                    provenance: IstioConfigRef::from_metadata(metadata.as_ref()),
                    name: wire_str(raw, FIELDS.cluster_name),
                    state,
                    stamp,
                    lazy,
                };
                Some((entry, load_assignment))
            })
            .collect();
        self.report.undecodable(bad.into_inner(), "Cluster");
        for (entry, cla) in decoded {
            if let Some(cla) = cla {
                pending.load_assignments.push(EndpointEntry {
                    cluster_name: entry.name.clone(),
                    state: entry.state,
                    origin: EndpointOrigin::LoadAssignment,
                    stamp: entry.stamp.clone(),
                    lazy: Lazy::ready(cla),
                });
            }
            self.clusters.push(entry);
        }
    }

    fn add_secrets(&mut self, d: admin::SecretsConfigDump) {
        for s in d.static_secrets {
            let secret = s.secret.as_ref().and_then(decode_any::<Secret>);
            self.secrets.push(SecretEntry {
                name: s.name,
                state: State::Static,
                stamp: Stamp::new("", s.last_updated.as_ref()),
                secret,
                rejection: None,
            });
        }
        for (state, list) in [
            (State::Active, d.dynamic_active_secrets),
            (State::Warming, d.dynamic_warming_secrets),
        ] {
            for s in list {
                let secret = s.secret.as_ref().and_then(decode_any::<Secret>);
                self.secrets.push(SecretEntry {
                    name: s.name,
                    state,
                    stamp: Stamp::new(&s.version_info, s.last_updated.as_ref()),
                    secret,
                    rejection: s.error_state.as_ref().map(rejection),
                });
            }
        }
    }

    /// Route configurations carried inline by HTTP connection managers.
    fn add_inline_routes(&mut self, mut inline: Vec<InlineRoute>) {
        // Envoy's admin dump lists every inline route configuration again under
        // `static_route_configs`: attach each to its listener instead of
        // counting it twice. Several inline configurations often share a name
        // and content (Istio's inbound listener and `virtualInbound` carry the
        // same one per chain), and Envoy lists those statics in no fixed order;
        // each inline one takes the identical static whose `last_updated` is
        // closest to its listener's (Envoy stamps the static when the listener
        // creates it). Inline ones are settled in (listener, chain) order, so
        // the result depends on neither the order of sections nor of entries.
        inline.sort_by(|a, b| origin_key(&a.0).cmp(&origin_key(&b.0)));
        let mut statics: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in self.route_configs.iter().enumerate() {
            if r.origin == RouteOrigin::Static {
                statics.entry(r.name.clone()).or_default().push(i);
            }
        }
        for (origin, state, stamp, rc) in inline {
            let candidates = statics.get_mut(&rc.name);
            let twin = candidates.and_then(|c| {
                let at = c
                    .iter()
                    .enumerate()
                    .filter(|(_, &i)| *self.route_configs[i].peek() == rc)
                    .min_by_key(|(_, &i)| stamp_distance(&stamp, &self.route_configs[i].stamp))
                    .map(|(at, _)| at)?;
                Some(c.remove(at))
            });
            match twin {
                Some(i) => self.route_configs[i].origin = origin,
                None => self.route_configs.push(RouteConfigEntry {
                    name: rc.name.clone(),
                    state,
                    origin,
                    in_routes_section: false,
                    stamp,
                    lazy: Lazy::ready(rc),
                }),
            }
        }
    }

    /// Endpoints that clusters carry themselves (STATIC, STRICT_DNS, LOGICAL_DNS...).
    /// Skipped for clusters the EDS section already covers: with
    /// `?include_eds` Envoy lists every cluster's hosts there, DNS-resolved.
    fn add_static_load_assignments(&mut self, assignments: Vec<EndpointEntry>) {
        let in_eds: std::collections::HashSet<String> = self.endpoints.iter().map(|e| e.cluster_name.clone()).collect();
        for mut e in assignments {
            if in_eds.contains(&e.cluster_name) {
                continue;
            }
            if e.assignment().cluster_name.is_empty() {
                let mut cla = e.assignment().clone();
                cla.cluster_name = e.cluster_name.clone();
                e.lazy = Lazy::ready(cla);
            }
            self.endpoints.push(e);
        }
    }

    /// The proxy as `pod.namespace` (how istiod's logs and sync status name
    /// it), else its node id, else the file.
    pub fn proxy_name(&self) -> String {
        match &self.identity {
            Some(id) => match (&id.pod, &id.namespace) {
                (Some(p), Some(n)) => format!("{p}.{n}"),
                (Some(p), None) => p.clone(),
                _ => id.node_id.clone(),
            },
            None => self.source.clone(),
        }
    }

    /// When the dump was taken, at the earliest: the latest `last_updated`
    /// (or rejected update attempt) of anything in it.
    pub fn latest_update(&self) -> Option<time::OffsetDateTime> {
        let stamps = self
            .listeners
            .iter()
            .map(|l| &l.stamp)
            .chain(self.clusters.iter().map(|c| &c.stamp))
            .chain(self.route_configs.iter().map(|r| &r.stamp))
            .chain(self.endpoints.iter().map(|e| &e.stamp))
            .chain(self.secrets.iter().map(|s| &s.stamp))
            .chain(self.ecds.iter().map(|e| &e.stamp))
            .filter_map(|s| s.last_updated.as_deref());
        let attempts = self
            .listeners
            .iter()
            .filter_map(|l| l.rejection.as_ref()?.last_update_attempt.as_deref());
        stamps
            .chain(attempts)
            .chain(self.bootstrap_updated.as_deref())
            .filter_map(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .max()
    }

    /// Count of resources per type and state, e.g. ("listeners", "active") → 3.
    pub fn counts(&self) -> BTreeMap<(&'static str, State), usize> {
        let mut m = BTreeMap::new();
        let mut add = |t: &'static str, s: State| *m.entry((t, s)).or_insert(0) += 1;
        self.listeners.iter().for_each(|l| add("listeners", l.state));
        self.clusters.iter().for_each(|c| add("clusters", c.state));
        self.route_configs.iter().for_each(|r| add("routes", r.state));
        self.endpoints.iter().for_each(|e| add("endpoints", e.state));
        self.secrets.iter().for_each(|s| add("secrets", s.state));
        self.ecds.iter().for_each(|e| {
            add(
                "ecds",
                if e.rejection.is_some() {
                    State::Rejected
                } else {
                    State::Active
                },
            )
        });
        m
    }
}

/// Where Envoy's `/config_dump` puts a section (its documented order,
/// `admin.v3.ConfigDump`; unknown sections last).
fn section_rank(short_name: &str) -> usize {
    const ORDER: [&str; 8] = [
        "BootstrapConfigDump",
        "ClustersConfigDump",
        "EcdsConfigDump",
        "EndpointsConfigDump",
        "ListenersConfigDump",
        "ScopedRoutesConfigDump",
        "RoutesConfigDump",
        "SecretsConfigDump",
    ];
    ORDER.iter().position(|s| *s == short_name).unwrap_or(ORDER.len())
}

/// Sort key of an inline route configuration's place: listener, then chain.
fn origin_key(o: &RouteOrigin) -> (&str, &str) {
    match o {
        RouteOrigin::Inline { listener, filter_chain } => (listener, filter_chain),
        _ => ("", ""),
    }
}

/// How far apart two `last_updated` stamps are (milliseconds; unknown ones
/// last), then the stamp itself, so that the choice among identical
/// configurations never depends on their order in the file.
fn stamp_distance(listener: &Stamp, candidate: &Stamp) -> (i128, Option<String>) {
    let at = |s: &Stamp| {
        s.last_updated
            .as_deref()
            .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
    };
    let distance = match (at(listener), at(candidate)) {
        (Some(a), Some(b)) => (a - b).whole_milliseconds().abs(),
        _ => i128::MAX,
    };
    (distance, candidate.last_updated.clone())
}

/// An inline route configuration found while indexing a listener:
/// (origin, the listener's state and stamp, the configuration).
type InlineRoute = (RouteOrigin, State, Stamp, RouteConfiguration);

/// What the index build collects on the way and settles at the end.
#[derive(Default)]
struct Pending {
    inline_routes: Vec<InlineRoute>,
    /// Clusters' own `load_assignment`s (kept where EDS lacks the cluster).
    load_assignments: Vec<EndpointEntry>,
}

/// Keeps an Any holding `T` as bytes, only if they decode (checked on the
/// wire, allocation-free); those that do not are counted in `bad`. Every
/// input is checked: protobuf bytes may be anything, and our transcoder
/// writes whatever nesting the JSON has while prost refuses more than 100
/// levels; such a resource is counted as undecodable, never read later as
/// an empty one.
fn kept<T: prost::Message + Name + Default + Clone + PartialEq>(any: Any, bad: &AtomicUsize) -> Option<Lazy<T>> {
    if crate::input::pool::type_url_name(&any.type_url) != T::full_name() {
        return None;
    }
    if !crate::input::plan::message(&T::full_name()).is_some_and(|p| p.check(&any.value)) {
        bad.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return None;
    }
    Some(Lazy::from_bytes(any.value))
}

/// A top-level string field read from the wire ("" when absent).
fn wire_str(raw: &[u8], number: u32) -> String {
    wire_field(raw, number)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Numbers of the fields the index reads from the wire, from the pool.
struct Fields {
    cluster_name: u32,
    cluster_metadata: u32,
    cluster_load_assignment: u32,
    cla_cluster_name: u32,
    route_name: u32,
    listener_name: u32,
    listener_metadata: u32,
    listener_filter_chains: u32,
    listener_default_filter_chain: u32,
    chain_name: u32,
    chain_filters: u32,
    filter_typed_config: u32,
    hcm_route_config: u32,
    /// Listener fields any of which lets it serve a connection.
    listener_serving: Vec<u32>,
    rc_virtual_hosts: u32,
    vh_name: u32,
    vh_routes: u32,
    /// Members of Route's `action` oneof, and its `route`.
    route_action: Vec<u32>,
    route_route: u32,
    /// Members of RouteAction's `cluster_specifier` oneof.
    ra_cluster_specifier: Vec<u32>,
    ra_cluster: u32,
    ra_weighted_clusters: u32,
    wc_clusters: u32,
    cw_name: u32,
}

/// The number and body of the member of a oneof (`members`) that comes
/// last in `bytes` (the one prost keeps). None when absent or malformed.
fn last_of<'a>(bytes: &'a [u8], members: &[u32]) -> Option<(u32, &'a [u8])> {
    let mut last = None;
    for field in crate::input::wire::fields(bytes) {
        let field = field.ok()?;
        if members.contains(&field.tag) {
            last = Some((field.tag, field.body));
        }
    }
    last
}

/// The field numbers of a oneof's members.
fn oneof_numbers(message: &str, oneof: &str) -> Vec<u32> {
    crate::input::pool::message(message)
        .and_then(|m| m.oneofs().find(|o| o.name() == oneof))
        .map(|o| o.fields().map(|f| f.number()).collect())
        .unwrap_or_default()
}

static FIELDS: std::sync::LazyLock<Fields> = std::sync::LazyLock::new(|| {
    let cluster = "envoy.config.cluster.v3.Cluster";
    let listener = "envoy.config.listener.v3.Listener";
    let chain = "envoy.config.listener.v3.FilterChain";
    Fields {
        cluster_name: field_number(cluster, "name"),
        cluster_metadata: field_number(cluster, "metadata"),
        cluster_load_assignment: field_number(cluster, "load_assignment"),
        cla_cluster_name: field_number("envoy.config.endpoint.v3.ClusterLoadAssignment", "cluster_name"),
        route_name: field_number("envoy.config.route.v3.RouteConfiguration", "name"),
        listener_name: field_number(listener, "name"),
        listener_metadata: field_number(listener, "metadata"),
        listener_filter_chains: field_number(listener, "filter_chains"),
        listener_default_filter_chain: field_number(listener, "default_filter_chain"),
        chain_name: field_number(chain, "name"),
        chain_filters: field_number(chain, "filters"),
        filter_typed_config: field_number("envoy.config.listener.v3.Filter", "typed_config"),
        hcm_route_config: field_number(
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "route_config",
        ),
        listener_serving: {
            let mut v: Vec<u32> = [
                "filter_chains",
                "default_filter_chain",
                "filter_chain_matcher",
                "api_listener",
            ]
            .iter()
            .map(|n| field_number(listener, n))
            .collect();
            if let Some(o) = crate::input::pool::message(listener)
                .and_then(|m| m.oneofs().find(|o| o.name() == "listener_specifier"))
            {
                v.extend(o.fields().map(|f| f.number()));
            }
            v
        },
        rc_virtual_hosts: field_number("envoy.config.route.v3.RouteConfiguration", "virtual_hosts"),
        vh_name: field_number("envoy.config.route.v3.VirtualHost", "name"),
        vh_routes: field_number("envoy.config.route.v3.VirtualHost", "routes"),
        route_action: oneof_numbers("envoy.config.route.v3.Route", "action"),
        route_route: field_number("envoy.config.route.v3.Route", "route"),
        ra_cluster_specifier: oneof_numbers("envoy.config.route.v3.RouteAction", "cluster_specifier"),
        ra_cluster: field_number("envoy.config.route.v3.RouteAction", "cluster"),
        ra_weighted_clusters: field_number("envoy.config.route.v3.RouteAction", "weighted_clusters"),
        wc_clusters: field_number("envoy.config.route.v3.WeightedCluster", "clusters"),
        cw_name: field_number("envoy.config.route.v3.WeightedCluster.ClusterWeight", "name"),
    }
});

/// Route configurations a listener's HTTP connection managers carry inline,
/// found by walking the listener's encoding (chains → filters → typed
/// config) and decoding only those route configurations.
fn inline_routes(listener_name: &str, state: State, stamp: &Stamp, raw: &[u8]) -> Vec<InlineRoute> {
    let mut found = Vec::new();
    for (chain_name, hcm) in wire_filter_configs(raw, &HttpConnectionManager::full_name()) {
        let Some(rc) = wire_field(hcm, FIELDS.hcm_route_config).and_then(|b| RouteConfiguration::decode(b).ok()) else {
            continue;
        };
        let origin = RouteOrigin::Inline {
            listener: listener_name.to_string(),
            filter_chain: chain_name,
        };
        found.push((origin, state, stamp.clone(), rc));
    }
    found
}

/// The encoded typed configs of message type `type_name` that a listener's
/// network filters carry, with their chain's display name (as in
/// `listener_chains`), read from the listener's encoding without decoding it.
fn wire_filter_configs<'a>(raw: &'a [u8], type_name: &str) -> Vec<(String, &'a [u8])> {
    let f = &*FIELDS;
    let mut chains: Vec<(String, &[u8])> = wire_fields(raw, f.listener_filter_chains)
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let name = wire_str(c, f.chain_name);
            (if name.is_empty() { format!("#{i}") } else { name }, c)
        })
        .collect();
    if let Some(c) = wire_field(raw, f.listener_default_filter_chain) {
        let name = wire_str(c, f.chain_name);
        chains.push((if name.is_empty() { "default".into() } else { name }, c));
    }
    let mut found = Vec::new();
    for (chain_name, chain) in chains {
        for filter in wire_fields(chain, f.chain_filters) {
            let Some(any) = wire_field(filter, f.filter_typed_config) else {
                continue;
            };
            let type_url = wire_field(any, 1).unwrap_or_default();
            if crate::input::pool::type_url_name(&String::from_utf8_lossy(type_url)) != type_name {
                continue;
            }
            found.push((chain_name.clone(), wire_field(any, 2).unwrap_or_default()));
        }
    }
    found
}

/// A listener's filter chains with display names, the default chain last.
pub fn listener_chains(l: &Listener) -> Vec<(String, &envoy_types::pb::envoy::config::listener::v3::FilterChain)> {
    let mut out: Vec<_> = l
        .filter_chains
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                if c.name.is_empty() {
                    format!("#{i}")
                } else {
                    c.name.clone()
                },
                c,
            )
        })
        .collect();
    if let Some(d) = &l.default_filter_chain {
        out.push((
            if d.name.is_empty() {
                "default".into()
            } else {
                d.name.clone()
            },
            d,
        ));
    }
    out
}

/// A network filter's typed config as `T`, when it holds one.
pub fn network_filter_config<T: prost::Message + Name + Default>(
    f: &envoy_types::pb::envoy::config::listener::v3::Filter,
) -> Option<T> {
    use envoy_types::pb::envoy::config::listener::v3::filter::ConfigType;
    match f.config_type.as_ref()? {
        ConfigType::TypedConfig(any) => decode_any::<T>(any),
        ConfigType::ConfigDiscovery(_) => None,
    }
}

fn rejection(e: &admin::UpdateFailureState) -> Rejection {
    Rejection {
        details: e.details.clone(),
        version_info: e.version_info.clone(),
        last_update_attempt: e.last_update_attempt.as_ref().and_then(format_timestamp),
    }
}

fn ecds_name(any: Option<&Any>) -> (String, String) {
    use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
    match any.and_then(decode_any::<TypedExtensionConfig>) {
        Some(t) => (t.name, t.typed_config.map(|a| a.type_url).unwrap_or_default()),
        None => (String::new(), any.map(|a| a.type_url.clone()).unwrap_or_default()),
    }
}

fn identity(b: &Bootstrap) -> Identity {
    let Some(node) = &b.node else {
        return Identity::default();
    };
    let parsed = istio::NodeId::parse(&node.id);
    let meta = node.metadata.as_ref();
    let meta_str = |k: &str| meta.and_then(|m| struct_str(m, k)).map(str::to_string);
    let envoy_version = match &node.user_agent_version_type {
        Some(envoy_types::pb::envoy::config::core::v3::node::UserAgentVersionType::UserAgentBuildVersion(bv)) => bv
            .version
            .as_ref()
            .map(|v| format!("{}.{}.{}", v.major_number, v.minor_number, v.patch)),
        Some(envoy_types::pb::envoy::config::core::v3::node::UserAgentVersionType::UserAgentVersion(v)) => {
            Some(v.clone())
        }
        None => None,
    };
    Identity {
        node_id: node.id.clone(),
        cluster: node.cluster.clone(),
        namespace: meta_str("NAMESPACE")
            .or_else(|| parsed.as_ref().map(|p| p.namespace.clone()).filter(|s| !s.is_empty())),
        pod: meta_str("NAME")
            .or_else(|| meta_str("POD_NAME"))
            .or_else(|| parsed.as_ref().map(|p| p.pod.clone())),
        proxy_type: parsed.as_ref().map(|p| p.proxy_type.clone()),
        ip: parsed.as_ref().map(|p| p.ip.clone()),
        istio_version: meta_str("ISTIO_VERSION"),
        envoy_version,
        user_agent: Some(node.user_agent_name.clone()).filter(|s| !s.is_empty()),
    }
}
