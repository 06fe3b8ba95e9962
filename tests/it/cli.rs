//! The binary end to end: the README's commands, the JSON contracts, the
//! conventions (stdin, gzip, protobuf, NO_COLOR) and bad input.

use crate::common;

use std::io::Write;

use assert_cmd::Command;
use predicates::prelude::*;
use prost::Message;

fn xray() -> Command {
    Command::cargo_bin("egress-xray").unwrap()
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let out = xray().args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn summary_of_a_sample_shows_identity_counts_and_skips() {
    let mtls = common::sample("egw-mtls.config_dump.json");
    xray()
        .arg(&mtls)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "pod egw-mtls-6c8f9d7b5-x2k4p, namespace egress-mtls",
        ))
        .stdout(predicate::str::contains("Envoy 1.38.0, Istio 1.30.0"))
        .stdout(predicate::str::contains("skipped     nothing skipped"))
        .stdout(predicate::str::contains("findings    none"));
}

#[test]
fn listeners_json_contract() {
    let v = json_of(&["listeners", &common::sample("egw-mtls.config_dump.json"), "-o", "json"]);
    let items = v.as_array().unwrap();
    let l = items
        .iter()
        .find(|l| l["name"] == "0.0.0.0_8443")
        .expect("gateway listener");
    assert_eq!(l["address"], "0.0.0.0");
    assert_eq!(l["port"], 8443);
    assert_eq!(l["state"], "active");
    let chains = l["filter_chains"].as_array().unwrap();
    assert_eq!(chains.len(), 1);
    assert_eq!(chains[0]["server_names"][0], "www.wikipedia.org");
    assert_eq!(chains[0]["destination"], "Cluster: outbound|443||www.wikipedia.org");
    for item in items {
        for key in ["name", "address", "port", "state", "filter_chains"] {
            assert!(item.get(key).is_some(), "missing {key}");
        }
    }
}

#[test]
fn clusters_json_contract_and_filters() {
    let v = json_of(&[
        "clusters",
        &common::sample("egw-pt.config_dump.json"),
        "-o",
        "json",
        "--direction",
        "outbound",
    ]);
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "outbound|443||example.org");
    assert_eq!(items[0]["type"], "STRICT_DNS");
    assert_eq!(items[0]["state"], "active");
    let all = json_of(&["clusters", &common::sample("egw-pt.config_dump.json"), "-o", "json"]);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "STATIC" && c["state"] == "static"));
}

#[test]
fn routes_endpoints_secrets_bootstrap_ecds_commands() {
    let pt = common::sample("egw-pt.config_dump.json");
    let routes = json_of(&["routes", &pt, "-o", "json"]);
    let r = &routes.as_array().unwrap()[0];
    assert_eq!(r["vhost"], "backend");
    assert_eq!(r["match"], "/healthz/ready*");
    assert_eq!(r["action"], "cluster agent");
    assert_eq!(r["origin"]["kind"], "inline");
    assert!(json_of(&["routes", &pt, "-o", "json", "--cluster", "nope"])
        .as_array()
        .unwrap()
        .is_empty());

    let eps = json_of(&["endpoints", &pt, "-o", "json", "--port", "443"]);
    let eps = eps.as_array().unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0]["cluster"], "outbound|443||example.org");
    assert_eq!(eps[0]["origin"], "load_assignment");

    let secrets = json_of(&["secrets", &pt, "-o", "json", "--now", "2036-06-01T00:00:00Z"]);
    assert!(secrets.as_array().unwrap().iter().all(|s| s["valid"] == false));
    xray()
        .args(["secrets", &pt])
        .assert()
        .success()
        .stdout(predicate::str::contains("VALID CERT judged at 2026-11-20T"));
    xray()
        .args(["secrets", &pt, "--now", "yesterday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("RFC 3339"));

    let b = json_of(&["bootstrap", &pt, "-o", "json"]);
    assert_eq!(b[0]["envoy_build"], "1.38.0/Clean/RELEASE/BoringSSL");
    assert_eq!(b[0]["xds"]["ads"], "grpc → cluster xds-grpc");
    xray()
        .args(["ecds", &pt])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("ECDS NAME"));
}

