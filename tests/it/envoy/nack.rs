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

/// Every listener of the bad pushes again, valid (the RDS one apart): the
/// fix that resolves each rejection.
fn fixed_listeners(ports: &[u16]) -> Vec<Value> {
    vec![
        listener("0.0.0.0_9443", ports[0], sni_chains(false)),
        listener("0.0.0.0_9444", ports[1], sni_chains(false)),
        listener(
            "0.0.0.0_8080",
            ports[2],
            http(json!({"route_config": regex_routes("inline", "/api/v1")})),
        ),
        listener("0.0.0.0_8443", ports[3], json!([{"filters": tcp("good")}])),
        listener("0.0.0.0_15000", ports[6], json!([{"filters": tcp("good")}])),
        listener("0.0.0.0_8444", ports[5], json!([{"filters": tcp("good")}])),
    ]
}

/// Every rejection the bad pushes cause, as `nack` must report it once
/// the fix is in: `TYPE RESOURCE CLASS resolved`.
const EXPECTED: [&str; 9] = [
    "CDS outbound|443||tls.example.com nack-tls-parameters resolved",
    "CDS outbound|80||example.com nack-logical-dns-endpoints resolved",
    "LDS 0.0.0.0_15000 nack-bind-failed resolved",
    "LDS 0.0.0.0_8080 nack-invalid-regex resolved",
    "LDS 0.0.0.0_8443 nack-missing-secret resolved",
    "LDS 0.0.0.0_9443 nack-filter-chain-conflict resolved",
    "LDS 0.0.0.0_9444 nack-filter-chain-conflict resolved",
    "RDS - nack-invalid-regex resolved",
    "UNKNOWN_TYPE resolved",
];

/// `nack`'s rejections as sorted `PROXY TYPE RESOURCE CLASS [resolved]`.
fn rows(report: &Value) -> Vec<String> {
    let mut rows: Vec<String> = report["rejections"]
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
    rows.sort();
    rows
}

/// The expected rows; the unknown @type is named by gRPC (the listener) and
/// unnamed by file-based xDS (the whole file was refused).
fn expected(unknown_type_row: &str) -> Vec<String> {
    let mut v: Vec<String> = EXPECTED
        .iter()
        .map(|w| format!("{PROXY} {}", w.replace("UNKNOWN_TYPE", unknown_type_row)))
        .collect();
    v.sort();
    v
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
        json!({"node": {"id": NODE, "cluster": "egw-mtls.egress-mtls"}}),
        &args,
    );
    let ports = free_ports(7);
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
    let mut fixed_lds = fixed_listeners(&ports);
    fixed_lds.push(listener(
        "0.0.0.0_8081",
        ports[4],
        http(json!({"rds": {"config_source": {"path_config_source": {"path": rds.to_string_lossy()}, "resource_api_version": "V3"},
                "route_config_name": "http.8081"}})),
    ));
    envoy.push("lds", &fixed_lds).expect("fixed LDS");
    let dump_fixed = envoy.dir.0.join("dump-fixed.json");
    std::fs::write(&dump_fixed, envoy.get("/config_dump")).expect("dump");
    let log = envoy.dir.0.join("envoy.log");
    // Keep the evidence beyond the Envoy (its directory goes with it).
    Evidence::keep(tag, &log, &dump_rejected, &dump_fixed)
}

impl Evidence {
    /// Copies what Envoy left in its directory (which goes with it) to a
    /// directory of its own.
    fn keep(
        tag: &str,
        log: &std::path::Path,
        dump_rejected: &std::path::Path,
        dump_fixed: &std::path::Path,
    ) -> Evidence {
        let keep = super::TempDir::new(&format!("{tag}-evidence"));
        let copy = |p: &std::path::Path| {
            let to = keep.0.join(p.file_name().expect("name"));
            std::fs::copy(p, &to).expect("copy");
            to
        };
        Evidence {
            log: copy(log),
            dump_rejected: copy(dump_rejected),
            dump_fixed: copy(dump_fixed),
            dir: keep,
        }
    }
}

/// Where the recorded evidence lives: what Envoy 1.40 printed and dumped
/// in each variant, kept so that `nack` is checked against it on machines
/// without Envoy too.
pub fn evidence_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/envoy-1.40-nack")
}

