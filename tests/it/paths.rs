//! `paths`: the graph on the samples and real dumps, its findings for
//! references that lead nowhere, and the diagram outputs.

use crate::common;

use assert_cmd::Command;
use egress_xray::analysis::paths::{self, PathFilter};
use egress_xray::input;
use egress_xray::model::Index;

fn xray() -> Command {
    Command::cargo_bin("egress-xray").unwrap()
}

#[test]
fn sample_graph_and_diagrams() {
    let mtls = common::sample("egw-mtls.config_dump.json");
    let out = xray().args(["paths", &mtls, "-o", "json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "0.0.0.0_8443")
        .unwrap();
    let chain = &l["chains"][0];
    assert_eq!(chain["tls"]["termination"], "istio_mutual");
    let tcp = chain["filters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "tcp_proxy")
        .expect("a tcp_proxy hop");
    assert_eq!(tcp["clusters"][0], "outbound|443||www.wikipedia.org");
    let c = &v["clusters"]["outbound|443||www.wikipedia.org"];
    assert_eq!(c["found"], true);
    assert_eq!(c["type"], "STRICT_DNS");
    assert_eq!(c["origination"], "none");
    assert!(v["findings"].as_array().unwrap().is_empty(), "{}", v["findings"]);

    let m = xray().args(["paths", &mtls, "-o", "mermaid"]).output().unwrap();
    let m = String::from_utf8(m.stdout).unwrap();
    assert!(m.starts_with("flowchart LR\n"));
    assert!(m.contains("outbound|443||www.wikipedia.org"));
    let d = xray().args(["paths", &mtls, "-o", "dot"]).output().unwrap();
    let d = String::from_utf8(d.stdout).unwrap();
    assert!(d.starts_with("digraph paths {") && d.trim_end().ends_with('}'));
    // Diagrams are for paths only.
    xray().args(["clusters", &mtls, "-o", "mermaid"]).assert().code(2);
}

#[test]
fn references_that_lead_nowhere_are_findings() {
    // Istio REGISTRY_ONLY: a route to a host without a ServiceEntry names a
    // cluster that was never sent; an RDS name without a route config; an
    // SDS name without a secret.
    let text = r#"{"configs":[
      {"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump","dynamic_listeners":[
        {"name":"0.0.0.0_443","active_state":{"listener":{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener",
          "name":"0.0.0.0_443","address":{"socket_address":{"address":"0.0.0.0","port_value":443}},
          "filter_chains":[
            {"filter_chain_match":{"server_names":["www.example.com"]},
             "filters":[{"name":"envoy.filters.network.tcp_proxy","typed_config":{
               "@type":"type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
               "stat_prefix":"x","cluster":"outbound|443||www.example.com"}}]},
            {"filter_chain_match":{"server_names":["api.example.com"]},
             "transport_socket":{"name":"envoy.transport_sockets.tls","typed_config":{
               "@type":"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
               "common_tls_context":{"tls_certificate_sds_secret_configs":[{"name":"kubernetes://api-cert"}]}}},
             "filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{
               "@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
               "stat_prefix":"y","rds":{"route_config_name":"https.443.api","config_source":{"ads":{}}}}}]}]}}}]},
      {"@type":"type.googleapis.com/envoy.admin.v3.SecretsConfigDump"}]}"#;
    let d = input::load_bytes("fragment.json", text.as_bytes()).unwrap().remove(0);
    let r = paths::paths(&Index::build(d), &PathFilter::default());
    let codes: Vec<(&str, &str)> = r.findings.iter().map(|f| (f.code, f.resource.as_str())).collect();
    assert!(
        codes.contains(&("XR0007", "cluster outbound|443||www.example.com")),
        "{codes:?}"
    );
    assert!(codes.contains(&("XR0008", "route https.443.api")), "{codes:?}");
    assert!(codes.contains(&("XR0009", "secret kubernetes://api-cert")), "{codes:?}");
    assert!(!r.clusters["outbound|443||www.example.com"].found);

    let f = PathFilter {
        host: Some("api.example.com".into()),
        ..Default::default()
    };
    let only = paths::paths(
        &Index::build(input::load_bytes("f.json", text.as_bytes()).unwrap().remove(0)),
        &f,
    );
    assert_eq!(only.listeners[0].chains.len(), 1);
    assert_eq!(only.listeners[0].chains[0].tls.server_names, ["api.example.com"]);
}

#[test]
fn every_corpus_dump_has_a_graph() {
    let mut chains = 0;
    let indexes = common::corpus_indexes();
    for ix in &indexes {
        let r = paths::paths(ix, &PathFilter::default());
        chains += r.listeners.iter().map(|l| l.chains.len()).sum::<usize>();
        let _ = egress_xray::render::graph::mermaid(&r);
        let _ = egress_xray::render::graph::dot(&r);
        let _ = egress_xray::render::graph::tree(&r, false, Default::default());
    }
    assert!(indexes.is_empty() || chains > 300, "{chains}");
}

#[test]
fn large_sidecar_diagram_is_folded() {
    let Some(corpus) = common::corpus() else { return };
    let ix = common::index(
        &corpus
            .join("public/TZ-Zephrus__DeathStarBench__config_dump.json")
            .to_string_lossy(),
    );
    let r = paths::paths(&ix, &PathFilter::default());
    let m = egress_xray::render::graph::mermaid(&r);
    // Virtual hosts folded into their route configurations.
    assert!(!m.contains("(\"vhost "), "vhosts should be folded in a large graph");
    assert!(r.findings.iter().any(|f| f.code == "XR0011"));
    assert!(r
        .findings
        .iter()
        .all(|f| !(f.code == "XR0010" && f.resource.contains("BlackHole"))));
    // Services with no ready endpoints in the EDS section.
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "XR0010" && f.resource == "cluster outbound|8083||geo.hotel-res.svc.cluster.local"));
}
