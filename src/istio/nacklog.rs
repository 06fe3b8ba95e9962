//! Rejections (NACKs) in logs: Envoy's own (`gRPC config for T rejected`,
//! `delta config for T rejected`, bootstrap errors), pilot-agent's readiness
//! lines, istiod's `ADS:<TYPE>: ACK ERROR`, and other control planes' NACK
//! lines (Kuma, Cilium). Look-alikes — fetch timeouts, debug `update failed`,
//! readiness lines with zero rejections — are not rejections.

use serde::Serialize;

/// Where a rejection was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reporter {
    /// The proxy itself (Envoy's log).
    Envoy,
    /// pilot-agent's readiness probe summary.
    Agent,
    /// The control plane (istiod `ACK ERROR`, Kuma, Cilium).
    ControlPlane,
}

/// One rejection as a log line tells it.
#[derive(Debug, Clone, Serialize)]
pub struct LogRejection {
    pub reporter: Reporter,
    /// `LDS`, `CDS`, `RDS`, `EDS`, `SDS`, `ECDS`.
    pub xds_type: String,
    /// True when the type was guessed from the message (no type URL).
    pub type_inferred: bool,
    /// The rejected resource, when the line names it.
    pub resource: Option<String>,
    pub message: String,
    /// RFC 3339 when the line has a time.
    pub time: Option<String>,
    /// The proxy, as `pod.namespace` (or the control plane's node id) when
    /// the line names it.
    pub proxy: Option<String>,
    /// `delta` or `sotw` for Envoy lines.
    pub protocol: Option<String>,
    /// For readiness lines: how many updates of this type were rejected.
    pub count: Option<u32>,
    /// Envoy's own per-resource line (`lds: listener 'x' config rejected:`),
    /// which the transport's summary line repeats.
    #[serde(skip)]
    pub per_resource: bool,
}

