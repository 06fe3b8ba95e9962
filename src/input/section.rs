//! A config section (e.g. an `envoy.admin.v3.ClustersConfigDump`) as
//! protobuf, kept in pieces: the JSON decoder encodes every resource of a
//! section's lists on its own, and they stay separate buffers until the
//! model takes them one by one — no buffer ever holds a whole section next
//! to its resources.

use envoy_types::pb::envoy::admin::v3::ConfigDump;
use envoy_types::pb::google::protobuf::Any;
use prost::bytes::Buf;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

pub struct Section {
    pub type_url: String,
    /// The section's encoding (without the items below).
    pub head: Vec<u8>,
    /// Elements of its repeated message fields, each encoded on its own.
    pub items: Vec<SectionItem>,
}

/// One element of a section's repeated message field.
pub struct SectionItem {
    /// The field's number in the section message.
    pub field: u32,
    pub bytes: Vec<u8>,
}

impl Section {
    /// A section read from protobuf, split like the JSON decoder splits it:
    /// the elements of its repeated message fields become items (decoded in
    /// parallel later), everything else stays in the head. None when the
    /// bytes are not well-formed protobuf.
    pub fn split(type_url: String, value: &[u8]) -> Option<Self> {
        let name = super::pool::type_url_name(&type_url);
        let lists: Vec<u32> = super::plan::message(name)
            .map(|m| m.list_message_fields())
            .unwrap_or_default();
        let mut head = Vec::new();
        // (field, body range) of each item; copied out in parallel below.
        let mut ranges: Vec<(u32, usize, usize)> = Vec::new();
        for f in super::wire::fields(value) {
            let f = f.ok()?;
            if f.wire == WireType::LengthDelimited && lists.contains(&f.tag) {
                ranges.push((f.tag, f.body_at, f.body_at + f.body.len()));
            } else {
                head.extend_from_slice(f.raw);
            }
        }
        use rayon::prelude::*;
        let items = ranges
            .into_par_iter()
            .map(|(field, start, end)| SectionItem {
                field,
                bytes: value[start..end].to_vec(),
            })
            .collect();
        Some(Self { type_url, head, items })
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.head.len() + self.items.iter().map(|i| i.bytes.len() + 8).sum::<usize>()
    }

    /// The whole section as one Any (a copy).
    pub fn to_any(&self) -> Any {
        let mut value = Vec::with_capacity(self.encoded_len());
        value.extend_from_slice(&self.head);
        for item in &self.items {
            encode_key(item.field, WireType::LengthDelimited, &mut value);
            encode_varint(item.bytes.len() as u64, &mut value);
            value.extend_from_slice(&item.bytes);
        }
        Any {
            type_url: self.type_url.clone(),
            value,
        }
    }

    /// Decodes the section as `T`, freeing each item once it is merged.
    pub fn decode<T: Message + Default>(self) -> Result<T, prost::DecodeError> {
        let mut msg = T::decode(self.head.as_slice())?;
        drop(self.head);
        for item in self.items {
            let mut prefix = Vec::with_capacity(12);
            encode_key(item.field, WireType::LengthDelimited, &mut prefix);
            encode_varint(item.bytes.len() as u64, &mut prefix);
            msg.merge(prefix.as_slice().chain(item.bytes.as_slice()))?;
        }
        Ok(msg)
    }

    /// Decodes the section as several `T`s, in parallel: its head, then each
    /// item as a one-element `T` (items freed as they are decoded).
    pub fn decode_parts<T: Message + Default + Send>(self) -> Result<Vec<T>, prost::DecodeError> {
        use rayon::prelude::*;
        let head = T::decode(self.head.as_slice())?;
        drop(self.head);
        let parts: Result<Vec<T>, prost::DecodeError> = self
            .items
            .into_par_iter()
            .map(|item| {
                let mut msg = T::default();
                let mut prefix = Vec::with_capacity(12);
                encode_key(item.field, WireType::LengthDelimited, &mut prefix);
                encode_varint(item.bytes.len() as u64, &mut prefix);
                msg.merge(prefix.as_slice().chain(item.bytes.as_slice()))?;
                Ok(msg)
            })
            .collect();
        let mut all = vec![head];
        all.extend(parts?);
        Ok(all)
    }
}

/// A dump's sections assembled into one `envoy.admin.v3.ConfigDump` (a copy).
pub fn config_dump(sections: &[Section]) -> ConfigDump {
    ConfigDump {
        configs: sections.iter().map(Section::to_any).collect(),
    }
}
