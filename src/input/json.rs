//! JSON (and YAML, via JSON) config dumps → `envoy.admin.v3.ConfigDump`.
//!
//! The document is split with borrowed `RawValue`s down to single resources
//! (one cluster, one listener...) — in one pass for the common
//! `{"configs": [...]}` shape — and each resource is decoded on its own, in
//! parallel: first by the streaming transcoder (`transcode`), then strictly
//! into a `DynamicMessage`; if both fail (version skew), through a
//! `serde_json::Value` repaired by `normalize` with every repair counted. A section's protobuf encoding is the
//! concatenation of its fields' encodings, so resources decoded on different
//! threads (with different descriptor pools) never have to meet as objects.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::section::{Section, SectionItem};
use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, Kind};
use rayon::prelude::*;
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::InputError;
use super::normalize::{normalize_message, v2_to_v3};
use super::pool::{self, type_url_name};
use super::report::DecodeReport;

static FAST_PATH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the streaming transcoder off, leaving only the DynamicMessage
/// paths; for the test that checks both give the same messages.
#[doc(hidden)]
pub fn set_fast_path(on: bool) {
    FAST_PATH.store(on, std::sync::atomic::Ordering::Relaxed);
}

const STRICT: DeserializeOptions = DeserializeOptions::new();
const LENIENT: DeserializeOptions = DeserializeOptions::new().deny_unknown_fields(false);
const TYPE_PREFIX: &str = "type.googleapis.com/";

/// One dump found in a document, before it is indexed.
pub struct JsonDump {
    /// Where in the document the dump was (`default/eg` for wrapped shapes).
    pub name: Option<String>,
    pub sections: Vec<Section>,
    pub report: DecodeReport,
    pub shape: &'static str,
}

type RawMap<'a> = BTreeMap<String, &'a RawValue>;

/// Sections as (message type, fields), split down to resources.
type Presplit<'a> = Vec<(String, Vec<(String, SplitField<'a>)>)>;

/// Decodes every dump in a JSON document.
pub fn decode_document(file: &str, text: &str) -> Result<Vec<JsonDump>, InputError> {
    let first = text.trim_start().as_bytes().first().copied();
    match first {
        Some(b'{') => {
            if let Some(sections) = presplit(text) {
                let mut report = DecodeReport::default();
                let mut decoded = Vec::with_capacity(sections.len());
                for (i, (name, fields)) in sections.into_iter().enumerate() {
                    let path = format!("configs[{i}]");
                    decoded.push(decode_split_section(file, &path, &name, fields, &mut report)?);
                }
                return Ok(vec![JsonDump {
                    name: None,
                    sections: decoded,
                    report,
                    shape: "config dump",
                }]);
            }
            let top: RawMap = parse(file, text, "")?;
            decode_object(file, text, top)
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = parse(file, text, "")?;
            decode_resource_list(file, &items)
        }
        _ => Err(InputError::NotADump {
            file: file.into(),
            looks_like: "JSON that is neither an object nor an array".into(),
        }),
    }
}

