//! The descriptor pool every decode goes through: envoy-types' own descriptor
//! set plus the extra protos in `proto/` (see build.rs).

use prost_reflect::{DescriptorPool, MessageDescriptor};

/// Serialized FileDescriptorSet produced by build.rs.
pub static DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

/// Our marker for an Any whose type the pool lacks (proto/egress_xray/v1/opaque.proto).
pub const OPAQUE_EXTENSION: &str = "egress_xray.v1.OpaqueExtension";

// One pool for the process (~9 MiB). The hot path, the JSON transcoder,
// does not touch it: it runs on the plain tables of `plan`, so threads do
// not contend on the pool's reference counts.
static POOL: std::sync::LazyLock<DescriptorPool> = std::sync::LazyLock::new(|| {
    DescriptorPool::decode(DESCRIPTOR_SET).expect("descriptor set built by build.rs is valid")
});

/// The pool.
pub fn pool() -> DescriptorPool {
    POOL.clone()
}

/// A message descriptor from the pool.
pub fn message(full_name: &str) -> Option<MessageDescriptor> {
    POOL.get_message_by_name(full_name)
}

/// The message name of a type URL (`type.googleapis.com/a.b.C` → `a.b.C`).
pub fn type_url_name(type_url: &str) -> &str {
    type_url.rsplit_once('/').map_or(type_url, |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_has_envoy_and_extra_messages() {
        for name in [
            "envoy.admin.v3.ConfigDump",
            "envoy.config.cluster.v3.Cluster",
            "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "xds.type.v3.TypedStruct",
            "udpa.type.v1.TypedStruct",
            "xds.type.matcher.v3.IPMatcher",
            OPAQUE_EXTENSION,
        ] {
            assert!(message(name).is_some(), "{name} missing from the pool");
        }
    }
}
