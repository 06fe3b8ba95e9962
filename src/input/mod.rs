//! Input layer: read a file or stdin, detect the format from the content
//! (never from the extension), and decode every dump in it into
//! `envoy.admin.v3.ConfigDump` messages.

pub mod archive;
pub mod error;
pub mod json;
pub mod normalize;
pub mod plan;
pub mod pool;
pub mod proto;
pub mod report;
pub mod section;
pub mod stream;
pub mod transcode;
pub mod wire;
pub mod yaml;

use std::io::Read;

use envoy_types::pb::envoy::admin::v3::ConfigDump;
use serde::Serialize;

pub use error::InputError;
pub use report::DecodeReport;
pub use section::Section;

/// How a dump was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Yaml,
    Protobuf,
}

/// One decoded dump and where it came from.
pub struct LoadedDump {
    pub file: String,
    /// Name inside the file for shapes holding several dumps (`default/eg`).
    pub name: Option<String>,
    pub format: Format,
    pub gzip: bool,
    /// What the document looked like: "config dump", "cluster list", ...
    pub shape: &'static str,
    /// The dump's config sections, in order.
    pub sections: Vec<Section>,
    pub report: DecodeReport,
}

impl LoadedDump {
    /// The dump as one `envoy.admin.v3.ConfigDump` message (a copy).
    pub fn config_dump(&self) -> ConfigDump {
        section::config_dump(&self.sections)
    }

    /// `file` or `file#name`.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{}#{n}", self.file),
            None => self.file.clone(),
        }
    }
}

/// The most bytes read from a stream (stdin, a pipe, a device) or
/// decompressed from gzip; `--max-input-size` sets it. Regular files are
/// mapped, not read, and are not limited.
pub const DEFAULT_MAX_INPUT: u64 = 4 << 30;
static MAX_INPUT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(DEFAULT_MAX_INPUT);

/// Which proxies of an archive are read (`--proxy NS/POD`, a part of the
/// name or a glob); all when unset.
static PROXY_FILTER: std::sync::RwLock<Option<crate::analysis::filter::TextFilter>> = std::sync::RwLock::new(None);

pub fn set_proxy_filter(f: Option<crate::analysis::filter::TextFilter>) {
    *PROXY_FILTER.write().unwrap_or_else(|e| e.into_inner()) = f;
}

pub fn proxy_selected(proxy: &str) -> bool {
    PROXY_FILTER
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_none_or(|f| f.matches(proxy))
}

