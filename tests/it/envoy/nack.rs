//! NACK evidence from the real Envoy (issue 14): bad updates pushed to
//! Envoy 1.40 through file-based xDS, with Envoy's default log format and
//! with istio-proxy's, then fixed by a good update; `nack` run on what Envoy
//! printed and dumped must find, name, class and attribute every rejection
//! once, and mark it resolved after the fix.

use assert_cmd::Command;
use serde_json::{json, Value};

use super::{envoy_bin, free_ports, turn, Envoy};

/// The format istio-proxy gives Envoy (pilot-agent's `--log-format`).
const ISTIO_LOG_FORMAT: &str = "%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t";
const NODE: &str = "router~10.0.0.1~egw-mtls-6c8f9d7b5-x2k4p.egress-mtls~egress-mtls.svc.cluster.local";
const PROXY: &str = "egw-mtls-6c8f9d7b5-x2k4p.egress-mtls";

fn cluster(name: &str) -> Value {
    super::dead_cluster(name)
}

fn logical_dns(name: &str, hosts: &[&str]) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": name, "type": "LOGICAL_DNS", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": hosts.iter().map(|h| json!(
            {"endpoint": {"address": {"socket_address": {"address": h, "port_value": 80}}}})).collect::<Vec<_>>()}]}
    })
}

fn cipher_cluster(name: &str, cipher: &str) -> Value {
    let mut c = cluster(name);
    c["transport_socket"] = json!({"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {"tls_params": {"cipher_suites": [cipher]}}}});
    c
}

fn tcp(cluster: &str) -> Value {
    json!([{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "tcp", "cluster": cluster}}])
}

fn listener(name: &str, port: u16, chains: Value) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": chains
    })
}

fn sni_chains(dup: bool) -> Value {
    let second = if dup { "a.example.com" } else { "b.example.com" };
    json!([
        {"name": "chain-a", "filter_chain_match": {"server_names": ["a.example.com"]}, "filters": tcp("good")},
        {"name": "chain-b", "filter_chain_match": {"server_names": [second]}, "filters": tcp("good")}
    ])
}

fn http(routes: Value) -> Value {
    let mut h = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "http",
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
    });
    for (k, v) in routes.as_object().expect("object") {
        h[k] = v.clone();
    }
    json!([{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": h}]}])
}

fn regex_routes(name: &str, regex: &str) -> Value {
    json!({"name": name, "virtual_hosts": [{"name": "all", "domains": ["*"],
        "routes": [{"match": {"safe_regex": {"regex": regex}}, "route": {"cluster": "good"}}]}]})
}

fn tls_secret_chain(secret: &str) -> Value {
    json!([{"filters": tcp("good"), "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": {"tls_certificate_sds_secret_configs": [{"name": secret}]}}}}])
}

/// What one run leaves: Envoy's log, its dump while the rejections stood,
/// and its dump after the fix.
pub struct Evidence {
    pub dir: super::TempDir,
    pub log: std::path::PathBuf,
    pub dump_rejected: std::path::PathBuf,
    pub dump_fixed: std::path::PathBuf,
}

