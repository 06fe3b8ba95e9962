//! `export --format parquet`: one Parquet file per table, written with the
//! arrow-rs project's `parquet` crate column by column (no Arrow arrays in
//! between). Rows are buffered up to [`ROW_GROUP`] and written as a row
//! group, so memory holds one group per table whatever the fleet's size.
//! The schema of each table is [`crate::analysis::export::columns`]; a row
//! that does not fit it is an error naming table, column and value.

use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use serde_json::Value;

use crate::analysis::export::{self, Column};

/// Rows per row group.
pub const ROW_GROUP: usize = 16_384;

/// One table's Parquet file being written.
pub struct TableWriter {
    table: &'static str,
    columns: Vec<(&'static str, Column)>,
    writer: SerializedFileWriter<BufWriter<File>>,
    pending: Vec<Value>,
    rows: usize,
}

/// The Parquet message type of a table (its schema in Parquet's text form).
pub fn message_type(table: &str) -> String {
    let mut s = format!("message {table} {{\n");
    for (name, col) in export::columns(table) {
        s.push_str(&match col {
            Column::Text => format!("  optional binary {name} (STRING);\n"),
            Column::Int => format!("  optional int64 {name};\n"),
            Column::Bool => format!("  optional boolean {name};\n"),
            Column::Json => format!("  optional binary {name} (JSON);\n"),
            Column::TextList => format!(
                "  optional group {name} (LIST) {{\n    repeated group list {{\n      optional binary element (STRING);\n    }}\n  }}\n"
            ),
        });
    }
    s.push('}');
    s
}

impl TableWriter {
    pub fn create(table: &'static str, file: File) -> Result<Self, String> {
        let schema = parquet::schema::parser::parse_message_type(&message_type(table)).map_err(|e| e.to_string())?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("egress-xray {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = SerializedFileWriter::new(BufWriter::new(file), Arc::new(schema), Arc::new(props))
            .map_err(|e| e.to_string())?;
        Ok(TableWriter {
            table,
            columns: export::columns(table),
            writer,
            pending: Vec::new(),
            rows: 0,
        })
    }

    /// Adds a row (a JSON object whose keys are the table's columns).
    pub fn push(&mut self, row: Value) -> Result<(), String> {
        if let Value::Object(m) = &row {
            if let Some(k) = m.keys().find(|k| !self.columns.iter().any(|(c, _)| c == k)) {
                return Err(format!(
                    "table {}: column {k:?} is not in the schema (an egress-xray defect: please report it)",
                    self.table
                ));
            }
        }
        self.pending.push(row);
        self.rows += 1;
        if self.pending.len() >= ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending rows as one row group.
    fn flush(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let pq = |e: parquet::errors::ParquetError| e.to_string();
        let mut group = self.writer.next_row_group().map_err(pq)?;
        for (name, col) in &self.columns {
            let mut w = group
                .next_column()
                .map_err(pq)?
                .ok_or_else(|| format!("table {}: the schema ends before column {name}", self.table))?;
            let cells = rows.iter().map(|r| r.get(*name).unwrap_or(&Value::Null));
            let wrong = |v: &Value, want: &str| {
                format!(
                    "table {}: column {name} holds {v}, not {want} (an egress-xray defect: please report it)",
                    self.table
                )
            };
            let mut defs: Vec<i16> = Vec::with_capacity(rows.len());
            match col {
                Column::Text | Column::Json => {
                    let mut vals = Vec::new();
                    for v in cells {
                        match (v, col) {
                            (Value::Null, _) => defs.push(0),
                            (Value::String(s), Column::Text) => {
                                defs.push(1);
                                vals.push(ByteArray::from(s.as_bytes().to_vec()));
                            }
                            (Value::Object(_) | Value::Array(_), Column::Json) => {
                                defs.push(1);
                                vals.push(ByteArray::from(v.to_string().into_bytes()));
                            }
                            _ => return Err(wrong(v, if *col == Column::Text { "text" } else { "an object" })),
                        }
                    }
                    w.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(pq)?;
                }
                Column::Int => {
                    let mut vals = Vec::new();
                    for v in cells {
                        match (v, v.as_i64()) {
                            (Value::Null, _) => defs.push(0),
                            (_, Some(n)) => {
                                defs.push(1);
                                vals.push(n);
                            }
                            _ => return Err(wrong(v, "a whole number")),
                        }
                    }
                    w.typed::<Int64Type>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(pq)?;
                }
                Column::Bool => {
                    let mut vals = Vec::new();
                    for v in cells {
                        match v {
                            Value::Null => defs.push(0),
                            Value::Bool(b) => {
                                defs.push(1);
                                vals.push(*b);
                            }
                            _ => return Err(wrong(v, "true or false")),
                        }
                    }
                    w.typed::<BoolType>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(pq)?;
                }
                Column::TextList => {
                    // Levels of a 3-level LIST: 0 null list, 1 empty list,
                    // 3 an element (2 would be a null element: none here).
                    let mut reps: Vec<i16> = Vec::new();
                    let mut vals = Vec::new();
                    for v in cells {
                        match v {
                            Value::Null => {
                                defs.push(0);
                                reps.push(0);
                            }
                            Value::Array(items) if items.is_empty() => {
                                defs.push(1);
                                reps.push(0);
                            }
                            Value::Array(items) => {
                                for (i, x) in items.iter().enumerate() {
                                    let Value::String(s) = x else {
                                        return Err(wrong(v, "a list of text"));
                                    };
                                    defs.push(3);
                                    reps.push(i16::from(i > 0));
                                    vals.push(ByteArray::from(s.as_bytes().to_vec()));
                                }
                            }
                            _ => return Err(wrong(v, "a list of text")),
                        }
                    }
                    w.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&defs), Some(&reps))
                        .map_err(pq)?;
                }
            }
            w.close().map_err(pq)?;
        }
        group.close().map_err(pq)?;
        Ok(())
    }

    /// Writes what is pending and the file's footer; the rows written.
    pub fn finish(mut self) -> Result<usize, String> {
        self.flush()?;
        self.writer.close().map_err(|e| e.to_string())?;
        Ok(self.rows)
    }
}
