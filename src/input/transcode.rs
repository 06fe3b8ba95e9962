//! The fast path: proto3 JSON streamed straight into protobuf bytes, driven
//! by the tables `plan` takes once from the descriptor pool, without building a `DynamicMessage` or a JSON
//! tree. It accepts only what maps cleanly; anything else (an unknown field
//! or enum name, an Any whose type the pool lacks or whose `@type` is not
//! first, an empty Any, bytes that are not base64, FieldMask) is an error,
//! and the caller falls back to the repairing path, which counts and reports
//! it. A test checks both paths give identical messages on every corpus dump.

use std::fmt;

use super::plan::{self, FieldPlan, Kind, MsgPlan, Wkt};
use base64::Engine;
use prost::encoding::{encode_key, encode_varint, WireType};
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use super::pool;

/// Why the fast path gave up (the repairing path then decides).
#[derive(Debug)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Transcodes one JSON document of message type `desc` to protobuf bytes.
pub fn json_to_proto(desc: &MsgPlan, json: &str) -> Result<Vec<u8>, Unsupported> {
    let mut out = Vec::with_capacity(json.len() / 2);
    let mut de = serde_json::Deserializer::from_str(json);
    MessageSeed { desc, out: &mut out }
        .deserialize(&mut de)
        .map_err(|e| Unsupported(e.to_string()))?;
    de.end().map_err(|e| Unsupported(e.to_string()))?;
    // Kept for the life of the index: no spare capacity (shrinking in
    // place does not copy).
    out.shrink_to_fit();
    Ok(out)
}

/// Writes a message's fields (no tag, no length) into `out`.
struct MessageSeed<'a> {
    desc: &'a MsgPlan,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.desc.wkt() {
            Some(Wkt::Wrapper) => {
                let field = self
                    .desc
                    .get_field(1)
                    .ok_or_else(|| D::Error::custom("wrapper value"))?;
                d.deserialize_any(ScalarElement {
                    number: 1,
                    kind: field.kind(),
                    out: self.out,
                })
            }
            Some(w) => d.deserialize_any(WktVisitor { wkt: w, out: self.out }),
            None => d.deserialize_map(FieldsVisitor {
                desc: self.desc,
                out: self.out,
            }),
        }
    }
}

/// A JSON key (or text value) borrowed from the input when it holds no
/// escapes: serde's own `Cow<str>` always allocates, once per key of a
/// multi-megabyte dump.
pub(crate) struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v))
    }
}

/// A JSON object of a message's fields.
struct FieldsVisitor<'a> {
    desc: &'a MsgPlan,
    out: &'a mut Vec<u8>,
}

impl<'de> Visitor<'de> for FieldsVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object for {}", self.desc.full_name())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut hint = plan::NO_FIELD;
        while let Some(key) = map.next_key_seed(Key)? {
            let field = self
                .desc
                .find(&key, &mut hint)
                .ok_or_else(|| A::Error::custom(format!("unknown field {key}")))?;
            map.next_value_seed(FieldSeed { field, out: self.out })?;
        }
        Ok(())
    }
}

/// One field's JSON value, written with its tag(s).
struct FieldSeed<'a> {
    field: &'a FieldPlan,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let f = self.field;
        if f.is_map() {
            let Kind::Message(entry) = f.kind() else {
                return Err(D::Error::custom("map without entry type"));
            };
            return d.deserialize_any(MapVisitor {
                number: f.number(),
                entry: &entry,
                out: self.out,
            });
        }
        if f.is_repeated() {
            return d.deserialize_any(ListVisitor {
                number: f.number(),
                kind: f.kind(),
                out: self.out,
            });
        }
        d.deserialize_any(SingleVisitor {
            number: f.number(),
            kind: f.kind(),
            out: self.out,
        })
    }
}

/// A singular field: null means "not set", except for google.protobuf.Value.
struct SingleVisitor<'a> {
    number: u32,
    kind: Kind,
    out: &'a mut Vec<u8>,
}

macro_rules! forward_scalars {
    () => {
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
            write_value(self.number, &self.kind, Json::Bool(v), self.out)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
            write_value(self.number, &self.kind, Json::I64(v), self.out)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
            write_value(self.number, &self.kind, Json::U64(v), self.out)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
            write_value(self.number, &self.kind, Json::F64(v), self.out)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
            write_value(self.number, &self.kind, Json::Str(v), self.out)
        }
    };
}

