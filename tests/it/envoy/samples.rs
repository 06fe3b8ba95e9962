//! A sample that Envoy itself wrote: `samples/envoy-gateways.config_dump.json`
//! is Envoy 1.40's own `/config_dump?include_eds` of the scenario's gateways
//! (`scenario::load_gateways`), with Envoy's real defaults, warming and
//! versions. Regenerate it with
//! `EGRESS_XRAY_BLESS=1 cargo test envoy::samples` (needs the pinned Envoy
//! and openssl); the only edit made to Envoy's output is that the test's
//! temporary directory is written as `/etc/envoy/xray`.

use egress_xray::analysis::tls::{tls, Termination};
use egress_xray::analysis::trace::{trace, TraceRequest, TraceResult};

use super::scenario::load_gateways;
use super::tls::{certs, istio_secrets};
use super::{envoy_bin, turn, Envoy};

const SAMPLE: &str = "envoy-gateways.config_dump.json";

/// The listener ports of the sample (fixed, so the sample reads like a
/// gateway's): passthrough 8443, mTLS 9443, HTTP 8080, twins 18081/18082.
const PORTS: [u16; 5] = [8443, 9443, 8080, 18081, 18082];

#[test]
fn regenerate_the_sample_envoy_wrote() {
    if std::env::var_os("EGRESS_XRAY_BLESS").is_none() {
        return;
    }
    let Some(bin) = envoy_bin() else { return };
    let _turn = turn();
    let dir = super::TempDir::new("sample-certs");
    let Some(c) = certs(&dir.0) else { return };
    let mut envoy = Envoy::start_with(&bin, "sample", serde_json::json!({"secrets": istio_secrets(&c)}));
    load_gateways(&mut envoy, &PORTS);
    let text = envoy.get("/config_dump?include_eds");
    let text = text
        .replace(&*envoy.dir.0.to_string_lossy(), "/etc/envoy/xray")
        .replace(&*dir.0.to_string_lossy(), "/etc/envoy/xray");
    std::fs::write(crate::common::sample(SAMPLE), text).expect("sample written");
}

#[test]
fn the_sample_envoy_wrote_reads_cleanly_and_traces_as_envoy_ran_it() {
    let ix = crate::common::index(&crate::common::sample(SAMPLE));
    // Envoy's own dump of its own version: nothing unknown, nothing lost.
    assert!(ix.report.is_clean(), "{}", ix.report.one_line());
    assert_eq!(ix.report.unknown_fields, 0);
    assert!(
        ix.report.opaque_extensions.is_empty(),
        "{:?}",
        ix.report.opaque_extensions
    );
    // What the real Envoy did with these connections (envoy::scenario
    // checks it on a live Envoy every run).
    let tls_to = |port: u32, sni: &str| {
        trace(
            &ix,
            &TraceRequest {
                port,
                dst_ip: Some("127.0.0.1".parse().expect("ip")),
                sni: Some(sni.into()),
                transport: Some("tls".into()),
                ..Default::default()
            },
        )
    };
    let t = tls_to(8443, "www.wikipedia.org");
    assert_eq!(t.result, TraceResult::Routed, "{}", t.summary);
    assert_eq!(
        t.filter_chain.as_ref().map(|c| c.name.as_str()),
        Some("0.0.0.0_8443_wiki")
    );
    let t = tls_to(8443, "api.example.com");
    assert_eq!(t.cluster.as_deref(), Some("outbound|443||api.example.com"));
    assert!(t.endpoints_known && t.endpoints.len() == 2, "{:?}", t.endpoints);
    let t = tls_to(8443, "en.wikipedia.org");
    assert_eq!(t.result, TraceResult::NoFilterChain);
    let t = tls_to(9443, "www.wikipedia.org");
    assert_eq!(
        t.filter_chain.as_ref().map(|c| c.name.as_str()),
        Some("https.443.tls-wiki.egress-mtls")
    );
    let t = trace(
        &ix,
        &TraceRequest {
            port: 8080,
            dst_ip: Some("127.0.0.1".parse().expect("ip")),
            host: Some("httpbin.org".into()),
            path: Some("/get".into()),
            ..Default::default()
        },
    );
    assert_eq!(t.cluster.as_deref(), Some("outbound|80||httpbin.org"), "{}", t.summary);
    let report = tls(&ix);
    let mtls = report
        .filter_chains
        .iter()
        .find(|c| c.name == "https.443.tls-wiki.egress-mtls")
        .expect("the mTLS chain");
    assert_eq!(mtls.termination, Termination::IstioMutual);
    assert!(mtls.require_client_certificate);
}
