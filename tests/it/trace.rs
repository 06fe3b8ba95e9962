//! `trace` and `tls` on the scenario's samples and on real dumps: the JSON
//! contracts, Envoy's matching rules end to end, and no panic anywhere.

use crate::common;

use assert_cmd::Command;
use egress_xray::analysis::trace::{self, TraceRequest, TraceResult};
use egress_xray::input;
use egress_xray::model::Index;

fn json_of(args: &[&str]) -> serde_json::Value {
    let out = Command::cargo_bin("egress-xray").unwrap().args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn trace_json_contract_on_the_scenario_gateways() {
    let mtls = common::sample("egw-mtls.config_dump.json");
    let pt = common::sample("egw-pt.config_dump.json");
    let t = json_of(&[
        "trace",
        &mtls,
        "--port",
        "8443",
        "--sni",
        "www.wikipedia.org",
        "-o",
        "json",
    ]);
    assert_eq!(t["result"], "routed");
    assert_eq!(t["listener"], "0.0.0.0_8443");
    assert_eq!(t["filter_chain"]["index"], 0);
    assert!(t["filter_chain"]["name"].is_string());
    assert_eq!(t["cluster"], "outbound|443||www.wikipedia.org");
    assert_eq!(t["chain_tls"]["termination"], "istio_mutual");
    assert_eq!(t["cluster_tls"]["origination"], "none");

    // The passthrough gateway only knows example.org.
    let t = json_of(&[
        "trace",
        &pt,
        "--port",
        "8443",
        "--sni",
        "www.wikipedia.org",
        "-o",
        "json",
    ]);
    assert_eq!(t["result"], "no_filter_chain");
    assert!(t["filter_chain"].is_null());
    assert!(t["cluster"].is_null());
    let t = json_of(&["trace", &pt, "--port", "8443", "--sni", "EXAMPLE.org", "-o", "json"]);
    assert_eq!(t["result"], "routed");
    assert_eq!(t["cluster"], "outbound|443||example.org");
    assert_eq!(t["chain_tls"]["termination"], "passthrough");

    let t = json_of(&["trace", &pt, "--port", "9999", "-o", "json"]);
    assert_eq!(t["result"], "no_listener");
    assert!(t["listener"].is_null());
}

#[test]
fn client_sidecar_wraps_wikipedia_in_mesh_mtls_and_leaves_example_org_alone() {
    let sleep = common::sample("sleep-sidecar.config_dump.json");
    let t = json_of(&[
        "trace",
        &sleep,
        "--port",
        "443",
        "--dst-ip",
        "185.15.59.224",
        "--sni",
        "www.wikipedia.org",
        "-o",
        "json",
    ]);
    assert_eq!(t["result"], "routed");
    assert_eq!(t["listener"], "0.0.0.0_443");
    assert_eq!(t["filter_chain"]["index"], 1);
    assert_eq!(
        t["cluster"],
        "outbound|443|wikipedia|egw-mtls.egress-mtls.svc.cluster.local"
    );
    assert_eq!(t["cluster_tls"]["origination"], "istio_mutual");
    assert_eq!(t["cluster_tls"]["sni"], "www.wikipedia.org");
    let t = json_of(&["trace", &sleep, "--port", "443", "--sni", "example.org", "-o", "json"]);
    assert_eq!(t["cluster"], "outbound|443||egw-pt.egress-pt.svc.cluster.local");
    assert_eq!(t["cluster_tls"]["origination"], "none");
    // Anything else on 443 falls to the listener's default chain.
    let t = json_of(&["trace", &sleep, "--port", "443", "--sni", "github.com", "-o", "json"]);
    assert!(t["filter_chain"]["index"].is_null());
    assert_eq!(t["cluster"], "PassthroughCluster");
    // A port no listener has: virtualOutbound keeps it.
    let t = json_of(&["trace", &sleep, "--port", "5432", "--dst-ip", "10.0.0.9", "-o", "json"]);
    assert_eq!(t["listener"], "virtualOutbound");
    assert_eq!(t["cluster"], "PassthroughCluster");
}

fn corpus_index(rel: &str) -> Option<Index> {
    let corpus = common::corpus()?;
    Some(common::index(&corpus.join(rel).to_string_lossy()))
}

#[test]
fn envoy_gateway_tls_passthrough_listener() {
    let Some(ix) = corpus_index(
        "public/envoyproxy__gateway__internal__cmd__egctl__testdata__translate__out__from-gateway-api-to-xds.all.json",
    ) else {
        return;
    };
    let req = TraceRequest {
        port: 8443,
        sni: Some("foo.com".into()),
        ..Default::default()
    };
    let t = trace::trace(&ix, &req);
    assert_eq!(t.result, TraceResult::Routed);
    assert_eq!(t.listener.as_deref(), Some("default/eg/tls-passthrough"));
    assert_eq!(t.cluster.as_deref(), Some("tlsroute/default/backend/rule/-1"));
    // Another SNI: the only chain names foo.com and there is no default chain.
    let t = trace::trace(
        &ix,
        &TraceRequest {
            sni: Some("bar.com".into()),
            ..req.clone()
        },
    );
    assert_eq!(t.result, TraceResult::NoFilterChain);
    let miss = &t.chain_selection.unwrap().near_misses[0];
    assert!(miss.reason.contains("foo.com"), "{}", miss.reason);

    // HTTP: exact virtual host, then the route's cluster.
    let t = trace::trace(
        &ix,
        &TraceRequest {
            port: 10080,
            host: Some("www.example.com".into()),
            path: Some("/anything".into()),
            ..Default::default()
        },
    );
    assert_eq!(t.result, TraceResult::Routed);
    let r = t.route.unwrap();
    assert!(r.vhost_reason.starts_with("exact domain"), "{}", r.vhost_reason);
    assert_eq!(t.cluster.as_deref(), Some("httproute/default/backend/rule/0"));
}

#[test]
fn sidecar_original_destination_fallback_and_auto_mtls() {
    let Some(ix) = corpus_index("public/TZ-Zephrus__DeathStarBench__config_dump.json") else {
        return;
    };
    // No listener for this port: virtualOutbound keeps it → PassthroughCluster.
    let t = trace::trace(
        &ix,
        &TraceRequest {
            port: 4444,
            dst_ip: Some("8.8.8.8".parse().unwrap()),
            ..Default::default()
        },
    );
    assert_eq!(t.listener.as_deref(), Some("virtualOutbound"));
    assert_eq!(t.cluster.as_deref(), Some("PassthroughCluster"));
    // A service VIP: its own listener, an auto-mTLS cluster.
    let t = trace::trace(
        &ix,
        &TraceRequest {
            port: 443,
            dst_ip: Some("10.68.6.62".parse().unwrap()),
            ..Default::default()
        },
    );
    assert_eq!(t.listener.as_deref(), Some("10.68.6.62_443"));
    assert_eq!(
        t.cluster.as_deref(),
        Some("outbound|443||istio-egressgateway.istio-system.svc.cluster.local")
    );
    assert_eq!(
        t.cluster_tls.unwrap().origination,
        egress_xray::analysis::tls::Origination::Conditional
    );
}

#[test]
fn osm_egress_chain_on_sni_behind_an_original_destination_listener() {
    let Some(ix) = corpus_index("public/openservicemesh__osm__pkg__cli__verifier__testdata__curl_egress.json") else {
        return;
    };
    let t = trace::trace(
        &ix,
        &TraceRequest {
            port: 443,
            dst_ip: Some("54.1.2.3".parse().unwrap()),
            sni: Some("httpbin.org".into()),
            ..Default::default()
        },
    );
    assert_eq!(t.listener.as_deref(), Some("outbound-listener"));
    assert_eq!(
        t.filter_chain.as_ref().map(|c| c.name.as_str()),
        Some("egress-https.443")
    );
    assert_eq!(t.result, TraceResult::Routed);
    // Port-specific chains exist for 443: another SNI does not fall back to
    // a port-less chain; with no default chain the connection is closed.
    let t = trace::trace(
        &ix,
        &TraceRequest {
            port: 443,
            dst_ip: Some("54.1.2.3".parse().unwrap()),
            sni: Some("example.com".into()),
            ..Default::default()
        },
    );
    assert_eq!(t.result, TraceResult::NoFilterChain);
}

#[test]
fn filter_chain_matcher_with_istio_ip_matcher() {
    let Some(ix) = corpus_index("istio/writer/compare/testdata/configdump.json") else {
        return;
    };
    let req = TraceRequest {
        listener: Some("main_internal".into()),
        port: 9080,
        dst_ip: Some("10.96.1.201".parse().unwrap()),
        ..Default::default()
    };
    let t = trace::trace(&ix, &req);
    assert_eq!(
        t.filter_chain.as_ref().map(|c| c.name.as_str()),
        Some("inbound-vip|9080||details.default.svc.cluster.local-http")
    );
    assert!(t.chain_matcher.is_some());
    let lines = egress_xray::analysis::paths::paths(
        &ix,
        &egress_xray::analysis::paths::PathFilter {
            listener: Some(egress_xray::analysis::filter::TextFilter::new("main_internal").unwrap()),
            ..Default::default()
        },
    )
    .listeners[0]
        .matcher
        .clone();
    assert!(lines.contains(
        &"DestinationIP in 10.96.1.201/32, DestinationPort = 9080 → chain inbound-vip|9080||details.default.svc.cluster.local-http"
            .to_string()
    ));
    assert!(lines.iter().any(|l| l.ends_with("otherwise → chain direct-tcp")));
    // Right IP, wrong port: the nested exact-port map has no key.
    let t = trace::trace(&ix, &TraceRequest { port: 9081, ..req });
    assert_eq!(t.result, TraceResult::NoFilterChain);
}

#[test]
fn trace_every_listener_of_every_corpus_dump() {
    let indexes = common::corpus_indexes();
    let mut traced = 0;
    for ix in &indexes {
        let views = egress_xray::analysis::inventory::listeners(ix);
        for l in views.iter().take(40) {
            for sni in [None, Some("www.example.com")] {
                let t = trace::trace(
                    ix,
                    &TraceRequest {
                        listener: Some(l.name.clone()),
                        port: l.port,
                        sni: sni.map(String::from),
                        host: Some("www.example.com".into()),
                        path: Some("/a?b=c".into()),
                        ..Default::default()
                    },
                );
                assert!(!t.summary.is_empty() || t.result == TraceResult::Routed);
                traced += 1;
            }
        }
    }
    assert!(indexes.is_empty() || traced > 100, "{traced}");
}

#[test]
fn sni_cluster_takes_the_cluster_from_the_sni() {
    // Istio AUTO_PASSTHROUGH: sni_cluster before tcp_proxy.
    let text = r#"{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump","dynamic_listeners":[
      {"name":"0.0.0.0_15443","active_state":{"listener":{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener",
        "name":"0.0.0.0_15443","address":{"socket_address":{"address":"0.0.0.0","port_value":15443}},
        "listener_filters":[{"name":"envoy.filters.listener.tls_inspector","typed_config":{
          "@type":"type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
        "filter_chains":[{"filter_chain_match":{"server_names":["*.svc.cluster.local"]},"filters":[
          {"name":"envoy.filters.network.sni_cluster","typed_config":{
            "@type":"type.googleapis.com/envoy.extensions.filters.network.sni_cluster.v3.SniCluster"}},
          {"name":"envoy.filters.network.tcp_proxy","typed_config":{
            "@type":"type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix":"p","cluster":"BlackHoleCluster"}}]}]}}}]}]}"#;
    let ix = Index::build(input::load_bytes("f.json", text.as_bytes()).unwrap().remove(0));
    let t = trace::trace(
        &ix,
        &TraceRequest {
            port: 15443,
            sni: Some("outbound_.8080_._.reviews.default.svc.cluster.local".into()),
            ..Default::default()
        },
    );
    assert_eq!(
        t.cluster.as_deref(),
        Some("outbound_.8080_._.reviews.default.svc.cluster.local")
    );
    assert!(!t.cluster_found);
}

