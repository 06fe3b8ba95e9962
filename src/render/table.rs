//! Human-facing text: the summary screen and istioctl-style tables.

use std::fmt::Write;

use tabled::builder::Builder;
use tabled::settings::{Padding, Style};

use super::Palette;
use crate::analysis::bootstrap::{BootstrapView, EcdsView};
use crate::analysis::diff::DiffReport;
use crate::analysis::endpoints::EndpointView;
use crate::analysis::explain::Explanation;
use crate::analysis::inventory::{ClusterView, ListenerView};
use crate::analysis::isolation::IsolationReport;
use crate::analysis::nack::NackReport;
use crate::analysis::routes::RouteView;
use crate::analysis::secrets::SecretView;
use crate::analysis::summary::Summary;
use crate::analysis::tls::{Origination, SocketVerdict, Termination, TlsReport};
use crate::analysis::trace::Trace;
use crate::analysis::triage::Triage;
use crate::findings::{Finding, Severity};
use crate::model::{EndpointOrigin, RouteOrigin, State};

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|s| s.to_string()));
    for r in rows {
        // Cells are data: no control character reaches the terminal and no
        // newline forges a row; our own colour (painted cells) is kept.
        b.push_record(r.iter().map(|c| super::terminal_safe(c, true).replace('\n', "\\n")));
    }
    let mut t = b.build();
    t.with(Style::blank()).with(Padding::new(0, 3, 0, 0));
    let mut s = t.to_string();
    // tabled pads the last column; istioctl does not.
    s = s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    s.push('\n');
    s
}

pub fn summary(s: &Summary, p: Palette) -> String {
    let mut out = String::new();
    super::push_line(&mut out, &p.bold(&s.source));
    let mut how = format!("{:?} {}", s.format, s.shape).to_lowercase();
    if s.gzip {
        how.push_str(", gzip");
    }
    super::push_line(
        &mut out,
        &format!("  read as     {how}; sections: {}", s.sections.join(", ")),
    );
    if let Some(id) = &s.identity {
        super::push_line(&mut out, &format!("  node        {}", id.node_id));
        let mut who = Vec::new();
        if let Some(t) = &id.proxy_type {
            who.push(format!("type {t}"));
        }
        if let Some(pod) = &id.pod {
            who.push(format!("pod {pod}"));
        }
        if let Some(ns) = &id.namespace {
            who.push(format!("namespace {ns}"));
        }
        if !id.cluster.is_empty() {
            who.push(format!("cluster {}", id.cluster));
        }
        if !who.is_empty() {
            super::push_line(&mut out, &format!("  identity    {}", who.join(", ")));
        }
        super::push_line(
            &mut out,
            &format!(
                "  versions    Envoy {}, Istio {}",
                id.envoy_version.as_deref().unwrap_or("unknown"),
                id.istio_version.as_deref().unwrap_or("-")
            ),
        );
    } else {
        super::push_line(
            &mut out,
            &format!("  node        {}", p.dim("no bootstrap in this dump")),
        );
    }
    for (section, v) in &s.section_versions {
        super::push_line(
            &mut out,
            &format!(
                "  {:<11} version {v}",
                section.trim_end_matches("ConfigDump").to_lowercase()
            ),
        );
    }
    let _ = writeln!(out);
    let rows = s
        .counts
        .iter()
        .map(|c| {
            let n = |v: usize| if v == 0 { "-".to_string() } else { v.to_string() };
            // Endpoints are counted as sets (one per cluster load
            // assignment); the hosts they hold are said below the table.
            let label = if c.resource == "endpoints" {
                "endpoint sets".to_string()
            } else {
                c.resource.to_string()
            };
            vec![
                label,
                n(c.static_),
                n(c.active),
                n(c.warming),
                n(c.draining),
                if c.rejected == 0 {
                    "-".into()
                } else {
                    p.red(&c.rejected.to_string())
                },
                c.total.to_string(),
            ]
        })
        .collect();
    for line in table(
        &[
            "RESOURCE", "STATIC", "ACTIVE", "WARMING", "DRAINING", "REJECTED", "TOTAL",
        ],
        rows,
    )
    .lines()
    {
        super::push_line(&mut out, &format!("  {line}"));
    }
    if s.counts.iter().any(|c| c.resource == "endpoints" && c.total > 0) {
        super::push_line(
            &mut out,
            &format!(
                "  endpoint sets hold {} host(s) in all (`egress-xray endpoints` lists them)",
                s.endpoint_hosts
            ),
        );
    }
    let _ = writeln!(out);
    super::push_line(&mut out, &format!("  skipped     {}", s.skipped));
    for n in &s.decode_report.archive_notes {
        super::push_line(&mut out, &format!("  archive     {n}"));
    }
    if s.findings.is_empty() {
        super::push_line(&mut out, "  findings    none");
    } else {
        super::push_line(&mut out, "  findings");
        for f in &s.findings {
            super::push_line(&mut out, &format!("    {}", finding_line(f, p)));
        }
    }
    out
}

