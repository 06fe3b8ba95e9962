//! `export --format parquet`: one Parquet file per table, written with the
//! arrow-rs project's `parquet` crate column by column (no Arrow arrays in
//! between). Rows are converted to columns where they are made ([`batch`]),
//! buffered up to [`ROW_GROUP`] rows and written as a row group, so memory
//! holds one group per table whatever the fleet's size. The schema of each
//! table is [`crate::analysis::export::columns`]; a row that does not fit
//! it is an error naming table, column and value.

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
    writer: SerializedFileWriter<BufWriter<File>>,
    /// Rows converted but not yet written, one buffer per column.
    pending: Option<Batch>,
    rows: usize,
}

/// One column's cells, converted: values with their definition (and, for
/// lists, repetition) levels.
#[derive(Debug)]
enum Cells {
    Bytes(Vec<ByteArray>, Vec<i16>, Option<Vec<i16>>),
    Int(Vec<i64>, Vec<i16>),
    Bool(Vec<bool>, Vec<i16>),
}

impl Cells {
    fn append(&mut self, other: Cells) {
        match (self, other) {
            (Cells::Bytes(v, d, r), Cells::Bytes(v2, d2, r2)) => {
                v.extend(v2);
                d.extend(d2);
                if let (Some(r), Some(r2)) = (r, r2) {
                    r.extend(r2);
                }
            }
            (Cells::Int(v, d), Cells::Int(v2, d2)) => {
                v.extend(v2);
                d.extend(d2);
            }
            (Cells::Bool(v, d), Cells::Bool(v2, d2)) => {
                v.extend(v2);
                d.extend(d2);
            }
            _ => {}
        }
    }
}

/// Rows of one table converted to columns (done where the rows are made,
/// so that the writer only appends and encodes).
#[derive(Debug)]
pub struct Batch {
    rows: usize,
    columns: Vec<Cells>,
}

/// Converts rows (JSON objects whose keys are the table's columns) to
/// columns; an error names the table, column and value that do not fit.
pub fn batch(table: &str, rows: &[Value]) -> Result<Batch, String> {
    let columns = export::columns(table);
    for r in rows {
        if let Value::Object(m) = r {
            if let Some(k) = m.keys().find(|k| !columns.iter().any(|(c, _)| c == k)) {
                return Err(format!(
                    "table {table}: column {k:?} is not in the schema (an egress-xray defect: please report it)"
                ));
            }
        }
    }
    let mut out = Vec::with_capacity(columns.len());
    for (name, col) in &columns {
        let cells = rows.iter().map(|r| r.get(*name).unwrap_or(&Value::Null));
        let wrong = |v: &Value, want: &str| {
            format!("table {table}: column {name} holds {v}, not {want} (an egress-xray defect: please report it)")
        };
        let mut defs: Vec<i16> = Vec::with_capacity(rows.len());
        out.push(match col {
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
                Cells::Bytes(vals, defs, None)
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
                Cells::Int(vals, defs)
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
                Cells::Bool(vals, defs)
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
                Cells::Bytes(vals, defs, Some(reps))
            }
        });
    }
    Ok(Batch {
        rows: rows.len(),
        columns: out,
    })
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
            writer,
            pending: None,
            rows: 0,
        })
    }

    /// Adds converted rows; a row group is written each [`ROW_GROUP`] rows.
    pub fn push(&mut self, batch: Batch) -> Result<(), String> {
        self.rows += batch.rows;
        match &mut self.pending {
            None => self.pending = Some(batch),
            Some(p) => {
                p.rows += batch.rows;
                for (c, more) in p.columns.iter_mut().zip(batch.columns) {
                    c.append(more);
                }
            }
        }
        if self.pending.as_ref().is_some_and(|p| p.rows >= ROW_GROUP) {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending rows as one row group.
    fn flush(&mut self) -> Result<(), String> {
        let Some(batch) = self.pending.take() else {
            return Ok(());
        };
        if batch.rows == 0 {
            return Ok(());
        }
        let pq = |e: parquet::errors::ParquetError| e.to_string();
        let mut group = self.writer.next_row_group().map_err(pq)?;
        for cells in &batch.columns {
            let mut w = group
                .next_column()
                .map_err(pq)?
                .ok_or_else(|| "the schema ends before the columns do".to_string())?;
            match cells {
                Cells::Bytes(vals, defs, reps) => {
                    w.typed::<ByteArrayType>()
                        .write_batch(vals, Some(defs), reps.as_deref())
                        .map_err(pq)?;
                }
                Cells::Int(vals, defs) => {
                    w.typed::<Int64Type>().write_batch(vals, Some(defs), None).map_err(pq)?;
                }
                Cells::Bool(vals, defs) => {
                    w.typed::<BoolType>().write_batch(vals, Some(defs), None).map_err(pq)?;
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