/// Cilium, Consul and Envoy Gateway publish a cluster's endpoints by EDS
/// under `eds_cluster_config.service_name`, not the cluster's name: trace,
/// paths and the endpoints view join them (a reduction of such a dump).
#[test]
fn eds_service_names_join_clusters_to_their_endpoints() {
    let text = std::fs::read_to_string(common::sample("foreign/eds-service-name.config_dump.json")).unwrap();
    let text = text.as_str();
    let ix = Index::build(
        input::load_bytes("eds-service-name.json", text.as_bytes())
            .unwrap()
            .remove(0),
    );
    let t = trace::trace(
        &ix,
        &TraceRequest {
            port: 9000,
            ..Default::default()
        },
    );
    assert_eq!(t.cluster.as_deref(), Some("default/backend:80"));
    assert!(t.endpoints_known, "{:?}", t.endpoints_note);
    assert_eq!(t.endpoints, ["10.0.1.7:8080", "10.0.1.8:8080"]);
    let rows = egress_xray::analysis::endpoints::endpoints(&ix);
    assert!(
        rows.iter().all(|r| r.cluster == "default/backend:80"),
        "listed under the cluster, not the service name"
    );
    assert!(rows
        .iter()
        .all(|r| r.eds_service.as_deref() == Some("default/backend:80/eds")));
    let paths = egress_xray::analysis::paths::paths(&ix, &Default::default());
    let json = serde_json::to_string(&paths).unwrap();
    assert!(
        json.contains("10.0.1.7:8080") && !json.contains("\"endpoints_known\":false"),
        "{json}"
    );
}

