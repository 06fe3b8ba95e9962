//! `report`: the HTML page over the samples, the scenario sets and the
//! corpus archive. Checked as text (one script, ours; every link lands;
//! nothing fetched; hostile names escaped) and, where Debian's `chromium`
//! is installed (always in CI), in a real headless browser: its DOM, a
//! screenshot kept as an artefact under target/report-artefacts/, and its
//! network log (no request made by the page).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;

/// A fixed report time: the page is then the same bytes run after run.
const EPOCH: &str = "1767225600";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_egress-xray"))
}

/// The page for these arguments (`report ARGS -o html`).
fn report(args: &[String]) -> String {
    let out = Command::new(bin())
        .arg("report")
        .args(args)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove("NO_COLOR")
        .output()
        .expect("run egress-xray");
    assert!(
        out.status.success(),
        "report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 page")
}

fn artefacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What every page must be: our one script, a policy that forbids fetching
/// anything, no `src` attribute, and every `#anchor` link landing on an id.
fn check_page(html: &str, what: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"), "{what}");
    assert!(
        html.contains(r#"http-equiv="Content-Security-Policy" content="default-src 'none';"#),
        "{what}: no content security policy"
    );
    assert_eq!(html.matches("<script").count(), 1, "{what}: one script, ours");
    let attr = regex::Regex::new(r#"\s(src|href|xlink:href|action|formaction)="([^"]*)""#).unwrap();
    let ids: std::collections::BTreeSet<&str> = regex::Regex::new(r#"\sid="([^"]*)""#)
        .unwrap()
        .captures_iter(html)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let mut links = 0;
    for c in attr.captures_iter(html) {
        let (name, value) = (&c[1], &c[2]);
        assert_eq!(name, "href", "{what}: a {name} attribute ({value})");
        let target = value
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{what}: a link out of the page: {value}"));
        assert!(ids.contains(target), "{what}: link #{target} lands nowhere");
        links += 1;
    }
    assert!(links > 0, "{what}: no links at all");
    assert!(!html.contains("url("), "{what}: a CSS url()");
}

fn scenario_args() -> Vec<String> {
    let mut args: Vec<String> = [
        "egw-mtls.config_dump.json",
        "egw-pt.config_dump.json",
        "push/egw-pt.before.config_dump.json",
        "push/egw-pt.after.config_dump.json",
    ]
    .iter()
    .map(|s| common::sample(s))
    .collect();
    args.extend(common::trap2_evidence());
    args.push("--diff".into());
    args.push(common::sample("push/egw-pt.before.config_dump.json"));
    args.push(common::sample("push/egw-pt.after.config_dump.json"));
    args
}

#[test]
fn the_scenario_report_shows_findings_graphs_tls_isolation_diff_and_the_nack_timeline() {
    let html = report(&scenario_args());
    check_page(&html, "scenario");
    // The rejection Trap 2's logs hold, from the logs, linked to both gateways.
    assert!(html.contains("XR0026"), "the NACK's finding");
    assert!(html.contains("(from logs)"));
    for section in [
        "id=\"findings\"",
        "id=\"tls\"",
        "id=\"isolation\"",
        "id=\"diff\"",
        "id=\"nack\"",
    ] {
        assert!(html.contains(section), "{section}");
    }
    // One graph per dump, with its boxes.
    assert_eq!(html.matches("class=\"graph\"").count(), 4);
    assert!(html.contains("outbound|443||www.wikipedia.org"));
    // The diff of the push: a cluster went away.
    assert!(html.contains("outbound|443||www.example.org"));
    // Same input, same page.
    assert_eq!(html, report(&scenario_args()), "the page differs run after run");
    std::fs::write(artefacts().join("scenario.html"), &html).unwrap();
}

/// Every dump file of samples/ and samples/foreign/, sorted.
fn sample_files() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut out: Vec<String> = [root.clone(), root.join("foreign")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn a_report_on_each_sample_and_the_corpus_archive_is_a_whole_page() {
    let mut inputs = sample_files();
    if let Some(c) = common::corpus() {
        inputs.push(
            c.join("archives/istio__istio__bug-report__ce7467045126.tar.gz")
                .to_string_lossy()
                .into_owned(),
        );
    }
    for input in &inputs {
        let html = report(std::slice::from_ref(input));
        check_page(&html, input);
        assert!(html.contains("class=\"graph\""), "{input}: no graph");
        assert!(html.contains("id=\"p-1\""), "{input}: no proxy section");
    }
}

/// A dump whose names, server names and cluster names are markup.
fn hostile_dump(dir: &Path) -> String {
    let text = std::fs::read_to_string(common::sample("egw-mtls.config_dump.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    fn swap(v: &mut Value) {
        match v {
            Value::String(s) => {
                *s = s
                    .replace("0.0.0.0_8443", "</style><script>alert(1)</script>")
                    .replace("www.wikipedia.org", "x\"><img src=x onerror=alert(2)>.org")
                    .replace("agent", "]]><svg onload=alert(3)>");
            }
            Value::Array(a) => a.iter_mut().for_each(swap),
            Value::Object(m) => m.values_mut().for_each(swap),
            _ => {}
        }
    }
    swap(&mut v);
    let path = dir.join("hostile.json");
    std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn hostile_names_stay_text() {
    let dir = tempdir("hostile");
    let dump = hostile_dump(&dir);
    let html = report(&[dump]);
    check_page(&html, "hostile");
    assert!(!html.contains("<img"), "an img element from a name");
    assert!(!html.contains("<script>alert"), "a script from a name");
    assert!(!html.contains("<svg onload"), "an svg element from a name");
    assert!(html.contains("&lt;/style&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("x&quot;&gt;&lt;img src=x onerror=alert(2)&gt;.org"));
    if let Some(chromium) = chromium() {
        let page = dir.join("hostile.html");
        std::fs::write(&page, &html).unwrap();
        let (dom, requests) = browse(&chromium, &page, &dir);
        assert_eq!(dom.matches("<script").count(), 1, "the DOM holds one script, ours");
        assert!(!dom.contains("<img"), "the DOM holds an img element");
        assert!(dom.contains("&lt;img src=x onerror=alert(2)&gt;"), "the name as text");
        assert!(requests.is_empty(), "the page made requests: {requests:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn in_a_real_browser_the_pages_render_link_and_fetch_nothing() {
    let Some(chromium) = chromium() else { return };
    let dir = tempdir("browser");
    // The detector first: a page that loads an image from loopback is seen.
    let control = dir.join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><img src=\"http://127.0.0.1:9/x.png\"></body></html>",
    )
    .unwrap();
    let (_, requests) = browse(&chromium, &control, &dir);
    assert!(
        requests.iter().any(|u| u.starts_with("http://127.0.0.1:9/")),
        "the network-log check did not see a page's request: {requests:?}"
    );
    // The scenario set, then every sample dump on its own.
    let mut pages = vec![("scenario".to_string(), scenario_args())];
    for f in sample_files() {
        let stem = Path::new(&f)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".config_dump.json", "");
        pages.push((format!("sample-{stem}"), vec![f]));
    }
    for (name, args) in pages {
        let html = report(&args);
        let page = dir.join(format!("{name}.html"));
        std::fs::write(&page, &html).unwrap();
        let (dom, requests) = browse(&chromium, &page, &dir);
        assert!(requests.is_empty(), "{name}: the page made requests: {requests:?}");
        assert!(dom.contains("id=\"findings\""), "{name}: findings");
        assert!(dom.contains("<svg"), "{name}: the graph");
        assert!(dom.contains("class=\"node "), "{name}: graph nodes");
        if name == "scenario" {
            assert!(dom.matches("class=\"node ").count() >= 20, "{name}: graph nodes");
            assert!(
                dom.contains("href=\"#c-"),
                "{name}: links from the graph to cluster details"
            );
            assert!(
                dom.contains("href=\"#ch-"),
                "{name}: links from the graph to chain details"
            );
        }
        let png = artefacts().join(format!("{name}.png"));
        screenshot(&chromium, &page, &png, &dir);
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{name}: a screenshot"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("egress-xray-report-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Debian's chromium, or None with a line saying the browser checks were
/// skipped (CI must have it).
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("EGRESS_XRAY_CI").is_none(),
            "chromium is not installed: .ci/run must install it (apt-get install chromium)"
        );
        eprintln!("skipping the browser checks: chromium is not installed (Debian: apt-get install chromium)");
    }
    found
}

fn chromium_args(dir: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--window-size=1400,2400",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!(
        "--user-data-dir={}",
        dir.join(format!("profile-{}", rand_suffix())).display()
    )])
    .collect()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Runs chromium to its end (at most 90 s; then it is killed by PID).
fn run_chromium(chromium: &Path, args: &[String], stdout: Stdio) -> std::process::Output {
    let mut child = Command::new(chromium)
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 90 s: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The page's DOM after load, and the URLs of every request the page (not
/// the browser's own services) made, from chromium's network log.
fn browse(chromium: &Path, page: &Path, dir: &Path) -> (String, Vec<String>) {
    let netlog = dir.join(format!("net-{}.json", rand_suffix()));
    let mut args = chromium_args(dir);
    args.push(format!("--log-net-log={}", netlog.display()));
    args.push("--dump-dom".into());
    args.push(format!("file://{}", page.display()));
    let out = run_chromium(chromium, &args, Stdio::piped());
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log: Value = serde_json::from_slice(&std::fs::read(&netlog).unwrap()).expect("a complete network log");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64();
    let requests = log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"].as_u64() == start_job)
        // The browser's own services (time, accounts) start their requests
        // from no origin; the page's come from its file:// origin.
        .filter(|e| e["params"]["initiator"].as_str() != Some("not an origin"))
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), requests)
}

fn screenshot(chromium: &Path, page: &Path, png: &Path, dir: &Path) {
    let mut args = chromium_args(dir);
    args.push(format!("--screenshot={}", png.display()));
    args.push(format!("file://{}", page.display()));
    let out = run_chromium(chromium, &args, Stdio::null());
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With Istio config, explain's verdicts on the gateways join the findings
/// (Trap 1: no Gateway selects the mTLS gateway after a selector typo).
#[test]
fn istio_config_brings_explains_findings_into_the_report() {
    let s = common::sample;
    let args: Vec<String> = vec![
        s("egw-mtls-trap1.config_dump.json"),
        s("egw-pt.config_dump.json"),
        "--istio".into(),
        s("istio/base"),
        "--istio".into(),
        s("istio/broken/selector-typo.yaml"),
        "--k8s".into(),
        s("istio/k8s.yaml"),
    ];
    let html = report(&args);
    check_page(&html, "trap 1");
    assert!(html.contains("XR0021"), "explain's finding");
    assert!(html.contains("(from Istio config)"));
    assert!(html.contains("no Gateway selects egw-mtls-6c8f9d7b5-x2k4p"));
}

/// Config given to trace a rejection (a lone ServiceEntry) does not make
/// explain guess at gateways it cannot see: it is not run, and the page
/// says why.
#[test]
fn config_without_gateways_does_not_make_explain_guess() {
    let html = report(&scenario_args());
    assert!(
        !html.contains("XR0021"),
        "a Gateway verdict from a config without Gateways"
    );
    assert!(html.contains("explain: not run: the Istio config given holds no Gateway"));
}

/// Bad input is located and fails the command: an unreadable dump among
/// good ones (the page is still made from the rest), a missing file, an
/// unknown --diff name, an output that cannot be written.
#[test]
fn bad_inputs_are_located_errors_with_exit_status_2() {
    let dir = tempdir("bad");
    let bad = dir.join("not-a-dump.json");
    std::fs::write(&bad, "not json").unwrap();
    let page = dir.join("page.html");
    let good = common::sample("egw-pt.config_dump.json");
    let run = |args: &[String]| {
        let out = Command::new(bin())
            .arg("report")
            .args(args)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let p = |x: &Path| x.to_string_lossy().into_owned();
    let (code, err) = run(&[good.clone(), p(&bad), "-O".into(), p(&page)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("{}: not an Envoy config dump", p(&bad))), "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("egw-pt-7d9f8c6b4-q8mzl") && html.contains("not read: "));
    let (code, err) = run(&[p(&dir.join("missing.json")), "-O".into(), p(&page)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("missing.json: cannot read"), "{err}");
    let (code, err) = run(&[good.clone(), "--diff".into(), "a".into(), "b".into()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("a: not an Envoy config dump: not one of the dumps given"),
        "{err}"
    );
    let (code, err) = run(&[good, "-O".into(), p(&dir.join("no/such/dir/page.html"))]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("page.html: cannot write"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
