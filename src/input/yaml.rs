//! YAML to JSON values with a node budget. serde_yaml_ng replays an alias's
//! events every time it is used, so a few kilobytes of anchors and aliases
//! can expand to billions of nodes; counting the nodes as they are built
//! bounds memory by what the text could hold without aliases.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Nodes a text of `len` bytes may expand to: without aliases a node takes
/// at least a byte, so anything beyond that (plus some slack for small
/// anchors) is alias expansion.
pub fn budget_for(len: usize) -> usize {
    len.saturating_add(10_000)
}

/// A deserialize seed that builds a `serde_json::Value` and spends one unit
/// of `left` per node.
#[derive(Clone, Copy)]
pub struct Budgeted<'a> {
    pub left: &'a Cell<usize>,
}

impl Budgeted<'_> {
    fn tick<E: Error>(&self) -> Result<(), E> {
        match self.left.get() {
            0 => Err(E::custom(
                "YAML expands to more nodes than its text holds (anchors and aliases): refused to bound memory",
            )),
            n => {
                self.left.set(n - 1);
                Ok(())
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budgeted<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        self.tick()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        self.tick()?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        self.tick()?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
        self.tick()?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        self.tick()?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
        self.tick()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        self.tick()?;
        Ok(Value::Null)
    }
    fn visit_none<E: Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.tick()?;
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(self)? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.tick()?;
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            self.tick()?;
            let v = map.next_value_seed(self)?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Value, String> {
        let left = Cell::new(budget_for(text.len()));
        Budgeted { left: &left }
            .deserialize(serde_yaml_ng::Deserializer::from_str(text))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_like_serde_json_value_and_refuses_alias_expansion() {
        let plain = "a: 1\nb: [x, 'y', 2.5, true, null]\nc: {d: e}\n";
        let want: Value = serde_yaml_ng::from_str(plain).unwrap();
        assert_eq!(read(plain).unwrap(), want);
        // 50 aliases of a 20,000-item anchor: ~1M nodes from ~100 KB.
        let mut big = format!("a: &a [{}]\nb: [", vec!["x"; 20_000].join(", "));
        big.push_str(&vec!["*a"; 50].join(", "));
        big.push_str("]\n");
        let err = read(&big).unwrap_err();
        assert!(err.contains("more nodes than its text holds"), "{err}");
        // A few small aliases are fine.
        assert!(read("a: &a [1, 2]\nb: *a\nc: *a\n").is_ok());
    }
}
