//! Schema-aware repair of one resource's JSON before it is decoded, used only
//! when the strict fast path failed. It walks the JSON beside the message
//! descriptor and makes version skew decodable without losing track of it:
//! unknown fields and unknown enum strings are removed and counted, Anys whose
//! type the pool lacks become `egress_xray.v1.OpaqueExtension` (type URL and
//! body kept), empty Anys `{}` are dropped, v2 type URLs are read as their v3
//! equivalents, and Anys that old admin dumps printed without `@type` get the
//! type their field always held.

use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value};

use super::pool::{self, type_url_name, OPAQUE_EXTENSION};
use super::report::DecodeReport;

const TYPE_PREFIX: &str = "type.googleapis.com/";

/// The number an enum field holds when the dump named a value this Envoy
/// API does not define (protobuf enums are open: the number is kept).
pub const UNKNOWN_ENUM_VALUE: i32 = i32::MAX;

/// How a view shows an enum number its type does not define.
pub fn unknown_enum_label(n: i32) -> String {
    if n == UNKNOWN_ENUM_VALUE {
        "UNKNOWN (a value this Envoy API does not define: see the decode report, XR0004)".to_string()
    } else {
        format!("UNKNOWN({n})")
    }
}

pub fn normalize_message(desc: &MessageDescriptor, value: &mut Value, path: &mut String, report: &mut DecodeReport) {
    if desc.full_name().starts_with("google.protobuf.") {
        // Well-known types have their own JSON forms; only Any needs care and
        // it is handled by the field that holds it.
        return;
    }
    let Value::Object(obj) = value else { return };
    let keys: Vec<String> = obj.keys().cloned().collect();
    for key in keys {
        if key == "@type" {
            continue;
        }
        let field = desc
            .get_field_by_json_name(&key)
            .or_else(|| desc.get_field_by_name(&key));
        let Some(field) = field else {
            report.unknown_field(&join(path, &key), &key);
            obj.remove(&key);
            continue;
        };
        let child = obj.get_mut(&key).expect("key listed above");
        if child.is_null() {
            continue;
        }
        let mark = path.len();
        push_key(path, &key);
        let keep = match field.kind() {
            Kind::Message(m) if field.is_map() => {
                let value_field = m.map_entry_value_field();
                if let (Kind::Message(vm), Value::Object(entries)) = (value_field.kind(), &mut *child) {
                    for (k, v) in entries.iter_mut() {
                        let m2 = path.len();
                        push_key(path, k);
                        normalize_field_value(&vm, desc, field.name(), v, path, report);
                        path.truncate(m2);
                    }
                }
                true
            }
            Kind::Message(m) if field.is_list() => {
                if let Value::Array(items) = child {
                    let mut i = 0usize;
                    items.retain_mut(|item| {
                        let m2 = path.len();
                        path.push_str(&format!("[{i}]"));
                        i += 1;
                        let keep = normalize_field_value(&m, desc, field.name(), item, path, report);
                        path.truncate(m2);
                        keep
                    });
                }
                true
            }
            Kind::Message(m) => normalize_field_value(&m, desc, field.name(), child, path, report),
            Kind::Enum(e) if e.full_name() != "google.protobuf.NullValue" => {
                let known = |v: &Value| match v {
                    Value::String(s) => e.get_value_by_name(s).is_some(),
                    _ => true,
                };
                // An unknown name becomes UNKNOWN_ENUM_VALUE, not the enum's
                // default: views show it as unknown (e.g. a cluster type),
                // never as a confident STATIC or ROUND_ROBIN.
                let mut mark_unknown = |v: &mut Value| {
                    if !known(v) {
                        report.unknown_enum(path, e.full_name(), v.as_str().unwrap_or(""));
                        *v = Value::from(UNKNOWN_ENUM_VALUE);
                    }
                };
                match child {
                    Value::Array(items) => items.iter_mut().for_each(&mut mark_unknown),
                    v => mark_unknown(v),
                }
                true
            }
            Kind::Bytes => {
                match child {
                    Value::Array(items) => items.iter_mut().for_each(|v| repair_bytes(v, path, report)),
                    v => repair_bytes(v, path, report),
                }
                true
            }
            _ => true,
        };
        path.truncate(mark);
        if !keep {
            obj.remove(&key);
        }
    }
}

/// Normalises one value of a message-typed field; returns false when the value
/// must be dropped (an empty Any).
fn normalize_field_value(
    desc: &MessageDescriptor,
    parent: &MessageDescriptor,
    field_name: &str,
    value: &mut Value,
    path: &mut String,
    report: &mut DecodeReport,
) -> bool {
    if desc.full_name() == "google.protobuf.Any" {
        normalize_any(parent, field_name, value, path, report)
    } else {
        normalize_message(desc, value, path, report);
        true
    }
}