/// Per-type readiness counts do not name resources; the rest do.
pub fn parse_line(line: &str) -> Vec<LogRejection> {
    // istio-proxy appends structured fields after a tab (`\tthread=14`).
    let l = strip_fields(line.trim_end());
    let time = line_time(l);
    let proxy = line_proxy(l);
    if let Some((type_url, msg, protocol)) = envoy_rejection(l) {
        return split_resources(&type_of(type_url), false, msg)
            .into_iter()
            .map(|(resource, message)| LogRejection {
                reporter: Reporter::Envoy,
                xds_type: type_of(type_url),
                type_inferred: false,
                resource,
                message,
                time: time.clone(),
                proxy: proxy.clone(),
                protocol: Some(protocol.into()),
                count: None,
                per_resource: false,
            })
            .collect();
    }
    // Envoy's per-resource lines, printed whatever the transport:
    // `lds: listener 'NAME' config rejected: MSG`, `cds: cluster 'NAME' ...`.
    for (head, ty) in [("lds: listener '", "LDS"), ("cds: cluster '", "CDS")] {
        if let Some(rest) = after(l, head) {
            if let Some((name, msg)) = rest.split_once("' config rejected: ") {
                return vec![LogRejection {
                    reporter: Reporter::Envoy,
                    xds_type: ty.into(),
                    type_inferred: false,
                    resource: Some(name.to_string()),
                    message: msg.to_string(),
                    time,
                    proxy,
                    protocol: None,
                    count: None,
                    per_resource: true,
                }];
            }
        }
    }
    // File-based xDS: the update as a whole.
    if let Some(msg) = after(l, "Filesystem config update rejected: ") {
        let ty = infer_type(msg);
        return split_resources(&ty, true, msg)
            .into_iter()
            .map(|(resource, message)| LogRejection {
                reporter: Reporter::Envoy,
                xds_type: ty.clone(),
                type_inferred: true,
                resource,
                message,
                time: time.clone(),
                proxy: proxy.clone(),
                protocol: Some("file".into()),
                count: None,
                per_resource: false,
            })
            .collect();
    }
    if let Some(rest) = after(l, "Filesystem config update failure: ") {
        return vec![file_failure(rest, time, proxy)];
    }
    if let Some(rest) = after(l, "error initializing configuration '") {
        let msg = rest.split_once("': ").map_or(rest, |(_, m)| m);
        return vec![LogRejection {
            reporter: Reporter::Envoy,
            xds_type: infer_type(msg),
            type_inferred: true,
            resource: None,
            message: format!("bootstrap: {msg}"),
            time,
            proxy,
            protocol: None,
            count: None,
            per_resource: false,
        }];
    }
    if let Some(rest) = after(l, "but was rejected: ") {
        return readiness(rest, time);
    }
    if let Some(rest) = after(l, ": ACK ERROR ") {
        let ty = between(l, "ADS:", ": ACK ERROR").unwrap_or("").to_string();
        return istiod_ack_error(&ty, rest, time);
    }
    if l.contains("config was previously rejected by Envoy") {
        let node = json_field(l, "nodeID");
        let reason = json_field(l, "reason").unwrap_or_default().replace("\\n", "\n");
        let ty = infer_type(&reason);
        return split_resources(&ty, true, reason.trim_end())
            .into_iter()
            .map(|(resource, message)| LogRejection {
                reporter: Reporter::ControlPlane,
                xds_type: ty.clone(),
                type_inferred: true,
                resource,
                message,
                time: time.clone(),
                proxy: node.clone(),
                protocol: None,
                count: None,
                per_resource: false,
            })
            .collect();
    }
    if l.contains("NACK received for version") {
        let url = after(l, "xdsTypeURL=").map(|r| r.split_whitespace().next().unwrap_or(""));
        let node = between(l, "xdsClientNode=\"id:\\\"", "\\\"").map(str::to_string);
        return vec![LogRejection {
            reporter: Reporter::ControlPlane,
            xds_type: url.map(type_of).unwrap_or_else(|| "unknown".into()),
            type_inferred: url.is_none(),
            resource: None,
            message: "NACK received (the control plane's log does not carry Envoy's reason)".into(),
            time,
            proxy: node,
            protocol: None,
            count: None,
            per_resource: false,
        }];
    }
    // A fragment quoted without its head: `rejected: <reason>`.
    if let Some(msg) = l.trim_start().strip_prefix("rejected: ") {
        return vec![LogRejection {
            reporter: Reporter::Envoy,
            xds_type: infer_type(msg),
            type_inferred: true,
            resource: None,
            message: msg.to_string(),
            time,
            proxy,
            protocol: None,
            count: None,
            per_resource: false,
        }];
    }
    Vec::new()
}

/// `in FILE, Unable to parse JSON as proto (REASON): <the whole file>`: the
/// file was refused as a whole; its type comes from the resources' `@type`
/// in the file text or from the file's name.
fn file_failure(rest: &str, time: Option<String>, proxy: Option<String>) -> LogRejection {
    let (file, msg) = rest
        .strip_prefix("in ")
        .and_then(|r| r.split_once(", "))
        .unwrap_or(("", rest));
    // The reason ends where the file text starts.
    let (reason, body) = match msg.find("): ") {
        Some(i) => (&msg[..=i], &msg[i + 3..]),
        None => (msg, ""),
    };
    let by_body = [
        ("envoy.config.listener.v3.Listener", "LDS"),
        ("envoy.config.cluster.v3.Cluster", "CDS"),
        ("envoy.config.route.v3.RouteConfiguration", "RDS"),
        ("envoy.config.endpoint.v3.ClusterLoadAssignment", "EDS"),
        ("envoy.extensions.transport_sockets.tls.v3.Secret", "SDS"),
    ]
    .iter()
    .find(|(t, _)| body.contains(&format!("type.googleapis.com/{t}\"")) || body.contains(&format!("/{t}\"")))
    .map(|(_, ty)| ty.to_string());
    let base = file.rsplit('/').next().unwrap_or(file).to_ascii_lowercase();
    let by_name = ["lds", "cds", "rds", "eds", "sds"]
        .iter()
        .find(|k| base.contains(*k))
        .map(|k| k.to_ascii_uppercase());
    let ty = by_body.or(by_name).unwrap_or_else(|| infer_type(reason));
    LogRejection {
        reporter: Reporter::Envoy,
        xds_type: ty,
        type_inferred: true,
        resource: None,
        message: format!("{reason} (the whole file {file} was refused: nothing in it was applied)"),
        time,
        proxy,
        protocol: Some("file".into()),
        count: None,
        per_resource: false,
    }
}

