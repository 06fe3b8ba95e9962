//! What the fast JSON → protobuf path needs to know about each message type,
//! taken once from the descriptor pool into plain shared tables: field
//! numbers, kinds and cardinality, and a name lookup without hashing. The
//! transcoder then runs with no descriptor handles (no reference counts
//! shared between threads) and no SipHash per JSON key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::LazyLock;

use prost_reflect::Cardinality;

/// Well-known types with their own JSON form.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wkt {
    Any,
    Duration,
    Timestamp,
    Struct,
    Value,
    ListValue,
    Empty,
    Wrapper,
    Unsupported,
}

fn wkt(name: &str) -> Option<Wkt> {
    Some(match name {
        "google.protobuf.Any" => Wkt::Any,
        "google.protobuf.Duration" => Wkt::Duration,
        "google.protobuf.Timestamp" => Wkt::Timestamp,
        "google.protobuf.Struct" => Wkt::Struct,
        "google.protobuf.Value" => Wkt::Value,
        "google.protobuf.ListValue" => Wkt::ListValue,
        "google.protobuf.Empty" => Wkt::Empty,
        "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => Wkt::Wrapper,
        "google.protobuf.FieldMask" => Wkt::Unsupported,
        _ => return None,
    })
}

/// A message type, by its place in the shared table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MsgRef(u32);

impl std::ops::Deref for MsgRef {
    type Target = MsgPlan;
    fn deref(&self) -> &MsgPlan {
        &PLANS.msgs[self.0 as usize]
    }
}

/// An enum type, by its place in the shared table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EnumRef(u32);

impl std::ops::Deref for EnumRef {
    type Target = EnumPlan;
    fn deref(&self) -> &EnumPlan {
        &PLANS.enums[self.0 as usize]
    }
}

/// A field's type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Enum(EnumRef),
    Message(MsgRef),
}

pub struct FieldPlan {
    number: u32,
    kind: Kind,
    repeated: bool,
    map: bool,
    json_name: Box<str>,
    name: Box<str>,
    /// The field printed after this one last time (see `MsgPlan::find`).
    next: AtomicU16,
}

impl FieldPlan {
    pub fn number(&self) -> u32 {
        self.number
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// Repeated (maps included).
    pub fn is_repeated(&self) -> bool {
        self.repeated
    }
    pub fn is_map(&self) -> bool {
        self.map
    }
    fn named(&self, key: &str) -> bool {
        &*self.json_name == key || &*self.name == key
    }
}

pub struct MsgPlan {
    full_name: Box<str>,
    wkt: Option<Wkt>,
    /// By field number.
    fields: Vec<FieldPlan>,
    /// JSON and proto names → index in `fields`, sorted by name.
    lookup: Vec<(Box<str>, u16)>,
    /// The field printed first last time (see `find`).
    first: AtomicU16,
}

/// `find`'s `prev` before an object's first key.
pub const NO_FIELD: usize = usize::MAX;

impl MsgPlan {
    pub fn full_name(&self) -> &str {
        &self.full_name
    }
    pub fn wkt(&self) -> Option<Wkt> {
        self.wkt
    }
    /// Numbers of the repeated message fields (not maps).
    pub fn list_message_fields(&self) -> Vec<u32> {
        self.fields
            .iter()
            .filter(|f| f.repeated && !f.map && matches!(f.kind, Kind::Message(_)))
            .map(|f| f.number)
            .collect()
    }

    pub fn get_field(&self, number: u32) -> Option<&FieldPlan> {
        self.fields.iter().find(|f| f.number == number)
    }
    /// The field a JSON key names (JSON name or proto name). `prev` is the
    /// field the object's previous key named (`NO_FIELD` for its first key):
    /// the field that followed it last time is tried first, since a
    /// producer prints a message's fields in the same order every time.
    pub fn find(&self, key: &str, prev: &mut usize) -> Option<&FieldPlan> {
        let slot = match self.fields.get(*prev) {
            Some(p) => &p.next,
            None => &self.first,
        };
        let guess = slot.load(Ordering::Relaxed) as usize;
        if let Some(f) = self.fields.get(guess) {
            if f.named(key) {
                *prev = guess;
                return Some(f);
            }
        }
        let at = self.lookup.binary_search_by(|(n, _)| (**n).cmp(key)).ok()?;
        let i = self.lookup[at].1 as usize;
        slot.store(i as u16, Ordering::Relaxed);
        *prev = i;
        self.fields.get(i)
    }
}

impl MsgPlan {
    /// Whether `bytes` decode as this message: every field's wire type fits
    /// its kind, lengths stay in bounds, strings are UTF-8 and nested
    /// messages (to prost's depth limit) check too; unknown fields are
    /// skipped, as prost does. Allocates nothing: this is how resources
    /// read from a protobuf file are checked before the index keeps them.
    pub fn check(&self, bytes: &[u8]) -> bool {
        self.check_at(bytes, 0)
    }

