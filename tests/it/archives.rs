//! Archives as SREs are handed them: the real `istioctl bug-report`
//! archives of the corpus, and archives built here in every layout and
//! shape the tools write (prefix or not, zip, Windows separators, links,
//! paths outside the archive, proxies without a dump, ztunnel dumps, error
//! text where JSON was expected, egctl's layouts, extracted directories).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common;

fn xray(args: &[&str]) -> (String, String, i32) {
    let out = assert_cmd::Command::cargo_bin("egress-xray")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn summaries(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let (out, err, code) = xray(&all);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_corpus_bug_reports_are_read_as_they_are() {
    let Some(corpus) = common::corpus() else { return };
    let big = corpus.join("archives/istio__istio__bug-report__ce7467045126.tar.gz");
    let big = big.to_string_lossy();
    let s = summaries(&[&big]);
    assert_eq!(s.len(), 17, "17 proxies");
    let names: Vec<&str> = s.iter().map(|x| x["source"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| n.starts_with(&format!("{big}#"))), "{names:?}");
    assert!(names
        .iter()
        .any(|n| n.ends_with("#istio-ingress/istio-ingressgateway-66ff6cdcf5-ccj9x")));
    // --proxy selects by ns/pod, a part or a glob.
    let gw = summaries(&[&big, "--proxy", "istio-ingress/*"]);
    assert_eq!(gw.len(), 3);
    let one = summaries(&[&big, "--proxy", "ingressgateway"]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["identity"]["proxy_type"], "router");
    let small = corpus.join("archives/istio__istio__bug-report__4f9653159fa.tar.gz");
    assert_eq!(summaries(&[&small.to_string_lossy()]).len(), 1);
    // Every view reads the archive; rows name their proxy.
    let (out, err, code) = xray(&["listeners", &big, "--proxy", "istio-ingress/*", "--port", "80"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("PROXY") && out.contains("istio-ingressgateway-66ff6cdcf5-ccj9x.istio-ingress"),
        "{out}"
    );
    let (_, err, code) = xray(&[&big, "--proxy", "no-such-pod"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("17 config dump(s), none of them read or selected by --proxy"),
        "{err}"
    );
}

/// A tar entry written as given, even where `tar::Builder` would refuse
/// the path (`..`, Windows separators).
fn raw_entry(b: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    let name = &mut h.as_gnu_mut().unwrap().name;
    name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn symlink_entry(b: &mut tar::Builder<impl Write>, path: &str, target: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, path, target).unwrap();
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("egress-xray-archive-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(common::sample(name)).unwrap()
}

/// The entries of a small bug-report: two gateways with dumps, a proxy
/// whose debug files were dropped, a ztunnel, a dump holding an error text.
fn bug_report_entries(prefix: &str, sep: &str) -> Vec<(String, Vec<u8>)> {
    let p = |rest: &str| format!("{prefix}{}", rest.replace('/', sep));
    vec![
        (
            p("proxies/egress-mtls/egw-mtls-6c8f9d7b5-x2k4p/config_dump?include_eds"),
            sample("egw-mtls.config_dump.json"),
        ),
        (
            p("proxies/egress-mtls/egw-mtls-6c8f9d7b5-x2k4p/istio-proxy.log"),
            b"2026-11-20T10:00:00.000000Z info envoy main\n".to_vec(),
        ),
        (
            p("proxies/egress-pt/egw-pt-7d9f8c6b4-q8mzl/config_dump?include_eds"),
            sample("egw-pt.config_dump.json"),
        ),
        (
            p("proxies/mesh-test/sleep-1/istio-proxy.log"),
            b"2026-11-20T10:00:00.000000Z info envoy main\n".to_vec(),
        ),
        (
            p("proxies/istio-system/ztunnel-abcde/config_dump"),
            br#"{"workloads": []}"#.to_vec(),
        ),
        (
            p("proxies/other/broken-1/config_dump?include_eds"),
            b"404 page not found\n".to_vec(),
        ),
        (
            p("istio/istio-system/istiod-1/discovery.log"),
            b"2026-11-20T10:00:00.000000Z info ads ADS: new connection\n".to_vec(),
        ),
        (p("cluster/crs"), b"apiVersion: v1\nkind: List\nitems: []\n".to_vec()),
        (p("versions"), b"client version: 1.30.0\n".to_vec()),
    ]
}

fn check_bug_report(path: &str) {
    let s = summaries(&[path]);
    let sources: Vec<&str> = s.iter().map(|x| x["source"].as_str().unwrap()).collect();
    assert_eq!(
        sources,
        [
            format!("{path}#egress-mtls/egw-mtls-6c8f9d7b5-x2k4p"),
            format!("{path}#egress-pt/egw-pt-7d9f8c6b4-q8mzl")
        ],
        "{path}"
    );
    let notes: Vec<String> = s
        .iter()
        .flat_map(|x| {
            x["decode_report"]["archive_notes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let has = |needle: &str| {
        assert!(
            notes.iter().any(|n| n.contains(needle)),
            "{path}: no note with {needle:?}: {notes:#?}"
        )
    };
    has("proxy mesh-test/sleep-1 has logs but no config dump");
    has("ztunnel's own config dump (not Envoy's), not read");
    has("holds text where a dump was expected (404 page not found)");
    // The summary text says it too.
    let (text, _, _) = xray(&[path]);
    assert!(
        text.contains("archive     proxy mesh-test/sleep-1 has logs but no config dump"),
        "{text}"
    );
}

#[test]
fn bug_report_tar_gz_with_and_without_prefix_and_a_zip() {
    let dir = tempdir("br");
    // With the bug-report/ prefix, plus hostile entries.
    let path = dir.join("bug-report.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, data) in bug_report_entries("bug-report/", "/") {
            raw_entry(&mut b, &name, &data);
        }
        raw_entry(&mut b, "../outside/proxies/x/y/config_dump?include_eds", b"{}");
        symlink_entry(&mut b, "pod-logs/egw/istio-proxy.log", "../../etc/passwd");
        b.into_inner().unwrap().finish().unwrap();
    }
    let p = path.to_string_lossy().into_owned();
    check_bug_report(&p);
    let s = summaries(&[&p]);
    let notes = s[0]["decode_report"]["archive_notes"].to_string();
    assert!(notes.contains("passed over: a path outside the archive"), "{notes}");
    assert!(notes.contains("passed over: a link to"), "{notes}");

    // `--dir` bug-reports have no prefix; a tar made on Windows has `\`.
    let path = dir.join("bug-report.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for (name, data) in bug_report_entries("", "\\") {
            raw_entry(&mut b, &name, &data);
        }
        b.finish().unwrap();
    }
    check_bug_report(&path.to_string_lossy());

    // The same as a zip.
    let path = dir.join("bug-report.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (name, data) in bug_report_entries("bug-report/", "/") {
            z.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            z.write_all(&data).unwrap();
        }
        z.finish().unwrap();
    }
    check_bug_report(&path.to_string_lossy());

    // Extracted, as a directory.
    let root = dir.join("extracted");
    for (name, data) in bug_report_entries("bug-report/", "/") {
        let f = root.join(&name);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    }
    let s = summaries(&[&root.to_string_lossy()]);
    assert_eq!(s.len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn egctl_collect_layouts() {
    let dir = tempdir("eg");
    let dump = sample("envoy-gateways.config_dump.json");
    for (layout, entry) in [
        (
            "v1.5",
            "envoy-gateway-2026-01-02T15_04_05/config-dumps/envoy-gateway-system/envoy-default-eg-1.json",
        ),
        (
            "v1.2",
            "envoy-gateway-2026-01-02T15_04_05/config-dumps/envoy-gateway-system-envoy-default-eg-1.json",
        ),
    ] {
        let path = dir.join(format!("eg-{layout}.tar.gz"));
        {
            let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
            let mut b = tar::Builder::new(gz);
            raw_entry(&mut b, entry, &dump);
            raw_entry(&mut b, "envoy-gateway-2026-01-02T15_04_05/config-dumps/errors.log", b"");
            symlink_entry(
                &mut b,
                "envoy-gateway-2026-01-02T15_04_05/pod-logs/envoy-default-eg-1/envoy.log",
                "../../cluster-resources/pods/logs/envoy-gateway-system/envoy-default-eg-1/envoy.log",
            );
            b.into_inner().unwrap().finish().unwrap();
        }
        let p = path.to_string_lossy().into_owned();
        let s = summaries(&[&p]);
        assert_eq!(s.len(), 1, "{layout}");
        assert!(
            s[0]["source"].as_str().unwrap().contains("envoy-default-eg-1"),
            "{layout}"
        );
        assert!(s[0]["counts"].to_string().contains("listeners"), "{layout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_without_a_layout_is_named() {
    let dir = tempdir("plain");
    std::fs::write(dir.join("notes.txt"), "hello").unwrap();
    let (_, err, code) = xray(&[&dir.to_string_lossy()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("a directory that holds no troubleshooting layout egress-xray reads"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// An OpenShift Service Mesh must-gather tree (3.x layout, under the gather
/// image's directory) and a consul-k8s debug archive (directory names with
/// spaces, the {pod: {config_dump, clusters}} wrapper).
#[test]
fn must_gather_and_consul_debug() {
    let dir = tempdir("mg");
    let root = dir.join("must-gather.local.123456/quay-io-maistra-must-gather-sha256-abc");
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "namespaces/egress-pt/pods/egw-pt-7d9f8c6b4-q8mzl/config_dump_proxy.json",
            sample("egw-pt.config_dump.json"),
        ),
        (
            "namespaces/egress-pt/pods/egw-pt-7d9f8c6b4-q8mzl/config_dump_istiod.json",
            b"Proxy not connected to this Pilot instance. It may be connected to another instance.\n".to_vec(),
        ),
        (
            "namespaces/egress-pt/pods/egw-pt-7d9f8c6b4-q8mzl/istio-proxy/istio-proxy/logs/current.log",
            b"2026-11-20T10:00:00.000000Z info envoy main\n".to_vec(),
        ),
        (
            "namespaces/bookinfo/pods/details-1/config_dump_proxy.json",
            b"Error: received unsuccessful status code 503\n".to_vec(),
        ),
        (
            "namespaces/bookinfo/pods/details-1/istio-proxy/istio-proxy/logs/current.log",
            b"2026-11-20T10:00:00.000000Z info envoy main\n".to_vec(),
        ),
    ];
    for (name, data) in &files {
        let f = root.join(name);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    }
    let top = dir.join("must-gather.local.123456");
    let s = summaries(&[&top.to_string_lossy()]);
    assert_eq!(s.len(), 1);
    assert!(s[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("#egress-pt/egw-pt-7d9f8c6b4-q8mzl"));
    let notes = s[0]["decode_report"]["archive_notes"].to_string();
    assert!(notes.contains("taken without ?include_eds"), "{notes}");
    assert!(
        notes.contains("istiod's view of egress-pt/egw-pt-7d9f8c6b4-q8mzl"),
        "{notes}"
    );
    assert!(
        notes.contains("holds text where a dump was expected (Error: received unsuccessful status code 503)"),
        "{notes}"
    );

    // consul-k8s debug
    let path = dir.join("consul-k8s-debug-2026-01-02T15-04-05Z.tar.gz");
    {
        let wrapped = format!(
            "{{\"api-gw-1\": {{\"config_dump\": {}, \"clusters\": {{}}}}}}",
            String::from_utf8(sample("egw-pt.config_dump.json")).unwrap()
        );
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        raw_entry(
            &mut b,
            "consul-k8s-debug-2026-01-02T15-04-05Z/proxy/default/API Gateway/api-gw-1/config_dumps.json",
            wrapped.as_bytes(),
        );
        b.into_inner().unwrap().finish().unwrap();
    }
    let s = summaries(&[&path.to_string_lossy()]);
    assert_eq!(s.len(), 1);
    assert!(
        s[0]["source"].as_str().unwrap().contains("#default/api-gw-1/"),
        "{}",
        s[0]["source"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the archive holds beside the dumps feeds explain and nack without
/// extra flags: Istio objects (cluster/crs), Kubernetes objects
/// (cluster/k8s-resources), proxy and istiod logs, syncz.
#[test]
fn explain_and_nack_read_the_rest_of_the_archive() {
    let Some(corpus) = common::corpus() else { return };
    let big = corpus.join("archives/istio__istio__bug-report__ce7467045126.tar.gz");
    let big = big.to_string_lossy();
    let (out, err, code) = xray(&["explain", &big, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let l = v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["workload"] == "istio-ingressgateway-66ff6cdcf5-ccj9x")
        .expect("the ingress gateway's listener, predicted from the Gateway in cluster/crs");
    assert_eq!(l["name"], "0.0.0.0_80");
    assert_eq!(l["gateway"], "default/bookinfo-gateway");
    assert_eq!(l["present"], true);
    assert_eq!(l["present_chains"], l["predicted_chains"]);
    let codes: Vec<(&str, &str)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    // argo-gateway: a gateway pod that no Gateway selects, with no listeners.
    assert!(
        codes.iter().any(|(c, m)| *c == "XR0048" && m.contains("argo-gateway")),
        "{codes:?}"
    );
    assert!(
        codes.iter().any(|(c, m)| *c == "XR0021" && m.contains("argo-gateway")),
        "{codes:?}"
    );
    // The Gateway API gateway is said to be out of scope, not flagged.
    assert!(!codes.iter().any(|(_, m)| m.contains("gateway-istio")), "{codes:?}");
    assert!(v["limits"]
        .to_string()
        .contains("gateway-istio-57c99684c4-zr6bs is a Gateway API gateway"));

    let (out, err, code) = xray(&["nack", &big, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let notes = v["notes"].to_string();
    assert!(notes.contains("istio-proxy.log: "), "proxy logs were read: {notes}");
    assert!(notes.contains("discovery.log"), "istiod's log was read: {notes}");
}

/// `triage` on the real 17-proxy bug-report: the gateway without listeners,
/// the gateway whose listeners lag its clusters, version skew, and the
/// archive's istioctl analyze output — each pointing to its command.
#[test]
fn triage_of_the_corpus_fleet() {
    let Some(corpus) = common::corpus() else { return };
    let big = corpus.join("archives/istio__istio__bug-report__ce7467045126.tar.gz");
    let big = big.to_string_lossy();
    let (out, err, code) = xray(&["triage", &big, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["proxies"].as_array().unwrap().len(), 17);
    let groups = v["groups"].as_array().unwrap();
    let group = |code: &str| {
        groups
            .iter()
            .find(|g| g["code"] == code)
            .unwrap_or_else(|| panic!("no {code} group: {groups:#?}"))
    };
    let g = group("XR0048");
    assert_eq!(g["proxies"][0], "istio-ingress/argo-gateway-85787cfc6c-jpkpw");
    assert_eq!(g["of"], 17);
    assert!(g["next"].as_str().unwrap().starts_with("egress-xray explain"), "{g}");
    let g = group("XR0049");
    assert_eq!(g["proxies"][0], "istio-ingress/istio-ingressgateway-66ff6cdcf5-ccj9x");
    assert!(g["message"].as_str().unwrap().contains("listeners at push 2"), "{g}");
    assert!(group("XR0051")["message"].as_str().unwrap().contains("1.20-dev (12)"));
    // Worst first: errors before warnings before information.
    let sev: Vec<&str> = groups.iter().map(|g| g["severity"].as_str().unwrap()).collect();
    let rank = |s: &str| ["error", "warning", "info"].iter().position(|x| *x == s).unwrap();
    assert!(sev.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{sev:?}");
    assert_eq!(v["proxies"][0]["proxy"], "istio-ingress/argo-gateway-85787cfc6c-jpkpw");
    assert!(v["analyze"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().starts_with("Warning [IST0158]")));
    // The text form: one headline, the issues, the proxies with issues.
    let (text, _, _) = xray(&["triage", &big]);
    assert!(
        text.starts_with("17 proxies: 3 gateways, 14 sidecars; Istio 1.18-dev (4), 1.19-dev (1), 1.20-dev (12)"),
        "{text}"
    );
    assert!(
        text.contains("15 proxies without issues (-o wide lists them)"),
        "{text}"
    );
}

/// istiod's sync status in the archive: a push the proxy did not
/// acknowledge is a finding of that proxy.
#[test]
fn triage_reads_istiods_sync_status() {
    let dir = tempdir("sync");
    let path = dir.join("bug-report.tar.gz");
    let syncz = r#"[{"proxy":"egw-pt-7d9f8c6b4-q8mzl.egress-pt","proxy_type":"router","cluster_sent":"n2","cluster_acked":"n1","listener_sent":"l1","listener_acked":"l1"},
                    {"proxy":"gone-1.default","proxy_type":"sidecar","cluster_sent":"a","cluster_acked":"a"}]"#;
    tar_gz(
        &path,
        &[
            (
                "bug-report/proxies/egress-pt/egw-pt-7d9f8c6b4-q8mzl/config_dump?include_eds",
                &sample("egw-pt.config_dump.json"),
            ),
            (
                "bug-report/proxies/egress-mtls/egw-mtls-6c8f9d7b5-x2k4p/config_dump?include_eds",
                &sample("egw-mtls-trap1.config_dump.json"),
            ),
            ("bug-report/istio/istio-system/istiod-1/debug/syncz", syncz.as_bytes()),
            (
                "bug-report/analyze/allNamespaces/allNamespaces",
                b"Error [IST0101] (VirtualService egress-mtls/wiki) Referenced gateway not found\n",
            ),
        ],
    );
    let p = path.to_string_lossy().into_owned();
    let (out, err, code) = xray(&["triage", &p, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let groups = v["groups"].as_array().unwrap();
    let acked = groups
        .iter()
        .find(|g| g["code"] == "XR0052")
        .expect("the unacknowledged push");
    assert_eq!(acked["proxies"][0], "egress-pt/egw-pt-7d9f8c6b4-q8mzl");
    assert!(acked["message"]
        .as_str()
        .unwrap()
        .contains("istiod sent cluster n2, the proxy acknowledged n1"));
    assert!(groups
        .iter()
        .any(|g| g["code"] == "XR0048" && g["proxies"][0] == "egress-mtls/egw-mtls-6c8f9d7b5-x2k4p"));
    assert!(v["notes"].to_string().contains("gone-1.default"), "{}", v["notes"]);
    assert_eq!(
        v["analyze"][0],
        "Error [IST0101] (VirtualService egress-mtls/wiki) Referenced gateway not found"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A restarted container's log in a bug-report holds the previous log after
/// a marker; a rejection in either part is found and named after the pod.
/// An egctl v1.6 archive holds camelCase dumps without their secrets.
#[test]
fn restarted_logs_and_camel_case_egctl_dumps() {
    let dir = tempdir("quirks");
    let rejection = std::fs::read_to_string(common::sample("trap2/egw-pt-7d9f8c6b4-q8mzl.egress-pt.log"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let log = format!(
        "========= Previous log present (appended at the end) =========\n\n2026-11-20T11:40:00.000000Z\tinfo\tenvoy main\tstarting\n\n========= Previous log =========\n\n{rejection}\n"
    );
    let path = dir.join("bug-report.tar.gz");
    tar_gz(
        &path,
        &[
            (
                "bug-report/proxies/egress-pt/egw-pt-7d9f8c6b4-q8mzl/config_dump?include_eds",
                &sample("egw-pt.config_dump.json"),
            ),
            (
                "bug-report/proxies/egress-pt/egw-pt-7d9f8c6b4-q8mzl/istio-proxy.log",
                log.as_bytes(),
            ),
        ],
    );
    let (out, err, code) = xray(&["nack", &path.to_string_lossy(), "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let g = &v["groups"][0];
    assert_eq!(g["resource"], "outbound|80||example.com", "{v}");
    assert_eq!(g["proxies"][0], "egw-pt-7d9f8c6b4-q8mzl.egress-pt");

    // egctl ≥ 1.6: protojson camelCase, SecretsConfigDump removed.
    let mut dump: serde_json::Value = serde_json::from_slice(&sample("envoy-gateways.config_dump.json")).unwrap();
    fn camel(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                let old = std::mem::take(m);
                for (k, mut x) in old {
                    camel(&mut x);
                    let key = if k.starts_with('@') || !k.contains('_') {
                        k
                    } else {
                        let mut out = String::new();
                        let mut up = false;
                        for c in k.chars() {
                            if c == '_' {
                                up = true;
                            } else if up {
                                out.push(c.to_ascii_uppercase());
                                up = false;
                            } else {
                                out.push(c);
                            }
                        }
                        out
                    };
                    m.insert(key, x);
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(camel),
            _ => {}
        }
    }
    dump["configs"]
        .as_array_mut()
        .unwrap()
        .retain(|c| !c["@type"].as_str().unwrap().ends_with("SecretsConfigDump"));
    // Struct contents (metadata) keep their keys in protojson; camelCase
    // only the proto fields of the sections we compare.
    let snake = summaries_of(&dir, "snake.json", &dump);
    camel(&mut dump);
    let path = dir.join("envoy-gateway-2026-01-02T15_04_05.tar.gz");
    tar_gz(
        &path,
        &[(
            "envoy-gateway-2026-01-02T15_04_05/config-dumps/envoy-gateway-system/envoy-default-eg-1.json",
            serde_json::to_string_pretty(&dump).unwrap().as_bytes(),
        )],
    );
    let s = summaries(&[&path.to_string_lossy()]);
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0]["counts"], snake[0]["counts"],
        "camelCase reads as the same resources"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn summaries_of(dir: &Path, name: &str, dump: &serde_json::Value) -> Vec<serde_json::Value> {
    let p = dir.join(name);
    std::fs::write(&p, dump.to_string()).unwrap();
    summaries(&[&p.to_string_lossy()])
}

/// A .tar.gz of the entries as given (see `raw_entry`).
fn tar_gz(path: &Path, entries: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in entries {
        raw_entry(&mut b, name, data);
    }
    b.into_inner().unwrap().finish().unwrap();
}

/// A certificate no longer valid at the dump's own time is a triage issue
/// (XR0050) pointing to `secrets`: the sample's workload certificate is
/// valid for a day, so a dump taken a year later holds an expired one.
#[test]
fn triage_flags_a_certificate_not_valid_at_the_dump_time() {
    let dir = tempdir("cert");
    let later = String::from_utf8(sample("egw-pt.config_dump.json"))
        .unwrap()
        .replace("\"last_updated\": \"2026-", "\"last_updated\": \"2027-");
    let p = dir.join("egw-pt.later.json");
    std::fs::write(&p, later).unwrap();
    let p = p.to_string_lossy().into_owned();
    let (out, err, code) = xray(&["triage", &p, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let g = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["code"] == "XR0050")
        .unwrap_or_else(|| panic!("no XR0050: {}", v["groups"]));
    assert_eq!(g["what"], "secret default");
    assert!(g["next"].as_str().unwrap().starts_with("egress-xray secrets"), "{g}");
    // The ROOTCA bundle (valid to 2036) is not flagged.
    assert!(!v["groups"].to_string().contains("secret ROOTCA"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A download cut short: the dumps before the damage are read and
/// answered from, the damage is said on stderr and in the summary, and
/// the exit status is 2.
#[test]
fn a_truncated_archive_gives_what_came_before_and_exits_2() {
    let Some(corpus) = common::corpus() else { return };
    let whole = std::fs::read(corpus.join("archives/istio__istio__bug-report__ce7467045126.tar.gz")).unwrap();
    let dir = tempdir("trunc");
    let cut = dir.join("bug-report.tar.gz");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let p = cut.to_string_lossy().into_owned();
    for cmd in [vec![p.as_str(), "-o", "json"], vec!["triage", p.as_str(), "-o", "json"]] {
        let (out, err, code) = xray(&cmd);
        assert_eq!(code, 2, "{cmd:?}: {err}");
        assert!(err.contains("the archive is damaged or ends early after"), "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(!v.is_null(), "{cmd:?} still answers from what was read");
    }
    let s: serde_json::Value = serde_json::from_str(&xray(&[&p, "-o", "json"]).0).unwrap();
    let n = s.as_array().unwrap().len();
    assert!(n > 0 && n < 17, "{n} dumps read before the damage");
    assert!(s[0]["decode_report"]["archive_notes"][0]
        .as_str()
        .unwrap()
        .starts_with("the archive is damaged or ends early"));
    // Cut before any dump: a located error, nothing to answer from.
    std::fs::write(&cut, &whole[..whole.len() / 8]).unwrap();
    let (_, err, code) = xray(&[&p]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bug-report.tar.gz: not an Envoy config dump: an archive that cannot be read"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------
// A fleet read one dump at a time (input::stream): what triage and export
// use. Order, notes, failures and bounds, whatever the thread timing.

/// The labels `stream` gives, in the order the caller receives them.
fn streamed(paths: &[String], workers: usize) -> Vec<String> {
    use egress_xray::input::stream::{stream, Streamed};
    let mut seen = Vec::new();
    stream::<_, ()>(paths, workers, &|d| d.label(), &mut |item| {
        seen.push(match item {
            Streamed::Dump(label) => format!("dump {label}"),
            Streamed::Unreadable { path, .. } => format!("unreadable {path}"),
            Streamed::Notes { file, notes } => format!("notes {file}: {}", notes.join(" | ")),
        });
        Ok(())
    })
    .unwrap();
    seen
}

fn fleet_inputs(tag: &str) -> Vec<String> {
    let dir = tempdir(tag);
    let archive = dir.join("bug-report.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&archive).unwrap(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, data) in bug_report_entries("bug-report/", "/") {
            raw_entry(&mut b, &name, &data);
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    let bad = dir.join("not-a-dump.json");
    std::fs::write(&bad, b"{\"configs\": [").unwrap();
    vec![
        common::sample("egw-pt.config_dump.json"),
        archive.to_string_lossy().into_owned(),
        bad.to_string_lossy().into_owned(),
        common::sample("egw-mtls.config_dump.json"),
    ]
}

#[test]
fn a_streamed_fleet_comes_in_input_order_with_its_notes_and_failures() {
    let inputs = fleet_inputs("stream-order");
    let one = streamed(&inputs, 1);
    let archive = &inputs[1];
    assert_eq!(one.len(), 6, "{one:#?}");
    assert!(
        one[0].starts_with("dump ") && one[0].ends_with("egw-pt.config_dump.json"),
        "{one:#?}"
    );
    assert_eq!(one[1], format!("dump {archive}#egress-mtls/egw-mtls-6c8f9d7b5-x2k4p"));
    assert_eq!(one[2], format!("dump {archive}#egress-pt/egw-pt-7d9f8c6b4-q8mzl"));
    assert!(one[3].starts_with(&format!("notes {archive}: ")), "{one:#?}");
    for n in [
        "proxy mesh-test/sleep-1 has logs but no config dump",
        "ztunnel's own config dump (not Envoy's), not read",
        "holds text where a dump was expected (404 page not found)",
    ] {
        assert!(one[3].contains(n), "{n}: {}", one[3]);
    }
    assert_eq!(one[4], format!("unreadable {}", inputs[2]));
    assert!(one[5].ends_with("egw-mtls.config_dump.json"), "{one:#?}");
    // The same sequence however many workers race, run after run.
    for workers in [2, 3, 8] {
        for _ in 0..3 {
            assert_eq!(streamed(&inputs, workers), one, "{workers} workers");
        }
    }
}

/// Inside a parallel loop on the global pool (as the determinism test runs
/// commands) streams finish: their decoding has a pool of its own.
#[test]
fn streams_inside_a_parallel_loop_finish() {
    use rayon::prelude::*;
    let inputs = fleet_inputs("stream-nested");
    let expected = streamed(&inputs, 2);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let all: Vec<Vec<String>> = pool.install(|| (0..6).into_par_iter().map(|_| streamed(&inputs, 2)).collect());
    assert!(all.iter().all(|s| *s == expected));
}

/// The walker is never more than WINDOW jobs ahead of the caller, and no
/// more than `workers` dumps are being made at once: memory holds a few
/// dumps, never the fleet.
#[test]
fn a_streamed_fleet_holds_a_few_dumps_at_a_time() {
    use egress_xray::input::stream::{stream, Streamed, WINDOW};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let inputs: Vec<String> = (0..40).map(|_| common::sample("egw-pt.config_dump.json")).collect();
    let (started, consumed, busy, most_busy, most_ahead) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let f = |_d: egress_xray::input::LoadedDump| {
        let n = started.fetch_add(1, SeqCst);
        most_ahead.fetch_max(n.saturating_sub(consumed.load(SeqCst)), SeqCst);
        most_busy.fetch_max(busy.fetch_add(1, SeqCst) + 1, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(2));
        busy.fetch_sub(1, SeqCst);
    };
    let mut received = 0;
    stream::<_, ()>(&inputs, 2, &f, &mut |item| {
        if let Streamed::Dump(()) = item {
            received += 1;
            // A slow caller: the walker must wait for it.
            std::thread::sleep(std::time::Duration::from_millis(3));
            consumed.fetch_add(1, SeqCst);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(received, 40);
    assert!(most_busy.load(SeqCst) <= 2, "{} dumps at once", most_busy.load(SeqCst));
    assert!(
        most_ahead.load(SeqCst) <= WINDOW,
        "{} dumps ahead of the caller",
        most_ahead.load(SeqCst)
    );
}

/// A caller that stops (an export that cannot write) stops the reading:
/// its error comes back, nothing hangs.
#[test]
fn a_streamed_fleet_stops_when_the_caller_does() {
    use egress_xray::input::stream::{stream, Streamed};
    let inputs: Vec<String> = (0..30).map(|_| common::sample("egw-pt.config_dump.json")).collect();
    let mut got = 0;
    let r = stream(&inputs, 2, &|_d| (), &mut |item| {
        if let Streamed::Dump(()) = item {
            got += 1;
        }
        if got == 3 {
            Err("disk full")
        } else {
            Ok(())
        }
    });
    assert_eq!(r, Err("disk full"));
    assert_eq!(got, 3);
}

/// A defect of ours on one dump (a panic while making its result) is
/// reported as that input's failure, named; the other dumps still come.
#[test]
fn a_defect_on_one_streamed_dump_is_reported_and_the_rest_come() {
    use egress_xray::input::stream::{stream, Streamed};
    let inputs = vec![
        common::sample("egw-pt.config_dump.json"),
        common::sample("egw-mtls.config_dump.json"),
        common::sample("egw-pt.config_dump.json"),
    ];
    let f = |d: egress_xray::input::LoadedDump| {
        assert!(!d.label().contains("egw-mtls"), "a defect");
        d.label()
    };
    let mut seen = Vec::new();
    stream::<_, ()>(&inputs, 2, &f, &mut |item| {
        seen.push(match item {
            Streamed::Dump(l) => format!("dump {l}"),
            Streamed::Unreadable { path, error } => format!("unreadable {path}: {error}"),
            Streamed::Notes { .. } => "notes".into(),
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    assert!(seen[0].starts_with("dump "), "{seen:#?}");
    assert!(
        seen[1].starts_with(&format!("unreadable {}", inputs[1])) && seen[1].contains("egress-xray defect"),
        "{seen:#?}"
    );
    assert!(seen[2].starts_with("dump "), "{seen:#?}");
}
