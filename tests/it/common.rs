//! Shared test helpers: where the corpus is, and loading dumps into indexes.

use std::path::PathBuf;

use egress_xray::input;
use egress_xray::model::Index;

/// `../shared/corpus` beside the repository, or None (with a message) when a
/// user's clone does not have it.
#[allow(dead_code)]
pub fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/corpus is absent (it is only beside the repository in CI)");
        None
    }
}

#[allow(dead_code)]
pub fn sample(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[allow(dead_code)]
pub fn index(path: &str) -> Index {
    let mut dumps = input::load_path(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dumps.len(), 1, "{path} holds one dump");
    Index::build(dumps.remove(0))
}

/// Every file under the corpus (none when it is absent).
#[allow(dead_code)]
pub fn corpus_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Some(root) = corpus() else { return out };
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).expect("corpus folder") {
            let p = e.expect("corpus entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every dump in the corpus that decodes, indexed.
#[allow(dead_code)]
pub fn corpus_indexes() -> Vec<Index> {
    corpus_files()
        .iter()
        .filter_map(|p| input::load_path(&p.to_string_lossy()).ok())
        .flatten()
        .map(Index::build)
        .collect()
}

/// The Trap 2 evidence as `nack` arguments: both gateways' Envoy logs,
/// istiod's log and the ServiceEntry.
#[allow(dead_code)]
pub fn trap2_evidence() -> Vec<String> {
    [
        ("--envoy-log", "trap2/egw-mtls-6c8f9d7b5-x2k4p.egress-mtls.log"),
        ("--envoy-log", "trap2/egw-pt-7d9f8c6b4-q8mzl.egress-pt.log"),
        ("--istiod-log", "trap2/istiod.log"),
        ("--istio", "trap2/istio"),
    ]
    .into_iter()
    .flat_map(|(flag, path)| [flag.to_string(), sample(path)])
    .collect()
}
