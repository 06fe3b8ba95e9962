//! Small accessors over envoy-types' own well-known types.

use envoy_types::pb::google::protobuf::{value::Kind, Any, Struct, Timestamp};
use prost::{Message, Name};

/// Decodes an Any holding `T`, or None when it holds something else.
pub fn decode_any<T: Message + Name + Default>(any: &Any) -> Option<T> {
    if crate::input::pool::type_url_name(&any.type_url) != T::full_name() {
        return None;
    }
    T::decode(any.value.as_slice()).ok()
}

/// RFC 3339 in UTC, e.g. `2024-01-02T03:04:05Z`.
pub fn format_timestamp(ts: &Timestamp) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(ts.seconds).ok()?;
    let t = t.replace_nanosecond(ts.nanos.clamp(0, 999_999_999) as u32).ok()?;
    t.format(&time::format_description::well_known::Rfc3339).ok()
}

/// A string field of a Struct.
pub fn struct_str<'a>(s: &'a Struct, key: &str) -> Option<&'a str> {
    match s.fields.get(key)?.kind.as_ref()? {
        Kind::StringValue(v) => Some(v.as_str()),
        _ => None,
    }
}

/// A nested Struct field of a Struct.
pub fn struct_struct<'a>(s: &'a Struct, key: &str) -> Option<&'a Struct> {
    match s.fields.get(key)?.kind.as_ref()? {
        Kind::StructValue(v) => Some(v),
        _ => None,
    }
}

/// The last occurrence of top-level field `number` of an encoded message,
/// when it is length-delimited (a string, bytes or message): read straight
/// from the wire, without decoding the rest. None for malformed bytes.
pub fn wire_field(mut bytes: &[u8], number: u32) -> Option<&[u8]> {
    use prost::encoding::{decode_key, decode_varint, WireType};
    let mut found = None;
    while !bytes.is_empty() {
        let (tag, wire) = decode_key(&mut bytes).ok()?;
        match wire {
            WireType::Varint => {
                decode_varint(&mut bytes).ok()?;
            }
            WireType::SixtyFourBit => bytes = bytes.get(8..)?,
            WireType::ThirtyTwoBit => bytes = bytes.get(4..)?,
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut bytes).ok()?).ok()?;
                let body = bytes.get(..len)?;
                if tag == number {
                    found = Some(body);
                }
                bytes = &bytes[len..];
            }
            WireType::StartGroup | WireType::EndGroup => return None,
        }
    }
    found
}

/// Every occurrence of top-level length-delimited field `number` (a
/// repeated message field's elements), read from the wire. Empty for
/// malformed bytes.
pub fn wire_fields(mut bytes: &[u8], number: u32) -> Vec<&[u8]> {
    use prost::encoding::{decode_key, decode_varint, WireType};
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let Ok((tag, wire)) = decode_key(&mut bytes) else {
            return Vec::new();
        };
        let step = match wire {
            WireType::Varint => decode_varint(&mut bytes).ok().map(|_| 0),
            WireType::SixtyFourBit => Some(8),
            WireType::ThirtyTwoBit => Some(4),
            WireType::LengthDelimited => decode_varint(&mut bytes).ok().and_then(|l| usize::try_from(l).ok()),
            WireType::StartGroup | WireType::EndGroup => None,
        };
        let Some(len) = step.filter(|&l| l <= bytes.len()) else {
            return Vec::new();
        };
        if wire == WireType::LengthDelimited && tag == number {
            found.push(&bytes[..len]);
        }
        bytes = &bytes[len..];
    }
    found
}

/// A field's number in Envoy's API, from the descriptor pool.
pub fn field_number(message: &str, field: &str) -> u32 {
    crate::input::pool::message(message)
        .and_then(|m| m.get_field_by_name(field))
        .map_or(0, |f| f.number())
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::cluster::v3::Cluster;
    use prost::Message;

    #[test]
    fn wire_field_reads_a_top_level_string() {
        let c = Cluster {
            name: "outbound|443||example.com".into(),
            alt_stat_name: "x".into(),
            ..Default::default()
        };
        let bytes = c.encode_to_vec();
        let n = field_number("envoy.config.cluster.v3.Cluster", "name");
        assert_eq!(n, 1);
        assert_eq!(wire_field(&bytes, n), Some(&b"outbound|443||example.com"[..]));
        assert_eq!(wire_field(&bytes, 25), None);
        assert_eq!(wire_field(&bytes[..bytes.len() - 1], n), None, "truncated");
    }
}