thread_local! {
    /// Inputs read only in part (a damaged archive), this invocation.
    static DAMAGED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Takes the list of inputs read only in part since the last call: the
/// command still answers from what was read, and exits 2.
pub fn take_damaged() -> Vec<String> {
    DAMAGED.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

pub fn set_max_input(bytes: u64) {
    MAX_INPUT.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

fn max_input() -> u64 {
    MAX_INPUT.load(std::sync::atomic::Ordering::Relaxed)
}

/// How much of a stream is looked at before the rest is read.
const SNIFF: usize = 64 * 1024;

/// Reads a stream whole, but first looks at its first bytes: content that
/// cannot be a dump (NUL bytes, JSON nested deeper than any parser takes) is
/// refused before the rest is read or inflated, and the whole is bounded by
/// `--max-input-size` (an endless stdin or a gzip bomb stops there).
fn read_stream(file: &str, what: &str, mut r: impl Read) -> Result<Vec<u8>, InputError> {
    let io = |source| InputError::Io {
        file: file.into(),
        source,
    };
    let mut head = vec![0u8; SNIFF];
    let mut n = 0;
    while n < SNIFF {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    head.truncate(n);
    sniff(file, what, &head)?;
    let limit = max_input();
    let mut rest = Vec::new();
    r.take(limit.saturating_sub(n as u64) + 1)
        .read_to_end(&mut rest)
        .map_err(io)?;
    if (n + rest.len()) as u64 > limit {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: format!(
                "{what} larger than {} MiB: refused (raise the limit with --max-input-size)",
                limit >> 20
            ),
        });
    }
    head.extend_from_slice(&rest);
    Ok(head)
}

/// The first bytes of a stream, judged before the rest is read.
fn sniff(file: &str, what: &str, head: &[u8]) -> Result<(), InputError> {
    if head.starts_with(&[0x1f, 0x8b]) || proto::looks_like_config_dump(head) {
        return Ok(());
    }
    if let Some(what) = utf16(head) {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: what,
        });
    }
    let probe = &head[..head.len().min(512)];
    if probe.iter().any(|&b| b == 0 || (b < 0x20 && !b.is_ascii_whitespace())) {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: format!("{what}: {}", describe_binary(head)),
        });
    }
    // JSON nesting deeper than the parser's limit (128) fails anyway: say
    // so now instead of after gigabytes of `[[[[`.
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &b in head {
        match b {
            _ if esc => esc = false,
            b'\\' if in_str => esc = true,
            b'"' => in_str = !in_str,
            b'[' | b'{' if !in_str => {
                depth += 1;
                if depth > 128 {
                    return Err(InputError::NotADump {
                        file: file.into(),
                        looks_like: format!("{what}: JSON nested more than 128 levels deep in its first bytes"),
                    });
                }
            }
            b']' | b'}' if !in_str => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Reads `path` (`-` for stdin) and decodes every dump in it.
pub fn load_path(path: &str) -> Result<Vec<LoadedDump>, InputError> {
    let (file, bytes) = if path == "-" {
        let buf = read_stream("<stdin>", "standard input", std::io::stdin().lock())?;
        ("<stdin>".to_string(), buf)
    } else {
        let io = |source| InputError::Io {
            file: path.into(),
            source,
        };
        let dir = std::path::Path::new(path);
        if dir.is_dir() {
            if archive::is_layout_dir(dir) {
                return load_archive(path, archive::read_dir(dir, archive::Role::is_dump)?);
            }
            return Err(InputError::NotADump {
                file: path.into(),
                looks_like: "a directory that holds no troubleshooting layout egress-xray reads (istioctl bug-report \
                             proxies/<ns>/<pod>/config_dump?include_eds, must-gather \
                             namespaces/<ns>/pods/<pod>/config_dump_proxy.json, egctl config-dumps/<ns>/<pod>.json, \
                             consul-k8s proxy/.../config_dumps.json): give the dump files themselves"
                    .into(),
            });
        }
        let f = std::fs::File::open(path).map_err(io)?;
        if f.metadata().map_err(io)?.is_file() {
            // A regular file is mapped rather than copied into the heap: its
            // pages come straight from the page cache, and a large dump is
            // not held twice (page cache and heap). Mapping a file that
            // another process truncates while we read it would fault; a
            // dump being written to is not a supported input.
            // SAFETY: the mapping is read-only and lives until decoding ends.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&f) } {
                let _ = map.advise(memmap2::Advice::Sequential);
                return load_bytes(path, &map);
            }
        }
        let bytes = read_stream(path, "a stream", std::io::BufReader::new(f))?;
        (path.to_string(), bytes)
    };
    load_bytes(&file, &bytes)
}

/// The dumps of an archive (or extracted directory), one per proxy
/// selected, each named `ns/pod`; what could not be read is said on the
/// dumps, never silently dropped.
fn load_archive(file: &str, mut contents: archive::Contents) -> Result<Vec<LoadedDump>, InputError> {
    let mut out: Vec<LoadedDump> = Vec::new();
    let mut tally = ArchiveTally::default();
    for e in std::mem::take(&mut contents.entries) {
        match archive_entry(file, e, &mut tally) {
            EntryRead::Dumps(ds) => out.extend(ds),
            EntryRead::Note(n) => tally.notes.push(n),
            EntryRead::Skip => {}
        }
    }
    tally.read = out.len();
    let notes = archive_end(file, &contents, tally)?;
    out[0].report.archive_notes.extend(notes);
    Ok(out)
}

/// What reading an archive's entries found, for [`archive_end`].
#[derive(Debug, Default)]
pub struct ArchiveTally {
    /// Dump entries seen (selected or not).
    pub seen: usize,
    /// Dumps read.
    pub read: usize,
    /// What was passed over, in entry order.
    pub notes: Vec<String>,
}

/// One archive entry, read.
pub enum EntryRead {
    Dumps(Vec<LoadedDump>),
    /// Not read, and why.
    Note(String),
    /// Not a dump, or a proxy not selected.
    Skip,
}

/// Decodes one entry of an archive (the notes of ztunnel's and istiod's
/// dumps go straight to `tally`; what is decoded is named `ns/pod`).
pub fn archive_entry(file: &str, e: archive::Entry, tally: &mut ArchiveTally) -> EntryRead {
    match archive_entry_proxy(&e, tally) {
        Some(proxy) => decode_entry(file, &proxy, &e),
        None => EntryRead::Skip,
    }
}

/// The proxy whose dump the entry is, when it is one and the proxy is
/// selected; counts dump entries and notes ztunnel's and istiod's dumps in
/// `tally`.
pub fn archive_entry_proxy(e: &archive::Entry, tally: &mut ArchiveTally) -> Option<String> {
    let proxy = match &e.role {
        archive::Role::Dump { proxy } => proxy.clone(),
        archive::Role::ZtunnelDump { proxy } => {
            if proxy_selected(proxy) {
                tally
                    .notes
                    .push(format!("{}: ztunnel's own config dump (not Envoy's), not read", e.path));
            }
            return None;
        }
        archive::Role::IstiodView { proxy } => {
            if proxy_selected(proxy) {
                tally.notes.push(format!(
                    "{}: istiod's view of {proxy} (what istiod would send, not what the proxy holds), not read as its dump",
                    e.path
                ));
            }
            return None;
        }
        _ => return None,
    };
    tally.seen += 1;
    proxy_selected(&proxy).then_some(proxy)
}

/// Decodes a dump entry of `proxy` (thread-safe: no tally).
pub fn decode_entry(file: &str, proxy: &str, e: &archive::Entry) -> EntryRead {
    let head = String::from_utf8_lossy(&e.bytes[..e.bytes.len().min(200)])
        .trim()
        .to_string();
    if !head.starts_with('{')
        && !head.starts_with('[')
        && !e.bytes.starts_with(&[0x1f, 0x8b])
        && e.bytes
            .iter()
            .take(200)
            .all(|b| !b.is_ascii_control() || b.is_ascii_whitespace())
    {
        return EntryRead::Note(format!(
            "{}: holds text where a dump was expected ({}), not read",
            e.path,
            excerpt(head.lines().next().unwrap_or(""))
        ));
    }
    match load_bytes(&e.path, &e.bytes) {
        Ok(ds) => EntryRead::Dumps(
            ds.into_iter()
                .map(|mut d| {
                    let eds = d.sections.iter().any(|s| s.type_url.ends_with("EndpointsConfigDump"));
                    if !eds {
                        d.report.archive_notes.push(
                            "taken without ?include_eds: the dump holds no EDS endpoints (an empty endpoints view is not \"no endpoints\")".into(),
                        );
                    }
                    d.name = Some(match d.name.take() {
                        Some(inner) => format!("{proxy}/{inner}"),
                        None => proxy.to_string(),
                    });
                    d.file = file.to_string();
                    d
                })
                .collect(),
        ),
        Err(err) => EntryRead::Note(format!("{}: not read: {err}", e.path)),
    }
}

/// The end of an archive: its notes (damage first, then what the reader
/// passed over, proxies without a dump, and the entries not read), or an
/// error when no dump
/// was read. A damaged archive is also remembered for [`take_damaged`].
pub fn archive_end(file: &str, contents: &archive::Contents, tally: ArchiveTally) -> Result<Vec<String>, InputError> {
    let damaged = &contents.damaged;
    let mut notes = Vec::new();
    if let Some(d) = damaged {
        notes.push(d.clone());
        DAMAGED.with(|v| v.borrow_mut().push(format!("{file}: {d}")));
    }
    notes.extend(contents.notes.iter().cloned());
    for p in &contents.proxies_without_dump {
        if proxy_selected(p) {
            notes.push(if damaged.is_some() {
                format!("proxy {p} has logs but no config dump before the damage")
            } else {
                format!(
                    "proxy {p} has logs but no config dump (istioctl bug-report drops every debug file of a pod when one of its admin requests failed)"
                )
            });
        }
    }
    notes.extend(tally.notes);
    if tally.read == 0 {
        let why = if tally.seen == 0 {
            "an archive (or directory) with no proxy config dump".to_string()
        } else {
            format!(
                "an archive with {} config dump(s), none of them read or selected by --proxy",
                tally.seen
            )
        };
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: if notes.is_empty() {
                why
            } else {
                format!("{why}; {}", notes.join("; "))
            },
        });
    }
    Ok(notes)
}

