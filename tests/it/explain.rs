//! `explain` end to end on the scenario's Istio config: the correct one, the
//! Trap 1 variant with its dump and istiod log, and every other zero-chain
//! cause in samples/istio/broken.

use crate::common;

use assert_cmd::Command;
use serde_json::Value;

fn sample(rel: &str) -> String {
    common::sample(rel)
}

fn explain(args: &[&str]) -> Value {
    let mut all = vec!["explain".to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(["-o".into(), "json".into()]);
    let out = Command::cargo_bin("egress-xray").unwrap().args(&all).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn with_broken(name: &str) -> Value {
    explain(&[
        "--istio",
        &sample("istio/base"),
        "--istio",
        &sample(&format!("istio/broken/{name}.yaml")),
        "--k8s",
        &sample("istio/k8s.yaml"),
    ])
}

fn codes(v: &Value) -> Vec<(String, Option<String>)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["listener"].as_str().map(String::from),
            )
        })
        .collect()
}

/// The message of the istiod log line that says a listener was omitted.
fn log_omitted(v: &Value) -> String {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "XR0024" && f["message"].as_str().unwrap().contains("omitted"))
        .and_then(|f| f["message"].as_str())
        .unwrap()
        .to_string()
}

fn listener<'a>(v: &'a Value, gateway: &str) -> &'a Value {
    v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["gateway"] == gateway)
        .unwrap_or_else(|| panic!("no listener for {gateway}: {}", v["listeners"]))
}

#[test]
fn trap1_tls_route_on_the_mtls_gateway() {
    let v = explain(&[
        &sample("egw-mtls-trap1.config_dump.json"),
        "--istio",
        &sample("istio/base"),
        "--istio",
        &sample("istio/broken/tls-route.yaml"),
        "--k8s",
        &sample("istio/k8s.yaml"),
        "--istiod-log",
        &sample("istio/istiod-tls-route.log"),
    ]);
    for f in v["findings"].as_array().unwrap() {
        for key in ["code", "severity", "message", "listener", "fix"] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
    }
    let tls = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "XR0013")
        .expect("the tls→tcp explanation");
    assert_eq!(tls["listener"], "0.0.0.0_8443");
    assert!(tls["message"]
        .as_str()
        .unwrap()
        .contains("VirtualService egress-mtls/wikipedia-via-egw-mtls"));
    assert!(tls["fix"].as_str().unwrap().contains("`tcp: - match: - port: 443"));
    let c = codes(&v);
    assert!(c.contains(&("XR0012".into(), Some("0.0.0.0_8443".into()))), "{c:?}");
    assert_eq!(c.iter().filter(|(code, _)| code == "XR0024").count(), 2, "{c:?}");
    let omitted = log_omitted(&v);
    assert!(omitted.ends_with("(agrees with the prediction)"), "{omitted}");
    // The broken VirtualService is laid over the base one: said, with both files.
    let notes = v["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| {
            let n = n.as_str().unwrap();
            n.contains("VirtualService egress-mtls/wikipedia-via-egw-mtls")
                && n.contains("broken/tls-route.yaml replaces the one in")
                && n.contains("base/egress-mtls.yaml")
        }),
        "{notes:?}"
    );
    // The same log against the corrected config: the log contradicts it.
    let fixed = explain(&[
        "--istio",
        &sample("istio/base"),
        "--k8s",
        &sample("istio/k8s.yaml"),
        "--istiod-log",
        &sample("istio/istiod-tls-route.log"),
    ]);
    let omitted = log_omitted(&fixed);
    assert!(omitted.contains("contradicts the prediction of 1 chain"), "{omitted}");
    let l = listener(&v, "egress-mtls/egw-mtls-gateway");
    assert_eq!(l["name"], "0.0.0.0_8443");
    assert_eq!(l["predicted_chains"], 0);
    assert_eq!(l["present"], false);
    // The headline comes first.
    assert_eq!(v["findings"][0]["code"], "XR0012");
}

