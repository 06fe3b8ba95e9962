//! `egress-xray export`: one table per kind for a fleet too big for one
//! screen, each row keyed by proxy and snapshot time, for DuckDB (or Spark,
//! Trino). Rows of one dump at a time: the caller writes them and drops
//! the dump before the next, so memory is bounded by the largest dump, not
//! the fleet. The schema is `docs/export-schema.md`, version
//! [`SCHEMA_VERSION`].

use serde_json::{json, Value};

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

/// What a column holds, for formats with a schema (Parquet). JSON Lines
/// rows carry the same keys with their JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// UTF-8 text (times are RFC 3339 text, as in the dumps).
    Text,
    /// A whole number.
    Int,
    Bool,
    /// A list of text.
    TextList,
    /// A JSON object kept whole (Parquet's JSON logical type).
    Json,
}

use Column::{Bool, Int, Json, Text, TextList};

/// The three columns every table starts with.
const KEY: [(&str, Column); 3] = [("schema_version", Int), ("proxy", Text), ("snapshot", Text)];

/// Every table's columns after the three of [`KEY`], as in
/// docs/export-schema.md. A row with a key not listed here is an error of
/// ours, reported as such by the writers that need a schema (and caught
/// by the tests over the corpus), never dropped.
pub const COLUMNS: &[(&str, &[(&str, Column)])] = &[
    (
        "proxies",
        &[
            ("source", Text),
            ("node_id", Text),
            ("namespace", Text),
            ("pod", Text),
            ("proxy_type", Text),
            ("envoy_version", Text),
            ("istio_version", Text),
            ("versions", Json),
        ],
    ),
    (
        "listeners",
        &[
            ("name", Text),
            ("address", Text),
            ("addresses", TextList),
            ("port", Int),
            ("state", Text),
            ("version_info", Text),
            ("last_updated", Text),
            ("provenance", Json),
            ("rejection", Json),
            ("listener_filters", TextList),
            ("filter_chain_count", Int),
        ],
    ),
    (
        "filter_chains",
        &[
            ("listener", Text),
            ("listener_state", Text),
            ("index", Int),
            ("name", Text),
            ("is_default", Bool),
            ("match", Text),
            ("destination_port", Int),
            ("prefix_ranges", TextList),
            ("server_names", TextList),
            ("transport_protocol", Text),
            ("application_protocols", TextList),
            ("filters", TextList),
            ("destination", Text),
        ],
    ),
    (
        "routes",
        &[
            ("route_config", Text),
            ("origin", Json),
            ("in_routes_section", Bool),
            ("state", Text),
            ("vhost", Text),
            ("domains", TextList),
            ("domains_summary", Text),
            ("route_name", Text),
            ("match", Text),
            ("conditions", TextList),
            ("action", Text),
            ("clusters", TextList),
            ("virtual_service", Json),
            ("no_routes", Bool),
            ("version_info", Text),
            ("last_updated", Text),
        ],
    ),
    (
        "virtual_hosts",
        &[
            ("route_config", Text),
            ("origin", Json),
            ("state", Text),
            ("vhost", Text),
            ("domains", TextList),
        ],
    ),
    (
        "clusters",
        &[
            ("name", Text),
            ("type", Text),
            ("state", Text),
            ("fqdn", Text),
            ("port", Int),
            ("subset", Text),
            ("direction", Text),
            ("destination_rule", Text),
            ("services", TextList),
            ("version_info", Text),
            ("last_updated", Text),
        ],
    ),
    (
        "endpoints",
        &[
            ("address", Text),
            ("port", Int),
            ("status", Text),
            ("locality", Text),
            ("priority", Int),
            ("weight", Int),
            ("hostname", Text),
            ("cluster", Text),
            ("eds_service", Text),
            ("state", Text),
            ("origin", Text),
            ("version_info", Text),
            ("last_updated", Text),
        ],
    ),
    (
        "secrets",
        &[
            ("name", Text),
            ("state", Text),
            ("version_info", Text),
            ("last_updated", Text),
            ("rejection", Json),
            ("kind", Text),
            ("source", Text),
            ("certificates", Int),
            ("subject", Text),
            ("san", TextList),
            ("trust_domain", Text),
            ("serial", Text),
            ("not_before", Text),
            ("not_after", Text),
            ("judged_at", Text),
            ("valid", Bool),
            ("error", Text),
        ],
    ),
    (
        "findings",
        &[
            ("code", Text),
            ("name", Text),
            ("severity", Text),
            ("resource", Text),
            ("message", Text),
            ("fix", Text),
        ],
    ),
    (
        "rejections",
        &[
            ("xds_type", Text),
            ("resource", Text),
            ("details", Text),
            ("last_update_attempt", Text),
            ("source", Text),
        ],
    ),
];

/// A table's columns, the three key columns first.
pub fn columns(table: &str) -> Vec<(&'static str, Column)> {
    let rest = COLUMNS.iter().find(|(t, _)| *t == table).map_or(&[][..], |(_, c)| *c);
    KEY.iter().chain(rest).copied().collect()
}

fn to(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Every table's rows for one dump.
pub fn rows(ix: &Index) -> Vec<(&'static str, Vec<Value>)> {
    let proxy = ix.proxy_name();
    let snapshot = ix
        .latest_update()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    // A row's own `proxy` (the views carry one) gives way to the table's;
    // serde_json's maps keep keys in order, so where they go is fixed.
    let key = |mut v: Value| -> Value {
        if let Value::Object(m) = &mut v {
            m.insert("schema_version".into(), json!(SCHEMA_VERSION));
            m.insert("proxy".into(), json!(proxy));
            m.insert("snapshot".into(), json!(snapshot));
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
    // The views are independent: made side by side.
    let ((listeners, routes), ((clusters, endpoints), (secrets, findings))) = rayon::join(
        || (super::inventory::listeners(ix), super::routes::routes(ix)),
        || {
            rayon::join(
                || (super::inventory::clusters(ix), super::endpoints::endpoints(ix)),
                || (super::secrets::secrets(ix, None), super::summary::findings(ix)),
            )
        },
    );
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
    vec![
        ("proxies", proxies),
        ("listeners", listener_rows),
        ("filter_chains", chain_rows),
        ("routes", routes.iter().map(|r| key(to(r))).collect()),
        ("virtual_hosts", vhosts),
        ("clusters", clusters.iter().map(|c| key(to(c))).collect()),
        ("endpoints", endpoints.iter().map(|e| key(to(e))).collect()),
        ("secrets", secrets.iter().map(|s| key(to(s))).collect()),
        ("findings", findings.iter().map(|f| key(to(f))).collect()),
        ("rejections", rejections),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_columns_in_the_written_order() {
        let declared: Vec<&str> = COLUMNS.iter().map(|(t, _)| *t).collect();
        assert_eq!(declared, TABLES);
    }

    /// docs/export-schema.md names every column of every table.
    #[test]
    fn the_schema_document_names_every_column() {
        let doc = include_str!("../../docs/export-schema.md");
        for (table, cols) in COLUMNS {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{table}` |")))
                .unwrap_or_else(|| panic!("no row for table {table}"));
            for (c, _) in *cols {
                assert!(row.contains(&format!("`{c}`")), "{table}.{c} is not in its row");
            }
        }
    }
}
