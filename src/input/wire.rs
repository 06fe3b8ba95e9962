//! The protobuf wire format walked without decoding: the top-level fields
//! of an encoded message, each with its body borrowed. One walker for every
//! place that reads a message from the wire (splitting sections, reading a
//! resource's name, checking bytes against a descriptor).

use prost::encoding::{decode_key, decode_varint, WireType};

/// One top-level field of an encoded message.
pub struct WireField<'a> {
    pub tag: u32,
    pub wire: WireType,
    /// The body of a length-delimited field (empty for other wire types).
    pub body: &'a [u8],
    /// Offset of `body` in the message.
    pub body_at: usize,
    /// The whole field, key included.
    pub raw: &'a [u8],
}

/// The top-level fields of `bytes`, in order. A malformed field ends the
/// walk with `Err(offset)`. Groups (a deprecated encoding) are skipped
/// whole, as prost skips them.
pub fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields { bytes, at: 0 }
}

pub struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<WireField<'a>, usize>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let start = self.at;
        let mut buf = &self.bytes[start..];
        let field = read_field(&mut buf, 0).map(|(tag, wire, body)| {
            let end = self.bytes.len() - buf.len();
            WireField {
                tag,
                wire,
                body,
                // A length-delimited body ends where its field ends.
                body_at: end - body.len(),
                raw: &self.bytes[start..end],
            }
        });
        match field {
            Some(f) => {
                self.at = self.bytes.len() - buf.len();
                Some(Ok(f))
            }
            None => {
                self.at = self.bytes.len();
                Some(Err(start))
            }
        }
    }
}

/// Reads one field from `buf`: (tag, wire type, body of a length-delimited
/// field, else empty). None when malformed.
fn read_field<'a>(buf: &mut &'a [u8], depth: u32) -> Option<(u32, WireType, &'a [u8])> {
    let (tag, wire) = decode_key(buf).ok()?;
    let mut body: &[u8] = &[];
    match wire {
        WireType::Varint => {
            decode_varint(buf).ok()?;
        }
        WireType::SixtyFourBit => *buf = buf.get(8..)?,
        WireType::ThirtyTwoBit => *buf = buf.get(4..)?,
        WireType::LengthDelimited => {
            let len = usize::try_from(decode_varint(buf).ok()?).ok()?;
            body = buf.get(..len)?;
            *buf = &buf[len..];
        }
        WireType::StartGroup => {
            if depth >= 100 {
                return None;
            }
            // Up to the matching end tag.
            loop {
                let (t, w, _) = read_field(buf, depth + 1)?;
                if w == WireType::EndGroup {
                    if t != tag {
                        return None;
                    }
                    break;
                }
            }
        }
        WireType::EndGroup if depth > 0 => {}
        WireType::EndGroup => return None,
    }
    Some((tag, wire, body))
}

/// The last occurrence of top-level length-delimited field `number` (a
/// string, bytes or message). None when absent or the bytes are malformed.
pub fn field(bytes: &[u8], number: u32) -> Option<&[u8]> {
    let mut found = None;
    for f in fields(bytes) {
        let f = f.ok()?;
        if f.tag == number && f.wire == WireType::LengthDelimited {
            found = Some(f.body);
        }
    }
    found
}

/// Every occurrence of top-level length-delimited field `number` (a
/// repeated field's elements). Empty when the bytes are malformed.
pub fn repeated(bytes: &[u8], number: u32) -> Vec<&[u8]> {
    let mut found = Vec::new();
    for f in fields(bytes) {
        let Ok(f) = f else { return Vec::new() };
        if f.tag == number && f.wire == WireType::LengthDelimited {
            found.push(f.body);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::cluster::v3::Cluster;
    use prost::Message;

    #[test]
    fn reads_top_level_fields() {
        let c = Cluster {
            name: "outbound|443||example.com".into(),
            alt_stat_name: "x".into(),
            ..Default::default()
        };
        let bytes = c.encode_to_vec();
        assert_eq!(field(&bytes, 1), Some(&b"outbound|443||example.com"[..]));
        assert_eq!(field(&bytes, 25), None);
        assert_eq!(field(&bytes[..bytes.len() - 1], 1), None, "truncated");
        let all: Vec<_> = fields(&bytes).map(|f| f.unwrap()).collect();
        assert_eq!(all.iter().map(|f| f.raw.len()).sum::<usize>(), bytes.len());
        assert_eq!(&bytes[all[0].body_at..all[0].body_at + all[0].body.len()], all[0].body);
        // A group on an unknown field is skipped whole; a stray end tag is malformed.
        assert_eq!(
            repeated(&[0x1b, 0x08, 0x01, 0x1c, 0x0a, 0x01, b'a'], 1),
            vec![&b"a"[..]]
        );
        assert!(fields(&[0x1c]).next().unwrap().is_err());
    }
}