/// Decodes every dump in `bytes`; `file` is used in messages only.
pub fn load_bytes(file: &str, bytes: &[u8]) -> Result<Vec<LoadedDump>, InputError> {
    if let Some(kind) = archive::sniff(bytes) {
        return load_archive(file, archive::read(file, bytes, kind, archive::Role::is_dump)?);
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let out = read_stream(file, "gzip content", flate2::read::MultiGzDecoder::new(bytes)).map_err(|e| match e {
            InputError::Io { source, .. } => InputError::Gzip {
                file: file.into(),
                msg: source.to_string(),
            },
            other => other,
        })?;
        let mut dumps = load_bytes(file, &out)?;
        for d in &mut dumps {
            d.gzip = true;
        }
        return Ok(dumps);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty { file: file.into() });
    }
    if proto::looks_like_config_dump(bytes) {
        let (sections, report) = proto::decode(file, bytes)?;
        return Ok(vec![LoadedDump {
            file: file.into(),
            name: None,
            format: Format::Protobuf,
            gzip: false,
            shape: "config dump",
            sections,
            report,
        }]);
    }
    if let Some(what) = utf16(bytes) {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: what,
        });
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: describe_binary(bytes),
        });
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(what) = pasted_text(text) {
        return Err(InputError::NotADump {
            file: file.into(),
            looks_like: what,
        });
    }
    // `kubectl exec ... -- curl ...` prints this line before the JSON when
    // the pod has several containers; it is kubectl's, not the dump's.
    let mut preamble = None;
    let text = match text.split_once('\n') {
        Some((line, rest)) if line.starts_with("Defaulted container ") && rest.trim_start().starts_with('{') => {
            preamble = Some(line.trim_end().to_string());
            rest
        }
        _ => text,
    };
    let first = text.trim_start().chars().next();
    let (format, json_text) = if matches!(first, Some('{') | Some('[')) {
        (Format::Json, std::borrow::Cow::Borrowed(text))
    } else {
        (Format::Yaml, std::borrow::Cow::Owned(yaml_to_json(file, text)?))
    };
    let mut decoded = json::decode_document(file, &json_text).map_err(|e| explain_foreign_text(file, text, e))?;
    if let Some(line) = preamble {
        for d in &mut decoded {
            d.report.preamble = Some(line.clone());
        }
    }
    Ok(decoded
        .into_iter()
        .map(|d| LoadedDump {
            file: file.into(),
            name: d.name,
            format,
            gzip: false,
            shape: d.shape,
            sections: d.sections,
            report: d.report,
        })
        .collect())
}