fn decode_object(file: &str, text: &str, top: RawMap) -> Result<Vec<JsonDump>, InputError> {
    if let Some(configs) = top.get("configs") {
        let (sections, report) = decode_config_dump(file, configs, "")?;
        return Ok(vec![JsonDump {
            name: None,
            sections,
            report,
            shape: "config dump",
        }]);
    }
    if top.contains_key("@type") {
        // One section on its own, e.g. `istioctl proxy-config secret -o json`.
        let mut report = DecodeReport::default();
        let section = decode_section(file, text, "", &mut report)?;
        return Ok(vec![JsonDump {
            name: None,
            sections: section.into_iter().collect(),
            report,
            shape: "config dump section",
        }]);
    }
    if let Some(section) = section_by_fields(&top) {
        // A section printed without `@type`, e.g. `istioctl proxy-config bootstrap -o json`.
        let mut text = format!("{{\"@type\":\"{TYPE_PREFIX}{section}\"");
        for (k, raw) in &top {
            text.push(',');
            text.push_str(&serde_json::to_string(k).expect("string"));
            text.push(':');
            text.push_str(raw.get());
        }
        text.push('}');
        let mut report = DecodeReport::default();
        let section = decode_section(file, &text, "", &mut report)?;
        return Ok(vec![JsonDump {
            name: None,
            sections: section.into_iter().collect(),
            report,
            shape: "config dump section",
        }]);
    }
    // An xDS DiscoveryResponse (a control plane's golden file, captured ADS
    // traffic): its resources, read like a dump's. Delta responses wrap each
    // in a Resource {name, version, resource}.
    let has = |k: &str| top.contains_key(k);
    if let Some(resources) = top.get("resources").filter(|_| {
        [
            "typeUrl",
            "type_url",
            "versionInfo",
            "version_info",
            "nonce",
            "systemVersionInfo",
            "system_version_info",
        ]
        .iter()
        .any(|k| has(k))
    }) {
        let items: Vec<&RawValue> = parse(file, resources.get(), "resources")?;
        let mut inner = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let m: RawMap = parse(file, item.get(), &format!("resources[{i}]"))?;
            inner.push(m.get("resource").copied().unwrap_or(item));
        }
        let mut dumps = decode_resource_list(file, &inner)?;
        for d in &mut dumps {
            d.shape = "xDS discovery response";
        }
        return Ok(dumps);
    }
    for (key, what) in [
        (
            "cluster_statuses",
            "Envoy's /clusters?format=json (cluster and host status)",
        ),
        (
            "listener_statuses",
            "Envoy's /listeners?format=json (listener addresses)",
        ),
    ] {
        if has(key) {
            return Err(InputError::NotADump {
                file: file.into(),
                looks_like: format!(
                    "{what}, not configuration: take the dump with /config_dump?include_eds (istioctl proxy-config all POD -o json)"
                ),
            });
        }
    }
    if let (Some(kind), Some(_)) = (top.get("kind"), top.get("apiVersion")) {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: format!("a Kubernetes manifest (kind: {})", kind.get().trim_matches('"')),
        });
    }
    // Wrapped shapes: egctl's {ns: {pod: dump}}, translate's {xds: {ns/name: dump}}.
    let mut found = Vec::new();
    find_wrapped(file, &top, "", 0, &mut found)?;
    if found.is_empty() {
        let keys: Vec<&str> = top.keys().map(String::as_str).take(8).collect();
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: format!(
                "a JSON object with keys [{}] and no `configs` list anywhere in it",
                keys.join(", ")
            ),
        });
    }
    let mut out = Vec::new();
    for (name, configs) in found {
        let (sections, report) = decode_config_dump(file, configs, &name)?;
        out.push(JsonDump {
            name: Some(name),
            sections,
            report,
            shape: "wrapped config dumps",
        });
    }
    Ok(out)
}

/// The admin section whose fields are exactly the object's keys, if any.
fn section_by_fields(top: &RawMap) -> Option<&'static str> {
    const SECTIONS: [&str; 8] = [
        "envoy.admin.v3.BootstrapConfigDump",
        "envoy.admin.v3.ClustersConfigDump",
        "envoy.admin.v3.ListenersConfigDump",
        "envoy.admin.v3.RoutesConfigDump",
        "envoy.admin.v3.ScopedRoutesConfigDump",
        "envoy.admin.v3.SecretsConfigDump",
        "envoy.admin.v3.EndpointsConfigDump",
        "envoy.admin.v3.EcdsConfigDump",
    ];
    if top.is_empty() {
        return None;
    }
    SECTIONS.into_iter().find(|s| {
        let desc = pool::message(s).expect("admin sections are in the pool");
        top.keys().all(|k| {
            desc.get_field_by_json_name(k)
                .or_else(|| desc.get_field_by_name(k))
                .is_some()
        }) && top.keys().any(|k| k != "version_info" && k != "versionInfo")
    })
}

fn find_wrapped<'a>(
    file: &str,
    map: &RawMap<'a>,
    prefix: &str,
    depth: usize,
    found: &mut Vec<(String, &'a RawValue)>,
) -> Result<(), InputError> {
    if depth > 3 {
        return Ok(());
    }
    for (key, raw) in map {
        if !raw.get().starts_with('{') {
            continue;
        }
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}/{key}")
        };
        let inner: RawMap = parse(file, raw.get(), &name)?;
        if let Some(configs) = inner.get("configs") {
            found.push((name, configs));
        } else {
            find_wrapped(file, &inner, &name, depth + 1, found)?;
        }
    }
    Ok(())
}

