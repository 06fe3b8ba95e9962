//! The scenario's everyday questions (../shared/docs/scenario.md), each
//! answered by one command on the first try, as a user runs it: default
//! output, in a pipe. Each test checks that the output states the answer,
//! and that the README's walkthrough shows the same command.

use crate::common;

/// Runs the command line as written (words split on spaces; `samples/`
/// paths resolved to the repository) and returns stdout, whatever the
/// exit code (diff exits 1 when the dumps differ).
fn answer(cmdline: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&format!("$ {cmdline}\n")),
        "the README walkthrough does not show `{cmdline}`"
    );
    let args: Vec<String> = cmdline
        .split_whitespace()
        .skip(1)
        .map(|w| match w.strip_prefix("samples/") {
            Some(rest) => common::sample(rest),
            None => w.trim_matches('\'').to_string(),
        })
        .collect();
    let out = assert_cmd::Command::cargo_bin("egress-xray")
        .unwrap()
        .args(&args)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{cmdline}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn has(out: &str, needles: &[&str]) {
    for n in needles {
        assert!(out.contains(n), "missing `{n}` in:\n{out}");
    }
}

/// Which gateway does www.wikipedia.org leave through? The client's sidecar
/// sends it, wrapped in mesh mTLS, to the mTLS gateway's Service — no port
/// needed, the SNI picks the listener.
#[test]
fn which_gateway_does_a_host_leave_through() {
    let out = answer("egress-xray trace samples/sleep-sidecar.config_dump.json --sni www.wikipedia.org");
    has(
        &out,
        &[
            "cluster    outbound|443|wikipedia|egw-mtls.egress-mtls.svc.cluster.local",
            "tls out    istio_mutual, SNI www.wikipedia.org",
            "port 443 inferred",
            "result     routed",
        ],
    );
}

/// Is TLS originated or passed through, on each gateway? Neither gateway
/// originates TLS to the external host (the app's TLS is its own); the
/// passthrough gateway only reads the SNI, the mTLS one terminates the mesh
/// mTLS.
#[test]
fn is_tls_originated_or_passed_through() {
    let out =
        answer("egress-xray tls samples/egw-pt.config_dump.json samples/egw-mtls.config_dump.json --host '*.org'");
    let line = |needle: &str| {
        out.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(line("outbound|443||example.org ").starts_with("outbound|443||example.org none"));
    assert!(line("outbound|443||www.wikipedia.org ").starts_with("outbound|443||www.wikipedia.org none"));
    assert!(line(" example.org ").contains("passthrough"));
    assert!(line(" www.wikipedia.org ").contains("istio_mutual"));
}

/// Is a client certificate required on the mTLS gateway's 8443?
#[test]
fn is_a_client_certificate_required() {
    let out = answer("egress-xray trace samples/egw-mtls.config_dump.json --port 8443 --sni www.wikipedia.org");
    has(
        &out,
        &[
            "requires a client certificate from the mesh; cert sds default, validated by sds ROOTCA",
            "tls out    none",
        ],
    );
}

/// Why is the mTLS gateway's listener missing (Trap 1)? The dump alone says
/// it has none from LDS; with the config, the cause and the exact fix.
#[test]
fn why_is_a_listener_missing() {
    let out = answer("egress-xray samples/egw-mtls-trap1.config_dump.json");
    has(&out, &["gateway has no listeners from LDS", "egress-xray explain"]);
    let out = answer(
        "egress-xray explain samples/egw-mtls-trap1.config_dump.json --istio samples/istio/base --istio samples/istio/broken/tls-route.yaml --k8s samples/istio/k8s.yaml",
    );
    has(
        &out,
        &[
            "istiod builds zero filter chains for 0.0.0.0_8443",
            "has only `tls` routes, which are consulted for PASSTHROUGH servers only",
            "change the `tls:` block of VirtualService egress-mtls/wikipedia-via-egw-mtls to `tcp:",
        ],
    );
}

/// How did the passthrough gateway change in the push? What came, went and
/// changed, by resource and field.
#[test]
fn how_does_a_gateway_differ_after_a_push() {
    let out = answer(
        "egress-xray diff samples/push/egw-pt.before.config_dump.json samples/push/egw-pt.after.config_dump.json",
    );
    has(
        &out,
        &[
            "+ cluster outbound|80||example.com",
            "- cluster outbound|443||www.example.org",
            "idleTimeout: 3600s → 1800s",
        ],
    );
}

/// What was rejected, by whom, and why (Trap 2)?
#[test]
fn what_was_rejected_by_whom_and_why() {
    let out = answer(
        "egress-xray nack --envoy-log samples/trap2/egw-pt-7d9f8c6b4-q8mzl.egress-pt.log --envoy-log samples/trap2/egw-mtls-6c8f9d7b5-x2k4p.egress-mtls.log --istio samples/trap2/istio",
    );
    has(
        &out,
        &[
            "CDS outbound|80||example.com: rejected by 2 (egw-mtls-6c8f9d7b5-x2k4p.egress-mtls, egw-pt-7d9f8c6b4-q8mzl.egress-pt)",
            "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint",
            "origin: ServiceEntry default/example-logicaldns",
            "exportTo",
        ],
    );
}