fn yaml_to_json(file: &str, text: &str) -> Result<String, InputError> {
    yaml_guard(text).map_err(|msg| InputError::Yaml { file: file.into(), msg })?;
    let left = std::cell::Cell::new(yaml::budget_for(text.len()));
    let parsed = serde::de::DeserializeSeed::deserialize(
        yaml::Budgeted { left: &left },
        serde_yaml_ng::Deserializer::from_str(text),
    );
    let value: serde_json::Value = match parsed {
        Ok(v) => v,
        Err(e) => {
            if text.chars().take(512).any(|c| c.is_control() && !c.is_whitespace()) {
                return Err(InputError::NotADump {
                    file: file.into(),
                    looks_like: describe_binary(text.as_bytes()),
                });
            }
            return Err(InputError::Yaml {
                file: file.into(),
                msg: e.to_string(),
            });
        }
    };
    match &value {
        serde_json::Value::Object(_) | serde_json::Value::Array(_) => {}
        other => {
            return Err(InputError::NotADump {
                file: file.into(),
                looks_like: format!("plain text ({})", kind_of(other)),
            })
        }
    }
    Ok(serde_json::to_string(&value).expect("a Value always serialises"))
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "YAML null",
        serde_json::Value::Bool(_) => "a YAML boolean",
        serde_json::Value::Number(_) => "a YAML number",
        serde_json::Value::String(_) => "a YAML scalar string",
        _ => "a YAML document",
    }
}