/// A line that continues a multi-resource rejection (`name: reason`, no
/// time, no level), as Envoy prints one line per rejected resource.
pub fn continuation(line: &str) -> Option<(String, String)> {
    let l = line.trim_end();
    if l.is_empty() || l.starts_with(char::is_whitespace) || line_time(l).is_some() {
        return None;
    }
    let (name, msg) = l.split_once(": ")?;
    let name_ok = !name.is_empty() && !name.contains(' ') && !name.contains('[') && name.len() < 200;
    name_ok.then(|| (name.to_string(), msg.to_string()))
}

/// (type URL, message, protocol) of an Envoy rejection line.
fn envoy_rejection(l: &str) -> Option<(&str, &str, &'static str)> {
    for (head, protocol) in [("gRPC config for ", "sotw"), ("delta config for ", "delta")] {
        let Some(rest) = after(l, head) else { continue };
        let (url, tail) = rest.split_once(' ')?;
        let msg = tail
            .strip_prefix("rejected: ")
            .or_else(|| tail.strip_prefix("update rejected: "))?;
        return Some((url, msg, protocol));
    }
    None
}

/// `LDS` for a listener type URL (v2 or v3), etc.
pub fn type_of(type_url: &str) -> String {
    let name = type_url.rsplit('/').next().unwrap_or(type_url);
    let short = name.rsplit('.').next().unwrap_or(name);
    match short {
        "Listener" => "LDS",
        "Cluster" => "CDS",
        "RouteConfiguration" => "RDS",
        "ScopedRouteConfiguration" => "SRDS",
        "ClusterLoadAssignment" => "EDS",
        "Secret" => "SDS",
        "TypedExtensionConfig" => "ECDS",
        "VirtualHost" => "VHDS",
        _ => return short.to_string(),
    }
    .to_string()
}

/// RE2's own error messages, which Envoy prints as `<message>: <pattern>`.
pub fn re2_error(m: &str) -> bool {
    const RE2: &[&str] = &[
        "missing ):",
        "unexpected ):",
        "missing ]:",
        "invalid escape sequence:",
        "invalid character class range:",
        "invalid character class:",
        "missing argument to repetition operator:",
        "invalid repetition size:",
        "invalid perl operator:",
        "invalid utf-8:",
        "invalid named capture group:",
        "trailing \\:",
        "bad repetition operator:",
    ];
    RE2.iter().any(|e| m.starts_with(e) || m.contains(&format!(": {e}")))
}

/// The type a message is about, when no type URL says it.
fn infer_type(msg: &str) -> String {
    let m = msg.to_ascii_lowercase();
    if m.contains("listener") {
        "LDS"
    } else if m.contains("cluster") && !m.contains("unknown cluster") {
        "CDS"
    } else if m.contains("regex")
        || re2_error(&m)
        || m.contains("route")
        || m.contains("virtual host")
        || m.contains("repetition operator")
    {
        "RDS"
    } else if m.contains("secret") || m.contains("certificate") {
        "SDS"
    } else {
        "unknown"
    }
    .to_string()
}

/// `Error adding/updating listener(s) a: x, b: y` → [(a, x), (b, y)];
/// proto validation failures → the `name: "..."` they print; else one
/// record without a resource.
fn split_resources(ty: &str, _inferred: bool, msg: &str) -> Vec<(Option<String>, String)> {
    let heads = [
        "Error adding/updating listener(s) ",
        "Error adding/updating listener ",
        "Error adding/updating cluster(s) ",
        "Error adding/updating cluster ",
    ];
    for h in heads {
        if let Some(rest) = msg.strip_prefix(h).or_else(|| after(msg, h)) {
            let mut out = Vec::new();
            for part in split_named(rest) {
                match part.split_once(": ") {
                    Some((name, reason)) => out.push((Some(name.to_string()), reason.to_string())),
                    None => out.push((None, part)),
                }
            }
            return out;
        }
    }
    let _ = ty;
    let resource = between(msg, "name: \"", "\"")
        .map(str::to_string)
        .filter(|n| !n.is_empty());
    vec![(resource, msg.to_string())]
}