pub fn finding_line(f: &Finding, p: Palette) -> String {
    let sev = match f.severity {
        Severity::Error => p.red("error"),
        Severity::Warning => p.yellow("warning"),
        Severity::Info => p.dim("info"),
    };
    format!("{} {sev} {}: {}", f.code, f.resource, f.message)
}

fn state_cell(s: State, p: Palette) -> String {
    match s {
        State::Rejected => p.red("rejected"),
        State::Warming | State::Draining => p.yellow(s.as_str()),
        _ => s.as_str().to_string(),
    }
}

/// One row per filter chain (the default chain too), like `istioctl pc listener`.
pub fn listeners(views: &[ListenerView], wide: bool, p: Palette) -> String {
    let several = several_proxies(views.iter().map(|v| v.proxy.as_str()));
    let mut rows = Vec::new();
    for l in views {
        let port = l.port.to_string();
        let chains: Vec<(String, String, String)> = if l.filter_chains.is_empty() {
            let dest = match &l.rejection {
                Some(r) => format!("rejected: {}", r.details.lines().next().unwrap_or("")),
                None => "no filter chains".into(),
            };
            vec![(String::new(), "-".into(), dest)]
        } else {
            let mut v: Vec<_> = l
                .filter_chains
                .iter()
                .map(|c| (c.name.clone(), c.match_summary.clone(), c.destination.clone()))
                .collect();
            // istioctl's row order within a listener.
            v.sort_by(|a, b| b.2.cmp(&a.2));
            v
        };
        for (chain, m, dest) in chains {
            let mut row = vec![
                l.name.clone(),
                l.address.clone(),
                port.clone(),
                m,
                dest,
                state_cell(l.state, p),
            ];
            if wide {
                row.insert(3, chain);
                row.push(l.version_info.clone());
                row.push(l.last_updated.clone().unwrap_or_default());
            }
            if several {
                row.insert(0, l.proxy.clone());
            }
            rows.push(row);
        }
    }
    let mut header = vec!["NAME", "ADDRESSES", "PORT", "MATCH", "DESTINATION", "STATE"];
    if wide {
        header.insert(3, "CHAIN");
        header.extend(["VERSION", "LAST UPDATED"]);
    }
    if several {
        header.insert(0, "PROXY");
    }
    table(&header, rows)
}

/// Whether rows come from more than one proxy (a PROXY column then leads).
fn several_proxies<'a>(mut proxies: impl Iterator<Item = &'a str>) -> bool {
    let Some(first) = proxies.next() else { return false };
    proxies.any(|p| p != first)
}

/// `TLSv1_2..TLSv1_3` as a column cell; `-` when Envoy's defaults apply.
fn tls_versions(min: Option<&str>, max: Option<&str>) -> String {
    let short = |v: &str| v.trim_start_matches("TLSv").replace('_', ".");
    match (min, max) {
        (None, None) => "-".into(),
        (Some(a), None) => format!("{}+", short(a)),
        (None, Some(b)) => format!("≤{}", short(b)),
        (Some(a), Some(b)) if a == b => short(a),
        (Some(a), Some(b)) => format!("{}–{}", short(a), short(b)),
    }
}

/// What a chain's TLS versions mean for clients, when set.
pub(super) fn tls_versions_sentence(min: Option<&str>, max: Option<&str>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(min) = min {
        parts.push(format!(
            "minimum {min}: clients that offer only older versions are refused in the handshake"
        ));
    }
    if let Some(max) = max {
        parts.push(format!("maximum {max}"));
    }
    (!parts.is_empty()).then(|| format!("TLS versions: {}", parts.join("; ")))
}

/// Like `istioctl pc cluster`, plus STATE.
pub fn clusters(views: &[ClusterView], wide: bool, p: Palette) -> String {
    let several = several_proxies(views.iter().map(|v| v.proxy.as_str()));
    let rows = views
        .iter()
        .map(|c| {
            let dash = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
            let mut row = vec![
                c.fqdn.clone(),
                c.port.map_or("-".into(), |p| p.to_string()),
                dash(&c.subset),
                dash(&c.direction),
                c.discovery_type.clone(),
                c.destination_rule.clone().unwrap_or_default(),
                state_cell(c.state, p),
            ];
            if wide {
                row.insert(0, c.name.clone());
                row.push(c.version_info.clone());
                row.push(c.last_updated.clone().unwrap_or_default());
            }
            if several {
                row.insert(0, c.proxy.clone());
            }
            row
        })
        .collect();
    let mut header = vec![
        "SERVICE FQDN",
        "PORT",
        "SUBSET",
        "DIRECTION",
        "TYPE",
        "DESTINATION RULE",
        "STATE",
    ];
    if wide {
        header.insert(0, "NAME");
        header.extend(["VERSION", "LAST UPDATED"]);
    }
    if several {
        header.insert(0, "PROXY");
    }
    table(&header, rows)
}