#[test]
fn tls_json_contract_answers_the_scenario() {
    let mtls = json_of(&["tls", &common::sample("egw-mtls.config_dump.json"), "-o", "json"]);
    let chain = mtls["filter_chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["listener"] == "0.0.0.0_8443")
        .expect("gateway chain");
    assert_eq!(chain["server_names"][0], "www.wikipedia.org");
    assert_eq!(chain["termination"], "istio_mutual");
    assert_eq!(chain["require_client_certificate"], true);
    let wiki = mtls["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "outbound|443||www.wikipedia.org")
        .unwrap();
    assert_eq!(wiki["origination"], "none");
    assert!(wiki["sni"].is_null());

    let pt = json_of(&["tls", &common::sample("egw-pt.config_dump.json"), "-o", "json"]);
    let chain = pt["filter_chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["listener"] == "0.0.0.0_8443")
        .unwrap();
    assert_eq!(chain["termination"], "passthrough");
    assert_eq!(chain["require_client_certificate"], false);
    for c in pt["clusters"].as_array().unwrap() {
        for key in ["name", "origination", "sni"] {
            assert!(c.get(key).is_some(), "missing {key}");
        }
    }
}

#[test]
fn bootstrap_of_a_dump_without_one_is_an_error() {
    let dir = tempdir();
    let path = dir.join("listeners-only.json");
    std::fs::write(
        &path,
        br#"{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump"}]}"#,
    )
    .unwrap();
    xray()
        .args(["bootstrap", &path.to_string_lossy()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no a bootstrap section").not())
        .stderr(predicate::str::contains("has no bootstrap section"));
}

#[test]
fn yaml_output_is_the_same_data() {
    let out = xray()
        .args(["clusters", &common::sample("egw-pt.config_dump.json"), "-o", "yaml"])
        .output()
        .unwrap();
    let y: serde_json::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(
        y,
        json_of(&["clusters", &common::sample("egw-pt.config_dump.json"), "-o", "json"])
    );
}

#[test]
fn stdin_gzip_and_protobuf_read_the_same_dump() {
    let path = common::sample("egw-mtls.config_dump.json");
    let bytes = std::fs::read(&path).unwrap();
    let expected = json_of(&["listeners", &path, "-o", "json"]);

    let stdin = xray()
        .args(["listeners", "-", "-o", "json"])
        .write_stdin(bytes.clone())
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&stdin.stdout).unwrap(),
        expected
    );

    let dir = tempdir();
    let gz = dir.join("dump.json.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&bytes).unwrap();
    enc.finish().unwrap();
    assert_eq!(json_of(&["listeners", gz.to_str().unwrap(), "-o", "json"]), expected);

    let dump = egress_xray::input::load_path(&path).unwrap().remove(0).config_dump();
    let pb = dir.join("dump.pb");
    std::fs::write(&pb, dump.encode_to_vec()).unwrap();
    assert_eq!(json_of(&["listeners", pb.to_str().unwrap(), "-o", "json"]), expected);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "egress-xray-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fails_with(bytes: &[u8], needle: &str) {
    let dir = tempdir();
    let f = dir.join(format!("input-{}", needle.len()));
    std::fs::write(&f, bytes).unwrap();
    xray()
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(f.to_str().unwrap()))
        .stderr(predicate::str::contains(needle));
}

#[test]
fn bad_input_is_located_and_exits_2() {
    fails_with(b"", "empty input");
    fails_with(b"   \n", "empty input");
    fails_with(b"{\"configs\": [ {\"@type\": \"x\" ", ":1:");
    fails_with(b"{\n  \"configs\": [\n    {\"a\": tru }\n  ]\n}\n", ":3:");
    fails_with(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        "a Kubernetes manifest (ConfigMap): not Istio config or a workload",
    );
    fails_with(b"{'configs': [{'@type': 'x', 'a': True}]}", "Python dict repr");
    fails_with(&[0x00, 0xff, 0x13, 0x37, 0x80, 0x81, 0x82], "binary data");
    fails_with(b"just some words", "not an Envoy config dump");
    fails_with(b"[1, 2, 3]", "not objects");
    fails_with(b"{\"hello\": {\"world\": 1}}", "no `configs` list");
}

#[test]
fn truncated_protobuf_names_the_byte() {
    let dump = egress_xray::input::load_path(&common::sample("egw-pt.config_dump.json"))
        .unwrap()
        .remove(0)
        .config_dump();
    let bytes = dump.encode_to_vec();
    fails_with(&bytes[..bytes.len() - 100], "truncated");
    fails_with(&bytes[..bytes.len() - 100], "byte ");
}

#[test]
fn a_corrupted_resource_in_protobuf_is_counted_not_silently_dropped() {
    use envoy_types::pb::envoy::admin::v3::ClustersConfigDump;
    let mut dump = egress_xray::input::load_path(&common::sample("egw-mtls.config_dump.json"))
        .unwrap()
        .remove(0)
        .config_dump();
    let section = dump
        .configs
        .iter_mut()
        .find(|c| c.type_url.ends_with("ClustersConfigDump"))
        .unwrap();
    let mut clusters = ClustersConfigDump::decode(section.value.as_slice()).unwrap();
    let total = clusters.static_clusters.len() + clusters.dynamic_active_clusters.len();
    // The first dynamic cluster's name (field 1, a string) becomes invalid UTF-8.
    let any = clusters.dynamic_active_clusters[0].cluster.as_mut().unwrap();
    assert_eq!(any.value[0], 0x0a, "name comes first");
    any.value[2] = 0xff;
    section.value = clusters.encode_to_vec();
    let dir = tempdir();
    let f = dir.join("corrupted.pb");
    std::fs::write(&f, dump.encode_to_vec()).unwrap();
    let out = xray().args([f.to_str().unwrap(), "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v[0];
    assert_eq!(s["decode_report"]["undecodable"], 1);
    let codes: Vec<&str> = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"XR0041"), "{codes:?}");
    assert!(!codes.contains(&"XR0003"), "{codes:?}");
    let clusters_row = s["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "clusters")
        .unwrap();
    assert_eq!(clusters_row["total"], total as u64 - 1);
}

#[test]
fn a_broken_resource_names_its_json_path() {
    let text = std::fs::read_to_string(common::sample("egw-pt.config_dump.json")).unwrap();
    let broken = text.replace("\"idle_timeout\": \"3600s\"", "\"idle_timeout\": \"1h\"");
    fails_with(
        broken.as_bytes(),
        "configs[2].dynamic_listeners[0].active_state.listener.filter_chains[0].filters[1].typed_config.idle_timeout",
    );
}

#[test]
fn no_color_wins_over_always() {
    let out = xray()
        .args(["--color", "always", &common::sample("egw-pt.config_dump.json")])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
}

#[test]
fn help_completions_and_man_page() {
    xray()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"));
    xray()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("egress-xray"));
    xray()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH"));
}

#[test]
fn findings_doc_is_generated_from_the_catalogue() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/findings.md")).unwrap();
    assert_eq!(
        doc,
        egress_xray::cli::catalogue_markdown(),
        "regenerate with: egress-xray findings > docs/findings.md"
    );
}

#[test]
fn readme_walkthrough_is_what_the_tool_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let cmd = "$ egress-xray trace samples/egw-mtls.config_dump.json --port 8443 --sni www.wikipedia.org\n";
    let at = readme.find(cmd).expect("walkthrough in the README");
    let shown = readme[at + cmd.len()..].split("```").next().unwrap();
    let out = xray()
        .args([
            "trace",
            &common::sample("egw-mtls.config_dump.json"),
            "--port",
            "8443",
            "--sni",
            "www.wikipedia.org",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), shown);
}

#[test]
fn one_unreadable_file_in_summary_does_not_hide_the_others() {
    let broken = std::env::temp_dir().join(format!("egress-xray-broken-{}.json", std::process::id()));
    std::fs::write(&broken, "{\"configs\": [").unwrap();
    let out = xray()
        .args([
            &common::sample("egw-pt.config_dump.json"),
            &broken.to_string_lossy().into_owned(),
            &common::sample("egw-mtls.config_dump.json"),
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&broken);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("namespace egress-pt") && stdout.contains("namespace egress-mtls"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("malformed JSON") && stderr.contains("egress-xray-broken"),
        "{stderr}"
    );
}

/// xDS DiscoveryResponses (golden files of control planes, captured ADS
/// traffic) are read as the resources they hold, state of the world and
/// delta; Envoy's /clusters and /listeners status JSON are named.
#[test]
fn xds_discovery_responses_are_read_as_their_resources() {
    let sotw = r#"{"versionInfo":"7","typeUrl":"type.googleapis.com/envoy.config.cluster.v3.Cluster","nonce":"3","resources":[
      {"@type":"type.googleapis.com/envoy.config.cluster.v3.Cluster","name":"outbound|443||api.example.com","type":"STRICT_DNS",
       "connectTimeout":"5s","loadAssignment":{"clusterName":"outbound|443||api.example.com","endpoints":[{"lbEndpoints":[
         {"endpoint":{"address":{"socketAddress":{"address":"api.example.com","portValue":443}}}}]}]}}]}"#;
    let out = xray()
        .args(["clusters", "-", "-o", "json"])
        .write_stdin(sotw)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("outbound|443||api.example.com") && text.contains("STRICT_DNS"),
        "{text}"
    );
    let delta = r#"{"systemVersionInfo":"2","typeUrl":"type.googleapis.com/envoy.config.listener.v3.Listener","nonce":"9","resources":[
      {"name":"0.0.0.0_8443","version":"2","resource":{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"0.0.0.0_8443",
        "address":{"socketAddress":{"address":"0.0.0.0","portValue":8443}},
        "listenerFilters":[{"name":"envoy.filters.listener.tls_inspector","typedConfig":{"@type":"type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
        "filterChains":[{"filterChainMatch":{"serverNames":["www.wikipedia.org"]},"filters":[{"name":"envoy.filters.network.tcp_proxy",
          "typedConfig":{"@type":"type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy","statPrefix":"w","cluster":"wiki"}}]}]}}]}"#;
    let out = xray()
        .args([
            "trace",
            "-",
            "--port",
            "8443",
            "--sni",
            "www.wikipedia.org",
            "-o",
            "json",
        ])
        .write_stdin(delta)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["listener"], "0.0.0.0_8443");
    assert_eq!(v["cluster"], "wiki");
    let status = r#"{"cluster_statuses":[{"name":"a","host_statuses":[]}]}"#;
    let out = xray().arg("-").write_stdin(status).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/clusters?format=json"), "{err}");
}

