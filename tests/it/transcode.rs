//! The streaming transcoder (fast path) and the DynamicMessage paths give
//! the same messages and the same decode reports, on every real dump in the
//! corpus and on our samples. One test in its own binary: it flips a
//! process-wide switch.

use crate::common;

use std::path::PathBuf;

use egress_xray::input::{self, json, pool};
use prost::Message;
use prost_reflect::DynamicMessage;

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
            .map(|d| (canonical(&d.config_dump()), format!("{:?}", d.report)))
            .collect(),
        Err(e) => vec![(serde_json::Value::Null, e.to_string())],
    }
}

#[test]
fn fast_and_dynamic_paths_agree() {
    let mut paths: Vec<PathBuf> = ["egw-mtls", "egw-pt", "sleep-sidecar"]
        .iter()
        .map(|s| PathBuf::from(common::sample(&format!("{s}.config_dump.json"))))
        .collect();
    paths.extend(
        common::corpus_files()
            .into_iter()
            .filter(|p| !p.to_string_lossy().ends_with(".md") && !p.to_string_lossy().ends_with(".txt")),
    );
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
