//! `egress-xray report`: everything the other analyses say about a set of
//! dumps (and logs), gathered for one self-contained HTML page. This module
//! only gathers and groups (plain data); `render::html` draws it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::diff::DiffReport;
use super::isolation::IsolationReport;
use super::nack::NackReport;
use super::paths::{paths, PathFilter, PathsReport};
use super::summary::{summarize, Summary};
use super::tls::{tls, Origination, Termination, TlsReport};
use crate::findings::Severity;
use crate::model::{Index, State};

/// What the report keeps of one dump (made where the dump is decoded; the
/// dump is then dropped).
#[derive(Debug, Clone, Serialize)]
pub struct ProxyPart {
    pub proxy: String,
    /// The page anchor of the proxy's section (`p-<n>`).
    pub anchor: String,
    pub summary: Summary,
    pub paths: PathsReport,
    pub tls: TlsReport,
}

/// The parts of one dump: the report's, and isolation's (made from the
/// same graph).
pub fn proxy_part(ix: &Index, config: Option<&crate::istio::Config>) -> (ProxyPart, super::isolation::Part) {
    let graph = paths(ix, &PathFilter::default());
    let iso = super::isolation::part_of(ix, &graph, config);
    let part = ProxyPart {
        proxy: ix.proxy_name(),
        anchor: String::new(),
        summary: summarize(ix),
        paths: graph,
        tls: tls(ix),
    };
    (part, iso)
}

/// A file read, as the header lists it.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    pub path: String,
    /// Bytes; `None` for standard input.
    pub size: Option<u64>,
    /// `dump`, `archive`, `envoy log`, `istiod log`, `syncz`, `istio config`.
    pub role: &'static str,
}

/// One finding, with every proxy that has it.
#[derive(Debug, Clone, Serialize)]
pub struct FindingGroup {
    pub severity: Severity,
    pub code: &'static str,
    pub name: &'static str,
    pub resource: String,
    pub message: String,
    pub fix: String,
    /// (proxy, anchor of its section); empty for findings of no one proxy.
    pub proxies: Vec<(String, String)>,
    /// Where the finding comes from: `dump`, `logs` or `Istio config`
    /// (explain's prediction of the gateways' listeners).
    pub source: &'static str,
}

/// A cluster's TLS origination as a set of proxies holds it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterTlsRow {
    pub cluster: String,
    pub state: State,
    pub origination: Origination,
    pub sni: Option<String>,
    /// The certificates the cluster presents (client certificate), if any.
    pub client_certificates: Vec<String>,
    /// What the upstream certificate is checked against.
    pub trust: Vec<String>,
    pub proxies: Vec<(String, String)>,
}

/// A filter chain's TLS termination as a set of proxies holds it.
#[derive(Debug, Clone, Serialize)]
pub struct ChainTlsRow {
    pub listener: String,
    pub chain: String,
    pub server_names: Vec<String>,
    pub termination: Termination,
    pub require_client_certificate: bool,
    pub certificates: Vec<String>,
    pub destination: String,
    pub proxies: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool_version: &'static str,
    /// RFC 3339; the caller's clock, or `SOURCE_DATE_EPOCH` (see the CLI).
    pub generated_at: String,
    pub inputs: Vec<InputFile>,
    /// What was passed over or could not be read, and why.
    pub notes: Vec<String>,
    pub findings: Vec<FindingGroup>,
    pub proxies: Vec<ProxyPart>,
    pub cluster_tls: Vec<ClusterTlsRow>,
    pub chain_tls: Vec<ChainTlsRow>,
    pub isolation: Option<IsolationReport>,
    pub diffs: Vec<DiffReport>,
    pub nack: Option<NackReport>,
}

/// What a report is made from.
pub struct ReportInput {
    pub generated_at: String,
    pub inputs: Vec<InputFile>,
    pub notes: Vec<String>,
    pub proxies: Vec<ProxyPart>,
    pub isolation: Option<IsolationReport>,
    pub diffs: Vec<DiffReport>,
    pub nack: Option<NackReport>,
    /// explain's findings over the gateway dumps, when Istio config was
    /// given (or found in an archive).
    pub explain: Vec<super::explain::ExplainFinding>,
}