/// With EGRESS_XRAY_KEEP_EVIDENCE, copies a run's evidence to
/// target/envoy-evidence/VARIANT; with EGRESS_XRAY_BLESS, records it under
/// tests/data (the test's temporary directories written as
/// /etc/envoy/xray, nothing else changed).
fn keep_evidence(variant: &str, ev: &Evidence, server_view: &[String]) {
    let files = [&ev.log, &ev.dump_rejected, &ev.dump_fixed];
    if std::env::var_os("EGRESS_XRAY_KEEP_EVIDENCE").is_some() {
        let keep = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/envoy-evidence")
            .join(variant);
        std::fs::create_dir_all(&keep).expect("dir");
        for p in files {
            std::fs::copy(p, keep.join(p.file_name().expect("name"))).expect("copy");
        }
        std::fs::write(keep.join("server-view.txt"), server_view.join("\n---\n")).expect("view");
    }
    if std::env::var_os("EGRESS_XRAY_BLESS").is_some() {
        let tmp = regex::escape(&std::env::temp_dir().join("egress-xray-envoy-").to_string_lossy());
        let re = regex::Regex::new(&format!("{tmp}[A-Za-z0-9_.-]+")).expect("regex");
        let dir = evidence_dir().join(variant);
        std::fs::create_dir_all(&dir).expect("dir");
        for p in files {
            let text = std::fs::read_to_string(p).expect("evidence");
            let text = re.replace_all(&text, "/etc/envoy/xray");
            std::fs::write(dir.join(p.file_name().expect("name")), text.as_bytes()).expect("write");
        }
        if !server_view.is_empty() {
            let view = server_view.join("\n---\n");
            std::fs::write(
                dir.join("server-view.txt"),
                re.replace_all(&view, "/etc/envoy/xray").as_bytes(),
            )
            .expect("write");
        }
    }
}

