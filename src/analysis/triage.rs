//! `egress-xray triage`: the whole fleet of an archive (or of the dumps
//! given) on one screen, worst first. Every proxy's own findings, rejected
//! configuration from the NACK analysis, pushes that did not land on every
//! xDS type, certificates no longer valid and version skew — grouped across
//! proxies, each group with the command that explains it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::nack::NackReport;
use crate::findings::{self, Finding, Severity};
use crate::model::Index;

/// One proxy of the fleet.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyRow {
    /// `namespace/pod` (what `--proxy` takes), else the proxy's name.
    pub proxy: String,
    /// `gateway` (an Envoy of type router), `sidecar`, or `unknown`.
    pub role: String,
    pub envoy_version: Option<String>,
    pub istio_version: Option<String>,
    /// Section → version_info (`ListenersConfigDump` → `2023-09-05T07:02:50Z/3`).
    pub versions: BTreeMap<String, String>,
    pub errors: usize,
    pub warnings: usize,
    /// One line per issue, most severe first.
    pub issues: Vec<String>,
}

/// One issue across proxies.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub severity: Severity,
    pub code: &'static str,
    pub name: &'static str,
    /// What it is about (`CDS outbound|80||example.com`, `listener 0.0.0.0_8443`).
    pub what: String,
    pub message: String,
    pub proxies: Vec<String>,
    /// How many proxies were looked at.
    pub of: usize,
    /// The command that explains it.
    pub next: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    pub proxies: Vec<ProxyRow>,
    pub groups: Vec<Group>,
    /// `istioctl analyze` output found in the archive.
    pub analyze: Vec<String>,
    pub notes: Vec<String>,
}

/// `ns/pod` of a dump, as `--proxy` selects it.
fn proxy_key(ix: &Index) -> String {
    match &ix.identity {
        Some(crate::model::Identity {
            pod: Some(pod),
            namespace: Some(ns),
            ..
        }) => format!("{ns}/{pod}"),
        _ => ix.proxy_name(),
    }
}

/// The push number of an Istio `version_info` (`2023-09-05T07:02:50Z/3` → 3).
fn push_number(v: &str) -> Option<u64> {
    v.rsplit_once('/').and_then(|(_, n)| n.parse().ok())
}

/// One xDS type of one proxy in istiod's sync status (`/debug/syncz` as
/// istiod serves it: `{proxy, cluster_sent, cluster_acked, ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEntry {
    /// `pod.namespace`.
    pub proxy: String,
    pub xds_type: String,
    pub sent: String,
    pub acked: String,
}

