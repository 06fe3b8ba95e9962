//! `export` checked by DuckDB: the corpus's 17-proxy bug-report exported
//! as JSON Lines, queried with DuckDB (the Python package, installed by
//! .ci/run), and each answer compared with the CLI's own.

use std::collections::BTreeSet;

use crate::common;

/// DuckDB's Python package, or None (a skip line outside CI; a failure in CI).
fn duckdb() -> Option<()> {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(());
    }
    assert!(
        std::env::var_os("EGRESS_XRAY_CI").is_none(),
        "DuckDB's Python package is missing in CI (.ci/run installs it)"
    );
    eprintln!("skipped: the DuckDB Python package is not installed (python3 -m pip install duckdb)");
    None
}

/// The rows of one query, each as its columns joined by `|`.
fn query(sql: &str) -> BTreeSet<String> {
    let script = format!(
        "import duckdb\nfor row in duckdb.sql({sql:?}).fetchall():\n    print('|'.join(str(x) for x in row))\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn xray_json(args: &[&str]) -> serde_json::Value {
    let out = assert_cmd::Command::cargo_bin("egress-xray")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn duckdb_on_the_jsonl_export_answers_as_the_cli_does() {
    duckdb_answers_as_the_cli_does("jsonl");
}

#[test]
fn duckdb_on_the_parquet_export_answers_as_the_cli_does() {
    duckdb_answers_as_the_cli_does("parquet");
}

fn duckdb_answers_as_the_cli_does(format: &str) {
    let Some(corpus) = common::corpus() else { return };
    if duckdb().is_none() {
        return;
    }
    let archive = corpus.join("archives/istio__istio__bug-report__ce7467045126.tar.gz");
    let archive = archive.to_string_lossy();
    let dir = std::env::temp_dir().join(format!("egress-xray-export-{format}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_string_lossy();
    let report = xray_json(&["export", &archive, "-O", &d, "--format", format, "-o", "json"]);
    assert_eq!(report["proxies"], 17);
    assert_eq!(report["tables"].as_array().unwrap().len(), 10);
    let t = |name: &str| match format {
        "parquet" => format!("read_parquet('{d}/{name}.parquet')"),
        _ => format!("read_json_auto('{d}/{name}.jsonl')"),
    };
    // Objects: a struct read from JSON Lines, a JSON column in Parquet.
    let version = |section: &str| match format {
        "parquet" => format!("json_extract_string(versions, '$.{section}')"),
        _ => format!("versions.{section}"),
    };

    // Which proxies hold a cluster for productpage.default?
    let db = query(&format!(
        "select distinct proxy from {} where fqdn = 'productpage.default.svc.cluster.local'",
        t("clusters")
    ));
    let cli: BTreeSet<String> = xray_json(&[
        "clusters",
        &archive,
        "--fqdn",
        "productpage.default.svc.cluster.local",
        "-o",
        "json",
    ])
    .as_array()
    .unwrap()
    .iter()
    .map(|c| c["proxy"].as_str().unwrap().to_string())
    .collect();
    assert!(!cli.is_empty());
    assert_eq!(db, cli);

    // Which proxies listen on port 80, and with how many filter chains?
    let db = query(&format!(
        "select l.proxy, count(c.index) from {} l left join {} c on c.proxy = l.proxy and c.listener = l.name \
         where l.port = 80 and l.state = 'active' group by l.proxy",
        t("listeners"),
        t("filter_chains")
    ));
    let mut cli = BTreeSet::new();
    for l in xray_json(&["listeners", &archive, "--port", "80", "--state", "active", "-o", "json"])
        .as_array()
        .unwrap()
    {
        cli.insert(format!(
            "{}|{}",
            l["proxy"].as_str().unwrap(),
            l["filter_chains"].as_array().unwrap().len()
        ));
    }
    assert_eq!(db, cli);

    // Who lags a push: listeners at an older push than clusters.
    let db = query(&format!(
        "select proxy from {} where cast(split_part({}, '/', 2) as int) \
         < cast(split_part({}, '/', 2) as int)",
        t("proxies"),
        version("ListenersConfigDump"),
        version("ClustersConfigDump")
    ));
    let triage = xray_json(&["triage", &archive, "-o", "json"]);
    let lagging = triage["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["code"] == "XR0049")
        .unwrap();
    let cli: BTreeSet<String> = triage["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| lagging["proxies"].as_array().unwrap().contains(&p["proxy"]))
        .map(|p| {
            // triage names proxies ns/pod; the tables pod.namespace.
            let (ns, pod) = p["proxy"].as_str().unwrap().split_once('/').unwrap();
            format!("{pod}.{ns}")
        })
        .collect();
    assert_eq!(db, cli);

    // Every row carries the schema version, its proxy and the snapshot time.
    let db = query(&format!(
        "select count(*) from {} where schema_version = 1 and proxy is not null and snapshot is not null",
        t("endpoints")
    ));
    let rows = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["table"] == "endpoints")
        .unwrap()["rows"]
        .as_u64()
        .unwrap();
    assert_eq!(db, BTreeSet::from([rows.to_string()]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Both formats hold the same rows: every dump of the corpus and the
/// samples exported as JSON Lines and as Parquet, table by table. The
/// Parquet writer refuses a row that does not fit the declared schema, so
/// this also proves the schema covers every column the views give.
#[test]
fn parquet_and_jsonl_exports_hold_the_same_rows() {
    let Some(corpus) = common::corpus() else { return };
    let mut inputs: Vec<String> = vec![corpus
        .join("archives/istio__istio__bug-report__4f9653159fa.tar.gz")
        .to_string_lossy()
        .into_owned()];
    // Every plain dump of the corpus that decodes (the archives hold the
    // same proxies as the one above).
    for f in common::corpus_files() {
        let f = f.to_string_lossy().into_owned();
        if !f.contains("/archives/") && egress_xray::input::load_path(&f).is_ok() {
            inputs.push(f);
        }
    }
    for s in ["egw-mtls.config_dump.json", "envoy-gateways.config_dump.json"] {
        inputs.push(common::sample(s));
    }
    let mut counts = Vec::new();
    for format in ["jsonl", "parquet"] {
        let dir = std::env::temp_dir().join(format!("egress-xray-rows-{format}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut args: Vec<&str> = vec!["export", "-O", dir.to_str().unwrap(), "--format", format, "-o", "json"];
        args.extend(inputs.iter().map(String::as_str));
        let report = xray_json(&args);
        let rows: Vec<(String, u64)> = report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["table"].as_str().unwrap().to_string(), t["rows"].as_u64().unwrap()))
            .collect();
        counts.push(rows);
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(counts[0], counts[1]);
    let total: u64 = counts[0].iter().map(|(_, n)| n).sum();
    assert!(total > 1000, "{:?}", counts[0]);
}