/// Cilium's Envoy wraps TLS in its own transport sockets and runs its own
/// network filter before tcp_proxy (a reduction of such a dump): what the
/// tool cannot read is `unknown`/`undetermined`, never "plain TCP".
#[test]
fn unknown_sockets_and_filters_are_unknown_not_plain() {
    let text = std::fs::read_to_string(common::sample("foreign/cilium-tls-wrapper.config_dump.json")).unwrap();
    let text = text.as_str();
    let ix = Index::build(
        input::load_bytes("cilium-like.json", text.as_bytes())
            .unwrap()
            .remove(0),
    );
    let report = egress_xray::analysis::tls::tls(&ix);
    let c = report.clusters.iter().find(|c| c.name == "egress-cluster").unwrap();
    assert_eq!(c.origination, egress_xray::analysis::tls::Origination::Unknown);
    let chain = &report.filter_chains[0];
    assert_eq!(chain.termination, egress_xray::analysis::tls::Termination::Unknown);
    assert_eq!(chain.unknown_socket.as_deref(), Some("cilium.tls_wrapper"));
    let t = trace::trace(
        &ix,
        &TraceRequest {
            port: 10000,
            ..Default::default()
        },
    );
    assert_eq!(t.result, TraceResult::Undetermined, "{}", t.summary);
    assert!(t.summary.contains("cilium.network"), "{}", t.summary);
    // The text says unknown, never plain TCP.
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["tls", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("unknown") && !table.contains("plain TCP"), "{table}");
}