/// Two routes that differ only by a header match are told apart in the
/// default routes table (the wide table lists the conditions).
#[test]
fn routes_differing_in_conditions_do_not_look_identical() {
    let dump = r#"{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.RoutesConfigDump","dynamic_route_configs":[
      {"route_config":{"@type":"type.googleapis.com/envoy.config.route.v3.RouteConfiguration","name":"http.8080",
        "virtual_hosts":[{"name":"api","domains":["api.example.com"],"routes":[
          {"name":"canary","match":{"prefix":"/","headers":[{"name":"x-canary","string_match":{"exact":"1"}},{"name":"x-env","present_match":true}]},"route":{"cluster":"canary"}},
          {"name":"stable","match":{"prefix":"/","headers":[{"name":"x-canary","string_match":{"exact":"0"}}]},"route":{"cluster":"stable"}},
          {"name":"rest","match":{"prefix":"/"},"route":{"cluster":"stable"}}]}]}}]}]}"#;
    let out = xray().args(["routes", "-"]).write_stdin(dump).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("http.8080")).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[0].contains("/* +2 conditions"), "{table}");
    assert!(rows[1].contains("/* +1 condition"), "{table}");
    assert!(!rows[2].contains("condition"), "{table}");
}

/// XR0042: a listener whose chains list 0.0.0.0/0 beside chains with no
/// ranges (Envoy's choice between them differs per process).
#[test]
fn zero_prefix_tie_is_a_finding() {
    let dump = r#"{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.ListenersConfigDump","dynamic_listeners":[
      {"name":"l","active_state":{"listener":{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"l",
        "address":{"socket_address":{"address":"0.0.0.0","port_value":443}},
        "filter_chains":[
          {"name":"all-v4","filter_chain_match":{"prefix_ranges":[{"address_prefix":"0.0.0.0","prefix_len":0}],"server_names":["a.example.com"]},
           "filters":[{"name":"t","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy","stat_prefix":"a","cluster":"a"}}]},
          {"name":"any","filter_chain_match":{"server_names":["*.example.com"]},
           "filters":[{"name":"t","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy","stat_prefix":"b","cluster":"b"}}]}]}}}]}]}"#;
    let v: serde_json::Value = serde_json::from_slice(
        &xray()
            .args(["-", "-o", "json"])
            .write_stdin(dump)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    let f: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "XR0042")
        .collect();
    assert_eq!(f.len(), 1, "{:#}", v["findings"]);
    let text = f[0].to_string();
    assert!(text.contains("all-v4") && text.contains("any"), "{text}");
}

