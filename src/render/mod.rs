//! Render layer: turns analysis data into text. Renderers never decide what
//! is true; they only lay out what the analysis returned.

pub mod graph;
pub mod table;

use serde::Serialize;

/// `-o` on every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Columns like istioctl's, plus STATE.
    Table,
    /// The table with more columns (versions, times, provenance).
    Wide,
    /// The same data as the table, as JSON.
    Json,
    /// The same data as the table, as YAML.
    Yaml,
    /// A mermaid flowchart (`paths` only).
    Mermaid,
    /// A Graphviz digraph (`paths` only).
    Dot,
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("analysis data serialises");
    s.push('\n');
    s
}

pub fn yaml<T: Serialize + ?Sized>(value: &T) -> String {
    serde_yaml_ng::to_string(value).expect("analysis data serialises")
}

/// The display width of plain text in terminal columns (wide and combining
/// characters counted as a terminal draws them). Layout is computed on plain
/// text only; colour is applied after (tables measure cells without their
/// escape codes: tabled's `ansi` feature).
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// Styles for terminal output; all empty when colour is off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Palette {
    pub enabled: bool,
}

impl Palette {
    fn paint(&self, style: anstyle::Style, s: &str) -> String {
        if self.enabled {
            format!("{}{s}{}", style.render(), style.render_reset())
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint(anstyle::Style::new().bold(), s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint(anstyle::AnsiColor::Red.on_default().bold(), s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint(anstyle::AnsiColor::Yellow.on_default(), s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint(anstyle::Style::new().dimmed(), s)
    }
}
