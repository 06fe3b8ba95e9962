//! `egress-xray export`: one table per kind for a fleet too big for one
//! screen, each row keyed by proxy and snapshot time, for DuckDB (or Spark,
//! Trino). Rows of one dump at a time: the caller writes them and drops
//! the dump before the next, so memory is bounded by the largest dump, not
//! the fleet. The schema is `docs/export-schema.md`, version
//! [`SCHEMA_VERSION`].

use serde_json::{json, Map, Value};

use crate::model::Index;

/// Bumped when a column changes meaning or goes away (adding one is not a
/// change of version).
pub const SCHEMA_VERSION: u32 = 1;

/// The tables, in the order they are written.
pub const TABLES: &[&str] = &[
    "proxies",
    "listeners",
    "filter_chains",
    "routes",
    "virtual_hosts",
    "clusters",
    "endpoints",
    "secrets",
    "findings",
    "rejections",
];

fn to(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Every table's rows for one dump.
pub fn rows(ix: &Index) -> Vec<(&'static str, Vec<Value>)> {
    let proxy = ix.proxy_name();
    let snapshot = ix
        .latest_update()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    let key = |mut v: Value| -> Value {
        if let Value::Object(m) = &mut v {
            let mut out = Map::new();
            out.insert("schema_version".into(), json!(SCHEMA_VERSION));
            out.insert("proxy".into(), json!(proxy));
            out.insert("snapshot".into(), json!(snapshot));
            for (k, x) in std::mem::take(m) {
                if k != "proxy" {
                    out.insert(k, x);
                }
            }
            return Value::Object(out);
        }
        v
    };
    let id = ix.identity.clone().unwrap_or_default();
    let proxies = vec![key(json!({
        "source": ix.source,
        "node_id": id.node_id,
        "namespace": id.namespace,
        "pod": id.pod,
        "proxy_type": id.proxy_type,
        "envoy_version": id.envoy_version,
        "istio_version": id.istio_version,
        "versions": ix.section_versions,
    }))];
    let listeners = super::inventory::listeners(ix);
    let mut listener_rows = Vec::new();
    let mut chain_rows = Vec::new();
    let mut rejections = Vec::new();
    for l in &listeners {
        let mut v = to(l);
        if let Value::Object(m) = &mut v {
            m.remove("filter_chains");
            m.insert("filter_chain_count".into(), json!(l.filter_chains.len()));
        }
        listener_rows.push(key(v));
        for (i, c) in l.filter_chains.iter().enumerate() {
            let mut v = to(c);
            if let Value::Object(m) = &mut v {
                m.insert("listener".into(), json!(l.name));
                m.insert("listener_state".into(), to(&l.state));
                m.insert("index".into(), json!(i));
            }
            chain_rows.push(key(v));
        }
        if let Some(r) = &l.rejection {
            rejections.push(key(json!({
                "xds_type": "LDS",
                "resource": l.name,
                "details": r.details,
                "last_update_attempt": r.last_update_attempt,
                "source": "dump error_state",
            })));
        }
    }
    let routes = super::routes::routes(ix);
    let mut vhosts: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in &routes {
        if seen.insert((
            r.route_config.clone(),
            r.vhost.clone(),
            to(&r.origin).to_string(),
            r.state,
        )) {
            vhosts.push(key(json!({
                "route_config": r.route_config,
                "origin": r.origin,
                "state": r.state,
                "vhost": r.vhost,
                "domains": r.domains,
            })));
        }
    }
    let findings = super::summary::findings(ix);
    vec![
        ("proxies", proxies),
        ("listeners", listener_rows),
        ("filter_chains", chain_rows),
        ("routes", routes.iter().map(|r| key(to(r))).collect()),
        ("virtual_hosts", vhosts),
        (
            "clusters",
            super::inventory::clusters(ix).iter().map(|c| key(to(c))).collect(),
        ),
        (
            "endpoints",
            super::endpoints::endpoints(ix).iter().map(|e| key(to(e))).collect(),
        ),
        (
            "secrets",
            super::secrets::secrets(ix, None).iter().map(|s| key(to(s))).collect(),
        ),
        ("findings", findings.iter().map(|f| key(to(f))).collect()),
        ("rejections", rejections),
    ]
}
