//! TLS verdicts: for every cluster, whether and how it originates TLS; for
//! every filter chain, whether it terminates TLS, passes it through on SNI,
//! or sees plain bytes. Wrapper sockets are unwrapped and the inner decision
//! reported.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::{data_source, transport_socket, DataSource, TransportSocket};
use envoy_types::pb::envoy::config::listener::v3::FilterChain;
use envoy_types::pb::envoy::extensions::transport_sockets::http_11_proxy::v3::Http11ProxyUpstreamTransport;
use envoy_types::pb::envoy::extensions::transport_sockets::internal_upstream::v3::InternalUpstreamTransport;
use envoy_types::pb::envoy::extensions::transport_sockets::proxy_protocol::v3::ProxyProtocolUpstreamTransport;
use envoy_types::pb::envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer;
use envoy_types::pb::envoy::extensions::transport_sockets::tap::v3::Tap;
use envoy_types::pb::envoy::extensions::transport_sockets::tcp_stats::v3::Config as TcpStats;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    common_tls_context::ValidationContextType, tls_parameters::TlsProtocol, CertificateValidationContext,
    CommonTlsContext, DownstreamTlsContext, UpstreamTlsContext,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use envoy_types::pb::envoy::r#type::matcher::v3::{string_matcher::MatchPattern, StringMatcher};
use envoy_types::pb::google::protobuf::{Any, Struct};
use serde::Serialize;

use super::bootstrap::value_text;
use crate::model::util::decode_any;
use crate::model::{listener_chains, Index, State};

/// How a cluster talks to its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origination {
    /// No transport socket, or raw_buffer: plain bytes (an app's own TLS
    /// passes through untouched).
    None,
    /// TLS that authenticates the server only.
    Tls,
    /// TLS with a client certificate.
    Mtls,
    /// Istio mutual TLS: SDS `default` certificate, `ROOTCA` validation.
    IstioMutual,
    /// Decided per endpoint by `transport_socket_matches` (Istio auto mTLS).
    Conditional,
    /// A transport socket the tool cannot read (e.g. Cilium's
    /// `cilium.tls_wrapper`): whether it encrypts is not known.
    Unknown,
}

/// What one transport socket does, wrappers unwrapped.
#[derive(Debug, Clone, Serialize)]
pub struct SocketVerdict {
    pub origination: Origination,
    /// Wrapper sockets around the decision, outermost first
    /// (`envoy.transport_sockets.internal_upstream`, ...).
    pub wrappers: Vec<String>,
    /// The socket's name when it is neither TLS, raw_buffer nor a known
    /// wrapper (its verdict is then `none`, reported as unknown here).
    pub unknown_socket: Option<String>,
    pub sni: Option<String>,
    /// SNI taken from the request's Host (`auto_sni` / `auto_host_sni`).
    pub auto_sni: bool,
    pub alpn: Vec<String>,
    /// SDS secret names (or `file ...`, `inline`) of the client certificate.
    pub certificates: Vec<String>,
    /// Where trust comes from: an SDS name, `file ...`, `inline`, or
    /// `system default` when nothing validates the peer.
    pub trust: Vec<String>,
    /// SAN matchers on the peer certificate (`exact spiffe://...`).
    pub san_matchers: Vec<String>,
    pub tls_min: Option<String>,
    pub tls_max: Option<String>,
    /// `tls_params.cipher_suites` (empty: Envoy's defaults).
    pub cipher_suites: Vec<String>,
}

impl Origination {
    pub fn as_str(self) -> &'static str {
        match self {
            Origination::None => "none",
            Origination::Tls => "tls",
            Origination::Mtls => "mtls",
            Origination::IstioMutual => "istio_mutual",
            Origination::Conditional => "conditional",
            Origination::Unknown => "unknown",
        }
    }
}

