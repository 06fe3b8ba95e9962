//! Bootstrap view (who the proxy is, which Envoy and Istio it runs, where
//! it gets its configuration) and the ECDS view (extension configs pushed on
//! their own).

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{
    api_config_source::ApiType, config_source::ConfigSourceSpecifier, grpc_service::TargetSpecifier, node,
    ApiConfigSource, ConfigSource,
};
use envoy_types::pb::google::protobuf::{value::Kind, Struct, Value};
use serde::Serialize;

use crate::model::util::struct_str;
use crate::model::{Identity, Index, Rejection};

#[derive(Debug, Clone, Default, Serialize)]
pub struct BootstrapView {
    /// Node id, cluster, namespace, pod, proxy type, IP, Istio and Envoy
    /// versions, user agent (as the summary shows them).
    #[serde(flatten)]
    pub identity: Identity,
    pub locality: String,
    /// istio/proxy commit (`ISTIO_PROXY_SHA`, without its `istio-proxy:` prefix).
    pub istio_proxy_version: Option<String>,
    /// istioctl's form: `1.18.3/Clean/RELEASE/BoringSSL` when the build
    /// metadata is there.
    pub envoy_build: Option<String>,
    /// Where listeners, clusters and the ADS stream come from
    /// (`ads`, `grpc xds-grpc`, `path /etc/envoy/lds.yaml`).
    pub xds: BTreeMap<String, String>,
    pub admin_address: String,
    pub static_listeners: usize,
    pub static_clusters: usize,
    pub static_secrets: usize,
    /// The node's metadata, nested values as compact JSON.
    pub metadata: BTreeMap<String, String>,
    pub last_updated: Option<String>,
}