/// The views compare gateways side by side: several dumps, a PROXY column
/// (and `proxy` in JSON), one filter semantics (a part of the name, or a
/// glob over all of it).
#[test]
fn views_take_several_dumps_with_a_proxy_column() {
    let (mtls, pt) = (
        common::sample("egw-mtls.config_dump.json"),
        common::sample("egw-pt.config_dump.json"),
    );
    let out = xray()
        .args(["listeners", &mtls, &pt, "--port", "8443"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("PROXY"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("egw-mtls-6c8f9d7b5-x2k4p.egress-mtls") && l.contains("www.wikipedia.org")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("egw-pt-7d9f8c6b4-q8mzl.egress-pt") && l.contains("example.org")),
        "{text}"
    );
    // One dump: no PROXY column, as istioctl prints it.
    let out = xray().args(["listeners", &pt]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("NAME"));

    let clusters = json_of(&["clusters", &mtls, &pt, "--fqdn", "*.org", "-o", "json"]);
    let got: Vec<(String, String)> = clusters
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["proxy"].as_str().unwrap().to_string(),
                c["fqdn"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "egw-mtls-6c8f9d7b5-x2k4p.egress-mtls".to_string(),
                "www.wikipedia.org".to_string()
            ),
            (
                "egw-pt-7d9f8c6b4-q8mzl.egress-pt".to_string(),
                "example.org".to_string()
            ),
        ]
    );
    // A part of the name matches too, case-insensitively; a glob must match all of it.
    let part = json_of(&["clusters", &mtls, "--fqdn", "WIKIPEDIA", "-o", "json"]);
    assert_eq!(part.as_array().unwrap().len(), 1);
    let none = json_of(&["clusters", &mtls, "--fqdn", "wikipedia*", "-o", "json"]);
    assert!(none.as_array().unwrap().is_empty());
    let eps = json_of(&["endpoints", &mtls, &pt, "--cluster", "outbound|443||*", "-o", "json"]);
    let proxies: std::collections::BTreeSet<&str> = eps
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["proxy"].as_str().unwrap())
        .collect();
    assert_eq!(proxies.len(), 2, "{eps}");
    // tls: one report per dump, each named.
    let out = xray().args(["tls", &mtls, &pt, "--host", "*.org"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("egw-mtls-6c8f9d7b5-x2k4p.egress-mtls") && text.contains("egw-pt-7d9f8c6b4-q8mzl.egress-pt"),
        "{text}"
    );
    // A bad glob is a usage error that says why.
    xray()
        .args(["routes", &pt, "--domain", "[oops"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a valid glob"));
}

/// `-o wide` expands the domains istioctl's DOMAINS column folds.
#[test]
fn wide_routes_list_every_domain() {
    let f = common::sample("istio14-sidecar.config_dump.json");
    let folded = String::from_utf8(xray().args(["routes", &f]).output().unwrap().stdout).unwrap();
    let row = folded
        .lines()
        .find(|l| l.contains("more"))
        .expect("a folded DOMAINS cell");
    let vhost = row.split_whitespace().nth(1).unwrap().to_string();
    let wide = String::from_utf8(xray().args(["routes", &f, "-o", "wide"]).output().unwrap().stdout).unwrap();
    let json = json_of(&["routes", &f, "-o", "json"]);
    let domains: Vec<String> = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["vhost"] == vhost.as_str())
        .unwrap()["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let line = wide
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&vhost))
        .unwrap();
    assert!(line.contains(&domains.join(",")), "{line}");
    assert!(!line.contains("more"), "{line}");
}