/// `configs` is a list of Anys, or (Envoy 1.7) a map of them.
fn decode_config_dump(file: &str, configs: &RawValue, name: &str) -> Result<(Vec<Section>, DecodeReport), InputError> {
    let base = if name.is_empty() {
        String::new()
    } else {
        format!("{name}.")
    };
    let entries: Vec<(String, &RawValue)> = if configs.get().starts_with('[') {
        let list: Vec<&RawValue> = parse(file, configs.get(), &format!("{base}configs"))?;
        list.into_iter()
            .enumerate()
            .map(|(i, r)| (format!("{base}configs[{i}]"), r))
            .collect()
    } else if configs.get().starts_with('{') {
        let map: RawMap = parse(file, configs.get(), &format!("{base}configs"))?;
        map.into_iter()
            .map(|(k, r)| (format!("{base}configs.{k}"), r))
            .collect()
    } else {
        return Err(InputError::Resource {
            file: file.into(),
            path: format!("{base}configs"),
            expected: "a list of config sections".into(),
            msg: format!("found `{}`", short(configs.get())),
        });
    };
    let mut report = DecodeReport::default();
    let mut sections = Vec::new();
    for (path, raw) in entries {
        if let Some(section) = decode_section(file, raw.get(), &path, &mut report)? {
            sections.push(section);
        }
    }
    Ok((sections, report))
}

/// One `configs[i]` entry: an Any holding e.g. a ClustersConfigDump. Its
/// repeated message fields are split and decoded per element in parallel.
fn decode_section(
    file: &str,
    text: &str,
    path: &str,
    report: &mut DecodeReport,
) -> Result<Option<Section>, InputError> {
    let map: RawMap = parse(file, text, path)?;
    let type_url = match map.get("@type").map(|r| serde_json::from_str::<String>(r.get())) {
        Some(Ok(t)) => t,
        _ => {
            return Err(InputError::Resource {
                file: file.into(),
                path: path.into(),
                expected: "a config section with an `@type`".into(),
                msg: "no `@type` string".into(),
            })
        }
    };
    let mut name = type_url_name(&type_url).to_string();
    let mut is_v2 = false;
    if pool::message(&name).is_none() {
        match v2_to_v3(&name).filter(|n| pool::message(n).is_some()) {
            Some(v3) => {
                report.v2_type(&name, &v3);
                name = v3;
                is_v2 = true;
            }
            None => {
                report.opaque(path, &type_url);
                return Ok(None);
            }
        }
    }
    let desc = pool::message(&name).expect("checked above");

    let mut fields: Vec<(String, SplitField)> = Vec::new();
    for (key, raw) in &map {
        if key == "@type" {
            continue;
        }
        if let Some(state) = v2_listener_state(&name, key) {
            // v2alpha kept one list per state; v3 keeps one entry per
            // listener with a field per state.
            let items: Vec<&RawValue> = parse(file, raw.get(), &join(path, key))?;
            let items = items
                .iter()
                .map(|r| Cow::Owned(format!("{{\"{state}\":{}}}", r.get())))
                .collect();
            fields.push(("dynamic_listeners".into(), SplitField::List(items)));
            continue;
        }
        let field = desc.get_field_by_json_name(key).or_else(|| desc.get_field_by_name(key));
        match field {
            Some(f) if f.is_list() && matches!(f.kind(), Kind::Message(_)) && raw.get().starts_with('[') => {
                let Kind::Message(m) = f.kind() else { unreachable!() };
                let items: Vec<&RawValue> = parse(file, raw.get(), &join(path, key))?;
                let mut items: Vec<Cow<str>> = items.into_iter().map(|r| Cow::Borrowed(r.get())).collect();
                if is_v2 {
                    wrap_bare_v2_resources(&m, &mut items);
                }
                fields.push((key.clone(), SplitField::List(items)));
            }
            _ => fields.push((key.clone(), SplitField::Raw(raw))),
        }
    }
    decode_split_section(file, path, &name, fields, report).map(Some)
}

