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

/// A field's number in Envoy's API, from the descriptor pool.
pub fn field_number(message: &str, field: &str) -> u32 {
    crate::input::pool::message(message)
        .and_then(|m| m.get_field_by_name(field))
        .map_or(0, |f| f.number())
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_numbers_come_from_the_pool() {
        assert_eq!(super::field_number("envoy.config.cluster.v3.Cluster", "name"), 1);
        assert_eq!(
            super::field_number("envoy.config.cluster.v3.Cluster", "no_such_field"),
            0
        );
    }
}