impl<'de> Visitor<'de> for SingleVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field value")
    }
    forward_scalars!();
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        match &self.kind {
            Kind::Message(m) if m.full_name() == "google.protobuf.Value" => nested(self.number, self.out, |buf| {
                encode_key(1, WireType::Varint, buf);
                encode_varint(0, buf);
                Ok(())
            }),
            _ => Ok(()),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let Kind::Message(m) = &self.kind else {
            return Err(A::Error::custom("object for a scalar field"));
        };
        nested(self.number, self.out, |buf| message_from_map(m, map, buf))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        // Only google.protobuf.Value / ListValue take a JSON array here.
        let Kind::Message(m) = &self.kind else {
            return Err(A::Error::custom("array for a scalar field"));
        };
        match m.full_name() {
            "google.protobuf.ListValue" => nested(self.number, self.out, |buf| list_value(seq, buf)),
            "google.protobuf.Value" => nested(self.number, self.out, |buf| {
                nested(6, buf, |inner| list_value(seq, inner))
            }),
            _ => Err(A::Error::custom("array for a message field")),
        }
    }
}

/// A message given as a JSON object (`visit_map` already entered).
fn message_from_map<'de, A: MapAccess<'de>>(m: &MsgPlan, map: A, out: &mut Vec<u8>) -> Result<(), A::Error> {
    match m.wkt() {
        Some(w) => WktVisitor { wkt: w, out }.visit_map(map),
        None => FieldsVisitor { desc: m, out }.visit_map(map),
    }
}

/// A repeated field: a JSON array (null = empty).
struct ListVisitor<'a> {
    number: u32,
    kind: Kind,
    out: &'a mut Vec<u8>,
}

impl<'de> Visitor<'de> for ListVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ElementSeed {
                number: self.number,
                kind: &self.kind,
                out: self.out,
            })?
            .is_some()
        {}
        Ok(())
    }
}

struct ElementSeed<'a> {
    number: u32,
    kind: &'a Kind,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.kind {
            Kind::Message(m) => nested(self.number, self.out, |buf| {
                MessageSeed { desc: m, out: buf }.deserialize(d)
            }),
            _ => d.deserialize_any(ScalarElement {
                number: self.number,
                kind: *self.kind,
                out: self.out,
            }),
        }
    }
}

/// A scalar list element: null is not allowed.
struct ScalarElement<'a> {
    number: u32,
    kind: Kind,
    out: &'a mut Vec<u8>,
}

impl<'de> Visitor<'de> for ScalarElement<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar list element")
    }
    forward_scalars!();
}

/// A map field: a JSON object of entries.
struct MapVisitor<'a> {
    number: u32,
    entry: &'a MsgPlan,
    out: &'a mut Vec<u8>,
}

impl<'de> Visitor<'de> for MapVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object (map)")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let key_field = self
            .entry
            .get_field(1)
            .ok_or_else(|| A::Error::custom("map entry key"))?;
        let value_field = self
            .entry
            .get_field(2)
            .ok_or_else(|| A::Error::custom("map entry value"))?;
        while let Some(key) = map.next_key_seed(Key)? {
            encode_key(self.number, WireType::LengthDelimited, self.out);
            let at = self.out.len();
            self.out.push(0);
            let entry = &mut *self.out;
            let key_json = match key_field.kind() {
                Kind::String => Json::Str(&key),
                Kind::Bool => match key.as_ref() {
                    "true" => Json::Bool(true),
                    "false" => Json::Bool(false),
                    _ => return Err(A::Error::custom("bad bool map key")),
                },
                _ => Json::Str(&key),
            };
            write_value(1, &key_field.kind(), key_json, entry)?;
            match value_field.kind() {
                Kind::Message(m) => nested(2, entry, |buf| map.next_value_seed(MessageSeed { desc: &m, out: buf }))?,
                k => map.next_value_seed(ScalarValueSeed {
                    number: 2,
                    kind: k,
                    out: entry,
                })?,
            }
            close_nested(at, self.out);
        }
        Ok(())
    }
}

struct ScalarValueSeed<'a> {
    number: u32,
    kind: Kind,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for ScalarValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(ScalarElement {
            number: self.number,
            kind: self.kind,
            out: self.out,
        })
    }
}