#[test]
fn correct_config_predicts_the_chain_in_the_dump() {
    let v = explain(&[
        &sample("egw-mtls.config_dump.json"),
        "--istio",
        &sample("istio/base"),
        "--k8s",
        &sample("istio/k8s.yaml"),
    ]);
    let l = listener(&v, "egress-mtls/egw-mtls-gateway");
    assert_eq!(l["name"], "0.0.0.0_8443");
    assert_eq!(l["predicted_chains"], 1);
    assert_eq!(l["present"], true);
    let chain = &l["chains"][0];
    assert_eq!(chain["server_names"][0], "www.wikipedia.org");
    assert_eq!(chain["destination"], "outbound|443||www.wikipedia.org");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "info"),
        "{}",
        v["findings"]
    );
    // Without a dump, `present` is null.
    let v = explain(&["--istio", &sample("istio/base"), "--k8s", &sample("istio/k8s.yaml")]);
    assert!(listener(&v, "egress-pt/egw-pt-gateway")["present"].is_null());
    assert_eq!(
        listener(&v, "egress-pt/egw-pt-gateway")["chains"][0]["server_names"][0],
        "example.org"
    );
}

#[test]
fn every_other_zero_chain_cause() {
    for (variant, code, gateway) in [
        ("wrong-gateway-ref", "XR0014", "egress-mtls/egw-mtls-gateway"),
        ("hosts-mismatch", "XR0016", "egress-mtls/egw-mtls-gateway"),
        ("not-exported", "XR0015", "egress-mtls/egw-mtls-gateway"),
        ("port-mismatch", "XR0018", "egress-mtls/egw-mtls-gateway"),
        ("passthrough-tcp-route", "XR0017", "egress-pt/egw-pt-gateway"),
    ] {
        let v = with_broken(variant);
        let c = codes(&v);
        assert!(
            c.contains(&(code.into(), Some("0.0.0.0_8443".into()))),
            "{variant}: {c:?}"
        );
        assert!(
            c.contains(&("XR0012".into(), Some("0.0.0.0_8443".into()))),
            "{variant}: {c:?}"
        );
        assert_eq!(listener(&v, gateway)["predicted_chains"], 0, "{variant}");
    }
    // Not zero chains, but wrong: a duplicate SNI rule is skipped; a hidden
    // ServiceEntry leaves the chain without a cluster.
    let v = with_broken("duplicate-sni");
    assert!(codes(&v).iter().any(|(c, _)| c == "XR0019"));
    assert_eq!(listener(&v, "egress-pt/egw-pt-gateway")["predicted_chains"], 1);
    let v = with_broken("serviceentry-not-exported");
    assert!(codes(&v).iter().any(|(c, _)| c == "XR0025"));
}

/// Trap 1 as a new user meets it: the dump alone says the gateway has no
/// listeners from LDS and what to run next, in `summary` and in `explain`.
#[test]
fn a_gateway_without_lds_listeners_says_so() {
    let v = explain(&[&sample("egw-mtls-trap1.config_dump.json")]);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "XR0048")
        .unwrap_or_else(|| panic!("{}", v["findings"]));
    let m = f["message"].as_str().unwrap();
    assert!(
        m.contains("gateway has no listeners from LDS") && m.contains("explain"),
        "{m}"
    );
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args([&sample("egw-mtls-trap1.config_dump.json"), "-o", "json"])
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(s[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "XR0048"));
    // A healthy gateway and a sidecar do not.
    for healthy in ["egw-mtls.config_dump.json", "sleep-sidecar.config_dump.json"] {
        let out = Command::cargo_bin("egress-xray")
            .unwrap()
            .args([&sample(healthy), "-o", "json"])
            .output()
            .unwrap();
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            !s[0]["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "XR0048"),
            "{healthy}"
        );
    }
}