/// A section field once split: a list of resources to decode one by one,
/// or anything else, decoded with the section's remaining fields.
enum SplitField<'a> {
    List(Vec<Cow<'a, str>>),
    Raw(&'a RawValue),
}

/// Decodes a split section of message type `name`: its lists element by
/// element in parallel, the rest as one message; the encodings concatenated.
fn decode_split_section(
    file: &str,
    path: &str,
    name: &str,
    fields: Vec<(String, SplitField)>,
    report: &mut DecodeReport,
) -> Result<Section, InputError> {
    let desc = pool::message(name).expect("section types come from the pool");
    let mut rest = String::from("{");
    let mut lists = Vec::new();
    for (key, value) in fields {
        let field = desc
            .get_field_by_json_name(&key)
            .or_else(|| desc.get_field_by_name(&key));
        match (field, value) {
            (None, _) => report.unknown_field(&join(path, &key), &key),
            (Some(f), SplitField::List(items)) => {
                let Kind::Message(m) = f.kind() else {
                    unreachable!("lists are split only for messages")
                };
                lists.push((f.number(), m.full_name().to_string(), join(path, &key), items));
            }
            (Some(_), SplitField::Raw(raw)) => {
                if rest.len() > 1 {
                    rest.push(',');
                }
                rest.push_str(&serde_json::to_string(&key).expect("string"));
                rest.push(':');
                rest.push_str(raw.get());
            }
        }
    }
    rest.push('}');

    let (head, rest_report) = decode_resource(file, name, &rest, path)?;
    report.merge(rest_report);
    let mut section = Section {
        type_url: format!("{TYPE_PREFIX}{name}"),
        head,
        items: Vec::new(),
    };
    for (number, elem_type, field_path, items) in lists {
        let decoded: Vec<Result<(Vec<u8>, DecodeReport), InputError>> = items
            .par_iter()
            .enumerate()
            .map(|(i, raw)| decode_resource(file, &elem_type, raw, &format!("{field_path}[{i}]")))
            .collect();
        section.items.reserve(decoded.len());
        for item in decoded {
            let (bytes, r) = item?;
            report.merge(r);
            section.items.push(SectionItem { field: number, bytes });
        }
    }
    Ok(section)
}

/// The earliest v2alpha dumps listed bare resources where v3 wraps each one
/// (`static_clusters: [Cluster]` vs `[{cluster: Cluster, last_updated}]`).
fn wrap_bare_v2_resources(elem: &prost_reflect::MessageDescriptor, items: &mut [Cow<str>]) {
    let Some(wrapper) = ["cluster", "listener", "route_config", "secret", "endpoint_config"]
        .into_iter()
        .find(|f| elem.get_field_by_name(f).is_some())
    else {
        return;
    };
    let camel = elem
        .get_field_by_name(wrapper)
        .expect("found above")
        .json_name()
        .to_string();
    for item in items.iter_mut() {
        let Ok(keys) = serde_json::from_str::<RawMap>(item) else {
            continue;
        };
        let wrapped = keys.contains_key(wrapper) || keys.contains_key(&camel);
        if !wrapped && keys.contains_key("name") {
            *item = Cow::Owned(format!("{{\"{wrapper}\":{item}}}"));
        }
    }
}

/// The v3 state field for a v2alpha per-state listener list.
fn v2_listener_state(section: &str, key: &str) -> Option<&'static str> {
    if section != "envoy.admin.v3.ListenersConfigDump" {
        return None;
    }
    Some(match key {
        "dynamic_active_listeners" | "dynamicActiveListeners" => "active_state",
        "dynamic_warming_listeners" | "dynamicWarmingListeners" => "warming_state",
        "dynamic_draining_listeners" | "dynamicDrainingListeners" => "draining_state",
        _ => return None,
    })
}

/// Decodes one message: strictly and streaming if the JSON is clean, else
/// through a normalised `Value`. Returns its protobuf encoding.
pub fn decode_resource(
    file: &str,
    type_name: &str,
    json: &str,
    path: &str,
) -> Result<(Vec<u8>, DecodeReport), InputError> {
    if FAST_PATH.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(plan) = super::plan::message(type_name) {
            if let Ok(bytes) = super::transcode::json_to_proto(&plan, json) {
                return Ok((bytes, DecodeReport::default()));
            }
        }
    }
    let desc = pool::message(type_name).expect("type names come from the pool");
    let mut de = serde_json::Deserializer::from_str(json);
    if let Ok(msg) = DynamicMessage::deserialize_with_options(desc.clone(), &mut de, &STRICT) {
        if de.end().is_ok() {
            let mut report = DecodeReport::default();
            let bytes = deterministic_encoding(type_name, &msg, &mut report);
            return Ok((bytes, report));
        }
    }
    let mut value: Value = serde_json::from_str(json).map_err(|e| json_error(file, json, path, e))?;
    let mut report = DecodeReport::default();
    let mut p = path.to_string();
    normalize_message(&desc, &mut value, &mut p, &mut report);
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(&value, &mut track);
    match DynamicMessage::deserialize_with_options(desc.clone(), de, &LENIENT) {
        Ok(msg) => {
            let bytes = deterministic_encoding(type_name, &msg, &mut report);
            Ok((bytes, report))
        }
        Err(e) => {
            let inner = track.path().to_string();
            let at = if inner == "." || inner.is_empty() {
                path.to_string()
            } else {
                join(path, &inner)
            };
            Err(InputError::Resource {
                file: file.into(),
                path: at,
                expected: type_name.into(),
                msg: e.to_string(),
            })
        }
    }
}