/// The bootstrap of a dump, or None when the dump has no bootstrap section.
pub fn bootstrap(ix: &Index) -> Option<BootstrapView> {
    let b = ix.bootstrap.as_ref()?;
    let id = ix.identity.clone().unwrap_or_default();
    let node = b.node.clone().unwrap_or_default();
    let meta = node.metadata.as_ref();
    let envoy_build = envoy_build(&node);
    let mut xds = BTreeMap::new();
    if let Some(d) = &b.dynamic_resources {
        if let Some(ads) = &d.ads_config {
            xds.insert("ads".to_string(), api_source(ads));
        }
        for (k, src) in [("lds", &d.lds_config), ("cds", &d.cds_config)] {
            if let Some(s) = src {
                xds.insert(k.to_string(), config_source(s));
            }
        }
    }
    let statics = b.static_resources.as_ref();
    Some(BootstrapView {
        identity: id,
        locality: node
            .locality
            .as_ref()
            .map(|l| {
                [l.region.as_str(), l.zone.as_str(), l.sub_zone.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default(),
        istio_proxy_version: meta
            .and_then(|m| struct_str(m, "ISTIO_PROXY_SHA"))
            .map(|s| s.trim_start_matches("istio-proxy:").to_string()),
        envoy_build,
        xds,
        admin_address: b
            .admin
            .as_ref()
            .and_then(|a| a.address.as_ref())
            .map(super::inventory::format_address)
            .unwrap_or_default(),
        static_listeners: statics.map_or(0, |s| s.listeners.len()),
        static_clusters: statics.map_or(0, |s| s.clusters.len()),
        static_secrets: statics.map_or(0, |s| s.secrets.len()),
        metadata: meta
            .map(|m| m.fields.iter().map(|(k, v)| (k.clone(), value_text(v))).collect())
            .unwrap_or_default(),
        last_updated: ix.bootstrap_updated.clone(),
    })
}

/// istioctl's Envoy version string: `1.18.3/Clean/RELEASE/BoringSSL`, or
/// just the version when the build metadata is absent.
fn envoy_build(node: &envoy_types::pb::envoy::config::core::v3::Node) -> Option<String> {
    match &node.user_agent_version_type {
        Some(node::UserAgentVersionType::UserAgentBuildVersion(bv)) => {
            let v = bv.version.unwrap_or_default();
            let version = format!("{}.{}.{}", v.major_number, v.minor_number, v.patch);
            let meta = bv.metadata.as_ref().filter(|m| !m.fields.is_empty());
            let part = |k: &str| meta.and_then(|m| struct_str(m, k)).unwrap_or("");
            Some(match meta {
                Some(_) => format!(
                    "{version}/{}/{}/{}",
                    part("revision.status"),
                    part("build.type"),
                    part("ssl.version")
                ),
                None => version,
            })
        }
        Some(node::UserAgentVersionType::UserAgentVersion(v)) => Some(v.clone()),
        None => None,
    }
}

fn api_source(a: &ApiConfigSource) -> String {
    let kind = ApiType::try_from(a.api_type)
        .map(|t| t.as_str_name().to_lowercase())
        .unwrap_or_else(|_| format!("api_type {}", a.api_type));
    let targets: Vec<String> = a
        .grpc_services
        .iter()
        .filter_map(|g| match &g.target_specifier {
            Some(TargetSpecifier::EnvoyGrpc(e)) => Some(format!("cluster {}", e.cluster_name)),
            Some(TargetSpecifier::GoogleGrpc(g)) => Some(format!("google_grpc {}", g.target_uri)),
            None => None,
        })
        .chain(a.cluster_names.iter().map(|c| format!("cluster {c}")))
        .collect();
    if targets.is_empty() {
        kind
    } else {
        format!("{kind} → {}", targets.join(", "))
    }
}

// `path` is deprecated but still what file-based bootstraps use.
#[allow(deprecated)]
fn config_source(s: &ConfigSource) -> String {
    match &s.config_source_specifier {
        Some(ConfigSourceSpecifier::Ads(_)) => "ads".into(),
        Some(ConfigSourceSpecifier::ApiConfigSource(a)) => api_source(a),
        Some(ConfigSourceSpecifier::Path(p)) => format!("path {p}"),
        Some(ConfigSourceSpecifier::PathConfigSource(p)) => format!("path {}", p.path),
        Some(ConfigSourceSpecifier::Self_(_)) => "self".into(),
        None => "unset".into(),
    }
}

/// A metadata value as text: strings bare, everything else as compact JSON.
pub fn value_text(v: &Value) -> String {
    match &v.kind {
        Some(Kind::StringValue(s)) => s.clone(),
        _ => value_json(v).to_string(),
    }
}

fn value_json(v: &Value) -> serde_json::Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, Into::into),
        Some(Kind::StringValue(s)) => s.clone().into(),
        Some(Kind::BoolValue(b)) => (*b).into(),
        Some(Kind::StructValue(s)) => struct_json(s),
        Some(Kind::ListValue(l)) => l.values.iter().map(value_json).collect(),
    }
}

fn struct_json(s: &Struct) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> =
        s.fields.iter().map(|(k, v)| (k.clone(), value_json(v))).collect();
    serde_json::Value::Object(map)
}

#[derive(Debug, Clone, Serialize)]
pub struct EcdsView {
    pub name: String,
    /// The extension's message type (`envoy.extensions.filters.http.wasm.v3.Wasm`);
    /// empty when the config carries none.
    #[serde(rename = "type")]
    pub type_name: String,
    pub rejection: Option<Rejection>,
    pub version_info: String,
    pub last_updated: Option<String>,
}

/// ECDS configs ordered like istioctl: by type, then name.
pub fn ecds(ix: &Index) -> Vec<EcdsView> {
    let mut rows: Vec<EcdsView> = ix
        .ecds
        .iter()
        .map(|e| EcdsView {
            name: e.name.clone(),
            type_name: crate::input::pool::type_url_name(&e.type_url).to_string(),
            rejection: e.rejection.clone(),
            version_info: e.stamp.version_info.clone(),
            last_updated: e.stamp.last_updated.clone(),
        })
        .collect();
    rows.sort_by(|a, b| (&a.type_name, &a.name).cmp(&(&b.type_name, &b.name)));
    rows
}