/// Pushes the bad updates, then the fix, through files.
fn file_based(bin: &std::path::Path, istio_format: bool) -> Evidence {
    let args: Vec<&str> = if istio_format {
        vec!["--log-format", ISTIO_LOG_FORMAT]
    } else {
        vec![]
    };
    let tag = if istio_format { "nack-file-istio" } else { "nack-file" };
    let mut envoy = Envoy::start_full(
        bin,
        tag,
        Value::Null,
        json!({"id": NODE, "cluster": "egw-mtls.egress-mtls"}),
        &args,
    );
    let ports = free_ports(6);
    let rds = envoy.dir.0.join("rds.json");
    let write_rds = |regex: &str| {
        let mut rc = regex_routes("http.8081", regex);
        rc["@type"] = json!("type.googleapis.com/envoy.config.route.v3.RouteConfiguration");
        // Envoy sees a file-based update only when it is moved into place.
        let tmp = rds.with_extension("tmp");
        std::fs::write(&tmp, json!({"version_info": regex, "resources": [rc]}).to_string()).expect("rds");
        std::fs::rename(&tmp, &rds).expect("rds rename");
    };
    write_rds("/api/(v1");
    envoy.push("cds", &[cluster("good")]).expect("good CDS");
    // A cluster push with two bad clusters (and a good one).
    let bad_cds = [
        cluster("good"),
        logical_dns("outbound|80||example.com", &["a.example.com", "b.example.com"]),
        cipher_cluster("outbound|443||tls.example.com", "ECDHE-RSA-AES999-GCM"),
    ];
    assert!(envoy.push("cds", &bad_cds).is_err(), "Envoy took the bad clusters");
    // A listener push right after it: duplicate chains on two listeners,
    // an invalid regex inline, a missing secret, a port already in use, and
    // a listener waiting for an RDS configuration with an invalid regex.
    let bad_lds = [
        listener("0.0.0.0_9443", ports[0], sni_chains(true)),
        listener("0.0.0.0_9444", ports[1], sni_chains(true)),
        listener(
            "0.0.0.0_8080",
            ports[2],
            http(json!({"route_config": regex_routes("inline", "/api/(v1")})),
        ),
        listener("0.0.0.0_8443", ports[3], tls_secret_chain("kubernetes://missing-cred")),
        listener("0.0.0.0_15000", envoy.admin.port(), json!([{"filters": tcp("good")}])),
        listener(
            "0.0.0.0_8081",
            ports[4],
            http(
                json!({"rds": {"config_source": {"path_config_source": {"path": rds.to_string_lossy()}, "resource_api_version": "V3"},
                "route_config_name": "http.8081"}}),
            ),
        ),
    ];
    let _ = envoy.push("lds", &bad_lds);
    // A listener with an extension type this Envoy does not know.
    let unknown = listener(
        "0.0.0.0_8444",
        ports[5],
        json!([{"filters": [{"name": "istio.future", "typed_config": {"@type": "type.googleapis.com/istio.future.v9.Filter", "a": 1}}]}]),
    );
    assert!(envoy.push("lds", &[unknown]).is_err(), "Envoy took an unknown type");
    let dump_rejected = envoy.dir.0.join("dump-rejected.json");
    std::fs::write(&dump_rejected, envoy.get("/config_dump")).expect("dump");
    // The fix: every resource again, valid.
    write_rds("/api/v1");
    let fixed_cds = [
        cluster("good"),
        logical_dns("outbound|80||example.com", &["a.example.com"]),
        cipher_cluster("outbound|443||tls.example.com", "ECDHE-RSA-AES128-GCM-SHA256"),
    ];
    envoy.push("cds", &fixed_cds).expect("fixed CDS");
    let fixed_lds = [
        listener("0.0.0.0_9443", ports[0], sni_chains(false)),
        listener("0.0.0.0_9444", ports[1], sni_chains(false)),
        listener(
            "0.0.0.0_8080",
            ports[2],
            http(json!({"route_config": regex_routes("inline", "/api/v1")})),
        ),
        listener(
            "0.0.0.0_8081",
            ports[4],
            http(
                json!({"rds": {"config_source": {"path_config_source": {"path": rds.to_string_lossy()}, "resource_api_version": "V3"},
                "route_config_name": "http.8081"}}),
            ),
        ),
    ];
    envoy.push("lds", &fixed_lds).expect("fixed LDS");
    let dump_fixed = envoy.dir.0.join("dump-fixed.json");
    std::fs::write(&dump_fixed, envoy.get("/config_dump")).expect("dump");
    let log = envoy.dir.0.join("envoy.log");
    // Keep the evidence beyond the Envoy (its directory goes with it).
    let keep = super::TempDir::new(&format!("{tag}-evidence"));
    let copy = |p: &std::path::Path| {
        let to = keep.0.join(p.file_name().expect("name"));
        std::fs::copy(p, &to).expect("copy");
        to
    };
    Evidence {
        log: copy(&log),
        dump_rejected: copy(&dump_rejected),
        dump_fixed: copy(&dump_fixed),
        dir: keep,
    }
}

