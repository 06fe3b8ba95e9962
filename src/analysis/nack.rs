//! NACK postmortem: every rejection the evidence shows — listener
//! `error_state` in dumps, Envoy's log, pilot-agent's readiness lines,
//! istiod's `ACK ERROR`, sync status — as one record per proxy, type and
//! resource, grouped across proxies, traced to its Istio object and that
//! object's visibility (the blast radius), on one timeline.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::findings::{self, Rule};
use crate::istio::log::{GatewayLogEvent, LogLine};
use crate::istio::nacklog::{LogRejection, Reporter};
use crate::istio::Config;
use crate::model::{Index, State};

#[derive(Debug, Clone, Serialize)]
pub struct RejectionRecord {
    /// `pod.namespace` (or the node id a control plane printed).
    pub proxy: String,
    /// `LDS`, `CDS`, `RDS`, `EDS`, `SDS`, `ECDS`.
    pub xds_type: String,
    /// The rejected resource; null when the evidence does not name it.
    pub resource: Option<String>,
    /// The error class (`nack-logical-dns-endpoints`...), with its code.
    pub class: &'static str,
    pub code: &'static str,
    pub message: String,
    /// RFC 3339, the earliest report.
    pub time: Option<String>,
    /// The version (or nonce) the rejected update carried, when known.
    pub version: Option<String>,
    /// Where each report came from (`file:line`, `dump ...`).
    pub sources: Vec<String>,
    /// Who reported it: `dump`, `envoy`, `agent`, `control_plane`, `syncz`.
    pub reporters: Vec<String>,
    /// Set when later evidence shows the resource accepted after the
    /// rejection: when (RFC 3339) and by what.
    pub resolved: Option<Resolution>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    pub at: Option<String>,
    pub by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub resource: Option<String>,
    pub xds_type: String,
    pub class: &'static str,
    pub code: &'static str,
    pub proxies: Vec<String>,
    pub first: Option<String>,
    pub last: Option<String>,
    /// The Istio object behind the resource, when it can be told.
    pub origin: Option<String>,
    /// What the origin's visibility means: which proxies received it.
    pub blast_radius: Option<String>,
    pub message: String,
    pub fix: &'static str,
    /// Set when every proxy's rejection of it was resolved by a later
    /// accepted version: the latest such time and what showed it.
    pub resolved: Option<Resolution>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub time: Option<String>,
    pub proxy: String,
    pub what: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyVersions {
    pub proxy: String,
    /// Section → last accepted `version_info`.
    pub versions: BTreeMap<String, String>,
    /// Resources still warming (waiting for something).
    pub warming: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NackReport {
    pub rejections: Vec<RejectionRecord>,
    pub groups: Vec<Group>,
    pub timeline: Vec<TimelineEntry>,
    pub proxies: Vec<ProxyVersions>,
    /// istiod's gateway-building lines (related evidence, not NACKs).
    pub related: Vec<String>,
    /// What the evidence cannot tell.
    pub notes: Vec<String>,
}

/// A rejection from a sync status document.
#[derive(Debug, Clone)]
pub struct SyncRejection {
    pub proxy: String,
    pub xds_type: String,
    pub message: String,
    pub time: Option<String>,
    pub source: String,
}

/// What the postmortem needs of one dump, kept while the dump itself is
/// dropped (so that a fleet is read one dump at a time): its listeners
/// and route configurations, the clusters some log or sync status names,
/// what is warming, and the route configurations listeners wait for.
#[derive(Debug, Clone)]
pub struct DumpFacts {
    pub proxy: String,
    pub source: String,
    pub versions: BTreeMap<String, String>,
    /// Every listener entry, in the dump's order.
    pub listeners: Vec<Resource>,
    /// Clusters named in the rejections of the logs and sync status given
    /// (only those can be traced or resolved).
    pub clusters: Vec<Resource>,
    pub route_configs: Vec<Resource>,
    /// Resources still warming (`listener NAME`, `cluster NAME`, `secret NAME`).
    pub warming: Vec<String>,
    /// (route configuration, listener): a serving listener asks RDS for a
    /// configuration the dump does not hold.
    pub rds_missing: BTreeSet<(String, String)>,
}

/// One resource of a dump, as the postmortem looks at it.
#[derive(Debug, Clone)]
pub struct Resource {
    pub name: String,
    pub state: State,
    pub last_updated: Option<String>,
    pub rejection: Option<crate::model::Rejection>,
    /// A listener Envoy lists twice (named and unnamed).
    pub listed_twice: bool,
    /// An error_state entry without a name of its own.
    pub unnamed_entry: bool,
    /// The Istio object it came from (`kind namespace/name`).
    pub provenance: Option<String>,
    /// A route configuration from RDS.
    pub from_rds: bool,
}

impl DumpFacts {
    /// The facts of `ix`; of its clusters, only those `wanted` names.
    pub fn of(ix: &Index, wanted: &dyn Fn(&str) -> bool) -> DumpFacts {
        let prov = |p: &Option<crate::model::istio::IstioConfigRef>| {
            p.as_ref().map(|p| format!("{} {}/{}", p.kind, p.namespace, p.name))
        };
        let resource = |name: &str, state: State, stamp: &crate::model::Stamp| Resource {
            name: name.to_string(),
            state,
            last_updated: stamp.last_updated.clone(),
            rejection: None,
            listed_twice: false,
            unnamed_entry: false,
            provenance: None,
            from_rds: false,
        };
        let mut warming: Vec<String> = Vec::new();
        warming.extend(
            ix.listeners
                .iter()
                .filter(|l| l.state == State::Warming)
                .map(|l| format!("listener {}", l.name)),
        );
        warming.extend(
            ix.clusters
                .iter()
                .filter(|c| c.state == State::Warming)
                .map(|c| format!("cluster {}", c.name)),
        );
        warming.extend(
            ix.secrets
                .iter()
                .filter(|s| s.state == State::Warming)
                .map(|s| format!("secret {}", s.name)),
        );
        DumpFacts {
            proxy: ix.proxy_name(),
            source: ix.source.clone(),
            versions: ix.section_versions.clone(),
            listeners: ix
                .listeners
                .iter()
                .map(|l| Resource {
                    rejection: l.rejection.clone(),
                    listed_twice: l.listed_twice,
                    unnamed_entry: l.unnamed_entry,
                    provenance: prov(&l.provenance),
                    ..resource(&l.name, l.state, &l.stamp)
                })
                .collect(),
            clusters: ix
                .clusters
                .iter()
                .filter(|c| wanted(&c.name))
                .map(|c| Resource {
                    provenance: prov(&c.provenance),
                    ..resource(&c.name, c.state, &c.stamp)
                })
                .collect(),
            route_configs: ix
                .route_configs
                .iter()
                .map(|c| Resource {
                    from_rds: matches!(c.origin, crate::model::RouteOrigin::Rds),
                    ..resource(&c.name, c.state, &c.stamp)
                })
                .collect(),
            warming,
            rds_missing: rds_wanted_missing(ix),
        }
    }
}

/// The clusters the rejections of logs and sync status name: only these
/// are kept of each dump's clusters ([`DumpFacts::of`]).
pub fn clusters_named(
    envoy: &[(Option<String>, LogRejection, String)],
    istiod: &[(LogRejection, String)],
) -> BTreeSet<String> {
    envoy
        .iter()
        .map(|(_, r, _)| r)
        .chain(istiod.iter().map(|(r, _)| r))
        .filter(|r| r.xds_type == "CDS" || r.xds_type == "unknown")
        .filter_map(|r| r.resource.clone())
        .collect()
}

pub struct NackInput<'a> {
    pub dumps: &'a [DumpFacts],
    /// (proxy name if known, rejection, `file:line`).
    pub envoy: &'a [(Option<String>, LogRejection, String)],
    pub istiod: &'a [(LogRejection, String)],
    pub gateway_lines: &'a [LogLine],
    pub syncz: &'a [SyncRejection],
    pub config: Option<&'a Config>,
    /// Every log read: (file, lines), whether or not it held a rejection.
    pub logs: &'a [(String, usize)],
}

/// The error class of a rejection message.
pub fn classify(msg: &str) -> Rule {
    let m = msg.to_ascii_lowercase();
    let has = |s: &str| m.contains(s);
    if has("logical_dns clusters must have a single") {
        findings::NACK_LOGICAL_DNS
    } else if has("has duplicate address") {
        findings::NACK_DUPLICATE_LISTENER_ADDRESS
    } else if has("duplicate listener") {
        findings::NACK_DUPLICATE_LISTENER_NAME
    } else if has("cannot bind") {
        findings::NACK_BIND_FAILED
    } else if has("same matching rules") || has("overlapping matching rules") {
        findings::NACK_FILTER_CHAIN_CONFLICT
    } else if has("no filter chains specified") {
        findings::NACK_NO_FILTER_CHAINS
    } else if has("must be the last filter") {
        findings::NACK_FILTER_ORDER
    } else if has("proto constraint validation failed") || has("address must be set") {
        findings::NACK_PROTO_VALIDATION
    } else if has("unknown cluster") || has("unknown weighted cluster") {
        findings::NACK_UNKNOWN_CLUSTER
    } else if has("only unique values for domains") || has("duplicate entry of domain") {
        findings::NACK_DUPLICATE_DOMAIN
    } else if has("didn't find a registered implementation")
        || has("could not find @type")
        || has("unable to parse json as proto")
        || has("unable to unpack as")
    {
        findings::NACK_EXTENSION_MISSING
    } else if has("unknown static secret") || has("secret is not supplied by sds") {
        findings::NACK_MISSING_SECRET
    } else if has("failed to initialize cipher suites")
        || has("failed to initialize ecdh curves")
        || has("failed to initialize tls signature algorithms")
    {
        findings::NACK_TLS_PARAMETERS
    } else if has("wasm") || has("lua") {
        findings::NACK_FILTER_INIT
    } else if has("re2 program size")
        || has("repetition operator")
        || has("regex")
        || crate::istio::nacklog::re2_error(&m)
    {
        findings::NACK_INVALID_REGEX
    } else if has("invalid path") || has("no such file") {
        findings::NACK_FILE_NOT_FOUND
    } else {
        findings::NACK_UNCLASSIFIED
    }
}

/// The field a proto validation failure names (`Cluster.ConnectTimeout`,
/// `descriptor_set`).
pub fn validation_field(msg: &str) -> Option<String> {
    // `XValidationError.Field` steps, outermost first, then a trailing
    // `field: "name"` when the innermost check names it that way.
    let mut path: Vec<String> = Vec::new();
    let mut rest = msg;
    while let Some(i) = rest.find("ValidationError.") {
        // The type name is the ASCII word before the marker; step over the
        // whole character that ends the previous word (it may be multi-byte).
        let ty_start = rest[..i]
            .char_indices()
            .rev()
            .find(|(_, c)| !c.is_ascii_alphanumeric())
            .map_or(0, |(j, c)| j + c.len_utf8());
        let ty = &rest[ty_start..i];
        let after = &rest[i + "ValidationError.".len()..];
        let field: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '[' || *c == ']')
            .collect();
        if path.is_empty() {
            path.push(ty.to_string());
        }
        path.push(field.trim_end_matches("[i]").to_string());
        rest = &after[field.len()..];
    }
    if let Some(i) = msg.find("field: \"") {
        if let Some(f) = msg[i + 8..].split('"').next() {
            path.push(f.to_string());
        }
    }
    (!path.is_empty()).then(|| path.join("."))
}