impl SocketVerdict {
    fn plain() -> Self {
        Self {
            origination: Origination::None,
            wrappers: Vec::new(),
            unknown_socket: None,
            sni: None,
            auto_sni: false,
            alpn: Vec::new(),
            certificates: Vec::new(),
            trust: Vec::new(),
            san_matchers: Vec::new(),
            tls_min: None,
            tls_max: None,
            cipher_suites: Vec::new(),
        }
    }
}

/// One `transport_socket_matches` entry.
#[derive(Debug, Clone, Serialize)]
pub struct SocketMatch {
    pub name: String,
    /// Endpoint (or locality) metadata under `envoy.transport_socket_match`
    /// that selects this socket; empty matches every endpoint.
    #[serde(rename = "match")]
    pub criteria: Vec<(String, String)>,
    pub verdict: SocketVerdict,
    /// Endpoints in the dump this entry selects, when the dump has them.
    pub endpoints: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterTls {
    pub name: String,
    pub state: State,
    pub origination: Origination,
    /// The SNI sent (the default socket's, or for `conditional` the TLS
    /// entry's); null when none is set.
    pub sni: Option<String>,
    /// The cluster's own `transport_socket` (or plain when unset), used
    /// when no match entry applies.
    pub default_socket: SocketVerdict,
    pub socket_matches: Vec<SocketMatch>,
    /// Endpoints matching no entry (they use the default socket).
    pub default_endpoints: Vec<String>,
    /// False when the dump has no endpoints for this cluster to check.
    pub endpoints_known: bool,
}

/// How a filter chain treats the bytes it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// Plain bytes (no TLS match, no socket).
    None,
    /// Selected on TLS (SNI / transport protocol) but not decrypted.
    Passthrough,
    /// TLS terminated, no client certificate required.
    Tls,
    /// TLS terminated with a required client certificate.
    Mtls,
    /// Istio mutual TLS: SDS `default` certificate, client certificates
    /// required and validated against `ROOTCA` (the same words as a
    /// cluster's `istio_mutual`).
    IstioMutual,
    /// A transport socket the tool cannot read: what it does to the bytes is
    /// not known.
    Unknown,
}

