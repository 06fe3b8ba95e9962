//! What decoding had to skip or reinterpret to read a dump from another
//! Envoy/Istio version. Nothing here is an error; all of it is shown to the user.

use std::collections::BTreeMap;

use serde::Serialize;

/// How many examples of each kind are kept with their JSON path (per kind,
/// so that many skipped fields never crowd out the one dropped enum value a
/// finding quotes).
const MAX_EXAMPLES: usize = 20;

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct DecodeReport {
    /// Fields the descriptor pool does not define, skipped.
    pub unknown_fields: usize,
    /// Distinct unknown field names with their counts.
    pub unknown_field_names: BTreeMap<String, usize>,
    /// Any-typed objects whose `@type` the pool lacks, kept as opaque
    /// extensions: type URL → count.
    pub opaque_extensions: BTreeMap<String, usize>,
    /// Enum strings the pool does not define (they would otherwise silently
    /// become the enum's default value), dropped.
    pub unknown_enum_values: usize,
    /// Empty Any objects (`{}`), which Envoy prints for unset typed configs.
    pub empty_anys: usize,
    /// Bytes fields that were not base64 (e.g. a `[redacted]` marker), kept
    /// as the bytes of their text.
    pub invalid_bytes: usize,
    /// v2 type URLs read as their v3 equivalents: "v2 → v3" → count.
    pub v2_type_urls: BTreeMap<String, usize>,
    /// v2 fields read as the v3 fields that replaced them (`Cluster.tls_context
    /// → transport_socket`, a filter's Struct `config` → `typed_config`...):
    /// "from → to" → count.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub v2_fields: BTreeMap<String, usize>,
    /// Resources of a protobuf dump whose bytes do not decode as their
    /// type, left out of the index.
    #[serde(skip_serializing_if = "is_zero")]
    pub undecodable: usize,
    /// Resources the transcoder refused after repair, encoded by
    /// prost-reflect instead, whose map entries (metadata, Struct fields...)
    /// are then in an order that may differ from run to run. Zero on every
    /// dump of the corpus and the samples (tests/it/determinism.rs).
    #[serde(skip_serializing_if = "is_zero")]
    pub unordered_maps: usize,
    /// A line before the dump that is not the dump's (kubectl's
    /// `Defaulted container "istio-proxy" out of: ...`), skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preamble: Option<String>,
    /// What reading the archive the dump came from said (proxies without a
    /// dump, entries passed over, a dump taken without include_eds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub archive_notes: Vec<String>,
    /// Example locations, at most MAX_EXAMPLES of each kind.
    pub examples: Vec<ReportExample>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportExample {
    pub kind: &'static str,
    pub path: String,
    pub detail: String,
}

impl DecodeReport {
    pub fn is_clean(&self) -> bool {
        self.unknown_fields == 0
            && self.opaque_extensions.is_empty()
            && self.unknown_enum_values == 0
            && self.empty_anys == 0
            && self.invalid_bytes == 0
            && self.v2_type_urls.is_empty()
            && self.v2_fields.is_empty()
            && self.undecodable == 0
    }

    pub fn opaque_total(&self) -> usize {
        self.opaque_extensions.values().sum()
    }

    fn example(&mut self, kind: &'static str, path: &str, detail: String) {
        if self.examples.iter().filter(|e| e.kind == kind).count() < MAX_EXAMPLES {
            self.examples.push(ReportExample {
                kind,
                path: path.to_string(),
                detail,
            });
        }
    }

    pub fn unknown_field(&mut self, path: &str, name: &str) {
        self.unknown_fields += 1;
        *self.unknown_field_names.entry(name.to_string()).or_default() += 1;
        self.example("unknown field", path, name.to_string());
    }

    pub fn opaque(&mut self, path: &str, type_url: &str) {
        *self.opaque_extensions.entry(type_url.to_string()).or_default() += 1;
        self.example("opaque extension", path, type_url.to_string());
    }

    pub fn unknown_enum(&mut self, path: &str, enum_name: &str, value: &str) {
        self.unknown_enum_values += 1;
        self.example("unknown enum value", path, format!("{value} (enum {enum_name})"));
    }

    pub fn empty_any(&mut self) {
        self.empty_anys += 1;
    }

    pub fn invalid_bytes(&mut self, path: &str, text: &str) {
        self.invalid_bytes += 1;
        let shown: String = text.chars().take(40).collect();
        self.example("bytes not base64", path, shown);
    }

    /// `n` resources of `type_name` that do not decode, left out.
    pub fn undecodable(&mut self, n: usize, type_name: &str) {
        if n == 0 {
            return;
        }
        self.undecodable += n;
        self.example("resource does not decode", type_name, format!("{n} left out"));
    }

    pub fn v2_field(&mut self, path: &str, from: &str, to: &str) {
        let key = format!("{from} → {to}");
        *self.v2_fields.entry(key.clone()).or_default() += 1;
        self.example("v2 field", path, key);
    }

    pub fn v2_type(&mut self, from: &str, to: &str) {
        *self.v2_type_urls.entry(format!("{from} → {to}")).or_default() += 1;
    }

    pub fn merge(&mut self, other: DecodeReport) {
        self.unknown_fields += other.unknown_fields;
        for (k, v) in other.unknown_field_names {
            *self.unknown_field_names.entry(k).or_default() += v;
        }
        for (k, v) in other.opaque_extensions {
            *self.opaque_extensions.entry(k).or_default() += v;
        }
        self.unknown_enum_values += other.unknown_enum_values;
        self.empty_anys += other.empty_anys;
        self.invalid_bytes += other.invalid_bytes;
        self.undecodable += other.undecodable;
        self.unordered_maps += other.unordered_maps;
        for (k, v) in other.v2_type_urls {
            *self.v2_type_urls.entry(k).or_default() += v;
        }
        for (k, v) in other.v2_fields {
            *self.v2_fields.entry(k).or_default() += v;
        }
        for e in other.examples {
            self.example(e.kind, &e.path, e.detail);
        }
    }

    /// One line: "2 unknown fields, 14 opaque extensions (3 types: a, b, c)".
    pub fn one_line(&self) -> String {
        let mut parts = Vec::new();
        if self.preamble.is_some() {
            parts.push("kubectl's preamble line before the JSON".to_string());
        }
        if self.is_clean() {
            return parts.pop().unwrap_or_else(|| "nothing skipped".to_string());
        }
        if self.unknown_fields > 0 {
            parts.push(format!(
                "{} unknown field{} ({})",
                self.unknown_fields,
                plural(self.unknown_fields),
                self.unknown_field_names
                    .keys()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.opaque_extensions.is_empty() {
            let types: Vec<&str> = self
                .opaque_extensions
                .keys()
                .map(|u| super::pool::type_url_name(u))
                .collect();
            parts.push(format!(
                "{} opaque extension{} ({} type{}: {})",
                self.opaque_total(),
                plural(self.opaque_total()),
                types.len(),
                plural(types.len()),
                types.join(", ")
            ));
        }
        if self.unknown_enum_values > 0 {
            parts.push(format!(
                "{} unknown enum value{}",
                self.unknown_enum_values,
                plural(self.unknown_enum_values)
            ));
        }
        if self.empty_anys > 0 {
            parts.push(format!(
                "{} empty typed config{}",
                self.empty_anys,
                plural(self.empty_anys)
            ));
        }
        if self.invalid_bytes > 0 {
            parts.push(format!(
                "{} bytes value{} not base64 (kept as text)",
                self.invalid_bytes,
                plural(self.invalid_bytes)
            ));
        }
        if !self.v2_type_urls.is_empty() {
            let n: usize = self.v2_type_urls.values().sum();
            parts.push(format!("{n} v2 resource{} read as v3", plural(n)));
        }
        if !self.v2_fields.is_empty() {
            let n: usize = self.v2_fields.values().sum();
            let kinds: Vec<&str> = self.v2_fields.keys().take(3).map(String::as_str).collect();
            parts.push(format!("{n} v2 field{} read as v3 ({})", plural(n), kinds.join("; ")));
        }
        if self.undecodable > 0 {
            parts.push(format!(
                "{} resource{} that do not decode (left out)",
                self.undecodable,
                plural(self.undecodable)
            ));
        }
        parts.join(", ")
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