/// UTF-16 text (PowerShell's `>` writes it): a BOM, or ASCII interleaved
/// with NUL bytes.
fn utf16(bytes: &[u8]) -> Option<String> {
    let bom = bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]);
    let head = &bytes[..bytes.len().min(64) & !1];
    let interleaved = head.len() >= 8
        && (head.chunks(2).all(|c| c[1] == 0 && c[0].is_ascii() && c[0] != 0)
            || head.chunks(2).all(|c| c[0] == 0 && c[1].is_ascii() && c[1] != 0));
    (bom || interleaved).then(|| {
        "UTF-16 text (as PowerShell's `>` writes it), not UTF-8: convert it with \
         `iconv -f UTF-16 -t UTF-8 FILE > FILE.json` (or `Out-File -Encoding utf8`) and read that"
            .to_string()
    })
}

/// How Envoy's admin answers /config_dump when it cannot print it (a
/// resource of a type it does not know, kept in an error_state).
pub const ENVOY_DUMP_FAILURE: &str = "Failed to convert protobuf message to JSON string:";

/// Text people paste instead of a dump, recognised on its first line.
fn pasted_text(text: &str) -> Option<String> {
    let t = text.trim_start();
    let first = t.lines().next().unwrap_or("").trim_end();
    let lower: String = first.chars().take(64).collect::<String>().to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.starts_with("<head") {
        return Some(
            "an HTML page (an error page from a proxy or load balancer, such as a 502), not a dump: \
             the request for /config_dump did not reach Envoy's admin endpoint"
                .into(),
        );
    }
    if let Some(reason) = first.strip_prefix(ENVOY_DUMP_FAILURE) {
        return Some(format!(
            "Envoy's own answer when it cannot print its config dump ({}): it holds a resource of a type \
             it does not know, usually a rejected update kept in a listener's error_state. The sections \
             can still be fetched one by one (/config_dump?resource=dynamic_active_listeners, \
             ?resource=dynamic_active_clusters, ...); `egress-xray nack` reads this file as evidence",
            excerpt(reason.trim())
        ));
    }
    if first.starts_with("curl: (") {
        return Some(format!(
            "curl's own error message ({}), not a dump: the admin endpoint could not be reached",
            excerpt(first)
        ));
    }
    let header = [
        "NAME",
        "ADDRESSES",
        "SERVICE FQDN",
        "RESOURCE NAME",
        "ENDPOINT",
        "DOMAINS",
        "VHOST NAME",
    ];
    if first.starts_with(|c: char| c.is_ascii_uppercase())
        && first.contains("  ")
        && first.split("  ").filter(|w| header.contains(&w.trim())).count() >= 2
    {
        return Some(
            "a text table as `istioctl proxy-config` prints it, not a dump: take it again with `-o json` \
             (or the whole dump: `istioctl proxy-config all POD -o json`)"
                .into(),
        );
    }
    if let Some(what) = log_file(t) {
        return Some(what);
    }
    kubernetes_manifest(t)
}

/// Timestamped lines: an Envoy, pilot-agent or istiod log.
fn log_file(t: &str) -> Option<String> {
    static STAMP: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(\[)?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|^[IWEF]\d{4} \d{2}:\d{2}").expect("a valid regex")
    });
    let stamp = &*STAMP;
    let lines: Vec<&str> = t.lines().filter(|l| !l.trim().is_empty()).take(5).collect();
    let stamped = lines.iter().filter(|l| stamp.is_match(l)).count();
    if stamped == 0 || stamped * 2 < lines.len() {
        return None;
    }
    let istiod = lines
        .iter()
        .any(|l| l.contains("\tads\t") || l.contains("ads\tADS:") || l.contains("\tmodel\t") || l.contains("pilot"));
    Some(if istiod {
        "a log file (istiod's, by its lines): give it to `egress-xray nack --istiod-log FILE` \
         or `egress-xray explain --istiod-log FILE`"
            .into()
    } else {
        "a log file (timestamped lines): give an Envoy or pilot-agent log to \
         `egress-xray nack --envoy-log [PROXY=]FILE`, an istiod log to `--istiod-log FILE`"
            .into()
    })
}

