//! Render layer: turns analysis data into text. Renderers never decide what
//! is true; they only lay out what the analysis returned.

pub mod graph;
pub mod html;
pub mod parquet;
pub mod svg;
pub mod table;
pub mod trace;

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
    /// One self-contained HTML page (`report` only; its default).
    Html,
    /// The selected resources as Envoy holds them, proto3 JSON with Anys
    /// expanded (`listeners`, `clusters`, `routes`, `endpoints`, `secrets`).
    Raw,
    /// `raw` as YAML.
    RawYaml,
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("analysis data serialises");
    s.push('\n');
    s
}

/// YAML that every parser reads back as the JSON output's values: strings
/// that a YAML 1.1 parser (PyYAML and many tools) would take for a boolean,
/// a number, a null, a date, a merge key (`yes`, `on`, `1_000`, `1:20`,
/// `2026-11-20`, `<<`, `=`...) — or that look like anything but a plain word
/// — are double-quoted. Keys keep the order of the data, like the JSON.
pub fn yaml<T: Serialize + ?Sized>(value: &T) -> String {
    let v = serde_yaml_ng::to_value(value).expect("analysis data serialises");
    let mut out = String::new();
    yaml_node(&v, 0, &mut out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn yaml_node(v: &serde_yaml_ng::Value, indent: usize, out: &mut String) {
    use serde_yaml_ng::Value as Y;
    let pad = " ".repeat(indent);
    match v {
        Y::Mapping(m) if !m.is_empty() => {
            for (k, x) in m {
                out.push_str(&pad);
                out.push_str(&yaml_scalar(k));
                out.push(':');
                yaml_child(x, indent, out);
            }
        }
        Y::Sequence(items) if !items.is_empty() => {
            for x in items {
                let nested =
                    matches!(x, Y::Mapping(m) if !m.is_empty()) || matches!(x, Y::Sequence(s) if !s.is_empty());
                if nested {
                    // `- key: value` with the item's other keys below it.
                    let mut item = String::new();
                    yaml_node(x, indent + 2, &mut item);
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&item[indent + 2..]);
                } else {
                    out.push_str(&pad);
                    out.push('-');
                    yaml_child(x, indent, out);
                }
            }
        }
        Y::Tagged(t) => yaml_node(&t.value, indent, out),
        scalar => {
            out.push_str(&pad);
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

/// After `key:` or `-`: a scalar on the same line, a collection below.
fn yaml_child(v: &serde_yaml_ng::Value, indent: usize, out: &mut String) {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            yaml_node(v, indent + 2, out);
        }
        Y::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            yaml_node(v, indent + 2, out);
        }
        Y::Tagged(t) => yaml_child(&t.value, indent, out),
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_scalar(v: &serde_yaml_ng::Value) -> String {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => "null".into(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::String(s) if yaml_plain_ok(s) => s.clone(),
        // JSON's string escapes are YAML's double-quoted escapes.
        Y::String(s) => serde_json::to_string(s).expect("a string serialises"),
        Y::Mapping(_) => "{}".into(),
        Y::Sequence(_) => "[]".into(),
        Y::Tagged(t) => yaml_scalar(&t.value),
    }
}

/// Whether a string can stand unquoted and mean itself to YAML 1.1 and 1.2
/// parsers alike. Deliberately narrow: a word that starts with a letter,
/// of letters, digits and `_ . / -` (so no `:`, `#`, `|`, spaces, leading
/// digits, signs or dots), and not one of the words YAML 1.1 reads as a
/// boolean or null.
fn yaml_plain_ok(s: &str) -> bool {
    const WORDS: [&str; 13] = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf", "ok", "none",
    ];
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str())
}

/// The display width of plain text in terminal columns (wide and combining
/// characters counted as a terminal draws them). Layout is computed on plain
/// text only; colour is applied after (tables measure cells without their
/// escape codes: tabled's `ansi` feature).
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// Text for a terminal, made safe: every control, C1 and bidi-override
/// character that could come from a dump, a log or a file name (ESC
/// sequences that set the title, clear the screen or draw links; CR that
/// overwrites a name; BEL; U+202E that reverses text) is shown as a visible
/// escape (`\x1b`, `\r`, `\u{202e}`). Newlines are kept (renderers end
/// their lines; table cells escape their own, see `table`), and so are the
/// exact colour sequences our `Palette` writes when `colour` is on. JSON
/// does not go through here: it escapes by itself and keeps exact values.
pub fn terminal_safe(text: &str, colour: bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| (c != '\n' && needs_escape(c)) || c == '\u{1b}') {
        return std::borrow::Cow::Borrowed(text);
    }
    let ours = if colour { palette_sequences() } else { Vec::new() };
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' {
            if let Some(seq) = ours.iter().find(|s| rest.starts_with(s.as_str())) {
                out.push_str(seq);
                rest = &rest[seq.len()..];
                continue;
            }
        }
        if c != '\n' && needs_escape(c) {
            out.push_str(&escape_char(c));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

/// One cell or label of untrusted text: everything `terminal_safe` escapes,
/// newlines too (a newline in a name would forge a table row or a line).
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| if needs_escape(c) { escape_char(c) } else { c.to_string() })
            .collect(),
    )
}

