//! TLS verdicts on Envoy's own dumps: generated clusters (plain, TLS, mTLS,
//! Istio mutual over SDS, auto mTLS by transport_socket_matches; SNI and
//! auto_sni) and filter chains (plain, passthrough, TLS, mTLS; files and
//! SDS), loaded into a real Envoy, and `tls` compared with what was
//! generated.

use std::path::{Path, PathBuf};
use std::process::Command;

use egress_xray::analysis::tls::{tls, Origination, Termination};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};

use super::{envoy_bin, free_ports, turn, Envoy};

/// A self-signed certificate and key (also used as its own CA), made with
/// the openssl command for this run only.
pub struct Certs {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn certs(dir: &Path) -> Option<Certs> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", "/CN=egress-xray-test"])
        .args([
            "-addext",
            "subjectAltName=DNS:*.example.com,URI:spiffe://cluster.local/ns/test/sa/test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("EGRESS_XRAY_CI").is_none(),
            "the openssl command is missing in CI (.ci/run installs it)"
        );
        eprintln!("skipping the real-Envoy TLS tests: no openssl command to make a test certificate");
        return None;
    }
    Some(Certs { cert, key })
}

fn file(p: &Path) -> Value {
    json!({"filename": p.to_string_lossy()})
}

/// Static secrets named as Istio names its SDS secrets.
pub fn istio_secrets(c: &Certs) -> Value {
    json!([
        {"name": "default", "tls_certificate": {"certificate_chain": file(&c.cert), "private_key": file(&c.key)}},
        {"name": "ROOTCA", "validation_context": {"trusted_ca": file(&c.cert)}}
    ])
}

#[derive(Debug, Clone)]
struct ClusterSpec {
    /// 0 none, 1 raw_buffer, 2 TLS, 3 mTLS (files), 4 Istio mutual (SDS),
    /// 5 auto mTLS (transport_socket_matches).
    kind: u8,
    sni: bool,
    auto_sni: bool,
}

#[derive(Debug, Clone)]
struct ChainSpec {
    /// 0 plain, 1 passthrough, 2 TLS, 3 mTLS (files), 4 Istio mutual (SDS
    /// `default`, `ROOTCA`).
    kind: u8,
}

fn upstream(kind: u8, sni: Option<&str>, c: &Certs) -> Value {
    let common = match kind {
        2 => json!({"validation_context": {"trusted_ca": file(&c.cert)}}),
        3 => json!({
            "tls_certificates": [{"certificate_chain": file(&c.cert), "private_key": file(&c.key)}],
            "validation_context": {"trusted_ca": file(&c.cert)}
        }),
        _ => json!({
            "tls_certificate_sds_secret_configs": [{"name": "default"}],
            "combined_validation_context": {
                "default_validation_context": {"match_typed_subject_alt_names": [
                    {"san_type": "URI", "matcher": {"exact": "spiffe://cluster.local/ns/test/sa/test"}}
                ]},
                "validation_context_sds_secret_config": {"name": "ROOTCA"}
            },
            "alpn_protocols": ["istio-peer-exchange", "istio"]
        }),
    };
    let mut ctx = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": common
    });
    if let Some(s) = sni {
        ctx["sni"] = json!(s);
    }
    json!({"name": "envoy.transport_sockets.tls", "typed_config": ctx})
}

fn cluster_json(s: &ClusterSpec, name: &str, c: &Certs) -> Value {
    let sni = s.sni.then(|| format!("outbound_.443_._.{name}.example.com"));
    let mut cl = super::dead_cluster(name);
    match s.kind {
        1 => {
            cl["transport_socket"] = json!({"name": "envoy.transport_sockets.raw_buffer", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}})
        }
        2..=4 => cl["transport_socket"] = upstream(s.kind, sni.as_deref(), c),
        5 => {
            cl["transport_socket_matches"] = json!([
                {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": upstream(4, sni.as_deref(), c)},
                {"name": "tlsMode-disabled", "match": {}, "transport_socket": {"name": "envoy.transport_sockets.raw_buffer", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}}
            ])
        }
        _ => {}
    }
    if s.auto_sni {
        cl["typed_extension_protocol_options"] = json!({"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "upstream_http_protocol_options": {"auto_sni": true},
            "explicit_http_config": {"http_protocol_options": {}}
        }});
    }
    cl
}