/// A JSON scalar, borrowed.
enum Json<'a> {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
}

/// Writes one scalar (or enum) value with its tag.
fn write_value<E: serde::de::Error>(number: u32, kind: &Kind, v: Json, out: &mut Vec<u8>) -> Result<(), E> {
    let varint = |n: u64, out: &mut Vec<u8>| {
        encode_key(number, WireType::Varint, out);
        encode_varint(n, out);
    };
    match kind {
        Kind::Bool => match v {
            Json::Bool(b) => varint(b as u64, out),
            _ => return Err(E::custom("expected a bool")),
        },
        Kind::String => match v {
            Json::Str(s) => write_len_delimited(number, s.as_bytes(), out),
            _ => return Err(E::custom("expected a string")),
        },
        Kind::Bytes => match v {
            Json::Str(s) => {
                let bytes = decode_base64(s).ok_or_else(|| E::custom("bytes are not base64"))?;
                write_len_delimited(number, &bytes, out);
            }
            _ => return Err(E::custom("expected base64 bytes")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            let n = int(&v)
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| E::custom("bad int32"))?;
            match kind {
                Kind::Sint32 => varint(((n << 1) ^ (n >> 31)) as u32 as u64, out),
                Kind::Sfixed32 => {
                    encode_key(number, WireType::ThirtyTwoBit, out);
                    out.extend_from_slice(&n.to_le_bytes());
                }
                _ => varint(n as i64 as u64, out),
            }
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            let n = int(&v)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| E::custom("bad int64"))?;
            match kind {
                Kind::Sint64 => varint(((n << 1) ^ (n >> 63)) as u64, out),
                Kind::Sfixed64 => {
                    encode_key(number, WireType::SixtyFourBit, out);
                    out.extend_from_slice(&n.to_le_bytes());
                }
                _ => varint(n as u64, out),
            }
        }
        Kind::Uint32 | Kind::Fixed32 => {
            let n = int(&v)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| E::custom("bad uint32"))?;
            if matches!(kind, Kind::Fixed32) {
                encode_key(number, WireType::ThirtyTwoBit, out);
                out.extend_from_slice(&n.to_le_bytes());
            } else {
                varint(n as u64, out);
            }
        }
        Kind::Uint64 | Kind::Fixed64 => {
            let n = int(&v)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| E::custom("bad uint64"))?;
            if matches!(kind, Kind::Fixed64) {
                encode_key(number, WireType::SixtyFourBit, out);
                out.extend_from_slice(&n.to_le_bytes());
            } else {
                varint(n, out);
            }
        }
        Kind::Double => {
            let f = float(&v).ok_or_else(|| E::custom("bad double"))?;
            encode_key(number, WireType::SixtyFourBit, out);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Kind::Float => {
            let f = float(&v).ok_or_else(|| E::custom("bad float"))?;
            encode_key(number, WireType::ThirtyTwoBit, out);
            out.extend_from_slice(&(f as f32).to_le_bytes());
        }
        Kind::Enum(e) => {
            let n = match v {
                Json::Str(s) => e
                    .number_of(s)
                    .ok_or_else(|| E::custom(format!("unknown enum value {s}")))?,
                Json::I64(n) => i32::try_from(n).map_err(|_| E::custom("bad enum number"))?,
                Json::U64(n) => i32::try_from(n).map_err(|_| E::custom("bad enum number"))?,
                _ => return Err(E::custom("bad enum value")),
            };
            varint(n as i64 as u64, out);
        }
        Kind::Message(m) => {
            // A wrapper type (or Duration, Timestamp, Value...) given as a scalar.
            let w = m.wkt().ok_or_else(|| E::custom("scalar for a message field"))?;
            nested(number, out, |buf| {
                if w == Wkt::Wrapper {
                    let field = m.get_field(1).ok_or_else(|| E::custom("wrapper value"))?;
                    write_value(1, &field.kind(), v, buf)
                } else {
                    wkt_scalar(w, v, buf)
                }
            })?;
        }
    }
    Ok(())
}

