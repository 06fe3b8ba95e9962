//! Hostile input (issue 12): names, SNIs, error details and log text with
//! terminal control sequences, carriage returns, bidi overrides and
//! newlines are shown escaped by every human-readable output, never obeyed.

use serde_json::Value;

use crate::common;

const EVIL: &str = "evil\u{1b}]0;pwned\u{7}\r\u{202e}\u{9b}2J\nFORGED ROW";

/// The mTLS gateway sample with the evil text in the listener's name, a
/// chain's SNI and a cluster's name.
fn hostile_dump() -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::sample("egw-mtls.config_dump.json")).unwrap();
    let mut dump: Value = serde_json::from_str(&text).unwrap();
    for section in dump["configs"].as_array_mut().unwrap() {
        let ty = section["@type"].as_str().unwrap().to_string();
        if ty.ends_with("ListenersConfigDump") {
            let entry = &mut section["dynamic_listeners"][0];
            entry["name"] = Value::from(EVIL);
            let l = &mut entry["active_state"]["listener"];
            l["name"] = Value::from(EVIL);
            l["filter_chains"][0]["filter_chain_match"]["server_names"] = serde_json::json!([EVIL]);
        } else if ty.ends_with("ClustersConfigDump") {
            section["dynamic_active_clusters"][0]["cluster"]["name"] = Value::from(EVIL);
        }
    }
    let path = std::env::temp_dir().join(format!("egress-xray-hostile-{}.json", std::process::id()));
    std::fs::write(&path, dump.to_string()).unwrap();
    path
}

fn assert_inert(what: &[String], text: &str) {
    for bad in ['\r', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(!text.contains(bad), "{what:?} printed {bad:?} raw:\n{text}");
    }
    // The only ESC sequences left are plain SGR colour codes.
    let mut rest = text;
    while let Some(i) = rest.find('\u{1b}') {
        let seq = &rest[i + 1..];
        let end = seq.find('m').unwrap_or(seq.len());
        assert!(
            seq.starts_with('[') && seq[1..end].chars().all(|c| c.is_ascii_digit() || c == ';'),
            "{what:?} printed an ESC sequence that is not colour: {:?}",
            &rest[i..(i + 12).min(rest.len())]
        );
        rest = &seq[end.min(seq.len())..];
    }
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED ROW")),
        "{what:?}: a newline forged a line:\n{text}"
    );
}

#[test]
fn every_text_view_escapes_what_the_dump_names() {
    let path = hostile_dump();
    let file = path.to_string_lossy().into_owned();
    let mut shown = 0;
    for args in [
        vec!["summary", &file],
        vec!["listeners", &file, "-o", "wide"],
        vec!["clusters", &file, "-o", "wide"],
        vec!["routes", &file],
        vec!["tls", &file, "-o", "wide"],
        vec!["paths", &file, "-o", "wide"],
        vec!["paths", &file, "-o", "dot"],
        vec!["trace", &file, "--port", "8443", "--sni", EVIL],
        vec![
            "trace",
            &file,
            "--port",
            "8443",
            "--sni",
            "www.wikipedia.org",
            "-o",
            "wide",
        ],
        vec!["diff", &file, "../egw-mtls.config_dump.json"],
        vec!["isolation", &file, &file],
        vec!["nack", &file],
    ] {
        for colour in ["never", "always"] {
            let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            if a[0] == "diff" {
                a[2] = common::sample("egw-mtls.config_dump.json");
            }
            a.extend(["--color".into(), colour.into()]);
            let out = egress_xray::cli::run_args(a.clone());
            assert_inert(&a, &out.stdout);
            assert_inert(&a, &out.stderr);
            if out
                .stdout
                .contains("evil\\x1b]0;pwned\\x07\\r\\u{202e}\\u{9b}2J\\nFORGED ROW")
            {
                shown += 1;
            }
        }
    }
    // JSON keeps the exact value.
    let json = egress_xray::cli::run_args(["listeners", file.as_str(), "-o", "json"].map(String::from));
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(v.as_array().unwrap().iter().any(|l| l["name"] == EVIL));
    std::fs::remove_file(&path).unwrap();
    assert!(shown >= 10, "the escaped name is shown, not dropped ({shown} outputs)");
}

