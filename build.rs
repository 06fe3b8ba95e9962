//! Builds the descriptor pool egress-xray decodes with: the FileDescriptorSet
//! that `envoy-types` ships for its generated code (so every message is read
//! exactly as the typed structs define it), stripped of source info, plus the
//! few extra protos in `proto/` compiled by `protox` (pure Rust, no protoc).

use std::{env, fs, path::PathBuf, process::Command};

use prost::Message;
use prost_reflect::prost_types::FileDescriptorSet;

fn main() {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");

    let types_bin = envoy_types_descriptor_path();
    let bytes = fs::read(&types_bin).unwrap_or_else(|e| panic!("cannot read {}: {e}", types_bin.display()));
    let mut set = FileDescriptorSet::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("{} is not a FileDescriptorSet: {e}", types_bin.display()));
    for file in &mut set.file {
        file.source_code_info = None;
    }

    let known: std::collections::HashSet<String> = set.file.iter().filter_map(|f| f.name.clone()).collect();
    let extra = compile_extra_protos(&set);
    for file in extra.file {
        if !known.contains(file.name()) {
            set.file.push(file);
        }
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("descriptors.bin");
    fs::write(&out, set.encode_to_vec()).expect("write descriptors.bin");
}

/// Finds `src/generated/types.bin` inside the resolved `envoy-types` package.
fn envoy_types_descriptor_path() -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").unwrap();
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(&manifest_dir)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let manifest = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "envoy-types")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("envoy-types is not among the resolved packages");
    PathBuf::from(manifest)
        .parent()
        .unwrap()
        .join("src/generated/types.bin")
}

fn compile_extra_protos(base: &FileDescriptorSet) -> FileDescriptorSet {
    let mut files = Vec::new();
    collect_protos(PathBuf::from("proto"), &mut files);
    files.sort();
    let mut resolver = protox::file::ChainFileResolver::new();
    resolver.add(protox::file::IncludeFileResolver::new("proto".into()));
    resolver.add(protox::file::DescriptorSetFileResolver::new(base.clone()));
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(false).include_source_info(false);
    for file in &files {
        let rel = file.strip_prefix("proto").unwrap();
        compiler
            .open_file(rel)
            .unwrap_or_else(|e| panic!("compiling {}: {e}", file.display()));
    }
    compiler.file_descriptor_set()
}

fn collect_protos(dir: PathBuf, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(&dir).expect("read proto dir") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_protos(path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}