/// Without --port, trace finds the listeners that take the SNI (or Host)
/// by name and traces each; on Envoy's own dump of the scenario gateways.
#[test]
fn the_port_is_inferred_from_the_sni_or_host() {
    let dump = common::sample("envoy-gateways.config_dump.json");
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["trace", &dump, "--sni", "www.wikipedia.org", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listeners: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["listener"].as_str())
        .collect();
    assert_eq!(listeners, ["0.0.0.0_8443", "0.0.0.0_9443"], "{v:#}");
    assert!(v[0]["notes"][0].as_str().unwrap().starts_with("port 8443 inferred"));
    let one = json_of(&["trace", &dump, "--host", "httpbin.org", "-o", "json"]);
    assert_eq!(one["listener"], "0.0.0.0_8080", "{one:#}");
    assert_eq!(one["cluster"], "outbound|80||httpbin.org");
    let none = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["trace", &dump])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("needs --port"));
}

/// A chain's TLS parameters are shown where the answer is given: after a
/// push that raises the minimum to TLS 1.3, trace says older clients are
/// refused and `tls` lists the versions and ciphers.
#[test]
fn tls_parameters_of_a_chain_reach_trace_and_tls() {
    let text = std::fs::read_to_string(common::sample("egw-mtls.config_dump.json")).unwrap();
    let raised = text.replace(
        "\"tls_minimum_protocol_version\": \"TLSv1_2\"",
        "\"tls_minimum_protocol_version\": \"TLSv1_3\", \"cipher_suites\": [\"ECDHE-RSA-AES256-GCM-SHA384\"]",
    );
    assert_ne!(raised, text, "the sample sets a minimum TLS version");
    let path = std::env::temp_dir().join(format!("egress-xray-tls13-{}.json", std::process::id()));
    std::fs::write(&path, raised).unwrap();
    let file = path.to_string_lossy().to_string();
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["trace", &file, "--sni", "www.wikipedia.org"])
        .output()
        .unwrap();
    let trace = String::from_utf8(out.stdout).unwrap();
    assert!(
        trace.contains("minimum TLSv1_3: clients that offer only older versions are refused"),
        "{trace}"
    );
    assert!(trace.contains("cipher suites ECDHE-RSA-AES256-GCM-SHA384"), "{trace}");
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["tls", &file, "--listener", "0.0.0.0_8443", "-o", "wide"])
        .output()
        .unwrap();
    let tls = String::from_utf8(out.stdout).unwrap();
    let row = tls.lines().find(|l| l.contains("www.wikipedia.org")).unwrap();
    assert!(
        row.contains("istio_mutual") && row.contains(" 1.3+ ") && row.contains("ECDHE-RSA-AES256-GCM-SHA384"),
        "{tls}"
    );
    let json = json_of(&["tls", &file, "-o", "json"]);
    let chain = json["filter_chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["listener"] == "0.0.0.0_8443")
        .unwrap();
    assert_eq!(chain["tls_min"], "TLSv1_3");
    let _ = std::fs::remove_file(&path);
}
