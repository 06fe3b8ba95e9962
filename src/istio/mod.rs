//! Istio and Kubernetes objects as users hand them to us (`--istio`,
//! `--k8s`): YAML or JSON files or directories, multi-document, `kind:
//! List`, `kubectl get -o yaml` output. Only the fields that decide gateway
//! listeners are read; everything else is ignored. Later files override
//! earlier objects of the same kind, namespace and name, so a broken variant
//! can be laid over a base configuration.

pub mod log;
pub mod nacklog;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::input::InputError;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta {
    pub name: String,
    pub namespace: String,
    #[serde(deserialize_with = "lenient_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient_map")]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339; istiod orders Gateways and VirtualServices by it (older
    /// first, then by name and namespace). Pod templates hold `null`.
    #[serde(deserialize_with = "lenient_string")]
    pub creation_timestamp: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Gateway {
    pub metadata: Meta,
    pub spec: GatewaySpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewaySpec {
    pub selector: BTreeMap<String, String>,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Server {
    pub port: ServerPort,
    pub hosts: Vec<String>,
    pub tls: Option<ServerTls>,
    pub bind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerPort {
    pub number: u32,
    pub protocol: String,
    pub name: String,
    pub target_port: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerTls {
    pub mode: String,
    pub credential_name: String,
    pub https_redirect: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VirtualService {
    pub metadata: Meta,
    pub spec: VirtualServiceSpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    pub export_to: Vec<String>,
    pub http: Vec<RouteRule>,
    pub tls: Vec<RouteRule>,
    pub tcp: Vec<RouteRule>,
}

/// An `http`, `tls` or `tcp` rule: the fields gateway listeners depend on.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouteRule {
    #[serde(rename = "match")]
    pub matches: Vec<RuleMatch>,
    pub route: Vec<RouteDestination>,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RuleMatch {
    pub sni_hosts: Vec<String>,
    pub port: Option<u32>,
    pub gateways: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouteDestination {
    pub destination: Destination,
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Destination {
    pub host: String,
    pub subset: String,
    pub port: Option<PortSelector>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PortSelector {
    pub number: u32,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceEntry {
    pub metadata: Meta,
    pub spec: ServiceEntrySpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    pub hosts: Vec<String>,
    pub export_to: Vec<String>,
    pub ports: Vec<ServerPort>,
    pub resolution: String,
    pub location: String,
    pub endpoints: Vec<WorkloadEntrySpec>,
    pub workload_selector: Option<WorkloadSelector>,
}

/// A ServiceEntry endpoint (the fields that make it a gateway's service
/// instance).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WorkloadEntrySpec {
    pub address: String,
    pub labels: BTreeMap<String, String>,
    pub ports: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WorkloadSelector {
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DestinationRule {
    pub metadata: Meta,
    pub spec: DestinationRuleSpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    pub host: String,
    pub export_to: Vec<String>,
    pub subsets: Vec<Subset>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Subset {
    pub name: String,
}

/// A Kubernetes Service (ports and selector).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Service {
    pub metadata: Meta,
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePort {
    pub name: String,
    pub port: u32,
    /// A number or a container port name.
    pub target_port: Option<serde_json::Value>,
    pub protocol: String,
}

impl ServicePort {
    /// The numeric target port (the port itself when unset or named).
    pub fn target(&self) -> u32 {
        match &self.target_port {
            Some(serde_json::Value::Number(n)) => n.as_u64().map_or(self.port, |n| n as u32),
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(self.port),
            _ => self.port,
        }
    }
}

/// A gateway workload: a Deployment's pod template or a Pod.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Pod IPs (`status.podIP(s)`), which tie ServiceEntry endpoints to it.
    pub ips: Vec<String>,
    /// Whether the pod spec (containers) was given: without it the proxy's
    /// environment is unknown.
    pub spec_known: bool,
    /// Environment of the proxy container (`istio-proxy`, else all
    /// containers), where `ISTIO_META_*` node metadata is set.
    pub env: BTreeMap<String, String>,
    /// Named container ports, for Service `targetPort` names.
    pub container_ports: BTreeMap<String, u32>,
    /// Whether the pod runs an Istio gateway (router) proxy, by its spec,
    /// injection template or well-known labels.
    pub looks_like_gateway: bool,
}

/// Everything loaded, keyed by (namespace, name) per kind.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub gateways: BTreeMap<(String, String), Gateway>,
    pub virtual_services: BTreeMap<(String, String), VirtualService>,
    pub service_entries: BTreeMap<(String, String), ServiceEntry>,
    pub destination_rules: BTreeMap<(String, String), DestinationRule>,
    pub sidecars: usize,
    pub services: BTreeMap<(String, String), Service>,
    pub workloads: BTreeMap<(String, String), Workload>,
    /// Object kinds read but not used (counted, not errors).
    pub ignored: BTreeMap<String, usize>,
    pub files: Vec<String>,
    /// What a directory walk passed over (links to folders or outside the
    /// directory, repeats), said to the user.
    pub skipped: Vec<String>,
    /// Objects a later file replaced (same kind, namespace and name), said
    /// to the user with both files.
    pub overrides: Vec<String>,
    /// Where each object was read: (kind, namespace, name) → file.
    sources: BTreeMap<(String, String, String), String>,
}

/// The Istio and Kubernetes objects of `--istio`/`--k8s` paths; None when
/// no path is given. The one loader of every command that reads config.
pub fn load_config(paths: &[String]) -> Result<Option<Config>, InputError> {
    if paths.is_empty() {
        Ok(None)
    } else {
        Config::load(paths).map(Some)
    }
}

/// Log files as read for every command: each file's text (bounded per
/// line like every input) and a note for what reading cut.
#[derive(Debug, Default)]
pub struct LogFiles {
    pub files: Vec<(String, String)>,
    pub notes: Vec<String>,
}

impl LogFiles {
    /// Reads each file; only a file that cannot be read at all is an error.
    pub fn read(files: &[String]) -> Result<Self, InputError> {
        let mut out = LogFiles::default();
        for f in files {
            out.push(f)?;
        }
        Ok(out)
    }

    /// Reads one more file and returns its text.
    pub fn push(&mut self, file: &str) -> Result<&str, InputError> {
        let (text, note) = crate::input::read_log(file)?;
        self.notes.extend(note);
        self.files.push((file.to_string(), text));
        Ok(&self.files.last().expect("just pushed").1)
    }

    /// istiod's gateway-building lines of every file.
    pub fn gateway_lines(&self) -> Vec<log::LogLine> {
        self.files.iter().flat_map(|(f, t)| log::parse(f, t)).collect()
    }

    /// (file, line count) of every file.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        self.files.iter().map(|(f, t)| (f.clone(), t.lines().count())).collect()
    }

    /// Adds a log already read (an archive entry).
    pub fn push_text(&mut self, label: String, text: String) {
        self.files.push((label, text));
    }

    pub fn extend(&mut self, other: LogFiles) {
        self.files.extend(other.files);
        self.notes.extend(other.notes);
    }
}

/// What archives given as dumps hold beside the dumps: proxy logs (with
/// their proxy, `pod.namespace`), istiod logs, istiod's syncz and Istio
/// objects — so that nack, explain and isolation need no extra flags.
#[derive(Debug, Default)]
pub struct ArchiveExtras {
    pub proxy_logs: Vec<(String, String, String)>,
    pub istiod_logs: LogFiles,
    pub syncz: Vec<(String, String)>,
    pub config: Option<Config>,
    /// `istioctl analyze` lines (`Error [IST0101] (...) ...`).
    pub analyze: Vec<String>,
}

impl ArchiveExtras {
    pub fn read(paths: &[String], proxy_selected: impl Fn(&str) -> bool) -> Result<Self, InputError> {
        use crate::input::archive::{self, Role};
        let mut out = ArchiveExtras::default();
        let mut config = Config::default();
        let mut has_config = false;
        for path in paths {
            // The dumps are the dump loader's: only the rest is held here.
            // A damaged archive is already reported by the dump loader.
            let contents = match archive::open(path, |r| !r.is_dump()) {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(e) => {
                    out.istiod_logs
                        .notes
                        .push(format!("beside the dumps, nothing read: {e}"));
                    continue;
                }
            };
            for e in contents.entries {
                let label = format!("{path}#{}", e.path);
                let text = || String::from_utf8_lossy(&e.bytes).into_owned();
                match &e.role {
                    Role::ProxyLog { proxy } if proxy_selected(proxy) => {
                        let (ns, pod) = proxy.split_once('/').unwrap_or(("", proxy));
                        out.proxy_logs.push((format!("{pod}.{ns}"), label, text()));
                    }
                    Role::IstiodLog => out.istiod_logs.push_text(label, text()),
                    Role::Syncz => out.syncz.push((label, text())),
                    Role::Analyze => out.analyze.extend(
                        text()
                            .lines()
                            .filter(|l| l.starts_with("Error") || l.starts_with("Warning") || l.starts_with("Info"))
                            .map(str::to_string),
                    ),
                    Role::IstioConfig => {
                        // One unreadable object file does not hide the rest.
                        match config.load_text(&label, &text()) {
                            Ok(()) => has_config = true,
                            Err(err) => out.istiod_logs.notes.push(format!("{label}: not read: {err}")),
                        }
                    }
                    _ => {}
                }
            }
        }
        if has_config {
            out.config = Some(config);
        }
        Ok(out)
    }
}

impl Config {
    /// Loads files or directories (recursively, `.yaml`, `.yml`, `.json`).
    pub fn load(paths: &[String]) -> Result<Self, InputError> {
        let mut cfg = Config::default();
        for p in paths {
            cfg.load_path(Path::new(p))?;
        }
        Ok(cfg)
    }

    fn load_path(&mut self, p: &Path) -> Result<(), InputError> {
        if p.is_dir() {
            let walk = crate::input::walk_dir(p)?;
            self.skipped.extend(walk.skipped);
            for e in walk.files {
                let ext = e.extension().and_then(|x| x.to_str()).unwrap_or("");
                if matches!(ext, "yaml" | "yml" | "json") {
                    self.load_path(&e)?;
                }
            }
            return Ok(());
        }
        let file = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|e| InputError::Io {
            file: file.clone(),
            source: e,
        })?;
        self.load_text(&file, &text)?;
        self.files.push(file);
        Ok(())
    }

    /// Loads every object of one YAML/JSON text.
    pub fn load_text(&mut self, file: &str, text: &str) -> Result<(), InputError> {
        crate::input::yaml_guard(text).map_err(|msg| InputError::Yaml {
            file: file.to_string(),
            msg,
        })?;
        // One node budget for all documents of the text (see input::yaml).
        let left = std::cell::Cell::new(crate::input::yaml::budget_for(text.len()));
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let seed = crate::input::yaml::Budgeted { left: &left };
            let value = serde::de::DeserializeSeed::deserialize(seed, doc).map_err(|e| InputError::Yaml {
                file: file.to_string(),
                msg: format!("document {}: {e}", i + 1),
            })?;
            self.add_value(file, value)?;
        }
        Ok(())
    }

    /// Notes where an object came from, and says so when it replaces one
    /// read from another file (or earlier in the same file).
    fn record(&mut self, kind: &str, ns: &str, name: &str, file: &str) {
        let key = (kind.to_string(), ns.to_string(), name.to_string());
        if let Some(before) = self.sources.insert(key, file.to_string()) {
            self.overrides.push(if before == file {
                format!("{kind} {ns}/{name} appears twice in {file}: the later one is used")
            } else {
                format!("{kind} {ns}/{name} in {file} replaces the one in {before}")
            });
        }
    }

    fn add_value(&mut self, file: &str, value: serde_json::Value) -> Result<(), InputError> {
        if value.is_null() {
            return Ok(());
        }
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_string();
        if kind == "List" || kind.ends_with("List") {
            if let Some(items) = value.get("items").and_then(|i| i.as_array()) {
                for item in items.clone() {
                    self.add_value(file, item)?;
                }
            }
            return Ok(());
        }
        let api = value
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string();
        let bad = |e: serde_json::Error| InputError::Resource {
            file: file.to_string(),
            path: kind.clone(),
            expected: format!("a Kubernetes {kind}"),
            msg: e.to_string(),
        };
        let key = |m: &Meta| (ns_or_default(&m.namespace), m.name.clone());
        let istio = api.starts_with("networking.istio.io/");
        match kind.as_str() {
            "Gateway" if istio => {
                let mut g: Gateway = serde_json::from_value(value).map_err(bad)?;
                g.metadata.namespace = ns_or_default(&g.metadata.namespace);
                self.record("Gateway", &g.metadata.namespace, &g.metadata.name, file);
                self.gateways.insert(key(&g.metadata), g);
            }
            "VirtualService" if istio => {
                let mut v: VirtualService = serde_json::from_value(value).map_err(bad)?;
                v.metadata.namespace = ns_or_default(&v.metadata.namespace);
                self.record("VirtualService", &v.metadata.namespace, &v.metadata.name, file);
                self.virtual_services.insert(key(&v.metadata), v);
            }
            "ServiceEntry" if istio => {
                let mut v: ServiceEntry = serde_json::from_value(value).map_err(bad)?;
                v.metadata.namespace = ns_or_default(&v.metadata.namespace);
                self.record("ServiceEntry", &v.metadata.namespace, &v.metadata.name, file);
                self.service_entries.insert(key(&v.metadata), v);
            }
            "DestinationRule" if istio => {
                let mut v: DestinationRule = serde_json::from_value(value).map_err(bad)?;
                v.metadata.namespace = ns_or_default(&v.metadata.namespace);
                self.record("DestinationRule", &v.metadata.namespace, &v.metadata.name, file);
                self.destination_rules.insert(key(&v.metadata), v);
            }
            "Sidecar" if istio => self.sidecars += 1,
            "Service" if api == "v1" => {
                let mut v: Service = serde_json::from_value(value).map_err(bad)?;
                v.metadata.namespace = ns_or_default(&v.metadata.namespace);
                self.record("Service", &v.metadata.namespace, &v.metadata.name, file);
                self.services.insert(key(&v.metadata), v);
            }
            "Deployment" | "StatefulSet" | "DaemonSet" | "Pod" => {
                let w = workload(&kind, &value).map_err(bad)?;
                self.record(&kind, &w.namespace, &w.name, file);
                self.workloads
                    .insert((w.namespace.clone(), format!("{kind}/{}", w.name)), w);
            }
            _ => {
                *self
                    .ignored
                    .entry(if kind.is_empty() { "(no kind)".into() } else { kind })
                    .or_insert(0) += 1
            }
        }
        Ok(())
    }
}

/// A Deployment's pod template or a Pod, with what istiod reads of it.
fn workload(kind: &str, value: &serde_json::Value) -> Result<Workload, serde_json::Error> {
    let meta: Meta = value
        .get("metadata")
        .cloned()
        .map(serde_json::from_value)
        .transpose()?
        .unwrap_or_default();
    let (template_meta, pod_spec) = if kind == "Pod" {
        (meta.clone(), value.get("spec"))
    } else {
        let t: Meta = value
            .pointer("/spec/template/metadata")
            .cloned()
            .map(serde_json::from_value)
            .transpose()?
            .unwrap_or_default();
        (t, value.pointer("/spec/template/spec"))
    };
    let containers: Vec<&serde_json::Value> = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(|c| c.as_array())
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).unwrap_or("").to_string();
    let proxy: Vec<&serde_json::Value> = {
        let named: Vec<&serde_json::Value> = containers
            .iter()
            .copied()
            .filter(|c| text(c.get("name")) == "istio-proxy")
            .collect();
        if named.is_empty() {
            containers.clone()
        } else {
            named
        }
    };
    let mut env = BTreeMap::new();
    for c in &proxy {
        for e in c.get("env").and_then(|e| e.as_array()).into_iter().flatten() {
            // A value from a reference (valueFrom) is unknown here: left out.
            if let Some(v) = e.get("value") {
                let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                env.insert(text(e.get("name")), v);
            }
        }
    }
    let mut container_ports = BTreeMap::new();
    for c in &containers {
        for p in c.get("ports").and_then(|p| p.as_array()).into_iter().flatten() {
            if let (Some(name), Some(n)) = (p.get("name").and_then(|n| n.as_str()), p.get("containerPort")) {
                if let Some(n) = n.as_u64() {
                    container_ports.insert(name.to_string(), n as u32);
                }
            }
        }
    }
    let args: Vec<String> = proxy
        .iter()
        .flat_map(|c| c.get("args").and_then(|a| a.as_array()).into_iter().flatten())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let mut ips: Vec<String> = Vec::new();
    if kind == "Pod" {
        if let Some(ip) = value.pointer("/status/podIP").and_then(|i| i.as_str()) {
            ips.push(ip.to_string());
        }
        for ip in value
            .pointer("/status/podIPs")
            .and_then(|i| i.as_array())
            .into_iter()
            .flatten()
        {
            let ip = text(ip.get("ip"));
            if !ip.is_empty() && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    let labels = template_meta.labels.clone();
    let looks_like_gateway = args.iter().any(|a| a == "router")
        || template_meta
            .annotations
            .get("inject.istio.io/templates")
            .is_some_and(|t| t.split(',').any(|t| t.trim() == "gateway"))
        || labels.contains_key("gateway.networking.k8s.io/gateway-name")
        || labels.contains_key("istio.io/gateway-name")
        || labels.get("istio").is_some_and(|v| v.contains("gateway"));
    Ok(Workload {
        kind: kind.to_string(),
        namespace: ns_or_default(&meta.namespace),
        name: meta.name.clone(),
        labels,
        ips,
        spec_known: !containers.is_empty(),
        env,
        container_ports,
        looks_like_gateway,
    })
}

/// A string map as Kubernetes objects hold it in the wild: null values
/// (seen in `kubectl get -o yaml` of some controllers) read as empty,
/// numbers and booleans as their text.
fn lenient_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// A string that may be null (read as empty).
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn ns_or_default(ns: &str) -> String {
    if ns.is_empty() {
        "default".into()
    } else {
        ns.to_string()
    }
}