/// The recorded evidence of every variant reads as the live run did: the
/// same rejections, once each, classed, attributed and resolved. Runs
/// without Envoy.
#[test]
fn recorded_envoy_evidence_gives_the_same_postmortem() {
    let dir = evidence_dir();
    let variants = [
        ("file-default-format", "LDS - nack-extension-missing"),
        ("file-istio-format", "LDS - nack-extension-missing"),
        ("grpc-sotw-default-format", "LDS 0.0.0.0_8444 nack-extension-missing"),
        ("grpc-sotw-istio-format", "LDS 0.0.0.0_8444 nack-extension-missing"),
        ("grpc-delta-default-format", "LDS 0.0.0.0_8444 nack-extension-missing"),
        ("grpc-delta-istio-format", "LDS 0.0.0.0_8444 nack-extension-missing"),
    ];
    for (variant, unknown_row) in variants {
        let d = dir.join(variant);
        assert!(
            d.is_dir(),
            "{} is missing: regenerate with EGRESS_XRAY_BLESS=1 cargo test envoy::nack",
            d.display()
        );
        let log_arg = std::path::PathBuf::from(format!("--envoy-log={}", d.join("envoy.log").display()));
        let report = nack(&[&log_arg, &d.join("dump-rejected.json"), &d.join("dump-fixed.json")]);
        assert_eq!(
            rows(&report),
            expected(unknown_row),
            "{variant}: {:#}",
            report["rejections"]
        );
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
        keep_evidence(
            if istio_format {
                "file-istio-format"
            } else {
                "file-default-format"
            },
            &ev,
            &[],
        );
        let what = if istio_format {
            "istio-proxy's log format"
        } else {
            "Envoy's log format"
        };
        let log_arg = std::path::PathBuf::from(format!("--envoy-log={}", ev.log.display()));
        // The log and both dumps: every rejection once, one proxy, the fixed
        // ones resolved.
        let report = nack(&[&log_arg, &ev.dump_rejected, &ev.dump_fixed]);
        assert_eq!(
            rows(&report),
            expected("LDS - nack-extension-missing"),
            "{what}: {:#}",
            report["rejections"]
        );
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

/// Listeners and clusters as (name, Any) for the ADS server.
fn packed(type_name: &str, resources: &[Value]) -> Vec<(String, envoy_types::pb::google::protobuf::Any)> {
    resources
        .iter()
        .map(|r| {
            let name = r["name"].as_str().expect("name").to_string();
            (name, super::ads::any(type_name, r))
        })
        .collect()
}

/// A listener whose one filter has a config type no Envoy knows: built as
/// protobuf (its JSON could not be encoded without the type).
fn unknown_type_listener(port: u16) -> (String, envoy_types::pb::google::protobuf::Any) {
    use envoy_types::pb::envoy::config::listener::v3::{filter::ConfigType, Listener};
    use prost::Message;
    let (name, any) = packed(
        "envoy.config.listener.v3.Listener",
        &[listener("0.0.0.0_8444", port, json!([{"filters": tcp("good")}]))],
    )
    .remove(0);
    let mut l = Listener::decode(any.value.as_slice()).expect("listener");
    l.filter_chains[0].filters[0] = envoy_types::pb::envoy::config::listener::v3::Filter {
        name: "istio.future".into(),
        config_type: Some(ConfigType::TypedConfig(envoy_types::pb::google::protobuf::Any {
            type_url: "type.googleapis.com/istio.future.v9.Filter".into(),
            value: vec![8, 1],
        })),
    };
    (
        name,
        envoy_types::pb::google::protobuf::Any {
            type_url: any.type_url,
            value: l.encode_to_vec(),
        },
    )
}

/// The same bad updates and fix, through a real ADS server (state of the
/// world or delta). Also keeps the server's view: each NACK's error_detail.
fn grpc_based(bin: &std::path::Path, istio_format: bool, delta: bool) -> (Evidence, Vec<String>) {
    use super::ads::{Ads, CLUSTER, LISTENER, ROUTE};
    let args: Vec<&str> = if istio_format {
        vec!["--log-format", ISTIO_LOG_FORMAT]
    } else {
        vec![]
    };
    let tag = format!(
        "nack-{}{}",
        if delta { "delta" } else { "sotw" },
        if istio_format { "-istio" } else { "" }
    );
    let mut ads = Ads::start(delta);
    let ads_config = json!({
        "api_type": if delta { "DELTA_GRPC" } else { "GRPC" },
        "transport_api_version": "V3",
        "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}]
    });
    let xds_cluster = json!({
        "name": "xds", "type": "STATIC", "connect_timeout": "1s",
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": "xds", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
            "socket_address": {"address": "127.0.0.1", "port_value": ads.addr.port()}}}}]}]}
    });
    let overrides = json!({
        "node": {"id": NODE, "cluster": "egw-mtls.egress-mtls"},
        "dynamic_resources": {
            "ads_config": ads_config,
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
            "cds_config": {"ads": {}, "resource_api_version": "V3"}
        },
        "static_resources": {"clusters": [xds_cluster]}
    });
    let envoy = Envoy::start_full(bin, &tag, overrides, &args);
    let ports = free_ports(7);
    let cl = |v: &[Value]| packed("envoy.config.cluster.v3.Cluster", v);
    let ls = |v: &[Value]| packed("envoy.config.listener.v3.Listener", v);
    ads.wait_for_request(CLUSTER);
    ads.push(CLUSTER, &cl(&[cluster("good")]), "1").expect("good CDS");
    ads.wait_for_request(LISTENER);
    ads.push(LISTENER, &[], "1").expect("empty LDS");
    let bad_cds = [
        cluster("good"),
        logical_dns("outbound|80||example.com", &["a.example.com", "b.example.com"]),
        cipher_cluster("outbound|443||tls.example.com", "ECDHE-RSA-AES999-GCM"),
    ];
    assert!(
        ads.push(CLUSTER, &cl(&bad_cds), "2").is_err(),
        "Envoy took the bad clusters"
    );
    let rds_listener = listener(
        "0.0.0.0_8081",
        ports[4],
        http(
            json!({"rds": {"config_source": {"ads": {}, "resource_api_version": "V3"}, "route_config_name": "http.8081"}}),
        ),
    );
    let bad_lds = vec![
        listener("0.0.0.0_9443", ports[0], sni_chains(true)),
        listener("0.0.0.0_9444", ports[1], sni_chains(true)),
        listener(
            "0.0.0.0_8080",
            ports[2],
            http(json!({"route_config": regex_routes("inline", "/api/(v1")})),
        ),
        listener("0.0.0.0_8443", ports[3], tls_secret_chain("kubernetes://missing-cred")),
        listener("0.0.0.0_15000", envoy.admin.port(), json!([{"filters": tcp("good")}])),
        rds_listener.clone(),
    ];
    assert!(
        ads.push(LISTENER, &ls(&bad_lds), "2").is_err(),
        "Envoy took the bad listeners"
    );
    ads.wait_for_request(ROUTE);
    // Envoy subscribes to the route configuration by name: the server knows
    // which one it NACKs even though Envoy's log does not say.
    assert!(
        ads.seen()
            .iter()
            .any(|s| s.type_url == ROUTE && s.names.iter().any(|n| n == "http.8081")),
        "{:?}",
        ads.seen()
    );
    let route = |regex: &str| {
        packed(
            "envoy.config.route.v3.RouteConfiguration",
            &[regex_routes("http.8081", regex)],
        )
    };
    assert!(
        ads.push(ROUTE, &route("/api/(v1"), "2").is_err(),
        "Envoy took the bad route"
    );
    let mut with_unknown = ls(&bad_lds);
    with_unknown.push(unknown_type_listener(ports[5]));
    assert!(
        ads.push(LISTENER, &with_unknown, "3").is_err(),
        "Envoy took an unknown type"
    );
    let (status, body) = envoy.get_raw("/config_dump");
    let dump_rejected = envoy.dir.0.join("dump-rejected.json");
    std::fs::write(&dump_rejected, &body).expect("dump");
    let _ = status;
    // The fix.
    let fixed_cds = [
        cluster("good"),
        logical_dns("outbound|80||example.com", &["a.example.com"]),
        cipher_cluster("outbound|443||tls.example.com", "ECDHE-RSA-AES128-GCM-SHA256"),
    ];
    ads.push(CLUSTER, &cl(&fixed_cds), "4").expect("fixed CDS");
    let mut fixed_lds = fixed_listeners(&ports);
    fixed_lds.push(rds_listener);
    ads.push(LISTENER, &ls(&fixed_lds), "4").expect("fixed LDS");
    ads.push(ROUTE, &route("/api/v1"), "4").expect("fixed route");
    let dump_fixed = envoy.dir.0.join("dump-fixed.json");
    std::fs::write(&dump_fixed, envoy.get("/config_dump")).expect("dump");
    let server_view: Vec<String> = ads
        .seen()
        .into_iter()
        .filter_map(|s| s.error.map(|e| format!("{}: {e}", s.type_url)))
        .collect();
    let ev = Evidence::keep(&tag, &envoy.dir.0.join("envoy.log"), &dump_rejected, &dump_fixed);
    drop(envoy);
    (ev, server_view)
}

