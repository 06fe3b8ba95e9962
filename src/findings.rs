//! The catalogue of findings: every user-visible finding has a stable code,
//! a severity, an explanation and a fix hint, defined here and documented in
//! `docs/findings.md` (a test keeps the two in step).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub why: &'static str,
    pub fix: &'static str,
}

pub const LISTENER_REJECTED: Rule = Rule {
    code: "XR0001",
    name: "listener-rejected",
    severity: Severity::Error,
    why: "Envoy rejected the last update of this listener (its `error_state` in the dump). \
          Envoy keeps serving the previous version if it had one; a listener with an error \
          state and no active state is not listening at all.",
    fix: "Read the rejection details, fix the configuration that produced the listener \
          (for Istio: the Gateway/VirtualService/EnvoyFilter it came from) and let the control \
          plane push again; `egress-xray nack` correlates it with the logs.",
};

pub const RESOURCE_WARMING: Rule = Rule {
    code: "XR0002",
    name: "resource-warming",
    severity: Severity::Warning,
    why: "A warming resource was received but is not in use yet: a cluster waits for its \
          endpoints or secrets, a listener for its routes or secrets, a secret for its SDS \
          answer. If it stays warming, traffic keeps using the old version or has no path.",
    fix: "Check that what it waits for exists in the dump (EDS endpoints, SDS secret names, \
          RDS route names) and that the control plane can serve it; take a second dump a \
          minute later to see whether it moved on.",
};

pub const DECODE_SKEW: Rule = Rule {
    code: "XR0003",
    name: "version-skew",
    severity: Severity::Info,
    why: "The dump holds fields or extension types that this build's Envoy API does not \
          define (a newer or older Envoy, or Istio's own filters). They were kept as opaque \
          extensions or skipped, and counted; nothing else was lost.",
    fix: "Nothing to fix in the proxy. If a skipped field matters to your question, use an \
          egress-xray build with a matching Envoy API version.",
};

pub const UNKNOWN_ENUM: Rule = Rule {
    code: "XR0004",
    name: "unknown-enum-value",
    severity: Severity::Warning,
    why: "An enum value in the dump is not defined by this build's Envoy API (e.g. the v2 \
          `ORIGINAL_DST_LB`). Decoding it as the enum's default would silently change its \
          meaning, so it was dropped and is reported instead.",
    fix: "Read the example path in the decode report to see which setting is affected; \
          treat views of that field with care.",
};

pub const LISTENER_WITHOUT_CHAINS: Rule = Rule {
    code: "XR0005",
    name: "listener-without-chains",
    severity: Severity::Error,
    why: "The listener has no filter chains, no default filter chain and no filter chain \
          matcher: every connection to it is closed. Envoy refuses such a listener from xDS \
          (`no filter chains specified`), so it can only come from a bootstrap or a rejection.",
    fix: "Give the listener at least one filter chain; for an Istio gateway, bind a \
          VirtualService route of the right kind to the server (see `egress-xray explain`).",
};

pub const V2_API: Rule = Rule {
    code: "XR0006",
    name: "v2-api-dump",
    severity: Severity::Warning,
    why: "The dump uses Envoy's retired v2 API (`envoy.admin.v2alpha`, `envoy.api.v2`). It \
          was read by mapping each v2 type to its v3 successor; v2-only fields (such as \
          `tls_context` or `hosts`) have no v3 home and were skipped and counted.",
    fix: "For a complete reading, take the dump from an Envoy that speaks v3 (1.14 and \
          later); until then, check the skipped field names in the decode report.",
};