/// Splits `a: x, b: y` (or newline-separated entries) where each entry
/// starts with a resource name (no spaces) followed by `: `.
fn split_named(s: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for line in s.split('\n').filter(|l| !l.trim().is_empty()) {
        let mut current = String::new();
        for piece in line.split(", ") {
            let starts_entry = piece
                .split_once(": ")
                .is_some_and(|(n, _)| !n.is_empty() && !n.contains(' ') && looks_like_resource(n));
            if starts_entry && !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push_str(", ");
            }
            current.push_str(piece);
        }
        if !current.is_empty() {
            parts.push(current);
        }
    }
    parts
}

fn looks_like_resource(n: &str) -> bool {
    n.chars()
        .any(|c| matches!(c, '_' | '|' | '.' | ':' | '/' | '-') || c.is_ascii_digit())
}

/// pilot-agent: `cds updates: 1 successful, 0 rejected; lds updates: 0 successful, 1 rejected`.
fn readiness(rest: &str, time: Option<String>) -> Vec<LogRejection> {
    rest.split(';')
        .filter_map(|part| {
            let part = part.trim();
            let (ty, counts) = part.split_once(" updates: ")?;
            let rejected: u32 = counts
                .split(", ")
                .find_map(|c| c.strip_suffix(" rejected"))?
                .trim()
                .parse()
                .ok()?;
            (rejected > 0).then(|| LogRejection {
                reporter: Reporter::Agent,
                xds_type: ty.to_ascii_uppercase(),
                type_inferred: false,
                resource: None,
                message: format!("pilot-agent: {rejected} {} update(s) rejected", ty.to_ascii_uppercase()),
                time: time.clone(),
                proxy: None,
                protocol: None,
                count: Some(rejected),
                per_resource: false,
            })
        })
        .collect()
}

/// istiod: `ADS:CDS: ACK ERROR <conn> <code>:<message>`.
fn istiod_ack_error(ty: &str, rest: &str, time: Option<String>) -> Vec<LogRejection> {
    // Older istiod: `<ip:port> <node id>-<n> Code:msg`; newer: `<pod.ns>-<n> Code:msg`.
    let mut words = rest.splitn(3, ' ');
    let first = words.next().unwrap_or("");
    let (conn, tail) =
        if first.contains(':') && !first.contains('~') && first.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            (words.next().unwrap_or(""), words.next().unwrap_or(""))
        } else {
            let rest2 = rest.split_once(' ').map_or("", |(_, t)| t);
            (first, rest2)
        };
    let proxy = proxy_of_connection(conn);
    let msg = tail.split_once(':').map_or(tail, |(_, m)| m);
    split_resources(ty, false, msg)
        .into_iter()
        .map(|(resource, message)| LogRejection {
            reporter: Reporter::ControlPlane,
            xds_type: ty.to_string(),
            type_inferred: false,
            resource,
            message,
            time: time.clone(),
            proxy: Some(proxy.clone()),
            protocol: None,
            count: None,
            per_resource: false,
        })
        .collect()
}

/// istiod's connection id → `pod.namespace`.
pub fn proxy_of_connection(conn: &str) -> String {
    let without_counter = conn
        .rsplit_once('-')
        .filter(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()))
        .map_or(conn, |(c, _)| c);
    // A node id: type~ip~pod.ns~domain.
    let parts: Vec<&str> = without_counter.split('~').collect();
    if parts.len() == 4 {
        return parts[2].to_string();
    }
    without_counter.to_string()
}

