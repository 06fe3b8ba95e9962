//! Semantic diff of two dumps: resources matched by type and name; for a
//! changed one, the changed fields as proto paths with old and new values.
//! Order Envoy ignores (filter chains, virtual hosts, domains, endpoints) is
//! compared as a set; order that changes behaviour (routes, filters) is a
//! change and said so. Equal resources are found by comparing the decoded
//! messages, so only changed ones are rendered to JSON.

use std::collections::BTreeMap;

use prost::{Message, Name};
use prost_reflect::DynamicMessage;
use serde::Serialize;
use serde_json::Value;

use crate::model::{Index, Lazy, RouteOrigin, State};

#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub old: Value,
    pub new: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `listener`, `route`, `cluster`, `endpoint`, `secret`, `ecds`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// For `changed`: the differing fields.
    pub fields: Vec<FieldChange>,
    /// State on each side when it differs (`warming` → `active`).
    pub state: Option<(String, String)>,
    /// The resource's state in A and in B (null on the side that lacks it):
    /// an added listener may be added only as a rejected entry.
    pub state_a: Option<&'static str>,
    pub state_b: Option<&'static str>,
    /// With `--text`: a unified diff of the two canonical JSON renderings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    /// Section → (version in A, version in B), shown once instead of per resource.
    pub versions: BTreeMap<String, (String, String)>,
    pub changes: Vec<Change>,
    /// Per type: (added, removed, changed).
    pub stat: BTreeMap<&'static str, (usize, usize, usize)>,
}

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Field paths to ignore: a prefix, `*` matching one segment.
    pub ignore: Vec<String>,
    /// Treat each dump's own pod name, IP and namespace as equal.
    pub normalize_node: bool,
    /// Add unified text diffs of changed resources.
    pub text: bool,
}

/// One resource on one side: its state and message.
struct Item<'a> {
    state: State,
    message: Option<Msg<'a>>,
}

/// A resource message, borrowed from the index: compared with `==` (map
/// order does not matter) and rendered only when it differs.
#[derive(Clone, PartialEq)]
enum Msg<'a> {
    Listener(&'a Lazy<envoy_types::pb::envoy::config::listener::v3::Listener>),
    Cluster(&'a Lazy<envoy_types::pb::envoy::config::cluster::v3::Cluster>),
    Route(&'a Lazy<envoy_types::pb::envoy::config::route::v3::RouteConfiguration>),
    Endpoint(&'a Lazy<envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment>),
    /// Secrets (serial and validity) and ECDS configs (type), as text.
    Text(String),
}

impl Msg<'_> {
    /// (message type, protobuf bytes) for rendering.
    fn encoded(&self) -> (String, Vec<u8>) {
        fn e<T: Message + Name + Default + Clone + PartialEq>(m: &Lazy<T>) -> (String, Vec<u8>) {
            (T::full_name(), m.encoded().into_owned())
        }
        match self {
            Msg::Listener(m) => e(*m),
            Msg::Cluster(m) => e(*m),
            Msg::Route(m) => e(*m),
            Msg::Endpoint(m) => e(*m),
            Msg::Text(t) => ("text".into(), t.clone().into_bytes()),
        }
    }
}

/// Resources by (type, name). A name is not unique in every dump: a listener
/// can be active and warming at once, and inline route configurations of
/// unnamed static listeners share the empty name. All are kept.
type Items<'a> = BTreeMap<(&'static str, String), Vec<Item<'a>>>;

fn items<'a>(ix: &'a Index, normalize: &dyn Fn(&str) -> String) -> Items<'a> {
    let mut m: Items = BTreeMap::new();
    let mut put = |kind: &'static str, name: String, state: State, message: Option<Msg<'a>>| {
        m.entry((kind, normalize(&name)))
            .or_default()
            .push(Item { state, message });
    };
    for l in &ix.listeners {
        put("listener", l.name.clone(), l.state, l.lazy.as_ref().map(Msg::Listener));
    }
    for c in &ix.clusters {
        put("cluster", c.name.clone(), c.state, Some(Msg::Cluster(&c.lazy)));
    }
    for r in &ix.route_configs {
        let name = match &r.origin {
            RouteOrigin::Inline { listener, filter_chain } => format!("inline {listener} {filter_chain}"),
            _ => r.name.clone(),
        };
        put("route", name, r.state, Some(Msg::Route(&r.lazy)));
    }
    for e in &ix.endpoints {
        put(
            "endpoint",
            e.cluster_name.clone(),
            e.state,
            Some(Msg::Endpoint(&e.lazy)),
        );
    }
    let secrets = super::secrets::secrets(ix, None);
    for s in &ix.secrets {
        // Certificates are compared by serial and validity, not bytes.
        let summary: Vec<String> = secrets
            .iter()
            .filter(|v| v.name == s.name)
            .map(|v| {
                format!(
                    "{} serial {} valid {} .. {}",
                    v.kind,
                    v.serial,
                    v.not_before.clone().unwrap_or_default(),
                    v.not_after.clone().unwrap_or_default()
                )
            })
            .collect();
        put("secret", s.name.clone(), s.state, Some(Msg::Text(summary.join("; "))));
    }
    for e in &ix.ecds {
        put(
            "ecds",
            e.name.clone(),
            State::Active,
            Some(Msg::Text(format!("type {}", e.type_url))),
        );
    }
    m
}