/// YAML or JSON Kubernetes objects (apiVersion and kind at the top level).
fn kubernetes_manifest(t: &str) -> Option<String> {
    use std::sync::LazyLock;
    type Re = LazyLock<regex::Regex>;
    static JSON_API: Re = LazyLock::new(|| regex::Regex::new(r#"^\{\s*"(apiVersion|kind)""#).expect("a valid regex"));
    static JSON_KIND: Re = LazyLock::new(|| regex::Regex::new(r#""kind"\s*:\s*"([A-Za-z]+)""#).expect("a valid regex"));
    static YAML_API: Re = LazyLock::new(|| regex::Regex::new(r"(?m)^apiVersion:\s*\S+").expect("a valid regex"));
    static YAML_KIND: Re = LazyLock::new(|| regex::Regex::new(r"(?m)^kind:\s*([A-Za-z]+)").expect("a valid regex"));
    // At most 64 KiB of the start, cut at a character boundary.
    let mut end = t.len().min(65536);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    let head = &t[..end];
    let (api, kind): (&regex::Regex, &regex::Regex) = if head.starts_with('{') {
        (&JSON_API, &JSON_KIND)
    } else {
        (&YAML_API, &YAML_KIND)
    };
    if !api.is_match(head) {
        return None;
    }
    let mut kinds: Vec<String> = Vec::new();
    for c in kind.captures_iter(head) {
        let k = c[1].to_string();
        if !kinds.contains(&k) && k != "List" {
            kinds.push(k);
        }
    }
    if kinds.is_empty() {
        return None;
    }
    let istio = [
        "Gateway",
        "VirtualService",
        "ServiceEntry",
        "DestinationRule",
        "Sidecar",
        "EnvoyFilter",
    ];
    let workloads = ["Service", "Deployment", "StatefulSet", "DaemonSet", "Pod"];
    let hint = if kinds.iter().any(|k| istio.contains(&k.as_str())) {
        "give it to `egress-xray explain --istio FILE` (Istio objects) or `egress-xray nack --istio FILE`"
    } else if kinds.iter().any(|k| workloads.contains(&k.as_str())) {
        "give it to `egress-xray explain --k8s FILE` (Services, Deployments, Pods)"
    } else {
        "not Istio config or a workload either; egress-xray reads config dumps, Istio objects (`explain --istio`) and Services/Deployments/Pods (`explain --k8s`)"
    };
    Some(format!(
        "a Kubernetes manifest ({}): {hint}",
        kinds.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
    ))
}

/// At most 120 characters of input text, for a message.
fn excerpt(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Malformed JSON that is really something else gets a better message.
fn explain_foreign_text(file: &str, text: &str, e: InputError) -> InputError {
    if let InputError::Json { .. } = &e {
        let head: String = text.chars().take(4096).collect();
        if head.trim_start().starts_with("//") || head.contains("\n//") || head.contains("\n  //") {
            return InputError::NotADump {
                file: file.into(),
                looks_like: format!("JSON with // comments, which JSON does not allow: remove them ({e})"),
            };
        }
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(3).collect();
        if lines.len() >= 2
            && lines
                .iter()
                .all(|l| l.trim_start().starts_with('{') && l.trim_end().ends_with('}'))
        {
            return InputError::NotADump {
                file: file.into(),
                looks_like: format!(
                    "several JSON documents, one per line (NDJSON): give each dump as its own file \
                     (for example `split -l 1 FILE dump-`) ({e})"
                ),
            };
        }
        if head.trim_start().starts_with("{'") || head.contains("': True") || head.contains("': {'") {
            return InputError::NotADump {
                file: file.into(),
                looks_like: format!(
                    "a Python dict repr (single-quoted keys, True/False), not JSON; \
                     re-export it with json.dump ({e})"
                ),
            };
        }
    }
    e
}

fn describe_binary(bytes: &[u8]) -> String {
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "binary data (starts {}) that is neither gzip nor a protobuf envoy.admin.v3.ConfigDump",
        head.join(" ")
    )
}

/// The longest log line kept whole; the rest of a longer line is skipped
/// (and said) rather than read into memory and printed back.
pub const MAX_LOG_LINE: usize = 64 * 1024;

/// A log file as text, streamed line by line. Logs are read lossily: bytes
/// that are not UTF-8 (a truncated multi-byte character, a binary blob in a
/// container log) become U+FFFD and the rest is read; a line longer than
/// MAX_LOG_LINE keeps its beginning and ends with a `[… N bytes cut]`
/// marker. The note says what happened and where. Only a file that cannot
/// be read at all is an error.
pub fn read_log(file: &str) -> Result<(String, Option<String>), InputError> {
    use std::io::BufRead;
    let io = |e| InputError::Io {
        file: file.to_string(),
        source: e,
    };
    let mut r = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(file).map_err(io)?);
    let mut text = String::new();
    let (mut offset, mut first_bad, mut bad, mut cut_lines) = (0u64, None, 0usize, 0usize);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut skipped = 0u64;
        // Read one line, keeping at most MAX_LOG_LINE bytes of it.
        let ended = loop {
            let buf = r.fill_buf().map_err(io)?;
            if buf.is_empty() {
                break false;
            }
            let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..=i], true),
                None => (buf, false),
            };
            let room = (MAX_LOG_LINE + 1).saturating_sub(line.len());
            let keep = chunk.len().min(room);
            line.extend_from_slice(&chunk[..keep]);
            skipped += (chunk.len() - keep) as u64;
            let n = chunk.len();
            r.consume(n);
            if found {
                break true;
            }
        };
        if line.is_empty() && !ended {
            break;
        }
        let start = offset;
        offset += line.len() as u64 + skipped;
        // `ended`: the line had its newline (possibly in the part cut off,
        // which then counts it: it is not text that was cut).
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if ended {
            skipped -= 1;
        }
        if line.len() > MAX_LOG_LINE || skipped > 0 {
            let extra = (line.len().saturating_sub(MAX_LOG_LINE)) as u64 + skipped;
            line.truncate(MAX_LOG_LINE);
            cut_lines += 1;
            let s = String::from_utf8_lossy(&line).into_owned();
            text.push_str(&s);
            text.push_str(&format!(" [… {extra} bytes cut]"));
        } else {
            match std::str::from_utf8(&line) {
                Ok(s) => text.push_str(s),
                Err(e) => {
                    first_bad.get_or_insert(start + e.valid_up_to() as u64);
                    let s = String::from_utf8_lossy(&line);
                    bad += s.matches('\u{fffd}').count();
                    text.push_str(&s);
                }
            }
        }
        if !ended {
            break;
        }
        text.push('\n');
    }
    let mut notes = Vec::new();
    if let Some(at) = first_bad {
        notes.push(format!(
            "{bad} invalid UTF-8 sequence(s), the first at byte offset {at}; read as U+FFFD, the rest of the log was read"
        ));
    }
    if cut_lines > 0 {
        notes.push(format!(
            "{cut_lines} line(s) longer than {} KiB kept only their beginning",
            MAX_LOG_LINE >> 10
        ));
    }
    let note = (!notes.is_empty()).then(|| format!("{file}: {}", notes.join("; ")));
    Ok((text, note))
}

