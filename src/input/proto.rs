//! Binary protobuf `envoy.admin.v3.ConfigDump`. The top level is walked by
//! hand first so that truncated or foreign data is reported with the byte
//! offset where it stops making sense; then each section is decoded by prost.

use prost::encoding::{decode_key, decode_varint, WireType};

use super::error::InputError;
use super::report::DecodeReport;
use super::section::Section;

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

pub fn decode(file: &str, bytes: &[u8]) -> Result<(Vec<Section>, DecodeReport), InputError> {
    let err = |offset: usize, msg: String| InputError::Protobuf {
        file: file.into(),
        offset,
        msg,
    };
    let mut sections = Vec::new();
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
        let (type_url, value) = any_parts(&buf[..len])
            .map_err(|e| err(start, format!("configs[{index}] (bytes {start}..{}): {e}", start + len)))?;
        if !type_url.contains("envoy.admin.") {
            return Err(err(
                start,
                format!("configs[{index}] holds `{type_url}`, not an Envoy admin config section"),
            ));
        }
        // Split down to resources without copying the section whole.
        let section = Section::split(type_url.clone(), value).ok_or_else(|| {
            err(
                start,
                format!("configs[{index}] ({type_url}): malformed protobuf inside the section"),
            )
        })?;
        sections.push(section);
        buf = &buf[len..];
        index += 1;
    }
    if sections.is_empty() {
        return Err(err(0, "no config sections".into()));
    }
    Ok((sections, report))
}

/// An Any's type URL and value, the value borrowed.
fn any_parts(buf: &[u8]) -> Result<(String, &[u8]), String> {
    let mut type_url = String::new();
    let mut value: &[u8] = &[];
    for f in super::wire::fields(buf) {
        let f = f.map_err(|at| format!("malformed field at byte {at} of the Any"))?;
        match (f.tag, f.wire) {
            (1, WireType::LengthDelimited) => {
                type_url = String::from_utf8(f.body.to_vec()).map_err(|_| "type URL is not UTF-8")?
            }
            (2, WireType::LengthDelimited) => value = f.body,
            (tag @ (1 | 2), wire) => return Err(format!("field {tag} of an Any as {wire:?}")),
            _ => {}
        }
    }
    Ok((type_url, value))
}