/// An integer from a JSON number or numeric string (proto3 JSON allows both).
fn int(v: &Json) -> Option<i128> {
    match v {
        Json::I64(n) => Some(*n as i128),
        Json::U64(n) => Some(*n as i128),
        Json::F64(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i128),
        Json::Str(s) => s.parse::<i128>().ok().or_else(|| {
            let f: f64 = s.parse().ok()?;
            (f.fract() == 0.0 && f.is_finite()).then_some(f as i128)
        }),
        _ => None,
    }
}

fn float(v: &Json) -> Option<f64> {
    match v {
        Json::I64(n) => Some(*n as f64),
        Json::U64(n) => Some(*n as f64),
        Json::F64(f) => Some(*f),
        Json::Str("NaN") => Some(f64::NAN),
        Json::Str("Infinity") => Some(f64::INFINITY),
        Json::Str("-Infinity") => Some(f64::NEG_INFINITY),
        Json::Str(s) => s.parse().ok(),
        Json::Bool(_) => None,
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .ok()
}

fn write_len_delimited(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Ends a length-delimited field whose one-byte length placeholder is at `at`.
fn close_nested(at: usize, out: &mut Vec<u8>) {
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
        return;
    }
    let mut prefix = [0u8; 10];
    let mut n = 0;
    let mut v = len as u64;
    while v >= 0x80 {
        prefix[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    prefix[n] = v as u8;
    n += 1;
    let end = out.len();
    out.resize(end + n - 1, 0);
    out.copy_within(at + 1..end, at + n);
    out[at..at + n].copy_from_slice(&prefix[..n]);
}

/// Writes field `number` holding what `f` writes, in place: one byte is
/// kept for the length and the body moved up only when its length needs
/// more (so nested messages cost no buffer of their own).
fn nested<E>(number: u32, out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
    encode_key(number, WireType::LengthDelimited, out);
    let at = out.len();
    out.push(0);
    f(out)?;
    close_nested(at, out);
    Ok(())
}

/// A well-known type's body (fields only) from its JSON form.
struct WktVisitor<'a> {
    wkt: Wkt,
    out: &'a mut Vec<u8>,
}

impl<'de> Visitor<'de> for WktVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a well-known type")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        wkt_scalar(self.wkt, Json::Bool(v), self.out)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        wkt_scalar(self.wkt, Json::I64(v), self.out)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        wkt_scalar(self.wkt, Json::U64(v), self.out)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        wkt_scalar(self.wkt, Json::F64(v), self.out)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        wkt_scalar(self.wkt, Json::Str(v), self.out)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        match self.wkt {
            Wkt::Value => {
                encode_key(1, WireType::Varint, self.out);
                encode_varint(0, self.out);
                Ok(())
            }
            _ => Err(E::custom("null for a well-known type")),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        match self.wkt {
            Wkt::ListValue => list_value(seq, self.out),
            Wkt::Value => nested(6, self.out, |buf| list_value(seq, buf)),
            _ => Err(A::Error::custom("array for a well-known type")),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match self.wkt {
            Wkt::Any => any_from_map(map, self.out),
            Wkt::Struct => struct_fields(map, self.out),
            Wkt::Value => nested(5, self.out, |buf| struct_fields(map, buf)),
            Wkt::Empty => {
                if map.next_key_seed(Key)?.is_some() {
                    return Err(A::Error::custom("Empty with fields"));
                }
                Ok(())
            }
            _ => Err(A::Error::custom("object for a scalar well-known type")),
        }
    }
}

/// Scalar JSON forms: wrappers, Duration, Timestamp, Value.
fn wkt_scalar<E: serde::de::Error>(w: Wkt, v: Json, out: &mut Vec<u8>) -> Result<(), E> {
    match w {
        Wkt::Duration => {
            let Json::Str(s) = v else {
                return Err(E::custom("Duration must be a string"));
            };
            let (secs, nanos) = parse_duration(s).ok_or_else(|| E::custom("bad Duration"))?;
            write_secs_nanos(secs, nanos, out);
            Ok(())
        }
        Wkt::Timestamp => {
            let Json::Str(s) = v else {
                return Err(E::custom("Timestamp must be a string"));
            };
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| E::custom("bad Timestamp"))?;
            write_secs_nanos(t.unix_timestamp(), t.nanosecond() as i32, out);
            Ok(())
        }
        Wkt::Value => match v {
            Json::Bool(b) => {
                encode_key(4, WireType::Varint, out);
                encode_varint(b as u64, out);
                Ok(())
            }
            Json::Str(s) => {
                write_len_delimited(3, s.as_bytes(), out);
                Ok(())
            }
            n => {
                let f = float(&n).ok_or_else(|| E::custom("bad number"))?;
                encode_key(2, WireType::SixtyFourBit, out);
                out.extend_from_slice(&f.to_le_bytes());
                Ok(())
            }
        },
        Wkt::Wrapper => Err(E::custom("wrapper needs its descriptor")),
        _ => Err(E::custom("scalar for a well-known message")),
    }
}