/// The protobuf encoding of a message decoded through `DynamicMessage`, with
/// map entries in key order. prost-reflect keeps map fields (metadata,
/// `typed_per_filter_config`, a Struct's fields...) in a `HashMap` and
/// encodes them in its per-process random order; bytes that differ from run
/// to run would make an Any holding them compare unequal to itself in the
/// next process (issue: `diff X X` reported changes). Going through JSON
/// (serde_json's maps are sorted) and the transcoder gives one encoding.
fn deterministic_encoding(type_name: &str, msg: &DynamicMessage, report: &mut DecodeReport) -> Vec<u8> {
    let options = prost_reflect::SerializeOptions::new().skip_default_fields(true);
    let value = msg.serialize_with_options(serde_json::value::Serializer, &options);
    if let (Ok(value), Some(plan)) = (value, super::plan::message(type_name)) {
        if let Ok(bytes) = super::transcode::json_to_proto(&plan, &value.to_string()) {
            return bytes;
        }
    }
    // Counted (zero on every dump of the corpus and the samples); kept so
    // that a message the transcoder refuses is still read.
    report.unordered_maps += 1;
    msg.encode_to_vec()
}

/// Bare lists printed by `istioctl proxy-config cluster|listener|route -o json`.
fn decode_resource_list(file: &str, items: &[&RawValue]) -> Result<Vec<JsonDump>, InputError> {
    let Some(first) = items.first() else {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: "an empty JSON array: no resources to read".into(),
        });
    };
    let keys: RawMap = parse(file, first.get(), "[0]").map_err(|_| InputError::NotADump {
        file: file.into(),
        looks_like: "a JSON array whose items are not objects".into(),
    })?;
    let has = |names: &[&str]| names.iter().any(|n| keys.contains_key(*n));
    let (section, list_field, wrapper, kind) = if has(&[
        "filter_chains",
        "filterChains",
        "listener_filters",
        "listenerFilters",
        "default_filter_chain",
        "defaultFilterChain",
    ]) {
        (
            "ListenersConfigDump",
            "dynamic_listeners",
            "active_state\":{\"listener",
            "listener list",
        )
    } else if has(&["virtual_hosts", "virtualHosts"]) {
        (
            "RoutesConfigDump",
            "dynamic_route_configs",
            "route_config",
            "route list",
        )
    } else if has(&["host_statuses", "hostStatuses"]) {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: "Envoy's /clusters endpoint status (host_statuses), not config; \
                         take the dump with /config_dump?include_eds instead"
                .into(),
        });
    } else if has(&[
        "connect_timeout",
        "connectTimeout",
        "lb_policy",
        "lbPolicy",
        "type",
        "eds_cluster_config",
        "edsClusterConfig",
        "load_assignment",
        "loadAssignment",
        "transport_socket_matches",
        "transportSocketMatches",
    ]) {
        (
            "ClustersConfigDump",
            "dynamic_active_clusters",
            "cluster",
            "cluster list",
        )
    } else if has(&["cluster_name", "clusterName"]) {
        (
            "EndpointsConfigDump",
            "dynamic_endpoint_configs",
            "endpoint_config",
            "endpoint list",
        )
    } else {
        let names: Vec<&str> = keys.keys().map(String::as_str).take(8).collect();
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: format!(
                "a JSON array of objects with keys [{}], not listeners, clusters or routes",
                names.join(", ")
            ),
        });
    };
    let closing = "}".repeat(wrapper.matches('{').count() + 1);
    let mut text = format!("{{\"@type\":\"{TYPE_PREFIX}envoy.admin.v3.{section}\",\"{list_field}\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!("{{\"{wrapper}\":"));
        text.push_str(item.get());
        text.push_str(&closing);
    }
    text.push_str("]}");
    let mut report = DecodeReport::default();
    let section = decode_section(file, &text, "", &mut report)?;
    Ok(vec![JsonDump {
        name: None,
        sections: section.into_iter().collect(),
        report,
        shape: kind,
    }])
}

fn parse<'a, T: serde::Deserialize<'a>>(file: &str, text: &'a str, path: &str) -> Result<T, InputError> {
    serde_json::from_str(text).map_err(|e| json_error(file, text, path, e))
}