/// A leading time: RFC 3339, or Envoy's `[2021-01-28 08:15:18.005]` (no
/// zone: taken as UTC).
pub fn line_time(l: &str) -> Option<String> {
    let start = l.find(|c: char| c.is_ascii_digit())?;
    // Only times at the start of the line or right after a prefix like
    // `router_1    | [` or `pod container [`.
    let head = &l[..start];
    if head.len() > 80 {
        return None;
    }
    let rest = &l[start..];
    let candidate: String = rest.chars().take(32).collect();
    let date_ok = candidate.len() >= 19
        && candidate.as_bytes()[4] == b'-'
        && candidate.as_bytes()[7] == b'-'
        && matches!(candidate.as_bytes()[10], b'T' | b' ');
    if !date_ok {
        return None;
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | ':' | '.' | 'T' | 'Z' | '+' | ' ')))
        .unwrap_or(rest.len());
    let mut t = rest[..end].trim().to_string();
    // `2021-01-28 08:15:18.005` → RFC 3339 in UTC.
    if t.as_bytes().get(10) == Some(&b' ') {
        t.replace_range(10..11, "T");
    }
    let t = t.split_whitespace().next().unwrap_or("").to_string();
    if t.len() < 19 {
        return None; // a date without a time of day
    }
    let with_zone = if t.ends_with('Z') || t[10..].contains('+') || t[11..].contains('-') {
        t
    } else {
        format!("{t}Z")
    };
    time::OffsetDateTime::parse(&with_zone, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|_| with_zone)
}

/// The proxy a log line's prefix names (kubectl/stern prefixes).
fn line_proxy(l: &str) -> Option<String> {
    // stern: `ns/pod[container]: ...`
    if let Some((head, _)) = l.split_once("]: ") {
        if let Some((np, _)) = head.split_once('[') {
            if let Some((ns, pod)) = np.split_once('/') {
                if !ns.contains(' ') && !pod.contains(' ') {
                    return Some(format!("{pod}.{ns}"));
                }
            }
        }
    }
    None
}

/// Drops trailing `\tkey=value` fields.
fn strip_fields(l: &str) -> &str {
    let mut end = l.len();
    while let Some(i) = l[..end].rfind('\t') {
        let tail = &l[i + 1..end];
        let is_field = tail
            .split_once('=')
            .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !is_field {
            break;
        }
        end = i;
    }
    &l[..end]
}

fn after<'a>(s: &'a str, start: &str) -> Option<&'a str> {
    s.find(start).map(|i| &s[i + start.len()..])
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = after(s, start)?;
    rest.find(end).map(|i| &rest[..i])
}

/// A string field of the JSON object at the end of a structured log line.
fn json_field(l: &str, key: &str) -> Option<String> {
    let start = l.find('{')?;
    let v: serde_json::Value = serde_json::from_str(&l[start..]).ok()?;
    v.get(key)?.as_str().map(str::to_string)
}

/// Every rejection in a log text, continuation lines attached to the
/// rejection before them; `#` comment lines are skipped.
pub fn parse_log(file: &str, text: &str) -> Vec<(LogRejection, String)> {
    let mut out: Vec<(LogRejection, String)> = Vec::new();
    let mut last: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        if raw.starts_with('#') {
            continue;
        }
        let source = format!("{file}:{}", i + 1);
        let found = parse_line(raw);
        if !found.is_empty() {
            last = Some(out.len() + found.len() - 1);
            out.extend(found.into_iter().map(|r| (r, source.clone())));
            continue;
        }
        // `name: reason` right after a multi-resource rejection.
        if let (Some(at), Some((name, msg))) = (last, continuation(raw)) {
            let base = out[at].0.clone();
            if base.reporter == Reporter::Envoy && base.resource.is_some() {
                out.push((
                    LogRejection {
                        resource: Some(name),
                        message: msg,
                        ..base
                    },
                    source,
                ));
                last = Some(out.len() - 1);
                continue;
            }
        }
        if !raw.trim().is_empty() {
            last = None;
        }
    }
    merge_summaries(out)
}