/// The files below a directory, for the inputs that take one (`--istio`,
/// `--k8s`, `--bug-report`): in name order, each real file once. Directory
/// links are not followed (two `a -> .` links made the walk endless), a
/// file link is read only when it resolves inside the root (and to a file
/// not already read), and the walk stops at a depth and a file count no
/// real archive reaches. Everything passed over is said in `skipped`.
#[derive(Debug, Default)]
pub struct DirWalk {
    pub files: Vec<std::path::PathBuf>,
    pub skipped: Vec<String>,
}

const WALK_MAX_DEPTH: usize = 32;
const WALK_MAX_FILES: usize = 100_000;

pub fn walk_dir(root: &std::path::Path) -> Result<DirWalk, InputError> {
    let io = |p: &std::path::Path, e: std::io::Error| InputError::Io {
        file: p.display().to_string(),
        source: e,
    };
    let canonical_root = std::fs::canonicalize(root).map_err(|e| io(root, e))?;
    let mut walk = DirWalk::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let mut entries: Vec<std::fs::DirEntry> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(Result::ok).collect(),
            Err(e) => {
                walk.skipped.push(format!("{}: cannot be read ({e})", dir.display()));
                continue;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        // Depth first, in name order: push subdirectories in reverse.
        let mut subdirs = Vec::new();
        for e in entries {
            let path = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                if depth + 1 > WALK_MAX_DEPTH {
                    walk.skipped.push(format!(
                        "{}: deeper than {WALK_MAX_DEPTH} folders, not read",
                        path.display()
                    ));
                } else {
                    subdirs.push((path, depth + 1));
                }
                continue;
            }
            let real = if kind.is_symlink() {
                match std::fs::canonicalize(&path) {
                    Ok(t) if t.is_dir() => {
                        walk.skipped
                            .push(format!("{}: a link to a folder, not followed", path.display()));
                        continue;
                    }
                    Ok(t) if !t.starts_with(&canonical_root) => {
                        walk.skipped.push(format!(
                            "{}: a link to {} outside {}, not read",
                            path.display(),
                            t.display(),
                            root.display()
                        ));
                        continue;
                    }
                    Ok(t) => t,
                    Err(_) => {
                        walk.skipped.push(format!("{}: a broken link", path.display()));
                        continue;
                    }
                }
            } else if kind.is_file() {
                std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())
            } else {
                continue; // sockets, fifos, devices: never dumps
            };
            if !seen.insert(real) {
                walk.skipped
                    .push(format!("{}: the same file as one already read", path.display()));
                continue;
            }
            if walk.files.len() >= WALK_MAX_FILES {
                walk.skipped.push(format!(
                    "{}: more than {WALK_MAX_FILES} files, the rest not read",
                    root.display()
                ));
                return Ok(walk);
            }
            walk.files.push(path);
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(walk)
}

