//! Property tests: mutated real dumps (truncated, bytes flipped, keys dropped,
//! values retyped) give a result or an error — never a panic.

use crate::common;

use egress_xray::analysis::{diff, endpoints, inventory, paths, routes, secrets, summary, tls, trace};
use egress_xray::input;
use egress_xray::model::Index;
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let mut v = vec![
        std::fs::read(common::sample("egw-mtls.config_dump.json")).unwrap(),
        std::fs::read(common::sample("egw-pt.config_dump.json")).unwrap(),
    ];
    if let Some(c) = common::corpus() {
        for f in [
            "public/openservicemesh__osm__pkg__cli__verifier__testdata__sample-envoy-config-dump-bookbuyer.json",
            "public/istio__istio__pilot__pkg__proxy__envoy__configdump__testdata__configdump.json",
            "public/envoyproxy__gateway__internal__cmd__egctl__testdata__translate__out__envoy-patch-policy.all.yaml",
        ] {
            v.push(std::fs::read(c.join(f)).unwrap());
        }
    }
    v
}

/// Everything a user's command would run on the input.
fn exercise(bytes: &[u8]) {
    if let Ok(dumps) = input::load_bytes("mutated", bytes) {
        for d in dumps {
            let ix = Index::build(d);
            let _ = summary::summarize(&ix);
            let _ = inventory::listeners(&ix);
            let _ = inventory::clusters(&ix);
            let _ = routes::routes(&ix);
            let _ = endpoints::endpoints(&ix);
            let _ = secrets::secrets(&ix, None);
            let _ = tls::tls(&ix);
            let _ = paths::paths(&ix, &paths::PathFilter::default());
            let _ = diff::diff(&ix, &ix, &diff::DiffOptions::default());
            for sni in [None, Some("www.wikipedia.org".to_string())] {
                let _ = trace::trace(
                    &ix,
                    &trace::TraceRequest {
                        port: 8443,
                        sni,
                        host: Some("a.example.org:80".into()),
                        ..Default::default()
                    },
                );
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(f64),
    Flip(f64, u8),
    DropKey(usize),
    Retype(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64).prop_map(Mutation::Truncate),
        (0.0..1.0f64, any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
        any::<usize>().prop_map(Mutation::DropKey),
        (
            any::<usize>(),
            prop::sample::select(vec!["null", "1", "\"x\"", "[]", "{}", "true", "-1e999"])
        )
            .prop_map(|(i, v)| Mutation::Retype(i, v)),
    ]
}

/// Applies a mutation to JSON-ish text or raw bytes.
fn apply(seed: &[u8], m: &Mutation) -> Vec<u8> {
    match m {
        Mutation::Truncate(p) => seed[..(seed.len() as f64 * p) as usize].to_vec(),
        Mutation::Flip(p, b) => {
            let mut v = seed.to_vec();
            let i = ((v.len() - 1) as f64 * p) as usize;
            v[i] ^= b | 1;
            v
        }
        Mutation::DropKey(i) | Mutation::Retype(i, _) => {
            let text = String::from_utf8_lossy(seed);
            let keys: Vec<usize> = text.match_indices("\": ").map(|(at, _)| at).collect();
            if keys.is_empty() {
                return seed.to_vec();
            }
            let at = keys[i % keys.len()] + 3;
            // Replace the value's first token (up to , } or newline).
            let end = text[at..].find([',', '}', '\n']).map_or(text.len(), |e| at + e);
            let replacement = match m {
                Mutation::Retype(_, v) => v.to_string(),
                _ => "null".to_string(),
            };
            format!("{}{}{}", &text[..at], replacement, &text[end..]).into_bytes()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_dumps_never_panic(seed_ix in 0usize..5, m in mutation()) {
        let seeds = seeds();
        let seed = &seeds[seed_ix % seeds.len()];
        exercise(&apply(seed, &m));
    }

    #[test]
    fn mutated_protobuf_never_panics(p in 0.0..1.0f64, b in any::<u8>(), cut in 0.0..1.0f64) {
        use prost::Message;
        let d = input::load_bytes("seed", &seeds()[0]).unwrap().remove(0).config_dump().encode_to_vec();
        exercise(&apply(&d, &Mutation::Flip(p, b)));
        exercise(&d[..(d.len() as f64 * cut) as usize]);
    }

    /// The allocation-free check that guards resources read from protobuf
    /// files agrees with prost on real listeners and clusters, mutated.
    #[test]
    fn protobuf_check_agrees_with_prost(which in 0usize..64, at in 0.0..1.0f64, b in any::<u8>(), cut in 0.5..1.0f64) {
        use prost::Message;
        let ix = common::index(&common::sample("egw-mtls.config_dump.json"));
        let listeners: Vec<Vec<u8>> = ix.listeners.iter().filter_map(|l| l.lazy.as_ref()).map(|l| l.encoded().into_owned()).collect();
        let clusters: Vec<Vec<u8>> = ix.clusters.iter().map(|c| c.lazy.encoded().into_owned()).collect();
        let (name, mut bytes, listener) = if which % 2 == 0 {
            ("envoy.config.listener.v3.Listener", listeners[which / 2 % listeners.len()].clone(), true)
        } else {
            ("envoy.config.cluster.v3.Cluster", clusters[which / 2 % clusters.len()].clone(), false)
        };
        let i = ((bytes.len() - 1) as f64 * at) as usize;
        bytes[i] = b;
        bytes.truncate((bytes.len() as f64 * cut) as usize);
        let plan = egress_xray::input::plan::message(name).unwrap();
        let prost_ok = if listener {
            envoy_types::pb::envoy::config::listener::v3::Listener::decode(bytes.as_slice()).is_ok()
        } else {
            envoy_types::pb::envoy::config::cluster::v3::Cluster::decode(bytes.as_slice()).is_ok()
        };
        prop_assert_eq!(plan.check(&bytes), prost_ok);
    }
}

/// Log and config texts we ship, to mutate: istiod and Envoy logs, Istio YAML.
fn text_seeds() -> Vec<String> {
    [
        "trap2/istiod.log",
        "trap2/egw-mtls-6c8f9d7b5-x2k4p.egress-mtls.log",
        "istio/istiod-tls-route.log",
        "istio/base/egress-mtls.yaml",
        "istio/k8s.yaml",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(common::sample(p)).unwrap())
    .collect()
}

/// A word the log and error parsers key on, or arbitrary Unicode text.
fn keyword_or_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ValidationError.",
            "ClusterValidationError.ConnectTimeout",
            "field: \"",
            "\"",
            "gRPC config for type.googleapis.com/envoy.config.cluster.v3.Cluster rejected: ",
            "delta config for type.googleapis.com/envoy.config.listener.v3.Listener rejected: ",
            "cds: cluster 'a' config rejected: ",
            "lds: listener '0.0.0.0_9443' config rejected: ",
            "ADS:CDS: ACK ERROR ",
            "router~10.0.0.1~p.ns~ns.svc.cluster.local-7 ",
            "\n0.0.0.0_9444: ",
            "Error adding/updating listener(s) ",
            "e\u{301}",
            "\u{202e}",
            "日本",
            "\u{1b}[31m",
            "\r",
        ])
        .prop_map(str::to_string),
        "\\PC{0,12}",
        ".{0,12}",
    ]
}

fn exercise_text(text: &str) {
    let _ = egress_xray::istio::nacklog::parse_log("mutated.log", text);
    let _ = egress_xray::istio::log::parse("mutated.log", text);
    let mut cfg = egress_xray::istio::Config::default();
    let _ = cfg.load_text("mutated.yaml", text);
    let _ = egress_xray::analysis::nack::parse_syncz("mutated.json", text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_logs_and_config_never_panic(seed_ix in 0usize..5, m in mutation()) {
        let seeds = text_seeds();
        let seed = seeds[seed_ix % seeds.len()].as_bytes();
        exercise_text(&String::from_utf8_lossy(&apply(seed, &m)));
    }

    /// Arbitrary Unicode (combining marks, multi-byte and wide characters,
    /// controls) around the very words the parsers look for, through the
    /// log parsers, the error classifier and the whole postmortem.
    #[test]
    fn unicode_around_parser_keywords_never_panics(parts in prop::collection::vec(keyword_or_text(), 0..24)) {
        let line: String = parts.concat();
        let _ = egress_xray::analysis::nack::validation_field(&line);
        let _ = egress_xray::analysis::nack::classify(&line);
        let log = format!("2026-11-20T11:30:02.415Z\twarning\tenvoy config\t{line}\n{line}\n");
        let envoy: Vec<_> = egress_xray::istio::nacklog::parse_log("u.log", &log)
            .into_iter()
            .map(|(r, src)| (Some("p.ns".to_string()), r, src))
            .collect();
        let istiod = egress_xray::istio::nacklog::parse_log("istiod.log", &log);
        let _ = egress_xray::analysis::nack::postmortem(&egress_xray::analysis::nack::NackInput {
            dumps: &[],
            envoy: &envoy,
            istiod: &istiod,
            gateway_lines: &egress_xray::istio::log::parse("istiod.log", &log),
            syncz: &[],
            config: None,
            logs: &[("envoy.log".to_string(), log.lines().count())],
        });
    }

    #[test]
    fn arbitrary_log_lines_never_panic(line in ".{0,200}") {
        exercise_text(&line);
        let _ = egress_xray::istio::nacklog::parse_line(&format!("2021-01-28 {line}"));
        let _ = egress_xray::istio::nacklog::parse_line(&format!("gRPC config for {line} rejected: {line}"));
    }
}

/// `{"a": {"a": ... "x"}}` nested `depth` levels: as a Struct each level
/// is two protobuf messages (Struct, Value).
fn nested_struct(depth: usize) -> serde_json::Value {
    let mut v = serde_json::json!("x");
    for _ in 0..depth {
        v = serde_json::json!({ "a": v });
    }
    v
}

/// A listener whose metadata is nested beyond prost's recursion limit used
/// to become an empty listener (port 0): trace then said "no listener
/// accepts port 8443" with exit 0 and nothing skipped. Bootstrap node
/// metadata nested 60 deep made the summary say "no bootstrap". Both must be
/// counted as undecodable (XR0041), and trace must say its answer may miss
/// them.
#[test]
fn resources_nested_beyond_the_recursion_limit_are_reported_not_emptied() {
    let text = std::fs::read_to_string(common::sample("egw-mtls.config_dump.json")).unwrap();
    let mut dump: serde_json::Value = serde_json::from_str(&text).unwrap();
    for section in dump["configs"].as_array_mut().unwrap() {
        let ty = section["@type"].as_str().unwrap().to_string();
        if ty.ends_with("ListenersConfigDump") {
            let l = &mut section["dynamic_listeners"][0]["active_state"]["listener"];
            assert_eq!(l["name"], "0.0.0.0_8443");
            l["metadata"] = serde_json::json!({ "filter_metadata": { "deep": nested_struct(49) } });
        } else if ty.ends_with("BootstrapConfigDump") {
            section["bootstrap"]["node"]["metadata"]["DEEP"] = nested_struct(60);
        }
    }
    let path = std::env::temp_dir().join(format!("egress-xray-deep-{}.json", std::process::id()));
    std::fs::write(&path, dump.to_string()).unwrap();
    let file = path.to_string_lossy().into_owned();
    let run = |args: &[&str]| egress_xray::cli::run_args(args.iter().map(|s| s.to_string()));
    let summary = run(&["summary", &file, "-o", "json"]);
    let trace = run(&["trace", &file, "--port", "8443", "--sni", "www.wikipedia.org"]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    let s: serde_json::Value = serde_json::from_str(&summary.stdout).unwrap();
    assert_eq!(s[0]["decode_report"]["undecodable"], 2, "{}", s[0]["decode_report"]);
    let codes: Vec<&str> = s[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"XR0041"), "{codes:?}");
    assert!(
        trace.stdout.contains("do not decode and are left out (XR0041)"),
        "trace must not answer with confidence: {}",
        trace.stdout
    );
}