fn write_secs_nanos(secs: i64, nanos: i32, out: &mut Vec<u8>) {
    if secs != 0 {
        encode_key(1, WireType::Varint, out);
        encode_varint(secs as u64, out);
    }
    if nanos != 0 {
        encode_key(2, WireType::Varint, out);
        encode_varint(nanos as i64 as u64, out);
    }
}

/// `"1.5s"`, `"-0.25s"`, `"3s"` → (seconds, nanos), both carrying the sign.
fn parse_duration(s: &str) -> Option<(i64, i32)> {
    let body = s.strip_suffix('s')?;
    let (neg, body) = match body.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let nanos: i32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(if neg { (-secs, -nanos) } else { (secs, nanos) })
}

fn list_value<'de, A: SeqAccess<'de>>(mut seq: A, out: &mut Vec<u8>) -> Result<(), A::Error> {
    loop {
        encode_key(1, WireType::LengthDelimited, out);
        let at = out.len();
        out.push(0);
        if seq.next_element_seed(ValueSeed { out: &mut *out })?.is_none() {
            // No element after all: take the tag back.
            out.truncate(at - 1);
            return Ok(());
        }
        close_nested(at, out);
    }
}

/// A google.protobuf.Value body.
struct ValueSeed<'a> {
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(WktVisitor {
            wkt: Wkt::Value,
            out: self.out,
        })
    }
}

/// Struct fields: map<string, Value> at field 1.
fn struct_fields<'de, A: MapAccess<'de>>(mut map: A, out: &mut Vec<u8>) -> Result<(), A::Error> {
    while let Some(key) = map.next_key_seed(Key)? {
        nested(1, out, |entry| {
            write_len_delimited(1, key.as_bytes(), entry);
            nested(2, entry, |value| map.next_value_seed(ValueSeed { out: value }))
        })?;
    }
    Ok(())
}

/// An Any: `@type` first, then the payload's fields (or `value` for a
/// well-known payload type).
fn any_from_map<'de, A: MapAccess<'de>>(mut map: A, out: &mut Vec<u8>) -> Result<(), A::Error> {
    let Some(first) = map.next_key_seed(Key)? else {
        return Err(A::Error::custom("empty Any"));
    };
    if first != "@type" {
        return Err(A::Error::custom("Any without a leading @type"));
    }
    let type_url: std::borrow::Cow<'de, str> = map.next_value_seed(Key)?;
    let name = pool::type_url_name(&type_url);
    let desc = plan::message(name).ok_or_else(|| A::Error::custom(format!("unknown type {type_url}")))?;
    if matches!(desc.wkt(), Some(Wkt::Unsupported | Wkt::Any)) {
        return Err(A::Error::custom("unsupported well-known type in an Any"));
    }
    write_len_delimited(1, type_url.as_bytes(), out);
    nested(2, out, |payload| match desc.wkt() {
        Some(w) if w != Wkt::Empty => {
            let mut seen = false;
            while let Some(key) = map.next_key_seed(Key)? {
                if key != "value" || seen {
                    return Err(A::Error::custom("well-known Any needs only `value`"));
                }
                seen = true;
                if w == Wkt::Wrapper {
                    let field = desc.get_field(1).ok_or_else(|| A::Error::custom("wrapper value"))?;
                    map.next_value_seed(ScalarValueSeed {
                        number: 1,
                        kind: field.kind(),
                        out: &mut *payload,
                    })?;
                } else {
                    map.next_value_seed(MessageSeed {
                        desc: &desc,
                        out: &mut *payload,
                    })?;
                }
            }
            Ok(())
        }
        _ => FieldsVisitor {
            desc: &desc,
            out: payload,
        }
        .visit_map(map),
    })
}