pub const DANGLING_CLUSTER: Rule = Rule {
    code: "XR0007",
    name: "dangling-cluster",
    severity: Severity::Error,
    why: "A route or tcp_proxy sends traffic to a cluster the dump does not have. Envoy \
          resets such connections (HTTP: 503 with flag NC). With Istio's REGISTRY_ONLY \
          outbound policy this is what a host without a ServiceEntry looks like \
          (e.g. `outbound|443||www.example.com`); it is also what a cluster NACK leaves \
          behind, since Envoy keeps no record of rejected clusters in the dump.",
    fix: "Create the service or ServiceEntry the cluster stands for (and check its \
          `exportTo` reaches this proxy), or look in Envoy's and istiod's logs for a \
          rejected CDS update (`egress-xray nack`).",
};

pub const MISSING_ROUTE_CONFIG: Rule = Rule {
    code: "XR0008",
    name: "missing-route-config",
    severity: Severity::Error,
    why: "An HTTP connection manager asks RDS for a route configuration the dump does not \
          hold. Until it arrives the listener answers every request with 404, and the \
          listener may stay warming.",
    fix: "Check that the control plane serves that route name (for Istio: a VirtualService \
          or Service on that port visible to this proxy) and that the RDS update was not \
          rejected.",
};

pub const MISSING_SECRET: Rule = Rule {
    code: "XR0009",
    name: "missing-secret",
    severity: Severity::Error,
    why: "A cluster or filter chain uses an SDS secret (certificate or trust bundle) that \
          the dump's secrets section does not hold. Envoy keeps such a cluster or listener \
          warming, or fails its TLS handshakes.",
    fix: "For Istio `kubernetes://NAME` secrets, create the Kubernetes Secret NAME in the \
          gateway's namespace (and NAME-cacert for mutual TLS); for `default`/`ROOTCA`, \
          check the istio-agent can reach the CA.",
};

pub const CLUSTER_WITHOUT_ENDPOINTS: Rule = Rule {
    code: "XR0010",
    name: "cluster-without-endpoints",
    severity: Severity::Warning,
    why: "Paths lead to a cluster that has no endpoints in the dump's endpoint data. Envoy \
          has no host to send to: HTTP answers 503 (flag UH), TCP connections are reset.",
    fix: "Check the service's pods are ready (EDS), the DNS name resolves (STRICT_DNS / \
          LOGICAL_DNS), or the ServiceEntry lists endpoints (STATIC).",
};

pub const SPECIAL_DESTINATION: Rule = Rule {
    code: "XR0011",
    name: "blackhole-or-passthrough",
    severity: Severity::Info,
    why: "Some paths end in Istio's BlackHoleCluster (traffic dropped: no route matched and \
          outbound policy is REGISTRY_ONLY) or PassthroughCluster (traffic forwarded to \
          its original destination without mesh policy).",
    fix: "If the traffic should be known to the mesh, add a ServiceEntry or VirtualService \
          for its host; if it should be blocked, set the outbound policy to REGISTRY_ONLY.",
};

/// Every rule, in code order.
pub const CATALOGUE: &[Rule] = &[
    LISTENER_REJECTED,
    RESOURCE_WARMING,
    DECODE_SKEW,
    UNKNOWN_ENUM,
    LISTENER_WITHOUT_CHAINS,
    V2_API,
    DANGLING_CLUSTER,
    MISSING_ROUTE_CONFIG,
    MISSING_SECRET,
    CLUSTER_WITHOUT_ENDPOINTS,
    SPECIAL_DESTINATION,
];

/// A finding about one resource.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// e.g. `listener virtualInbound`.
    pub resource: String,
    pub message: String,
    pub fix: &'static str,
}

impl Finding {
    pub fn new(rule: Rule, resource: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: rule.code,
            name: rule.name,
            severity: rule.severity,
            resource: resource.into(),
            message: message.into(),
            fix: rule.fix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_codes_are_unique_and_documented() {
        let docs = include_str!("../docs/findings.md");
        let mut seen = std::collections::HashSet::new();
        for rule in CATALOGUE {
            assert!(seen.insert(rule.code), "duplicate code {}", rule.code);
            assert!(
                docs.contains(&format!("## {} {}", rule.code, rule.name)),
                "{} missing from docs/findings.md",
                rule.code
            );
        }
    }
}
