//! The descriptor set the build checks in (proto/envoy-types-<v>.fds.gz) is
//! exactly the one the resolved `envoy-types` crate ships, source info aside.
//! `EGRESS_XRAY_BLESS=1` rewrites it from the crate's sources (after an
//! upgrade of envoy-types, before the first build of the new version).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use prost::Message;
use prost_reflect::prost_types::FileDescriptorSet;

const VERSION: &str = env!("EGRESS_XRAY_ENVOY_TYPES_VERSION");

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `src/generated/types.bin` of envoy-types VERSION: `$ENVOY_TYPES_SRC`, a
/// `vendor/` folder, or the cargo home's registry sources.
fn shipped_types_bin() -> Option<PathBuf> {
    let rel = Path::new("src/generated/types.bin");
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("ENVOY_TYPES_SRC") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(manifest_dir().join("vendor/envoy-types"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        if let Ok(entries) = std::fs::read_dir(home.join("registry/src")) {
            let mut registries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            registries.sort();
            candidates.extend(registries.into_iter().map(|r| r.join(format!("envoy-types-{VERSION}"))));
        }
    }
    candidates.into_iter().map(|d| d.join(rel)).find(|p| p.is_file())
}

fn stripped(bytes: &[u8]) -> FileDescriptorSet {
    let mut set = FileDescriptorSet::decode(bytes).expect("types.bin is a FileDescriptorSet");
    for file in &mut set.file {
        file.source_code_info = None;
    }
    set
}

#[test]
fn checked_in_set_is_envoy_types_own() {
    let checked_in = manifest_dir().join(format!("proto/envoy-types-{VERSION}.fds.gz"));
    let Some(shipped) = shipped_types_bin() else {
        assert!(
            std::env::var_os("EGRESS_XRAY_CI").is_none(),
            "envoy-types {VERSION} sources not found under the cargo home: CI must check the descriptor set"
        );
        eprintln!("skipping: the sources of envoy-types {VERSION} are not in the cargo home (set ENVOY_TYPES_SRC)");
        return;
    };
    let want = stripped(&std::fs::read(&shipped).unwrap());
    if std::env::var_os("EGRESS_XRAY_BLESS").is_some() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&want.encode_to_vec()).unwrap();
        std::fs::write(&checked_in, gz.finish().unwrap()).unwrap();
    }
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&checked_in).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let have = FileDescriptorSet::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        have.file.len(),
        want.file.len(),
        "file count differs from {}",
        shipped.display()
    );
    for (h, w) in have.file.iter().zip(&want.file) {
        assert_eq!(h, w, "{} differs from envoy-types {VERSION}'s own", w.name());
    }
    assert!(have.file.len() > 300, "envoy-types ships the whole Envoy API");
}

#[test]
fn pool_holds_the_checked_in_set_and_the_extras() {
    let pool = egress_xray::input::pool::pool();
    let mut bytes = Vec::new();
    let checked_in = manifest_dir().join(format!("proto/envoy-types-{VERSION}.fds.gz"));
    flate2::read::GzDecoder::new(std::fs::File::open(checked_in).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let set = FileDescriptorSet::decode(bytes.as_slice()).unwrap();
    for file in &set.file {
        assert!(
            pool.get_file_by_name(file.name()).is_some(),
            "{} missing from the pool",
            file.name()
        );
    }
    assert!(pool.get_message_by_name("egress_xray.v1.OpaqueExtension").is_some());
}
