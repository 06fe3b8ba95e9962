//! Same input, same bytes: every command on every corpus dump and sample
//! gives byte-identical output run after run; `diff X X` finds nothing; and
//! shuffling what has no meaning (the order of sections, of resources in a
//! section, of JSON keys) changes nothing the tool reports.

use std::path::{Path, PathBuf};

use egress_xray::cli::{run_args, Outcome};
use egress_xray::input;
use egress_xray::model::Index;
use proptest::prelude::*;
use serde_json::Value;

use crate::common;

/// Every file of the samples and the corpus that loads as one or more
/// dumps, with how many dumps it holds.
fn dump_files() -> Vec<(PathBuf, usize)> {
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut files = Vec::new();
    let mut stack = vec![samples];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    files.extend(common::corpus_files());
    files
        .into_iter()
        .filter_map(|p| {
            let dumps = input::load_path(&p.to_string_lossy()).ok()?;
            Some((p, dumps.len()))
        })
        // A fleet archive (17 proxies) would run every command on every
        // proxy three times; archives are covered by tests/it/archives.rs
        // and the one-proxy bug-report stays here.
        .filter(|(_, n)| *n <= 4)
        .collect()
}

fn run(args: &[&str]) -> Outcome {
    run_args(args.iter().map(|s| s.to_string()))
}

/// The commands that read one dump file, in the forms that print the most.
fn commands(file: &str) -> Vec<Vec<String>> {
    let forms: &[&[&str]] = &[
        &["summary"],
        &["summary", "-o", "json"],
        &["listeners", "-o", "wide"],
        &["listeners", "-o", "json"],
        &["clusters", "-o", "wide"],
        &["clusters", "-o", "json"],
        &["routes", "-o", "wide"],
        &["routes", "-o", "json"],
        &["endpoints", "-o", "wide"],
        &["endpoints", "-o", "json"],
        &["secrets", "-o", "wide"],
        &["secrets", "-o", "json"],
        &["bootstrap", "-o", "json"],
        &["ecds", "-o", "json"],
        &["tls", "-o", "wide"],
        &["tls", "-o", "json"],
        &["paths", "-o", "wide"],
        &["paths", "-o", "json"],
        &["paths", "-o", "mermaid"],
        &["paths", "-o", "dot"],
        &["explain"],
        &["nack", "-o", "wide"],
        &["nack", "-o", "json"],
        &["isolation", "-o", "wide"],
        &["isolation", "-o", "json"],
        &["triage", "-o", "wide"],
        &["triage", "-o", "json"],
        &["listeners", "-o", "raw"],
        &["clusters", "-o", "raw-yaml"],
    ];
    forms
        .iter()
        .map(|f| {
            let mut v: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            v.insert(1, file.to_string());
            v
        })
        .collect()
}

#[test]
fn every_command_gives_the_same_bytes_every_run() {
    use rayon::prelude::*;
    let files = dump_files();
    assert!(files.len() >= 8, "samples at least");
    // Files in parallel (each run is in-process and deterministic by itself).
    files.par_iter().for_each(|(file, n)| {
        let f = file.to_string_lossy();
        for args in commands(&f) {
            let first = run_args(args.clone());
            for _ in 0..2 {
                let again = run_args(args.clone());
                assert_eq!(first, again, "{args:?} printed something else on another run");
            }
        }
        if *n == 1 {
            let same = run(&["diff", &f, &f]);
            assert_eq!(same.code, 0, "diff of {f} with itself: {}", same.stdout);
            assert!(same.stdout.contains("no differences"), "{}", same.stdout);
        }
    });
}

#[test]
fn no_dump_needs_an_encoding_with_unordered_maps() {
    for (file, _) in dump_files() {
        for d in input::load_path(&file.to_string_lossy()).unwrap() {
            let ix = Index::build(d);
            assert_eq!(ix.report.unordered_maps, 0, "{}", ix.source);
        }
    }
}

/// The process, not only the library: separate processes have separate hash
/// seeds and thread schedules.
#[test]
fn separate_processes_print_the_same_bytes() {
    let bin = env!("CARGO_BIN_EXE_egress-xray");
    for name in [
        "istio14-sidecar.config_dump.json",
        "sleep-sidecar.config_dump.json",
        "egw-mtls.config_dump.json",
    ] {
        let f = common::sample(name);
        for args in [
            vec!["summary", &f],
            vec!["routes", &f, "-o", "json"],
            vec!["paths", &f, "-o", "json"],
            vec!["diff", &f, &f],
        ] {
            let outs: Vec<_> = (0..4)
                .map(|_| std::process::Command::new(bin).args(&args).output().unwrap())
                .collect();
            for o in &outs[1..] {
                assert_eq!(o.stdout, outs[0].stdout, "{args:?}");
                assert_eq!(o.status.code(), outs[0].status.code(), "{args:?}");
            }
        }
    }
}

