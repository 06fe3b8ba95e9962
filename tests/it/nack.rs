//! NACK postmortem: every line of the corpus's nack-lines.txt recognised with
//! its type (and resource where the line names one), no look-alike counted;
//! the DeathStarBench error_state entries; the Trap 2 sample end to end.

use crate::common;

use egress_xray::istio::{log, nacklog};

/// (section 1 lines, section 2 lines), comments dropped.
fn corpus_lines() -> Option<(Vec<String>, Vec<String>)> {
    let corpus = common::corpus()?;
    let text = std::fs::read_to_string(corpus.join("public/nack-lines.txt")).unwrap();
    let (one, two) = text.split_once("# Section 2").expect("two sections");
    let keep = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(String::from)
            .collect()
    };
    // `two` starts with the rest of the section's heading line.
    let two = two.split_once('\n').map_or("", |(_, rest)| rest);
    Some((keep(one), keep(two)))
}

#[test]
fn every_rejection_line_is_recognised_and_no_look_alike() {
    let Some((rejections, look_alikes)) = corpus_lines() else {
        return;
    };
    let mut unrecognised = Vec::new();
    let mut prev_multi = false;
    for l in &rejections {
        let found = nacklog::parse_line(l);
        let gateway = log::recognise(l);
        let continues = prev_multi && nacklog::continuation(l).is_some();
        if found.is_empty() && gateway.is_none() && !continues {
            unrecognised.push(l.clone());
        }
        for r in &found {
            assert!(
                ["LDS", "CDS", "RDS", "EDS", "SDS", "ECDS"].contains(&r.xds_type.as_str()),
                "{l}: type {}",
                r.xds_type
            );
        }
        prev_multi = found.iter().any(|r| r.resource.is_some());
    }
    assert!(unrecognised.is_empty(), "not recognised:\n{}", unrecognised.join("\n"));
    for l in &look_alikes {
        assert!(
            nacklog::parse_line(l).is_empty(),
            "look-alike counted as a rejection: {l}"
        );
        assert!(
            log::recognise(l).is_none(),
            "look-alike counted as gateway evidence: {l}"
        );
    }
    assert_eq!(look_alikes.len(), 4);
}

#[test]
fn resources_and_proxies_named_by_the_lines() {
    let Some((rejections, _)) = corpus_lines() else { return };
    let all: Vec<nacklog::LogRejection> = rejections.iter().flat_map(|l| nacklog::parse_line(l)).collect();
    let has = |ty: &str, res: &str| {
        all.iter()
            .any(|r| r.xds_type == ty && r.resource.as_deref() == Some(res))
    };
    assert!(has("LDS", "main_internal"));
    assert!(has("LDS", "0.0.0.0_8443"));
    assert!(has("LDS", "dm-gateway/dm-gateway/internal-gateway-https"));
    assert!(has("CDS", "outbound|443||kubernetes.default.svc.cluster.local"));
    assert!(has("CDS", "outbound|53||kube-dns.kube-system.svc.cluster.local"));
    assert!(has("CDS", "PassthroughCluster"));
    assert!(has("RDS", "80"));
    assert!(has("LDS", "kuma:envoy:admin"));
    assert!(all
        .iter()
        .any(|r| r.proxy.as_deref() == Some("reviews-v3-75596dfd78-j5zg9.bookinfo") && r.xds_type == "CDS"));
    assert!(all
        .iter()
        .any(|r| r.proxy.as_deref() == Some("usergateway-7844d4c765-8nplq.dev-ns") && r.xds_type == "LDS"));
    // The readiness summary counts rejected updates per type.
    assert!(all.iter().any(|r| r.xds_type == "CDS" && r.count == Some(13)));
    // The delta NACK's continuation line is its own rejected listener.
    let corpus = common::corpus().unwrap();
    let text = std::fs::read_to_string(corpus.join("public/nack-lines.txt")).unwrap();
    let parsed = nacklog::parse_log("nack-lines.txt", &text);
    assert!(parsed
        .iter()
        .any(|(r, _)| r.resource.as_deref() == Some("0.0.0.0_80") && r.protocol.as_deref() == Some("delta")));
}