/// `-o raw` prints the resources a view selects as Envoy wrote them: on the
/// sample Envoy itself dumped, every listener and cluster is identical to
/// its entry in the file (field names, defaults, Anys expanded).
#[test]
fn raw_output_is_what_envoy_wrote() {
    let f = common::sample("envoy-gateways.config_dump.json");
    let dump: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    let mut written: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for c in dump["configs"].as_array().unwrap() {
        for (section, inner) in [
            ("dynamic_listeners", "/active_state/listener"),
            ("static_listeners", "/listener"),
            ("dynamic_active_clusters", "/cluster"),
            ("static_clusters", "/cluster"),
        ] {
            for e in c[section].as_array().into_iter().flatten() {
                let mut r = e.pointer(inner).unwrap().clone();
                r.as_object_mut().unwrap().remove("@type");
                written.insert(format!("{section}/{}", r["name"].as_str().unwrap()), r);
            }
        }
    }
    let mut compared = 0;
    for (cmd, sections) in [
        ("listeners", ["dynamic_listeners", "static_listeners"]),
        ("clusters", ["dynamic_active_clusters", "static_clusters"]),
    ] {
        for r in json_of(&[cmd, &f, "-o", "raw"]).as_array().unwrap() {
            let name = r["name"].as_str().unwrap();
            let theirs = sections
                .iter()
                .find_map(|s| written.get(&format!("{s}/{name}")))
                .unwrap_or_else(|| panic!("{cmd} {name} is not in the file"));
            assert_eq!(r, theirs, "{cmd} {name}");
            compared += 1;
        }
    }
    assert!(compared >= 8, "{compared}");
    // Filters select what is printed; YAML says the same.
    let one = json_of(&[
        "clusters",
        &common::sample("egw-mtls.config_dump.json"),
        "--fqdn",
        "wikipedia",
        "-o",
        "raw",
    ]);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["name"], "outbound|443||www.wikipedia.org");
    let yaml = xray()
        .args([
            "clusters",
            &common::sample("egw-mtls.config_dump.json"),
            "--fqdn",
            "wikipedia",
            "-o",
            "raw-yaml",
        ])
        .output()
        .unwrap();
    let y: serde_json::Value = serde_yaml_ng::from_slice(&yaml.stdout).unwrap();
    assert_eq!(y, one);
    xray()
        .args(["summary", &common::sample("egw-mtls.config_dump.json"), "-o", "raw"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("use them with listeners, clusters"));
}

/// `findings CODE` prints that entry only; a name works too; an unknown
/// code is a usage error.
#[test]
fn findings_takes_codes() {
    let out = String::from_utf8(xray().args(["findings", "XR0012"]).output().unwrap().stdout).unwrap();
    assert!(out.starts_with("## XR0012 gateway-listener-omitted"), "{out}");
    assert_eq!(out.matches("## XR").count(), 1);
    let two = json_of(&["findings", "xr0012", "duplicate-sni", "-o", "json"]);
    let codes: Vec<&str> = two
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["XR0012", "XR0019"]);
    xray()
        .args(["findings", "XR9999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no finding XR9999"));
}

/// Every command's --help ends with an example of it.
#[test]
fn every_command_help_shows_an_example() {
    use clap::CommandFactory;
    let cli = egress_xray::cli::Cli::command();
    for sub in cli.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = sub.get_name().to_string();
        let out = xray().args([name.as_str(), "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains(&format!("Example:\n  egress-xray {name}")),
            "{name} --help:\n{help}"
        );
    }
}