fn chain_json(s: &ChainSpec, i: usize, c: &Certs) -> Value {
    let name = format!("t{i}");
    let mut m = json!({});
    if s.kind == 0 {
        m["source_ports"] = json!([30000 + i]);
    } else {
        m["server_names"] = json!([format!("{name}.example.com")]);
        m["transport_protocol"] = json!("tls");
    }
    let mut chain = json!({
        "name": name,
        "filter_chain_match": m,
        "filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": name, "cluster": "dead"}}]
    });
    let common = match s.kind {
        2 => Some(json!({"tls_certificates": [{"certificate_chain": file(&c.cert), "private_key": file(&c.key)}]})),
        3 => Some(json!({
            "tls_certificates": [{"certificate_chain": file(&c.cert), "private_key": file(&c.key)}],
            "validation_context": {"trusted_ca": file(&c.cert)}
        })),
        4 => Some(json!({
            "tls_certificate_sds_secret_configs": [{"name": "default"}],
            "validation_context_sds_secret_config": {"name": "ROOTCA"},
            "alpn_protocols": ["h2", "http/1.1"]
        })),
        _ => None,
    };
    if let Some(common) = common {
        chain["transport_socket"] = json!({"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": common,
            "require_client_certificate": s.kind >= 3
        }});
    }
    chain
}

fn specs() -> impl Strategy<Value = (Vec<ClusterSpec>, Vec<ChainSpec>)> {
    (
        proptest::collection::vec(
            (0..6u8, any::<bool>(), prop::bool::weighted(0.3)).prop_map(|(kind, sni, auto_sni)| ClusterSpec {
                kind,
                sni,
                auto_sni,
            }),
            20..40,
        ),
        proptest::collection::vec((0..5u8).prop_map(|kind| ChainSpec { kind }), 5..15),
    )
}

#[test]
fn tls_verdicts_match_what_envoy_was_given() {
    let Some(bin) = envoy_bin() else { return };
    let _turn = turn();
    let dir = super::TempDir::new("certs");
    let Some(c) = certs(&dir.0) else { return };
    let mut envoy = Envoy::start_with(&bin, "tls", json!({"secrets": istio_secrets(&c)}));
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[0x15; 32]));
    let (mut clusters_checked, mut chains_checked) = (0usize, 0usize);
    for round in 0..4 {
        let (cs, chs) = specs().new_tree(&mut runner).expect("tree").current();
        let names: Vec<String> = (0..cs.len()).map(|i| format!("tls-{round}-{i}")).collect();
        let mut clusters: Vec<Value> = cs.iter().zip(&names).map(|(s, n)| cluster_json(s, n, &c)).collect();
        clusters.push(super::dead_cluster("dead"));
        if let Err(log) = envoy.push("cds", &clusters) {
            panic!("Envoy rejected generated clusters:\n{log}");
        }
        let port = free_ports(1)[0];
        let listener = json!({
            "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
            "name": format!("tls-{round}"),
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "listener_filters": [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
            "filter_chains": chs.iter().enumerate().map(|(i, s)| chain_json(s, i, &c)).collect::<Vec<_>>()
        });
        if let Err(log) = envoy.push("lds", &[listener]) {
            panic!("Envoy rejected a generated listener:\n{log}");
        }
        let (_, ix) = envoy.dump();
        let report = tls(&ix);
        for (s, name) in cs.iter().zip(&names) {
            let v = report
                .clusters
                .iter()
                .find(|v| &v.name == name)
                .unwrap_or_else(|| panic!("cluster {name} is in Envoy's dump but not in the tls report"));
            let want = match s.kind {
                0 | 1 => Origination::None,
                2 => Origination::Tls,
                3 => Origination::Mtls,
                4 => Origination::IstioMutual,
                _ => Origination::Conditional,
            };
            assert_eq!(v.origination, want, "{name}: {s:?}");
            if (2..=4).contains(&s.kind) {
                let sni = s.sni.then(|| format!("outbound_.443_._.{name}.example.com"));
                assert_eq!(v.default_socket.sni, sni, "{name}: {s:?}");
                assert_eq!(v.default_socket.auto_sni, s.auto_sni, "{name}: {s:?}");
            }
            if s.kind == 5 {
                let tls_match = v
                    .socket_matches
                    .iter()
                    .find(|m| m.name == "tlsMode-istio")
                    .unwrap_or_else(|| panic!("{name}: the tlsMode-istio match is missing"));
                assert_eq!(tls_match.verdict.origination, Origination::IstioMutual, "{name}");
                assert_eq!(tls_match.verdict.alpn, ["istio-peer-exchange", "istio"], "{name}");
            }
            clusters_checked += 1;
        }
        for (i, s) in chs.iter().enumerate() {
            let name = format!("t{i}");
            let v = report
                .filter_chains
                .iter()
                .find(|v| v.listener == format!("tls-{round}") && v.name == name)
                .unwrap_or_else(|| panic!("chain {name} is missing from the tls report"));
            let want = match s.kind {
                0 => Termination::None,
                1 => Termination::Passthrough,
                2 => Termination::Tls,
                3 => Termination::Mtls,
                _ => Termination::IstioMutual,
            };
            assert_eq!(v.termination, want, "chain {name}: {s:?}");
            assert_eq!(v.require_client_certificate, s.kind >= 3, "chain {name}: {s:?}");
            chains_checked += 1;
        }
    }
    eprintln!("tls: {clusters_checked} clusters and {chains_checked} filter chains of Envoy's own dumps, every verdict as generated");
    assert!(clusters_checked >= 80 && chains_checked >= 20);
}
