//! `export --format parquet`: one Parquet file per table, written with the
//! arrow-rs project's `parquet` crate column by column (no Arrow arrays in
//! between). Rows are converted to columns where they are made ([`batch`]),
//! buffered up to [`ROW_GROUP`] rows and written as a row group, so memory
//! holds one group per table whatever the fleet's size. The schema of each
//! table is [`crate::analysis::export::columns`]; rows come typed to it
//! (a view field that does not fit is an error where the row is made).

use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;

use crate::analysis::cells::Cell;
use crate::analysis::export::{self, Column, TableRows};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;

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
/// lists, repetition) levels. Text is kept in one buffer per column (the
/// end of each value in `ends`) and cut into Parquet's byte arrays only
/// when the row group is written: one allocation per column, not per
/// cell.
#[derive(Debug)]
enum Cells {
    Bytes {
        data: Vec<u8>,
        ends: Vec<usize>,
        defs: Vec<i16>,
        reps: Option<Vec<i16>>,
    },
    Int(Vec<i64>, Vec<i16>),
    Bool(Vec<bool>, Vec<i16>),
}

impl Cells {
    fn append(&mut self, other: Cells) {
        match (self, other) {
            (
                Cells::Bytes { data, ends, defs, reps },
                Cells::Bytes {
                    data: data2,
                    ends: ends2,
                    defs: defs2,
                    reps: reps2,
                },
            ) => {
                let base = data.len();
                data.extend_from_slice(&data2);
                ends.extend(ends2.into_iter().map(|e| e + base));
                defs.extend(defs2);
                if let (Some(r), Some(r2)) = (reps, reps2) {
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

/// Converts one dump's rows of a table (cells already typed as their
/// columns, see [`crate::analysis::cells::RowFill`]) to columns.
pub fn batch(t: TableRows) -> Batch {
    let n = t.rows.len();
    let rows = &t.rows;
    let keys = t.key.len();
    let null = Cell::Null;
    let mut out = Vec::with_capacity(t.columns.len());
    for (i, (_, col)) in t.columns.iter().enumerate() {
        // A key cell is the same on every row of the dump.
        let cells = (0..n).map(|r| match t.key.get(i) {
            Some(k) => k,
            None => rows[r].get(i - keys).unwrap_or(&null),
        });
        let mut defs: Vec<i16> = Vec::with_capacity(n);
        out.push(match col {
            Column::Text | Column::Json => {
                let (mut data, mut ends) = (Vec::new(), Vec::with_capacity(n));
                for c in cells {
                    match c {
                        Cell::Text(s) | Cell::Json(s) => {
                            defs.push(1);
                            data.extend_from_slice(s.as_bytes());
                            ends.push(data.len());
                        }
                        _ => defs.push(0),
                    }
                }
                Cells::Bytes {
                    data,
                    ends,
                    defs,
                    reps: None,
                }
            }
            Column::Int => {
                let vals = scalars(cells, &mut defs, |c| match c {
                    Cell::Int(v) => Some(*v),
                    _ => None,
                });
                Cells::Int(vals, defs)
            }
            Column::Bool => {
                let vals = scalars(cells, &mut defs, |c| match c {
                    Cell::Bool(v) => Some(*v),
                    _ => None,
                });
                Cells::Bool(vals, defs)
            }
            Column::TextList => {
                // Levels of a 3-level LIST: 0 null list, 1 empty list,
                // 3 an element (2 would be a null element: none here).
                let mut reps: Vec<i16> = Vec::with_capacity(n);
                let (mut data, mut ends) = (Vec::new(), Vec::new());
                for c in cells {
                    match c {
                        Cell::TextList(items) if items.is_empty() => {
                            defs.push(1);
                            reps.push(0);
                        }
                        Cell::TextList(items) => {
                            for (j, s) in items.iter().enumerate() {
                                defs.push(3);
                                reps.push(i16::from(j > 0));
                                data.extend_from_slice(s.as_bytes());
                                ends.push(data.len());
                            }
                        }
                        _ => {
                            defs.push(0);
                            reps.push(0);
                        }
                    }
                }
                Cells::Bytes {
                    data,
                    ends,
                    defs,
                    reps: Some(reps),
                }
            }
        });
    }
    Batch { rows: n, columns: out }
}

/// The values of a scalar column and their definition levels (1 a value,
/// 0 null).
fn scalars<'c, T>(
    cells: impl Iterator<Item = &'c Cell>,
    defs: &mut Vec<i16>,
    value: impl Fn(&Cell) -> Option<T>,
) -> Vec<T> {
    let mut vals = Vec::new();
    for c in cells {
        match value(c) {
            Some(v) => {
                defs.push(1);
                vals.push(v);
            }
            None => defs.push(0),
        }
    }
    vals
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
        let mut props = WriterProperties::builder().set_compression(Compression::SNAPPY);
        // Min/max of JSON text filters nothing: not computed.
        for (name, col) in export::columns(table) {
            if col == Column::Json {
                props = props.set_column_statistics_enabled(name.into(), EnabledStatistics::None);
            }
        }
        let props = props
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
        for cells in batch.columns {
            let mut w = group
                .next_column()
                .map_err(pq)?
                .ok_or_else(|| "the schema ends before the columns do".to_string())?;
            match cells {
                Cells::Bytes { data, ends, defs, reps } => {
                    // Each value is a slice of the column's one buffer.
                    let data = bytes::Bytes::from(data);
                    let mut start = 0;
                    let vals: Vec<ByteArray> = ends
                        .iter()
                        .map(|&end| {
                            let v = ByteArray::from(data.slice(start..end));
                            start = end;
                            v
                        })
                        .collect();
                    w.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&defs), reps.as_deref())
                        .map_err(pq)?;
                }
                Cells::Int(vals, defs) => {
                    w.typed::<Int64Type>()
                        .write_batch(&vals, Some(&defs), None)
                        .map_err(pq)?;
                }
                Cells::Bool(vals, defs) => {
                    w.typed::<BoolType>()
                        .write_batch(&vals, Some(&defs), None)
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