/// Aliases a YAML input may use. Envoy, istioctl and kubectl never write
/// anchors; a hand-written Kubernetes file might use a few. A flat alias
/// fan-out (`&a [x × K]`, then K × `*a`) expands to K² nodes from a few KB.
pub const YAML_MAX_ALIASES: usize = 100;
/// Flow nesting (`[[[...]]]`) a YAML input may have; parsing deep flow
/// nesting is quadratic in the YAML library, and no real input comes close.
pub const YAML_MAX_FLOW_DEPTH: usize = 128;

/// Refuses, before parsing, YAML whose aliases or flow nesting would make
/// the parser's memory or time grow beyond what the text holds. A lexical
/// scan: quoted scalars and comments are skipped.
pub fn yaml_guard(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let (mut i, mut depth, mut max_depth, mut aliases) = (0usize, 0usize, 0usize, 0usize);
    let mut prev = b'\n'; // last byte that was not a space or tab
    while i < b.len() {
        let c = b[i];
        match c {
            // A quote opens a quoted scalar only where a scalar starts (a
            // `"` inside a plain scalar must not hide what follows).
            b'"' if matches!(prev, b'\n' | b':' | b'-' | b',' | b'[' | b'{' | b'?') => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if matches!(prev, b'\n' | b':' | b'-' | b',' | b'[' | b'{' | b'?') => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'#' if matches!(prev, b'\n') || i > 0 && matches!(b[i - 1], b' ' | b'\t') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                prev = b'\n';
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                max_depth = max_depth.max(depth);
                if max_depth > YAML_MAX_FLOW_DEPTH {
                    return Err(format!(
                        "YAML nested more than {YAML_MAX_FLOW_DEPTH} levels deep in [ ] or {{ }}: no dump or Istio object is; refused before parsing (deep nesting makes the parser slow)"
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'*' if matches!(prev, b'\n' | b':' | b'-' | b',' | b'[' | b'{' | b'?')
                && b.get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphanumeric() || matches!(n, b'_' | b'-')) =>
            {
                aliases += 1;
                if aliases > YAML_MAX_ALIASES {
                    return Err(format!(
                        "YAML uses more than {YAML_MAX_ALIASES} aliases (*name); Envoy, istioctl and kubectl never write them, and an alias fan-out expands without bound: refused before parsing"
                    ));
                }
            }
            _ => {}
        }
        if c == b'\n' {
            prev = b'\n';
        } else if c != b' ' && c != b'\t' && c != b'\r' {
            prev = c;
        }
        i += 1;
    }
    Ok(())
}