fn nack(args: &[&std::path::Path]) -> Value {
    // Every argument is a path or an `--option=path`.
    let mut cmd = Command::cargo_bin("egress-xray").expect("binary");
    cmd.arg("nack");
    for a in args {
        cmd.arg(a);
    }
    let out = cmd.args(["-o", "json"]).output().expect("runs");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("nack JSON: {e}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn file_based_rejections_are_found_named_classed_and_resolved() {
    let Some(bin) = envoy_bin() else { return };
    let _turn = turn();
    for istio_format in [false, true] {
        let ev = file_based(&bin, istio_format);
        if std::env::var_os("EGRESS_XRAY_KEEP_EVIDENCE").is_some() {
            let keep = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/envoy-evidence")
                .join(if istio_format { "istio-format" } else { "default-format" });
            std::fs::create_dir_all(&keep).expect("dir");
            for p in [&ev.log, &ev.dump_rejected, &ev.dump_fixed] {
                std::fs::copy(p, keep.join(p.file_name().expect("name"))).expect("copy");
            }
        }
        let what = if istio_format {
            "istio-proxy's log format"
        } else {
            "Envoy's log format"
        };
        let log_arg = std::path::PathBuf::from(format!("--envoy-log={}", ev.log.display()));
        // The log and both dumps: every rejection once, one proxy, the fixed
        // ones resolved.
        let report = nack(&[&log_arg, &ev.dump_rejected, &ev.dump_fixed]);
        let rows: Vec<String> = report["rejections"]
            .as_array()
            .expect("rejections")
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}{}",
                    r["proxy"].as_str().unwrap_or("?"),
                    r["xds_type"].as_str().unwrap_or("?"),
                    r["resource"].as_str().unwrap_or("-"),
                    r["class"].as_str().unwrap_or("?"),
                    if r["resolved"].is_null() { "" } else { " resolved" }
                )
            })
            .collect();
        let mut rows = rows;
        rows.sort();
        let want = [
            "CDS outbound|443||tls.example.com nack-tls-parameters resolved",
            "CDS outbound|80||example.com nack-logical-dns-endpoints resolved",
            "LDS - nack-extension-missing resolved",
            "LDS 0.0.0.0_15000 nack-bind-failed",
            "LDS 0.0.0.0_8080 nack-invalid-regex resolved",
            "LDS 0.0.0.0_8443 nack-missing-secret",
            "LDS 0.0.0.0_9443 nack-filter-chain-conflict resolved",
            "LDS 0.0.0.0_9444 nack-filter-chain-conflict resolved",
            "RDS - nack-invalid-regex resolved",
        ]
        .map(|w| format!("{PROXY} {w}"));
        assert_eq!(rows, want, "{what}: {:#}", report["rejections"]);
        let rds = report["rejections"]
            .as_array()
            .expect("rejections")
            .iter()
            .find(|r| r["xds_type"] == "RDS")
            .expect("the RDS rejection");
        assert!(
            rds["message"]
                .as_str()
                .is_some_and(|m| m.contains("not named by Envoy") && m.contains("http.8081")),
            "{what}: {rds:#}"
        );
        // The log alone: the same rejections (the dump-only evidence is in
        // it too), the unnamed RDS one said to be unnamed.
        let alone = nack(&[&log_arg]);
        let n = alone["rejections"].as_array().map_or(0, |v| v.len());
        assert_eq!(n, 9, "{what}: {:#}", alone["rejections"]);
        assert!(alone["rejections"]
            .as_array()
            .expect("rows")
            .iter()
            .all(|r| r["resolved"].is_null()));
        // A log of the same Envoy with no rejection in it is said to be read.
        let quiet = ev.dir.0.join("quiet.log");
        let head: String = std::fs::read_to_string(&ev.log)
            .expect("log")
            .lines()
            .filter(|l| l.contains("no configured limit"))
            .take(1)
            .chain(["[2026-12-02 12:00:00.000][1][info][config] cds: add 3 cluster(s), remove 0 cluster(s)"])
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&quiet, head).expect("quiet log");
        let quiet_arg = std::path::PathBuf::from(format!("--envoy-log={}", quiet.display()));
        let none = nack(&[&quiet_arg]);
        assert_eq!(none["rejections"].as_array().map_or(1, |v| v.len()), 0);
        assert!(
            none["notes"].as_array().expect("notes").iter().any(|n| n
                .as_str()
                .is_some_and(|n| n.contains("2 lines read, none recognised as a rejection"))),
            "{:#}",
            none["notes"]
        );
    }
}