#[test]
fn grpc_rejections_sotw_and_delta() {
    let Some(bin) = envoy_bin() else { return };
    let _turn = turn();
    for delta in [false, true] {
        for istio_format in [false, true] {
            let (ev, view) = grpc_based(&bin, istio_format, delta);
            let name = format!(
                "grpc-{}-{}",
                if delta { "delta" } else { "sotw" },
                if istio_format { "istio-format" } else { "default-format" }
            );
            keep_evidence(&name, &ev, &view);
            // The control plane's view: four NACKs (clusters, listeners,
            // route, the unknown type), naming what nack names.
            assert_eq!(view.len(), 4, "{name}: {view:#?}");
            for resource in [
                "outbound|80||example.com",
                "0.0.0.0_9444",
                "0.0.0.0_15000",
                "0.0.0.0_8444",
            ] {
                assert!(
                    view.iter().any(|v| v.contains(resource)),
                    "{name}: {resource} not in {view:#?}"
                );
            }
            assert!(
                view.iter()
                    .any(|v| v.contains("RouteConfiguration: missing ): /api/(v1")),
                "{view:#?}"
            );
            // Envoy's failed /config_dump is evidence, not an error.
            let text = std::fs::read_to_string(&ev.dump_rejected).expect("dump");
            assert!(
                text.starts_with("Failed to convert protobuf message to JSON string"),
                "{name}: {text:.200}"
            );
            let log_arg = std::path::PathBuf::from(format!("--envoy-log={}", ev.log.display()));
            let report = nack(&[&log_arg, &ev.dump_rejected, &ev.dump_fixed]);
            assert_eq!(
                rows(&report),
                expected("LDS 0.0.0.0_8444 nack-extension-missing"),
                "{name}: {:#}",
                report["rejections"]
            );
            let unknown = report["rejections"]
                .as_array()
                .expect("rows")
                .iter()
                .find(|r| r["resource"] == "0.0.0.0_8444")
                .expect("the unknown type");
            assert!(
                unknown["sources"].to_string().contains("config_dump answer"),
                "{name}: Envoy's failed dump is a source: {unknown:#}"
            );
        }
    }
}