/// Reads istiod's own syncz format; other documents give nothing.
pub fn parse_istio_syncz(text: &str) -> Vec<SyncEntry> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for it in &items {
        let Some(proxy) = it.get("proxy").and_then(|p| p.as_str()) else {
            continue;
        };
        for t in ["cluster", "listener", "route", "endpoint", "secret", "extension_config"] {
            let get = |k: &str| {
                it.get(format!("{t}_{k}"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let (sent, acked) = (get("sent"), get("acked"));
            if !sent.is_empty() {
                out.push(SyncEntry {
                    proxy: proxy.to_string(),
                    xds_type: t.to_string(),
                    sent,
                    acked,
                });
            }
        }
    }
    out
}

/// What triage keeps of one dump (the dump itself is dropped: a fleet is
/// read one dump at a time).
#[derive(Debug, Clone)]
pub struct Digest {
    /// `ns/pod`, as `--proxy` selects it.
    pub key: String,
    /// `pod.namespace` (as istiod and the logs name it).
    pub name: String,
    pub role: &'static str,
    pub envoy_version: Option<String>,
    pub istio_version: Option<String>,
    pub versions: BTreeMap<String, String>,
    /// The dump's own findings, pushes that did not land on every xDS type
    /// and certificates not valid at the dump's time.
    pub findings: Vec<Finding>,
}

/// The digest of one dump.
pub fn digest(ix: &Index) -> Digest {
    let id = ix.identity.clone().unwrap_or_default();
    let role = match id.proxy_type.as_deref() {
        Some("router") => "gateway",
        Some("sidecar") => "sidecar",
        _ => "unknown",
    };
    let mut found = super::summary::findings(ix);
    // Pushes that did not land on every type: listeners behind clusters.
    let l = ix.section_versions.get("ListenersConfigDump");
    let c = ix.section_versions.get("ClustersConfigDump");
    if let (Some(l), Some(c)) = (l, c) {
        if let (Some(ln), Some(cn)) = (push_number(l), push_number(c)) {
            if ln < cn {
                found.push(Finding::new(
                    findings::XDS_TYPE_BEHIND,
                    "listeners",
                    format!("listeners at push {ln} ({l}), clusters at push {cn} ({c})"),
                ));
            }
        }
    }
    for s in super::secrets::secrets(ix, None) {
        if s.valid == Some(false) && !s.kind.is_empty() {
            found.push(Finding::new(
                findings::CERTIFICATE_NOT_VALID,
                format!("secret {}", s.name),
                format!(
                    "{} certificate not valid at {} (valid {} .. {})",
                    s.kind,
                    s.judged_at.clone().unwrap_or_default(),
                    s.not_before.clone().unwrap_or_default(),
                    s.not_after.clone().unwrap_or_default()
                ),
            ));
        }
    }
    Digest {
        key: proxy_key(ix),
        name: ix.proxy_name(),
        role,
        envoy_version: id.envoy_version,
        istio_version: id.istio_version,
        versions: ix.section_versions.clone(),
        findings: found,
    }
}

/// The fleet, from its dumps' digests, istiod's sync status and the NACK
/// analysis of everything given. `source` is how the commands in `next`
/// name the input.
pub fn triage(dumps: &[Digest], nack: &NackReport, sync: &[SyncEntry], analyze: &[String], source: &str) -> Triage {
    let of = dumps.len();
    let mut rows = Vec::new();
    // (code, what) → (finding, proxies)
    let mut grouped: BTreeMap<(&'static str, String), (Finding, Vec<String>, String)> = BTreeMap::new();
    let mut add = |f: Finding, proxy: &str, next: String| {
        grouped
            .entry((f.code, f.resource.clone()))
            .or_insert_with(|| (f.clone(), Vec::new(), next))
            .1
            .push(proxy.to_string());
    };
    for d in dumps {
        let proxy = d.key.clone();
        let mut found = d.findings.clone();
        for s in sync.iter().filter(|s| s.proxy == d.name && s.sent != s.acked) {
            found.push(Finding::new(
                findings::PUSH_NOT_ACKED,
                format!("{} push", s.xds_type),
                format!(
                    "istiod sent {} {}, the proxy acknowledged {}",
                    s.xds_type,
                    s.sent,
                    if s.acked.is_empty() { "nothing" } else { &s.acked }
                ),
            ));
        }
        found.sort_by(|a, b| (a.severity, a.code).cmp(&(b.severity, b.code)));
        let errors = found.iter().filter(|f| f.severity == Severity::Error).count();
        let warnings = found.iter().filter(|f| f.severity == Severity::Warning).count();
        let issues = found
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .map(|f| format!("{} {}: {}", f.code, f.resource, f.message))
            .collect();
        for f in found.into_iter().filter(|f| f.severity != Severity::Info) {
            let next = next_command(f.code, source, &proxy);
            add(f, &proxy, next);
        }
        rows.push(ProxyRow {
            proxy,
            role: d.role.to_string(),
            envoy_version: d.envoy_version.clone(),
            istio_version: d.istio_version.clone(),
            versions: d.versions.clone(),
            errors,
            warnings,
            issues,
        });
    }
    let dumped: std::collections::BTreeSet<String> = dumps.iter().map(|d| d.name.clone()).collect();
    let mut connected: Vec<&str> = sync
        .iter()
        .map(|s| s.proxy.as_str())
        .filter(|p| !dumped.contains(*p))
        .collect();
    connected.sort();
    connected.dedup();
    let mut notes: Vec<String> = Vec::new();
    if !connected.is_empty() {
        notes.push(format!(
            "{} proxies are in istiod's sync status but have no dump here: {}",
            connected.len(),
            connected.join(", ")
        ));
    }
    let mut groups: Vec<Group> = grouped
        .into_values()
        .map(|(f, mut proxies, next)| {
            proxies.sort();
            proxies.dedup();
            let what = f.resource.clone();
            Group {
                severity: f.severity,
                code: f.code,
                name: f.name,
                what,
                message: f.message,
                proxies,
                of,
                next,
            }
        })
        .collect();
    // Rejected configuration (dumps' error_state, Envoy and istiod logs,
    // syncz), grouped by resource across proxies.
    for g in &nack.groups {
        groups.push(Group {
            severity: Severity::Error,
            code: g.code,
            name: g.class,
            what: format!(
                "{} {}",
                g.xds_type,
                g.resource.clone().unwrap_or_else(|| "(unnamed)".into())
            ),
            message: g.message.lines().next().unwrap_or("").to_string(),
            proxies: g.proxies.clone(),
            of,
            next: format!("egress-xray nack {source}"),
        });
    }
    // Version skew across the fleet.
    let mut istio: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        istio
            .entry(r.istio_version.clone().unwrap_or_else(|| "unknown".into()))
            .or_default()
            .push(r.proxy.clone());
    }
    if istio.len() > 1 {
        let (majority, _) = istio
            .iter()
            .max_by_key(|(_, p)| p.len())
            .map(|(v, p)| (v.clone(), p.len()))
            .unwrap_or_default();
        let mut others: Vec<String> = istio
            .iter()
            .filter(|(v, _)| **v != majority)
            .flat_map(|(_, p)| p.clone())
            .collect();
        others.sort();
        groups.push(Group {
            severity: findings::PROXY_VERSION_SKEW.severity,
            code: findings::PROXY_VERSION_SKEW.code,
            name: findings::PROXY_VERSION_SKEW.name,
            what: "Istio versions".into(),
            message: istio
                .iter()
                .map(|(v, p)| format!("{v} ({})", p.len()))
                .collect::<Vec<_>>()
                .join(", "),
            proxies: others,
            of,
            next: format!("egress-xray {source} --proxy NS/POD"),
        });
    }
    // Worst first: severity, then how many proxies, then code and subject.
    groups.sort_by(|a, b| {
        (a.severity, std::cmp::Reverse(a.proxies.len()), a.code, &a.what).cmp(&(
            b.severity,
            std::cmp::Reverse(b.proxies.len()),
            b.code,
            &b.what,
        ))
    });
    rows.sort_by(|a, b| {
        (std::cmp::Reverse(a.errors), std::cmp::Reverse(a.warnings), &a.proxy).cmp(&(
            std::cmp::Reverse(b.errors),
            std::cmp::Reverse(b.warnings),
            &b.proxy,
        ))
    });
    Triage {
        proxies: rows,
        groups,
        analyze: analyze.to_vec(),
        notes: notes
            .into_iter()
            .chain(
                nack.notes
                    .iter()
                    .filter(|n| !n.contains("none recognised as a rejection"))
                    .cloned(),
            )
            .collect(),
    }
}

/// The command that explains a finding of one proxy.
fn next_command(code: &str, source: &str, proxy: &str) -> String {
    let sel = format!("--proxy {proxy}");
    match code {
        "XR0048" | "XR0012" | "XR0022" => format!("egress-xray explain {source} {sel}"),
        "XR0007" | "XR0008" | "XR0009" | "XR0010" => format!("egress-xray paths {source} {sel}"),
        "XR0001" | "XR0049" | "XR0052" => format!("egress-xray nack {source}"),
        "XR0050" => format!("egress-xray secrets {source} {sel}"),
        _ => format!("egress-xray {source} {sel}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_numbers() {
        assert_eq!(push_number("2023-09-05T07:02:50Z/3"), Some(3));
        assert_eq!(push_number("v1"), None);
    }
}
