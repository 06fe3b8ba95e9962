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
    v2_fields(desc.full_name(), obj, path, report);
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
                // v2 Struct configs written from YAML may hold one object
                // where the field is a list; Envoy read it as a list of one.
                if child.is_object() {
                    let one = std::mem::take(child);
                    *child = Value::Array(vec![one]);
                    report.v2_field(path, "one object for a list", "a list of one");
                }
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
            Kind::Message(m) if m.full_name() == "google.protobuf.BoolValue" => {
                coerce_bool(child, path, report);
                true
            }
            Kind::Message(m) => normalize_field_value(&m, desc, field.name(), child, path, report),
            Kind::Bool => {
                coerce_bool(child, path, report);
                true
            }
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
/// v2 fields that v3 replaced, rewritten to their v3 form before the
/// object is read, so that what they say is not lost: TLS contexts become
/// transport sockets, a filter's Struct `config` its `typed_config` (the
/// type its v2 filter name implies), a cluster's `hosts` its
/// `load_assignment`, a node's `build_version` its `user_agent_build_version`.
fn v2_fields(full_name: &str, obj: &mut Map<String, Value>, path: &str, report: &mut DecodeReport) {
    let tls = |obj: &mut Map<String, Value>, ty: &str, report: &mut DecodeReport, what: &str| {
        if obj.contains_key("transport_socket") || obj.contains_key("transportSocket") {
            return;
        }
        let Some(ctx) = obj
            .remove("tls_context")
            .or_else(|| obj.remove("tlsContext"))
            .or_else(|| obj.remove("hidden_envoy_deprecated_tls_context"))
        else {
            return;
        };
        let mut typed = match ctx {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        typed.insert(
            "@type".into(),
            Value::String(format!("{TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.{ty}")),
        );
        let mut socket = Map::new();
        socket.insert("name".into(), Value::String("envoy.transport_sockets.tls".into()));
        socket.insert("typed_config".into(), Value::Object(typed));
        obj.insert("transport_socket".into(), Value::Object(socket));
        report.v2_field(
            &join(path, "tls_context"),
            &format!("{what}.tls_context"),
            &format!("transport_socket ({ty})"),
        );
    };
    match full_name {
        "envoy.config.cluster.v3.Cluster" => {
            tls(obj, "UpstreamTlsContext", report, "Cluster");
            if !obj.contains_key("load_assignment") && !obj.contains_key("loadAssignment") {
                if let Some(Value::Array(hosts)) = obj
                    .remove("hosts")
                    .or_else(|| obj.remove("hidden_envoy_deprecated_hosts"))
                {
                    let name = obj.get("name").cloned().unwrap_or(Value::String(String::new()));
                    let lb: Vec<Value> = hosts
                        .into_iter()
                        .map(|h| serde_json::json!({"endpoint": {"address": h}}))
                        .collect();
                    obj.insert(
                        "load_assignment".into(),
                        serde_json::json!({"cluster_name": name, "endpoints": [{"lb_endpoints": lb}]}),
                    );
                    report.v2_field(&join(path, "hosts"), "Cluster.hosts", "load_assignment");
                }
            }
        }
        "envoy.config.listener.v3.FilterChain" => tls(obj, "DownstreamTlsContext", report, "FilterChain"),
        "envoy.config.listener.v3.Filter"
        | "envoy.config.listener.v3.ListenerFilter"
        | "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter"
        | "envoy.config.trace.v3.Tracing.Http"
        | "envoy.config.accesslog.v3.AccessLog" => {
            if obj.contains_key("typed_config") || obj.contains_key("typedConfig") {
                return;
            }
            let Some(config) = obj
                .remove("config")
                .or_else(|| obj.remove("hidden_envoy_deprecated_config"))
            else {
                return;
            };
            let filter = obj.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            match (v2_filter_type(&filter).filter(|ty| struct_fits(ty, &config)), config) {
                (Some(ty), Value::Object(mut body)) => {
                    body.insert("@type".into(), Value::String(format!("{TYPE_PREFIX}{ty}")));
                    obj.insert("typed_config".into(), Value::Object(body));
                    report.v2_field(
                        &join(path, "config"),
                        "filter config (Struct)",
                        &format!("typed_config ({ty})"),
                    );
                }
                (_, config) => {
                    // A filter the tool has no type for: kept as an opaque
                    // extension (counted), its Struct as the body.
                    let mut any = Map::new();
                    any.insert(
                        "@type".into(),
                        Value::String(format!("{TYPE_PREFIX}google.protobuf.Struct")),
                    );
                    any.insert("value".into(), config);
                    obj.insert("typed_config".into(), Value::Object(any));
                    report.v2_field(
                        &join(path, "config"),
                        "filter config (Struct)",
                        &format!("typed_config (Struct: {filter})"),
                    );
                }
            }
        }
        "envoy.config.core.v3.Node" => {
            if obj.contains_key("user_agent_build_version") || obj.contains_key("userAgentBuildVersion") {
                return;
            }
            let Some(Value::String(bv)) = obj
                .remove("build_version")
                .or_else(|| obj.remove("buildVersion"))
                .or_else(|| obj.remove("hidden_envoy_deprecated_build_version"))
            else {
                return;
            };
            // `<sha>/<version>/<status>/<build type>/<ssl>`, version `1.10.0-dev`
            let version = bv.split('/').nth(1).unwrap_or("");
            let nums: Vec<u64> = version
                .split('.')
                .filter_map(|n| {
                    let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().ok()
                })
                .collect();
            if nums.len() == 3 {
                obj.insert("user_agent_name".into(), Value::String("envoy".into()));
                obj.insert(
                    "user_agent_build_version".into(),
                    serde_json::json!({"version": {"major_number": nums[0], "minor_number": nums[1], "patch": nums[2]}}),
                );
                report.v2_field(
                    &join(path, "build_version"),
                    "Node.build_version",
                    "user_agent_build_version",
                );
            }
        }
        "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext" => {
            if obj.contains_key("match_subject_alt_names") || obj.contains_key("matchSubjectAltNames") {
                return;
            }
            let Some(Value::Array(names)) = obj
                .remove("verify_subject_alt_name")
                .or_else(|| obj.remove("verifySubjectAltName"))
                .or_else(|| obj.remove("hidden_envoy_deprecated_verify_subject_alt_name"))
            else {
                return;
            };
            let matchers: Vec<Value> = names.into_iter().map(|n| serde_json::json!({"exact": n})).collect();
            obj.insert("match_subject_alt_names".into(), Value::Array(matchers));
            report.v2_field(
                &join(path, "verify_subject_alt_name"),
                "verify_subject_alt_name",
                "match_subject_alt_names (exact)",
            );
        }
        _ => {}
    }
}

/// `"true"`/`"false"` where a boolean belongs (v2 Struct configs carry
/// YAML's loosely typed values; Envoy read them as booleans).
fn coerce_bool(v: &mut Value, path: &str, report: &mut DecodeReport) {
    if let Value::String(s) = v {
        if let Ok(b) = s.parse::<bool>() {
            *v = Value::Bool(b);
            report.v2_field(path, "a boolean written as a string", "a boolean");
        }
    }
}

/// Whether a v2 Struct config reads as `ty` (after the same repairs as the
/// rest of the dump). Struct values are loosely typed; one that does not fit
/// is kept as an opaque Struct rather than failing the whole dump.
fn struct_fits(ty: &str, config: &Value) -> bool {
    let Some(desc) = pool::message(ty) else { return false };
    let mut body = config.clone();
    let mut scratch = DecodeReport::default();
    normalize_message(&desc, &mut body, &mut String::new(), &mut scratch);
    prost_reflect::DynamicMessage::deserialize(desc, body).is_ok()
}

/// The v3 type a v2 filter name implies (Istio ≤ 1.4 and Envoy ≤ 1.13
/// wrote Struct `config`s).
fn v2_filter_type(name: &str) -> Option<&'static str> {
    let short = name
        .strip_prefix("envoy.filters.network.")
        .or_else(|| name.strip_prefix("envoy.filters.http."))
        .or_else(|| name.strip_prefix("envoy.filters.listener."))
        .or_else(|| name.strip_prefix("envoy.listener."))
        .or_else(|| name.strip_prefix("envoy."))
        .unwrap_or(name);
    Some(match short {
        "http_connection_manager" => {
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
        }
        "tcp_proxy" => "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "router" => "envoy.extensions.filters.http.router.v3.Router",
        "cors" => "envoy.extensions.filters.http.cors.v3.Cors",
        "fault" => "envoy.extensions.filters.http.fault.v3.HTTPFault",
        "gzip" => "envoy.extensions.filters.http.compressor.v3.Compressor",
        "health_check" => "envoy.extensions.filters.http.health_check.v3.HealthCheck",
        "lua" => "envoy.extensions.filters.http.lua.v3.Lua",
        "rbac" => "envoy.extensions.filters.http.rbac.v3.RBAC",
        "jwt_authn" => "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "ext_authz" => "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "grpc_web" => "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb",
        "tls_inspector" => "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
        "original_dst" => "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
        "http_inspector" => "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
        "mongo_proxy" => "envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy",
        "redis_proxy" => "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy",
        "zipkin" | "tracers.zipkin" => "envoy.config.trace.v3.ZipkinConfig",
        "file_access_log" | "access_loggers.file" => "envoy.extensions.access_loggers.file.v3.FileAccessLog",
        _ => return None,
    })
}

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
