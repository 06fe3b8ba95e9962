//! Builds the descriptor pool egress-xray decodes with: the FileDescriptorSet
//! that `envoy-types` ships for its generated code (so every message is read
//! exactly as the typed structs define it), stripped of source info and
//! checked in as `proto/envoy-types-<version>.fds.gz`, plus the few extra
//! protos in `proto/` compiled by `protox` (pure Rust, no protoc).
//!
//! The build reads only files of this repository: no network, no recursive
//! cargo, nothing that depends on what else the cargo cache holds. The test
//! `descriptors::checked_in_set_is_envoy_types_own` proves the checked-in set
//! equals the one the resolved `envoy-types` ships (and rewrites it with
//! `EGRESS_XRAY_BLESS=1` after an upgrade).

use std::{env, fs, io::Read, path::PathBuf};

use prost::Message;
use prost_reflect::prost_types::FileDescriptorSet;

fn main() {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.lock");

    let version = envoy_types_version();
    let path = PathBuf::from(format!("proto/envoy-types-{version}.fds.gz"));
    let gz = fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nenvoy-types {version} is in Cargo.lock but its descriptor set is not checked in; \
             run `EGRESS_XRAY_BLESS=1 cargo test descriptors` to write it from the envoy-types sources",
            path.display()
        )
    });
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("{} is not gzip: {e}", path.display()));
    let mut set = FileDescriptorSet::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("{} is not a FileDescriptorSet: {e}", path.display()));

    let known: std::collections::HashSet<String> = set.file.iter().filter_map(|f| f.name.clone()).collect();
    let extra = compile_extra_protos(&set);
    for file in extra.file {
        if !known.contains(file.name()) {
            set.file.push(file);
        }
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("descriptors.bin");
    fs::write(&out, set.encode_to_vec()).expect("write descriptors.bin");
    println!("cargo:rustc-env=EGRESS_XRAY_ENVOY_TYPES_VERSION={version}");
}

/// The version of `envoy-types` that Cargo.lock resolves (a plain read of
/// the lock file: one `[[package]]` named envoy-types).
fn envoy_types_version() -> String {
    let lock = fs::read_to_string("Cargo.lock").expect("Cargo.lock is part of the repository");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == r#"name = "envoy-types""# {
            if let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = ")) {
                return v.trim_matches('"').to_string();
            }
        }
    }
    panic!("Cargo.lock resolves no envoy-types package")
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