/// Istio's inbound listener and `virtualInbound` carry the same inline route
/// configuration per chain (four with one name here), and Envoy lists each
/// again under `static_route_configs`: four configurations, each attached
/// to its own chain, plus the RDS one.
#[test]
fn inline_route_configurations_sharing_a_name_count_once_each() {
    let f = common::sample("istio14-sidecar.config_dump.json");
    let summary: Value = serde_json::from_str(&run(&["summary", &f, "-o", "json"]).stdout).unwrap();
    let routes = summary[0]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "routes")
        .unwrap()
        .clone();
    assert_eq!(routes["total"], 5, "{routes}");
    let rows: Value = serde_json::from_str(&run(&["routes", &f, "-o", "json"]).stdout).unwrap();
    let mut origins: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route_config"] == "inbound|9080|http|productpage.default.svc.cluster.local")
        .map(|r| r["origin"].to_string())
        .collect();
    origins.sort();
    origins.dedup();
    assert_eq!(origins.len(), 4, "one per chain: {origins:?}");
}

/// A small deterministic generator for the shuffles (the seed comes from
/// proptest, so a failure is reported with its seed and shrunk).
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// JSON text of `v` with every object's keys in a shuffled order.
fn write_shuffled(v: &Value, mix: &mut Mix, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            mix.shuffle(&mut keys);
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                write_shuffled(&m[k], mix, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_shuffled(x, mix, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Sections in another order, the resources of each section in another
/// order (every list directly under a section), keys everywhere.
fn shuffled_dump(text: &str, seed: u64) -> Option<String> {
    // YAML dumps are written back as JSON (which YAML readers accept too).
    let mut v: Value = serde_json::from_str(text)
        .ok()
        .or_else(|| serde_yaml_ng::from_str(text).ok())?;
    let mut mix = Mix(seed);
    // Every dump in the file: a wrapped egctl file holds one per pod.
    fn sections(v: &mut Value, mix: &mut Mix) {
        let Some(obj) = v.as_object_mut() else { return };
        match obj.get_mut("configs").and_then(Value::as_array_mut) {
            Some(configs) => {
                mix.shuffle(configs);
                for section in configs.iter_mut().filter_map(Value::as_object_mut) {
                    for list in section.values_mut().filter_map(Value::as_array_mut) {
                        mix.shuffle(list);
                    }
                }
            }
            None => obj.values_mut().for_each(|x| sections(x, mix)),
        }
    }
    sections(&mut v, &mut mix);
    let mut out = String::new();
    write_shuffled(&v, &mut mix, &mut out);
    Some(out)
}

/// Everything a view reports, without the file name it came from and the
/// file positions of the decode report's examples and of the findings that
/// quote them. Rows
/// (the view's list, or the lists of a report object) are compared as sets:
/// like istioctl, views list resources in the file's order, and the order
/// of resources in a section is what the shuffle changes. Everything inside
/// a row keeps its order.
fn meaning(args: &[&str]) -> String {
    let out = run(args);
    let mut v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::String(out.stderr));
    fn rows(list: &mut [Value]) {
        let at = regex::Regex::new(r"\[\d+\]").unwrap();
        for item in list.iter_mut().filter_map(Value::as_object_mut) {
            item.remove("source");
            // A dump without a node is named after its file, which the
            // shuffle copies elsewhere.
            item.remove("proxy");
            // A YAML dump is shuffled into JSON.
            item.remove("format");
            // A finding may quote where in the file it looked (`configs[1]...`).
            for f in item
                .get_mut("findings")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(Value::String(m)) = f.get_mut("message") {
                    *m = at.replace_all(m, "[#]").into_owned();
                }
            }
            // Where in the file a repair was made: positions move with the shuffle.
            if let Some(report) = item.get_mut("decode_report").and_then(Value::as_object_mut) {
                report.remove("examples");
            }
        }
        list.sort_by_cached_key(|x| x.to_string());
    }
    match &mut v {
        Value::Array(list) => rows(list),
        Value::Object(report) => {
            report.remove("source");
            report.remove("proxy");
            report
                .values_mut()
                .filter_map(Value::as_array_mut)
                .for_each(|l| rows(l));
        }
        _ => {}
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// Every dump file that is text (JSON or YAML), with its dump count.
fn text_dumps() -> Vec<(PathBuf, usize)> {
    dump_files()
        .into_iter()
        .filter(|(p, _)| std::fs::read(p).is_ok_and(|b| std::str::from_utf8(&b).is_ok()))
        .collect()
}

fn temp_copy(name: &Path, text: &str, seed: u64) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "egress-xray-shuffle-{}-{seed:x}-{}",
        std::process::id(),
        name.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&p, text).unwrap();
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    #[test]
    fn shuffling_what_has_no_meaning_changes_nothing(seed in any::<u64>()) {
        use rayon::prelude::*;
        let failures: Vec<String> = text_dumps()
            .par_iter()
            .filter_map(|(file, n)| {
                let text = std::fs::read_to_string(file).unwrap();
                let shuffled = shuffled_dump(&text, seed)?;
                let copy = temp_copy(file, &shuffled, seed);
                let (a, b) = (file.to_string_lossy().into_owned(), copy.to_string_lossy().into_owned());
                // diff compares one dump per side; wrapped files hold several.
                let diff = if *n == 1 { run(&["diff", &a, &b]) } else { run(&["diff", &a, &a]) };
                let views: Vec<_> = ["summary", "listeners", "clusters", "routes", "endpoints", "secrets", "tls", "paths"]
                    .iter()
                    .map(|cmd| (cmd, meaning(&[cmd, &a, "-o", "json"]), meaning(&[cmd, &b, "-o", "json"])))
                    .collect();
                std::fs::remove_file(&copy).unwrap();
                if diff.code != 0 {
                    return Some(format!("diff {a} with its shuffle (seed {seed:#x}): {}", diff.stdout));
                }
                views.into_iter().find(|(_, x, y)| x != y).map(|(cmd, x, y)| {
                    let changed = similar::TextDiff::from_lines(&x, &y).unified_diff().context_radius(2).to_string();
                    format!("{cmd} {a} differs after shuffling (seed {seed:#x}):\n{changed}")
                })
            })
            .collect();
        prop_assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// The commands that read Istio config and logs beside dumps: explain on
/// every broken variant, nack on the Trap 2 logs, isolation and diff on the
/// push samples — each several times.
#[test]
fn config_and_log_commands_give_the_same_bytes_every_run() {
    let s = common::sample;
    let broken = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/istio/broken");
    let mut variants: Vec<PathBuf> = std::fs::read_dir(&broken).unwrap().map(|e| e.unwrap().path()).collect();
    variants.sort();
    let mut cases: Vec<Vec<String>> = variants
        .iter()
        .map(|v| {
            vec![
                "explain".into(),
                s("egw-mtls-trap1.config_dump.json"),
                "--istio".into(),
                s("istio/base"),
                "--istio".into(),
                v.to_string_lossy().into_owned(),
                "--k8s".into(),
                s("istio/k8s.yaml"),
                "--istiod-log".into(),
                s("istio/istiod-tls-route.log"),
                "-o".into(),
                "wide".into(),
            ]
        })
        .collect();
    let mut nack: Vec<String> = vec![
        "nack".into(),
        s("egw-mtls.config_dump.json"),
        s("egw-pt.config_dump.json"),
    ];
    nack.extend(common::trap2_evidence());
    for fmt in ["wide", "json"] {
        let mut c = nack.clone();
        c.extend(["-o".into(), fmt.into()]);
        cases.push(c);
    }
    cases.push(vec![
        "isolation".into(),
        s("egw-mtls.config_dump.json"),
        s("egw-pt.config_dump.json"),
        s("push/egw-mtls.after.config_dump.json"),
        "--istio".into(),
        s("trap2/istio"),
        "-o".into(),
        "wide".into(),
    ]);
    for (a, b) in [
        (
            "push/egw-pt.before.config_dump.json",
            "push/egw-pt.after.config_dump.json",
        ),
        ("egw-mtls.config_dump.json", "push/egw-mtls.after.config_dump.json"),
        ("egw-mtls.config_dump.json", "egw-pt.config_dump.json"),
    ] {
        for extra in [&[][..], &["--normalize-node", "--text"][..], &["-o", "json"][..]] {
            let mut c: Vec<String> = vec!["diff".into(), s(a), s(b)];
            c.extend(extra.iter().map(|x| x.to_string()));
            cases.push(c);
        }
    }
    for args in cases {
        let first = run_args(args.clone());
        assert!(first.code <= 1, "{args:?}: {}", first.stderr);
        for _ in 0..3 {
            assert_eq!(
                first,
                run_args(args.clone()),
                "{args:?} printed something else on another run"
            );
        }
    }
}
