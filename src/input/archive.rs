//! Troubleshooting archives as users are handed them, read in place:
//! `.tar.gz`/`.tgz`/`.tar`/`.zip` files (recognised by content) and
//! extracted directories, in the layouts of `istioctl bug-report` (with or
//! without its `bug-report/` prefix), OpenShift Service Mesh must-gather
//! (2.0–2.3 `envoyConfiguration`, 2.4+/3.x `config_dump_proxy.json`, the
//! core must-gather under `istio/`), `egctl x collect`
//! (`config-dumps/<ns>/<pod>.json`, `config-dumps/<ns>-<pod>.json`) and
//! `consul-k8s debug` (`proxy/<ns>/<proxy type>/<pod>/config_dumps.json`).
//! Entries are streamed; nothing is written to disk. Entries with `..` or
//! an absolute path, symlinks and links are passed over and said; each
//! entry read is bounded like every input.

use std::io::Read;

use super::InputError;

/// What kind of container the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tar,
    TarGz,
    Zip,
}

/// The archive kind of `bytes`, by content (a gzip is inflated just enough
/// to see whether it holds a tar).
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Some(Kind::Zip);
    }
    if is_tar(bytes) {
        return Some(Kind::Tar);
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut head = [0u8; 512];
        let mut d = flate2::read::MultiGzDecoder::new(bytes);
        let mut n = 0;
        while n < head.len() {
            match d.read(&mut head[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        if n == head.len() && is_tar(&head) {
            return Some(Kind::TarGz);
        }
    }
    None
}

fn is_tar(b: &[u8]) -> bool {
    b.len() >= 262 && &b[257..262] == b"ustar"
}

/// What an entry is to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// An Envoy config dump of proxy `ns/pod`.
    Dump { proxy: String },
    /// ztunnel's own config dump (not Envoy's).
    ZtunnelDump { proxy: String },
    /// The istio-proxy container's log of `ns/pod`.
    ProxyLog { proxy: String },
    /// istiod's log.
    IstiodLog,
    /// istiod's `/debug/syncz`.
    Syncz,
    /// `istioctl analyze` output (`analyze/allNamespaces/allNamespaces`).
    Analyze,
    /// istiod's view of a proxy's config (must-gather's
    /// `config_dump_istiod.json`/`pilotConfiguration`): what istiod would
    /// send, not what the proxy holds.
    IstiodView { proxy: String },
    /// Istio and Kubernetes objects (`cluster/crs`, `cluster/k8s-resources`,
    /// `cluster/pods`, must-gather's per-resource YAML).
    IstioConfig,
    /// Something else in the archive.
    Other,
}

impl Role {
    /// A proxy's own dump (or what stands where one was expected): what
    /// the dump loader reads. Everything else is what explain, nack and
    /// triage read beside the dumps.
    pub fn is_dump(&self) -> bool {
        matches!(
            self,
            Role::Dump { .. } | Role::ZtunnelDump { .. } | Role::IstiodView { .. }
        )
    }
}

/// The role of an entry by its path (`/` separators), in every layout read.
pub fn role(path: &str) -> Role {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    // istioctl bug-report, with or without the `bug-report/` prefix (or
    // under any directory it was extracted into).
    if let Some(i) = parts.iter().rposition(|p| *p == "proxies") {
        if let [ns, pod, file] = &parts[i + 1..] {
            let proxy = format!("{ns}/{pod}");
            return match *file {
                "config_dump?include_eds" | "config_dump_include_eds" => Role::Dump { proxy },
                "config_dump" => Role::ZtunnelDump { proxy },
                "istio-proxy.log" => Role::ProxyLog { proxy },
                _ => Role::Other,
            };
        }
    }
    if let Some(i) = parts.iter().rposition(|p| *p == "analyze") {
        if parts.len() == i + 3 {
            return Role::Analyze;
        }
    }
    if let Some(i) = parts.iter().rposition(|p| *p == "istio") {
        match &parts[i + 1..] {
            [_, _, "discovery.log"] => return Role::IstiodLog,
            [_, _, "debug", "syncz"] => return Role::Syncz,
            _ => {}
        }
    }
    if parts.len() >= 2
        && parts[parts.len() - 2] == "cluster"
        && matches!(parts[parts.len() - 1], "crs" | "k8s-resources" | "pods")
    {
        return Role::IstioConfig;
    }
    // must-gather (oc adm inspect layout): namespaces/<ns>/pods/<pod>/...
    if let Some(i) = parts.iter().rposition(|p| *p == "namespaces") {
        match &parts[i + 1..] {
            [ns, "pods", pod, file] => {
                let proxy = format!("{ns}/{pod}");
                return match *file {
                    "config_dump_proxy.json" | "envoyConfiguration" => Role::Dump { proxy },
                    "config_dump_istiod.json" | "pilotConfiguration" => Role::IstiodView { proxy },
                    _ => Role::Other,
                };
            }
            [ns, "pods", pod, "istio-proxy", "istio-proxy", "logs", "current.log" | "previous.log"] => {
                return Role::ProxyLog {
                    proxy: format!("{ns}/{pod}"),
                }
            }
            [_, "pods", _, "discovery", "discovery", "logs", "current.log" | "previous.log"] => return Role::IstiodLog,
            [_, "debug-syncz.json"] | [_, _, "debug-syncz.json"] | [_, "controlplane", "synchronization"] => {
                return Role::Syncz
            }
            [_, group, _, file] | [_, group, file]
                if (group.ends_with("istio.io") || group.ends_with("gateway.networking.k8s.io"))
                    && (file.ends_with(".yaml") || file.ends_with(".yml")) =>
            {
                return Role::IstioConfig
            }
            _ => {}
        }
    }
    // consul-k8s debug: proxy/<ns>/<proxy type>/<pod>/config_dumps.json
    // (proxy types hold spaces: "API Gateway", "Mesh Gateway").
    if let Some(i) = parts.iter().rposition(|p| *p == "proxy") {
        if let [ns, _kind, pod, "config_dumps.json"] = &parts[i + 1..] {
            return Role::Dump {
                proxy: format!("{ns}/{pod}"),
            };
        }
    }
    // egctl x collect: config-dumps/<ns>/<pod>.json (v1.5+) or
    // config-dumps/<ns>-<pod>.json (v1.2–1.4).
    if let Some(i) = parts.iter().rposition(|p| *p == "config-dumps") {
        match &parts[i + 1..] {
            [ns, file] if file.ends_with(".json") => {
                return Role::Dump {
                    proxy: format!("{ns}/{}", file.trim_end_matches(".json")),
                }
            }
            [file] if file.ends_with(".json") && *file != "errors.json" => {
                return Role::Dump {
                    proxy: file.trim_end_matches(".json").to_string(),
                }
            }
            _ => {}
        }
    }
    Role::Other
}

/// One entry read, with its role.
#[derive(Debug)]
pub struct Entry {
    pub path: String,
    pub role: Role,
    pub bytes: Vec<u8>,
}

/// The entries of interest of an archive, and what reading it passed over.
#[derive(Debug, Default)]
pub struct Contents {
    pub entries: Vec<Entry>,
    /// Proxies with a directory but no config dump (set by `finish`).
    pub proxies_without_dump: Vec<String>,
    /// Proxies with a directory, and those with a dump, as read.
    seen_proxies: std::collections::BTreeSet<String>,
    dumped_proxies: std::collections::BTreeSet<String>,
    /// Why reading stopped early (a truncated or damaged archive).
    pub damaged: Option<String>,
    pub notes: Vec<String>,
}

impl Contents {
    /// Names the proxies without a dump, and sorts the entries by path.
    pub fn finish(mut self) -> Self {
        self.proxies_without_dump = self.seen_proxies.difference(&self.dumped_proxies).cloned().collect();
        self.entries.sort_by(|a, b| a.path.cmp(&b.path));
        self
    }
}

/// A path as a safe relative name: `\` read as `/`; None for `..` or an
/// absolute path.
fn safe_path(raw: &str) -> Option<String> {
    let p = raw.replace('\\', "/");
    if p.starts_with('/') || p.split('/').any(|s| s == "..") || p.contains(':') && p.chars().nth(1) == Some(':') {
        return None;
    }
    Some(p.trim_start_matches("./").to_string())
}

/// The proxy a path's directory names (for proxies whose dump is missing):
/// a bug-report proxy directory, or a must-gather pod with an istio-proxy
/// container.
fn proxy_dir(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    if let Some(i) = parts.iter().rposition(|p| *p == "proxies") {
        if let [ns, pod, _, ..] = &parts[i + 1..] {
            return Some(format!("{ns}/{pod}"));
        }
    }
    let i = parts.iter().rposition(|p| *p == "namespaces")?;
    match &parts[i + 1..] {
        [ns, "pods", pod, "istio-proxy", ..] => Some(format!("{ns}/{pod}")),
        _ => None,
    }
}

/// Reads the entries whose role `want` keeps (never `Other`); only those are
/// held in memory.
pub fn read(file: &str, bytes: &[u8], kind: Kind, want: fn(&Role) -> bool) -> Result<Contents, InputError> {
    collected(|each| read_each(file, bytes, kind, want, each))
}

/// The entries a streaming reader gives, held, sorted by path.
fn collected(
    read: impl FnOnce(&mut dyn FnMut(Entry) -> Result<(), InputError>) -> Result<Contents, InputError>,
) -> Result<Contents, InputError> {
    let mut entries = Vec::new();
    let mut out = read(&mut |e| {
        entries.push(e);
        Ok(())
    })?;
    out.entries = entries;
    Ok(out.finish())
}

/// Streams the entries whose role `want` keeps to `each`, one at a time in
/// the archive's order (nothing else is held); the result holds what
/// reading passed over, not the entries.
pub fn read_each(
    file: &str,
    bytes: &[u8],
    kind: Kind,
    want: fn(&Role) -> bool,
    each: &mut dyn FnMut(Entry) -> Result<(), InputError>,
) -> Result<Contents, InputError> {
    let limit = super::max_input();
    let mut out = Contents::default();
    let mut taken = 0usize;
    let bad = |msg: String| InputError::NotADump {
        file: file.to_string(),
        looks_like: format!("an archive that cannot be read: {msg}"),
    };
    // An entry of interest, read whole (None: passed over or not wanted).
    let take = |out: &mut Contents, raw: &str, r: &mut dyn Read, size: u64| -> Result<Option<Entry>, InputError> {
        let Some(path) = safe_path(raw) else {
            out.notes
                .push(format!("entry {raw:?} passed over: a path outside the archive"));
            return Ok(None);
        };
        if let Some(p) = proxy_dir(&path) {
            out.seen_proxies.insert(p);
        }
        let role = role(&path);
        if let Role::Dump { proxy } | Role::ZtunnelDump { proxy } = &role {
            out.dumped_proxies.insert(proxy.clone());
        }
        if role == Role::Other || !want(&role) {
            return Ok(None);
        }
        if size > limit {
            out.notes.push(format!(
                "entry {path} passed over: {size} bytes, more than --max-input-size"
            ));
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| bad(format!("{path}: {e}")))?;
        Ok(Some(Entry { path, role, bytes: buf }))
    };
    match kind {
        Kind::Tar | Kind::TarGz => {
            let reader: Box<dyn Read> = if kind == Kind::TarGz {
                Box::new(flate2::read::MultiGzDecoder::new(bytes))
            } else {
                Box::new(bytes)
            };
            let mut ar = tar::Archive::new(reader);
            // A truncated or damaged archive (a download cut short) gives
            // what came before the damage, said; nothing read is an error.
            let damaged = |out: &mut Contents, taken: usize, msg: String| -> Result<(), InputError> {
                if taken == 0 {
                    return Err(bad(msg));
                }
                out.damaged = Some(format!(
                    "the archive is damaged or ends early after {taken} entries read ({msg}): what came before is read, the rest is not"
                ));
                Ok(())
            };
            for e in ar.entries().map_err(|e| bad(e.to_string()))? {
                let mut e = match e {
                    Ok(e) => e,
                    Err(err) => {
                        damaged(&mut out, taken, err.to_string())?;
                        break;
                    }
                };
                let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let t = e.header().entry_type();
                if t.is_symlink() || t.is_hard_link() {
                    let target = e
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    out.notes.push(format!("entry {raw} passed over: a link to {target:?}"));
                    continue;
                }
                if !t.is_file() {
                    continue;
                }
                let size = e.size();
                match take(&mut out, &raw, &mut e, size) {
                    Ok(Some(entry)) => {
                        taken += 1;
                        each(entry)?;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        damaged(&mut out, taken, err.to_string())?;
                        break;
                    }
                }
            }
        }
        Kind::Zip => {
            let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
            for i in 0..z.len() {
                let mut e = z.by_index(i).map_err(|e| bad(e.to_string()))?;
                let raw = e.name().map(|n| n.into_owned()).map_err(|err| bad(err.to_string()))?;
                if e.is_dir() {
                    continue;
                }
                if e.is_symlink() {
                    out.notes.push(format!("entry {raw} passed over: a symlink"));
                    continue;
                }
                let size = e.size();
                if let Some(entry) = take(&mut out, &raw, &mut e, size)? {
                    each(entry)?;
                }
            }
        }
    }
    Ok(out)
}

/// The same for an extracted directory (links to folders or outside the
/// directory are passed over by the walk).
pub fn read_dir(dir: &std::path::Path, want: fn(&Role) -> bool) -> Result<Contents, InputError> {
    collected(|each| read_dir_each(dir, want, each))
}

/// An extracted directory's entries streamed to `each`, in path order.
pub fn read_dir_each(
    dir: &std::path::Path,
    want: fn(&Role) -> bool,
    each: &mut dyn FnMut(Entry) -> Result<(), InputError>,
) -> Result<Contents, InputError> {
    let walk = super::walk_dir(dir)?;
    let mut out = Contents::default();
    out.notes.extend(walk.skipped);
    for p in walk.files {
        let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().replace('\\', "/");
        if let Some(proxy) = proxy_dir(&rel) {
            out.seen_proxies.insert(proxy);
        }
        let role = role(&rel);
        if let Role::Dump { proxy } | Role::ZtunnelDump { proxy } = &role {
            out.dumped_proxies.insert(proxy.clone());
        }
        if role == Role::Other || !want(&role) {
            continue;
        }
        let bytes = std::fs::read(&p).map_err(|source| InputError::Io {
            file: p.display().to_string(),
            source,
        })?;
        each(Entry {
            path: p.display().to_string(),
            role,
            bytes,
        })?;
    }
    Ok(out)
}

/// The contents of `path` when it is an archive file or a layout
/// directory; None for anything else (a plain dump).
pub fn open(path: &str, want: fn(&Role) -> bool) -> Result<Option<Contents>, InputError> {
    let p = std::path::Path::new(path);
    if p.is_dir() {
        return if is_layout_dir(p) {
            read_dir(p, want).map(Some)
        } else {
            Ok(None)
        };
    }
    let Ok(f) = std::fs::File::open(p) else { return Ok(None) };
    // SAFETY: read-only mapping, as for dumps (see input::load_path).
    let Ok(map) = (unsafe { memmap2::Mmap::map(&f) }) else {
        return Ok(None);
    };
    match sniff(&map) {
        Some(kind) => read(path, &map, kind, want).map(Some),
        None => Ok(None),
    }
}

/// Whether a directory holds a layout we read (any entry with a role).
pub fn is_layout_dir(dir: &std::path::Path) -> bool {
    let marks = ["proxies", "config-dumps", "namespaces", "proxy"];
    let holds = |d: &std::path::Path| marks.iter().any(|m| d.join(m).is_dir());
    holds(dir)
        || std::fs::read_dir(dir).ok().is_some_and(|rd| {
            rd.flatten().any(|e| {
                let p = e.path();
                p.is_dir() && (holds(&p) || p.join("istio").is_dir() && holds(&p.join("istio")))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_in_every_layout() {
        let dump = |p: &str| Role::Dump { proxy: p.into() };
        assert_eq!(
            role("bug-report/proxies/istio-system/gw-1/config_dump?include_eds"),
            dump("istio-system/gw-1")
        );
        assert_eq!(role("proxies/default/app/config_dump?include_eds"), dump("default/app"));
        assert_eq!(
            role("proxies/istio-system/ztunnel-x/config_dump"),
            Role::ZtunnelDump {
                proxy: "istio-system/ztunnel-x".into()
            }
        );
        assert_eq!(
            role("bug-report/istio/istio-system/istiod-1/discovery.log"),
            Role::IstiodLog
        );
        assert_eq!(role("bug-report/istio/istio-system/istiod-1/debug/syncz"), Role::Syncz);
        assert_eq!(role("bug-report/cluster/crs"), Role::IstioConfig);
        assert_eq!(role("bug-report/cluster/k8s-resources"), Role::IstioConfig);
        assert_eq!(
            role("envoy-gateway-2026-01-02T15_04_05/config-dumps/envoy-gateway-system/envoy-x.json"),
            dump("envoy-gateway-system/envoy-x")
        );
        assert_eq!(
            role("eg/config-dumps/envoy-gateway-system-envoy-x.json"),
            dump("envoy-gateway-system-envoy-x")
        );
        assert_eq!(role("bug-report/proxies/default/app/stats/prometheus"), Role::Other);
        // must-gather: 3.x, the core must-gather under istio/, 2.0–2.3.
        assert_eq!(
            role("quay-io-x/namespaces/bookinfo/pods/details-1/config_dump_proxy.json"),
            dump("bookinfo/details-1")
        );
        assert_eq!(
            role("img/istio/namespaces/bookinfo/pods/details-1/config_dump_proxy.json"),
            dump("bookinfo/details-1")
        );
        assert_eq!(
            role("img/namespaces/bookinfo/pods/details-1/envoyConfiguration"),
            dump("bookinfo/details-1")
        );
        assert_eq!(
            role("img/namespaces/bookinfo/pods/details-1/config_dump_istiod.json"),
            Role::IstiodView {
                proxy: "bookinfo/details-1".into()
            }
        );
        assert_eq!(
            role("img/namespaces/bookinfo/pods/details-1/istio-proxy/istio-proxy/logs/current.log"),
            Role::ProxyLog {
                proxy: "bookinfo/details-1".into()
            }
        );
        assert_eq!(
            role("img/namespaces/istio-system/pods/istiod-1/discovery/discovery/logs/current.log"),
            Role::IstiodLog
        );
        assert_eq!(
            role("img/namespaces/istio-system/default/debug-syncz.json"),
            Role::Syncz
        );
        assert_eq!(
            role("img/namespaces/istio-system/controlplane/synchronization"),
            Role::Syncz
        );
        assert_eq!(
            role("img/namespaces/bookinfo/networking.istio.io/virtualservices/reviews.yaml"),
            Role::IstioConfig
        );
        // consul-k8s debug, directory names with spaces.
        assert_eq!(
            role("consul-k8s-debug-2026/proxy/default/API Gateway/api-gw-1/config_dumps.json"),
            dump("default/api-gw-1")
        );
        assert_eq!(safe_path("a\\b\\c"), Some("a/b/c".into()));
        assert_eq!(safe_path("../etc/passwd"), None);
        assert_eq!(safe_path("/etc/passwd"), None);
    }
}