/// Like `istioctl pc route`: one row per route, plus STATE.
pub fn routes(views: &[RouteView], wide: bool, p: Palette) -> String {
    let several = several_proxies(views.iter().map(|v| v.proxy.as_str()));
    let rows = views
        .iter()
        .map(|r| {
            let vs = if r.no_routes {
                "404".to_string()
            } else {
                r.virtual_service.as_ref().map(|v| v.short()).unwrap_or_default()
            };
            // Routes that differ only in their header/query conditions must
            // not look identical: the default table says how many there are.
            let matched = match (wide, r.conditions.len()) {
                (false, 1) => format!("{} +1 condition", r.match_summary),
                (false, n) if n > 1 => format!("{} +{n} conditions", r.match_summary),
                _ => r.match_summary.clone(),
            };
            let mut row = vec![
                r.route_config.clone(),
                r.vhost.clone(),
                // -o wide lists every domain istioctl folds into `+N more...`.
                if wide {
                    r.domains.join(",")
                } else {
                    r.domains_summary.clone()
                },
                matched,
                vs,
                state_cell(r.state, p),
            ];
            if wide {
                row.insert(4, r.conditions.join("; "));
                row.insert(5, r.action.clone());
                row.push(route_origin(&r.origin));
                row.push(r.version_info.clone());
            }
            if several {
                row.insert(0, r.proxy.clone());
            }
            row
        })
        .collect();
    let mut header = vec!["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE", "STATE"];
    if wide {
        header.insert(4, "CONDITIONS");
        header.insert(5, "ACTION");
        header.extend(["ORIGIN", "VERSION"]);
    }
    if several {
        header.insert(0, "PROXY");
    }
    table(&header, rows)
}

fn route_origin(o: &RouteOrigin) -> String {
    match o {
        RouteOrigin::Static => "static".into(),
        RouteOrigin::Rds => "rds".into(),
        RouteOrigin::Inline { listener, filter_chain } => {
            let listener = if listener.is_empty() {
                "unnamed listener"
            } else {
                listener
            };
            format!("inline in {listener}, chain {filter_chain}")
        }
    }
}

/// Like `istioctl pc endpoint`, plus STATE.
pub fn endpoints(views: &[EndpointView], wide: bool, p: Palette) -> String {
    let several = several_proxies(views.iter().map(|v| v.proxy.as_str()));
    let rows = views
        .iter()
        .map(|e| {
            let status = match e.status.as_str() {
                "HEALTHY" => e.status.clone(),
                "UNKNOWN" => e.status.clone(),
                _ => p.yellow(&e.status),
            };
            let mut row = vec![
                e.address.clone(),
                status,
                e.locality.clone(),
                e.cluster.clone(),
                state_cell(e.state, p),
            ];
            if wide {
                row.extend([
                    match e.origin {
                        EndpointOrigin::Eds => "eds".to_string(),
                        EndpointOrigin::LoadAssignment => "load_assignment".to_string(),
                    },
                    e.priority.to_string(),
                    e.weight.map(|w| w.to_string()).unwrap_or_default(),
                    e.hostname.clone(),
                ]);
            }
            if several {
                row.insert(0, e.proxy.clone());
            }
            row
        })
        .collect();
    let mut header = vec!["NAME", "STATUS", "LOCALITY", "CLUSTER", "STATE"];
    if wide {
        header.extend(["ORIGIN", "PRIORITY", "WEIGHT", "HOSTNAME"]);
    }
    if several {
        header.insert(0, "PROXY");
    }
    table(&header, rows)
}

/// Like `istioctl pc secret`, plus STATE, with VALID CERT judged at the
/// time the footer names.
pub fn secrets(views: &[SecretView], wide: bool, now_given: bool, p: Palette) -> String {
    // Like istioctl: a TRUST DOMAIN column only when SPIFFE bundles are there.
    let trust_domains = views.iter().any(|s| s.kind == "CA" && !s.trust_domain.is_empty());
    let several = several_proxies(views.iter().map(|v| v.proxy.as_str()));
    let rows = views
        .iter()
        .map(|s| {
            let valid = match s.valid {
                Some(true) => "true".to_string(),
                Some(false) => p.red("false"),
                None => "-".to_string(),
            };
            let mut row = vec![
                s.name.clone(),
                s.kind.clone(),
                state_cell(s.state, p),
                valid,
                s.serial.clone(),
                s.not_after.clone().unwrap_or_default(),
                s.not_before.clone().unwrap_or_default(),
            ];
            if trust_domains {
                row.push(s.trust_domain.clone());
            }
            if wide {
                row.extend([
                    s.subject.clone(),
                    s.san.join(","),
                    s.certificates.to_string(),
                    s.error.clone().or_else(|| s.source.clone()).unwrap_or_default(),
                ]);
            }
            if several {
                row.insert(0, s.proxy.clone());
            }
            row
        })
        .collect();
    let mut header = vec![
        "RESOURCE NAME",
        "TYPE",
        "STATE",
        "VALID CERT",
        "SERIAL NUMBER",
        "NOT AFTER",
        "NOT BEFORE",
    ];
    if trust_domains {
        header.push("TRUST DOMAIN");
    }
    if wide {
        header.extend(["SUBJECT", "SAN", "CERTS", "NOTE"]);
    }
    if several {
        header.insert(0, "PROXY");
    }
    let mut out = table(&header, rows);
    if let Some(at) = views.iter().find_map(|s| s.judged_at.as_deref()) {
        let why = if now_given {
            "--now"
        } else {
            "the latest last_updated in the dump; --now to judge at another time"
        };
        super::push_line(
            &mut out,
            &format!("\n{}", p.dim(&format!("VALID CERT judged at {at} ({why})"))),
        );
    }
    out
}