impl Termination {
    /// TLS terminated with a client certificate required (Istio's or not).
    pub fn mutual(self) -> bool {
        matches!(self, Termination::Mtls | Termination::IstioMutual)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainTls {
    pub listener: String,
    pub listener_state: State,
    pub index: Option<usize>,
    pub name: String,
    pub is_default: bool,
    pub server_names: Vec<String>,
    pub transport_protocol: String,
    pub termination: Termination,
    pub require_client_certificate: bool,
    /// SDS names (or `file ...`, `inline`) of the server certificate.
    pub certificates: Vec<String>,
    /// Where client certificates are validated against.
    pub trust: Vec<String>,
    pub san_matchers: Vec<String>,
    pub alpn: Vec<String>,
    pub tls_min: Option<String>,
    pub tls_max: Option<String>,
    /// `tls_params.cipher_suites` (empty: Envoy's defaults).
    pub cipher_suites: Vec<String>,
    pub wrappers: Vec<String>,
    /// The transport socket the tool could not read, when termination is
    /// `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_socket: Option<String>,
    /// istioctl's DESTINATION for the chain (`Cluster: x`, `Route: y`).
    pub destination: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    /// The proxy the row is from (`pod.namespace`, else the node id or file).
    pub proxy: String,
    pub clusters: Vec<ClusterTls>,
    pub filter_chains: Vec<ChainTls>,
}

/// What `tls` keeps.
#[derive(Debug, Clone, Default)]
pub struct TlsFilter {
    /// A cluster by name or SNI; a chain by server name or destination.
    pub host: Option<super::filter::TextFilter>,
    /// Only this listener's chains, and no clusters.
    pub listener: Option<super::filter::TextFilter>,
}

impl TlsFilter {
    pub fn apply(&self, r: &mut TlsReport) {
        if let Some(h) = &self.host {
            r.clusters
                .retain(|c| h.matches(&c.name) || c.sni.as_ref().is_some_and(|s| h.matches(s)));
            r.filter_chains
                .retain(|c| h.any(&c.server_names) || h.matches(&c.destination));
        }
        if let Some(l) = &self.listener {
            r.clusters.clear();
            r.filter_chains.retain(|c| l.matches(&c.listener));
        }
    }
}

/// TLS verdicts for every cluster and every filter chain of the dump.
pub fn tls(ix: &Index) -> TlsReport {
    let mut clusters: Vec<ClusterTls> = ix
        .clusters
        .iter()
        .map(|c| cluster_tls(ix, c.cluster(), c.state))
        .collect();
    clusters.sort_by(|a, b| (&a.name, a.state).cmp(&(&b.name, b.state)));
    let mut filter_chains = Vec::new();
    for l in &ix.listeners {
        let Some(listener) = l.listener() else { continue };
        let default = listener.default_filter_chain.as_ref().map(|d| d as *const FilterChain);
        for (i, (name, chain)) in listener_chains(listener).into_iter().enumerate() {
            let is_default = Some(chain as *const FilterChain) == default;
            filter_chains.push(chain_tls(
                &l.name,
                l.state,
                (!is_default).then_some(i),
                name,
                chain,
                is_default,
            ));
        }
    }
    TlsReport {
        proxy: ix.proxy_name(),
        clusters,
        filter_chains,
    }
}

/// The TLS verdict of one cluster, endpoints from the dump included.
pub fn cluster_tls(ix: &Index, c: &Cluster, state: State) -> ClusterTls {
    let auto_sni = auto_sni(c);
    let mut default_socket = c
        .transport_socket
        .as_ref()
        .map_or_else(SocketVerdict::plain, socket_verdict);
    default_socket.auto_sni |= auto_sni && default_socket.origination != Origination::None;
    let eds_key = crate::model::eds_key(c);
    let endpoints = ix
        .endpoints_named(&c.name)
        .next()
        .or_else(|| ix.endpoints_named(eds_key).next());
    let mut socket_matches: Vec<SocketMatch> = c
        .transport_socket_matches
        .iter()
        .map(|m| {
            let mut verdict = m
                .transport_socket
                .as_ref()
                .map_or_else(SocketVerdict::plain, socket_verdict);
            verdict.auto_sni |= auto_sni && verdict.origination != Origination::None;
            SocketMatch {
                name: m.name.clone(),
                criteria: m.r#match.as_ref().map(struct_pairs).unwrap_or_default(),
                verdict,
                endpoints: Vec::new(),
            }
        })
        .collect();
    let mut default_endpoints = Vec::new();
    if let Some(e) = endpoints {
        for group in &e.assignment().endpoints {
            let locality_meta = group.metadata.as_ref();
            for lb in &group.lb_endpoints {
                let addr = super::endpoints::lb_endpoint_address(lb);
                let meta = lb
                    .metadata
                    .as_ref()
                    .and_then(|m| m.filter_metadata.get("envoy.transport_socket_match"))
                    .or_else(|| locality_meta.and_then(|m| m.filter_metadata.get("envoy.transport_socket_match")));
                let hit = socket_matches.iter().position(|m| criteria_match(&m.criteria, meta));
                match hit {
                    Some(i) => socket_matches[i].endpoints.push(addr),
                    None => default_endpoints.push(addr),
                }
            }
        }
    }
    let origination = if socket_matches.is_empty() {
        default_socket.origination
    } else {
        let mut kinds: Vec<Origination> = socket_matches.iter().map(|m| m.verdict.origination).collect();
        kinds.push(default_socket.origination);
        kinds.dedup();
        if kinds.len() == 1 {
            kinds[0]
        } else {
            Origination::Conditional
        }
    };
    let sni = default_socket.sni.clone().or_else(|| {
        socket_matches
            .iter()
            .find(|m| m.verdict.origination != Origination::None)
            .and_then(|m| m.verdict.sni.clone())
    });
    ClusterTls {
        name: c.name.clone(),
        state,
        origination,
        sni,
        default_socket,
        socket_matches,
        default_endpoints,
        endpoints_known: endpoints.is_some(),
    }
}

/// Does endpoint metadata satisfy a match entry? Every key must be present
/// with an equal value; an empty entry matches everything.
fn criteria_match(criteria: &[(String, String)], meta: Option<&Struct>) -> bool {
    criteria.iter().all(|(k, v)| {
        meta.and_then(|m| m.fields.get(k))
            .is_some_and(|have| &value_text(have) == v)
    })
}

fn struct_pairs(s: &Struct) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = s.fields.iter().map(|(k, v)| (k.clone(), value_text(v))).collect();
    v.sort();
    v
}

/// `auto_sni` in the cluster's HTTP protocol options.
fn auto_sni(c: &Cluster) -> bool {
    c.typed_extension_protocol_options
        .values()
        .filter_map(decode_any::<HttpProtocolOptions>)
        .any(|o| o.upstream_http_protocol_options.is_some_and(|u| u.auto_sni))
}

const WRAPPER_DEPTH: usize = 8;

/// A transport socket with its wrapper sockets peeled off.
struct Peeled {
    /// Wrapper sockets, outermost first.
    wrappers: Vec<String>,
    end: SocketEnd,
}

enum SocketEnd {
    /// raw_buffer, no socket, or a wrapper without an inner one: plain bytes.
    Plain,
    /// The innermost socket that is no wrapper (a TLS context, or one the
    /// caller does not know).
    Socket(TransportSocket),
    /// A socket named without a config, or wrappers nested too deep.
    Unknown(String),
}

/// Peels the wrapper sockets (internal_upstream, upstream_proxy_protocol,
/// tap, http_11_proxy, tcp_stats) off a transport socket, for upstream and
/// downstream sockets alike.
fn peel(ts: &TransportSocket) -> Peeled {
    let mut wrappers = Vec::new();
    let mut current = ts.clone();
    for _ in 0..WRAPPER_DEPTH {
        let Some(any) = typed(&current) else {
            let end = if current.name.is_empty() || current.name.contains("raw_buffer") {
                SocketEnd::Plain
            } else {
                SocketEnd::Unknown(current.name.clone())
            };
            return Peeled { wrappers, end };
        };
        if decode_any::<RawBuffer>(any).is_some() {
            return Peeled {
                wrappers,
                end: SocketEnd::Plain,
            };
        }
        match unwrap_socket(any) {
            Some(Some(inner)) => {
                wrappers.push(short_name(&current));
                current = inner;
            }
            Some(None) => {
                wrappers.push(short_name(&current));
                return Peeled {
                    wrappers,
                    end: SocketEnd::Plain,
                };
            }
            None => {
                return Peeled {
                    wrappers,
                    end: SocketEnd::Socket(current),
                }
            }
        }
    }
    Peeled {
        wrappers,
        end: SocketEnd::Unknown("wrappers nested too deep".into()),
    }
}

/// The verdict of an upstream transport socket.
pub fn socket_verdict(ts: &TransportSocket) -> SocketVerdict {
    let peeled = peel(ts);
    let mut v = match &peeled.end {
        SocketEnd::Plain => SocketVerdict::plain(),
        SocketEnd::Socket(inner) => match typed(inner).and_then(decode_any::<UpstreamTlsContext>) {
            Some(up) => upstream_verdict(&up),
            None => unknown_verdict(short_name(inner)),
        },
        SocketEnd::Unknown(name) => unknown_verdict(name.clone()),
    };
    v.wrappers = peeled.wrappers;
    v
}

fn unknown_verdict(name: String) -> SocketVerdict {
    let mut v = SocketVerdict::plain();
    v.unknown_socket = Some(name);
    v.origination = Origination::Unknown;
    v
}

/// Istio's own certificates: SDS `default`, validated against `ROOTCA`.
fn istio_certificates(v: &SocketVerdict) -> bool {
    v.certificates.iter().any(|c| c == "sds default") && v.trust.iter().any(|t| t == "sds ROOTCA")
}

fn typed(ts: &TransportSocket) -> Option<&Any> {
    match &ts.config_type {
        Some(transport_socket::ConfigType::TypedConfig(any)) => Some(any),
        None => None,
    }
}

fn short_name(ts: &TransportSocket) -> String {
    if !ts.name.is_empty() {
        return ts.name.clone();
    }
    typed(ts)
        .map(|a| crate::input::pool::type_url_name(&a.type_url).to_string())
        .unwrap_or_default()
}

/// A wrapper socket's inner socket: Some(Some(inner)), Some(None) for a
/// wrapper without one (Envoy then uses raw_buffer), None when `any` is no
/// known wrapper.
fn unwrap_socket(any: &Any) -> Option<Option<TransportSocket>> {
    if let Some(w) = decode_any::<InternalUpstreamTransport>(any) {
        return Some(w.transport_socket);
    }
    if let Some(w) = decode_any::<ProxyProtocolUpstreamTransport>(any) {
        return Some(w.transport_socket);
    }
    if let Some(w) = decode_any::<Tap>(any) {
        return Some(w.transport_socket);
    }
    if let Some(w) = decode_any::<Http11ProxyUpstreamTransport>(any) {
        return Some(w.transport_socket);
    }
    if let Some(w) = decode_any::<TcpStats>(any) {
        return Some(w.transport_socket);
    }
    None
}

fn upstream_verdict(up: &UpstreamTlsContext) -> SocketVerdict {
    let common = up.common_tls_context.clone().unwrap_or_default();
    let mut v = common_verdict(&common);
    v.sni = Some(up.sni.clone()).filter(|s| !s.is_empty());
    v.auto_sni = up.auto_host_sni;
    let client_cert = !v.certificates.is_empty();
    v.origination = match (istio_certificates(&v), client_cert) {
        (true, _) => Origination::IstioMutual,
        (false, true) => Origination::Mtls,
        (false, false) => Origination::Tls,
    };
    v
}

/// Certificates, trust, SAN matchers, ALPN and versions of a TLS context.
fn common_verdict(c: &CommonTlsContext) -> SocketVerdict {
    let mut v = SocketVerdict::plain();
    v.alpn = c.alpn_protocols.clone();
    v.certificates = c
        .tls_certificates
        .iter()
        .map(|t| data_source_label(t.certificate_chain.as_ref()))
        .chain(
            c.tls_certificate_sds_secret_configs
                .iter()
                .map(|s| format!("sds {}", s.name)),
        )
        .collect();
    if let Some(p) = &c.tls_certificate_provider_instance {
        v.certificates.push(format!("provider {}", p.instance_name));
    }
    match &c.validation_context_type {
        Some(ValidationContextType::ValidationContext(vc)) => validation(vc, &mut v),
        Some(ValidationContextType::ValidationContextSdsSecretConfig(s)) => v.trust.push(format!("sds {}", s.name)),
        Some(ValidationContextType::CombinedValidationContext(cv)) => {
            if let Some(s) = &cv.validation_context_sds_secret_config {
                v.trust.push(format!("sds {}", s.name));
            }
            if let Some(vc) = &cv.default_validation_context {
                validation(vc, &mut v);
            }
        }
        Some(_) => v.trust.push("certificate provider".into()),
        None => {}
    }
    if let Some(p) = &c.tls_params {
        let name = |n: i32| {
            TlsProtocol::try_from(n)
                .ok()
                .filter(|p| *p != TlsProtocol::TlsAuto)
                .map(|p| p.as_str_name().to_string())
        };
        v.tls_min = name(p.tls_minimum_protocol_version);
        v.tls_max = name(p.tls_maximum_protocol_version);
        v.cipher_suites = p.cipher_suites.clone();
    }
    v
}

// `match_subject_alt_names` is deprecated but still what older Istio sends.
#[allow(deprecated)]
fn validation(vc: &CertificateValidationContext, v: &mut SocketVerdict) {
    if vc.trusted_ca.is_some() {
        v.trust.push(data_source_label(vc.trusted_ca.as_ref()));
    }
    if let Some(p) = &vc.ca_certificate_provider_instance {
        v.trust.push(format!("provider {}", p.instance_name));
    }
    if let Some(c) = &vc.custom_validator_config {
        v.trust.push(c.name.clone());
    }
    v.san_matchers.extend(
        vc.match_typed_subject_alt_names
            .iter()
            .filter_map(|m| m.matcher.as_ref())
            .map(string_matcher),
    );
    v.san_matchers
        .extend(vc.match_subject_alt_names.iter().map(string_matcher));
}

fn string_matcher(m: &StringMatcher) -> String {
    match &m.match_pattern {
        Some(MatchPattern::Exact(s)) => format!("exact {s}"),
        Some(MatchPattern::Prefix(s)) => format!("prefix {s}"),
        Some(MatchPattern::Suffix(s)) => format!("suffix {s}"),
        Some(MatchPattern::Contains(s)) => format!("contains {s}"),
        Some(MatchPattern::SafeRegex(r)) => format!("regex {}", r.regex),
        Some(MatchPattern::Custom(c)) => format!("custom {}", c.name),
        None => "any".into(),
    }
}

fn data_source_label(d: Option<&DataSource>) -> String {
    match d.and_then(|d| d.specifier.as_ref()) {
        Some(data_source::Specifier::Filename(f)) => format!("file {f}"),
        Some(data_source::Specifier::EnvironmentVariable(e)) => format!("env {e}"),
        Some(_) => "inline".into(),
        None => "none".into(),
    }
}

/// The TLS verdict of one filter chain.
pub fn chain_tls(
    listener: &str,
    state: State,
    index: Option<usize>,
    name: String,
    c: &FilterChain,
    is_default: bool,
) -> ChainTls {
    let m = c.filter_chain_match.clone().unwrap_or_default();
    let mut out = ChainTls {
        listener: listener.to_string(),
        listener_state: state,
        index,
        name,
        is_default,
        server_names: m.server_names.clone(),
        transport_protocol: m.transport_protocol.clone(),
        termination: Termination::None,
        require_client_certificate: false,
        certificates: Vec::new(),
        trust: Vec::new(),
        san_matchers: Vec::new(),
        alpn: Vec::new(),
        tls_min: None,
        tls_max: None,
        cipher_suites: Vec::new(),
        wrappers: Vec::new(),
        unknown_socket: None,
        destination: super::inventory::describe_destination(c),
    };
    if let Some(ts) = &c.transport_socket {
        let peeled = peel(ts);
        out.wrappers = peeled.wrappers;
        match peeled.end {
            SocketEnd::Plain => {}
            SocketEnd::Socket(inner) => match typed(&inner).and_then(decode_any::<DownstreamTlsContext>) {
                Some(down) => {
                    let v = common_verdict(&down.common_tls_context.clone().unwrap_or_default());
                    out.require_client_certificate = down.require_client_certificate.is_some_and(|b| b.value);
                    out.termination = match (out.require_client_certificate, istio_certificates(&v)) {
                        (true, true) => Termination::IstioMutual,
                        (true, false) => Termination::Mtls,
                        (false, _) => Termination::Tls,
                    };
                    out.certificates = v.certificates;
                    out.trust = v.trust;
                    out.san_matchers = v.san_matchers;
                    out.alpn = v.alpn;
                    out.tls_min = v.tls_min;
                    out.tls_max = v.tls_max;
                    out.cipher_suites = v.cipher_suites;
                    return out;
                }
                None => {
                    out.termination = Termination::Unknown;
                    out.unknown_socket = Some(short_name(&inner));
                    return out;
                }
            },
            SocketEnd::Unknown(name) => {
                out.termination = Termination::Unknown;
                out.unknown_socket = Some(name);
                return out;
            }
        }
    }
    if !m.server_names.is_empty() || m.transport_protocol == "tls" {
        out.termination = Termination::Passthrough;
    }
    out
}
