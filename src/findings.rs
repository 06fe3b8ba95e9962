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
          meaning, so it is kept as an unknown value: views show it as `UNKNOWN` (a cluster's \
          type, a load-balancing policy), never as the default, and it is reported here.",
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

pub const GATEWAY_LISTENER_OMITTED: Rule = Rule {
    code: "XR0012",
    name: "gateway-listener-omitted",
    severity: Severity::Error,
    why: "istiod builds a gateway listener per port from the Gateway servers on it and omits any listener that ends up with zero filter chains (`gateway omitting listener ... must have more than 0 chains`). Envoy never receives it, so the dump simply lacks it and nothing in the dump says why.",
    fix: "Read the other findings for the same listener: each names one reason a server produced no chain (route kind, binding, hosts, exportTo, match) and the change that fixes it.",
};

pub const GATEWAY_TLS_ROUTE_ON_TERMINATED_SERVER: Rule = Rule {
    code: "XR0013",
    name: "tls-route-on-terminated-server",
    severity: Severity::Error,
    why: "A Gateway server that terminates TLS (SIMPLE, MUTUAL, ISTIO_MUTUAL, OPTIONAL_MUTUAL) on a non-HTTP protocol gets its filter chain only from VirtualService `tcp` routes. `tls` routes (with `sniHosts`) are consulted only for PASSTHROUGH servers: after termination there is no SNI left to route on. A VirtualService with only `tls` routes therefore yields no chain.",
    fix: "Change the VirtualService's `tls:` block to `tcp:` with `match: - port: <server port>` and the same destination; or make the server PASSTHROUGH if the gateway should not terminate TLS.",
};

pub const GATEWAY_NO_VIRTUAL_SERVICE: Rule = Rule {
    code: "XR0014",
    name: "no-virtualservice-bound",
    severity: Severity::Error,
    why: "No VirtualService names this Gateway in `gateways:`. A short name there is resolved in the VirtualService's own namespace, so `gateways: [my-gw]` in another namespace points at a Gateway that does not exist. HTTP servers still get a listener (answering 404); TCP and TLS servers get no chain at all.",
    fix: "Name the Gateway as `<namespace>/<name>` in the VirtualService's `gateways:` list.",
};

pub const GATEWAY_VS_NOT_EXPORTED: Rule = Rule {
    code: "XR0015",
    name: "virtualservice-not-exported",
    severity: Severity::Error,
    why: "The VirtualService binds the Gateway, but its `exportTo` does not include the gateway pod's namespace, so istiod does not consider it when it builds that gateway's listeners.",
    fix: "Add the gateway's namespace to the VirtualService's `exportTo` (or put the VirtualService in the gateway's namespace with `exportTo: [\".\"]`).",
};

pub const GATEWAY_HOSTS_MISMATCH: Rule = Rule {
    code: "XR0016",
    name: "hosts-mismatch",
    severity: Severity::Error,
    why: "The VirtualService binds the Gateway, but none of its `hosts` overlaps the server's `hosts` (`ns/host` forms only match VirtualServices in that namespace), so istiod skips it for that server.",
    fix: "Make the VirtualService's `hosts` and the Gateway server's `hosts` share the host (wildcards count).",
};

pub const GATEWAY_ROUTE_KIND_MISMATCH: Rule = Rule {
    code: "XR0017",
    name: "route-kind-mismatch",
    severity: Severity::Error,
    why: "The server needs a route of another kind than the VirtualService has: a plain TCP server (or a TLS-terminating one) needs `tcp` routes, a PASSTHROUGH server needs `tls` routes with `sniHosts`; `http` routes serve only HTTP/HTTPS servers.",
    fix: "Write the route as the kind the server needs (see the finding's fix for the exact block).",
};

pub const GATEWAY_RULE_MATCH_MISMATCH: Rule = Rule {
    code: "XR0018",
    name: "rule-match-mismatch",
    severity: Severity::Error,
    why: "The VirtualService has routes of the right kind, but their `match` conditions leave this server out: `port` must be the Gateway server's port number (not the Service targetPort), and `gateways` in a match narrows the rule to those Gateways.",
    fix: "Fix the rule's `match` (port and gateways) to include this server.",
};

pub const GATEWAY_DUPLICATE_SNI: Rule = Rule {
    code: "XR0019",
    name: "duplicate-sni",
    severity: Severity::Warning,
    why: "Two `tls` rules on one gateway port route the same SNI host. Envoy would reject two chains with the same match, so istiod keeps the first and skips the later rule (`skipping VirtualService ... duplicate SNI host names`). Traffic for that host goes where the first rule says.",
    fix: "Route each SNI host from exactly one VirtualService rule per gateway port.",
};

pub const GATEWAY_PRIVILEGED_PORT: Rule = Rule {
    code: "XR0020",
    name: "privileged-gateway-port",
    severity: Severity::Warning,
    why: "The listener port (the Service targetPort) is below 1024. istiod skips such a port for a gateway whose node metadata says UNPRIVILEGED_POD=true (`skipping privileged gateway port`): the legacy ingress/egress gateway charts set ISTIO_META_UNPRIVILEGED_POD; the istio/gateway chart does not, and lets the pod bind low ports by lowering net.ipv4.ip_unprivileged_port_start instead. When the inputs show the pod's environment (its spec or a dump), the finding says which applies; otherwise it says what would decide.",
    fix: "Keep the Service port (e.g. 443) but set its `targetPort` to 1024 or above (e.g. 8443); the Envoy listener is named after the targetPort. Or run the gateway without ISTIO_META_UNPRIVILEGED_POD where it may bind low ports.",
};

pub const GATEWAY_SELECTS_NOTHING: Rule = Rule {
    code: "XR0021",
    name: "gateway-selects-nothing",
    severity: Severity::Warning,
    why: "No Gateway's `selector` is a subset of this gateway pod's labels, so istiod builds no gateway listeners for it (`gateway has zero listeners`).",
    fix: "Make the Gateway's `selector` match the gateway pod's labels (e.g. `istio: egw-mtls`).",
};

pub const GATEWAY_LISTENER_MISSING: Rule = Rule {
    code: "XR0022",
    name: "gateway-listener-missing",
    severity: Severity::Error,
    why: "A listener expected on the gateway (predicted from the config, or asked for with --expect-port) is not in the dump. Either istiod never built it (zero chains, privileged port), the push has not reached the proxy, or Envoy rejected it.",
    fix: "Give the Istio config and istiod's log to find which; check proxy-status and NACKs (`egress-xray nack`).",
};

pub const GATEWAY_PREDICTION_DIFFERS: Rule = Rule {
    code: "XR0023",
    name: "prediction-differs-from-dump",
    severity: Severity::Warning,
    why: "The listener in the dump does not have the chains the Istio config predicts (a different count, SNI or destination), or exists where none was predicted: the config given is not the config istiod used, or something else (an EnvoyFilter, another Gateway) changed it.",
    fix: "Check that the config given is the live one (`kubectl get gateways,virtualservices -A -o yaml`) and compare with `egress-xray paths`.",
};

pub const ISTIOD_LOG_EVIDENCE: Rule = Rule {
    code: "XR0024",
    name: "istiod-log-evidence",
    severity: Severity::Info,
    why: "A line of istiod's log says what it did with a gateway listener or server (omitted, missed network filter, no VirtualService bound, duplicate SNI skipped, privileged port skipped, zero listeners). It is tied to the listener it names.",
    fix: "Read it with the findings for the same listener; the log is the only record of listeners istiod never sent.",
};

pub const GATEWAY_DESTINATION_NOT_VISIBLE: Rule = Rule {
    code: "XR0025",
    name: "destination-not-visible",
    severity: Severity::Warning,
    why: "A gateway chain sends traffic to a host for which no ServiceEntry or Service is visible in the gateway's namespace (missing, or hidden by `exportTo`). istiod still builds the chain, but the cluster it names does not exist on the gateway, so those connections are reset (a dangling cluster in the dump).",
    fix: "Create the ServiceEntry for the host, or add the gateway's namespace to its `exportTo`.",
};

pub const NACK_LOGICAL_DNS: Rule = Rule {
    code: "XR0026",
    name: "nack-logical-dns-endpoints",
    severity: Severity::Error,
    why: "Envoy rejected a LOGICAL_DNS cluster that has more than one endpoint (`LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint`). Istio makes a LOGICAL_DNS cluster from a ServiceEntry with DNS resolution; when its endpoints list (or what the host resolves to, for some versions) grows past one, every proxy that receives the ServiceEntry rejects the whole cluster.",
    fix: "Use `resolution: DNS` on the ServiceEntry: Istio then builds a STRICT_DNS cluster, which takes several endpoints. `DNS_ROUND_ROBIN` is exactly what Istio turns into the LOGICAL_DNS cluster Envoy rejects, so it is not a fix. Or give the ServiceEntry a single endpoint; and scope it with `exportTo` so a mistake does not reach every proxy.",
};

pub const NACK_DUPLICATE_LISTENER_NAME: Rule = Rule {
    code: "XR0027",
    name: "nack-duplicate-listener-name",
    severity: Severity::Error,
    why: "Envoy rejected a listener update that contains the same listener name twice (`duplicate listener ... found`).",
    fix: "Find the two objects that produce the same listener (for Istio: two Gateways or Sidecars on the same port) and merge or rename them.",
};

pub const NACK_DUPLICATE_LISTENER_ADDRESS: Rule = Rule {
    code: "XR0028",
    name: "nack-duplicate-listener-address",
    severity: Severity::Error,
    why: "Envoy rejected a listener whose address and port are already used by another listener (`has duplicate address ... as existing listener`).",
    fix: "Give the listeners distinct ports or bind addresses; for Istio, check two Gateway servers or Sidecar ingress ports that map to the same targetPort.",
};

pub const NACK_BIND_FAILED: Rule = Rule {
    code: "XR0029",
    name: "nack-bind-failed",
    severity: Severity::Error,
    why: "Envoy could not bind the listener's socket (`cannot bind '0.0.0.0:443': Permission denied` or `Address already in use`): a privileged port for an unprivileged proxy, or a port another process holds.",
    fix: "Use a port of 1024 or above (Service targetPort), or free the port.",
};

pub const NACK_FILTER_CHAIN_CONFLICT: Rule = Rule {
    code: "XR0030",
    name: "nack-filter-chain-conflict",
    severity: Severity::Error,
    why: "Envoy rejected a listener with two filter chains whose matches are the same or overlap (`multiple filter chains with the same/overlapping matching rules`, `filter chain 'x' has the same matching rules defined as 'y'`): it could not tell which chain a connection belongs to.",
    fix: "Find the two objects producing the chains (e.g. two VirtualServices routing the same SNI on one gateway port, or duplicate hosts in Gateway servers) and make their matches distinct.",
};

pub const NACK_NO_FILTER_CHAINS: Rule = Rule {
    code: "XR0031",
    name: "nack-no-filter-chains",
    severity: Severity::Error,
    why: "Envoy rejected a listener that has no filter chains and no default chain (`no filter chains specified`).",
    fix: "Give the listener a chain (for Istio gateways see `egress-xray explain`; for internal listeners, check the EnvoyFilter or waypoint config that built it).",
};

pub const NACK_PROTO_VALIDATION: Rule = Rule {
    code: "XR0032",
    name: "nack-proto-validation",
    severity: Severity::Error,
    why: "Envoy's schema validation rejected the resource (`Proto constraint validation failed`): a required field is missing or a value is out of range. The record names the field.",
    fix: "Fix the named field in the object that produced the resource (often an EnvoyFilter patch, a DestinationRule timeout of 0s, or an empty name).",
};

pub const NACK_UNKNOWN_CLUSTER: Rule = Rule {
    code: "XR0033",
    name: "nack-unknown-cluster",
    severity: Severity::Error,
    why: "Envoy rejected a resource that references a cluster it does not have (`unknown cluster`, `unknown weighted cluster`) where the reference must resolve at load time (tracers, some filters, weighted routes with validation).",
    fix: "Create the referenced cluster (a Service, ServiceEntry or bootstrap cluster) before the resource that uses it, or fix the name.",
};

pub const NACK_DUPLICATE_DOMAIN: Rule = Rule {
    code: "XR0034",
    name: "nack-duplicate-domain",
    severity: Severity::Error,
    why: "Envoy rejected a route configuration in which two virtual hosts list the same domain (`Only unique values for domains are permitted. Duplicate entry of domain ...`).",
    fix: "Merge the VirtualServices (or Services with the same host and port) that produce the two virtual hosts.",
};

pub const NACK_EXTENSION_MISSING: Rule = Rule {
    code: "XR0035",
    name: "nack-extension-missing",
    severity: Severity::Error,
    why: "Envoy rejected a resource that names an extension this Envoy build does not have (`Didn't find a registered implementation for name: ...`), a config type it does not know (`could not find @type '...'`, `Unable to parse JSON as proto`: the whole update is refused, over file-based xDS the whole file), or uses a filter's name with another filter's config type.",
    fix: "Use an extension the proxy's Envoy version ships, or correct the EnvoyFilter's name/type URL pair.",
};

pub const NACK_FILTER_INIT: Rule = Rule {
    code: "XR0036",
    name: "nack-filter-init-failed",
    severity: Severity::Error,
    why: "A Wasm or Lua filter failed to initialise (its module did not load, or its code did not compile), so Envoy rejected the resource that carries it.",
    fix: "Check the module URL/digest and the plugin's configuration (WasmPlugin), or the Lua source, in the object that added the filter.",
};

pub const NACK_INVALID_REGEX: Rule = Rule {
    code: "XR0037",
    name: "nack-invalid-regex",
    severity: Severity::Error,
    why: "Envoy rejected a regular expression: an RE2 syntax error, which Envoy prints as RE2's own message and the pattern (`missing ): /api/(v1`, `invalid escape sequence: ...`, `bad repetition operator: ...`), or a program larger than the configured limit (`RE2 program size ... > max program size`). In a route configuration from RDS Envoy does not name the configuration.",
    fix: "Simplify the regex in the VirtualService/HTTPRoute match, or raise the RE2 program size limit deliberately.",
};

pub const NACK_FILE_NOT_FOUND: Rule = Rule {
    code: "XR0038",
    name: "nack-file-not-found",
    severity: Severity::Error,
    why: "Envoy rejected a resource that points at a file it cannot read (`Invalid path: ...`), typically a certificate mounted from a Secret that is not there.",
    fix: "Mount the file (or move to SDS `credentialName`) and check the path in the Gateway/DestinationRule.",
};

pub const NACK_FILTER_ORDER: Rule = Rule {
    code: "XR0039",
    name: "nack-filter-order",
    severity: Severity::Error,
    why: "Envoy rejected a filter chain whose terminal filter is not last (`terminal filter named ... must be the last filter in a network filter chain`), usually after an EnvoyFilter inserted a filter after tcp_proxy or the HTTP connection manager.",
    fix: "Insert the filter BEFORE the terminal filter in the EnvoyFilter patch (`INSERT_BEFORE`).",
};

pub const NACK_UNCLASSIFIED: Rule = Rule {
    code: "XR0040",
    name: "nack-unclassified",
    severity: Severity::Warning,
    why: "A rejection whose wording matches none of the known classes; the raw message is kept.",
    fix: "Read the message; search Envoy's source for it to find the validation that failed.",
};

pub const RESOURCE_UNDECODABLE: Rule = Rule {
    code: "XR0041",
    name: "resource-undecodable",
    severity: Severity::Warning,
    why: "A resource (or a whole section, such as the bootstrap) does not decode as the type it names: in a binary (protobuf) dump its bytes are truncated or corrupted inside an otherwise well-formed dump; in any dump it may be nested deeper than the protobuf decoder's recursion limit (100 levels: for example metadata Structs nested some 50 deep), which real Envoy configuration does not reach. It is left out of every view and never read as an empty resource, so a listener or cluster may look missing that the proxy holds; traces of such a dump say so.",
    fix: "Take the dump again, ideally as JSON (`/config_dump`); if it passed through a tool that rewrites protobuf, use the original capture. For nesting beyond the limit, find the deep metadata or Struct in the resource the decode report names (it is not configuration Envoy needs that deep).",
};

pub const CHAIN_ZERO_PREFIX_TIE: Rule = Rule {
    code: "XR0042",
    name: "chain-zero-prefix-tie",
    severity: Severity::Warning,
    why: "A listener has filter chains that list an explicit 0.0.0.0/0 or ::/0 range (destination or source) and other chains that list no range at all. Envoy files a chain without ranges under 0.0.0.0/0 and ::/0 as well, so the two groups share one prefix; which group a connection reaches is decided by the order of an internal table and differs from one Envoy process to the next (seen on Envoy 1.40: the same listener picked either group across restarts). Traffic that works on one replica can be refused by another. `trace` answers `undetermined` where the two groups lead to different chains.",
    fix: "Remove the explicit /0 range (a chain without ranges already means every address), or give the other chains explicit ranges so that no two groups share a prefix.",
};

pub const NACK_MISSING_SECRET: Rule = Rule {
    code: "XR0043",
    name: "nack-missing-secret",
    severity: Severity::Error,
    why: "Envoy rejected a resource that names a TLS secret it does not have: a static secret that the bootstrap does not define (`Unknown static secret: NAME`), typically an SDS secret config without an `sds_config` (so Envoy looks for a static one) or a credentialName whose Kubernetes Secret istiod could not serve.",
    fix: "Check the secret name (for Istio: the Gateway's `credentialName` and that its Secret exists in the gateway's namespace, with `tls.crt`/`tls.key`); for hand-written configuration, add `sds_config` or define the secret in the bootstrap.",
};

pub const NACK_TLS_PARAMETERS: Rule = Rule {
    code: "XR0044",
    name: "nack-tls-parameters",
    severity: Severity::Error,
    why: "Envoy rejected TLS parameters its TLS library does not accept: a cipher suite name it does not know (`Failed to initialize cipher suites X. The following ciphers were rejected when tried individually: X`), an unknown ECDH curve or signature algorithm. The whole cluster or listener that carries the TLS context is rejected.",
    fix: "Use OpenSSL/BoringSSL cipher names that Envoy's BoringSSL build supports (for example ECDHE-RSA-AES128-GCM-SHA256); fix the DestinationRule/Gateway `cipherSuites` or the EnvoyFilter that set them.",
};

pub const GATEWAY_SERVER_SKIPPED: Rule = Rule {
    code: "XR0045",
    name: "gateway-server-skipped",
    severity: Severity::Error,
    why: "When istiod merges the Gateways that select a gateway pod, it keeps the first server on each port and skips later ones that cannot share it: a second non-HTTP server, or one of another protocol, on a plain-text port and bind; a TLS server that repeats a host already served on the port and bind (`./*` in two namespaces are two different hosts); a second HTTPS server with a taken route name; a server without TLS on a port of TLS servers. Gateways are merged oldest first (then by name and namespace). The skipped server gets no chain, and its listener may not exist at all.",
    fix: "Give the conflicting servers different ports or `bind` addresses, make plain-text servers on one port all HTTP, or serve each TLS host from one server per port.",
};

pub const GATEWAY_RULE_WITHOUT_ROUTE: Rule = Rule {
    code: "XR0046",
    name: "gateway-rule-without-route",
    severity: Severity::Error,
    why: "A VirtualService `tcp` or `tls` rule that applies to the gateway server has no `route`. istiod skips such a rule; when no other rule gives the server a chain, the server contributes nothing and a listener left with zero chains is never sent.",
    fix: "Add a `route` with a destination to the rule (or remove the rule).",
};

pub const GATEWAY_DUPLICATE_CHAIN_MATCH: Rule = Rule {
    code: "XR0047",
    name: "gateway-duplicate-chain-match",
    severity: Severity::Error,
    why: "istiod would send a gateway listener with two filter chains of the same match (for example two HTTPS servers with host `*`, or `./*` in two namespaces, on one port). Envoy rejects such a listener (`multiple filter chains with the same matching rules are defined`), keeps the previous version if it had one, and the proxy NACKs every push of it.",
    fix: "Give the servers distinct hosts, or merge them into one server.",
};

pub const GATEWAY_NO_LDS_LISTENERS: Rule = Rule {
    code: "XR0048",
    name: "gateway-without-listeners",
    severity: Severity::Error,
    why: "The dump is of a gateway (an Envoy of type router) but holds no listener from LDS, only the bootstrap's static ones: it accepts no traffic on any gateway port. istiod built no gateway listener for it — no Gateway selects the pod, every server made zero filter chains, or every port was skipped — or the proxy never received LDS (no listener version). Nothing in the dump says which.",
    fix: "Run `egress-xray explain DUMP --istio <Gateways, VirtualServices...> --k8s <Services, Deployment>` (and `--istiod-log`) to see why istiod built none.",
};

pub const XDS_TYPE_BEHIND: Rule = Rule {
    code: "XR0049",
    name: "xds-type-behind",
    severity: Severity::Warning,
    why: "The proxy's listeners are at an older push than its clusters (Istio's version_info `<time>/<push>`): the last listener update was not applied (rejected, or still warming) while the clusters moved on, so the proxy routes with old listeners over new clusters.",
    fix: "Look for a rejected or warming listener (`egress-xray nack`, `egress-xray listeners --state warming`) and fix the config that produced it; compare with istiod's syncz.",
};

pub const CERTIFICATE_NOT_VALID: Rule = Rule {
    code: "XR0050",
    name: "certificate-not-valid",
    severity: Severity::Error,
    why: "A certificate the proxy holds was not valid at the dump's own time (expired, or not yet valid): TLS with it fails.",
    fix: "Check the certificate's source (istiod/CA for SDS `default`/`ROOTCA`, the Kubernetes Secret for a credentialName) and why it was not rotated; `egress-xray secrets` shows each one.",
};

pub const PROXY_VERSION_SKEW: Rule = Rule {
    code: "XR0051",
    name: "proxy-version-skew",
    severity: Severity::Info,
    why: "Proxies of the fleet run different Istio versions (during an upgrade, or pods not restarted after one). istiod supports a limited skew; behaviour can differ between the versions.",
    fix: "Restart the proxies left on the old version after the control plane upgrade (`kubectl rollout restart`), within Istio's supported skew.",
};

pub const PUSH_NOT_ACKED: Rule = Rule {
    code: "XR0052",
    name: "push-not-acknowledged",
    severity: Severity::Warning,
    why: "istiod's sync status (`/debug/syncz`) shows it sent the proxy a version of an xDS type that the proxy has not acknowledged: the proxy rejected it (a NACK) or has not answered yet. The proxy keeps serving the previous configuration of that type.",
    fix: "Look for the rejection (`egress-xray nack` with the proxy's log and istiod's); a push that stays unacknowledged for minutes is a rejected one.",
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
    GATEWAY_LISTENER_OMITTED,
    GATEWAY_TLS_ROUTE_ON_TERMINATED_SERVER,
    GATEWAY_NO_VIRTUAL_SERVICE,
    GATEWAY_VS_NOT_EXPORTED,
    GATEWAY_HOSTS_MISMATCH,
    GATEWAY_ROUTE_KIND_MISMATCH,
    GATEWAY_RULE_MATCH_MISMATCH,
    GATEWAY_DUPLICATE_SNI,
    GATEWAY_PRIVILEGED_PORT,
    GATEWAY_SELECTS_NOTHING,
    GATEWAY_LISTENER_MISSING,
    GATEWAY_PREDICTION_DIFFERS,
    ISTIOD_LOG_EVIDENCE,
    GATEWAY_DESTINATION_NOT_VISIBLE,
    NACK_LOGICAL_DNS,
    NACK_DUPLICATE_LISTENER_NAME,
    NACK_DUPLICATE_LISTENER_ADDRESS,
    NACK_BIND_FAILED,
    NACK_FILTER_CHAIN_CONFLICT,
    NACK_NO_FILTER_CHAINS,
    NACK_PROTO_VALIDATION,
    NACK_UNKNOWN_CLUSTER,
    NACK_DUPLICATE_DOMAIN,
    NACK_EXTENSION_MISSING,
    NACK_FILTER_INIT,
    NACK_INVALID_REGEX,
    NACK_FILE_NOT_FOUND,
    NACK_FILTER_ORDER,
    NACK_UNCLASSIFIED,
    RESOURCE_UNDECODABLE,
    CHAIN_ZERO_PREFIX_TIE,
    NACK_MISSING_SECRET,
    NACK_TLS_PARAMETERS,
    GATEWAY_SERVER_SKIPPED,
    GATEWAY_RULE_WITHOUT_ROUTE,
    GATEWAY_DUPLICATE_CHAIN_MATCH,
    GATEWAY_NO_LDS_LISTENERS,
    XDS_TYPE_BEHIND,
    CERTIFICATE_NOT_VALID,
    PROXY_VERSION_SKEW,
    PUSH_NOT_ACKED,
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