/// A located JSON error. Lines and columns count from the start of `text`,
/// which is the whole document for syntax errors: the top-level split parses
/// (and so validates) everything before any part is decoded.
fn json_error(file: &str, text: &str, path: &str, e: serde_json::Error) -> InputError {
    let inner = if e.is_syntax() || e.is_eof() {
        let mut track = serde_path_to_error::Track::new();
        let mut de = serde_json::Deserializer::from_str(text);
        let wrapped = serde_path_to_error::Deserializer::new(&mut de, &mut track);
        let _ = <Value as serde::Deserialize>::deserialize(wrapped);
        let p = track.path().to_string();
        if p == "." || p == "?" {
            String::new()
        } else {
            p
        }
    } else {
        String::new()
    };
    let full = match (path.is_empty(), inner.is_empty()) {
        (true, _) => inner,
        (false, true) => path.to_string(),
        (false, false) => join(path, &inner),
    };
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    InputError::Json {
        file: file.into(),
        line: e.line(),
        column: e.column(),
        path: Some(full).filter(|p| !p.is_empty()),
        msg,
    }
}

fn join(path: &str, key: &str) -> String {
    match (path.is_empty(), key.starts_with('[')) {
        (true, _) => key.to_string(),
        (false, true) => format!("{path}{key}"),
        (false, false) => format!("{path}.{key}"),
    }
}

fn short(s: &str) -> String {
    let s: String = s.chars().take(40).collect();
    s
}

/// One-pass split of the common shape `{"configs": [{"@type": ..., ...}]}`
/// (admin dumps, `istioctl proxy-config all -o json`): sections, their
/// fields and their resources, in a single scan of the text. None when the
/// document is shaped otherwise (other top-level keys, a section without a
/// leading `@type`, a type the pool lacks such as v2): the general path then
/// splits it level by level.
fn presplit(text: &str) -> Option<Presplit<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let sections = serde::Deserializer::deserialize_map(&mut de, DocumentVisitor).ok()??;
    de.end().ok()?;
    Some(sections)
}

struct DocumentVisitor;

impl<'de> serde::de::Visitor<'de> for DocumentVisitor {
    type Value = Option<Presplit<'de>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a config dump object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut sections = None;
        while let Some(key) = map.next_key_seed(super::transcode::Key)? {
            if key != "configs" || sections.is_some() {
                return Ok(None);
            }
            sections = map.next_value_seed(SectionsSeed)?;
            if sections.is_none() {
                return Ok(None);
            }
        }
        Ok(sections)
    }
}

struct SectionsSeed;

impl<'de> serde::de::DeserializeSeed<'de> for SectionsSeed {
    type Value = Option<Presplit<'de>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for SectionsSeed {
    type Value = Option<Presplit<'de>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of config sections")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let mut ok = true;
        while let Some(section) = seq.next_element_seed(SectionSeed)? {
            match section {
                Some(s) if ok => out.push(s),
                _ => ok = false,
            }
        }
        Ok(ok.then_some(out))
    }
}

struct SectionSeed;

impl<'de> serde::de::DeserializeSeed<'de> for SectionSeed {
    type Value = Option<(String, Vec<(String, SplitField<'de>)>)>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for SectionSeed {
    type Value = Option<(String, Vec<(String, SplitField<'de>)>)>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a config section")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let first = map.next_key_seed(super::transcode::Key)?;
        let desc = if first.as_deref() == Some("@type") {
            let url: Cow<'de, str> = map.next_value_seed(super::transcode::Key)?;
            pool::message(type_url_name(&url))
        } else {
            None
        };
        let Some(desc) = desc else {
            // Drain the section; the general path takes the document.
            if first.is_some() {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            return Ok(None);
        };
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let field = desc
                .get_field_by_json_name(&key)
                .or_else(|| desc.get_field_by_name(&key));
            match field {
                Some(f) if f.is_list() && matches!(f.kind(), Kind::Message(_)) => {
                    let items: Option<Vec<&'de RawValue>> = map.next_value()?;
                    let items = items
                        .unwrap_or_default()
                        .into_iter()
                        .map(|r| Cow::Borrowed(r.get()))
                        .collect();
                    fields.push((key, SplitField::List(items)));
                }
                _ => fields.push((key, SplitField::Raw(map.next_value::<&'de RawValue>()?))),
            }
        }
        Ok(Some((desc.full_name().to_string(), fields)))
    }
}