/// Gathers the report: findings grouped across proxies (worst first), the
/// TLS matrix grouped across proxies (the same cluster with the same
/// verdict is one row), in input order otherwise.
pub fn report(input: ReportInput) -> Report {
    let mut proxies = input.proxies;
    // Two dumps of one proxy (before and after a push) are told apart by
    // their files.
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for p in &proxies {
        *names.entry(p.proxy.clone()).or_default() += 1;
    }
    for (i, p) in proxies.iter_mut().enumerate() {
        p.anchor = format!("p-{}", i + 1);
        if names.get(&p.proxy).is_some_and(|n| *n > 1) {
            p.proxy = format!("{} ({})", p.proxy, p.summary.source);
        }
    }
    let mut groups: BTreeMap<(Severity, &'static str, String, String), FindingGroup> = BTreeMap::new();
    for p in &proxies {
        for f in &p.summary.findings {
            groups
                .entry((f.severity, f.code, f.resource.clone(), f.message.clone()))
                .or_insert_with(|| FindingGroup {
                    severity: f.severity,
                    code: f.code,
                    name: f.name,
                    resource: f.resource.clone(),
                    message: f.message.clone(),
                    fix: f.fix.to_string(),
                    proxies: Vec::new(),
                    source: "dump",
                })
                .proxies
                .push((p.proxy.clone(), p.anchor.clone()));
        }
    }
    if let Some(n) = &input.nack {
        let anchor_of = |proxy: &str| {
            proxies
                .iter()
                .find(|p| p.proxy == proxy)
                .map_or_else(|| "nack".to_string(), |p| p.anchor.clone())
        };
        for g in &n.groups {
            let rule = crate::findings::CATALOGUE.iter().find(|r| r.code == g.code);
            let resource = format!("{} {}", g.xds_type, g.resource.as_deref().unwrap_or("(unnamed)"));
            let e = groups
                .entry((
                    rule.map_or(Severity::Error, |r| r.severity),
                    g.code,
                    resource.clone(),
                    g.message.clone(),
                ))
                .or_insert_with(|| FindingGroup {
                    severity: rule.map_or(Severity::Error, |r| r.severity),
                    code: g.code,
                    name: rule.map_or("rejected", |r| r.name),
                    resource,
                    message: g.message.clone(),
                    fix: g.fix.to_string(),
                    proxies: Vec::new(),
                    source: "logs",
                });
            for p in &g.proxies {
                if !e.proxies.iter().any(|(q, _)| q == p) {
                    e.proxies.push((p.clone(), anchor_of(p)));
                }
            }
        }
    }
    for f in &input.explain {
        let resource = match &f.listener {
            Some(l) => format!("listener {l}"),
            None => f.objects.join(", "),
        };
        groups
            .entry((f.severity, f.code, resource.clone(), f.message.clone()))
            .or_insert_with(|| FindingGroup {
                severity: f.severity,
                code: f.code,
                name: f.name,
                resource,
                message: f.message.clone(),
                fix: f.fix.clone(),
                proxies: Vec::new(),
                source: "Istio config",
            });
    }
    let mut cluster_tls: BTreeMap<String, ClusterTlsRow> = BTreeMap::new();
    let mut chain_tls: BTreeMap<String, ChainTlsRow> = BTreeMap::new();
    for p in &proxies {
        for c in &p.tls.clusters {
            let row = ClusterTlsRow {
                cluster: c.name.clone(),
                state: c.state,
                origination: c.origination,
                sni: c.sni.clone(),
                client_certificates: c.default_socket.certificates.clone(),
                trust: c.default_socket.trust.clone(),
                proxies: Vec::new(),
            };
            let key = serde_json::to_string(&row).unwrap_or_default();
            cluster_tls
                .entry(key)
                .or_insert(row)
                .proxies
                .push((p.proxy.clone(), p.anchor.clone()));
        }
        for c in &p.tls.filter_chains {
            let row = ChainTlsRow {
                listener: c.listener.clone(),
                chain: c.name.clone(),
                server_names: c.server_names.clone(),
                termination: c.termination,
                require_client_certificate: c.require_client_certificate,
                certificates: c.certificates.clone(),
                destination: c.destination.clone(),
                proxies: Vec::new(),
            };
            let key = serde_json::to_string(&row).unwrap_or_default();
            chain_tls
                .entry(key)
                .or_insert(row)
                .proxies
                .push((p.proxy.clone(), p.anchor.clone()));
        }
    }
    Report {
        tool_version: env!("CARGO_PKG_VERSION"),
        generated_at: input.generated_at,
        inputs: input.inputs,
        notes: input.notes,
        findings: groups.into_values().collect(),
        proxies,
        cluster_tls: cluster_tls.into_values().collect(),
        chain_tls: chain_tls.into_values().collect(),
        isolation: input.isolation,
        diffs: input.diffs,
        nack: input.nack,
    }
}
