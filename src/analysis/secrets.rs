//! Secret view: what each SDS secret holds (a certificate chain, a CA
//! bundle, SPIFFE trust domains), and whether its certificate was valid when
//! the dump was taken — not when the command runs, which is what istioctl
//! does and what makes old dumps lie.

use envoy_types::pb::envoy::config::core::v3::{data_source, DataSource};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    secret, CertificateValidationContext, Secret, SpiffeCertValidatorConfig,
};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use crate::model::util::decode_any;
use crate::model::{Index, Rejection, State};

#[derive(Debug, Clone, Serialize)]
pub struct SecretView {
    /// The proxy the row is from (`pod.namespace`, else the node id or file).
    pub proxy: String,
    pub name: String,
    /// istioctl's TYPE: `Cert Chain`, `CA`, `Session Ticket Keys`,
    /// `Generic`, or empty for a secret without content (still warming).
    pub kind: String,
    pub state: State,
    /// Whether the (first) certificate was valid at `judged_at`; None when
    /// there is no certificate to judge.
    pub valid: Option<bool>,
    pub judged_at: Option<String>,
    /// Serial number in hex, as istioctl prints it.
    pub serial: String,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    /// The trust domain: for a SPIFFE trust bundle the one this row is for,
    /// for a certificate the host of its SPIFFE ID.
    pub trust_domain: String,
    pub subject: String,
    /// Subject alternative names (SPIFFE URIs, DNS names).
    pub san: Vec<String>,
    /// Certificates in the chain or bundle.
    pub certificates: usize,
    /// Where the material is when it is not inline (a file, an env var).
    pub source: Option<String>,
    /// Why the certificate could not be read, when it could not.
    pub error: Option<String>,
    pub rejection: Option<Rejection>,
    pub version_info: String,
    pub last_updated: Option<String>,
}

/// What `secrets` keeps.
#[derive(Debug, Clone, Default)]
pub struct SecretFilter {
    pub name: Option<super::filter::TextFilter>,
}

impl SecretFilter {
    pub fn keep(&self, s: &SecretView) -> bool {
        super::filter::keep(&self.name, &s.name)
    }
}

/// Secrets in the order the dump lists them (static, active, warming), one
/// row per certificate source: a SPIFFE validator gives one row per trust
/// domain. Validity is judged at `now`, else at the dump's own time (the
/// latest `last_updated` in it).
pub fn secrets(ix: &Index, now: Option<OffsetDateTime>) -> Vec<SecretView> {
    let at = now.or_else(|| ix.latest_update());
    let judged_at = at.and_then(|t| t.format(&Rfc3339).ok());
    let proxy = ix.proxy_name();
    let mut rows = Vec::new();
    for e in &ix.secrets {
        let base = SecretView {
            proxy: proxy.clone(),
            name: e.name.clone(),
            kind: String::new(),
            state: e.state,
            valid: None,
            judged_at: judged_at.clone(),
            serial: String::new(),
            not_before: None,
            not_after: None,
            trust_domain: String::new(),
            subject: String::new(),
            san: Vec::new(),
            certificates: 0,
            source: None,
            error: None,
            rejection: e.rejection.clone(),
            version_info: e.stamp.version_info.clone(),
            last_updated: e.stamp.last_updated.clone(),
        };
        let items = e.secret.as_ref().map(material).unwrap_or_default();
        if items.is_empty() {
            // Nothing received yet (a warming SDS secret): no valid certificate.
            rows.push(SecretView {
                valid: Some(false),
                ..base
            });
            continue;
        }
        for (kind, trust_domain, source) in items {
            let mut row = SecretView {
                kind: kind.to_string(),
                trust_domain,
                ..base.clone()
            };
            fill_certificate(&mut row, source, at);
            rows.push(row);
        }
    }
    rows
}

