//! The one place that knows Istio's naming grammar: cluster names
//! (`direction|port|subset|fqdn`), node ids (`type~ip~pod.ns~domain`) and
//! provenance paths (`/apis/<group>/<version>/namespaces/<ns>/<kind>/<name>`).

use envoy_types::pb::envoy::config::core::v3::Metadata;
use serde::Serialize;

use super::util::struct_str;

/// The Istio object a resource was generated from
/// (`metadata.filter_metadata.istio.config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IstioConfigRef {
    /// e.g. `networking.istio.io/v1alpha3`
    pub api: String,
    pub namespace: String,
    /// As written in the path, e.g. `destination-rule`, `virtual-service`.
    pub kind: String,
    pub name: String,
}

impl IstioConfigRef {
    /// Parses `/apis/networking.istio.io/v1alpha3/namespaces/default/destination-rule/reviews`.
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/apis/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [group, version, "namespaces", ns, kind, name] => Some(Self {
                api: format!("{group}/{version}"),
                namespace: ns.to_string(),
                kind: kind.to_string(),
                name: name.to_string(),
            }),
            _ => None,
        }
    }

    pub fn from_metadata(metadata: Option<&Metadata>) -> Option<Self> {
        let istio = metadata?.filter_metadata.get("istio")?;
        Self::parse(struct_str(istio, "config")?)
    }

    /// `name.namespace`, the way istioctl prints a DestinationRule.
    pub fn short(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }
}

impl std::fmt::Display for IstioConfigRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// An Istio cluster name split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterName {
    pub direction: String,
    pub port: Option<u32>,
    pub subset: String,
    pub fqdn: String,
}

impl ClusterName {
    /// `outbound|443||example.org`; names with four or more `|` parts, as
    /// istioctl splits them (`inbound-vip|8000|http|host` included).
    pub fn parse(name: &str) -> Option<Self> {
        let parts: Vec<&str> = name.split('|').collect();
        if parts.len() < 4 {
            return None;
        }
        Some(Self {
            direction: parts[0].to_string(),
            port: parts[1].parse().ok(),
            subset: parts[2].to_string(),
            fqdn: parts[3].to_string(),
        })
    }
}

/// What an Istio node id says: `router~10.1.2.3~pod.ns~ns.svc.cluster.local`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeId {
    pub proxy_type: String,
    pub ip: String,
    pub pod: String,
    pub namespace: String,
    pub domain: String,
}

impl NodeId {
    pub fn parse(id: &str) -> Option<Self> {
        let parts: Vec<&str> = id.split('~').collect();
        let [proxy_type, ip, pod_ns, domain] = parts.as_slice() else {
            return None;
        };
        let (pod, namespace) = pod_ns.rsplit_once('.').unwrap_or((pod_ns, ""));
        Some(Self {
            proxy_type: proxy_type.to_string(),
            ip: ip.to_string(),
            pod: pod.to_string(),
            namespace: namespace.to_string(),
            domain: domain.to_string(),
        })
    }
}

/// Istio's `istio.services` cluster metadata: the Services behind a cluster.
pub fn cluster_services(metadata: Option<&Metadata>) -> Vec<String> {
    use envoy_types::pb::google::protobuf::value::Kind;
    let Some(istio) = metadata.and_then(|m| m.filter_metadata.get("istio")) else {
        return Vec::new();
    };
    let Some(Kind::ListValue(list)) = istio.fields.get("services").and_then(|v| v.kind.as_ref()) else {
        return Vec::new();
    };
    list.values
        .iter()
        .filter_map(|v| match v.kind.as_ref()? {
            Kind::StructValue(s) => {
                let host = struct_str(s, "host")?;
                Some(match struct_str(s, "namespace") {
                    Some(ns) => format!("{host} ({ns})"),
                    None => host.to_string(),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_provenance_path() {
        let r =
            IstioConfigRef::parse("/apis/networking.istio.io/v1alpha3/namespaces/egress-pt/destination-rule/example")
                .unwrap();
        assert_eq!(r.namespace, "egress-pt");
        assert_eq!(r.kind, "destination-rule");
        assert_eq!(r.short(), "example.egress-pt");
        assert!(IstioConfigRef::parse("/apis/x").is_none());
    }

    #[test]
    fn parses_cluster_names_like_istioctl() {
        let c = ClusterName::parse("outbound|443||example.org").unwrap();
        assert_eq!(
            (c.direction.as_str(), c.port, c.subset.as_str(), c.fqdn.as_str()),
            ("outbound", Some(443), "", "example.org")
        );
        assert!(ClusterName::parse("BlackHoleCluster").is_none());
        let n = NodeId::parse("router~10.1.2.3~egw-pt-7d9f.egress-pt~egress-pt.svc.cluster.local").unwrap();
        assert_eq!(
            (n.proxy_type.as_str(), n.pod.as_str(), n.namespace.as_str()),
            ("router", "egw-pt-7d9f", "egress-pt")
        );
    }
}