fn nack_json(args: &[String]) -> serde_json::Value {
    let mut all = vec!["nack".to_string()];
    all.extend(args.iter().cloned());
    all.extend(["-o".to_string(), "json".to_string()]);
    let out = assert_cmd::Command::cargo_bin("egress-xray")
        .unwrap()
        .args(&all)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn trap2_postmortem_names_both_gateways_the_cluster_and_the_service_entry() {
    let s = |p: &str| common::sample(p);
    let mut args = vec![s("egw-mtls.config_dump.json"), s("egw-pt.config_dump.json")];
    args.extend(common::trap2_evidence());
    let v = nack_json(&args);
    let rejections = v["rejections"].as_array().unwrap();
    assert_eq!(rejections.len(), 2, "{rejections:?}");
    for r in rejections {
        for key in ["proxy", "xds_type", "resource", "class", "message", "time", "sources"] {
            assert!(r.get(key).is_some(), "missing {key}");
        }
        assert_eq!(r["xds_type"], "CDS");
        assert_eq!(r["resource"], "outbound|80||example.com");
        assert_eq!(r["class"], "nack-logical-dns-endpoints");
        assert!(r["message"].as_str().unwrap().contains("LOGICAL_DNS"));
        // Envoy's log and istiod's ACK ERROR (and the agent's count) agree.
        assert!(r["sources"].as_array().unwrap().len() >= 2, "{}", r["sources"]);
    }
    let g = &v["groups"][0];
    assert_eq!(g["resource"], "outbound|80||example.com");
    assert_eq!(g["class"], "nack-logical-dns-endpoints");
    assert_eq!(
        g["proxies"],
        serde_json::json!([
            "egw-mtls-6c8f9d7b5-x2k4p.egress-mtls",
            "egw-pt-7d9f8c6b4-q8mzl.egress-pt"
        ])
    );
    assert_eq!(g["origin"], "ServiceEntry default/example-logicaldns");
    assert!(g["blast_radius"].as_str().unwrap().contains("exportTo unset"));
    assert_eq!(g["first"], "2026-11-20T11:30:02.412877Z");
}

#[test]
fn listener_error_states_from_a_dump() {
    let Some(corpus) = common::corpus() else { return };
    let v = nack_json(&[corpus
        .join("public/TZ-Zephrus__DeathStarBench__config_dump.json")
        .to_string_lossy()
        .into_owned()]);
    let r = v["rejections"].as_array().unwrap();
    // Envoy lists a rejected listener twice in error_state, once under its
    // name and once without: one rejection, both entries as its sources.
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r
        .iter()
        .all(|x| x["xds_type"] == "LDS" && x["class"] == "nack-proto-validation"));
    assert!(r.iter().all(|x| x["resource"] == "virtualInbound"));
    let sources: Vec<&str> = r[0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert!(
        sources.iter().any(|s| s.contains("listed again without a name")),
        "the entry with no name is kept as evidence and said so: {sources:?}"
    );
    assert!(
        r[0]["message"].as_str().unwrap().contains("[field Lua"),
        "{}",
        r[0]["message"]
    );
    assert!(v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("no logs")));
}

#[test]
fn sync_status_and_bug_report_directories() {
    let dir = std::env::temp_dir().join(format!("egress-xray-nack-{}", std::process::id()));
    let pod_dir = dir.join("egress-pt/egw-pt-7d9f8c6b4-q8mzl");
    let istiod_dir = dir.join("istio-system/istiod-5d8f6c7b9-abcde");
    std::fs::create_dir_all(&pod_dir).unwrap();
    std::fs::create_dir_all(&istiod_dir).unwrap();
    std::fs::copy(
        common::sample("egw-pt.config_dump.json"),
        pod_dir.join("config_dump.json"),
    )
    .unwrap();
    std::fs::copy(
        common::sample("trap2/egw-pt-7d9f8c6b4-q8mzl.egress-pt.log"),
        pod_dir.join("istio-proxy.log"),
    )
    .unwrap();
    std::fs::copy(common::sample("trap2/istiod.log"), istiod_dir.join("discovery.log")).unwrap();
    let syncz = dir.join("syncz.json");
    std::fs::write(
        &syncz,
        r#"{"resources":[{"@type":"type.googleapis.com/envoy.service.status.v3.ClientConfig",
            "node":{"id":"router~10.244.1.17~egw-mtls-6c8f9d7b5-x2k4p.egress-mtls~egress-mtls.svc.cluster.local"},
            "genericXdsConfigs":[
              {"typeUrl":"type.googleapis.com/envoy.config.listener.v3.Listener","configStatus":"SYNCED"},
              {"typeUrl":"type.googleapis.com/envoy.config.cluster.v3.Cluster","configStatus":"ERROR","clientStatus":"NACKED",
               "errorState":{"details":"Error adding/updating cluster(s) outbound|80||example.com: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint","lastUpdateAttempt":"2026-11-20T11:30:02.415Z"}}]}]}"#,
    )
    .unwrap();
    let v = nack_json(&[
        "--bug-report".into(),
        dir.to_string_lossy().into_owned(),
        "--syncz".into(),
        syncz.to_string_lossy().into_owned(),
    ]);
    let g = &v["groups"].as_array().unwrap();
    let proxies: Vec<&str> = g
        .iter()
        .flat_map(|g| g["proxies"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()))
        .collect();
    assert!(proxies.contains(&"egw-pt-7d9f8c6b4-q8mzl.egress-pt"), "{proxies:?}");
    assert!(proxies.contains(&"egw-mtls-6c8f9d7b5-x2k4p.egress-mtls"), "{proxies:?}");
    assert!(
        v["proxies"].as_array().unwrap().len() == 1,
        "the bug report's dump was read"
    );
}