/// The node-specific strings of a dump (pod, IP, namespace), longest first.
/// What `--normalize-node` rewrites: the proxy's own pod name and IP, which
/// are the proxy's alone (a sidecar's inbound listener `10.44.0.13_9080`).
/// Never its namespace or service cluster name: those also name other
/// services' resources (`outbound|443||x.<namespace>.svc...`), and
/// rewriting them merged unrelated resources.
fn node_words(ix: &Index) -> Vec<(String, &'static str)> {
    let Some(id) = &ix.identity else { return Vec::new() };
    let mut v: Vec<(String, &'static str)> = Vec::new();
    if let Some(p) = &id.pod {
        v.push((p.clone(), "<pod>"));
    }
    if let Some(ip) = &id.ip {
        v.push((ip.clone(), "<ip>"));
    }
    v.retain(|(w, _)| w.len() >= 3);
    v.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
    v
}

fn replace_words(s: &str, words: &[(String, &'static str)]) -> String {
    let mut out = s.to_string();
    for (w, with) in words {
        if out.contains(w.as_str()) {
            out = out.replace(w.as_str(), with);
        }
    }
    out
}

pub fn diff(a: &Index, b: &Index, opts: &DiffOptions) -> DiffReport {
    let (wa, wb) = if opts.normalize_node {
        (node_words(a), node_words(b))
    } else {
        (Vec::new(), Vec::new())
    };
    let ia = items(a, &|s| replace_words(s, &wa));
    let ib = items(b, &|s| replace_words(s, &wb));
    let mut changes = Vec::new();
    let mut keys: Vec<&(&'static str, String)> = ia.keys().chain(ib.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (kind, name) = (key.0, key.1.clone());
        let none = Vec::new();
        let (xs, ys) = (ia.get(key).unwrap_or(&none), ib.get(key).unwrap_or(&none));
        let several = xs.len() > 1 || ys.len() > 1;
        for pair in pair_items(xs, ys, &wa, &wb) {
            // Several resources under one name are told apart by their state.
            let label = |it: &Item| {
                if several {
                    format!("{name} ({})", it.state.as_str())
                } else {
                    name.clone()
                }
            };
            match pair {
                (Some(x), None) => changes.push(Change {
                    kind,
                    name: label(x),
                    change: "removed",
                    fields: Vec::new(),
                    state: None,
                    state_a: Some(x.state.as_str()),
                    state_b: None,
                    text: None,
                }),
                (None, Some(y)) => changes.push(Change {
                    kind,
                    name: label(y),
                    change: "added",
                    fields: Vec::new(),
                    state: None,
                    state_a: None,
                    state_b: Some(y.state.as_str()),
                    text: None,
                }),
                (Some(x), Some(y)) => {
                    let state =
                        (x.state != y.state).then(|| (x.state.as_str().to_string(), y.state.as_str().to_string()));
                    let same = x.message == y.message;
                    if same && !opts.normalize_node && state.is_none() {
                        continue;
                    }
                    let ja = x.message.as_ref().map(|m| canonical(m, &wa)).unwrap_or(Value::Null);
                    let jb = y.message.as_ref().map(|m| canonical(m, &wb)).unwrap_or(Value::Null);
                    let mut fields = Vec::new();
                    diff_values(&ja, &jb, "", &mut fields);
                    fields.retain(|f| !ignored(&f.path, &opts.ignore));
                    if fields.is_empty() && state.is_none() {
                        continue;
                    }
                    let text = opts.text.then(|| unified(&ja, &jb, &name));
                    changes.push(Change {
                        kind,
                        name: label(x),
                        change: "changed",
                        fields,
                        state,
                        state_a: Some(x.state.as_str()),
                        state_b: Some(y.state.as_str()),
                        text,
                    });
                }
                (None, None) => {}
            }
        }
    }
    let mut stat: BTreeMap<&'static str, (usize, usize, usize)> = BTreeMap::new();
    for c in &changes {
        let e = stat.entry(c.kind).or_default();
        match c.change {
            "added" => e.0 += 1,
            "removed" => e.1 += 1,
            _ => e.2 += 1,
        }
    }
    let mut versions = BTreeMap::new();
    for k in a.section_versions.keys().chain(b.section_versions.keys()) {
        let va = a.section_versions.get(k).cloned().unwrap_or_default();
        let vb = b.section_versions.get(k).cloned().unwrap_or_default();
        versions.insert(k.trim_end_matches("ConfigDump").to_string(), (va, vb));
    }
    DiffReport {
        a: a.source.clone(),
        b: b.source.clone(),
        versions,
        changes,
        stat,
    }
}

/// Pairs the resources one name has on each side. One each: that pair.
/// Several (rare): equal ones first, then by state, then the rest in the
/// order of their canonical JSON, so that the pairing depends on what the
/// resources are, never on where they stand in the files.
fn pair_items<'x, 'a>(
    xs: &'x [Item<'a>],
    ys: &'x [Item<'a>],
    wa: &[(String, &'static str)],
    wb: &[(String, &'static str)],
) -> Vec<(Option<&'x Item<'a>>, Option<&'x Item<'a>>)> {
    if xs.len() <= 1 && ys.len() <= 1 {
        return vec![(xs.first(), ys.first())];
    }
    let sorted = |items: &'x [Item<'a>], words: &[(String, &'static str)]| {
        let mut v: Vec<(&'x Item<'a>, String)> = items
            .iter()
            .map(|it| {
                let json = it.message.as_ref().map(|m| canonical(m, words).to_string());
                (it, json.unwrap_or_default())
            })
            .collect();
        v.sort_by(|a, b| (a.0.state, &a.1).cmp(&(b.0.state, &b.1)));
        v
    };
    let (mut left, mut right) = (sorted(xs, wa), sorted(ys, wb));
    let mut pairs = Vec::new();
    // Equal resources in the same state.
    left.retain(
        |(x, jx)| match right.iter().position(|(y, jy)| x.state == y.state && jx == jy) {
            Some(at) => {
                let (y, _) = right.remove(at);
                pairs.push((Some(*x), Some(y)));
                false
            }
            None => true,
        },
    );
    // Then the same state, then anything, in canonical order.
    for same_state in [true, false] {
        left.retain(
            |(x, _)| match right.iter().position(|(y, _)| !same_state || x.state == y.state) {
                Some(at) => {
                    let (y, _) = right.remove(at);
                    pairs.push((Some(*x), Some(y)));
                    false
                }
                None => true,
            },
        );
    }
    pairs.extend(left.into_iter().map(|(x, _)| (Some(x), None)));
    pairs.extend(right.into_iter().map(|(y, _)| (None, Some(y))));
    pairs
}

/// The message as proto3 JSON with every Any expanded.
fn canonical(m: &Msg, words: &[(String, &'static str)]) -> Value {
    let (type_name, bytes) = m.encoded();
    let value = match crate::input::pool::message(&type_name) {
        Some(desc) => DynamicMessage::decode(desc, bytes.as_slice())
            .ok()
            .and_then(|d| serde_json::to_value(&d).ok())
            .unwrap_or(Value::Null),
        None => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
    };
    if words.is_empty() {
        value
    } else {
        normalize_strings(value, words)
    }
}

fn normalize_strings(v: Value, words: &[(String, &'static str)]) -> Value {
    match v {
        Value::String(s) => Value::String(replace_words(&s, words)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| normalize_strings(x, words)).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, normalize_strings(x, words))).collect()),
        other => other,
    }
}

/// Lists whose order Envoy ignores, and how their items are identified.
fn set_identity(field: &str) -> Option<&'static [&'static str]> {
    Some(match field {
        "filterChains" => &["name", "filterChainMatch"],
        "virtualHosts" => &["name"],
        "endpoints" => &["locality", "priority"],
        "lbEndpoints" => &["endpoint"],
        "domains"
        | "serverNames"
        | "applicationProtocols"
        | "prefixRanges"
        | "sourcePrefixRanges"
        | "sourcePorts"
        | "transportSocketMatches" => &[],
        _ => return None,
    })
}

/// Lists whose order is behaviour: a reorder is reported as such.
fn ordered(field: &str) -> bool {
    matches!(
        field,
        "routes" | "filters" | "httpFilters" | "listenerFilters" | "clusters" | "retryHostPredicate"
    )
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn diff_values(a: &Value, b: &Value, path: &str, out: &mut Vec<FieldChange>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = join(path, k);
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => {
                        if let (Value::Array(la), Value::Array(lb)) = (va, vb) {
                            diff_list(k, la, lb, &p, out);
                        } else {
                            diff_values(va, vb, &p, out);
                        }
                    }
                    (va, vb) => out.push(FieldChange {
                        path: p,
                        old: va.cloned().unwrap_or(Value::Null),
                        new: vb.cloned().unwrap_or(Value::Null),
                    }),
                }
            }
        }
        _ => out.push(FieldChange {
            path: path.to_string(),
            old: a.clone(),
            new: b.clone(),
        }),
    }
}

fn item_key(v: &Value, ids: &[&str]) -> String {
    if ids.is_empty() {
        return v.to_string();
    }
    for id in ids {
        if let Some(x) = v.get(*id).filter(|x| !x.is_null() && x.as_str() != Some("")) {
            return format!("{id}={}", x.as_str().map_or_else(|| x.to_string(), str::to_string));
        }
    }
    v.to_string()
}

fn diff_list(field: &str, a: &[Value], b: &[Value], path: &str, out: &mut Vec<FieldChange>) {
    if let Some(ids) = set_identity(field) {
        let ka: BTreeMap<String, &Value> = a.iter().map(|v| (item_key(v, ids), v)).collect();
        let kb: BTreeMap<String, &Value> = b.iter().map(|v| (item_key(v, ids), v)).collect();
        if ids.is_empty() {
            // A set of plain values: report it whole when it differs as a set.
            let sa: Vec<&String> = ka.keys().collect();
            let sb: Vec<&String> = kb.keys().collect();
            if sa != sb {
                out.push(FieldChange {
                    path: path.to_string(),
                    old: Value::Array(ka.values().map(|v| (*v).clone()).collect()),
                    new: Value::Array(kb.values().map(|v| (*v).clone()).collect()),
                });
            }
            return;
        }
        let mut keys: Vec<&String> = ka.keys().chain(kb.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let p = format!("{path}[{}]", short_key(k));
            match (ka.get(k), kb.get(k)) {
                (Some(x), Some(y)) => diff_values(x, y, &p, out),
                (x, y) => out.push(FieldChange {
                    path: p,
                    old: x.map(|v| (*v).clone()).unwrap_or(Value::Null),
                    new: y.map(|v| (*v).clone()).unwrap_or(Value::Null),
                }),
            }
        }
        return;
    }
    if ordered(field) && a.len() == b.len() && a != b {
        let mut sa: Vec<String> = a.iter().map(Value::to_string).collect();
        let mut sb: Vec<String> = b.iter().map(Value::to_string).collect();
        sa.sort();
        sb.sort();
        if sa == sb {
            out.push(FieldChange {
                path: format!("{path} (order)"),
                old: Value::String(format!("{} items in the old order", a.len())),
                new: Value::String("the same items reordered: Envoy evaluates them in order".into()),
            });
            return;
        }
    }
    for i in 0..a.len().max(b.len()) {
        let p = format!("{path}[{i}]");
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => diff_values(x, y, &p, out),
            (x, y) => out.push(FieldChange {
                path: p,
                old: x.cloned().unwrap_or(Value::Null),
                new: y.cloned().unwrap_or(Value::Null),
            }),
        }
    }
}

/// A set item's key shortened for a path (`name=x`, or a hash-like prefix).
fn short_key(k: &str) -> String {
    if k.len() <= 80 {
        k.to_string()
    } else {
        format!("{}…", k.chars().take(77).collect::<String>())
    }
}

/// Whether `path` is covered by an --ignore pattern (prefix, `*` = one segment).
fn ignored(path: &str, patterns: &[String]) -> bool {
    let segs = segments(path);
    patterns.iter().any(|p| {
        let ps: Vec<&str> = p.split('.').collect();
        ps.len() <= segs.len()
            && ps.iter().zip(&segs).all(|(want, have)| {
                *want == "*"
                    || *want == *have
                    || have.split('[').next() == Some(*want)
                    || camel(want) == have.split('[').next().unwrap_or("")
            })
    })
}

/// A path's segments, dots inside `[...]` keys kept.
fn segments(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in path.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                out.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&path[start..]);
    out
}

