//! Hand-chosen configurations modelled on the dual egress gateway scenario,
//! in a real Envoy: an SNI passthrough gateway without a default chain, an
//! mTLS-terminating gateway that requires a client certificate, an HTTP
//! listener whose routes come by (file-based) RDS, and two listeners whose
//! inline route configurations share a name. Every connection is traced with
//! the `egress-xray trace … -o json` command on Envoy's own dump and must
//! agree with Envoy's access log; the listeners' `no_filter_chain_match`
//! counters must agree with the connections Envoy closed.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use assert_cmd::Command;
use serde_json::{json, Value};

use super::probe::{self, Hello};
use super::tls::{certs, istio_secrets};
use super::{access_log, dead_cluster, envoy_bin, free_ports, turn, Envoy};

fn tcp_proxy(cluster: &str) -> Value {
    json!([{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": cluster, "cluster": cluster}}])
}

fn hcm(name: &str, routes: Value, log: &std::path::Path) -> Value {
    let mut h = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "access_log": access_log(log, "http"),
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
    });
    let obj = h.as_object_mut().expect("object");
    for (k, v) in routes.as_object().expect("routes").clone() {
        obj.insert(k, v);
    }
    json!([{"name": "envoy.filters.network.http_connection_manager", "typed_config": h}])
}

fn listener(name: &str, port: u16, chains: Value, log: &std::path::Path) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "listener_filters": [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
        "access_log": access_log(log, "listener"),
        "filter_chains": chains
    })
}

fn route_config(name: &str, host: &str, cluster: &str) -> Value {
    json!({"name": name, "virtual_hosts": [{"name": format!("{host}:80"), "domains": [host],
        "routes": [{"name": format!("to-{cluster}"), "match": {"prefix": "/"}, "route": {"cluster": cluster}}]}]})
}

const WIKI: &str = "outbound|443||www.wikipedia.org";
const HTTPBIN: &str = "outbound|80||httpbin.org";
const API: &str = "outbound|443||api.example.com";

/// Loads the scenario's clusters (one by file-based EDS), route
/// configuration (file-based RDS) and five listeners into `envoy`, on
/// `ports`: passthrough gateway, mTLS gateway, HTTP with RDS, two inline
/// twins.
pub fn load_gateways(envoy: &mut Envoy, ports: &[u16]) {
    let log = envoy.access_log.clone();
    let (wiki, httpbin, api) = (WIKI, HTTPBIN, API);
    // EDS by file, written before the cluster that waits for it.
    let eds = envoy.dir.0.join("eds.json");
    std::fs::write(
        &eds,
        json!({"resources": [{"@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": api, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9}}}},
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 10}}}}
        ]}]}]})
        .to_string(),
    )
    .expect("eds file");
    let eds_cluster = json!({
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": api,
        "type": "EDS",
        "connect_timeout": "0.25s",
        "eds_cluster_config": {"eds_config": {"path_config_source": {"path": eds.to_string_lossy()}, "resource_api_version": "V3"}}
    });
    envoy
        .push(
            "cds",
            &[
                dead_cluster(wiki),
                dead_cluster(httpbin),
                dead_cluster("twin-a"),
                dead_cluster("twin-b"),
                eds_cluster,
            ],
        )
        .expect("CDS accepted");
    // RDS by file, written before the listener that waits for it.
    let rds = envoy.dir.0.join("rds.json");
    let rc = route_config("http.8080", "httpbin.org", httpbin);
    std::fs::write(
        &rds,
        json!({"resources": [{"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
            "name": "http.8080", "virtual_hosts": rc["virtual_hosts"]}]})
        .to_string(),
    )
    .expect("rds file");
    let mtls_chain = json!([{
        "name": "https.443.tls-wiki.egress-mtls",
        "filter_chain_match": {"server_names": ["www.wikipedia.org"]},
        "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": true,
            "common_tls_context": {
                "tls_certificate_sds_secret_configs": [{"name": "default"}],
                "validation_context_sds_secret_config": {"name": "ROOTCA"}
            }}},
        "filters": hcm("mtls", json!({"route_config": route_config("https.443.tls-wiki", "www.wikipedia.org", wiki)}), &log)
    }]);
    let listeners = vec![
        // The passthrough gateway: one SNI chain, no default chain.
        listener(
            "0.0.0.0_8443",
            ports[0],
            json!([{"name": "0.0.0.0_8443_wiki", "filter_chain_match": {"server_names": ["www.wikipedia.org"]},
                "filters": tcp_proxy(wiki)},
                {"name": "0.0.0.0_8443_api", "filter_chain_match": {"server_names": ["api.example.com"]},
                "filters": tcp_proxy(api)}]),
            &log,
        ),
        // The mTLS gateway: terminates TLS, requires a client certificate.
        listener("0.0.0.0_9443", ports[1], mtls_chain, &log),
        // HTTP with RDS from a file.
        listener(
            "0.0.0.0_8080",
            ports[2],
            json!([{"name": "http", "filters": hcm("http", json!({"rds": {
                "config_source": {"path_config_source": {"path": rds.to_string_lossy()}, "resource_api_version": "V3"},
                "route_config_name": "http.8080"}}), &log)}]),
            &log,
        ),
        // Two listeners whose inline route configurations share a name.
        listener(
            "twin-a",
            ports[3],
            json!([{"name": "a", "filters": hcm("a", json!({"route_config": route_config("same", "*", "twin-a")}), &log)}]),
            &log,
        ),
        listener(
            "twin-b",
            ports[4],
            json!([{"name": "b", "filters": hcm("b", json!({"route_config": route_config("same", "*", "twin-b")}), &log)}]),
            &log,
        ),
    ];
    envoy.push("lds", &listeners).expect("LDS accepted");
}