/// A non-ASCII character right before `ValidationError.` (here a combining
/// accent) used to slice inside the character and panic; from a log line
/// and from a dump's `error_state.details`.
#[test]
fn validation_error_after_a_multibyte_character() {
    use egress_xray::analysis::nack::validation_field;
    assert_eq!(
        validation_field("e\u{301}ClusterValidationError.ConnectTimeout: value must be greater than 0s").as_deref(),
        Some("Cluster.ConnectTimeout")
    );
    assert_eq!(validation_field("日本ValidationError.X").as_deref(), Some(".X"));
    let dir = std::env::temp_dir().join(format!("egress-xray-nack-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("envoy.log");
    std::fs::write(
        &log,
        "2026-11-20T11:30:02.415Z\twarning\tenvoy config\tgRPC config for type.googleapis.com/envoy.config.cluster.v3.Cluster rejected: Proto constraint validation failed (caf\u{e9}\u{301}ClusterValidationError.ConnectTimeout: value must be greater than 0s)\n",
    )
    .unwrap();
    let mut dump: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::sample("egw-pt.config_dump.json")).unwrap()).unwrap();
    let listeners = dump["configs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["@type"].as_str().unwrap().ends_with("ListenersConfigDump"))
        .unwrap();
    listeners["dynamic_listeners"][0]["error_state"] = serde_json::json!({
        "details": "Proto constraint validation failed (\u{301}ListenerValidationError.Address: value is required)",
        "last_update_attempt": "2026-11-20T11:31:00Z"
    });
    let dump_path = dir.join("dump.json");
    std::fs::write(&dump_path, dump.to_string()).unwrap();
    let out = assert_cmd::Command::cargo_bin("egress-xray")
        .unwrap()
        .args([
            "nack",
            &dump_path.to_string_lossy(),
            "--envoy-log",
            &log.to_string_lossy(),
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["rejections"].as_array().unwrap().len() >= 2, "{v}");
}

/// One byte that is not UTF-8 used to refuse the whole log; now the log is
/// read lossily, the rejection after the bad byte is found, and a note
/// names the byte offset.
#[test]
fn a_log_with_invalid_utf8_is_read_and_the_offset_reported() {
    let mut log = b"2026-11-20T11:30:00.000Z\tinfo\tsome \xff\xfe binary\n".to_vec();
    log.extend_from_slice(&std::fs::read(common::sample("trap2/egw-pt-7d9f8c6b4-q8mzl.egress-pt.log")).unwrap());
    let path = std::env::temp_dir().join(format!("egress-xray-bad-utf8-{}.log", std::process::id()));
    std::fs::write(&path, &log).unwrap();
    let v = nack_json(&["--envoy-log".into(), path.to_string_lossy().into_owned()]);
    std::fs::remove_file(&path).unwrap();
    assert!(!v["rejections"].as_array().unwrap().is_empty(), "{v}");
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("invalid UTF-8") && n.contains("byte offset 35")),
        "{notes:?}"
    );
}

/// A temporary file with `text`, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str, text: &str) -> Self {
        let p = std::env::temp_dir().join(format!("egress-xray-nack-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        Scratch(p)
    }
    fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_log_states_its_own_proxy_and_one_proxy_is_counted_once() {
    // istio-proxy's log: pilot-agent names the proxy, then Envoy rejects.
    let log = Scratch::new(
        "istio-proxy.log",
        "2026-11-20T11:29:58.000000Z\tinfo\tProxy role\tips=[10.0.0.7] type=router id=egw-pt-7d9f8c6b4-q8mzl.egress-pt domain=egress-pt.svc.cluster.local\n\
         2026-11-20T11:30:02.412877Z\twarning\tenvoy upstream source/common/upstream/cds_api_helper.cc:58\tcds: cluster 'outbound|80||example.com' config rejected: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint\tthread=14\n\
         2026-11-20T11:30:02.413000Z\twarning\tenvoy config source/extensions/config_subscription/grpc/grpc_subscription_impl.cc:138\tgRPC config for type.googleapis.com/envoy.config.cluster.v3.Cluster rejected: Error adding/updating cluster(s) outbound|80||example.com: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint\tthread=14\n",
    );
    let v = nack_json(&[format!("--envoy-log={}", log.path())]);
    let r = v["rejections"].as_array().unwrap();
    assert_eq!(
        r.len(),
        1,
        "the per-resource line and the gRPC summary are one rejection: {r:#?}"
    );
    assert_eq!(r[0]["proxy"], "egw-pt-7d9f8c6b4-q8mzl.egress-pt");
    assert_eq!(r[0]["class"], "nack-logical-dns-endpoints");
    assert_eq!(v["groups"][0]["proxies"].as_array().unwrap().len(), 1);
}

#[test]
fn one_unreadable_dump_is_reported_and_the_others_still_analysed() {
    let broken = Scratch::new("broken.json", "{\"configs\": [ {\"@type\": ");
    let good = common::sample("egw-mtls.config_dump.json");
    let out = assert_cmd::Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["nack", &broken.path(), &good, "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "an unreadable input ends in exit 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.json"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report is still printed");
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("not read:") && n.as_str().unwrap().contains("broken.json")),
        "{:#}",
        v["notes"]
    );
    assert!(
        v["proxies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["proxy"] == "egw-mtls-6c8f9d7b5-x2k4p.egress-mtls"),
        "the good dump was analysed: {:#}",
        v["proxies"]
    );
}