fn normalize_any(
    parent: &MessageDescriptor,
    field_name: &str,
    value: &mut Value,
    path: &mut String,
    report: &mut DecodeReport,
) -> bool {
    let Value::Object(obj) = value else {
        return true;
    };
    if obj.is_empty() {
        report.empty_any();
        return false;
    }
    let type_url = match obj.get("@type") {
        Some(Value::String(s)) => s.clone(),
        _ => match inferred_any_type(parent, field_name) {
            Some(name) => {
                let url = format!("{TYPE_PREFIX}{name}");
                obj.insert("@type".into(), Value::String(url.clone()));
                url
            }
            None => String::new(),
        },
    };
    let name = type_url_name(&type_url).to_string();
    let resolved = match pool::message(&name) {
        Some(d) => Some(d),
        None => match v2_to_v3(&name).and_then(|n| pool::message(&n).map(|d| (n, d))) {
            Some((v3, d)) => {
                report.v2_type(&name, &v3);
                obj.insert("@type".into(), Value::String(format!("{TYPE_PREFIX}{v3}")));
                Some(d)
            }
            None => None,
        },
    };
    match resolved {
        Some(d) if d.full_name().starts_with("google.protobuf.") => true,
        Some(d) => {
            normalize_message(&d, value, path, report);
            true
        }
        None => {
            let shown = if type_url.is_empty() {
                "(no @type)".to_string()
            } else {
                type_url.clone()
            };
            report.opaque(path, &shown);
            let mut rest = std::mem::take(obj);
            rest.remove("@type");
            let mut wrapped = Map::new();
            wrapped.insert(
                "@type".into(),
                Value::String(format!("{TYPE_PREFIX}{OPAQUE_EXTENSION}")),
            );
            wrapped.insert("typeUrl".into(), Value::String(type_url));
            wrapped.insert("value".into(), Value::Object(rest));
            *obj = wrapped;
            true
        }
    }
}

/// Old admin dumps (v2alpha) held resources as typed messages, not Anys, so
/// their JSON has no `@type`. The wrapper field names say what they held.
fn inferred_any_type(parent: &MessageDescriptor, field_name: &str) -> Option<&'static str> {
    if !parent.full_name().starts_with("envoy.admin.") {
        return None;
    }
    Some(match field_name {
        "listener" => "envoy.config.listener.v3.Listener",
        "cluster" => "envoy.config.cluster.v3.Cluster",
        "route_config" => "envoy.config.route.v3.RouteConfiguration",
        "scoped_route_configs" => "envoy.config.route.v3.ScopedRouteConfiguration",
        "secret" => "envoy.extensions.transport_sockets.tls.v3.Secret",
        "endpoint_config" => "envoy.config.endpoint.v3.ClusterLoadAssignment",
        _ => return None,
    })
}

/// The v3 name of a v2 message, by Envoy's own v2 → v3 package moves.
pub fn v2_to_v3(name: &str) -> Option<String> {
    let fixed = match name {
        "envoy.api.v2.Cluster" => Some("envoy.config.cluster.v3.Cluster"),
        "envoy.api.v2.Listener" => Some("envoy.config.listener.v3.Listener"),
        "envoy.api.v2.RouteConfiguration" => Some("envoy.config.route.v3.RouteConfiguration"),
        "envoy.api.v2.ScopedRouteConfiguration" => Some("envoy.config.route.v3.ScopedRouteConfiguration"),
        "envoy.api.v2.ClusterLoadAssignment" => Some("envoy.config.endpoint.v3.ClusterLoadAssignment"),
        "envoy.api.v2.auth.Secret" => Some("envoy.extensions.transport_sockets.tls.v3.Secret"),
        "envoy.api.v2.auth.UpstreamTlsContext" => Some("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"),
        "envoy.api.v2.auth.DownstreamTlsContext" => {
            Some("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext")
        }
        "envoy.config.bootstrap.v2.Bootstrap" => Some("envoy.config.bootstrap.v3.Bootstrap"),
        "envoy.config.accesslog.v2.FileAccessLog" => Some("envoy.extensions.access_loggers.file.v3.FileAccessLog"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    if let Some(rest) = name.strip_prefix("envoy.admin.v2alpha.") {
        return Some(format!("envoy.admin.v3.{rest}"));
    }
    for kind in ["network", "http", "listener"] {
        let prefix = format!("envoy.config.filter.{kind}.");
        if let Some(rest) = name.strip_prefix(&prefix) {
            // <filter>.v2.<Message> or <filter>.v2alpha.<Message>
            let mut parts: Vec<&str> = rest.split('.').collect();
            if parts.len() >= 3 {
                let v = parts.len() - 2;
                if parts[v].starts_with("v2") {
                    parts[v] = "v3";
                    return Some(format!("envoy.extensions.filters.{kind}.{}", parts.join(".")));
                }
            }
        }
    }
    None
}

/// Bytes must be base64; some tools write redaction markers like
/// `[redacted]` instead. Keep the text (as its own bytes) and say so.
fn repair_bytes(value: &mut Value, path: &str, report: &mut DecodeReport) {
    use base64::Engine;
    let Value::String(s) = value else { return };
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    if engines.iter().any(|e| e.decode(s.as_bytes()).is_ok()) {
        return;
    }
    report.invalid_bytes(path, s);
    *s = base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