#[test]
fn error_text_on_stderr_is_escaped() {
    let path = std::env::temp_dir().join(format!("egress-xray-hostile-err-{}.json", std::process::id()));
    std::fs::write(&path, format!("{{\"configs\": [{{\"@type\": \"{EVIL}\"")).unwrap();
    let out = egress_xray::cli::run_args(["summary".to_string(), path.to_string_lossy().into_owned()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.code, 2);
    assert_inert(&["summary".into()], &out.stderr);
}

/// A name that carries mermaid syntax is shown, not interpreted: no
/// `%%{init}%%` directive, no HTML, no quote that ends the label; DOT
/// escapes quotes and backslashes.
#[test]
fn diagram_labels_cannot_inject_syntax() {
    let text = std::fs::read_to_string(common::sample("egw-mtls.config_dump.json")).unwrap();
    let mut dump: Value = serde_json::from_str(&text).unwrap();
    let name = "x%%{init: {\"theme\":\"forest\"}}%%<img src=x onerror=alert(1)>\"]-->Z\\`**md**`#quot;";
    for section in dump["configs"].as_array_mut().unwrap() {
        if section["@type"].as_str().unwrap().ends_with("ListenersConfigDump") {
            section["dynamic_listeners"][0]["name"] = Value::from(name);
            section["dynamic_listeners"][0]["active_state"]["listener"]["name"] = Value::from(name);
        }
    }
    let path = std::env::temp_dir().join(format!("egress-xray-mermaid-{}.json", std::process::id()));
    std::fs::write(&path, dump.to_string()).unwrap();
    let file = path.to_string_lossy().into_owned();
    let mermaid = egress_xray::cli::run_args(["paths", file.as_str(), "-o", "mermaid"].map(String::from));
    let dot = egress_xray::cli::run_args(["paths", file.as_str(), "-o", "dot"].map(String::from));
    std::fs::remove_file(&path).unwrap();
    let m = mermaid.stdout;
    assert!(m.contains("x#37;#37;#123;init: #123;#quot;theme#quot;"), "{m}");
    for raw in ["%%", "<img", "onerror=alert(1)>", "]-->Z", "`", "**md**`"] {
        assert!(!m.contains(raw), "{raw} left raw in {m}");
    }
    assert!(
        m.contains("#96;**md**#96;#35;quot;"),
        "a literal entity in a name stays text: {m}"
    );
    let label_line = m.lines().find(|l| l.contains("init")).unwrap();
    assert_eq!(
        label_line.matches('"').count(),
        2,
        "only the label's own quotes: {label_line}"
    );
    let d = dot.stdout;
    let label_line = d.lines().find(|l| l.contains("init")).unwrap();
    assert!(
        label_line.contains(r#"\"theme\""#) && label_line.contains(r"Z\\`"),
        "{label_line}"
    );
}

/// Directory inputs with link loops (`a -> .`, `b -> .`), a link up
/// (`up -> ..`) and links out of the directory: the walk ends, reads each
/// file once, reads nothing outside, and says what it passed over.
#[cfg(unix)]
#[test]
fn directory_walks_do_not_follow_links_out_or_around() {
    use std::os::unix::fs::symlink;
    let root = std::env::temp_dir().join(format!("egress-xray-walk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let istio = root.join("istio");
    std::fs::create_dir_all(istio.join("sub")).unwrap();
    std::fs::copy(common::sample("istio/base/egress-mtls.yaml"), istio.join("sub/gw.yaml")).unwrap();
    std::fs::write(
        root.join("outside.yaml"),
        "kind: Gateway\nmetadata: {name: outside, namespace: x}\n",
    )
    .unwrap();
    symlink(".", istio.join("a")).unwrap();
    symlink(".", istio.join("sub/b")).unwrap();
    symlink("..", istio.join("up")).unwrap();
    symlink("../outside.yaml", istio.join("out.yaml")).unwrap();
    symlink("sub/gw.yaml", istio.join("again.yaml")).unwrap();
    let dir = istio.to_string_lossy().into_owned();
    let out = egress_xray::cli::run_args(["explain", "--istio", dir.as_str(), "-o", "json"].map(String::from));
    let cfg = egress_xray::istio::Config::load(std::slice::from_ref(&dir)).unwrap();
    let isolation = egress_xray::cli::run_args(
        [
            "isolation",
            &common::sample("egw-pt.config_dump.json"),
            &common::sample("egw-mtls.config_dump.json"),
            "--istio",
            dir.as_str(),
            "-o",
            "json",
        ]
        .map(String::from),
    );
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(cfg.files.len(), 1, "one real file, read once: {:?}", cfg.files);
    assert!(
        cfg.gateways.keys().all(|(ns, _)| ns != "x"),
        "a file outside the directory was read"
    );
    let skipped = cfg.skipped.join("\\n");
    for what in [
        "a: a link to a folder",
        "b: a link to a folder",
        "up: a link to a folder",
        "outside",
        "the same file",
    ] {
        assert!(skipped.contains(what), "{what} not said in:\\n{skipped}");
    }
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["limits"].to_string().contains("not followed"), "{}", v["limits"]);
    let iso: Value = serde_json::from_str(&isolation.stdout).unwrap();
    assert!(
        iso["notes"].to_string().contains("not followed"),
        "{}",
        isolation.stdout
    );
}

/// Peak RSS of the biggest child this test process has waited for (an
/// upper bound for the one just run).
#[cfg(unix)]
fn children_peak_rss_mb() -> i64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss() / 1024
}

/// YAML alias fan-out (50 KB that expands to millions of nodes) and deep
/// flow nesting (quadratic in the parser) are refused before parsing, with
/// the reason, in bounded memory; quotes cannot hide aliases from the check.
#[cfg(unix)]
#[test]
fn yaml_that_expands_or_nests_without_bound_is_refused() {
    let k = 2500;
    let mut fan = format!("a: &a [{}]\nb: [", vec!["x"; k].join(", "));
    fan.push_str(&vec!["*a"; k].join(", "));
    fan.push_str("]\n");
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let hidden = format!("p: x\"\nq: [{}]\nr: y\"\n", vec!["*a"; 200].join(", "));
    // Few aliases of one big anchor: within the alias count, refused by the
    // node budget (the text could not hold that many nodes).
    let mut wide = format!("a: &a [{}]\nb: [", vec!["x"; 200_000].join(", "));
    wide.push_str(&vec!["*a"; 90].join(", "));
    wide.push_str("]\n");
    let dir = std::env::temp_dir().join(format!("egress-xray-yaml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_egress-xray");
    for (name, text, want) in [
        ("fan.yaml", fan.as_str(), "aliases"),
        ("deep.yaml", deep.as_str(), "levels deep"),
        ("hidden.yaml", hidden.as_str(), "aliases"),
        ("wide.yaml", wide.as_str(), "more nodes than its text holds"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        for args in [
            vec!["summary", path.to_str().unwrap()],
            vec!["explain", "--istio", path.to_str().unwrap()],
        ] {
            let out = std::process::Command::new(bin).args(&args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(children_peak_rss_mb() < 800, "peak RSS {} MB", children_peak_rss_mb());
    // Real inputs pass the check: every sample of Istio config and a YAML dump.
    egress_xray::istio::Config::load(&[common::sample("istio")]).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Gzip bombs, `/dev/zero` and an endless stdin are refused on their first
/// bytes or at `--max-input-size`, in bounded memory and with the reason.
#[cfg(unix)]
#[test]
fn streams_and_gzip_are_sniffed_and_bounded() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("egress-xray-bombs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zeros = dir.join("zeros.json.gz");
    std::fs::write(&zeros, gzip(&vec![0u8; 64 << 20])).unwrap();
    let brackets = dir.join("brackets.json.gz");
    std::fs::write(&brackets, gzip(&vec![b'['; 64 << 20])).unwrap();
    let bin = env!("CARGO_BIN_EXE_egress-xray");
    let run = |args: &[&str], stdin: Option<Vec<u8>>| {
        let mut child = std::process::Command::new(bin)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            if let Some(data) = stdin {
                let _ = pipe.write_all(&data); // the reader may stop early
            }
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["summary", zeros.to_str().unwrap()], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("gzip content") && err.contains("binary data"), "{err}");
    let (code, err) = run(&["summary", brackets.to_str().unwrap()], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("more than 128 levels"), "{err}");
    let (code, err) = run(&["summary", "/dev/zero"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("binary data"), "{err}");
    let mut endless = b"{\"configs\": [".to_vec();
    endless.extend(std::iter::repeat_n(b' ', 3 << 20));
    let (code, err) = run(&["summary", "-", "--max-input-size", "1"], Some(endless));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("larger than 1 MiB") && err.contains("--max-input-size"),
        "{err}"
    );
    // A real dump through stdin and gzip still reads.
    let sample = std::fs::read(common::sample("egw-pt.config_dump.json")).unwrap();
    assert_eq!(run(&["summary", "-"], Some(gzip(&sample))).0, Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(children_peak_rss_mb() < 800, "peak RSS {} MB", children_peak_rss_mb());
}

/// What people paste instead of a dump gets a message that names it and
/// says what to do; kubectl's preamble line is skipped with a note.
#[test]
fn pasted_inputs_are_named() {
    let sample = std::fs::read_to_string(common::sample("egw-pt.config_dump.json")).unwrap();
    let utf16: Vec<u8> = [0xffu8, 0xfe]
        .into_iter()
        .chain(sample.encode_utf16().flat_map(|u| u.to_le_bytes()))
        .collect();
    let utf16_no_bom: Vec<u8> = sample.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("utf16.json", utf16, "UTF-16 text"),
        ("utf16-nobom.json", utf16_no_bom, "iconv -f UTF-16"),
        (
            "502.html",
            b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>\n".to_vec(),
            "an HTML page",
        ),
        (
            "curl.txt",
            b"curl: (7) Failed to connect to localhost port 15000 after 0 ms: Connection refused\n".to_vec(),
            "curl's own error message (curl: (7) Failed to connect",
        ),
        (
            "comments.json",
            b"{\n  // taken from egw-pt\n  \"configs\": []\n}\n".to_vec(),
            "JSON with // comments",
        ),
        (
            "table.txt",
            b"NAME     DOMAINS     MATCH     VIRTUAL SERVICE\n80       *           /*        example.default\n"
                .to_vec(),
            "a text table as `istioctl proxy-config` prints it",
        ),
        (
            "dumps.ndjson",
            b"{\"configs\": []}\n{\"configs\": []}\n".to_vec(),
            "NDJSON",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("egress-xray-pasted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes, want) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = egress_xray::cli::run_args(["summary".to_string(), path.to_string_lossy().into_owned()]);
        assert_eq!(out.code, 2, "{name}: {}", out.stdout);
        assert!(out.stderr.contains(want), "{name}: {}", out.stderr);
    }
    let kubectl = dir.join("kubectl.txt");
    std::fs::write(
        &kubectl,
        format!("Defaulted container \"istio-proxy\" out of: istio-proxy, istio-init (init)\n{sample}"),
    )
    .unwrap();
    let out = egress_xray::cli::run_args(["summary".to_string(), kubectl.to_string_lossy().into_owned()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("kubectl's preamble line before the JSON"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("namespace egress-pt"), "{}", out.stdout);
}

/// `-o yaml` reads back as the JSON output's values with a YAML 1.2 parser
/// (serde_yaml_ng) and a YAML 1.1 one (PyYAML): names like `yes`, `on`,
/// `1_000`, `1:20`, `<<`, `=`, dates and `null` stay strings.
#[test]
fn yaml_output_round_trips_in_yaml_1_1_and_1_2() {
    let text = std::fs::read_to_string(common::sample("sleep-sidecar.config_dump.json")).unwrap();
    let mut dump: Value = serde_json::from_str(&text).unwrap();
    let tricky = [
        "yes",
        "on",
        "No",
        "1_000",
        "1:20",
        "<<",
        "=",
        "2026-11-20",
        "null",
        "~",
        "0x1F",
        "- a",
        "#x",
        "a: b",
    ];
    for section in dump["configs"].as_array_mut().unwrap() {
        if section["@type"].as_str().unwrap().ends_with("ClustersConfigDump") {
            let clusters = section["dynamic_active_clusters"].as_array_mut().unwrap();
            for (c, name) in clusters.iter_mut().zip(tricky) {
                c["cluster"]["name"] = Value::from(name);
            }
        }
    }
    let path = std::env::temp_dir().join(format!("egress-xray-yaml11-{}.json", std::process::id()));
    std::fs::write(&path, dump.to_string()).unwrap();
    let file = path.to_string_lossy().into_owned();
    let python = std::process::Command::new("python3")
        .args([
            "-c",
            "import yaml, json, sys; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        assert!(
            std::env::var_os("EGRESS_XRAY_CI").is_none(),
            "CI must have python3 with PyYAML"
        );
        eprintln!("skipping the YAML 1.1 half: python3 with PyYAML is not installed");
    }
    for cmd in ["summary", "clusters", "listeners", "routes", "tls", "paths", "trace"] {
        let mut args = vec![cmd.to_string(), file.clone()];
        if cmd == "trace" {
            args.extend(["--port".into(), "80".into(), "--dst-ip".into(), "10.0.0.1".into()]);
        }
        let json = egress_xray::cli::run_args(args.iter().cloned().chain(["-o".into(), "json".into()]));
        let yaml = egress_xray::cli::run_args(args.iter().cloned().chain(["-o".into(), "yaml".into()]));
        let want: Value = serde_json::from_str(&json.stdout).unwrap();
        let v12: Value = serde_yaml_ng::from_str(&yaml.stdout).unwrap();
        assert_eq!(v12, want, "{cmd}: YAML 1.2 reading differs");
        if python {
            use std::io::Write;
            let mut child = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import yaml, json, sys; print(json.dumps(yaml.safe_load(sys.stdin)))",
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(yaml.stdout.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{cmd}: PyYAML could not read the output");
            let v11: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v11, want, "{cmd}: YAML 1.1 (PyYAML) reading differs");
        }
    }
    std::fs::remove_file(&path).unwrap();
}

/// A cluster type this Envoy API does not know used to show as STATIC (the
/// enum's default) in `clusters`, with a warning only in `summary`.
#[test]
fn an_unknown_enum_value_is_shown_as_unknown_where_it_is_used() {
    let text = std::fs::read_to_string(common::sample("egw-pt.config_dump.json")).unwrap();
    let mut dump: Value = serde_json::from_str(&text).unwrap();
    let mut name = String::new();
    for section in dump["configs"].as_array_mut().unwrap() {
        if section["@type"].as_str().unwrap().ends_with("ClustersConfigDump") {
            let c = &mut section["dynamic_active_clusters"][0]["cluster"];
            c["type"] = Value::from("FANCY_NEW_DISCOVERY");
            c["lb_policy"] = Value::from("FANCY_NEW_LB");
            name = c["name"].as_str().unwrap().to_string();
        }
    }
    let path = std::env::temp_dir().join(format!("egress-xray-enum-{}.json", std::process::id()));
    std::fs::write(&path, dump.to_string()).unwrap();
    let file = path.to_string_lossy().into_owned();
    let clusters: Value = serde_json::from_str(
        &egress_xray::cli::run_args(["clusters", file.as_str(), "-o", "json"].map(String::from)).stdout,
    )
    .unwrap();
    let table = egress_xray::cli::run_args(["clusters", file.as_str()].map(String::from)).stdout;
    let summary = egress_xray::cli::run_args(["summary", file.as_str()].map(String::from)).stdout;
    std::fs::remove_file(&path).unwrap();
    let row = clusters
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name.as_str())
        .unwrap();
    assert!(row["type"].as_str().unwrap().starts_with("UNKNOWN"), "{row}");
    assert!(
        table.contains("UNKNOWN (a value this Envoy API does not define"),
        "{table}"
    );
    assert!(
        summary.contains("XR0004") && summary.contains("FANCY_NEW_DISCOVERY"),
        "{summary}"
    );
}

/// A log line of 100 MB used to be read whole and printed back: now it
/// keeps its first 64 KiB (with a marker), the log's other lines are read,
/// memory stays bounded and the output stays short.
#[cfg(unix)]
#[test]
fn a_huge_log_line_is_cut_not_echoed() {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!("egress-xray-longline-{}.log", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(b"2026-11-20T11:30:00.000Z\twarning\tenvoy config\tgRPC config for type.googleapis.com/envoy.config.cluster.v3.Cluster rejected: ").unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\n").unwrap();
        f.write_all(&std::fs::read(common::sample("trap2/egw-pt-7d9f8c6b4-q8mzl.egress-pt.log")).unwrap())
            .unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_egress-xray"))
        .args(["nack", "--envoy-log", path.to_str().unwrap(), "-o", "wide"])
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.len() < 2 << 20, "{} bytes printed", text.len());
    assert!(
        text.contains("kept only their beginning"),
        "{}",
        &text[text.len().saturating_sub(2000)..]
    );
    assert!(text.contains("LOGICAL_DNS"), "the log's other lines are read");
    assert!(children_peak_rss_mb() < 800, "peak RSS {} MB", children_peak_rss_mb());
}

/// One entry of a generated directory tree.
#[derive(Debug, Clone)]
enum Entry {
    Dir(String),
    File(String, usize),
    Link(String, String),
}

#[cfg(unix)]
fn entry() -> impl proptest::strategy::Strategy<Value = Entry> {
    use proptest::prelude::*;
    let name = prop::sample::select(vec!["a", "b", "sub", "x.yaml", "y.json", "z.log", "config_dump.json"]);
    let target = prop::sample::select(vec![
        ".",
        "..",
        "../..",
        "a",
        "sub",
        "x.yaml",
        "/",
        "/etc",
        "missing",
        "sub/x.yaml",
    ]);
    prop_oneof![
        name.clone().prop_map(|n| Entry::Dir(n.to_string())),
        (name.clone(), 0usize..4).prop_map(|(n, k)| Entry::File(n.to_string(), k)),
        (name, target).prop_map(|(n, t)| Entry::Link(n.to_string(), t.to_string())),
    ]
}

#[cfg(unix)]
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Directory inputs as a fuzz target: random trees of folders, files
    /// (Istio YAML, a dump, a log, garbage) and links (loops, up, out,
    /// broken). Every walk ends, never panics, and reads only files inside
    /// the root.
    #[test]
    fn random_directory_trees_are_walked_safely(entries in proptest::collection::vec((0usize..3, entry()), 0..24)) {
        use std::os::unix::fs::symlink;
        let root = std::env::temp_dir().join(format!(
            "egress-xray-tree-{}-{:x}",
            std::process::id(),
            entries.len() * 7919 + entries.iter().map(|(d, _)| *d).sum::<usize>()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let contents = [
            std::fs::read_to_string(common::sample("istio/base/egress-mtls.yaml")).unwrap(),
            std::fs::read_to_string(common::sample("egw-pt.config_dump.json")).unwrap(),
            std::fs::read_to_string(common::sample("trap2/istiod.log")).unwrap(),
            "\u{0}\u{1}garbage: [".to_string(),
        ];
        let mut dirs = vec![root.clone()];
        for (at, e) in &entries {
            let parent = dirs[at % dirs.len()].clone();
            match e {
                Entry::Dir(n) => {
                    let d = parent.join(n);
                    if std::fs::create_dir(&d).is_ok() {
                        dirs.push(d);
                    }
                }
                Entry::File(n, k) => {
                    let _ = std::fs::write(parent.join(n), &contents[*k]);
                }
                Entry::Link(n, t) => {
                    let _ = symlink(t, parent.join(n));
                }
            }
        }
        let dir = root.to_string_lossy().into_owned();
        let walk = egress_xray::input::walk_dir(&root);
        let explain = egress_xray::cli::run_args(["explain", "--istio", dir.as_str(), "-o", "json"].map(String::from));
        let nack = egress_xray::cli::run_args(["nack", "--bug-report", dir.as_str(), "-o", "json"].map(String::from));
        let canonical_root = std::fs::canonicalize(&root).unwrap();
        let outside: Vec<_> = walk
            .as_ref()
            .map(|w| w.files.iter().filter(|f| !std::fs::canonicalize(f).unwrap().starts_with(&canonical_root)).cloned().collect())
            .unwrap_or_default();
        std::fs::remove_dir_all(&root).unwrap();
        proptest::prop_assert!(walk.is_ok());
        proptest::prop_assert!(outside.is_empty(), "read outside the root: {:?}", outside);
        proptest::prop_assert!(explain.code <= 2 && nack.code <= 2);
    }
}

/// A cut line keeps its end of line, also when the newline fell in the part
/// cut off: the next line still starts a line of its own.
#[test]
fn the_line_after_a_cut_line_stands_alone() {
    use egress_xray::input::{read_log, MAX_LOG_LINE};
    let path = std::env::temp_dir().join(format!("egress-xray-cutline-{}.log", std::process::id()));
    let mut text = "x".repeat(MAX_LOG_LINE + 100);
    text.push_str("\nnext line\nlast");
    std::fs::write(&path, &text).unwrap();
    let (log, note) = read_log(path.to_str().unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{:?}", &lines[1..]);
    assert!(
        lines[0].ends_with("[… 100 bytes cut]"),
        "{}",
        &lines[0][MAX_LOG_LINE - 10..]
    );
    assert_eq!(&lines[1..], ["next line", "last"]);
    assert!(!log.ends_with('\n'), "no newline is invented after the last line");
    assert!(note.unwrap().contains("1 line(s) longer than 64 KiB"));
}

/// Files that are not dumps but are handed over as dumps every day say what
/// they are and which command takes them.
#[test]
fn manifests_and_logs_given_as_dumps_name_the_command_that_takes_them() {
    for (file, says) in [
        ("istio/base/egress-mtls.yaml", "a Kubernetes manifest (Gateway, VirtualService, ServiceEntry): give it to `egress-xray explain --istio FILE`"),
        ("istio/k8s.yaml", "a Kubernetes manifest (Service, Deployment): give it to `egress-xray explain --k8s FILE`"),
        ("trap2/istiod.log", "a log file (istiod's, by its lines): give it to `egress-xray nack --istiod-log FILE`"),
        ("trap2/egw-pt-7d9f8c6b4-q8mzl.egress-pt.log", "a log file (timestamped lines): give an Envoy or pilot-agent log to `egress-xray nack --envoy-log [PROXY=]FILE`"),
    ] {
        let out = assert_cmd::Command::cargo_bin("egress-xray")
            .unwrap()
            .arg(crate::common::sample(file))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{file}: {err}");
    }
    // kubectl -o json output too.
    let dir = std::env::temp_dir().join(format!("egress-xray-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("gw.json");
    std::fs::write(&p, "{\n    \"apiVersion\": \"networking.istio.io/v1\",\n    \"kind\": \"Gateway\",\n    \"metadata\": {\"name\": \"g\"}\n}\n").unwrap();
    let out = assert_cmd::Command::cargo_bin("egress-xray")
        .unwrap()
        .arg(&p)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("a Kubernetes manifest (Gateway)"));
    let _ = std::fs::remove_dir_all(&dir);
}
