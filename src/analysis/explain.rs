//! Explain gateway listeners: predict, from the Istio config, the filter
//! chains istiod builds for each gateway workload (the parts of
//! pilot/pkg/networking/core/gateway.go that decide chains), say why a
//! listener gets zero chains (and is therefore never sent), and cross-check
//! the prediction with the dump and istiod's log.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::gateway_merge::{
    applicable, gateway_name, is_http_protocol, merge, parse_go_bool, service_targets, sorted_gateways, GatewayProxy,
    MergedPort, MergedServer, Skip, SkippedServer, GATEWAY_SERVICE_ANNOTATION,
};
use crate::findings::{self, Rule, Severity};
use crate::istio::log::{GatewayLogEvent, LogLine};
use crate::istio::{Config, Gateway, RouteRule, Server, VirtualService, Workload};
use crate::model::{Index, State};

/// One explanation finding: a catalogue code, and the objects and fix for
/// this case.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainFinding {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The Envoy listener it is about (`0.0.0.0_8443`), if any.
    pub listener: Option<String>,
    /// The Istio objects involved (`Gateway egress-mtls/egw-mtls-gateway`).
    pub objects: Vec<String>,
    /// What to change, for this case.
    pub fix: String,
}

impl ExplainFinding {
    fn new(rule: Rule, listener: Option<&str>, message: String, objects: Vec<String>, fix: String) -> Self {
        Self {
            code: rule.code,
            name: rule.name,
            severity: rule.severity,
            message,
            listener: listener.map(str::to_string),
            objects,
            fix,
        }
    }
}

/// A filter chain istiod would build.
#[derive(Debug, Clone, Serialize)]
pub struct PredictedChain {
    /// `Gateway ns/name` server `port` (index).
    pub server: String,
    /// `http`, `https`, `tcp`, `tls_terminated_tcp`, `passthrough`, `auto_passthrough`.
    pub kind: String,
    pub server_names: Vec<String>,
    /// The cluster traffic goes to (`outbound|443||www.wikipedia.org`), or
    /// the RDS route name for HTTP chains (`Route: http.8080`).
    pub destination: String,
    /// The VirtualService rule that makes the chain (`egress-mtls/wiki-vs tcp[0]`).
    pub from: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenerExplanation {
    /// The workload (gateway pod or Deployment) it is built for.
    pub workload: String,
    /// The Gateway(s) whose servers make it, joined with `,`.
    pub gateway: String,
    pub name: String,
    pub port: u32,
    pub predicted_chains: usize,
    pub chains: Vec<PredictedChain>,
    /// Why the chain count is not certain (AUTO_PASSTHROUGH chains depend on
    /// every Service in the mesh), if it is not.
    pub chains_undetermined: Option<String>,
    /// Whether the dump has it; null when no dump was given.
    pub present: Option<bool>,
    pub present_chains: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub findings: Vec<ExplainFinding>,
    pub listeners: Vec<ListenerExplanation>,
    /// What the given inputs could not decide, and which input would.
    pub limits: Vec<String>,
    /// What reading the inputs did that the user should know: objects a
    /// later file replaced.
    pub notes: Vec<String>,
}

/// Inputs of an explanation; any subset may be empty.
pub struct ExplainInput<'a> {
    pub dumps: &'a [Index],
    pub config: Option<&'a Config>,
    pub log: &'a [LogLine],
    /// Only this Gateway (`ns/name`).
    pub gateway: Option<String>,
    /// Ports the user expects on the gateway (dump-only checks).
    pub expect_ports: &'a [u32],
}