pub fn postmortem(input: &NackInput) -> NackReport {
    let mut records: Vec<RejectionRecord> = Vec::new();
    let mut timeline = Vec::new();
    let mut add = |proxy: String,
                   ty: String,
                   resource: Option<String>,
                   msg: String,
                   time: Option<String>,
                   version: Option<String>,
                   source: String,
                   reporter: &str| {
        let rule = classify(&msg);
        let msg = match (rule.code, validation_field(&msg)) {
            ("XR0032", Some(f)) => format!("{msg} [field {f}]"),
            _ => msg,
        };
        timeline.push(TimelineEntry {
            time: time.clone(),
            proxy: proxy.clone(),
            what: format!(
                "{reporter}: {ty} {} rejected ({})",
                resource.as_deref().unwrap_or("(resource not named)"),
                rule.name
            ),
            source: source.clone(),
        });
        // One record per proxy, type, resource and class; later reports add sources.
        // Two error_state entries of one dump are two rejections; a log line
        // about the same resource is the same one, seen again.
        let distinct_entries = |r: &RejectionRecord| reporter == "dump" && r.reporters.iter().all(|x| x == "dump");
        if let Some(r) = records.iter_mut().find(|r| {
            r.proxy == proxy
                && r.xds_type == ty
                && r.resource == resource
                && r.code == rule.code
                && !distinct_entries(r)
        }) {
            r.sources.push(source);
            if !r.reporters.iter().any(|x| x == reporter) {
                r.reporters.push(reporter.to_string());
            }
            if time.is_some() && (r.time.is_none() || time < r.time) {
                r.time = time;
            }
            return;
        }
        records.push(RejectionRecord {
            proxy,
            xds_type: ty,
            resource,
            class: rule.name,
            code: rule.code,
            message: msg,
            time,
            version,
            sources: vec![source],
            reporters: vec![reporter.to_string()],
            resolved: None,
        });
    };
    let mut proxies = Vec::new();
    let mut twins: Vec<(String, String, String)> = Vec::new();
    for ix in input.dumps {
        let proxy = ix.proxy.clone();
        for (i, l) in ix.listeners.iter().enumerate() {
            if let Some(r) = &l.rejection {
                if l.listed_twice {
                    twins.push((
                        proxy.clone(),
                        l.name.clone(),
                        format!(
                            "{} dynamic_listeners error_state (the same rejection listed again without a name)",
                            ix.source
                        ),
                    ));
                }
                let name = if l.name.is_empty() { None } else { Some(l.name.clone()) };
                let details = if l.unnamed_entry {
                    format!(
                        "{} (this error_state entry has no name of its own)",
                        r.details.trim_end()
                    )
                } else {
                    r.details.clone()
                };
                add(
                    proxy.clone(),
                    "LDS".into(),
                    name,
                    details,
                    r.last_update_attempt.clone(),
                    Some(r.version_info.clone()).filter(|v| !v.is_empty()),
                    format!("{} dynamic_listeners entry {i} error_state", ix.source),
                    "dump",
                );
            }
        }
        proxies.push(ProxyVersions {
            proxy,
            versions: ix.versions.clone(),
            warming: ix.warming.clone(),
        });
    }
    let istiod = input.istiod.iter().map(|(r, source)| (&None, r, source));
    for (proxy, r, source) in input.envoy.iter().map(|(p, r, s)| (p, r, s)).chain(istiod) {
        let reporter = match r.reporter {
            Reporter::Agent => "agent",
            Reporter::Envoy => "envoy",
            Reporter::ControlPlane => "control_plane",
        };
        let who = r
            .proxy
            .clone()
            .or_else(|| proxy.clone())
            .unwrap_or_else(|| "(unknown proxy)".into());
        add(
            who,
            r.xds_type.clone(),
            r.resource.clone(),
            r.message.clone(),
            r.time.clone(),
            None,
            source.clone(),
            reporter,
        );
    }
    for s in input.syncz {
        add(
            s.proxy.clone(),
            s.xds_type.clone(),
            None,
            s.message.clone(),
            s.time.clone(),
            None,
            s.source.clone(),
            "syncz",
        );
    }
    for (proxy, name, source) in twins {
        if let Some(r) = records
            .iter_mut()
            .find(|r| r.proxy == proxy && r.xds_type == "LDS" && r.resource.as_deref() == Some(name.as_str()))
        {
            r.sources.push(source);
        }
    }
    // Records that do not name a resource (agent counts, syncz) are kept only
    // when no named record covers the same proxy and type.
    // A record without a resource is another rejection when it has a class
    // of its own (an unnamed RDS rejection, a refused file); counts and
    // unclassified summaries are absorbed.
    let named: BTreeSet<(String, String)> = records
        .iter()
        .filter(|r| r.resource.is_some())
        .map(|r| (r.proxy.clone(), r.xds_type.clone()))
        .collect();
    let named_class: BTreeSet<(String, String, &str)> = records
        .iter()
        .filter(|r| r.resource.is_some())
        .map(|r| (r.proxy.clone(), r.xds_type.clone(), r.code))
        .collect();
    // (proxy, type, class when it must match, sources)
    let mut absorbed: Vec<(String, String, Option<&'static str>, Vec<String>)> = Vec::new();
    records.retain(|r| {
        // Evidence of unknown type (Envoy's failed /config_dump) joins the
        // rejection of the same class that names its resource.
        if r.resource.is_none() && r.xds_type == "unknown" {
            if let Some((_, ty, _)) = named_class.iter().find(|(p, _, c)| p == &r.proxy && *c == r.code) {
                absorbed.push((r.proxy.clone(), ty.clone(), Some(r.code), r.sources.clone()));
                return false;
            }
        }
        let counts_only = r.reporters.iter().all(|x| x == "agent" || x == "syncz")
            || r.code == findings::NACK_UNCLASSIFIED.code
            || named_class.contains(&(r.proxy.clone(), r.xds_type.clone(), r.code));
        if r.resource.is_none() && counts_only && named.contains(&(r.proxy.clone(), r.xds_type.clone())) {
            absorbed.push((r.proxy.clone(), r.xds_type.clone(), None, r.sources.clone()));
            return false;
        }
        true
    });
    for (proxy, ty, code, sources) in absorbed {
        if let Some(r) = records
            .iter_mut()
            .find(|r| r.proxy == proxy && r.xds_type == ty && code.is_none_or(|c| c == r.code))
        {
            r.sources.extend(sources);
        }
    }
    for r in records.iter_mut() {
        let route = attribute_unnamed_route(input.dumps, r);
        r.resolved = resolution(input.dumps, r, route.as_deref());
    }
    records.sort_by(|a, b| (&a.time, &a.proxy, &a.resource).cmp(&(&b.time, &b.proxy, &b.resource)));
    timeline.sort_by(|a, b| (&a.time, &a.proxy).cmp(&(&b.time, &b.proxy)));

    let mut groups: Vec<Group> = Vec::new();
    for r in &records {
        match groups
            .iter_mut()
            .find(|g| g.resource == r.resource && g.code == r.code && g.xds_type == r.xds_type && r.resource.is_some())
        {
            Some(g) => {
                if !g.proxies.contains(&r.proxy) {
                    g.proxies.push(r.proxy.clone());
                }
                if r.time.is_some() && (g.first.is_none() || r.time < g.first) {
                    g.first = r.time.clone();
                }
                if r.time > g.last {
                    g.last = r.time.clone();
                }
            }
            None => {
                let rule = findings::CATALOGUE
                    .iter()
                    .find(|x| x.code == r.code)
                    .copied()
                    .unwrap_or(findings::NACK_UNCLASSIFIED);
                let (origin, blast) = origin_of(input, r.resource.as_deref(), &r.xds_type);
                groups.push(Group {
                    resource: r.resource.clone(),
                    xds_type: r.xds_type.clone(),
                    class: r.class,
                    code: r.code,
                    proxies: vec![r.proxy.clone()],
                    first: r.time.clone(),
                    last: r.time.clone(),
                    origin,
                    blast_radius: blast,
                    message: r.message.clone(),
                    fix: rule.fix,
                    resolved: None,
                });
            }
        }
    }
    for g in &mut groups {
        let mine: Vec<&RejectionRecord> = records
            .iter()
            .filter(|r| {
                r.resource == g.resource && r.code == g.code && r.xds_type == g.xds_type && g.proxies.contains(&r.proxy)
            })
            .collect();
        if !mine.is_empty() && mine.iter().all(|r| r.resolved.is_some()) {
            g.resolved = mine
                .iter()
                .filter_map(|r| r.resolved.clone())
                .max_by(|a, b| a.at.cmp(&b.at));
        }
    }
    let all_proxies: BTreeSet<&String> = records.iter().map(|r| &r.proxy).collect();
    for g in &mut groups {
        g.proxies.sort();
        if let (Some(origin), Some(b)) = (&g.origin, &mut g.blast_radius) {
            b.push_str(&format!(
                "; rejected by {} of {} proxies in this evidence",
                g.proxies.len(),
                all_proxies.len().max(g.proxies.len())
            ));
            let _ = origin;
        }
    }
    let related = input
        .gateway_lines
        .iter()
        .filter(|l| !matches!(l.event, GatewayLogEvent::ErrorsFollow { .. }))
        .map(|l| format!("{}:{}: {}", l.file, l.line, l.text))
        .collect();
    let mut notes = vec![
        "Envoy applies the valid resources of a partly rejected update and keeps the previous version only of what it rejected; a section's version_info moves on when anything in the update was applied.".to_string(),
    ];
    if records
        .iter()
        .any(|r| r.xds_type != "LDS" && r.reporters.iter().all(|x| x == "dump"))
    {
        notes.push("only listeners record their rejection in the dump; other types need logs or sync status".into());
    }
    if input.logs.is_empty() && input.syncz.is_empty() {
        notes.push("no logs or sync status given: cluster, route, endpoint and secret rejections leave no trace in a dump (give --envoy-log, --istiod-log or --syncz)".into());
    }
    for (file, lines) in input.logs {
        let found = input
            .envoy
            .iter()
            .any(|(_, _, src)| src.starts_with(&format!("{file}:")))
            || input.istiod.iter().any(|(_, src)| src.starts_with(&format!("{file}:")));
        if !found {
            let read = if *lines == 1 {
                "1 line read".to_string()
            } else {
                format!("{lines} lines read")
            };
            notes.push(format!("{file}: {read}, none recognised as a rejection"));
        }
    }
    if records.iter().any(|r| r.xds_type == "RDS" && r.resource.is_none()) {
        notes.push("Envoy does not name the route configuration it rejects (RDS): where the dumps show which one a listener still waits for, the record says so".into());
    }
    NackReport {
        rejections: records,
        groups,
        timeline,
        proxies,
        related,
        notes,
    }
}

/// Parses an RFC 3339 time.
fn at(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
}

/// An RDS rejection names no route configuration. The proxy's dumps can
/// tell which one it was when exactly one configuration that a serving or
/// warming listener asks RDS for is missing from the dump.
/// Returns the route configuration it most likely was, when one stands out.
fn attribute_unnamed_route(dumps: &[DumpFacts], r: &mut RejectionRecord) -> Option<String> {
    if r.xds_type != "RDS" || r.resource.is_some() {
        return None;
    }
    let mut waiting: BTreeSet<(String, String)> = BTreeSet::new();
    for ix in dumps.iter().filter(|ix| ix.proxy == r.proxy) {
        waiting.extend(ix.rds_missing.iter().cloned());
    }
    let names: BTreeSet<&String> = waiting.iter().map(|(n, _)| n).collect();
    let likely = (names.len() == 1)
        .then(|| names.iter().next().map(|n| n.to_string()))
        .flatten();
    r.message = match names.len() {
        1 => {
            let listeners: Vec<&str> = waiting.iter().map(|(_, l)| l.as_str()).collect();
            format!(
                "{} [route configuration not named by Envoy; most likely {} — listener {} asks RDS for it and the dump does not hold it]",
                r.message,
                names.iter().next().map_or("", |n| n.as_str()),
                listeners.join(", ")
            )
        }
        0 => format!("{} [route configuration not named by Envoy]", r.message),
        _ => format!(
            "{} [route configuration not named by Envoy; one of {} (listeners ask RDS for them and the dump does not hold them)]",
            r.message,
            names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    likely
}

/// (route configuration, listener) pairs: a listener asks RDS for a
/// configuration the dump does not hold (active or static).
fn rds_wanted_missing(ix: &Index) -> BTreeSet<(String, String)> {
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
        http_connection_manager::RouteSpecifier, HttpConnectionManager,
    };
    let have: BTreeSet<&str> = ix
        .route_configs
        .iter()
        .filter(|c| matches!(c.state, State::Active | State::Static))
        .map(|c| c.name.as_str())
        .collect();
    let mut out = BTreeSet::new();
    for l in ix.listeners.iter().filter(|l| l.rejection.is_none()) {
        for (_, hcm) in l.filter_configs::<HttpConnectionManager>() {
            if let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier {
                if !have.contains(rds.route_config_name.as_str()) {
                    out.insert((rds.route_config_name.clone(), l.name.clone()));
                }
            }
        }
    }
    out
}

/// A later accepted version of the rejected resource: the listener,
/// cluster or route configuration active in a dump of the same proxy and
/// updated after the rejection, with no error state of its own.
fn resolution(dumps: &[DumpFacts], r: &RejectionRecord, likely_route: Option<&str>) -> Option<Resolution> {
    let when = at(r.time.as_deref()?)?;
    let later = |res: &Resource| {
        res.last_updated
            .as_deref()
            .and_then(at)
            .filter(|t| *t > when)
            .map(|_| res.last_updated.clone())
    };
    let active = |res: &&Resource| matches!(res.state, State::Active);
    for ix in dumps.iter().filter(|ix| ix.proxy == r.proxy) {
        let found = match (r.xds_type.as_str(), r.resource.as_deref()) {
            ("LDS", Some(name)) => {
                let rejected_now = ix.listeners.iter().any(|l| l.name == name && l.rejection.is_some());
                ix.listeners
                    .iter()
                    .filter(|l| l.name == name && !rejected_now)
                    .filter(active)
                    .find_map(later)
                    .map(|t| (t, format!("listener {name} active in {}", ix.source)))
            }
            ("LDS", None) => ix
                .listeners
                .iter()
                .filter(|l| l.rejection.is_none())
                .filter(active)
                .find_map(later)
                .map(|t| (t, format!("a later listener update was accepted ({})", ix.source))),
            ("CDS", Some(name)) => ix
                .clusters
                .iter()
                .filter(|c| c.name == name)
                .filter(active)
                .find_map(later)
                .map(|t| (t, format!("cluster {name} active in {}", ix.source))),
            ("RDS", name) => {
                match name.or(likely_route) {
                    Some(n) => ix
                        .route_configs
                        .iter()
                        .filter(|c| c.name == n)
                        .filter(active)
                        .find_map(later)
                        .map(|t| (t, format!("route configuration {n} active in {}", ix.source))),
                    // Unnamed: resolved when every configuration the
                    // listeners ask RDS for is there, one updated after it.
                    None if ix.rds_missing.is_empty() => ix
                        .route_configs
                        .iter()
                        .filter(|c| c.from_rds)
                        .filter(active)
                        .find_map(|c| later(c).map(|t| (t, c.name.clone())))
                        .map(|(t, n)| {
                            (
                                t,
                                format!(
                                    "every route configuration the listeners ask RDS for is active in {} ({n} updated after the rejection)",
                                    ix.source
                                ),
                            )
                        }),
                    None => None,
                }
            }
            _ => None,
        };
        if let Some((t, by)) = found {
            return Some(Resolution { at: t, by });
        }
    }
    None
}

/// The Istio object behind a rejected resource, and its visibility.
fn origin_of(input: &NackInput, resource: Option<&str>, ty: &str) -> (Option<String>, Option<String>) {
    let Some(resource) = resource else { return (None, None) };
    // Provenance recorded in any dump (a proxy that accepted it).
    for ix in input.dumps {
        let found = match ty {
            "CDS" => ix
                .clusters
                .iter()
                .find(|c| c.name == resource)
                .and_then(|c| c.provenance.clone()),
            "LDS" => ix
                .listeners
                .iter()
                .find(|l| l.name == resource)
                .and_then(|l| l.provenance.clone()),
            _ => None,
        };
        if let Some(p) = found {
            return (Some(p), None);
        }
    }
    // Istio's cluster-name grammar: outbound|port|subset|host → the host's
    // ServiceEntry or Service.
    let host = crate::model::istio::ClusterName::parse(resource).map(|c| c.fqdn);
    let (Some(host), Some(cfg)) = (host, input.config) else {
        return (None, None);
    };
    for se in cfg.service_entries.values() {
        if se.spec.hosts.iter().any(|h| h == &host) {
            let name = format!("ServiceEntry {}/{}", se.metadata.namespace, se.metadata.name);
            let blast = if se.spec.export_to.is_empty() || se.spec.export_to.iter().any(|e| e == "*") {
                format!(
                    "{name} has no narrowing exportTo ({}): istiod sends it to every proxy in the mesh",
                    if se.spec.export_to.is_empty() {
                        "exportTo unset"
                    } else {
                        "exportTo: [\"*\"]"
                    }
                )
            } else {
                format!("{name} is exported to {:?} only", se.spec.export_to)
            };
            return (Some(name), Some(blast));
        }
    }
    for s in cfg.services.values() {
        if format!("{}.{}.svc.cluster.local", s.metadata.name, s.metadata.namespace) == host {
            return (
                Some(format!("Service {}/{}", s.metadata.namespace, s.metadata.name)),
                None,
            );
        }
    }
    (
        Some(format!(
            "host {host} (no ServiceEntry or Service for it in the config given)"
        )),
        None,
    )
}

/// Rejections in a sync status document: istiod's `/debug/syncz` or
/// `istioctl proxy-status -o json` (ClientConfig objects).
pub fn parse_syncz(file: &str, text: &str) -> Result<Vec<SyncRejection>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{file}: not JSON: {e}"))?;
    let mut out = Vec::new();
    let mut stack = vec![&v];
    while let Some(x) = stack.pop() {
        match x {
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            serde_json::Value::Object(o) => {
                let configs = o.get("genericXdsConfigs").or_else(|| o.get("generic_xds_configs"));
                let node = o.get("node").and_then(|n| n.get("id")).and_then(|i| i.as_str());
                if let (Some(serde_json::Value::Array(cs)), Some(node)) = (configs, node) {
                    for c in cs {
                        let status = c
                            .get("clientStatus")
                            .or_else(|| c.get("client_status"))
                            .or_else(|| c.get("configStatus"))
                            .or_else(|| c.get("config_status"))
                            .and_then(|s| s.as_str())
                            .unwrap_or("");
                        let err = c.get("errorState").or_else(|| c.get("error_state"));
                        if status == "NACKED" || status == "ERROR" || err.is_some() {
                            let url = c
                                .get("typeUrl")
                                .or_else(|| c.get("type_url"))
                                .and_then(|s| s.as_str())
                                .unwrap_or("");
                            let details = err
                                .and_then(|e| e.get("details"))
                                .and_then(|d| d.as_str())
                                .unwrap_or("NACKED (no details in the sync status)");
                            let time = err
                                .and_then(|e| e.get("lastUpdateAttempt").or_else(|| e.get("last_update_attempt")))
                                .and_then(|t| t.as_str())
                                .map(str::to_string);
                            out.push(SyncRejection {
                                proxy: crate::istio::nacklog::proxy_of_connection(node),
                                xds_type: crate::istio::nacklog::type_of(url),
                                message: details.to_string(),
                                time,
                                source: file.to_string(),
                            });
                        }
                    }
                } else {
                    stack.extend(o.values());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_fields_are_named() {
        assert_eq!(
            validation_field("Proto constraint validation failed (ClusterValidationError.ConnectTimeout: value must be greater than 0s): name: \"PassthroughCluster\"").as_deref(),
            Some("Cluster.ConnectTimeout")
        );
        assert_eq!(
            validation_field("Proto constraint validation failed (RouteConfigurationValidationError.VirtualHosts[i]: [\"embedded message failed validation\"] | caused by VirtualHostValidationError.Routes[i]: [x] | caused by RouteValidationError.Match: [x]): name: \"80\"").as_deref(),
            Some("RouteConfiguration.VirtualHosts.Routes.Match")
        );
        assert_eq!(
            validation_field("Proto constraint validation failed (field: \"descriptor_set\", reason: is required):")
                .as_deref(),
            Some("descriptor_set")
        );
    }

    #[test]
    fn classes_by_envoy_wording() {
        let c = |m: &str| classify(m).name;
        assert_eq!(
            c("LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint"),
            "nack-logical-dns-endpoints"
        );
        assert_eq!(
            c("error adding listener: 'a' has duplicate address '0.0.0.0:80' as existing listener"),
            "nack-duplicate-listener-address"
        );
        assert_eq!(c("duplicate listener l found"), "nack-duplicate-listener-name");
        assert_eq!(c("error adding listener '0.0.0.0:443': multiple filter chains with overlapping matching rules are defined"), "nack-filter-chain-conflict");
        assert_eq!(
            c("Only unique values for domains are permitted. Duplicate entry of domain a in route b"),
            "nack-duplicate-domain"
        );
        assert_eq!(c("route: unknown weighted cluster 'x'"), "nack-unknown-cluster");
        assert_eq!(
            c("Failed to load Wasm module due to a missing import"),
            "nack-filter-init-failed"
        );
        assert_eq!(c("cannot bind '0.0.0.0:443': Permission denied"), "nack-bind-failed");
        assert_eq!(
            c("error adding listener ':15088': no filter chains specified"),
            "nack-no-filter-chains"
        );
        assert_eq!(
            c("Proto constraint validation failed (ClusterValidationError.Name: x)"),
            "nack-proto-validation"
        );
        assert_eq!(
            c("Didn't find a registered implementation for name: 'envoy.filters.http.golang'"),
            "nack-extension-missing"
        );
        assert_eq!(
            c("regex '^/a$' RE2 program size of 107 > max program size of 100"),
            "nack-invalid-regex"
        );
        assert_eq!(c("Invalid path: /etc/certs/cert-chain.pem"), "nack-file-not-found");
        assert_eq!(c("terminal filter named envoy.filters.network.tcp_proxy of type x must be the last filter in a network filter chain."), "nack-filter-order");
        assert_eq!(c("something new"), "nack-unclassified");
        // Every class in the catalogue has a wording that reaches it.
        let reached: std::collections::BTreeSet<&str> = [
            "LOGICAL_DNS clusters must have a single",
            "has duplicate address",
            "duplicate listener x found",
            "cannot bind",
            "same matching rules",
            "no filter chains specified",
            "Proto constraint validation failed",
            "unknown cluster 'x'",
            "Only unique values for domains are permitted",
            "Didn't find a registered implementation",
            "Wasm VM failed",
            "RE2 program size",
            "Invalid path",
            "must be the last filter",
            "other",
        ]
        .iter()
        .map(|m| classify(m).code)
        .collect();
        assert_eq!(reached.len(), 15, "{reached:?}");
    }
}