/// One hand-chosen connection and what Envoy must do with it.
struct Case {
    what: &'static str,
    listener: usize,
    hello: Hello,
    /// Envoy's chain (None: closed), and for HTTP the route and cluster.
    chain: Option<&'static str>,
    route: Option<&'static str>,
    cluster: Option<&'static str>,
}

fn tls(sni: &str) -> Hello {
    Hello::Tls {
        sni: Some(sni.into()),
        alpn: vec!["h2".into(), "http/1.1".into()],
    }
}

fn http(host: &str, path: &str) -> Hello {
    Hello::Http {
        host: host.into(),
        path: path.into(),
        method: "GET".into(),
        headers: Vec::new(),
    }
}

#[test]
fn the_dual_egress_gateway_configurations_trace_as_envoy_runs_them() {
    let Some(bin) = envoy_bin() else { return };
    let _turn = turn();
    let dir = super::TempDir::new("scenario-certs");
    let Some(c) = certs(&dir.0) else { return };
    let mut envoy = Envoy::start_with(&bin, "scenario", json!({"secrets": istio_secrets(&c)}));
    let ports = free_ports(5);
    let (wiki, httpbin, api) = (WIKI, HTTPBIN, API);
    load_gateways(&mut envoy, &ports);
    let cases = [
        Case {
            what: "passthrough, the gateway's SNI",
            listener: 0,
            hello: tls("www.wikipedia.org"),
            chain: Some("0.0.0.0_8443_wiki"),
            route: None,
            cluster: Some(wiki),
        },
        Case {
            what: "passthrough to an EDS cluster (endpoints by file)",
            listener: 0,
            hello: tls("api.example.com"),
            chain: Some("0.0.0.0_8443_api"),
            route: None,
            cluster: Some(api),
        },
        Case {
            what: "passthrough, upper-case SNI",
            listener: 0,
            hello: tls("WWW.Wikipedia.ORG"),
            chain: Some("0.0.0.0_8443_wiki"),
            route: None,
            cluster: Some(wiki),
        },
        Case {
            what: "passthrough, another SNI: no default chain",
            listener: 0,
            hello: tls("en.wikipedia.org"),
            chain: None,
            route: None,
            cluster: None,
        },
        Case {
            what: "passthrough, plain bytes",
            listener: 0,
            hello: Hello::Raw,
            chain: None,
            route: None,
            cluster: None,
        },
        Case {
            what: "passthrough, TLS without SNI",
            listener: 0,
            hello: Hello::Tls {
                sni: None,
                alpn: vec![],
            },
            chain: None,
            route: None,
            cluster: None,
        },
        Case {
            what: "mTLS gateway, its SNI",
            listener: 1,
            hello: tls("www.wikipedia.org"),
            chain: Some("https.443.tls-wiki.egress-mtls"),
            route: None,
            cluster: None,
        },
        Case {
            what: "mTLS gateway, another SNI",
            listener: 1,
            hello: tls("en.wikipedia.org"),
            chain: None,
            route: None,
            cluster: None,
        },
        Case {
            what: "RDS route",
            listener: 2,
            hello: http("httpbin.org", "/get"),
            chain: Some("http"),
            route: Some("to-outbound|80||httpbin.org"),
            cluster: Some(httpbin),
        },
        Case {
            what: "RDS, unknown host: 404",
            listener: 2,
            hello: http("example.org", "/"),
            chain: Some("http"),
            route: None,
            cluster: None,
        },
        Case {
            what: "inline twin a",
            listener: 3,
            hello: http("x", "/"),
            chain: Some("a"),
            route: Some("to-twin-a"),
            cluster: Some("twin-a"),
        },
        Case {
            what: "inline twin b",
            listener: 4,
            hello: http("x", "/"),
            chain: Some("b"),
            route: Some("to-twin-b"),
            cluster: Some("twin-b"),
        },
    ];
    let mark = envoy.log_mark();
    let lo: IpAddr = "127.0.0.1".parse().expect("ip");
    let conns: Vec<(SocketAddr, SocketAddr)> = cases
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                probe::source(lo, 31000 + i as u16),
                SocketAddr::new(lo, ports[k.listener]),
            )
        })
        .collect();
    for (k, (src, dst)) in cases.iter().zip(&conns) {
        probe::send(*src, *dst, &k.hello).unwrap_or_else(|e| panic!("{}: {e}", k.what));
    }
    let keys: Vec<String> = conns.iter().map(|(s, d)| format!("{s}>{d}")).collect();
    let lines = envoy.log_lines(mark, |by| {
        keys.iter().zip(&cases).all(|(k, c)| {
            by.get(k).is_some_and(|v| {
                v.iter().any(|l| l["w"] == "listener")
                    && (!matches!(c.hello, Hello::Http { .. }) || v.iter().any(|l| l["w"] == "http"))
            })
        })
    });
    let (text, _) = envoy.dump();
    let dump = envoy.dir.0.join("envoy-config_dump.json");
    std::fs::write(&dump, &text).expect("dump file");
    let mut closed: BTreeMap<usize, u64> = BTreeMap::new();
    for ((k, key), (_, dst)) in cases.iter().zip(&keys).zip(&conns) {
        let got = &lines[key];
        let at = |w: &str| got.iter().find(|l| l["w"] == w);
        let envoy_chain = at("listener").and_then(|l| l["chain"].as_str());
        assert_eq!(
            envoy_chain, k.chain,
            "{}: Envoy's chain is not the expected one",
            k.what
        );
        if envoy_chain.is_none() {
            *closed.entry(k.listener).or_default() += 1;
        }
        if let Some(h) = at("http") {
            assert_eq!(h["route"].as_str(), k.route, "{}: Envoy's route", k.what);
            assert_eq!(h["cluster"].as_str(), k.cluster, "{}: Envoy's cluster", k.what);
        }
        // The command a user runs, on the dump Envoy wrote.
        let mut args = vec![
            "trace".to_string(),
            dump.to_string_lossy().into_owned(),
            "--port".into(),
            dst.port().to_string(),
            "--dst-ip".into(),
            "127.0.0.1".into(),
            "-o".into(),
            "json".into(),
        ];
        match &k.hello {
            Hello::Tls { sni, alpn } => {
                args.extend(["--transport".into(), "tls".into()]);
                if let Some(s) = sni {
                    args.extend(["--sni".into(), s.clone()]);
                }
                if !alpn.is_empty() {
                    args.extend(["--alpn".into(), alpn.join(",")]);
                }
            }
            Hello::Raw => args.extend(["--transport".into(), "raw_buffer".into()]),
            Hello::Http { host, path, .. } => {
                args.extend(["--host".into(), host.clone(), "--path".into(), path.clone()])
            }
        }
        let out = Command::cargo_bin("egress-xray")
            .expect("binary")
            .args(&args)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}: {}",
            k.what,
            String::from_utf8_lossy(&out.stderr)
        );
        let t: Value = serde_json::from_slice(&out.stdout).expect("trace JSON");
        let tool_chain = match t["result"].as_str() {
            Some("no_filter_chain") | Some("no_listener") => None,
            _ => t["filter_chain"]["name"].as_str(),
        };
        assert_eq!(
            tool_chain, envoy_chain,
            "{}: trace's chain differs from Envoy's: {t:#}",
            k.what
        );
        if k.route.is_some() || matches!(k.hello, Hello::Http { .. }) {
            let route = match t["result"].as_str() {
                Some("no_route") => None,
                _ => t["route"]["route_name"].as_str(),
            };
            assert_eq!(route, k.route, "{}: trace's route: {t:#}", k.what);
        }
        if k.cluster.is_some() {
            assert_eq!(t["cluster"].as_str(), k.cluster, "{}: trace's cluster: {t:#}", k.what);
        }
        if k.cluster == Some(api) {
            // Joined with the ClusterLoadAssignment Envoy received by EDS.
            assert_eq!(t["endpoints_known"], true, "{t:#}");
            let eps: Vec<&str> = t["endpoints"]
                .as_array()
                .expect("endpoints")
                .iter()
                .filter_map(|e| e.as_str())
                .collect();
            assert!(
                eps.iter().any(|e| e.starts_with("127.0.0.1:9")) && eps.iter().any(|e| e.starts_with("127.0.0.1:10")),
                "{eps:?}"
            );
        }
    }
    // The plain /config_dump (no ?include_eds): the EDS cluster's endpoints
    // are not in it, and trace says so rather than "no endpoints".
    let plain = envoy.dir.0.join("envoy-config_dump-plain.json");
    std::fs::write(&plain, envoy.get("/config_dump")).expect("dump file");
    let out = Command::cargo_bin("egress-xray")
        .expect("binary")
        .args(["trace", &plain.to_string_lossy(), "--port", &ports[0].to_string()])
        .args(["--dst-ip", "127.0.0.1", "--sni", "api.example.com", "-o", "json"])
        .output()
        .expect("runs");
    let t: Value = serde_json::from_slice(&out.stdout).expect("trace JSON");
    assert_eq!(t["cluster"], api, "{t:#}");
    assert_eq!(t["endpoints_known"], false, "{t:#}");
    assert!(
        t["endpoints_note"].as_str().is_some_and(|n| n.contains("include_eds")),
        "{t:#}"
    );
    // Envoy's own counters agree with the connections it closed.
    for (i, port) in ports.iter().enumerate() {
        let stat = format!("listener.127.0.0.1_{port}.no_filter_chain_match");
        let body = envoy.get(&format!("/stats?filter=^{}$", stat.replace('.', "\\.")));
        let n: u64 = body
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{stat}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        assert_eq!(n, closed.get(&i).copied().unwrap_or(0), "{stat}");
    }
    // The routes view keeps both inline configurations named "same", each
    // with its own listener and cluster (Envoy lists them again under
    // static_route_configs).
    let out = Command::cargo_bin("egress-xray")
        .expect("binary")
        .args(["routes", &dump.to_string_lossy(), "-o", "json"])
        .output()
        .expect("runs");
    let rows: Value = serde_json::from_slice(&out.stdout).expect("routes JSON");
    // (Envoy's own order of static route configurations varies between
    // runs; the view keeps the dump's order.)
    let mut same: Vec<String> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["route_config"] == "same")
        .map(|r| {
            format!(
                "{} {}",
                r["origin"]["listener"].as_str().unwrap_or("?"),
                r["action"].as_str().unwrap_or("?")
            )
        })
        .collect();
    same.sort();
    assert_eq!(same, ["twin-a cluster twin-a", "twin-b cluster twin-b"], "{rows:#}");
}
