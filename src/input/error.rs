//! Located input errors: every message names the file and where in it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum InputError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// An output file (report page, export table) that could not be written.
    #[error("{file}: cannot write: {source}")]
    Write {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: empty input: expected an Envoy config dump (JSON, YAML or protobuf)")]
    Empty { file: String },
    #[error("{file}: gzip data is corrupt: {msg}")]
    Gzip { file: String, msg: String },
    #[error("{file}:{line}:{column}: malformed JSON{}: {msg}", in_path(path))]
    Json {
        file: String,
        line: usize,
        column: usize,
        path: Option<String>,
        msg: String,
    },
    #[error("{file}: malformed YAML: {msg}")]
    Yaml { file: String, msg: String },
    #[error("{file}: not an Envoy config dump: {looks_like}")]
    NotADump { file: String, looks_like: String },
    #[error("{file}: {path}: cannot decode as {expected}: {msg}")]
    Resource {
        file: String,
        path: String,
        expected: String,
        msg: String,
    },
    #[error("{file}: the dump has no {what}")]
    Missing { file: String, what: &'static str },
    #[error("{file}: byte {offset}: invalid protobuf ConfigDump: {msg}")]
    Protobuf { file: String, offset: usize, msg: String },
}

fn in_path(path: &Option<String>) -> String {
    match path {
        Some(p) if !p.is_empty() => format!(" (inside {p})"),
        _ => String::new(),
    }
}