/// Envoy prints each rejected listener or cluster on its own line and then
/// the transport's summary line (`gRPC config for … rejected`, `Filesystem
/// config update rejected`) repeating it: one rejection, not two. A summary
/// record that repeats a per-resource record of the last seconds is
/// dropped; its transport is kept on the per-resource record.
fn merge_summaries(records: Vec<(LogRejection, String)>) -> Vec<(LogRejection, String)> {
    let secs = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
    };
    let same_text = |a: &str, b: &str| {
        let (a, b) = (a.trim(), b.trim());
        a == b || a.starts_with(b) || b.starts_with(a)
    };
    let mut out: Vec<(LogRejection, String)> = Vec::with_capacity(records.len());
    for (r, src) in records {
        let is_summary = r.reporter == Reporter::Envoy && !r.per_resource && r.protocol.is_some();
        if is_summary {
            let t = secs(&r.time);
            let twin = out.iter_mut().rev().take(64).find(|(p, _)| {
                p.per_resource
                    && p.xds_type == r.xds_type
                    && p.resource == r.resource
                    && same_text(&p.message, &r.message)
                    && match (secs(&p.time), t) {
                        (Some(a), Some(b)) => (b - a).abs() <= 2.0,
                        _ => true,
                    }
            });
            if let Some((p, _)) = twin {
                if p.protocol.is_none() {
                    p.protocol = r.protocol.clone();
                }
                continue;
            }
        }
        out.push((r, src));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_multi_listener_and_names_with_colons() {
        let r = parse_line("[2020-11-17 15:42:27.452][12][warning][config] [x.cc:107] gRPC config for type.googleapis.com/envoy.api.v2.Listener rejected: Error adding/updating listener(s) outbound:240.0.0.1:80: envoy.tracers.zipkin: unknown cluster 'tracing:jaeger-collector'");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].xds_type, "LDS");
        assert_eq!(r[0].resource.as_deref(), Some("outbound:240.0.0.1:80"));
        assert_eq!(r[0].time.as_deref(), Some("2020-11-17T15:42:27.452Z"));
        let r = parse_line("gRPC config for type.googleapis.com/envoy.api.v2.Listener rejected: Error adding/updating listener(s) listener_8080: route: unknown weighted cluster 'a/', listener_8081: route: unknown weighted cluster 'a/'");
        let names: Vec<_> = r.iter().map(|x| x.resource.clone().unwrap()).collect();
        assert_eq!(names, ["listener_8080", "listener_8081"]);
    }

    #[test]
    fn istiod_connection_ids() {
        assert_eq!(
            proxy_of_connection("reviews-v3-75596dfd78-j5zg9.bookinfo-13"),
            "reviews-v3-75596dfd78-j5zg9.bookinfo"
        );
        assert_eq!(
            proxy_of_connection("router~10.0.0.1~usergateway-7844d4c765-8nplq.dev-ns~dev-ns.svc.cluster.local-5135"),
            "usergateway-7844d4c765-8nplq.dev-ns"
        );
    }

    #[test]
    fn dates_without_times_are_not_times() {
        assert_eq!(line_time("2021-01-28 abc: gRPC config"), None);
        assert_eq!(
            line_time("2021-01-28T08:15:18Z x").as_deref(),
            Some("2021-01-28T08:15:18Z")
        );
    }

    #[test]
    fn look_alikes_are_not_rejections() {
        for l in [
            "[2026-07-30 08:35:29.543][1][warning][config] [x.cc:130] gRPC config: initial fetch timed out for type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            "[Envoy (Epoch 0)] [2020-02-16 21:44:34.050][22][debug][config] [x.cc:70] gRPC update for type.googleapis.com/envoy.api.v2.ClusterLoadAssignment failed",
            "2019-07-19T16:13:58.586382Z     info    Envoy proxy is NOT ready: config not received from Pilot (is Pilot running?): cds updates: 0 successful, 0 rejected; lds updates: 0 successful, 0 rejected",
        ] {
            assert!(parse_line(l).is_empty(), "{l}");
        }
    }
}
