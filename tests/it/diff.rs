//! `diff` and `isolation` on the push samples and the corpus's compare pair:
//! the JSON contracts, exit codes, noise control.

use crate::common;

use assert_cmd::Command;
use serde_json::Value;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("egress-xray").unwrap().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn s(p: &str) -> String {
    common::sample(p)
}

fn change<'a>(v: &'a Value, kind: &str, name: &str) -> &'a Value {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind && c["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {}", v["changes"]))
}

#[test]
fn a_push_that_adds_a_cluster_changes_a_timeout_and_removes_a_chain() {
    let (before, after) = (
        s("push/egw-pt.before.config_dump.json"),
        s("push/egw-pt.after.config_dump.json"),
    );
    let (code, out) = run(&["diff", &before, &after, "-o", "json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(change(&v, "cluster", "outbound|80||example.com")["change"], "added");
    assert_eq!(
        change(&v, "cluster", "outbound|443||www.example.org")["change"],
        "removed"
    );
    let l = change(&v, "listener", "0.0.0.0_8443");
    assert_eq!(l["change"], "changed");
    let fields = l["fields"].as_array().unwrap();
    let timeout = fields
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("typedConfig.idleTimeout"))
        .expect("the tcp_proxy timeout");
    assert_eq!(
        (timeout["old"].as_str(), timeout["new"].as_str()),
        (Some("3600s"), Some("1800s"))
    );
    let removed_chain = fields
        .iter()
        .find(|f| f["path"].as_str().unwrap().contains("www.example.org"))
        .expect("the removed chain");
    assert!(removed_chain["new"].is_null());
    // Versions are shown once, not per resource.
    assert!(fields.iter().all(|f| !f["path"].as_str().unwrap().contains("version")));
    assert_eq!(v["versions"]["Listeners"][1], "2026-11-20T11:25:00Z/63");

    // --ignore drops the timeout; --stat is one line per type; --text adds a unified diff.
    let (_, out) = run(&[
        "diff",
        &before,
        &after,
        "-o",
        "json",
        "--ignore",
        "filter_chains.filters.typed_config.idle_timeout",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(change(&v, "listener", "0.0.0.0_8443")["fields"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| !f["path"].as_str().unwrap().ends_with("idleTimeout")));
    let (_, stat) = run(&["diff", &before, &after, "--stat"]);
    assert!(
        stat.contains("cluster   +1 -1 ~0") && stat.contains("listener  +0 -0 ~1"),
        "{stat}"
    );
    let (_, text) = run(&["diff", &before, &after, "--text"]);
    assert!(
        text.contains("-                  \"idleTimeout\": \"3600s\"") || text.contains("\"idleTimeout\": \"3600s\""),
        "{text}"
    );
    assert!(text.contains("+++ b/0.0.0.0_8443"), "{text}");
}

#[test]
fn exit_codes_like_diff() {
    let pt = s("egw-pt.config_dump.json");
    assert_eq!(run(&["diff", &pt, &pt]).0, 0);
    assert_eq!(run(&["diff", &pt, &s("egw-mtls.config_dump.json")]).0, 1);
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["diff", &pt, "/nonexistent/dump.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dump.json"));
}

#[test]
fn two_gateways_compared_with_their_node_normalised() {
    let (code, out) = run(&[
        "diff",
        &s("egw-pt.config_dump.json"),
        &s("egw-mtls.config_dump.json"),
        "--normalize-node",
        "-o",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    // The gateways differ in what they route, not in who they are.
    assert_eq!(
        change(&v, "cluster", "outbound|443||www.wikipedia.org")["change"],
        "added"
    );
    for c in v["changes"].as_array().unwrap() {
        for f in c["fields"].as_array().unwrap() {
            let text = f.to_string();
            assert!(!text.contains("egw-pt-7d9f8c6b4-q8mzl"), "{text}");
        }
    }
}

#[test]
fn istioctl_compare_pair_from_the_corpus() {
    let Some(corpus) = common::corpus() else { return };
    let dir = corpus.join("istio/writer/compare/testdata");
    let (code, out) = run(&[
        "diff",
        &dir.join("configdump.json").to_string_lossy(),
        &dir.join("configdump_diff.json").to_string_lossy(),
        "-o",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        change(&v, "cluster", "inbound-vip|9080|http|ratings.default.svc.cluster.local")["change"],
        "removed"
    );
    assert_eq!(
        change(&v, "cluster", "inbound-vip|9999|http|ratings.default.svc.cluster.local")["change"],
        "added"
    );
    let l = change(&v, "listener", "main_internal");
    assert!(l["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"].as_str().unwrap().ends_with("statPrefix") && f["new"] == "inbound_0.0.0.0_9999"));
    for c in v["changes"].as_array().unwrap() {
        for key in ["type", "name", "change"] {
            assert!(c.get(key).is_some());
        }
    }
}

#[test]
fn isolation_shows_the_shared_service_entry_and_each_gateways_hosts() {
    let (code, out) = run(&[
        "isolation",
        &s("push/egw-mtls.after.config_dump.json"),
        &s("push/egw-pt.after.config_dump.json"),
        "--istio",
        &s("trap2/istio"),
        "-o",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let gws = v["gateways"].as_array().unwrap();
    assert_eq!(gws.len(), 2);
    let hosts = |name: &str| -> Vec<String> {
        gws.iter()
            .find(|g| g["name"].as_str().unwrap().starts_with(name))
            .unwrap()["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    };
    assert!(hosts("egw-mtls").contains(&"www.wikipedia.org".to_string()));
    assert!(hosts("egw-pt").contains(&"example.org".to_string()));
    assert!(
        !hosts("egw-pt").contains(&"www.wikipedia.org".to_string()),
        "the paths really split"
    );
    let shared = v["shared"].as_array().unwrap();
    let se = shared
        .iter()
        .find(|s| s["origin"] == "ServiceEntry default/example-logicaldns")
        .expect("the unscoped ServiceEntry");
    assert_eq!(se["gateways"].as_array().unwrap().len(), 2);
    assert_eq!(se["global"], true);
    assert!(se["blast_radius"].as_str().unwrap().contains("2 of 2 gateways"));
    // One dump is not an isolation question.
    assert_eq!(run(&["isolation", &s("egw-pt.config_dump.json")]).0, 2);
}

#[test]
fn isolation_and_diff_over_the_corpus() {
    use egress_xray::analysis::{diff, isolation};
    let indexes = common::corpus_indexes();
    if indexes.len() < 2 {
        return;
    }
    let r = isolation::isolation(&indexes, None);
    assert_eq!(r.gateways.len(), r.versions.len());
    assert!(r.gateways.iter().any(|g| !g.hosts.is_empty()));
    // Every dump against the next: no panic, and a dump against itself is empty.
    for pair in indexes.windows(2) {
        let _ = diff::diff(&pair[0], &pair[1], &diff::DiffOptions::default());
    }
    for ix in indexes.iter().take(10) {
        assert!(
            diff::diff(ix, ix, &diff::DiffOptions::default()).changes.is_empty(),
            "{}",
            ix.source
        );
    }
}

/// A resource added (or removed) only as a rejected entry is shown with its
/// state, in text and JSON: it is not serving.
#[test]
fn added_and_removed_lines_carry_their_state() {
    let a = common::sample("envoy-gateways.config_dump.json");
    let b = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/envoy-1.40-nack/file-default-format/dump-rejected.json"
    );
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["diff", &a, b, "-o", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let added = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "listener" && c["name"] == "0.0.0.0_9444")
        .expect("0.0.0.0_9444 is added");
    assert_eq!(added["change"], "added");
    assert_eq!(added["state_b"], "rejected", "{added:#}");
    let text = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["diff", &a, b])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("listener") && l.contains("0.0.0.0_9444") && l.contains("[rejected]")),
        "{text}"
    );
}

/// `--normalize-node` rewrites only the proxy's own pod name and IP: two
/// sidecars of one deployment compare equal, and two gateways in different
/// namespaces keep every other resource name as it is (rewriting namespaces
/// merged unrelated services).
#[test]
fn normalize_node_rewrites_only_the_proxys_own_pod_and_ip() {
    // A second replica of the Istio 1.4 productpage sidecar: its inbound
    // listener carries its own IP (10.44.0.13_9080).
    let a = s("istio14-sidecar.config_dump.json");
    let text = std::fs::read_to_string(&a)
        .unwrap()
        .replace("productpage-v1-7f44c4d57c-ksf9b", "productpage-v1-7f44c4d57c-zz9kq")
        .replace("10.44.0.13", "10.44.0.77");
    let b = std::env::temp_dir().join(format!("egress-xray-pp-twin-{}.json", std::process::id()));
    std::fs::write(&b, text).unwrap();
    let b_s = b.to_string_lossy().into_owned();
    let (plain, _) = run(&["diff", &a, &b_s]);
    let (normalised, out) = run(&["diff", &a, &b_s, "--normalize-node"]);
    let _ = std::fs::remove_file(&b);
    assert_eq!(plain, 1, "the two sidecars differ by pod and IP");
    assert_eq!(
        normalised, 0,
        "the same deployment: no differences once the node is normalised\n{out}"
    );
    // Two gateways in two namespaces: the same changes with and without it.
    let names = |args: &[&str]| -> Vec<String> {
        let (_, out) = run(args);
        let v: Value = serde_json::from_str(&out).unwrap();
        let mut n: Vec<String> = v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {} {}", c["type"], c["name"], c["change"]))
            .collect();
        n.sort();
        n
    };
    let (pt, mtls) = (s("egw-pt.config_dump.json"), s("egw-mtls.config_dump.json"));
    assert_eq!(
        names(&["diff", &pt, &mtls, "-o", "json"]),
        names(&["diff", &pt, &mtls, "--normalize-node", "-o", "json"])
    );
}