/// `istioctl pc bootstrap -o short` plus where configuration comes from.
pub fn bootstrap(b: &BootstrapView) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut rows = vec![
        vec!["Node".to_string(), b.identity.node_id.clone()],
        vec!["Cluster".to_string(), b.identity.cluster.clone()],
        vec!["Namespace".to_string(), opt(&b.identity.namespace)],
        vec!["Pod".to_string(), opt(&b.identity.pod)],
        vec!["Proxy type".to_string(), opt(&b.identity.proxy_type)],
        vec!["IP".to_string(), opt(&b.identity.ip)],
        vec!["Locality".to_string(), b.locality.clone()],
        vec!["Istio Version".to_string(), opt(&b.identity.istio_version)],
        vec!["Istio Proxy Version".to_string(), opt(&b.istio_proxy_version)],
        vec!["Envoy Version".to_string(), opt(&b.envoy_build)],
        vec!["Admin".to_string(), b.admin_address.clone()],
        vec![
            "Static".to_string(),
            format!(
                "{} listeners, {} clusters, {} secrets",
                b.static_listeners, b.static_clusters, b.static_secrets
            ),
        ],
    ];
    for (k, v) in &b.xds {
        rows.push(vec![format!("xDS {k}"), v.clone()]);
    }
    for (k, v) in &b.metadata {
        let v = if v.len() > 100 {
            format!("{}…", v.chars().take(100).collect::<String>())
        } else {
            v.clone()
        };
        rows.push(vec![format!("metadata {k}"), v]);
    }
    table(&["FIELD", "VALUE"], rows)
}