pub fn explain(input: &ExplainInput) -> Explanation {
    let mut ex = Explanation {
        findings: Vec::new(),
        listeners: Vec::new(),
        limits: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(cfg) = input.config {
        ex.notes.extend(cfg.overrides.iter().cloned());
    }
    match input.config {
        Some(cfg) => predict(cfg, input, &mut ex),
        None => ex
            .limits
            .push("no Istio config (--istio): listeners cannot be predicted, only what the dump and log show".into()),
    }
    if input.dumps.is_empty() {
        ex.limits
            .push("no dump: predictions cannot be checked against what Envoy holds (present = null)".into());
    }
    dump_checks(input, &mut ex);
    log_checks(input, &mut ex);
    // Errors first, then warnings, then information; the missing or
    // omitted listener before its causes; stable within.
    let headline = |c: &str| !matches!(c, "XR0012" | "XR0022");
    ex.findings.sort_by_key(|f| (f.severity, headline(f.code)));
    ex
}

/// A gateway proxy to predict for, with what its pod spec says.
struct Target {
    proxy: GatewayProxy,
    container_ports: BTreeMap<String, u32>,
}

fn subset(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

fn selector_text(s: &BTreeMap<String, String>) -> String {
    if s.is_empty() {
        return "(none)".into();
    }
    s.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn gw_name(g: &Gateway) -> String {
    gateway_name(g)
}

/// The gateway proxies to predict for: each dump of a router, each gateway
/// workload of --k8s (one that looks like a gateway, or that a Gateway
/// selects), else one per Gateway selector.
fn targets(cfg: &Config, input: &ExplainInput, ex: &mut Explanation) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    let mut not_gateways: Vec<String> = Vec::new();
    for (i, ix) in input.dumps.iter().enumerate() {
        let Some(b) = &ix.bootstrap else { continue };
        let Some(node) = &b.node else { continue };
        if node.id.starts_with("sidecar~") || node.id.starts_with("ztunnel~") {
            not_gateways.push(ix.proxy_name());
            continue;
        }
        let meta = node.metadata.as_ref();
        let labels: BTreeMap<String, String> = meta
            .and_then(|m| crate::model::util::struct_struct(m, "LABELS"))
            .map(|l| {
                l.fields
                    .iter()
                    .map(|(k, v)| (k.clone(), super::bootstrap::value_text(v)))
                    .collect()
            })
            .unwrap_or_default();
        let id = ix.identity.clone().unwrap_or_default();
        let mut ips: Vec<String> = meta
            .and_then(|m| crate::model::util::struct_str(m, "INSTANCE_IPS"))
            .map(|s| {
                s.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if ips.is_empty() {
            ips.extend(id.ip.clone());
        }
        let unprivileged = meta
            .and_then(|m| crate::model::util::struct_str(m, "UNPRIVILEGED_POD"))
            .unwrap_or("");
        out.push(Target {
            proxy: GatewayProxy {
                name: id.pod.clone().unwrap_or_else(|| id.node_id.clone()),
                namespace: id.namespace.clone().unwrap_or_default(),
                labels,
                ips,
                unprivileged: Some(parse_go_bool(unprivileged)),
                unprivileged_source: format!("node metadata UNPRIVILEGED_POD={unprivileged:?} in {}", ix.source),
                dump: Some(i),
            },
            container_ports: BTreeMap::new(),
        });
    }
    if !not_gateways.is_empty() {
        let shown: Vec<&str> = not_gateways.iter().take(3).map(String::as_str).collect();
        let more = not_gateways.len().saturating_sub(shown.len());
        ex.limits.push(format!(
            "{} of the dumps {} sidecars, not gateways (Gateways apply only to router proxies): {}{}",
            not_gateways.len(),
            if not_gateways.len() == 1 { "is a" } else { "are" },
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    let selected = |w: &Workload| {
        cfg.gateways.values().any(|g| {
            !g.spec.selector.is_empty()
                && !g.metadata.annotations.contains_key(GATEWAY_SERVICE_ANNOTATION)
                && subset(&g.spec.selector, &w.labels)
        })
    };
    for w in cfg.workloads.values() {
        if !w.looks_like_gateway && !selected(w) {
            continue;
        }
        // An archive read with --proxy: only the proxies selected.
        if w.kind == "Pod" && !crate::input::proxy_selected(&format!("{}/{}", w.namespace, w.name)) {
            continue;
        }
        let dumped = out.iter().any(|t| {
            t.proxy.namespace == w.namespace
                && (t.proxy.name == w.name || !w.labels.is_empty() && subset(&w.labels, &t.proxy.labels))
        });
        if dumped {
            continue;
        }
        // A Gateway API gateway: istiod builds its listeners from a
        // Kubernetes Gateway, which explain does not model.
        if ["gateway.networking.k8s.io/gateway-name", "istio.io/gateway-name"]
            .iter()
            .any(|l| w.labels.contains_key(*l))
            && !selected(w)
        {
            ex.limits.push(format!(
                "{} {}/{} is a Gateway API gateway: its listeners come from a Kubernetes Gateway (gateway.networking.k8s.io), which explain does not model",
                w.kind, w.namespace, w.name
            ));
            continue;
        }
        let (unprivileged, source) = if w.spec_known {
            let v = w.env.get("ISTIO_META_UNPRIVILEGED_POD").cloned().unwrap_or_default();
            (
                Some(parse_go_bool(&v)),
                format!(
                    "ISTIO_META_UNPRIVILEGED_POD={v:?} in {} {}/{}",
                    w.kind, w.namespace, w.name
                ),
            )
        } else {
            (None, String::new())
        };
        out.push(Target {
            proxy: GatewayProxy {
                name: format!("{}/{}", w.kind, w.name),
                namespace: w.namespace.clone(),
                labels: w.labels.clone(),
                ips: w.ips.clone(),
                unprivileged,
                unprivileged_source: source,
                dump: None,
            },
            container_ports: w.container_ports.clone(),
        });
    }
    if out.is_empty() {
        // Nothing tells us the workloads: assume each Gateway selector names
        // one, in the Gateway's namespace.
        let mut seen: BTreeSet<(String, BTreeMap<String, String>)> = BTreeSet::new();
        for g in sorted_gateways(cfg) {
            if g.metadata.annotations.contains_key(GATEWAY_SERVICE_ANNOTATION) {
                continue;
            }
            let labels = g.spec.selector.clone();
            if !seen.insert((g.metadata.namespace.clone(), labels.clone())) {
                continue;
            }
            out.push(Target {
                proxy: GatewayProxy {
                    name: format!("pods selected by {}", selector_text(&labels)),
                    namespace: g.metadata.namespace.clone(),
                    labels,
                    ips: Vec::new(),
                    unprivileged: None,
                    unprivileged_source: String::new(),
                    dump: None,
                },
                container_ports: BTreeMap::new(),
            });
        }
    }
    out
}

/// A listener istiod builds for a proxy, while its chains are collected.
struct Building<'a> {
    name: String,
    port: u32,
    chains: Vec<PredictedChain>,
    servers: Vec<MergedServer<'a>>,
    undetermined: Vec<String>,
}

fn predict(cfg: &Config, input: &ExplainInput, ex: &mut Explanation) {
    if cfg.workloads.is_empty() && input.dumps.is_empty() {
        ex.limits.push(
            "no gateway workload (--k8s Deployment/Pod or a dump): each Gateway's selector is assumed to match pods in its own namespace".into(),
        );
    }
    if cfg.services.is_empty() && cfg.service_entries.values().all(|se| se.spec.endpoints.is_empty()) {
        ex.limits
            .push("no Services (--k8s): listener ports assume targetPort = the Gateway server port".into());
    }
    let undated = cfg
        .gateways
        .values()
        .filter(|g| g.metadata.creation_timestamp.is_empty())
        .count();
    for target in targets(cfg, input, ex) {
        let services = service_targets(cfg, &target.proxy, &target.container_ports);
        let applied = applicable(cfg, &target.proxy, &services);
        for a in &applied {
            if a.gateway.metadata.namespace != target.proxy.namespace && a.legacy {
                ex.limits.push(format!(
                    "Gateway {} (namespace {}) applies to {} in namespace {} only while PILOT_SCOPE_GATEWAY_TO_NAMESPACE is off (the default)",
                    gw_name(a.gateway),
                    a.gateway.metadata.namespace,
                    target.proxy.name,
                    target.proxy.namespace
                ));
            }
        }
        let merged = merge(&applied);
        ex.limits.extend(merged.undetermined.iter().cloned());
        let wanted = |gw: &str| input.gateway.as_ref().is_none_or(|w| w == gw);
        if applied.is_empty() {
            // A Gateway API gateway: its listeners come from a Kubernetes
            // Gateway, which explain does not model.
            if ["gateway.networking.k8s.io/gateway-name", "istio.io/gateway-name"]
                .iter()
                .any(|l| target.proxy.labels.contains_key(*l))
            {
                ex.limits.push(format!(
                    "{} is a Gateway API gateway: its listeners come from a Kubernetes Gateway (gateway.networking.k8s.io), which explain does not model",
                    target.proxy.name
                ));
                continue;
            }
            unexpected_listeners(input, &target, &BTreeSet::new(), ex);
            if input.gateway.is_none() || target.proxy.dump.is_some() {
                let names: Vec<String> = cfg.gateways.values().map(gw_name).collect();
                ex.findings.push(ExplainFinding::new(
                    findings::GATEWAY_SELECTS_NOTHING,
                    None,
                    format!(
                        "no Gateway selects {} (labels {}): istiod builds no gateway listeners for it",
                        target.proxy.name,
                        selector_text(&target.proxy.labels)
                    ),
                    names.iter().map(|n| format!("Gateway {n}")).collect(),
                    "make a Gateway's `selector` a subset of the gateway pod's labels".into(),
                ));
            }
            continue;
        }
        let order_assumed = undated > 1 && !merged.skipped.is_empty();
        for s in &merged.skipped {
            if wanted(&s.server.gateway_name())
                || matches!(&s.reason, Skip::DuplicateTlsHosts { taken_by, .. } | Skip::Conflict { existing: taken_by, .. } if input.gateway.as_ref().is_some_and(|w| taken_by.contains(&format!("Gateway {w} "))))
            {
                ex.findings.push(skip_finding(s, order_assumed));
            }
        }
        let mut listeners: Vec<Building> = Vec::new();
        let mut sni_taken: BTreeMap<u32, BTreeMap<String, (String, String)>> = BTreeMap::new();
        for mp in &merged.ports {
            if mp.number < 1024 && !privileged_port(&target, mp, ex) {
                continue;
            }
            let wildcard = if !target.proxy.ips.is_empty() && target.proxy.ips.iter().all(|ip| ip.contains(':')) {
                "::"
            } else {
                "0.0.0.0"
            };
            let name = format!(
                "{}_{}",
                if mp.bind.is_empty() { wildcard } else { mp.bind.as_str() },
                mp.number
            );
            let at = match listeners.iter().position(|l| l.name == name) {
                Some(i) => i,
                None => {
                    listeners.push(Building {
                        name: name.clone(),
                        port: mp.number,
                        chains: Vec::new(),
                        servers: Vec::new(),
                        undetermined: Vec::new(),
                    });
                    listeners.len() - 1
                }
            };
            let l = &mut listeners[at];
            l.servers.extend(mp.servers.iter().cloned());
            if is_http_protocol(&mp.protocol) {
                // One HTTP connection manager for every server on the port.
                l.chains.push(PredictedChain {
                    server: mp
                        .servers
                        .iter()
                        .map(MergedServer::label)
                        .collect::<Vec<_>>()
                        .join(", "),
                    kind: "http".into(),
                    server_names: Vec::new(),
                    destination: format!("Route: {}", mp.route_name),
                    from: None,
                });
                continue;
            }
            for s in &mp.servers {
                let taken = sni_taken.entry(mp.number).or_default();
                let (chains, undetermined) = server_chains(cfg, &target, s, &name, taken, ex);
                l.chains.extend(chains);
                l.undetermined.extend(undetermined);
            }
        }
        let names: BTreeSet<String> = listeners.iter().map(|l| l.name.clone()).collect();
        unexpected_listeners(input, &target, &names, ex);
        for l in listeners {
            let gateways: BTreeSet<String> = l.servers.iter().map(MergedServer::gateway_name).collect();
            if !gateways.iter().any(|g| wanted(g)) {
                continue;
            }
            duplicate_matches(&l, ex);
            if l.chains.is_empty() {
                let causes = ex
                    .findings
                    .iter()
                    .filter(|f| {
                        f.listener.as_deref() == Some(&l.name) && f.code != findings::GATEWAY_LISTENER_OMITTED.code
                    })
                    .count();
                ex.findings.push(ExplainFinding::new(
                    findings::GATEWAY_LISTENER_OMITTED,
                    Some(&l.name),
                    format!(
                        "istiod builds zero filter chains for {} on {} and omits the listener (`gateway omitting listener \"{}\" due to: must have more than 0 chains`): Envoy never receives it",
                        l.name, target.proxy.name, l.name
                    ),
                    gateways.iter().map(|n| format!("Gateway {n}")).collect(),
                    if causes == 1 {
                        format!("the other finding for {} names the cause and its fix", l.name)
                    } else if causes > 1 {
                        format!("the {causes} other findings for {} each name a cause and its fix", l.name)
                    } else {
                        "give every server on the port a route: `tcp` routes for TCP and TLS-terminating servers, `tls` routes with `sniHosts` for PASSTHROUGH servers".into()
                    },
                ));
            }
            let (present, present_chains) = match target.proxy.dump.and_then(|i| input.dumps.get(i)) {
                Some(ix) => {
                    let found = ix
                        .listeners
                        .iter()
                        .find(|x| x.name == l.name && matches!(x.state, State::Active | State::Static));
                    (
                        Some(found.is_some()),
                        found
                            .and_then(|x| x.listener())
                            .map(|x| x.filter_chains.len() + usize::from(x.default_filter_chain.is_some())),
                    )
                }
                None => (None, None),
            };
            ex.listeners.push(ListenerExplanation {
                workload: target.proxy.name.clone(),
                gateway: gateways.into_iter().collect::<Vec<_>>().join(","),
                name: l.name,
                port: l.port,
                predicted_chains: l.chains.len(),
                chains: l.chains,
                chains_undetermined: (!l.undetermined.is_empty()).then(|| l.undetermined.join("; ")),
                present,
                present_chains,
            });
        }
    }
}

/// Gateway listeners in the dump that the config does not predict.
fn unexpected_listeners(input: &ExplainInput, target: &Target, names: &BTreeSet<String>, ex: &mut Explanation) {
    let Some(ix) = target.proxy.dump.and_then(|i| input.dumps.get(i)) else {
        return;
    };
    for l in &ix.listeners {
        let gateway_like = l
            .name
            .rsplit_once('_')
            .is_some_and(|(ip, port)| ip.parse::<std::net::IpAddr>().is_ok() && port.parse::<u16>().is_ok());
        if l.state == State::Active && gateway_like && !names.contains(&l.name) {
            ex.findings.push(ExplainFinding::new(
                findings::GATEWAY_PREDICTION_DIFFERS,
                Some(&l.name),
                format!(
                    "{} holds listener {}, which the config given does not predict for it",
                    target.proxy.name, l.name
                ),
                Vec::new(),
                "check that --istio holds the live Gateways (and their selectors) for this gateway".into(),
            ));
        }
    }
}

/// A port below 1024: whether istiod builds it for this proxy (false: it
/// skips it), with a finding either way when it matters.
fn privileged_port(target: &Target, mp: &MergedPort, ex: &mut Explanation) -> bool {
    let port = mp.number;
    let objects: Vec<String> = mp
        .servers
        .iter()
        .map(|s| format!("Gateway {}", s.gateway_name()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let name = format!("{}_{port}", if mp.bind.is_empty() { "0.0.0.0" } else { &mp.bind });
    let fix = format!(
        "expose the port through a Service with `targetPort` ≥ 1024 (e.g. port {port} → targetPort {}), or let the pod bind low ports (the istio/gateway chart sets net.ipv4.ip_unprivileged_port_start=0) and do not set ISTIO_META_UNPRIVILEGED_POD",
        port + 8000
    );
    match target.proxy.unprivileged {
        Some(false) => true,
        Some(true) => {
            ex.findings.push(ExplainFinding::new(
                findings::GATEWAY_PRIVILEGED_PORT,
                Some(&name),
                format!(
                    "istiod skips listener port {port} for {}: the pod runs unprivileged ({}), and logs `skipping privileged gateway port {port}`",
                    target.proxy.name, target.proxy.unprivileged_source
                ),
                objects,
                fix,
            ));
            false
        }
        None => {
            ex.findings.push(ExplainFinding::new(
                findings::GATEWAY_PRIVILEGED_PORT,
                Some(&name),
                format!(
                    "listener port {port} is below 1024: istiod skips it if {} runs with ISTIO_META_UNPRIVILEGED_POD=true (the legacy gateway charts set it; the istio/gateway chart does not); the inputs do not show the pod's environment (give its Deployment/Pod spec or a dump)",
                    target.proxy.name
                ),
                objects,
                fix,
            ));
            true
        }
    }
}

/// The finding for a server istiod's merge dropped.
fn skip_finding(s: &SkippedServer, order_assumed: bool) -> ExplainFinding {
    let label = s.server.label();
    let port = s.server.port;
    let listener = format!(
        "{}_{port}",
        if s.server.server.bind.is_empty() {
            "0.0.0.0"
        } else {
            &s.server.server.bind
        }
    );
    let order = if order_assumed {
        " (Gateways are merged oldest first; without creationTimestamp in the input, by name then namespace)"
    } else {
        ""
    };
    let mut objects = vec![format!("Gateway {}", s.server.gateway_name())];
    let (message, fix) = match &s.reason {
        Skip::DuplicateTlsHosts { hosts, taken_by } => {
            objects.push(taken_by.split(" server ").next().unwrap_or(taken_by).to_string());
            (
                format!(
                    "istiod skips {label}: its hosts {hosts:?} are already served on port {port} by {taken_by}{order} (`skipping server on gateway {}, duplicate host names: {hosts:?}`)",
                    s.server.gateway_name()
                ),
                format!("serve each host from one TLS server per port: drop {hosts:?} from one of the two servers, or give them different `bind` addresses"),
            )
        }
        Skip::Conflict {
            existing,
            existing_protocol,
        } => {
            objects.push(existing.split(" server ").next().unwrap_or(existing).to_string());
            (
                format!(
                    "istiod skips {label} (protocol {}): port {port} is already taken by {existing} (protocol {existing_protocol}){order}; servers share a plain-text port only when both are HTTP (`skipping server on gateway {} port {}.{port}.{}: conflict with existing server`)",
                    s.server.server.port.protocol,
                    s.server.gateway.metadata.name,
                    s.server.server.port.name,
                    s.server.server.port.protocol
                ),
                "move one of the servers to another port (or another `bind`), or make both HTTP".into(),
            )
        }
        Skip::NonUniqueHttpsRoute { route } => (
            format!("istiod skips {label}: its route name {route} is already used by another HTTPS server on the port (`non unique port name for HTTPS port`)"),
            "give each HTTPS server of a Gateway its own port name".into(),
        ),
        Skip::PlainOnTlsPort { existing } => {
            objects.push(existing.split(" server ").next().unwrap_or(existing).to_string());
            (
                format!("istiod skips {label}: port {port} already carries TLS servers ({existing}) and this server has no `tls` (`TLS server without TLS options`)"),
                "give the server `tls` settings, or move it to its own port".into(),
            )
        }
        Skip::NoServicePort => (
            format!("istiod builds nothing for {label}: the Gateway references its Services by name and none of them has port {}", s.server.server.port.number),
            "add the port to the Service the Gateway references, or use a port it has".into(),
        ),
        Skip::NoPort => (
            format!("istiod skips {label}: the server has no port"),
            "give the server a `port`".into(),
        ),
    };
    ExplainFinding::new(findings::GATEWAY_SERVER_SKIPPED, Some(&listener), message, objects, fix)
}

/// Two predicted chains of one listener with the same match: Envoy rejects
/// the whole listener.
fn duplicate_matches(l: &Building, ex: &mut Explanation) {
    let class = |k: &str| match k {
        "https" | "tls_terminated_tcp" => "terminated",
        "passthrough" | "auto_passthrough" => "passthrough",
        _ => "plain",
    };
    let mut seen: BTreeMap<(&str, Vec<String>), &PredictedChain> = BTreeMap::new();
    for c in &l.chains {
        if c.kind == "http" || c.kind == "tcp" {
            continue;
        }
        let mut names = c.server_names.clone();
        names.sort();
        if let Some(first) = seen.get(&(class(&c.kind), names.clone())) {
            ex.findings.push(ExplainFinding::new(
                findings::GATEWAY_DUPLICATE_CHAIN_MATCH,
                Some(&l.name),
                format!(
                    "{} and {} make two chains of {} with the same match (server names {:?}): Envoy rejects the listener (`multiple filter chains with the same matching rules are defined`) and keeps the previous version, if any",
                    first.server, c.server, l.name, c.server_names
                ),
                Vec::new(),
                "give the servers distinct hosts (a `./*` host in two namespaces is two servers for the same SNI), or merge them into one server".into(),
            ));
        } else {
            seen.insert((class(&c.kind), names), c);
        }
    }
}

/// How istiod treats a server on a non-HTTP port.
#[derive(PartialEq, Eq, Clone, Copy)]
enum ServerKind {
    HttpsTerminated,
    Tcp,
    TlsTerminatedTcp,
    Passthrough,
    AutoPassthrough,
}

fn server_kind(s: &Server) -> ServerKind {
    let mode = s.tls.as_ref().map(|t| t.mode.to_ascii_uppercase());
    match mode.as_deref() {
        None => ServerKind::Tcp,
        Some("PASSTHROUGH") => ServerKind::Passthrough,
        Some("AUTO_PASSTHROUGH") => ServerKind::AutoPassthrough,
        Some(_) if s.port.protocol.eq_ignore_ascii_case("HTTPS") => ServerKind::HttpsTerminated,
        Some(_) => ServerKind::TlsTerminatedTcp,
    }
}

/// Server names as Envoy's filter chain match gets them: sorted, none when
/// a `*` host matches everything.
fn envoy_server_names(hosts: &[String]) -> Vec<String> {
    if hosts.iter().any(|h| h == "*") {
        return Vec::new();
    }
    let mut v = hosts.to_vec();
    v.sort();
    v
}

/// VirtualServices that list this gateway, with how each does or does not
/// reach the gateway's namespace.
struct Binding<'a> {
    vs: &'a VirtualService,
    visible: bool,
}

fn vs_name(v: &VirtualService) -> String {
    format!("{}/{}", v.metadata.namespace, v.metadata.name)
}

/// A VirtualService `gateways:` entry as `ns/name`.
fn resolve_gateway_ref(vs_ns: &str, r: &str) -> String {
    if r.contains('/') {
        return r.to_string();
    }
    if let Some((name, rest)) = r.split_once('.') {
        // name.namespace[.svc.cluster.local]
        let ns = rest.split('.').next().unwrap_or(vs_ns);
        return format!("{ns}/{name}");
    }
    format!("{vs_ns}/{r}")
}

fn exported_to(v: &VirtualService, ns: &str) -> bool {
    let e = &v.spec.export_to;
    e.is_empty()
        || e.iter()
            .any(|x| x == "*" || x == ns || (x == "." && v.metadata.namespace == ns))
}

/// VirtualServices binding `gw`, in istiod's order: older first, then by
/// name and namespace.
fn bindings<'a>(cfg: &'a Config, gw: &str, gw_workload_ns: &str) -> Vec<Binding<'a>> {
    let mut all: Vec<&VirtualService> = cfg.virtual_services.values().collect();
    all.sort_by(|a, b| {
        let key = |v: &VirtualService| {
            (
                v.metadata.creation_timestamp.clone(),
                v.metadata.name.clone(),
                v.metadata.namespace.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    all.into_iter()
        .filter(|v| {
            v.spec
                .gateways
                .iter()
                .any(|r| resolve_gateway_ref(&v.metadata.namespace, r) == gw)
        })
        .map(|v| Binding {
            vs: v,
            visible: exported_to(v, gw_workload_ns),
        })
        .collect()
}

/// Whether two host patterns overlap (`*.foo.com` and `a.foo.com`).
fn hosts_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    if a == "*" || b == "*" || a == b {
        return true;
    }
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => sa.ends_with(sb) || sb.ends_with(sa),
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => false,
    }
}

/// VirtualService hosts that a server's (sanitized) hosts match; `ns/host`
/// only for VirtualServices in ns.
fn matching_hosts(server_hosts: &[String], v: &VirtualService) -> Vec<String> {
    let mut out = Vec::new();
    for h in server_hosts {
        let (ns, host) = match h.split_once('/') {
            Some((ns, host)) => (Some(ns), host),
            None => (None, h.as_str()),
        };
        if ns.is_some_and(|n| n != v.metadata.namespace) {
            continue;
        }
        for vh in &v.spec.hosts {
            if hosts_overlap(host, vh) && !out.contains(vh) {
                out.push(vh.clone());
            }
        }
    }
    out
}

fn rule_matches(rule: &RouteRule, server: &Server, gw: &str, vs_ns: &str) -> bool {
    rule.matches.is_empty()
        || rule.matches.iter().any(|m| {
            m.port.is_none_or(|p| p == server.port.number)
                && (m.gateways.is_empty() || m.gateways.iter().any(|g| resolve_gateway_ref(vs_ns, g) == gw))
        })
}

/// `outbound|port|subset|fqdn` for a route's first destination.
fn destination_cluster(rule: &RouteRule, vs_ns: &str, server_port: u32) -> String {
    let Some(d) = rule.route.first().map(|r| &r.destination) else {
        return "(no destination)".into();
    };
    let port = d.port.as_ref().map_or(server_port, |p| p.number);
    let host = if d.host.contains('.') {
        d.host.clone()
    } else {
        format!("{}.{vs_ns}.svc.cluster.local", d.host)
    };
    format!("outbound|{port}|{}|{host}", d.subset)
}

/// The chains one server on a non-HTTP port makes (gateway.go
/// `createGatewayTCPFilterChainOpts`), with what the inputs cannot decide;
/// findings for a server that makes none.
fn server_chains(
    cfg: &Config,
    target: &Target,
    a: &MergedServer,
    listener: &str,
    sni_taken: &mut BTreeMap<String, (String, String)>,
    ex: &mut Explanation,
) -> (Vec<PredictedChain>, Vec<String>) {
    let gw = a.gateway_name();
    let s = a.server;
    let kind = server_kind(s);
    let label = a.label();
    let chain = |kind: &str, sni: Vec<String>, dest: String, from: Option<String>| PredictedChain {
        server: label.clone(),
        kind: kind.to_string(),
        server_names: sni,
        destination: dest,
        from,
    };
    match kind {
        ServerKind::HttpsTerminated => {
            return (
                vec![chain(
                    "https",
                    envoy_server_names(&a.sni_hosts),
                    format!("Route: {}", a.route_name),
                    None,
                )],
                Vec::new(),
            );
        }
        ServerKind::AutoPassthrough => return auto_passthrough(cfg, a),
        _ => {}
    }
    let all = bindings(cfg, &gw, &target.proxy.namespace);
    let visible: Vec<&Binding> = all.iter().filter(|b| b.visible).collect();
    let with_hosts: Vec<(&Binding, Vec<String>)> = visible
        .iter()
        .map(|b| (*b, matching_hosts(&a.hosts, b.vs)))
        .filter(|(_, h)| !h.is_empty())
        .collect();
    let mut chains = Vec::new();
    // Rules that would have matched but have no `route`: istiod skips them.
    let mut no_route: Vec<(String, &'static str, usize)> = Vec::new();
    if kind == ServerKind::Passthrough {
        for (b, _) in &with_hosts {
            for (ri, rule) in b.vs.spec.tls.iter().enumerate() {
                if rule.route.is_empty() {
                    no_route.push((vs_name(b.vs), "tls", ri));
                    continue;
                }
                for (mi, m) in rule.matches.iter().enumerate() {
                    let port_ok = m.port.is_none_or(|p| p == s.port.number);
                    let gw_ok = m.gateways.is_empty()
                        || m.gateways
                            .iter()
                            .any(|g| resolve_gateway_ref(&b.vs.metadata.namespace, g) == gw);
                    if !(port_ok && gw_ok) {
                        continue;
                    }
                    let dup: Vec<&String> = m
                        .sni_hosts
                        .iter()
                        .filter(|h| sni_taken.get(*h).is_some_and(|(bind, _)| *bind == s.bind))
                        .collect();
                    if !dup.is_empty() {
                        let first = sni_taken[dup[0]].1.clone();
                        ex.findings.push(ExplainFinding::new(
                            findings::GATEWAY_DUPLICATE_SNI,
                            Some(listener),
                            format!(
                                "VirtualService {} tls rule #{ri} match #{mi} repeats SNI host(s) {:?} already routed by {first}: istiod skips it (`skipping VirtualService {} rule #{mi} on server port {} of gateway {gw}, duplicate SNI host names`)",
                                vs_name(b.vs),
                                dup,
                                b.vs.metadata.name,
                                s.port.number
                            ),
                            vec![format!("VirtualService {}", vs_name(b.vs)), format!("VirtualService {first}")],
                            format!("route each SNI host from one VirtualService only: drop {:?} from {}", dup, vs_name(b.vs)),
                        ));
                        continue;
                    }
                    for h in &m.sni_hosts {
                        sni_taken.insert(h.clone(), (s.bind.clone(), vs_name(b.vs)));
                    }
                    chains.push(chain(
                        "passthrough",
                        envoy_server_names(&m.sni_hosts),
                        destination_cluster(rule, &b.vs.metadata.namespace, s.port.number),
                        Some(format!("VirtualService {} tls[{ri}]", vs_name(b.vs))),
                    ));
                }
            }
        }
    } else {
        // Plain TCP or TLS terminated on a non-HTTP server: the first
        // matching `tcp` rule with a route, of the first bound
        // VirtualService that has one.
        'found: for (b, _) in &with_hosts {
            for (ri, rule) in b.vs.spec.tcp.iter().enumerate() {
                if rule_matches(rule, s, &gw, &b.vs.metadata.namespace) {
                    if rule.route.is_empty() {
                        no_route.push((vs_name(b.vs), "tcp", ri));
                        continue;
                    }
                    let sni = if kind == ServerKind::TlsTerminatedTcp {
                        envoy_server_names(&a.sni_hosts)
                    } else {
                        Vec::new()
                    };
                    chains.push(chain(
                        if kind == ServerKind::Tcp {
                            "tcp"
                        } else {
                            "tls_terminated_tcp"
                        },
                        sni,
                        destination_cluster(rule, &b.vs.metadata.namespace, s.port.number),
                        Some(format!("VirtualService {} tcp[{ri}]", vs_name(b.vs))),
                    ));
                    break 'found;
                }
            }
        }
    }
    if chains.is_empty() {
        if no_route.is_empty() {
            diagnose_empty(cfg, a, kind, &all, &with_hosts, listener, ex);
        } else {
            for (vs, what, ri) in &no_route {
                ex.findings.push(ExplainFinding::new(
                    findings::GATEWAY_RULE_WITHOUT_ROUTE,
                    Some(listener),
                    format!("VirtualService {vs} {what} rule #{ri} applies to {label} but has no `route`: istiod skips it, and no other rule gives the server a chain"),
                    vec![format!("VirtualService {vs}"), format!("Gateway {gw}")],
                    format!("add a `route: - destination: {{host: …}}` to {what} rule #{ri} of {vs}"),
                ));
            }
        }
    }
    for c in &chains {
        destination_visible(cfg, target, c, listener, ex);
    }
    (chains, Vec::new())
}

/// AUTO_PASSTHROUGH: one chain per mesh service port (and subset) whose
/// host the server's hosts cover, named by its SNI-DNAT cluster.
fn auto_passthrough(cfg: &Config, a: &MergedServer) -> (Vec<PredictedChain>, Vec<String>) {
    let covers = |host: &str| {
        a.sni_hosts
            .iter()
            .any(|h| h == "*" || h == host || h.strip_prefix('*').is_some_and(|suffix| host.ends_with(suffix)))
    };
    let mut services: Vec<(String, u32)> = Vec::new();
    for s in cfg.services.values() {
        let host = format!("{}.{}.svc.cluster.local", s.metadata.name, s.metadata.namespace);
        for p in &s.spec.ports {
            if !p.protocol.eq_ignore_ascii_case("UDP") {
                services.push((host.clone(), p.port));
            }
        }
    }
    for se in cfg.service_entries.values() {
        if !se.spec.location.eq_ignore_ascii_case("MESH_INTERNAL") {
            continue;
        }
        for h in &se.spec.hosts {
            for p in &se.spec.ports {
                if !p.protocol.eq_ignore_ascii_case("UDP") {
                    services.push((h.clone(), p.number));
                }
            }
        }
    }
    services.sort();
    services.dedup();
    let mut chains = Vec::new();
    for (host, port) in services.iter().filter(|(h, _)| covers(h)) {
        let mut subsets = vec![String::new()];
        subsets.extend(
            cfg.destination_rules
                .values()
                .filter(|d| &d.spec.host == host)
                .flat_map(|d| d.spec.subsets.iter().map(|s| s.name.clone())),
        );
        for subset in subsets {
            chains.push(PredictedChain {
                server: a.label(),
                kind: "auto_passthrough".into(),
                server_names: vec![format!("outbound_.{port}_.{subset}_.{host}")],
                destination: format!("outbound|{port}|{subset}|{host}"),
                from: None,
            });
        }
    }
    let why = format!(
        "{} is AUTO_PASSTHROUGH: istiod makes one chain per port (and DestinationRule subset) of every mesh Service its hosts {:?} cover; {} such port(s) are in the inputs, and the mesh may hold more",
        a.label(),
        a.sni_hosts,
        services.iter().filter(|(h, _)| covers(h)).count()
    );
    (chains, vec![why])
}

/// Whether a chain's destination host is known to the gateway's namespace
/// (a ServiceEntry exported there, or a Service); only judged when the
/// config holds ServiceEntries or Services at all.
fn destination_visible(cfg: &Config, target: &Target, c: &PredictedChain, listener: &str, ex: &mut Explanation) {
    let target = &target.proxy;
    if cfg.service_entries.is_empty() && cfg.services.is_empty() {
        return;
    }
    let Some(host) = c
        .destination
        .strip_prefix("outbound|")
        .and_then(|r| r.rsplit('|').next())
    else {
        return;
    };
    let ns = &target.namespace;
    let exported = |export: &[String], own: &str| {
        export.is_empty() || export.iter().any(|x| x == "*" || x == ns || (x == "." && own == ns))
    };
    let by_entry = cfg.service_entries.values().any(|se| {
        exported(&se.spec.export_to, &se.metadata.namespace) && se.spec.hosts.iter().any(|h| hosts_overlap(h, host))
    });
    let by_service = cfg
        .services
        .values()
        .any(|s| format!("{}.{}.svc.cluster.local", s.metadata.name, s.metadata.namespace) == host);
    if by_entry || by_service {
        return;
    }
    let hidden: Vec<String> = cfg
        .service_entries
        .values()
        .filter(|se| se.spec.hosts.iter().any(|h| hosts_overlap(h, host)))
        .map(|se| format!("ServiceEntry {}/{}", se.metadata.namespace, se.metadata.name))
        .collect();
    let (why, fix) = if hidden.is_empty() {
        (
            format!("no ServiceEntry or Service for {host} is known"),
            format!("add a ServiceEntry for {host} exported to {ns} (for REGISTRY_ONLY meshes it is required)"),
        )
    } else {
        (
            format!("{} exists but is not exported to {ns}", hidden.join(", ")),
            format!("add {ns} to `exportTo` of {}", hidden.join(", ")),
        )
    };
    ex.findings.push(ExplainFinding::new(
        findings::GATEWAY_DESTINATION_NOT_VISIBLE,
        Some(listener),
        format!(
            "the chain for SNI {:?} sends to {}, but {why}: the gateway gets no such cluster and resets those connections",
            c.server_names, c.destination
        ),
        hidden,
        fix,
    ));
}

fn strip_ns(h: &str) -> String {
    h.split_once('/').map_or(h, |(_, h)| h).to_string()
}

/// Why a TCP/TLS server makes no chain, as findings.
fn diagnose_empty(
    cfg: &Config,
    a: &MergedServer,
    kind: ServerKind,
    all: &[Binding],
    with_hosts: &[(&Binding, Vec<String>)],
    listener: &str,
    ex: &mut Explanation,
) {
    let gw = a.gateway_name();
    let s = a.server;
    let label = a.label();
    let mode = s.tls.as_ref().map(|t| t.mode.clone()).unwrap_or_default();
    // istiod logs this for TCP and TLS-terminating servers, not passthrough ones.
    let missed = if kind == ServerKind::Passthrough {
        "no `tls` route applies".to_string()
    } else {
        format!("`gateway {gw}:{} listener missed network filter`", s.port.number)
    };
    if all.is_empty() {
        // Maybe a VirtualService meant this gateway but names it wrongly.
        let near: Vec<(&VirtualService, String)> = cfg
            .virtual_services
            .values()
            .flat_map(|v| {
                v.spec
                    .gateways
                    .iter()
                    .filter(|r| r.as_str() != "mesh")
                    .map(move |r| (v, resolve_gateway_ref(&v.metadata.namespace, r)))
            })
            .filter(|(v, resolved)| {
                let name = resolved.rsplit('/').next().unwrap_or("");
                name == a.gateway.metadata.name
                    || v.spec
                        .hosts
                        .iter()
                        .any(|h| s.hosts.iter().any(|sh| hosts_overlap(&strip_ns(sh), h)))
            })
            .collect();
        let (message, objects, fix) = match near.first() {
            Some((v, resolved)) => (
                format!(
                    "no VirtualService is bound to Gateway {gw}: {} lists `{resolved}` in `gateways:`, which is not this Gateway ({missed})",
                    vs_name(v)
                ),
                vec![format!("Gateway {gw}"), format!("VirtualService {}", vs_name(v))],
                format!(
                    "in VirtualService {}, set `gateways: [{gw}]` (a short name is resolved in the VirtualService's own namespace, {})",
                    vs_name(v),
                    v.metadata.namespace
                ),
            ),
            None => (
                format!("no VirtualService is bound to Gateway {gw} ({missed}; `no virtual service bound to gateway: {gw}`)"),
                vec![format!("Gateway {gw}")],
                format!(
                    "create a VirtualService with `gateways: [{gw}]`, hosts matching {:?} and a `{}` route",
                    s.hosts,
                    if kind == ServerKind::Passthrough { "tls" } else { "tcp" }
                ),
            ),
        };
        ex.findings.push(ExplainFinding::new(
            findings::GATEWAY_NO_VIRTUAL_SERVICE,
            Some(listener),
            message,
            objects,
            fix,
        ));
        return;
    }
    for b in all.iter().filter(|b| !b.visible) {
        ex.findings.push(ExplainFinding::new(
            findings::GATEWAY_VS_NOT_EXPORTED,
            Some(listener),
            format!(
                "VirtualService {} is bound to Gateway {gw}, but its `exportTo: {:?}` hides it from the gateway's namespace",
                vs_name(b.vs),
                b.vs.spec.export_to
            ),
            vec![format!("VirtualService {}", vs_name(b.vs)), format!("Gateway {gw}")],
            format!(
                "add the gateway pod's namespace to `exportTo` of {} (or move it there)",
                vs_name(b.vs)
            ),
        ));
    }
    let visible: Vec<&Binding> = all.iter().filter(|b| b.visible).collect();
    if !visible.is_empty() && with_hosts.is_empty() {
        for b in &visible {
            ex.findings.push(ExplainFinding::new(
                findings::GATEWAY_HOSTS_MISMATCH,
                Some(listener),
                format!(
                    "VirtualService {} is bound to Gateway {gw}, but none of its hosts {:?} matches the server's hosts {:?}",
                    vs_name(b.vs),
                    b.vs.spec.hosts,
                    s.hosts
                ),
                vec![format!("VirtualService {}", vs_name(b.vs)), format!("Gateway {gw}")],
                format!(
                    "make the hosts agree: add {:?} to `hosts` of {} or to the server's `hosts`",
                    s.hosts.iter().map(|h| strip_ns(h)).collect::<Vec<_>>(),
                    vs_name(b.vs)
                ),
            ));
        }
        return;
    }
    for (b, _) in with_hosts {
        let v = b.vs;
        let ns = &v.metadata.namespace;
        match kind {
            ServerKind::TlsTerminatedTcp if v.spec.tcp.is_empty() && !v.spec.tls.is_empty() => {
                ex.findings.push(ExplainFinding::new(
                    findings::GATEWAY_TLS_ROUTE_ON_TERMINATED_SERVER,
                    Some(listener),
                    format!(
                        "{label} terminates TLS (`tls.mode: {mode}`, protocol {}), so istiod builds its chain only from `tcp` routes; VirtualService {} has only `tls` routes, which are consulted for PASSTHROUGH servers only — the SNI is already consumed by the termination ({missed})",
                        s.port.protocol,
                        vs_name(v)
                    ),
                    vec![format!("VirtualService {}", vs_name(v)), format!("Gateway {gw}")],
                    format!(
                        "change the `tls:` block of VirtualService {} to `tcp: - match: - port: {} route: {}` (or make the server `tls.mode: PASSTHROUGH` if the gateway should not terminate)",
                        vs_name(v),
                        s.port.number,
                        route_text(&v.spec.tls[0])
                    ),
                ));
            }
            ServerKind::Passthrough if v.spec.tls.is_empty() && !v.spec.tcp.is_empty() => {
                ex.findings.push(ExplainFinding::new(
                    findings::GATEWAY_ROUTE_KIND_MISMATCH,
                    Some(listener),
                    format!(
                        "{label} is PASSTHROUGH: istiod builds one chain per `tls` route with `sniHosts`; VirtualService {} has only `tcp` routes ({missed})",
                        vs_name(v)
                    ),
                    vec![format!("VirtualService {}", vs_name(v)), format!("Gateway {gw}")],
                    format!(
                        "change the `tcp:` block of {} to `tls: - match: - port: {} sniHosts: {:?} route: {}`",
                        vs_name(v),
                        s.port.number,
                        v.spec.hosts,
                        route_text(&v.spec.tcp[0])
                    ),
                ));
            }
            ServerKind::Tcp | ServerKind::TlsTerminatedTcp if v.spec.tcp.is_empty() => {
                let has = if v.spec.http.is_empty() {
                    "no `tcp` route"
                } else {
                    "only `http` routes"
                };
                ex.findings.push(ExplainFinding::new(
                    findings::GATEWAY_ROUTE_KIND_MISMATCH,
                    Some(listener),
                    format!(
                        "{label} carries {} traffic: istiod needs a `tcp` route, and VirtualService {} has {has} ({missed})",
                        s.port.protocol,
                        vs_name(v)
                    ),
                    vec![format!("VirtualService {}", vs_name(v)), format!("Gateway {gw}")],
                    format!("add `tcp: - match: - port: {} route: …` to {}", s.port.number, vs_name(v)),
                ));
            }
            _ => {
                // Rules of the right kind exist but their match conditions fail.
                let rules = if kind == ServerKind::Passthrough {
                    &v.spec.tls
                } else {
                    &v.spec.tcp
                };
                let ports: Vec<u32> = rules
                    .iter()
                    .flat_map(|r| r.matches.iter().filter_map(|m| m.port))
                    .collect();
                let why = if !ports.is_empty() && !ports.contains(&s.port.number) {
                    format!(
                        "their `match.port` {ports:?} is not the server's port {} (match on the Gateway server port, not the targetPort {})",
                        s.port.number, a.port
                    )
                } else {
                    "their `match.gateways` or `sniHosts` leave this server out".to_string()
                };
                ex.findings.push(ExplainFinding::new(
                    findings::GATEWAY_RULE_MATCH_MISMATCH,
                    Some(listener),
                    format!(
                        "VirtualService {} has {} rules for {label}, but {why} ({missed})",
                        vs_name(v),
                        if kind == ServerKind::Passthrough { "tls" } else { "tcp" }
                    ),
                    vec![format!("VirtualService {}", vs_name(v)), format!("Gateway {gw}")],
                    format!("set `match: - port: {}` in {} ({ns})", s.port.number, vs_name(v)),
                ));
            }
        }
    }
}

fn route_text(r: &RouteRule) -> String {
    match r.route.first() {
        Some(d) => {
            let port = d
                .destination
                .port
                .as_ref()
                .map(|p| format!(", port: {{number: {}}}", p.number))
                .unwrap_or_default();
            format!("- destination: {{host: {}{port}}}", d.destination.host)
        }
        None => "…".into(),
    }
}

/// Checks that need only the dump: expected ports, chainless and rejected
/// listeners; and prediction versus dump.
fn dump_checks(input: &ExplainInput, ex: &mut Explanation) {
    for ix in input.dumps {
        if let Some(message) = super::summary::gateway_without_listeners(ix) {
            let with_config = input.config.is_some();
            ex.findings.push(ExplainFinding::new(
                findings::GATEWAY_NO_LDS_LISTENERS,
                None,
                format!("{}: {message}", ix.source),
                Vec::new(),
                if with_config {
                    "the other findings say which Gateway servers made no chain and why".into()
                } else {
                    findings::GATEWAY_NO_LDS_LISTENERS.fix.to_string()
                },
            ));
        }
        for port in input.expect_ports {
            let present = ix.listeners.iter().any(|l| {
                matches!(l.state, State::Active | State::Static)
                    && l.listener().is_some_and(|x| {
                        x.address
                            .as_ref()
                            .map(super::inventory::format_address)
                            .is_some_and(|a| a.ends_with(&format!(":{port}")))
                    })
            });
            if !present {
                ex.findings.push(ExplainFinding::new(
                    findings::GATEWAY_LISTENER_MISSING,
                    Some(&format!("0.0.0.0_{port}")),
                    format!(
                        "{}: no active listener on port {port}. A gateway listener is missing when istiod built it with zero chains (its log says `gateway omitting listener`), skipped a privileged port, or Envoy rejected it",
                        ix.source
                    ),
                    Vec::new(),
                    "give --istio (Gateways, VirtualServices) and --istiod-log to find which; check the port is the Service targetPort".into(),
                ));
            }
        }
        for l in &ix.listeners {
            if let Some(r) = &l.rejection {
                ex.findings.push(ExplainFinding::new(
                    findings::LISTENER_REJECTED,
                    Some(&l.name),
                    format!(
                        "Envoy rejected the last update of {}: {}",
                        l.name,
                        r.details.lines().next().unwrap_or("")
                    ),
                    Vec::new(),
                    findings::LISTENER_REJECTED.fix.to_string(),
                ));
            }
            if let Some(x) = l.listener() {
                if l.state != State::Rejected
                    && x.filter_chains.is_empty()
                    && x.default_filter_chain.is_none()
                    && x.filter_chain_matcher.is_none()
                    && x.api_listener.is_none()
                    && x.listener_specifier.is_none()
                {
                    ex.findings.push(ExplainFinding::new(
                        findings::LISTENER_WITHOUT_CHAINS,
                        Some(&l.name),
                        format!("{} has no filter chains and no default chain: every connection is closed (Envoy refuses such a listener over xDS: `no filter chains specified`)", l.name),
                        Vec::new(),
                        findings::LISTENER_WITHOUT_CHAINS.fix.to_string(),
                    ));
                }
            }
        }
    }
    // Prediction versus dump.
    let mut extra = Vec::new();
    for le in &ex.listeners {
        match (le.present, le.predicted_chains) {
            (Some(false), n) if n > 0 => extra.push(ExplainFinding::new(
                findings::GATEWAY_LISTENER_MISSING,
                Some(&le.name),
                format!(
                    "the config predicts {} with {n} chain(s) on {}, but the dump has no such listener: the push did not reach the proxy, or Envoy rejected it",
                    le.name, le.workload
                ),
                vec![format!("Gateway {}", le.gateway)],
                "compare the dump's listener version with istiod's (proxy-status) and look for NACKs (`egress-xray nack`)".into(),
            )),
            (Some(true), 0) => extra.push(ExplainFinding::new(
                findings::GATEWAY_PREDICTION_DIFFERS,
                Some(&le.name),
                format!("the config predicts no chains for {}, but the dump has it: the config given is not what istiod used", le.name),
                vec![format!("Gateway {}", le.gateway)],
                "check that --istio holds the live objects (kubectl get gateways,virtualservices -A -o yaml)".into(),
            )),
            (Some(true), n) if le.present_chains.is_some_and(|p| p != n) => extra.push(ExplainFinding::new(
                findings::GATEWAY_PREDICTION_DIFFERS,
                Some(&le.name),
                format!(
                    "the config predicts {n} chain(s) for {}, the dump holds {}",
                    le.name,
                    le.present_chains.unwrap_or(0)
                ),
                vec![format!("Gateway {}", le.gateway)],
                "compare `egress-xray paths DUMP --listener NAME` with the predicted chains".into(),
            )),
            _ => {}
        }
    }
    // Chains: predicted SNI → destination versus the dump's.
    for le in &ex.listeners {
        let Some(ix) = input.dumps.iter().find(|ix| {
            ix.identity
                .as_ref()
                .and_then(|i| i.pod.as_deref())
                .is_some_and(|p| p == le.workload)
        }) else {
            continue;
        };
        let Some(l) = ix
            .listeners
            .iter()
            .find(|l| l.name == le.name && matches!(l.state, State::Active | State::Static))
            .and_then(|l| l.listener())
        else {
            continue;
        };
        for c in &le.chains {
            if !c.destination.starts_with("outbound|") {
                continue;
            }
            let hit = l.filter_chains.iter().any(|fc| {
                let m = fc.filter_chain_match.clone().unwrap_or_default();
                m.server_names == c.server_names
                    && super::inventory::describe_destination(fc) == format!("Cluster: {}", c.destination)
            });
            if !hit {
                extra.push(ExplainFinding::new(
                    findings::GATEWAY_PREDICTION_DIFFERS,
                    Some(&le.name),
                    format!(
                        "predicted chain SNI {:?} → {} is not in the dump's {}",
                        c.server_names, c.destination, le.name
                    ),
                    c.from.iter().cloned().collect(),
                    "compare `egress-xray paths DUMP --listener NAME` with the predicted chains".into(),
                ));
            }
        }
    }
    ex.findings.extend(extra);
}

/// Ties istiod's log lines to listeners and servers.
fn log_checks(input: &ExplainInput, ex: &mut Explanation) {
    for line in input.log {
        let (listener, what) = match &line.event {
            GatewayLogEvent::ListenerOmitted { listener, .. } => {
                (Some(listener.clone()), format!("istiod omitted listener {listener} (zero filter chains)"))
            }
            GatewayLogEvent::MissedNetworkFilter { gateway, port } => {
                let l = ex
                    .listeners
                    .iter()
                    .find(|le| le.gateway.split(',').any(|g| g == gateway) && le.chains.is_empty())
                    .map(|le| le.name.clone());
                (l, format!("istiod found no route for server port {port} of Gateway {gateway}"))
            }
            GatewayLogEvent::NoVirtualService { gateway } => (None, format!("no VirtualService is bound to Gateway {gateway}")),
            GatewayLogEvent::DuplicateSni {
                virtual_service,
                gateway,
                hosts,
                port,
                ..
            } => (
                None,
                format!("istiod skipped a rule of VirtualService {virtual_service} on port {port} of {gateway}: duplicate SNI {hosts}"),
            ),
            GatewayLogEvent::PrivilegedPort { port, .. } => (
                Some(format!("0.0.0.0_{port}")),
                format!("istiod skipped privileged port {port} (unprivileged gateway pod)"),
            ),
            GatewayLogEvent::ZeroListeners { node } => (None, format!("istiod built no listeners at all for {node}")),
            GatewayLogEvent::ErrorsFollow { count } => (None, format!("istiod reported {count} gateway error(s) on the lines that follow")),
        };
        // Does the prediction (when there is one) say the same?
        let predicted = listener
            .as_ref()
            .and_then(|l| ex.listeners.iter().find(|le| &le.name == l));
        let verdict = match (&line.event, predicted) {
            (GatewayLogEvent::ListenerOmitted { .. } | GatewayLogEvent::MissedNetworkFilter { .. }, Some(le)) => {
                if le.predicted_chains == 0 {
                    " (agrees with the prediction)".to_string()
                } else {
                    format!(
                        " (contradicts the prediction of {} chain(s): the config given is not the one istiod used)",
                        le.predicted_chains
                    )
                }
            }
            (GatewayLogEvent::PrivilegedPort { .. }, _) => {
                let l = listener.as_deref();
                if ex
                    .findings
                    .iter()
                    .any(|f| f.code == findings::GATEWAY_PRIVILEGED_PORT.code && f.listener.as_deref() == l)
                {
                    " (agrees with the prediction)".into()
                } else {
                    String::new()
                }
            }
            _ => String::new(),
        };
        let related = listener.as_ref().is_some_and(|l| {
            ex.findings
                .iter()
                .any(|f| f.listener.as_deref() == Some(l) && f.code != findings::ISTIOD_LOG_EVIDENCE.code)
        });
        let mut f = ExplainFinding::new(
            findings::ISTIOD_LOG_EVIDENCE,
            listener.as_deref(),
            format!("{what} — {}:{}{verdict}", line.file, line.line),
            Vec::new(),
            if related {
                "see the findings for the same listener".into()
            } else if input.config.is_none() {
                "give the Istio config (--istio, --k8s) to see why".into()
            } else {
                "the log records what istiod did; compare it with the config given".into()
            },
        );
        // A gateway without any listener is a fault, not a remark.
        if matches!(line.event, GatewayLogEvent::ZeroListeners { .. }) {
            f.severity = Severity::Warning;
        }
        ex.findings.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_overlap_rules() {
        assert!(hosts_overlap("*.wikipedia.org", "www.wikipedia.org"));
        assert!(hosts_overlap("www.wikipedia.org", "*"));
        assert!(hosts_overlap("*.org", "*.wikipedia.org"));
        assert!(!hosts_overlap("en.wikipedia.org", "www.wikipedia.org"));
    }

    #[test]
    fn gateway_references() {
        assert_eq!(resolve_gateway_ref("mesh-test", "egw"), "mesh-test/egw");
        assert_eq!(resolve_gateway_ref("mesh-test", "egress/egw"), "egress/egw");
        assert_eq!(
            resolve_gateway_ref("mesh-test", "egw.egress.svc.cluster.local"),
            "egress/egw"
        );
    }
}
