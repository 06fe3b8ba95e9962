//! `egress-xray export`: one table per kind for a fleet too big for one
//! screen, each row keyed by proxy and snapshot time, for DuckDB (or Spark,
//! Trino). Rows of one dump at a time: the caller writes them and drops
//! the dump before the next, so memory is bounded by the largest dump, not
//! the fleet. The schema is `docs/export-schema.md`, version
//! [`SCHEMA_VERSION`].

use serde::Serialize;
use serde_json::json;

use super::cells::{Cell, RowFill};

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

/// What a column holds: the type of its cells ([`Cell`]), from which both
/// formats are written (Parquet's column type, JSON Lines' JSON value).
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
/// docs/export-schema.md. A view field not listed here, or of another
/// type, is an error of ours when the row is made, in either format (and
/// caught by the tests over the corpus), never dropped.
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

/// One table's rows from one dump. The key columns are the same for every
/// row of a dump: held once (`key`, the first three of `columns`); each row
/// holds the cells of the other columns, in order.
#[derive(Debug)]
pub struct TableRows {
    pub table: &'static str,
    pub columns: Vec<(&'static str, Column)>,
    pub key: Vec<Cell>,
    pub rows: Vec<Vec<Cell>>,
}

/// A virtual host's row (the routes table has one row per route).
#[derive(Serialize)]
struct VhostRow<'a> {
    route_config: &'a str,
    origin: &'a crate::model::RouteOrigin,
    state: crate::model::State,
    vhost: &'a str,
    domains: &'a [String],
}

/// Every table's rows for one dump, in [`TABLES`] order. An error is a
/// view field that does not fit the schema (an egress-xray defect, named).
pub fn rows(ix: &Index) -> Result<Vec<TableRows>, String> {
    let proxy = ix.proxy_name();
    let snapshot = ix
        .latest_update()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
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
    let mut out: Vec<TableRows> = TABLES
        .iter()
        .map(|t| TableRows {
            table: t,
            columns: columns(t),
            key: vec![
                Cell::Int(SCHEMA_VERSION.into()),
                Cell::Text(proxy.clone()),
                snapshot.clone().map_or(Cell::Null, Cell::Text),
            ],
            rows: Vec::new(),
        })
        .collect();
    // Adds a row: the view's fields (a view's own `proxy` gives way to the
    // table's key), then the extra columns.
    let mut add = |table: usize, view: &dyn erased::Row, skip: &[&str], extra: Vec<(&str, Cell)>| {
        let t = &mut out[table];
        let mut row = RowFill::new(t.table, &t.columns[KEY.len()..]);
        row.fixed = &["schema_version", "proxy", "snapshot"];
        row.skip = skip;
        view.fill(&mut row)?;
        for (c, v) in extra {
            row.set(c, v)?;
        }
        let cells = row.cells;
        t.rows.push(cells);
        Ok::<(), String>(())
    };
    let table = |name: &str| TABLES.iter().position(|t| *t == name).unwrap_or(0);
    let id = ix.identity.clone().unwrap_or_default();
    add(
        table("proxies"),
        &json!({
            "source": ix.source,
            "node_id": id.node_id,
            "namespace": id.namespace,
            "pod": id.pod,
            "proxy_type": id.proxy_type,
            "envoy_version": id.envoy_version,
            "istio_version": id.istio_version,
            "versions": ix.section_versions,
        }),
        &[],
        vec![],
    )?;
    let text = |v: &dyn erased::Row| v.text();
    for l in &listeners {
        let chains = l.filter_chains.len() as i64;
        add(
            table("listeners"),
            l,
            &["filter_chains"],
            vec![("filter_chain_count", Cell::Int(chains))],
        )?;
        for (i, c) in l.filter_chains.iter().enumerate() {
            add(
                table("filter_chains"),
                c,
                &[],
                vec![
                    ("listener", Cell::Text(l.name.clone())),
                    ("listener_state", text(&l.state)),
                    ("index", Cell::Int(i as i64)),
                ],
            )?;
        }
    }
    for l in &listeners {
        if let Some(r) = &l.rejection {
            add(
                table("rejections"),
                &json!({
                    "xds_type": "LDS",
                    "resource": l.name,
                    "details": r.details,
                    "last_update_attempt": r.last_update_attempt,
                    "source": "dump error_state",
                }),
                &[],
                vec![],
            )?;
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &routes {
        add(table("routes"), r, &[], vec![])?;
        let origin = serde_json::to_string(&r.origin).map_err(|e| e.to_string())?;
        if seen.insert((&r.route_config, &r.vhost, origin, r.state)) {
            let v = VhostRow {
                route_config: &r.route_config,
                origin: &r.origin,
                state: r.state,
                vhost: &r.vhost,
                domains: &r.domains,
            };
            add(table("virtual_hosts"), &v, &[], vec![])?;
        }
    }
    for c in &clusters {
        add(table("clusters"), c, &[], vec![])?;
    }
    for e in &endpoints {
        add(table("endpoints"), e, &[], vec![])?;
    }
    for s in &secrets {
        add(table("secrets"), s, &[], vec![])?;
    }
    for f in &findings {
        add(table("findings"), f, &[], vec![])?;
    }
    Ok(out)
}

/// Views as rows without naming their types (`Serialize` is not object
/// safe).
mod erased {
    use super::{Cell, RowFill};

    pub trait Row {
        fn fill(&self, row: &mut RowFill<'_>) -> Result<(), String>;
        /// The value as one text cell (a state's name).
        fn text(&self) -> Cell;
    }

    impl<T: serde::Serialize> Row for T {
        fn fill(&self, row: &mut RowFill<'_>) -> Result<(), String> {
            row.fields(self)
        }
        fn text(&self) -> Cell {
            match serde_json::to_value(self) {
                Ok(serde_json::Value::String(s)) => Cell::Text(s),
                _ => Cell::Null,
            }
        }
    }
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