/// Like `istioctl pc ecds`, plus STATE.
pub fn ecds(views: &[EcdsView], wide: bool, p: Palette) -> String {
    let rows = views
        .iter()
        .map(|e| {
            let state = match &e.rejection {
                Some(r) => p.red(&format!("rejected: {}", r.details.lines().next().unwrap_or(""))),
                None => "active".to_string(),
            };
            let mut row = vec![e.name.clone(), e.type_name.clone(), state];
            if wide {
                row.push(e.version_info.clone());
                row.push(e.last_updated.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    let mut header = vec!["ECDS NAME", "TYPE", "STATE"];
    if wide {
        header.extend(["VERSION", "LAST UPDATED"]);
    }
    table(&header, rows)
}

/// `egress-xray tls`: clusters (origination) then filter chains (termination).
pub fn tls(r: &TlsReport, wide: bool, p: Palette) -> String {
    let verdict = |o: Origination| match o {
        Origination::None => p.dim(o.as_str()),
        Origination::Unknown => p.yellow(o.as_str()),
        _ => p.bold(o.as_str()),
    };
    let rows = r
        .clusters
        .iter()
        .map(|c| {
            let how = if c.socket_matches.is_empty() {
                socket_summary(&c.default_socket)
            } else {
                let mut parts: Vec<String> = c
                    .socket_matches
                    .iter()
                    .map(|m| {
                        let when = if m.criteria.is_empty() {
                            "otherwise".to_string()
                        } else {
                            m.criteria
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(",")
                        };
                        let mut s = format!("{when} → {}", m.verdict.origination.as_str());
                        if c.endpoints_known {
                            s.push_str(&format!(
                                " ({} endpoint{})",
                                m.endpoints.len(),
                                crate::input::report::plural(m.endpoints.len())
                            ));
                        }
                        s
                    })
                    .collect();
                if c.endpoints_known && !c.default_endpoints.is_empty() {
                    parts.push(format!(
                        "no match → {} ({} endpoint{})",
                        c.default_socket.origination.as_str(),
                        c.default_endpoints.len(),
                        crate::input::report::plural(c.default_endpoints.len())
                    ));
                }
                parts.join("; ")
            };
            let mut row = vec![
                c.name.clone(),
                verdict(c.origination),
                c.sni.clone().unwrap_or_else(|| "-".into()),
                how,
                state_cell(c.state, p),
            ];
            if wide {
                // For auto mTLS, the TLS entry is what the SAN/ALPN are about.
                let v = c
                    .socket_matches
                    .iter()
                    .map(|m| &m.verdict)
                    .find(|v| v.origination != Origination::None)
                    .unwrap_or(&c.default_socket);
                row.extend([
                    v.san_matchers.join(","),
                    v.alpn.join(","),
                    tls_versions(v.tls_min.as_deref(), v.tls_max.as_deref()),
                    v.cipher_suites.join(","),
                    v.wrappers.join(" > "),
                ]);
            }
            row
        })
        .collect();
    let mut header = vec!["CLUSTER", "ORIGINATES", "SNI", "HOW", "STATE"];
    if wide {
        header.extend(["SAN MATCH", "ALPN", "TLS VERSIONS", "CIPHERS", "WRAPPERS"]);
    }
    let mut out = table(&header, rows);
    out.push('\n');
    let rows = r
        .filter_chains
        .iter()
        .map(|c| {
            let chain = match c.index {
                Some(i) if c.name.is_empty() || c.name.starts_with('#') => format!("#{i}"),
                Some(i) => format!("#{i} {}", c.name),
                None => "default".into(),
            };
            let term = match c.termination {
                Termination::None => p.dim("none"),
                Termination::Passthrough => "passthrough".into(),
                Termination::Tls => p.bold("tls"),
                Termination::Mtls => p.bold("mtls"),
                Termination::IstioMutual => p.bold("istio_mutual"),
                Termination::Unknown => p.yellow(&format!(
                    "unknown ({})",
                    c.unknown_socket.as_deref().unwrap_or("socket not readable")
                )),
            };
            let mut row = vec![
                c.listener.clone(),
                chain,
                if c.server_names.is_empty() {
                    "-".into()
                } else {
                    c.server_names.join(",")
                },
                term,
                if c.require_client_certificate { "yes" } else { "no" }.into(),
                c.certificates.join(","),
                c.trust.join(","),
                tls_versions(c.tls_min.as_deref(), c.tls_max.as_deref()),
                c.destination.clone(),
            ];
            if wide {
                row.extend([
                    c.alpn.join(","),
                    c.san_matchers.join(","),
                    c.cipher_suites.join(","),
                    c.wrappers.join(" > "),
                ]);
            }
            row
        })
        .collect();
    let mut header = vec![
        "LISTENER",
        "CHAIN",
        "SNI",
        "TERMINATES",
        "CLIENT CERT",
        "CERTIFICATE",
        "VALIDATION",
        "TLS VERSIONS",
        "DESTINATION",
    ];
    if wide {
        header.extend(["ALPN", "SAN MATCH", "CIPHERS", "WRAPPERS"]);
    }
    out.push_str(&table(&header, rows));
    out
}

fn socket_summary(v: &SocketVerdict) -> String {
    let mut parts = Vec::new();
    if let Some(u) = &v.unknown_socket {
        parts.push(format!("unknown socket {u}"));
    }
    if v.origination == Origination::None {
        if parts.is_empty() {
            parts.push("plain TCP".into());
        }
    } else {
        if !v.certificates.is_empty() {
            parts.push(format!("cert {}", v.certificates.join(",")));
        }
        if !v.trust.is_empty() {
            parts.push(format!("trust {}", v.trust.join(",")));
        } else {
            parts.push("trust: system default".into());
        }
        if v.auto_sni {
            parts.push("auto SNI".into());
        }
        if let Some(min) = &v.tls_min {
            parts.push(format!("min {min}"));
        }
    }
    parts.join("; ")
}

/// `egress-xray trace`, hop by hop (see render::trace).
pub fn trace(t: &Trace, wide: bool, p: Palette) -> String {
    super::trace::render(t, wide, p)
}

/// `egress-xray triage`: the fleet in one line, the issues grouped across
/// proxies (worst first) with the command that explains each, then the
/// proxies with issues, worst first (all of them with -o wide).
pub fn triage(t: &Triage, wide: bool, p: Palette) -> String {
    let mut out = String::new();
    let count = |role: &str| t.proxies.iter().filter(|r| r.role == role).count();
    let mut istio: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &t.proxies {
        *istio
            .entry(r.istio_version.as_deref().unwrap_or("unknown"))
            .or_default() += 1;
    }
    super::push_line(
        &mut out,
        &format!(
            "{} proxies: {} gateways, {} sidecars{}; Istio {}",
            t.proxies.len(),
            count("gateway"),
            count("sidecar"),
            match count("unknown") {
                0 => String::new(),
                n => format!(", {n} of unknown role"),
            },
            istio
                .iter()
                .map(|(v, n)| format!("{v} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    out.push('\n');
    if t.groups.is_empty() {
        super::push_line(&mut out, "issues      none");
    } else {
        let rows = t
            .groups
            .iter()
            .map(|g| {
                let sev = match g.severity {
                    Severity::Error => p.red("error"),
                    Severity::Warning => p.yellow("warning"),
                    Severity::Info => p.dim("info"),
                };
                let mut issue = format!("{}: {}", g.what, g.message);
                if !wide && super::width(&issue) > 90 {
                    issue = format!("{}…", issue.chars().take(89).collect::<String>());
                }
                let who = if wide || g.proxies.len() <= 2 {
                    format!("{} of {}: {}", g.proxies.len(), g.of, g.proxies.join(", "))
                } else {
                    format!("{} of {}", g.proxies.len(), g.of)
                };
                vec![sev, g.code.to_string(), issue, who, g.next.clone()]
            })
            .collect();
        out.push_str(&table(&["SEVERITY", "CODE", "ISSUE", "PROXIES", "NEXT"], rows));
    }
    let shown: Vec<_> = t.proxies.iter().filter(|r| wide || r.errors + r.warnings > 0).collect();
    if !shown.is_empty() {
        out.push('\n');
        let rows = shown
            .iter()
            .map(|r| {
                vec![
                    r.proxy.clone(),
                    r.role.clone(),
                    r.istio_version.clone().unwrap_or_else(|| "-".into()),
                    if r.errors > 0 {
                        p.red(&r.errors.to_string())
                    } else {
                        "0".into()
                    },
                    r.warnings.to_string(),
                    r.issues.first().cloned().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["PROXY", "ROLE", "ISTIO", "ERRORS", "WARNINGS", "FIRST ISSUE"],
            rows,
        ));
    }
    let clean = t.proxies.iter().filter(|r| r.errors + r.warnings == 0).count();
    if !wide && clean > 0 {
        super::push_line(
            &mut out,
            &p.dim(&format!("{clean} proxies without issues (-o wide lists them)")),
        );
    }
    if !t.analyze.is_empty() {
        super::push_line(&mut out, "\nistioctl analyze (from the archive):");
        let info = t.analyze.iter().filter(|l| l.starts_with("Info")).count();
        for l in t.analyze.iter().filter(|l| wide || !l.starts_with("Info")) {
            super::push_line(&mut out, &format!("  {l}"));
        }
        if !wide && info > 0 {
            super::push_line(&mut out, &p.dim(&format!("  {info} Info lines (-o wide lists them)")));
        }
    }
    for n in &t.notes {
        super::push_line(&mut out, &format!("\nnote: {n}"));
    }
    out
}

/// `egress-xray explain`: listeners predicted, then findings with fixes.
pub fn explain(e: &Explanation, wide: bool, p: Palette) -> String {
    let mut out = String::new();
    if !e.listeners.is_empty() {
        let rows = e
            .listeners
            .iter()
            .map(|l| {
                let present = match l.present {
                    Some(true) => {
                        let n = l.present_chains.unwrap_or(0);
                        format!("yes ({n} chain{})", crate::input::report::plural(n))
                    }
                    Some(false) => p.red("no"),
                    None => "-".into(),
                };
                let predicted = if l.chains_undetermined.is_some() {
                    format!("{} (undetermined)", l.predicted_chains)
                } else if l.predicted_chains == 0 {
                    p.red("0")
                } else {
                    l.predicted_chains.to_string()
                };
                vec![
                    l.name.clone(),
                    l.workload.clone(),
                    l.gateway.clone(),
                    predicted,
                    present,
                ]
            })
            .collect();
        out.push_str(&table(
            &["LISTENER", "WORKLOAD", "GATEWAY", "PREDICTED CHAINS", "IN DUMP"],
            rows,
        ));
        for l in &e.listeners {
            if let Some(why) = &l.chains_undetermined {
                super::push_line(&mut out, &format!("  {}: chain count undetermined: {why}", l.name));
            }
        }
        for l in e.listeners.iter().filter(|l| wide || l.chains.len() <= 8) {
            for c in &l.chains {
                let sni = if c.server_names.is_empty() {
                    "any SNI".to_string()
                } else {
                    format!("SNI {}", c.server_names.join(","))
                };
                super::push_line(
                    &mut out,
                    &format!(
                        "  {}: {} chain, {sni} → {}{}",
                        l.name,
                        c.kind,
                        c.destination,
                        c.from.as_ref().map(|f| format!("  (from {f})")).unwrap_or_default()
                    ),
                );
            }
        }
        out.push('\n');
    }
    if e.findings.is_empty() {
        super::push_line(&mut out, "findings    none");
    }
    for f in &e.findings {
        let sev = match f.severity {
            Severity::Error => p.red("error"),
            Severity::Warning => p.yellow("warning"),
            Severity::Info => p.dim("info"),
        };
        let at = f.listener.as_ref().map(|l| format!(" [{l}]")).unwrap_or_default();
        super::push_line(&mut out, &format!("{} {sev}{at}: {}", f.code, f.message));
        super::push_line(&mut out, &format!("        fix: {}", f.fix));
        if wide && !f.objects.is_empty() {
            super::push_line(&mut out, &format!("        objects: {}", f.objects.join(", ")));
        }
    }
    if !e.notes.is_empty() {
        super::push_line(&mut out, "\nnotes on the inputs:");
        for n in &e.notes {
            super::push_line(&mut out, &format!("  {n}"));
        }
    }
    if !e.limits.is_empty() {
        super::push_line(&mut out, &format!("\n{}", p.dim("limits of this explanation:")));
        for l in &e.limits {
            super::push_line(&mut out, &format!("  {}", p.dim(l)));
        }
    }
    out
}

/// `egress-xray nack`: groups first (what was rejected where), then each
/// record, the timeline and the proxies' versions.
pub fn nack(r: &NackReport, wide: bool, p: Palette) -> String {
    let mut out = String::new();
    if r.rejections.is_empty() {
        super::push_line(&mut out, "no rejections in the evidence given");
    }
    for g in &r.groups {
        let when = match (&g.first, &g.last) {
            (Some(a), Some(b)) if a != b => format!(" between {a} and {b}"),
            (Some(a), _) => format!(" at {a}"),
            _ => String::new(),
        };
        super::push_line(
            &mut out,
            &format!(
                "{} {} {} {}: rejected by {} ({}){when}",
                g.code,
                p.red(g.class),
                g.xds_type,
                p.bold(g.resource.as_deref().unwrap_or("(resource not named)")),
                g.proxies.len(),
                g.proxies.join(", ")
            ),
        );
        super::push_line(&mut out, &format!("        {}", g.message.lines().next().unwrap_or("")));
        if let Some(o) = &g.origin {
            super::push_line(&mut out, &format!("        origin: {o}"));
        }
        if let Some(b) = &g.blast_radius {
            super::push_line(&mut out, &format!("        blast radius: {b}"));
        }
        super::push_line(&mut out, &format!("        fix: {}", g.fix));
        if let Some(r) = &g.resolved {
            super::push_line(
                &mut out,
                &format!(
                    "        {} at {} ({})",
                    p.bold("resolved"),
                    r.at.as_deref().unwrap_or("an unknown time"),
                    r.by
                ),
            );
        }
    }
    if !r.rejections.is_empty() {
        out.push('\n');
        let rows = r
            .rejections
            .iter()
            .map(|x| {
                let mut row = vec![
                    x.time.clone().unwrap_or_else(|| "-".into()),
                    x.proxy.clone(),
                    x.xds_type.clone(),
                    x.resource.clone().unwrap_or_else(|| "-".into()),
                    x.class.to_string(),
                    x.reporters.join(","),
                ];
                if wide {
                    row.push(x.sources.join(" "));
                }
                row
            })
            .collect();
        let mut header = vec!["TIME", "PROXY", "TYPE", "RESOURCE", "CLASS", "REPORTED BY"];
        if wide {
            header.push("SOURCES");
        }
        out.push_str(&table(&header, rows));
    }
    if wide && !r.timeline.is_empty() {
        super::push_line(&mut out, &format!("\n{}", p.bold("timeline")));
        for t in &r.timeline {
            super::push_line(
                &mut out,
                &format!(
                    "  {}  {}  {}  ({})",
                    t.time.as_deref().unwrap_or("-"),
                    t.proxy,
                    t.what,
                    t.source
                ),
            );
        }
    }
    if !r.proxies.is_empty() {
        super::push_line(&mut out, &format!("\n{}", p.bold("last accepted versions")));
        for pv in &r.proxies {
            let v: Vec<String> = pv
                .versions
                .iter()
                .map(|(k, v)| format!("{} {v}", k.trim_end_matches("ConfigDump")))
                .collect();
            super::push_line(&mut out, &format!("  {}: {}", pv.proxy, v.join("; ")));
            if !pv.warming.is_empty() {
                super::push_line(&mut out, &format!("    warming: {}", pv.warming.join(", ")));
            }
        }
    }
    if !r.related.is_empty() {
        super::push_line(&mut out, &format!("\n{}", p.bold("related istiod gateway lines")));
        for l in &r.related {
            super::push_line(&mut out, &format!("  {l}"));
        }
    }
    for n in &r.notes {
        super::push_line(&mut out, &format!("\n{}", p.dim(&format!("note: {n}"))));
    }
    out
}

fn short_json(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::Null => "∅".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(117).collect::<String>())
    } else {
        s
    }
}

/// `egress-xray diff`: versions once, then each change with its fields.
pub fn diff(r: &DiffReport, stat_only: bool, wide: bool, p: Palette) -> String {
    let mut out = String::new();
    super::push_line(&mut out, &format!("--- {}", r.a));
    super::push_line(&mut out, &format!("+++ {}", r.b));
    for (k, (va, vb)) in &r.versions {
        if va != vb {
            super::push_line(&mut out, &format!("version {k}: {va} → {vb}"));
        }
    }
    if r.changes.is_empty() {
        super::push_line(&mut out, "no differences");
        return out;
    }
    if stat_only {
        for (kind, (add, rem, chg)) in &r.stat {
            super::push_line(&mut out, &format!("{kind:<9} +{add} -{rem} ~{chg}"));
        }
        return out;
    }
    for c in &r.changes {
        let mark = match c.change {
            "added" => p.bold("+"),
            "removed" => p.red("-"),
            _ => p.yellow("~"),
        };
        let mut line = format!("{mark} {} {}", c.kind, p.bold(&c.name));
        // Every added or removed line says in what state the resource is
        // there (a listener "added" only as a rejected entry is not serving).
        match (c.change, c.state_a, c.state_b) {
            ("added", _, Some(s)) | ("removed", Some(s), _) => line.push_str(&format!("  [{s}]")),
            _ => {}
        }
        if let Some((a, b)) = &c.state {
            line.push_str(&format!("  (state {a} → {b})"));
        }
        super::push_line(&mut out, &line);
        let limit = if wide { c.fields.len() } else { c.fields.len().min(12) };
        for f in &c.fields[..limit] {
            super::push_line(
                &mut out,
                &format!("    {}: {} → {}", f.path, short_json(&f.old), short_json(&f.new)),
            );
        }
        if limit < c.fields.len() {
            super::push_line(
                &mut out,
                &format!("    … {} more fields (-o wide)", c.fields.len() - limit),
            );
        }
        if let Some(t) = &c.text {
            for l in t.lines() {
                super::push_line(&mut out, &format!("    {l}"));
            }
        }
    }
    let stat: Vec<String> = r
        .stat
        .iter()
        .map(|(k, (a, b, c))| format!("{k} +{a} -{b} ~{c}"))
        .collect();
    super::push_line(&mut out, &format!("\n{}", stat.join(", ")));
    out
}

/// `egress-xray isolation`: hosts per gateway, shared objects, push versions.
pub fn isolation(r: &IsolationReport, wide: bool, p: Palette) -> String {
    let mut out = String::new();
    super::push_line(&mut out, &p.bold("external hosts per gateway"));
    for g in &r.gateways {
        super::push_line(&mut out, &format!("  {}", p.bold(&g.name)));
        for h in &g.routes {
            let via = match (&h.listener, &h.chain) {
                (Some(l), Some(c)) => format!("{l} chain {c}"),
                _ => "a cluster only (no listener selects it)".into(),
            };
            super::push_line(
                &mut out,
                &format!(
                    "    {}  via {via}{}",
                    h.host,
                    h.cluster.as_ref().map(|c| format!(" → {c}")).unwrap_or_default()
                ),
            );
        }
        if g.routes.is_empty() {
            super::push_line(&mut out, "    (none)");
        }
    }
    super::push_line(
        &mut out,
        &format!("\n{}", p.bold("shared Istio objects (blast radius)")),
    );
    if r.shared.is_empty() {
        super::push_line(&mut out, "  none: no Istio object reaches more than one gateway");
    }
    for s in &r.shared {
        let flag = if s.global { p.red("GLOBAL ") } else { String::new() };
        super::push_line(&mut out, &format!("  {flag}{}", s.blast_radius));
        super::push_line(&mut out, &format!("    gateways: {}", s.gateways.join(", ")));
        if wide {
            super::push_line(&mut out, &format!("    resources: {}", s.resources.join(", ")));
        }
    }
    super::push_line(&mut out, &format!("\n{}", p.bold("config versions")));
    for v in &r.versions {
        let vs: Vec<String> = v
            .versions
            .iter()
            .map(|(k, x)| format!("{} {x}", k.trim_end_matches("ConfigDump")))
            .collect();
        super::push_line(&mut out, &format!("  {}: {}", v.name, vs.join("; ")));
        for b in &v.behind {
            super::push_line(&mut out, &format!("    {}", p.yellow(&format!("behind: {b}"))));
        }
    }
    for n in &r.notes {
        super::push_line(&mut out, &format!("\n{}", p.dim(&format!("note: {n}"))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns line up in display columns: a cell of wide characters, one
    /// with a combining accent and a coloured one take the width a terminal
    /// gives them.
    #[test]
    fn columns_are_aligned_in_display_columns() {
        let p = Palette { enabled: true };
        let out = table(
            &["NAME", "NEXT"],
            vec![
                vec!["日本".into(), "x".into()],
                vec!["e\u{301}te".into(), "y".into()],
                vec![p.red("red"), "z".into()],
                vec!["plain".into(), "w".into()],
            ],
        );
        let plain = anstream::adapter::strip_str(&out).to_string();
        let columns: Vec<usize> = plain
            .lines()
            .map(|l| {
                let at = l.rfind(' ').unwrap() + 1;
                crate::render::width(&l[..at])
            })
            .collect();
        assert!(columns.windows(2).all(|w| w[0] == w[1]), "{plain}\n{columns:?}");
    }
}
