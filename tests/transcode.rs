//! The streaming transcoder (fast path) and the DynamicMessage paths give
//! the same messages and the same decode reports, on every real dump in the
//! corpus and on our samples. One test in its own binary: it flips a
//! process-wide switch.

mod common;

use std::path::{Path, PathBuf};

use egress_xray::input::{self, json, pool};
use prost::Message;
use prost_reflect::DynamicMessage;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if !p.to_string_lossy().ends_with(".md") && !p.to_string_lossy().ends_with(".txt") {
            out.push(p);
        }
    }
}

/// Every Any expanded: equal messages give equal JSON whatever their bytes.
fn canonical(dump: &envoy_types::pb::envoy::admin::v3::ConfigDump) -> serde_json::Value {
    let desc = pool::message("envoy.admin.v3.ConfigDump").unwrap();
    let msg = DynamicMessage::decode(desc, dump.encode_to_vec().as_slice()).unwrap();
    serde_json::to_value(&msg).unwrap()
}

fn load(path: &str) -> Vec<(serde_json::Value, String)> {
    match input::load_path(path) {
        Ok(dumps) => dumps
            .into_iter()
            .map(|d| (canonical(&d.dump), format!("{:?}", d.report)))
            .collect(),
        Err(e) => vec![(serde_json::Value::Null, e.to_string())],
    }
}

#[test]
fn fast_and_dynamic_paths_agree() {
    let mut paths = vec![
        PathBuf::from(common::sample("egw-mtls.config_dump.json")),
        PathBuf::from(common::sample("egw-pt.config_dump.json")),
    ];
    if let Some(corpus) = common::corpus() {
        files(&corpus, &mut paths);
    }
    let mut compared = 0;
    for p in &paths {
        let path = p.to_string_lossy();
        json::set_fast_path(true);
        let fast = load(&path);
        json::set_fast_path(false);
        let slow = load(&path);
        json::set_fast_path(true);
        assert_eq!(fast.len(), slow.len(), "{path}");
        for ((fv, fr), (sv, sr)) in fast.iter().zip(&slow) {
            assert_eq!(fr, sr, "{path}: reports differ");
            assert!(fv == sv, "{path}: messages differ");
            compared += 1;
        }
    }
    assert!(compared >= 2);
}