/// The certificate sources of a secret: (kind, trust domain, data).
fn material(s: &Secret) -> Vec<(&'static str, String, Option<DataSource>)> {
    match &s.r#type {
        Some(secret::Type::TlsCertificate(t)) => vec![("Cert Chain", String::new(), t.certificate_chain.clone())],
        Some(secret::Type::ValidationContext(v)) => validation_material(v),
        Some(secret::Type::SessionTicketKeys(_)) => vec![("Session Ticket Keys", String::new(), None)],
        Some(secret::Type::GenericSecret(_)) => vec![("Generic", String::new(), None)],
        None => Vec::new(),
    }
}

/// A CA bundle, or one bundle per trust domain of a SPIFFE validator.
fn validation_material(v: &CertificateValidationContext) -> Vec<(&'static str, String, Option<DataSource>)> {
    let spiffe = v
        .custom_validator_config
        .as_ref()
        .and_then(|c| c.typed_config.as_ref())
        .and_then(decode_any::<SpiffeCertValidatorConfig>);
    match spiffe {
        Some(cfg) if !cfg.trust_domains.is_empty() => cfg
            .trust_domains
            .into_iter()
            .map(|td| ("CA", td.name, td.trust_bundle))
            .collect(),
        _ => vec![("CA", String::new(), v.trusted_ca.clone())],
    }
}

/// Reads the first certificate of `source` into the row.
fn fill_certificate(row: &mut SecretView, source: Option<DataSource>, at: Option<OffsetDateTime>) {
    let bytes = match source.and_then(|d| d.specifier) {
        Some(data_source::Specifier::InlineBytes(b)) => b,
        Some(data_source::Specifier::InlineString(s)) => s.into_bytes(),
        Some(data_source::Specifier::Filename(f)) => {
            row.source = Some(format!("file {f}"));
            return;
        }
        Some(data_source::Specifier::EnvironmentVariable(v)) => {
            row.source = Some(format!("environment variable {v}"));
            return;
        }
        None => return,
    };
    if bytes.as_slice() == b"[redacted]" {
        row.source = Some("redacted in the dump".into());
        return;
    }
    row.valid = Some(false);
    let mut first = None;
    for pem in Pem::iter_from_buffer(&bytes) {
        match pem {
            Ok(p) if p.label == "CERTIFICATE" => {
                row.certificates += 1;
                if first.is_none() {
                    first = Some(p);
                }
            }
            Ok(_) => {}
            Err(e) => {
                row.error = Some(format!("not PEM: {e}"));
                break;
            }
        }
    }
    let Some(pem) = first else {
        row.error.get_or_insert_with(|| "no certificate in the data".into());
        return;
    };
    let cert = match pem.parse_x509() {
        Ok(c) => c,
        Err(e) => {
            row.error = Some(format!("not an X.509 certificate: {e}"));
            return;
        }
    };
    let raw = cert.raw_serial();
    let trimmed = match raw.iter().position(|&b| b != 0) {
        Some(i) => &raw[i..],
        None => &raw[raw.len().saturating_sub(1)..],
    };
    row.serial = trimmed.iter().map(|b| format!("{b:02x}")).collect();
    let validity = cert.validity();
    let not_before = OffsetDateTime::from_unix_timestamp(validity.not_before.timestamp()).ok();
    let not_after = OffsetDateTime::from_unix_timestamp(validity.not_after.timestamp()).ok();
    row.not_before = not_before.and_then(|t| t.format(&Rfc3339).ok());
    row.not_after = not_after.and_then(|t| t.format(&Rfc3339).ok());
    row.valid = match (at, not_before, not_after) {
        (Some(at), Some(nb), Some(na)) => Some(nb <= at && at <= na),
        _ => None,
    };
    row.subject = cert.subject().to_string();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        // A workload certificate's trust domain is its SPIFFE ID's host.
        if row.trust_domain.is_empty() {
            row.trust_domain = san
                .value
                .general_names
                .iter()
                .find_map(|g| match g {
                    GeneralName::URI(u) => u.strip_prefix("spiffe://")?.split('/').next().map(str::to_string),
                    _ => None,
                })
                .unwrap_or_default();
        }
        row.san = san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::URI(u) => Some(u.to_string()),
                GeneralName::DNSName(d) => Some(d.to_string()),
                GeneralName::RFC822Name(m) => Some(m.to_string()),
                _ => None,
            })
            .collect();
    }
}