/// `idle_timeout` → `idleTimeout` (paths are in proto3 JSON names).
fn camel(s: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn unified(a: &Value, b: &Value, name: &str) -> String {
    let ta = serde_json::to_string_pretty(a).unwrap_or_default();
    let tb = serde_json::to_string_pretty(b).unwrap_or_default();
    similar::TextDiff::from_lines(&ta, &tb)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_sets_and_order() {
        let mut out = Vec::new();
        let a = json!({"filterChains": [{"name": "a", "filters": [{"name": "x"}, {"name": "y"}]}, {"name": "b"}],
                       "virtualHosts": [{"name": "v", "domains": ["b", "a"], "routes": [{"m": 1}, {"m": 2}]}]});
        let b = json!({"filterChains": [{"name": "b"}, {"name": "a", "filters": [{"name": "y"}, {"name": "x"}]}],
                       "virtualHosts": [{"name": "v", "domains": ["a", "b"], "routes": [{"m": 2}, {"m": 1}]}]});
        diff_values(&a, &b, "", &mut out);
        let paths: Vec<&str> = out.iter().map(|f| f.path.as_str()).collect();
        // Chain and domain order do not matter; filter and route order do.
        assert_eq!(
            paths,
            [
                "filterChains[name=a].filters (order)",
                "virtualHosts[name=v].routes (order)"
            ]
        );
    }

    #[test]
    fn ignore_patterns() {
        assert!(ignored(
            "filterChains[name=0.0.0.0_8443].filters[1].typedConfig.idleTimeout",
            &["filterChains.*.typedConfig.idle_timeout".into()]
        ));
        assert!(ignored("metadata.filterMetadata", &["metadata".into()]));
        assert!(!ignored("name", &["metadata".into()]));
    }
}
