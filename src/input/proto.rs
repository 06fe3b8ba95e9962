//! Binary protobuf `envoy.admin.v3.ConfigDump`. The top level is walked by
//! hand first so that truncated or foreign data is reported with the byte
//! offset where it stops making sense; then each section is decoded by prost.

use envoy_types::pb::envoy::admin::v3::ConfigDump;
use envoy_types::pb::google::protobuf::Any;
use prost::encoding::{decode_key, decode_varint, WireType};
use prost::Message;

use super::error::InputError;
use super::report::DecodeReport;

/// True when the bytes start like a ConfigDump: field 1 (configs, length
/// delimited) holding an Any whose type URL comes first.
pub fn looks_like_config_dump(bytes: &[u8]) -> bool {
    let mut buf = bytes;
    if buf.first() != Some(&0x0a) {
        return false;
    }
    buf = &buf[1..];
    if decode_varint(&mut buf).is_err() || buf.first() != Some(&0x0a) {
        return false;
    }
    buf = &buf[1..];
    if decode_varint(&mut buf).is_err() {
        return false;
    }
    buf.starts_with(b"type.googleapis.com/") || buf.starts_with(b"type.googleapis.com\\/")
}

pub fn decode(file: &str, bytes: &[u8]) -> Result<(ConfigDump, DecodeReport), InputError> {
    let err = |offset: usize, msg: String| InputError::Protobuf {
        file: file.into(),
        offset,
        msg,
    };
    let mut dump = ConfigDump::default();
    let report = DecodeReport::default();
    let mut buf = bytes;
    let mut index = 0usize;
    while !buf.is_empty() {
        let offset = bytes.len() - buf.len();
        let (tag, wire) = decode_key(&mut buf).map_err(|e| err(offset, format!("bad field key: {e}")))?;
        if tag != 1 || wire != WireType::LengthDelimited {
            return Err(err(
                offset,
                format!(
                    "expected field 1 (configs) as length-delimited, found field {tag} as {wire:?}: not a ConfigDump"
                ),
            ));
        }
        let len_at = bytes.len() - buf.len();
        let len =
            decode_varint(&mut buf).map_err(|e| err(len_at, format!("configs[{index}]: bad length: {e}")))? as usize;
        let start = bytes.len() - buf.len();
        if len > buf.len() {
            return Err(err(
                start,
                format!(
                    "configs[{index}] declares {len} bytes but only {} remain: the data is truncated",
                    buf.len()
                ),
            ));
        }
        let any = Any::decode(&buf[..len])
            .map_err(|e| err(start, format!("configs[{index}] (bytes {start}..{}): {e}", start + len)))?;
        if !any.type_url.contains("envoy.admin.") {
            return Err(err(
                start,
                format!(
                    "configs[{index}] holds `{}`, not an Envoy admin config section",
                    any.type_url
                ),
            ));
        }
        dump.configs.push(any);
        buf = &buf[len..];
        index += 1;
    }
    if dump.configs.is_empty() {
        return Err(err(0, "no config sections".into()));
    }
    Ok((dump, report))
}