#[test]
fn dump_only_and_log_only() {
    let v = explain(&[&sample("egw-mtls-trap1.config_dump.json"), "--expect-port", "8443"]);
    assert!(codes(&v).contains(&("XR0022".into(), Some("0.0.0.0_8443".into()))));
    assert!(v["limits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().contains("--istio")));
    let v = explain(&["--istiod-log", &sample("istio/istiod-tls-route.log")]);
    let c = codes(&v);
    assert!(c.contains(&("XR0024".into(), Some("0.0.0.0_8443".into()))), "{c:?}");
}

#[test]
fn config_inputs_in_other_shapes_and_bad_yaml() {
    let dir = std::env::temp_dir().join(format!("egress-xray-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // `kubectl get -o yaml` wraps objects in a List.
    let base = std::fs::read_to_string(sample("istio/base/egress-mtls.yaml")).unwrap();
    let docs: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&base)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": docs});
    let path = dir.join("list.json");
    std::fs::write(&path, list.to_string()).unwrap();
    let v = explain(&["--istio", &path.to_string_lossy(), "--k8s", &sample("istio/k8s.yaml")]);
    assert_eq!(listener(&v, "egress-mtls/egw-mtls-gateway")["predicted_chains"], 1);

    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: [unclosed\n",
    )
    .unwrap();
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["explain", "--istio", &bad.to_string_lossy()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml") && err.contains("document 1"), "{err}");
}

#[test]
fn privileged_port_and_a_selector_that_selects_nothing() {
    let v = explain(&[
        "--istio",
        &sample("istio/base"),
        "--k8s",
        &sample("istio/k8s.yaml"),
        "--k8s",
        &sample("istio/broken/privileged-port-k8s.yaml"),
    ]);
    assert!(
        codes(&v).contains(&("XR0020".into(), Some("0.0.0.0_443".into()))),
        "{:?}",
        codes(&v)
    );
    assert_eq!(listener(&v, "egress-mtls/egw-mtls-gateway")["name"], "0.0.0.0_443");

    let v = explain(&[
        &sample("egw-mtls.config_dump.json"),
        "--istio",
        &sample("istio/base"),
        "--istio",
        &sample("istio/broken/selector-typo.yaml"),
        "--k8s",
        &sample("istio/k8s.yaml"),
    ]);
    let c = codes(&v);
    assert!(c.iter().any(|(code, _)| code == "XR0021"), "{c:?}");
    assert!(c.contains(&("XR0023".into(), Some("0.0.0.0_8443".into()))), "{c:?}");
    // The dump still has the listener the config no longer predicts.
    assert!(v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["gateway"] != "egress-mtls/egw-mtls-gateway"));
}

/// A `tcp` rule without a `route` is skipped by istiod; when it leaves the
/// server without a chain, the listener is omitted and XR0046 names the rule.
#[test]
fn a_rule_without_a_route_is_the_zero_chain_cause() {
    let dir = std::env::temp_dir().join(format!("egress-xray-noroute-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("gw.yaml");
    std::fs::write(
        &f,
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: egress}\n\
         spec:\n  selector: {istio: egw}\n  servers:\n  - port: {number: 9000, name: tcp, protocol: TCP}\n    hosts: [\"db.example.com\"]\n\
         ---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: db, namespace: egress}\n\
         spec:\n  hosts: [\"db.example.com\"]\n  gateways: [gw]\n  tcp:\n  - match: [{port: 9000}]\n",
    )
    .unwrap();
    let v = explain(&["--istio", &f.to_string_lossy()]);
    let c = codes(&v);
    assert!(c.contains(&("XR0046".into(), Some("0.0.0.0_9000".into()))), "{c:?}");
    assert!(c.contains(&("XR0012".into(), Some("0.0.0.0_9000".into()))), "{c:?}");
    let f46 = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "XR0046")
        .unwrap();
    assert!(
        f46["message"]
            .as_str()
            .unwrap()
            .contains("VirtualService egress/db tcp rule #0"),
        "{f46}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