fn needs_escape(c: char) -> bool {
    c.is_control() // C0 (ESC, CR, LF, BEL, TAB...), DEL and C1
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_char(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c if (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

/// The exact SGR sequences `Palette` writes (and nothing else that starts
/// with ESC is ever ours).
fn palette_sequences() -> Vec<String> {
    let p = Palette { enabled: true };
    let mut seqs: Vec<String> = Vec::new();
    for painted in [p.bold(""), p.red(""), p.yellow(""), p.dim("")] {
        for part in painted.split('\u{1b}').filter(|s| !s.is_empty()) {
            let seq = format!("\u{1b}{part}");
            if !seqs.contains(&seq) {
                seqs.push(seq);
            }
        }
    }
    seqs.sort_by_key(|s| std::cmp::Reverse(s.len()));
    seqs
}

/// Appends one line of human-readable output. A newline inside it comes
/// from data (a name, an error text) and is shown as `\n`, so it cannot
/// forge a line; leading newlines are the renderer's own spacing.
pub fn push_line(out: &mut String, line: &str) {
    let body = line.trim_start_matches('\n');
    out.push_str(&line[..line.len() - body.len()]);
    out.push_str(&body.replace('\n', "\\n"));
    out.push('\n');
}

/// Styles for terminal output; all empty when colour is off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Palette {
    pub enabled: bool,
}

impl Palette {
    /// Painted text is escaped first: what is painted is data too.
    fn paint(&self, style: anstyle::Style, s: &str) -> String {
        let s = escape_text(s);
        if self.enabled && !s.is_empty() {
            format!("{}{s}{}", style.render(), style.render_reset())
        } else if self.enabled {
            format!("{}{}", style.render(), style.render_reset())
        } else {
            s.into_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_shown_not_obeyed() {
        let hostile = "a\u{1b}]0;pwned\u{7}b\rc\u{202e}d\u{9b}2Je\tf";
        assert_eq!(
            terminal_safe(hostile, false),
            "a\\x1b]0;pwned\\x07b\\rc\\u{202e}d\\u{9b}2Je\\tf"
        );
        assert_eq!(escape_text("x\ny"), "x\\ny");
        assert_eq!(terminal_safe("x\ny", false), "x\ny");
        // Our own colour survives when colour is on; a forged OSC does not.
        let p = Palette { enabled: true };
        let ours = format!("{} \u{1b}]8;;http://evil\u{1b}\\", p.red("rejected"));
        let safe = terminal_safe(&ours, true);
        assert!(safe.starts_with(&p.red("rejected")), "{safe:?}");
        assert!(safe.ends_with("\\x1b]8;;http://evil\\x1b\\"), "{safe:?}");
        assert!(!terminal_safe(&ours, false).contains('\u{1b}'));
        // Painting escapes what it paints.
        assert_eq!(Palette { enabled: false }.red("a\u{1b}[2J"), "a\\x1b[2J");
        assert_eq!(terminal_safe("plain ünïcödé 日本", true), "plain ünïcödé 日本");
    }
}