    fn check_at(&self, buf: &[u8], depth: u32) -> bool {
        use prost::encoding::{decode_varint, WireType};
        if depth > 100 {
            return false;
        }
        for f in super::wire::fields(buf) {
            let Ok(f) = f else { return false };
            // Unknown fields are skipped, as prost skips them.
            let Ok(i) = self.fields.binary_search_by_key(&f.tag, |p| p.number) else {
                continue;
            };
            let (kind, repeated) = (self.fields[i].kind, self.fields[i].repeated);
            let ok = match f.wire {
                WireType::Varint => kind.is_varint(),
                WireType::SixtyFourBit => kind.fixed_size() == Some(8),
                WireType::ThirtyTwoBit => kind.fixed_size() == Some(4),
                WireType::LengthDelimited => match kind {
                    Kind::Bytes => true,
                    Kind::String => std::str::from_utf8(f.body).is_ok(),
                    Kind::Message(m) => m.check_at(f.body, depth + 1),
                    // Packed repeated scalars.
                    k if repeated => match k.fixed_size() {
                        Some(n) => f.body.len() % n == 0,
                        None => {
                            let mut b = f.body;
                            while !b.is_empty() {
                                if decode_varint(&mut b).is_err() {
                                    return false;
                                }
                            }
                            true
                        }
                    },
                    _ => false,
                },
                WireType::StartGroup | WireType::EndGroup => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

impl Kind {
    fn is_varint(self) -> bool {
        matches!(
            self,
            Kind::Int32
                | Kind::Int64
                | Kind::Uint32
                | Kind::Uint64
                | Kind::Sint32
                | Kind::Sint64
                | Kind::Bool
                | Kind::Enum(_)
        )
    }

    /// Bytes of a fixed-width kind.
    fn fixed_size(self) -> Option<usize> {
        match self {
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => Some(8),
            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => Some(4),
            _ => None,
        }
    }
}

pub struct EnumPlan {
    /// Value names → numbers, sorted by name.
    values: Vec<(Box<str>, i32)>,
}

impl EnumPlan {
    pub fn number_of(&self, name: &str) -> Option<i32> {
        let at = self.values.binary_search_by(|(n, _)| (**n).cmp(name)).ok()?;
        Some(self.values[at].1)
    }
}

pub struct Plans {
    msgs: Vec<MsgPlan>,
    enums: Vec<EnumPlan>,
    by_name: HashMap<String, u32>,
}

/// The message type of a full name (`envoy.config.cluster.v3.Cluster`).
pub fn message(full_name: &str) -> Option<MsgRef> {
    PLANS.by_name.get(full_name).map(|&i| MsgRef(i))
}

static PLANS: LazyLock<Plans> = LazyLock::new(|| build(&super::pool::pool()));

fn build(pool: &prost_reflect::DescriptorPool) -> Plans {
    let by_name: HashMap<String, u32> = pool
        .all_messages()
        .enumerate()
        .map(|(i, m)| (m.full_name().to_string(), i as u32))
        .collect();
    let enum_index: HashMap<String, u32> = pool
        .all_enums()
        .enumerate()
        .map(|(i, e)| (e.full_name().to_string(), i as u32))
        .collect();
    let kind = |k: prost_reflect::Kind| -> Kind {
        use prost_reflect::Kind as K;
        match k {
            K::Double => Kind::Double,
            K::Float => Kind::Float,
            K::Int32 => Kind::Int32,
            K::Int64 => Kind::Int64,
            K::Uint32 => Kind::Uint32,
            K::Uint64 => Kind::Uint64,
            K::Sint32 => Kind::Sint32,
            K::Sint64 => Kind::Sint64,
            K::Fixed32 => Kind::Fixed32,
            K::Fixed64 => Kind::Fixed64,
            K::Sfixed32 => Kind::Sfixed32,
            K::Sfixed64 => Kind::Sfixed64,
            K::Bool => Kind::Bool,
            K::String => Kind::String,
            K::Bytes => Kind::Bytes,
            K::Enum(e) => Kind::Enum(EnumRef(enum_index[e.full_name()])),
            K::Message(m) => Kind::Message(MsgRef(by_name[m.full_name()])),
        }
    };
    let msgs = pool
        .all_messages()
        .map(|m| {
            let mut fields: Vec<FieldPlan> = m
                .fields()
                .map(|f| FieldPlan {
                    number: f.number(),
                    kind: kind(f.kind()),
                    repeated: f.cardinality() == Cardinality::Repeated,
                    map: f.is_map(),
                    json_name: f.json_name().into(),
                    name: f.name().into(),
                    next: AtomicU16::new(0),
                })
                .collect();
            fields.sort_by_key(|f| f.number);
            for (i, f) in fields.iter().enumerate() {
                f.next.store((i + 1) as u16, Ordering::Relaxed);
            }
            let mut lookup: Vec<(Box<str>, u16)> = Vec::with_capacity(fields.len() * 2);
            for (i, f) in fields.iter().enumerate() {
                lookup.push((f.json_name.clone(), i as u16));
                if f.name != f.json_name {
                    lookup.push((f.name.clone(), i as u16));
                }
            }
            lookup.sort();
            MsgPlan {
                full_name: m.full_name().into(),
                wkt: wkt(m.full_name()),
                fields,
                lookup,
                first: AtomicU16::new(0),
            }
        })
        .collect();
    let enums = pool
        .all_enums()
        .map(|e| {
            let mut values: Vec<(Box<str>, i32)> = e.values().map(|v| (v.name().into(), v.number())).collect();
            values.sort();
            values.dedup_by(|a, b| a.0 == b.0);
            EnumPlan { values }
        })
        .collect();
    Plans { msgs, enums, by_name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_match_the_pool() {
        let c = message("envoy.config.cluster.v3.Cluster").expect("Cluster");
        let mut hint = NO_FIELD;
        let name = c.find("name", &mut hint).expect("name");
        assert_eq!(name.number(), 1);
        let tsm = c.find("transportSocketMatches", &mut hint).expect("camelCase");
        assert!(tsm.is_repeated());
        assert_eq!(
            c.find("transport_socket_matches", &mut { NO_FIELD })
                .map(FieldPlan::number),
            Some(tsm.number())
        );
        assert!(c.find("no_such_field", &mut { NO_FIELD }).is_none());
        let Kind::Enum(lb) = c.find("lb_policy", &mut { NO_FIELD }).unwrap().kind() else {
            panic!("enum")
        };
        assert_eq!(lb.number_of("ROUND_ROBIN"), Some(0));
        assert_eq!(lb.number_of("LEAST_REQUEST"), Some(1));
        assert_eq!(
            message("google.protobuf.UInt32Value").unwrap().wkt(),
            Some(Wkt::Wrapper)
        );
    }

    #[test]
    fn check_agrees_with_prost() {
        use envoy_types::pb::envoy::config::cluster::v3::Cluster;
        use prost::Message;
        let c = Cluster {
            name: "outbound|443||example.com".into(),
            connect_timeout: Some(envoy_types::pb::google::protobuf::Duration { seconds: 5, nanos: 0 }),
            lb_policy: 1,
            ..Default::default()
        };
        let bytes = c.encode_to_vec();
        let plan = message("envoy.config.cluster.v3.Cluster").unwrap();
        assert!(plan.check(&bytes));
        // Every truncation, and a string that is not UTF-8, fail in both.
        for cut in 0..bytes.len() {
            assert_eq!(
                plan.check(&bytes[..cut]),
                Cluster::decode(&bytes[..cut]).is_ok(),
                "cut at {cut}"
            );
        }
        let mut bad = bytes.clone();
        let at = bad.iter().position(|&b| b == b'|').unwrap();
        bad[at] = 0xff;
        assert!(!plan.check(&bad));
        assert!(Cluster::decode(bad.as_slice()).is_err());
        // A varint where the name (a string) is expected.
        assert!(!plan.check(&[0x08, 0x01]));
        assert!(Cluster::decode(&[0x08u8, 0x01][..]).is_err());
    }
}
