//! Export rows as typed cells: a serde serializer that puts a view's fields
//! straight into a table's columns (in the schema's order), without a JSON
//! tree in between. Both export formats are written from these cells.

use serde::ser::{self, Impossible, Serialize};

use super::export::Column;

/// One value of a row, typed as its column is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cell {
    #[default]
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    TextList(Vec<String>),
    /// A JSON value kept whole, as JSON text.
    Json(String),
}

/// Why a value does not fit a cell (always an egress-xray defect: the
/// views and the schema disagree).
#[derive(Debug)]
pub struct Misfit(pub String);

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Misfit {}

impl ser::Error for Misfit {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Misfit(msg.to_string())
    }
}

fn misfit<T>(what: &str) -> Result<T, Misfit> {
    Err(Misfit(what.to_string()))
}

/// One row being filled: the table's columns and their cells.
pub struct RowFill<'a> {
    pub table: &'a str,
    pub columns: &'a [(&'static str, Column)],
    pub cells: Vec<Cell>,
    /// Fields of the view that are not columns of the table (a listener's
    /// chains are a table of their own).
    pub skip: &'a [&'a str],
    /// Columns set by the caller (the key columns): a view's field of the
    /// same name gives way.
    pub fixed: &'a [&'a str],
}

impl<'a> RowFill<'a> {
    pub fn new(table: &'a str, columns: &'a [(&'static str, Column)]) -> Self {
        RowFill {
            table,
            columns,
            cells: vec![Cell::Null; columns.len()],
            skip: &[],
            fixed: &[],
        }
    }

    /// Sets a column by name; an unknown column or a cell of another type
    /// is an error naming both.
    pub fn set(&mut self, column: &str, cell: Cell) -> Result<(), String> {
        let Some(i) = self.columns.iter().position(|(c, _)| *c == column) else {
            return Err(format!(
                "table {}: column {column:?} is not in the schema (an egress-xray defect: please report it)",
                self.table
            ));
        };
        self.set_at(i, cell)
    }

    fn set_at(&mut self, i: usize, cell: Cell) -> Result<(), String> {
        let column = self.columns[i].0;
        let fits = matches!(
            (&cell, self.columns[i].1),
            (Cell::Null, _)
                | (Cell::Text(_), Column::Text)
                | (Cell::Int(_), Column::Int)
                | (Cell::Bool(_), Column::Bool)
                | (Cell::TextList(_), Column::TextList)
                | (Cell::Json(_), Column::Json)
        );
        if !fits {
            return Err(format!(
                "table {}: column {column} holds {cell:?}, not {} (an egress-xray defect: please report it)",
                self.table,
                match self.columns[i].1 {
                    Column::Text => "text",
                    Column::Int => "a whole number",
                    Column::Bool => "true or false",
                    Column::TextList => "a list of text",
                    Column::Json => "JSON",
                }
            ));
        }
        self.cells[i] = cell;
        Ok(())
    }

    /// Fills the columns from a view's fields (a struct, or a map with text
    /// keys).
    pub fn fields(&mut self, view: &impl Serialize) -> Result<(), String> {
        view.serialize(Fields { row: self }).map_err(|m| m.0)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Misfit> {
        if self.skip.contains(&key) || self.fixed.contains(&key) {
            return Ok(());
        }
        let Some(i) = self.columns.iter().position(|(c, _)| *c == key) else {
            return Err(Misfit(format!(
                "table {}: column {key:?} is not in the schema (an egress-xray defect: please report it)",
                self.table
            )));
        };
        let cell = if self.columns[i].1 == Column::Json {
            let text = serde_json::to_string(value).map_err(|e| Misfit(e.to_string()))?;
            if text == "null" {
                Cell::Null
            } else {
                Cell::Json(text)
            }
        } else {
            value
                .serialize(CellSer)
                .map_err(|m| Misfit(format!("table {}: column {key}: {m}", self.table)))?
        };
        self.set_at(i, cell).map_err(Misfit)
    }
}

/// The serializer of a whole row: takes a struct's (or map's) fields.
struct Fields<'r, 'a> {
    row: &'r mut RowFill<'a>,
}

impl<'r, 'a> ser::Serializer for Fields<'r, 'a> {
    type Ok = ();
    type Error = Misfit;
    type SerializeSeq = Impossible<(), Misfit>;
    type SerializeTuple = Impossible<(), Misfit>;
    type SerializeTupleStruct = Impossible<(), Misfit>;
    type SerializeTupleVariant = Impossible<(), Misfit>;
    type SerializeMap = MapFields<'r, 'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Misfit>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Misfit> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapFields<'r, 'a>, Misfit> {
        Ok(MapFields {
            row: self.row,
            key: None,
        })
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Misfit> {
        v.serialize(self)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Misfit> {
        v.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_i8(self, _: i8) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_i16(self, _: i16) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_i32(self, _: i32) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_i64(self, _: i64) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_u8(self, _: u8) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_u16(self, _: u16) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_u32(self, _: u32) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_u64(self, _: u64) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_f32(self, _: f32) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_char(self, _: char) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_str(self, _: &str) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_none(self) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_unit(self) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Misfit> {
        misfit("a row is an object, not a value")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Misfit> {
        misfit("a row is an object, not a list")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Misfit> {
        misfit("a row is an object, not a list")
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Misfit> {
        misfit("a row is an object, not a list")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Misfit> {
        misfit("a row is an object, not a list")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Misfit> {
        misfit("a row is an object, not a variant")
    }
}

impl ser::SerializeStruct for Fields<'_, '_> {
    type Ok = ();
    type Error = Misfit;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Misfit> {
        self.row.field(key, value)
    }
    fn end(self) -> Result<(), Misfit> {
        Ok(())
    }
}

/// A row given as a map (`#[serde(flatten)]`): its keys must be text.
struct MapFields<'r, 'a> {
    row: &'r mut RowFill<'a>,
    key: Option<String>,
}

impl ser::SerializeMap for MapFields<'_, '_> {
    type Ok = ();
    type Error = Misfit;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Misfit> {
        match key.serialize(CellSer)? {
            Cell::Text(k) => {
                self.key = Some(k);
                Ok(())
            }
            _ => misfit("a row's keys are text"),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Misfit> {
        let key = self.key.take().ok_or_else(|| Misfit("a value without a key".into()))?;
        self.row.field(&key, value)
    }
    fn end(self) -> Result<(), Misfit> {
        Ok(())
    }
}

/// The serializer of one scalar or list cell.
struct CellSer;

fn int(n: i128) -> Result<Cell, Misfit> {
    i64::try_from(n)
        .map(Cell::Int)
        .map_err(|_| Misfit(format!("{n} does not fit a 64-bit integer")))
}

impl ser::Serializer for CellSer {
    type Ok = Cell;
    type Error = Misfit;
    type SerializeSeq = ListCell;
    type SerializeTuple = Impossible<Cell, Misfit>;
    type SerializeTupleStruct = Impossible<Cell, Misfit>;
    type SerializeTupleVariant = Impossible<Cell, Misfit>;
    type SerializeMap = Impossible<Cell, Misfit>;
    type SerializeStruct = Impossible<Cell, Misfit>;
    type SerializeStructVariant = Impossible<Cell, Misfit>;

    fn serialize_bool(self, v: bool) -> Result<Cell, Misfit> {
        Ok(Cell::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Cell, Misfit> {
        int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Cell, Misfit> {
        int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Cell, Misfit> {
        int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Cell, Misfit> {
        int(v.into())
    }
    fn serialize_u8(self, v: u8) -> Result<Cell, Misfit> {
        int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Cell, Misfit> {
        int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Cell, Misfit> {
        int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Cell, Misfit> {
        int(v.into())
    }
    fn serialize_f32(self, v: f32) -> Result<Cell, Misfit> {
        misfit(&format!("{v} is not a whole number"))
    }
    fn serialize_f64(self, v: f64) -> Result<Cell, Misfit> {
        misfit(&format!("{v} is not a whole number"))
    }
    fn serialize_char(self, v: char) -> Result<Cell, Misfit> {
        Ok(Cell::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Cell, Misfit> {
        Ok(Cell::Text(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Cell, Misfit> {
        misfit("bytes are not a column type")
    }
    fn serialize_none(self) -> Result<Cell, Misfit> {
        Ok(Cell::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Cell, Misfit> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Cell, Misfit> {
        Ok(Cell::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Cell, Misfit> {
        Ok(Cell::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<Cell, Misfit> {
        Ok(Cell::Text(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<Cell, Misfit> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Cell, Misfit> {
        misfit("an object where a column wants a value (declare the column JSON)")
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ListCell, Misfit> {
        Ok(ListCell(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Misfit> {
        misfit("a tuple where a column wants a value")
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Misfit> {
        misfit("a tuple where a column wants a value")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Misfit> {
        misfit("a tuple where a column wants a value")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Misfit> {
        misfit("an object where a column wants a value (declare the column JSON)")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Misfit> {
        misfit("an object where a column wants a value (declare the column JSON)")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Misfit> {
        misfit("an object where a column wants a value (declare the column JSON)")
    }
}

/// A list cell: its elements must be text.
struct ListCell(Vec<String>);

impl ser::SerializeSeq for ListCell {
    type Ok = Cell;
    type Error = Misfit;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Misfit> {
        match v.serialize(CellSer)? {
            Cell::Text(s) => {
                self.0.push(s);
                Ok(())
            }
            other => misfit(&format!("a list of text holds {other:?}")),
        }
    }
    fn end(self) -> Result<Cell, Misfit> {
        Ok(Cell::TextList(self.0))
    }
}

/// Writes a row as one JSON object on one line, every column in the
/// schema's order (nulls included): the `key` cells (shared by the rows of
/// a dump), then the row's own.
pub fn write_json_line(buf: &mut Vec<u8>, columns: &[(&'static str, Column)], key: &[Cell], cells: &[Cell]) {
    buf.push(b'{');
    for (i, ((name, _), cell)) in columns.iter().zip(key.iter().chain(cells)).enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        json_str(buf, name);
        buf.push(b':');
        match cell {
            Cell::Null => buf.extend_from_slice(b"null"),
            Cell::Text(s) => json_str(buf, s),
            Cell::Int(n) => buf.extend_from_slice(n.to_string().as_bytes()),
            Cell::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
            Cell::TextList(items) => {
                buf.push(b'[');
                for (j, s) in items.iter().enumerate() {
                    if j > 0 {
                        buf.push(b',');
                    }
                    json_str(buf, s);
                }
                buf.push(b']');
            }
            Cell::Json(text) => buf.extend_from_slice(text.as_bytes()),
        }
    }
    buf.extend_from_slice(b"}\n");
}

fn json_str(buf: &mut Vec<u8>, s: &str) {
    // Writing a &str to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct View {
        proxy: String,
        name: String,
        port: Option<u32>,
        on: bool,
        tags: Vec<String>,
        extra: Option<std::collections::BTreeMap<String, u32>>,
        skipped: Vec<u8>,
        #[serde(rename = "type")]
        kind: Kind,
    }

    #[derive(serde::Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Static,
    }

    const COLS: &[(&str, Column)] = &[
        ("proxy", Column::Text),
        ("name", Column::Text),
        ("port", Column::Int),
        ("on", Column::Bool),
        ("tags", Column::TextList),
        ("extra", Column::Json),
        ("type", Column::Text),
    ];

    fn view() -> View {
        View {
            proxy: "own".into(),
            name: "a\"b".into(),
            port: Some(443),
            on: true,
            tags: vec!["x".into(), "y".into()],
            extra: Some([("k".to_string(), 1)].into()),
            skipped: vec![1],
            kind: Kind::Static,
        }
    }

    #[test]
    fn a_view_fills_its_columns_and_writes_one_json_line() {
        let mut row = RowFill::new("t", COLS);
        row.fixed = &["proxy"];
        row.skip = &["skipped"];
        row.set("proxy", Cell::Text("p".into())).unwrap();
        row.fields(&view()).unwrap();
        assert_eq!(
            row.cells,
            vec![
                Cell::Text("p".into()),
                Cell::Text("a\"b".into()),
                Cell::Int(443),
                Cell::Bool(true),
                Cell::TextList(vec!["x".into(), "y".into()]),
                Cell::Json("{\"k\":1}".into()),
                Cell::Text("static".into()),
            ]
        );
        let mut buf = Vec::new();
        write_json_line(&mut buf, COLS, &row.cells[..1], &row.cells[1..]);
        let line = String::from_utf8(buf).unwrap();
        assert_eq!(
            line,
            "{\"proxy\":\"p\",\"name\":\"a\\\"b\",\"port\":443,\"on\":true,\"tags\":[\"x\",\"y\"],\"extra\":{\"k\":1},\"type\":\"static\"}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["name"], "a\"b");
    }

    #[test]
    fn a_field_outside_the_schema_or_of_another_type_is_an_error_naming_it() {
        let mut row = RowFill::new("t", COLS);
        let e = row.fields(&view()).unwrap_err();
        assert!(e.contains("table t: column \"skipped\" is not in the schema"), "{e}");
        let mut row = RowFill::new("t", COLS);
        let e = row.set("port", Cell::Text("x".into())).unwrap_err();
        assert!(e.contains("column port holds") && e.contains("a whole number"), "{e}");
        let mut row = RowFill::new("t", &[("name", Column::Int)]);
        row.skip = &["proxy", "port", "on", "tags", "extra", "skipped", "type"];
        let e = row.fields(&view()).unwrap_err();
        assert!(e.contains("column name holds"), "{e}");
    }
}
