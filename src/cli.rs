//! Command-line wiring: flags → input → model → analysis → render. Every flag
//! is defined once here, with its help beside it; `--help`, the man page and
//! shell completions all come from these definitions.

use std::io::{IsTerminal, Write};

use clap::{CommandFactory, Parser, Subcommand};

use crate::analysis::filter::TextFilter;
use crate::analysis::{
    bootstrap, diff, endpoints, explain, inventory, isolation, nack, paths, raw, routes, secrets, summary, tls, trace,
};
use crate::input::stream::Streamed;
use crate::input::{self, InputError};
use crate::model::{Index, State};
use crate::render::{self, graph, table, OutputFormat, Palette};

const EXAMPLES: &str = "\
Examples:
  egress-xray dump.json                  one screen per dump: identity, versions, counts, findings
  kubectl exec POD -c istio-proxy -- curl -s localhost:15000/config_dump | egress-xray -
  egress-xray listeners dump.json --port 8443
  egress-xray clusters dump.json.gz --direction outbound -o json
  egress-xray routes dump.json --domain example.org -o wide
  egress-xray secrets dump.json --now 2026-11-26T00:00:00Z
  egress-xray tls egw.json --host www.wikipedia.org      who originates / terminates TLS
  egress-xray trace egw.json --port 8443 --sni www.wikipedia.org
  egress-xray paths sidecar.json --host example.org -o mermaid
  egress-xray explain egw.json --istio istio/ --k8s k8s.yaml --istiod-log istiod.log
  egress-xray nack gw-a.json gw-b.json --envoy-log gw-a.log --istiod-log istiod.log --istio istio/
  egress-xray diff before.json after.json --stat       exit 0 same, 1 different, 2 error
  egress-xray isolation gw-a.json gw-b.json --istio istio/
  egress-xray findings                       the catalogue of finding codes

Inputs are recognised by content: Envoy /config_dump JSON (with or without
?include_eds), istioctl proxy-config -o json|yaml (full dumps or bare lists),
egctl's wrapped {namespace: {pod: dump}} JSON or YAML, binary protobuf
envoy.admin.v3.ConfigDump, any of these gzip-compressed, and - for stdin.";

#[derive(Debug, Parser)]
#[command(
    name = "egress-xray",
    version,
    about = "Explain the configuration Envoy proxies actually hold, offline, from config dumps",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Config dumps to summarise (`-` for stdin).
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,

    #[command(flatten)]
    pub common: Common,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Args, Clone)]
pub struct Common {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table", global = true)]
    pub output: OutputFormat,

    /// When to colour the output (colour is never used with NO_COLOR set).
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub color: ColorChoice,

    /// In an archive or bug-report directory, only proxies whose `ns/pod`
    /// matches (a part of it, or a glob: `istio-system/istio-ingress*`).
    #[arg(long, global = true, value_name = "NS/POD", value_parser = text_filter)]
    pub proxy: Option<TextFilter>,

    /// Do not page long output at a terminal (the pager is $PAGER, else
    /// `less` with LESS=FRX, as git does; PAGER=cat turns it off too).
    #[arg(long, global = true)]
    pub no_pager: bool,

    /// The most MiB read from stdin or a pipe, or inflated from gzip, per
    /// input (regular files are mapped and not limited).
    #[arg(long, value_name = "MIB", default_value_t = crate::input::DEFAULT_MAX_INPUT >> 20, global = true)]
    pub max_input_size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One screen per dump: identity, versions, counts per type and state,
    /// what was skipped, and findings (the default command).
    #[command(after_help = "Example:\n  egress-xray summary egw-a.json egw-b.json.gz")]
    Summary {
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
    },
    /// Listeners, one row per filter chain, with istioctl's columns plus STATE
    /// (rejected, warming and draining listeners included).
    #[command(after_help = "Example:\n  egress-xray listeners egw-a.json egw-b.json --port 8443")]
    Listeners {
        /// Config dumps; with several, a PROXY column says which each row is from.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        #[command(flatten)]
        filter: ListenerArgs,
    },
    /// Clusters with istioctl's columns (FQDN, port, subset, direction, type,
    /// destination rule) plus STATE (warming clusters included).
    #[command(after_help = "Example:\n  egress-xray clusters egw.json --fqdn '*.wikipedia.org' -o raw")]
    Clusters {
        /// Config dumps; with several, a PROXY column says which each row is from.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        #[command(flatten)]
        filter: ClusterArgs,
    },
    /// Routes, one row per route of each virtual host, with istioctl's
    /// columns plus STATE; RDS, static and listener-inline configurations.
    #[command(after_help = "Example:\n  egress-xray routes ingress.json --domain example.org -o wide")]
    Routes {
        /// Config dumps; with several, a PROXY column says which each row is from.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        #[command(flatten)]
        filter: RouteArgs,
    },
    /// Endpoints, one row per host, with istioctl's columns plus STATE; from
    /// the EDS section, else from clusters' own load_assignment.
    #[command(
        after_help = "Example:\n  egress-xray endpoints sidecar.json --cluster 'outbound|80||*' --status HEALTHY"
    )]
    Endpoints {
        /// Config dumps; with several, a PROXY column says which each row is from.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        #[command(flatten)]
        filter: EndpointArgs,
    },
    /// Secrets with istioctl's columns plus STATE; certificate validity is
    /// judged at the dump's own time unless --now is given.
    #[command(after_help = "Example:\n  egress-xray secrets egw.json --now now")]
    Secrets {
        /// Config dumps; with several, a PROXY column says which each row is from.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        /// Judge validity at this RFC 3339 time (e.g. 2026-11-26T00:00:00Z) or `now`.
        #[arg(long, value_parser = parse_now)]
        now: Option<time::OffsetDateTime>,
        /// Only secrets whose name matches (a part of it, or a glob).
        #[arg(long, value_parser = text_filter)]
        name: Option<TextFilter>,
    },
    /// Who the proxy is, which Envoy and Istio it runs, where it gets its
    /// configuration, and its node metadata.
    #[command(after_help = "Example:\n  egress-xray bootstrap egw.json")]
    Bootstrap {
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
    },
    /// Extension configs delivered by ECDS, with rejected ones.
    #[command(after_help = "Example:\n  egress-xray ecds sidecar.json")]
    Ecds {
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
    },
    /// Every listener → filter chain → route → cluster → endpoints path, as
    /// a tree (or -o mermaid / dot / json), with dangling references as findings.
    #[command(after_help = "Example:\n  egress-xray paths sidecar.json --host example.org -o mermaid")]
    Paths {
        /// Config dumps (one tree each).
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        /// Only listeners whose name matches (a part of it, or a glob).
        #[arg(long, value_parser = text_filter)]
        listener: Option<TextFilter>,
        /// Only listeners on this port.
        #[arg(long)]
        port: Option<u32>,
        /// Only chains that serve this host name (SNI or HTTP domain; wildcards in the config count).
        #[arg(long)]
        host: Option<String>,
        /// Only chains that lead to a cluster that matches (a part of its name, or a glob).
        #[arg(long, value_parser = text_filter)]
        cluster: Option<TextFilter>,
    },
    /// TLS verdicts: per cluster whether it originates TLS (none, tls, mtls,
    /// istio_mutual, conditional) with SNI and trust; per filter chain whether
    /// it terminates TLS (and with which protocol versions), passes it through
    /// on SNI, or sees plain bytes.
    #[command(after_help = "Example:\n  egress-xray tls egw-pt.json egw-mtls.json --host wikipedia")]
    Tls {
        /// Config dumps (one report each).
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        /// Only clusters and chains whose cluster name, SNI, server name or destination matches (a part, or a glob).
        #[arg(long, value_parser = text_filter)]
        host: Option<TextFilter>,
        /// Only the chains of listeners whose name matches (and no clusters).
        #[arg(long, value_parser = text_filter)]
        listener: Option<TextFilter>,
    },
    /// Trace one connection (and HTTP request) as Envoy would: listener,
    /// filter chain with the near misses, TLS at each hop, route, cluster,
    /// endpoints — each decision with its reason.
    #[command(after_help = "Example:\n  egress-xray trace sidecar.json --sni www.wikipedia.org")]
    Trace {
        #[arg(value_name = "FILE")]
        file: String,
        /// Destination port of the connection (as the listener sees it).
        /// Without it, the ports whose listeners pick a chain for --sni by
        /// name (or route --host by name) are traced, each.
        #[arg(long)]
        port: Option<u32>,
        /// Use this listener by name instead of choosing by address (e.g. an internal listener).
        #[arg(long)]
        listener: Option<String>,
        /// Destination IP (original destination for sidecars).
        #[arg(long = "dst-ip")]
        dst_ip: Option<std::net::IpAddr>,
        /// TLS SNI the client sends.
        #[arg(long)]
        sni: Option<String>,
        /// ALPN protocols the client offers, in order (comma-separated).
        #[arg(long, value_delimiter = ',')]
        alpn: Vec<String>,
        /// Transport as the listener filters detect it (default: tls when --sni is given).
        #[arg(long, value_parser = ["tls", "raw_buffer"])]
        transport: Option<String>,
        /// Source IP of the connection.
        #[arg(long = "src-ip")]
        src_ip: Option<std::net::IpAddr>,
        /// Source port of the connection.
        #[arg(long = "src-port")]
        src_port: Option<u32>,
        /// HTTP Host / :authority (default: the SNI).
        #[arg(long)]
        host: Option<String>,
        /// HTTP path, with query (default /).
        #[arg(long)]
        path: Option<String>,
        /// HTTP method (default GET).
        #[arg(long)]
        method: Option<String>,
        /// HTTP request header `name=value` (repeatable).
        #[arg(long = "header", value_parser = parse_header)]
        headers: Vec<(String, String)>,
    },
    /// Explain why a gateway listener has zero filter chains or is missing:
    /// predict istiod's gateway listeners from the Istio config, cross-check
    /// them with dumps and istiod's log; every cause with a code and a fix.
    #[command(
        after_help = "Example:\n  egress-xray explain egw.json --istio istio/ --k8s k8s.yaml --istiod-log istiod.log"
    )]
    Explain {
        /// Config dumps of gateway pods (optional).
        #[arg(value_name = "DUMP")]
        dumps: Vec<String>,
        /// Istio config: YAML/JSON files or directories (Gateway, VirtualService,
        /// DestinationRule, ServiceEntry, Sidecar; `kind: List` too). Later files
        /// override objects of the same kind, namespace and name.
        #[arg(long = "istio", value_name = "PATH")]
        istio: Vec<String>,
        /// Kubernetes objects: Services (port → targetPort), Deployments/Pods
        /// (labels, the proxy's ISTIO_META_UNPRIVILEGED_POD, pod IPs).
        #[arg(long = "k8s", value_name = "PATH")]
        k8s: Vec<String>,
        /// istiod log files.
        #[arg(long = "istiod-log", value_name = "FILE")]
        istiod_log: Vec<String>,
        /// Only this Gateway (`namespace/name`).
        #[arg(long)]
        gateway: Option<String>,
        /// Ports the gateway should listen on (checked against the dumps).
        #[arg(long = "expect-port", value_name = "PORT")]
        expect_port: Vec<u32>,
    },
    /// Postmortem of rejected config (NACKs): who rejected what, when, why,
    /// from which Istio object, and which other proxies it reached.
    #[command(
        after_help = "Example:\n  egress-xray nack gw-a.json gw-b.json --envoy-log gw-a=gw-a.log --istiod-log istiod.log --istio istio/"
    )]
    Nack {
        /// Config dumps (listener error_state, versions, warming resources).
        #[arg(value_name = "DUMP")]
        dumps: Vec<String>,
        /// Envoy / istio-proxy logs, as FILE or POD.NAMESPACE=FILE (the proxy
        /// defaults to the file name without .log).
        #[arg(long = "envoy-log", value_name = "[PROXY=]FILE")]
        envoy_log: Vec<String>,
        /// istiod logs (ACK ERROR lines and gateway-building warnings).
        #[arg(long = "istiod-log", value_name = "FILE")]
        istiod_log: Vec<String>,
        /// istiod sync status: /debug/syncz or `istioctl proxy-status -o json`.
        #[arg(long = "syncz", value_name = "FILE")]
        syncz: Vec<String>,
        /// Istio config, to trace rejected resources to objects and their exportTo.
        #[arg(long = "istio", value_name = "PATH")]
        istio: Vec<String>,
        /// An `istioctl bug-report` directory: its dumps and logs are found in it.
        #[arg(long = "bug-report", value_name = "DIR")]
        bug_report: Option<String>,
    },
    /// Semantic diff of two dumps (two proxies, or one proxy over time):
    /// added, removed and changed resources with field paths. Exit status
    /// 0 same, 1 different, 2 error.
    #[command(after_help = "Example:\n  egress-xray diff before.json after.json --stat")]
    Diff {
        #[arg(value_name = "A")]
        a: String,
        #[arg(value_name = "B")]
        b: String,
        /// One line per resource type: added, removed, changed.
        #[arg(long)]
        stat: bool,
        /// Add a unified diff of the canonical JSON of each changed resource.
        #[arg(long)]
        text: bool,
        /// Ignore field paths starting like this (`metadata`,
        /// `filter_chains.*.typed_config.idle_timeout`); repeatable.
        #[arg(long = "ignore", value_name = "PATH")]
        ignore: Vec<String>,
        /// Compare two proxies (replicas, or two gateways): each one's own
        /// pod name and IP are treated as equal wherever they appear (e.g. a
        /// sidecar's inbound listener name); namespaces and service names
        /// are left alone, since they also name other services' resources.
        #[arg(long = "normalize-node")]
        normalize_node: bool,
    },
    /// Isolation across gateways: external hosts each one reaches (and
    /// through which listener), Istio objects shared by several (blast
    /// radius), and which are on the same push.
    #[command(after_help = "Example:\n  egress-xray isolation gw-a.json gw-b.json --istio istio/")]
    Isolation {
        #[arg(value_name = "DUMP", required = true, num_args = 2..)]
        dumps: Vec<String>,
        /// Istio config, to judge each shared object's exportTo.
        #[arg(long = "istio", value_name = "PATH")]
        istio: Vec<String>,
    },
    /// The whole fleet of an archive (istioctl bug-report, must-gather,
    /// egctl collect) or of the dumps given, worst first: each proxy's
    /// role, versions and issues, and every issue grouped across proxies
    /// with the command that explains it.
    #[command(after_help = "Example:\n  egress-xray triage bug-report.tar.gz")]
    Triage {
        /// Archives, bug-report directories or dumps.
        #[arg(value_name = "ARCHIVE|DIR|DUMP", required = true)]
        files: Vec<String>,
    },
    /// One self-contained HTML page for a ticket or a postmortem: findings
    /// across every input first, then per proxy its identity, counts and the
    /// listener → chain → route → cluster → endpoints graph (inline SVG,
    /// folded when large), the TLS matrix, isolation across proxies, diffs
    /// of chosen pairs and the NACK timeline when logs are given. Opens
    /// offline: nothing is fetched. `-o json` gives the same data as JSON.
    /// The page says when it was made: set SOURCE_DATE_EPOCH (seconds) for
    /// a page that is the same bytes run after run.
    #[command(
        after_help = "Example:\n  egress-xray report bug-report.tar.gz -O report.html\n  egress-xray report gw-a.json gw-b.json --diff gw-a.json gw-b.json --envoy-log gw-a=gw-a.log -O report.html"
    )]
    Report {
        /// Archives, bug-report directories or dumps.
        #[arg(value_name = "ARCHIVE|DIR|DUMP", required = true)]
        files: Vec<String>,
        /// Write the page here (default: standard output).
        #[arg(short = 'O', long = "out", value_name = "FILE")]
        out: Option<String>,
        /// Envoy / istio-proxy logs, as FILE or POD.NAMESPACE=FILE.
        #[arg(long = "envoy-log", value_name = "[PROXY=]FILE")]
        envoy_log: Vec<String>,
        /// istiod logs.
        #[arg(long = "istiod-log", value_name = "FILE")]
        istiod_log: Vec<String>,
        /// istiod sync status: /debug/syncz or `istioctl proxy-status -o json`.
        #[arg(long = "syncz", value_name = "FILE")]
        syncz: Vec<String>,
        /// Istio config (trace rejections to objects, judge exportTo, and
        /// explain the gateways' listeners: `explain`'s findings join the
        /// page).
        #[arg(long = "istio", value_name = "PATH")]
        istio: Vec<String>,
        /// Kubernetes objects for explain (Services, Deployments/Pods).
        #[arg(long = "k8s", value_name = "PATH")]
        k8s: Vec<String>,
        /// A pair of the dumps given to diff (their file names or proxy
        /// names); repeatable.
        #[arg(long = "diff", value_names = ["A", "B"], num_args = 2)]
        diff: Vec<String>,
    },
    /// Export the fleet for DuckDB, Spark or Trino: one JSON Lines or
    /// Parquet file per table (proxies, listeners, filter_chains, routes,
    /// virtual_hosts, clusters, endpoints, secrets, findings, rejections),
    /// every row keyed by proxy and snapshot time; one dump in memory at a
    /// time. Schema and column types: docs/export-schema.md.
    #[command(
        after_help = "Example:\n  egress-xray export bug-report.tar.gz -O fleet/ --format parquet && duckdb -c \"select proxy from 'fleet/clusters.parquet' where fqdn like '%wikipedia%'\""
    )]
    Export {
        /// Archives, bug-report directories or dumps.
        #[arg(value_name = "ARCHIVE|DIR|DUMP", required = true)]
        files: Vec<String>,
        /// The directory to write the tables into (created; existing tables replaced).
        #[arg(short = 'O', long = "out-dir", value_name = "DIR")]
        out_dir: String,
        /// The table format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
    /// The catalogue of finding codes: what each means and how to fix it.
    #[command(after_help = "Example:\n  egress-xray findings XR0012")]
    Findings {
        /// Only these codes or names (`XR0012`, `gateway-listener-omitted`).
        #[arg(value_name = "CODE")]
        codes: Vec<String>,
    },
    /// Print shell completions.
    #[command(after_help = "Example:\n  egress-xray completions bash > /etc/bash_completion.d/egress-xray")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page: shown with man(1) at a terminal, roff otherwise.
    #[command(after_help = "Example:\n  egress-xray man > egress-xray.1")]
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines: one object per line (DuckDB read_json, Spark, Trino).
    Jsonl,
    /// Apache Parquet, Snappy-compressed, one typed column per field
    /// (DuckDB read_parquet, Spark, Trino).
    Parquet,
}

/// Where one exported table goes.
enum Sink {
    /// JSON Lines, and the rows written.
    Jsonl(std::io::BufWriter<std::fs::File>, usize),
    Parquet(Box<render::parquet::TableWriter>),
}

/// One dump's rows of a table, ready to write.
enum Ready {
    /// JSON lines, and how many.
    Lines(Vec<u8>, usize),
    Columns(render::parquet::Batch),
}

impl Sink {
    fn push(&mut self, ready: Ready) -> Result<(), String> {
        match (self, ready) {
            (Sink::Jsonl(w, n), Ready::Lines(buf, rows)) => {
                *n += rows;
                w.write_all(&buf).map_err(|e| e.to_string())
            }
            (Sink::Parquet(p), Ready::Columns(b)) => p.push(b),
            _ => Err("rows made for another format (an egress-xray defect: please report it)".into()),
        }
    }

    /// Flushes the table; the rows written.
    fn finish(self) -> Result<usize, String> {
        match self {
            Sink::Jsonl(mut w, n) => w.flush().map(|()| n).map_err(|e| e.to_string()),
            Sink::Parquet(p) => p.finish(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateArg {
    Static,
    Active,
    Warming,
    Draining,
    Rejected,
}

impl From<StateArg> for State {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Static => State::Static,
            StateArg::Active => State::Active,
            StateArg::Warming => State::Warming,
            StateArg::Draining => State::Draining,
            StateArg::Rejected => State::Rejected,
        }
    }
}

/// How text filters are read: a part of the value, or a glob over all of
/// it (see analysis::filter).
fn text_filter(s: &str) -> Result<TextFilter, String> {
    TextFilter::new(s)
}

#[derive(Debug, clap::Args)]
pub struct ListenerArgs {
    /// Only listeners on this port.
    #[arg(long)]
    port: Option<u32>,
    /// Only listeners bound to this address (exactly).
    #[arg(long)]
    address: Option<String>,
    /// Only listeners whose name matches (a part of it, or a glob: `*_8443`).
    #[arg(long, value_parser = text_filter)]
    name: Option<TextFilter>,
    /// Only listeners in this state.
    #[arg(long, value_enum)]
    state: Option<StateArg>,
}

impl From<ListenerArgs> for inventory::ListenerFilter {
    fn from(a: ListenerArgs) -> Self {
        Self {
            port: a.port,
            address: a.address,
            name: a.name,
            state: a.state.map(State::from),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Only clusters whose FQDN (or non-Istio name) matches (a part of it, or a glob: `*.svc.cluster.local`).
    #[arg(long, value_parser = text_filter)]
    fqdn: Option<TextFilter>,
    /// Only clusters for this port.
    #[arg(long)]
    port: Option<u32>,
    /// Only clusters of this subset (exactly).
    #[arg(long)]
    subset: Option<String>,
    /// Only clusters of this direction (inbound, outbound, ...; exactly).
    #[arg(long)]
    direction: Option<String>,
    /// Only clusters of this discovery type (EDS, STRICT_DNS, LOGICAL_DNS, STATIC, ORIGINAL_DST; exactly).
    #[arg(long = "type")]
    discovery_type: Option<String>,
    /// Only clusters in this state.
    #[arg(long, value_enum)]
    state: Option<StateArg>,
}

impl From<ClusterArgs> for inventory::ClusterFilter {
    fn from(a: ClusterArgs) -> Self {
        Self {
            fqdn: a.fqdn,
            port: a.port,
            subset: a.subset,
            direction: a.direction,
            discovery_type: a.discovery_type,
            state: a.state.map(State::from),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RouteArgs {
    /// Only route configurations whose name matches (a part of it, or a glob: `http.*`).
    #[arg(long, value_parser = text_filter)]
    name: Option<TextFilter>,
    /// Only virtual hosts with a domain that matches (a part of it, or a glob).
    #[arg(long, value_parser = text_filter)]
    domain: Option<TextFilter>,
    /// Only routes that may send to a cluster that matches (a part of its name, or a glob).
    #[arg(long, value_parser = text_filter)]
    cluster: Option<TextFilter>,
    /// Only route configurations in this state.
    #[arg(long, value_enum)]
    state: Option<StateArg>,
}

impl From<RouteArgs> for routes::RouteFilter {
    fn from(a: RouteArgs) -> Self {
        Self {
            name: a.name,
            domain: a.domain,
            cluster: a.cluster,
            state: a.state.map(State::from),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct EndpointArgs {
    /// Only endpoints at this address (`10.0.0.1` or `10.0.0.1:8080`; exactly).
    #[arg(long)]
    address: Option<String>,
    /// Only endpoints on this port.
    #[arg(long)]
    port: Option<u32>,
    /// Only endpoints of clusters that match (a part of the name, or a glob: `outbound|443||*`).
    #[arg(long, value_parser = text_filter)]
    cluster: Option<TextFilter>,
    /// Only endpoints with this health status (HEALTHY, UNHEALTHY, DRAINING, ...; exactly).
    #[arg(long)]
    status: Option<String>,
}

impl From<EndpointArgs> for endpoints::EndpointFilter {
    fn from(a: EndpointArgs) -> Self {
        Self {
            address: a.address,
            port: a.port,
            cluster: a.cluster,
            status: a.status,
        }
    }
}

/// Runs the CLI; returns the process exit code.
pub fn run() -> i32 {
    // clap prints --help and usage errors itself: give it our --color choice.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cmd = Cli::command().color(clap_color(&args));
    let cli = match cmd
        .try_get_matches_from(&args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let terminal = std::io::stdout().is_terminal();
    let palette = palette(cli.common.color, terminal);
    let no_pager = cli.common.no_pager;
    if terminal && matches!(cli.command, Some(Command::Man)) && show_man_page() {
        return 0;
    }
    // A page of HTML is no use on a terminal: say where it can go instead.
    if terminal
        && matches!(cli.command, Some(Command::Report { out: None, .. }))
        && !matches!(cli.common.output, OutputFormat::Json | OutputFormat::Yaml)
    {
        let _ = std::io::stderr().lock().write_all(
            b"egress-xray: error: the report is an HTML page: give -O report.html (or redirect standard output to a file)\n",
        );
        return 2;
    }
    let outcome = execute(cli, palette);
    let _ = std::io::stderr().lock().write_all(outcome.stderr.as_bytes());
    if terminal && !no_pager && page(&outcome.stdout) {
        return outcome.code;
    }
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().lock().write_all(outcome.stdout.as_bytes());
    outcome.code
}

/// Shows text through the user's pager, as git does: $PAGER (run by the
/// shell), else `less` with LESS=FRX (it quits at once when the text fits
/// the screen); no pager for PAGER=cat or an empty PAGER. False when no
/// pager could run (the caller prints the text itself).
fn page(text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    let pager = std::env::var("PAGER").unwrap_or_else(|_| "less".into());
    let pager = pager.trim();
    if pager.is_empty() || pager == "cat" {
        return false;
    }
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(pager).stdin(std::process::Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        cmd.env("LESS", "FRX");
    }
    let Ok(mut child) = cmd.spawn() else { return false };
    if let Some(mut stdin) = child.stdin.take() {
        // The user may quit the pager before reading everything.
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait().is_ok()
}

/// At a terminal, `man` shows the page with man(1) rather than printing
/// roff; false when man(1) is not there (the roff is printed then).
fn show_man_page() -> bool {
    let mut roff = Vec::new();
    if clap_mangen::Man::new(Cli::command()).render(&mut roff).is_err() {
        return false;
    }
    let path = std::env::temp_dir().join(format!("egress-xray-{}.1", std::process::id()));
    if std::fs::write(&path, &roff).is_err() {
        return false;
    }
    let shown = std::process::Command::new("man")
        .arg("-l")
        .arg(&path)
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&path);
    shown
}

/// The `--color` value among raw arguments, as clap's own choice.
fn clap_color(args: &[std::ffi::OsString]) -> clap::ColorChoice {
    let mut value = None;
    for (i, a) in args.iter().enumerate() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        } else if let Some(v) = a.strip_prefix("--color=") {
            value = Some(v.to_string());
        } else if a == "--color" {
            value = args.get(i + 1).map(|v| v.to_string_lossy().into_owned());
        }
    }
    match value.as_deref() {
        Some("never") => clap::ColorChoice::Never,
        Some("always") => clap::ColorChoice::Always,
        _ => clap::ColorChoice::Auto,
    }
}

/// What one invocation prints and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Runs one invocation in-process, as a pipe would see it (no colour):
/// `args` without the program name. Used by the determinism tests, which
/// run every command many times.
pub fn run_args<I: IntoIterator<Item = String>>(args: I) -> Outcome {
    let args = std::iter::once("egress-xray".to_string()).chain(args);
    match Cli::try_parse_from(args) {
        Ok(cli) => {
            let palette = palette(cli.common.color, false);
            execute(cli, palette)
        }
        Err(e) => Outcome {
            stdout: String::new(),
            stderr: e.render().to_string(),
            code: 2,
        },
    }
}

fn execute(cli: Cli, palette: Palette) -> Outcome {
    crate::input::set_max_input(cli.common.max_input_size.saturating_mul(1 << 20));
    crate::input::set_proxy_filter(cli.common.proxy.clone());
    let _ = crate::input::take_damaged();
    let text_output = !matches!(cli.common.output, OutputFormat::Json | OutputFormat::Yaml);
    let mut outcome = match dispatch(cli, palette) {
        Ok(o) => o,
        Err(e) => Outcome {
            stdout: String::new(),
            stderr: format!("egress-xray: error: {e}\n"),
            code: 2,
        },
    };
    // An archive read only in part: the answer stands for what was read,
    // and the exit status says the input was bad.
    for d in crate::input::take_damaged() {
        outcome.stderr.push_str(&format!("egress-xray: error: {d}\n"));
        if outcome.code == 0 || outcome.code == 1 {
            outcome.code = 2;
        }
    }
    // Names, SNIs, error details and log text come from untrusted input:
    // nothing of theirs may drive the terminal (JSON escapes by itself).
    if text_output {
        outcome.stdout = render::terminal_safe(&outcome.stdout, palette.enabled).into_owned();
    }
    outcome.stderr = render::terminal_safe(&outcome.stderr, false).into_owned();
    outcome
}

fn dispatch(cli: Cli, palette: Palette) -> Result<Outcome, InputError> {
    let common = cli.common.clone();
    let done = |stdout: String, code: i32| {
        Ok(Outcome {
            stdout,
            stderr: String::new(),
            code,
        })
    };
    let command = match cli.command {
        Some(c) => c,
        None if !cli.files.is_empty() => Command::Summary { files: cli.files },
        None => return done(Cli::command().render_help().to_string(), 2),
    };
    if matches!(common.output, OutputFormat::Raw | OutputFormat::RawYaml)
        && !matches!(
            command,
            Command::Listeners { .. }
                | Command::Clusters { .. }
                | Command::Routes { .. }
                | Command::Endpoints { .. }
                | Command::Secrets { .. }
        )
    {
        return Ok(Outcome {
            stdout: String::new(),
            stderr: "egress-xray: error: -o raw and -o raw-yaml print the resources a view selects: use them with listeners, clusters, routes, endpoints or secrets\n".into(),
            code: 2,
        });
    }
    if common.output == OutputFormat::Html && !matches!(command, Command::Report { .. }) {
        return Ok(Outcome {
            stdout: String::new(),
            stderr: "egress-xray: error: -o html is the report's page: use it with `egress-xray report`\n".into(),
            code: 2,
        });
    }
    if matches!(common.output, OutputFormat::Mermaid | OutputFormat::Dot) && !matches!(command, Command::Paths { .. }) {
        return Ok(Outcome {
            stdout: String::new(),
            stderr:
                "egress-xray: error: -o mermaid and -o dot draw the paths graph: use them with `egress-xray paths`\n"
                    .into(),
            code: 2,
        });
    }
    let out = match command {
        Command::Summary { files } => {
            let mut summaries = Vec::new();
            // One unreadable file does not hide the others: each is reported
            // on stderr, the rest summarised, and the exit status is 2.
            let mut unreadable: Vec<InputError> = Vec::new();
            for f in &files {
                let loaded = match load(f) {
                    Ok(l) => l,
                    Err(e) if files.len() > 1 => {
                        unreadable.push(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for d in loaded {
                    let ix = Index::build(d);
                    summaries.push(summary::summarize(&ix));
                    // Freeing a large index takes a noticeable share of the run
                    // and the process is about to exit.
                    std::mem::forget(ix);
                }
            }
            let out = match common.output {
                OutputFormat::Json => render::json(&summaries),
                OutputFormat::Yaml => render::yaml(&summaries),
                _ => summaries
                    .iter()
                    .map(|s| table::summary(s, palette))
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            if !unreadable.is_empty() {
                return Ok(Outcome {
                    stdout: out,
                    stderr: unreadable
                        .iter()
                        .map(|e| format!("egress-xray: error: {e}\n"))
                        .collect(),
                    code: 2,
                });
            }
            out
        }
        Command::Listeners { files, filter } => {
            let filter = inventory::ListenerFilter::from(filter);
            view_output(
                &files,
                common.output,
                inventory::listeners,
                |v| filter.keep(v),
                raw::listeners,
                |v, wide| table::listeners(v, wide, palette),
            )?
        }
        Command::Clusters { files, filter } => {
            let filter = inventory::ClusterFilter::from(filter);
            view_output(
                &files,
                common.output,
                inventory::clusters,
                |v| filter.keep(v),
                raw::clusters,
                |v, wide| table::clusters(v, wide, palette),
            )?
        }
        Command::Routes { files, filter } => {
            let filter = routes::RouteFilter::from(filter);
            view_output(
                &files,
                common.output,
                routes::routes,
                |v| filter.keep(v),
                raw::route_configs,
                |v, wide| table::routes(v, wide, palette),
            )?
        }
        Command::Endpoints { files, filter } => {
            let filter = endpoints::EndpointFilter::from(filter);
            view_output(
                &files,
                common.output,
                endpoints::endpoints,
                |v| filter.keep(v),
                raw::endpoints,
                |v, wide| table::endpoints(v, wide, palette),
            )?
        }
        Command::Secrets { files, now, name } => {
            let filter = secrets::SecretFilter { name };
            view_output(
                &files,
                common.output,
                |ix| secrets::secrets(ix, now),
                |v| filter.keep(v),
                raw::secrets,
                |v, wide| table::secrets(v, wide, now.is_some(), palette),
            )?
        }
        Command::Bootstrap { files } => {
            let mut views = Vec::new();
            for ix in indexes(&files)? {
                match bootstrap::bootstrap(&ix) {
                    Some(b) => views.push(b),
                    None => {
                        return Err(InputError::Missing {
                            file: ix.source.clone(),
                            what: "bootstrap section (BootstrapConfigDump)",
                        })
                    }
                }
            }
            match common.output {
                OutputFormat::Json => render::json(&views),
                OutputFormat::Yaml => render::yaml(&views),
                _ => views.iter().map(table::bootstrap).collect::<Vec<_>>().join("\n"),
            }
        }
        Command::Ecds { files } => {
            let views = rows(&files, bootstrap::ecds, |_| true)?;
            emit(&views, common.output, |v, wide| table::ecds(v, wide, palette))
        }
        Command::Paths {
            files,
            listener,
            port,
            host,
            cluster,
        } => {
            let filter = paths::PathFilter {
                listener,
                port,
                host,
                cluster,
            };
            let reports: Vec<_> = indexes(&files)?.iter().map(|ix| paths::paths(ix, &filter)).collect();
            emit_each(&reports, common.output, |r, o| match o {
                OutputFormat::Mermaid => graph::mermaid(r),
                OutputFormat::Dot => graph::dot(r),
                o => graph::tree(r, o == OutputFormat::Wide, palette),
            })
        }
        Command::Tls { files, host, listener } => {
            let filter = tls::TlsFilter { host, listener };
            let reports: Vec<_> = indexes(&files)?
                .iter()
                .map(|ix| {
                    let mut r = tls::tls(ix);
                    filter.apply(&mut r);
                    r
                })
                .collect();
            let several = reports.len() > 1;
            emit_each(&reports, common.output, |r, o| {
                let t = table::tls(r, o == OutputFormat::Wide, palette);
                if several {
                    format!("{}\n{t}", palette.bold(&r.proxy))
                } else {
                    t
                }
            })
        }
        Command::Trace {
            file,
            port,
            listener,
            dst_ip,
            sni,
            alpn,
            transport,
            src_ip,
            src_port,
            host,
            path,
            method,
            headers,
        } => {
            let mut req = trace::TraceRequest {
                listener,
                port: port.unwrap_or(0),
                dst_ip,
                sni,
                alpn,
                transport,
                src_ip,
                src_port,
                host,
                path,
                method,
                headers,
            };
            if port.is_none() && req.listener.is_none() && req.sni.is_none() && req.host.is_none() {
                return Ok(Outcome {
                    stdout: String::new(),
                    stderr: "egress-xray: error: trace needs --port, or --sni/--host to find the listeners that take them, or --listener\n".into(),
                    code: 2,
                });
            }
            let mut traces = Vec::new();
            for d in load(&file)? {
                let ix = Index::build(d);
                if port.is_some() || req.listener.is_some() {
                    traces.push(trace::trace(&ix, &req));
                    continue;
                }
                let found = trace::infer_ports(&ix, &req);
                if found.is_empty() {
                    let mut t = trace::trace(&ix, &req);
                    t.summary = format!(
                        "no listener has a chain for this SNI or a virtual host for this Host by name; give --port to trace a port's catch-all chains ({})",
                        ix.source
                    );
                    traces.push(t);
                    continue;
                }
                for (p, why) in found {
                    req.port = p;
                    let mut t = trace::trace(&ix, &req);
                    t.notes.insert(0, format!("port {p} inferred: {why}"));
                    traces.push(t);
                }
            }
            emit_each(&traces, common.output, |t, o| {
                table::trace(t, o == OutputFormat::Wide, palette)
            })
        }
        Command::Explain {
            dumps,
            istio,
            k8s,
            istiod_log,
            gateway,
            expect_port,
        } => {
            let indexes = indexes(&dumps)?;
            let paths: Vec<String> = istio.iter().chain(&k8s).cloned().collect();
            let extras = crate::istio::ArchiveExtras::read(&dumps, input::proxy_selected)?;
            let config = crate::istio::load_config(&paths)?.or(extras.config);
            let mut logs = crate::istio::LogFiles::read(&istiod_log)?;
            logs.extend(extras.istiod_logs);
            let mut ex = explain::explain(&explain::ExplainInput {
                dumps: &indexes,
                config: config.as_ref(),
                log: &logs.gateway_lines(),
                gateway,
                expect_ports: &expect_port,
            });
            ex.limits.extend(logs.notes);
            if let Some(c) = &config {
                ex.limits.extend(c.skipped.iter().map(|s| format!("skipped {s}")));
            }
            emit_each(std::slice::from_ref(&ex), common.output, |e, o| {
                table::explain(e, o == OutputFormat::Wide, palette)
            })
        }
        Command::Nack {
            mut dumps,
            mut envoy_log,
            mut istiod_log,
            syncz,
            istio,
            bug_report,
        } => {
            let mut walk_notes = Vec::new();
            if let Some(dir) = &bug_report {
                let found = bug_report_files(std::path::Path::new(dir));
                dumps.extend(found.dumps);
                envoy_log.extend(found.envoy_logs);
                istiod_log.extend(found.istiod_logs);
                walk_notes = found.skipped;
            }
            let (run, _) = nack_run(&dumps, &envoy_log, &istiod_log, &syncz, &istio, &|_| ())?;
            let (mut report, unreadable) = (run.report, run.unreadable);
            report
                .notes
                .extend(walk_notes.into_iter().map(|s| format!("skipped {s}")));
            let out = emit_each(std::slice::from_ref(&report), common.output, |r, o| {
                table::nack(r, o == OutputFormat::Wide, palette)
            });
            if !unreadable.is_empty() {
                return Ok(Outcome {
                    stdout: out,
                    stderr: unreadable
                        .iter()
                        .map(|u| format!("egress-xray: error: {u}\n"))
                        .collect(),
                    code: 2,
                });
            }
            out
        }
        Command::Diff {
            a,
            b,
            stat,
            text,
            ignore,
            normalize_node,
        } => {
            let one = |f: &str| -> Result<Index, InputError> {
                let mut dumps = load(f)?;
                if dumps.len() != 1 {
                    return Err(InputError::NotADump {
                        file: f.to_string(),
                        looks_like: format!(
                            "{} dumps in one file: diff compares exactly one dump per side",
                            dumps.len()
                        ),
                    });
                }
                Ok(Index::build(dumps.remove(0)))
            };
            let (ia, ib) = (one(&a)?, one(&b)?);
            let report = diff::diff(
                &ia,
                &ib,
                &diff::DiffOptions {
                    ignore,
                    normalize_node,
                    text,
                },
            );
            let code = i32::from(!report.changes.is_empty());
            let out = emit_each(std::slice::from_ref(&report), common.output, |r, o| {
                table::diff(r, stat, o == OutputFormat::Wide, palette)
            });
            return done(out, code);
        }
        Command::Isolation { dumps, istio } => {
            let extras = crate::istio::ArchiveExtras::read(&dumps, input::proxy_selected)?;
            let config = crate::istio::load_config(&istio)?.or(extras.config);
            // A gateway at a time per core: what isolation needs of each
            // dump is kept, the dump dropped.
            let mut parts = Vec::new();
            let mut notes = Vec::new();
            let part = |d: input::LoadedDump| isolation::part(&Index::build(d), config.as_ref());
            input::stream::stream(&dumps, workers(), &part, &mut |item| {
                match item {
                    Streamed::Dump(p) => parts.push(p),
                    Streamed::Unreadable { error, .. } => return Err(error),
                    Streamed::Notes { file, notes: n } => notes.extend(n.into_iter().map(|n| format!("{file}: {n}"))),
                }
                Ok(())
            })?;
            let mut report = isolation::combine(parts, config.as_ref());
            report.notes.extend(notes);
            emit_each(std::slice::from_ref(&report), common.output, |r, o| {
                table::isolation(r, o == OutputFormat::Wide, palette)
            })
        }
        Command::Triage { files } => {
            let (run, digests) = nack_run(&files, &[], &[], &[], &[], &|ix| crate::analysis::triage::digest(&ix))?;
            let source = if files.len() == 1 {
                files[0].clone()
            } else {
                "DUMP...".into()
            };
            let t = crate::analysis::triage::triage(&digests, &run.report, &run.istio_sync, &run.analyze, &source);
            let out = emit_each(std::slice::from_ref(&t), common.output, |t, o| {
                table::triage(t, o == OutputFormat::Wide, palette)
            });
            if !run.unreadable.is_empty() {
                return Ok(Outcome {
                    stdout: out,
                    stderr: run
                        .unreadable
                        .iter()
                        .map(|u| format!("egress-xray: error: {u}\n"))
                        .collect(),
                    code: 2,
                });
            }
            out
        }
        Command::Report {
            files,
            out,
            envoy_log,
            istiod_log,
            syncz,
            istio,
            k8s,
            diff: pairs,
        } => {
            let extras = crate::istio::ArchiveExtras::read(&files, input::proxy_selected)?;
            let config_paths: Vec<String> = istio.iter().chain(&k8s).cloned().collect();
            let config = crate::istio::load_config(&config_paths)?.or(extras.config);
            let wanted: Vec<&String> = pairs.iter().collect();
            // Per dump: the report's part, isolation's part, and the whole
            // index only for a dump named in --diff or, with Istio config,
            // a gateway's (explain reads the gateways together).
            let each = |ix: Index| {
                let name = ix.proxy_name();
                let gateway = ix.identity.as_ref().and_then(|i| i.proxy_type.as_deref()) == Some("router");
                let keep = wanted.iter().any(|w| **w == name || **w == ix.source) || (config.is_some() && gateway);
                let (part, iso) = crate::analysis::report::proxy_part(&ix, config.as_ref());
                (part, iso, keep.then_some(ix))
            };
            let (run, parts) = nack_run(&files, &envoy_log, &istiod_log, &syncz, &istio, &each)?;
            let mut proxies = Vec::new();
            let mut iso = Vec::new();
            let mut kept = Vec::new();
            for (p, i, k) in parts {
                if let Some(k) = k {
                    kept.push(k);
                }
                proxies.push(p);
                iso.push(i);
            }
            let mut diffs = Vec::new();
            for pair in pairs.chunks(2) {
                let find = |w: &String| {
                    kept.iter()
                        .find(|ix| ix.proxy_name() == *w || ix.source == *w)
                        .ok_or_else(|| InputError::NotADump {
                            file: w.clone(),
                            looks_like: "not one of the dumps given (--diff names two of them, by file or proxy name)"
                                .into(),
                        })
                };
                diffs.push(diff::diff(
                    find(&pair[0])?,
                    find(&pair[1])?,
                    &diff::DiffOptions::default(),
                ));
            }
            let isolation = (iso.len() > 1).then(|| isolation::combine(iso, config.as_ref()));
            let mut explained = Vec::new();
            let mut explain_notes = Vec::new();
            // Without a single Gateway object, the config was given for
            // something else (tracing a rejection to its ServiceEntry):
            // predicting gateway listeners from it would only mislead.
            if config.as_ref().is_some_and(|c| c.gateways.is_empty()) {
                explain_notes.push(
                    "not run: the Istio config given holds no Gateway, so the gateways' listeners cannot be predicted from it"
                        .into(),
                );
            }
            if let Some(cfg) = config.as_ref().filter(|c| !c.gateways.is_empty()) {
                let gateways: Vec<Index> = kept
                    .into_iter()
                    .filter(|ix| ix.identity.as_ref().and_then(|i| i.proxy_type.as_deref()) == Some("router"))
                    .collect();
                let mut logs = crate::istio::LogFiles::read(&istiod_log)?;
                logs.extend(extras.istiod_logs);
                let ex = explain::explain(&explain::ExplainInput {
                    dumps: &gateways,
                    config: Some(cfg),
                    log: &logs.gateway_lines(),
                    gateway: None,
                    expect_ports: &[],
                });
                explained = ex.findings;
                explain_notes.extend(ex.notes);
                explain_notes.extend(ex.limits);
            }
            let logs_given = !envoy_log.is_empty() || !istiod_log.is_empty() || !syncz.is_empty();
            let has_rejections = !run.report.rejections.is_empty() || !run.report.timeline.is_empty();
            let mut inputs = Vec::new();
            let mut add = |list: &[String], role: &'static str| {
                for f in list {
                    let file = f
                        .split_once('=')
                        .filter(|(p, _)| !p.contains('/'))
                        .map_or(f.as_str(), |(_, f)| f);
                    let size = std::fs::metadata(file).ok().filter(|m| m.is_file()).map(|m| m.len());
                    inputs.push(crate::analysis::report::InputFile {
                        path: file.to_string(),
                        size,
                        role,
                    });
                }
            };
            add(&files, "dumps");
            add(&envoy_log, "Envoy log");
            add(&istiod_log, "istiod log");
            add(&syncz, "istiod sync status");
            add(&istio, "Istio config");
            add(&k8s, "Kubernetes objects");
            let unreadable = run.unreadable.clone();
            let mut notes: Vec<String> = run.unreadable.iter().map(|u| format!("not read: {u}")).collect();
            notes.extend(run.report.notes.iter().cloned());
            notes.extend(explain_notes.into_iter().map(|n| format!("explain: {n}")));
            let report = crate::analysis::report::report(crate::analysis::report::ReportInput {
                generated_at: report_time(),
                inputs,
                notes,
                proxies,
                isolation,
                diffs,
                nack: (logs_given || has_rejections).then_some(run.report),
                explain: explained,
            });
            let text = match common.output {
                OutputFormat::Json => render::json(&report),
                OutputFormat::Yaml => render::yaml(&report),
                _ => render::html::page(&report),
            };
            let (proxies, findings) = (report.proxies.len(), report.findings.len());
            // Freeing a large sidecar's graphs one allocation at a time took
            // a fifth of the command, and the binary exits right after: the
            // memory is left to the process's end (an in-process caller
            // running many reports, as tests could, keeps it until then).
            std::mem::forget(report);
            let out = match out {
                Some(path) => {
                    std::fs::write(&path, &text).map_err(|source| InputError::Write {
                        file: path.clone(),
                        source,
                    })?;
                    format!(
                        "{path}: {proxies} {}, {findings} {} ({} kB)\n",
                        if proxies == 1 { "proxy" } else { "proxies" },
                        if findings == 1 { "finding" } else { "findings" },
                        text.len().div_ceil(1000)
                    )
                }
                None => text,
            };
            // As triage does: the page is made from what could be read, and
            // each dump that could not is an error (exit 2).
            if !unreadable.is_empty() {
                return Ok(Outcome {
                    stdout: out,
                    stderr: unreadable
                        .iter()
                        .map(|u| format!("egress-xray: error: {u}\n"))
                        .collect(),
                    code: 2,
                });
            }
            out
        }
        Command::Export { files, out_dir, format } => {
            let dir = std::path::Path::new(&out_dir);
            let io = |file: &std::path::Path, source| InputError::Write {
                file: file.display().to_string(),
                source,
            };
            let failed = |file: &std::path::Path, msg: String| InputError::Write {
                file: file.display().to_string(),
                source: std::io::Error::other(msg),
            };
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            let mut sinks = Vec::new();
            for t in crate::analysis::export::TABLES {
                let ext = match format {
                    ExportFormat::Jsonl => "jsonl",
                    ExportFormat::Parquet => "parquet",
                };
                let path = dir.join(format!("{t}.{ext}"));
                let f = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
                let sink = match format {
                    ExportFormat::Jsonl => Sink::Jsonl(std::io::BufWriter::new(f), 0),
                    ExportFormat::Parquet => Sink::Parquet(Box::new(
                        render::parquet::TableWriter::create(t, f).map_err(|m| failed(&path, m))?,
                    )),
                };
                sinks.push((*t, path, sink));
            }
            let mut proxies = 0;
            let mut notes = Vec::new();
            // A dump at a time per worker: its rows are made and made ready
            // to write (JSON lines, Parquet columns) there, written here in
            // input order, and dropped.
            let rows = |d: input::LoadedDump| -> Result<Vec<(&'static str, Ready)>, String> {
                crate::analysis::export::rows(&Index::build(d))?
                    .into_iter()
                    .map(|t| {
                        Ok((
                            t.table,
                            match format {
                                ExportFormat::Jsonl => {
                                    let mut buf = Vec::new();
                                    for r in &t.rows {
                                        crate::analysis::cells::write_json_line(&mut buf, &t.columns, &t.key, r);
                                    }
                                    Ready::Lines(buf, t.rows.len())
                                }
                                ExportFormat::Parquet => Ready::Columns(render::parquet::batch(t)),
                            },
                        ))
                    })
                    .collect()
            };
            input::stream::stream(&files, workers(), &rows, &mut |item| -> Result<(), InputError> {
                match item {
                    Streamed::Dump(tables) => {
                        proxies += 1;
                        let tables = tables.map_err(|m| failed(dir, m))?;
                        for (table, ready) in tables {
                            let Some((_, path, sink)) = sinks.iter_mut().find(|w| w.0 == table) else {
                                continue;
                            };
                            sink.push(ready).map_err(|m| failed(path, m))?;
                        }
                        Ok(())
                    }
                    Streamed::Unreadable { error, .. } => Err(error),
                    Streamed::Notes { file, notes: n } => {
                        notes.extend(n.into_iter().map(|n| format!("{file}: {n}")));
                        Ok(())
                    }
                }
            })?;
            let mut written = Vec::new();
            for (table, path, sink) in sinks {
                let n = sink.finish().map_err(|m| failed(&path, m))?;
                written.push(serde_json::json!({"table": table, "file": path.display().to_string(), "rows": n}));
            }
            let report = serde_json::json!({
                "schema_version": crate::analysis::export::SCHEMA_VERSION,
                "proxies": proxies,
                "tables": written,
                "notes": notes,
            });
            match common.output {
                OutputFormat::Json => render::json(&report),
                OutputFormat::Yaml => render::yaml(&report),
                _ => {
                    let mut s = format!(
                        "{proxies} proxies exported (schema version {})\n",
                        crate::analysis::export::SCHEMA_VERSION
                    );
                    for t in report["tables"].as_array().into_iter().flatten() {
                        s.push_str(&format!(
                            "  {:>8} rows  {}\n",
                            t["rows"],
                            t["file"].as_str().unwrap_or("")
                        ));
                    }
                    for n in &notes {
                        s.push_str(&format!("note: {n}\n"));
                    }
                    s
                }
            }
        }
        Command::Findings { codes } => {
            let rules: Vec<crate::findings::Rule> = if codes.is_empty() {
                crate::findings::CATALOGUE.to_vec()
            } else {
                let mut out = Vec::new();
                for c in &codes {
                    match crate::findings::CATALOGUE
                        .iter()
                        .find(|r| r.code.eq_ignore_ascii_case(c) || r.name.eq_ignore_ascii_case(c))
                    {
                        Some(r) => out.push(*r),
                        None => {
                            return Ok(Outcome {
                                stdout: String::new(),
                                stderr: format!(
                                    "egress-xray: error: no finding {c}: codes run from {} to {} (`egress-xray findings` lists them)\n",
                                    crate::findings::CATALOGUE[0].code,
                                    crate::findings::CATALOGUE[crate::findings::CATALOGUE.len() - 1].code
                                ),
                                code: 2,
                            })
                        }
                    }
                }
                out
            };
            match common.output {
                OutputFormat::Json => render::json(&rules),
                OutputFormat::Yaml => render::yaml(&rules),
                _ if codes.is_empty() => catalogue_markdown(),
                _ => rules
                    .iter()
                    .map(|r| rule_markdown(r).trim_start().to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            }
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "egress-xray", &mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .expect("render to memory");
            String::from_utf8_lossy(&buf).into_owned()
        }
    };
    done(out, 0)
}

/// The NACK analysis of dumps (archives included: their logs, syncz and
/// Istio objects are read too), explicit logs and sync status: shared by
/// `nack` and `triage`.
struct NackRun {
    report: nack::NackReport,
    /// Dumps that could not be read (each reported; exit status 2).
    unreadable: Vec<String>,
    /// istiod's own syncz format (sent/acked per type), for triage.
    istio_sync: Vec<crate::analysis::triage::SyncEntry>,
    /// istioctl analyze lines found in archives.
    analyze: Vec<String>,
}

fn nack_run<T: Send>(
    dumps: &[String],
    envoy_log: &[String],
    istiod_log: &[String],
    syncz: &[String],
    istio: &[String],
    each: &(dyn Fn(Index) -> T + Sync),
) -> Result<(NackRun, Vec<T>), InputError> {
    // The logs first: the clusters their rejections name are the ones
    // kept of each dump, which is then dropped (a fleet is read one dump
    // at a time per worker).
    let mut envoy_logs = crate::istio::LogFiles::default();
    // (proxy named with PROXY=, file, its rejections)
    let mut given_logs = Vec::new();
    for arg in envoy_log {
        let (proxy, file) = match arg.split_once('=') {
            Some((p, f)) if !p.contains('/') => (Some(p.to_string()), f.to_string()),
            _ => (None, arg.clone()),
        };
        let text = envoy_logs.push(&file)?;
        given_logs.push((proxy, file.clone(), crate::istio::nacklog::parse_log(&file, text)));
    }
    // What archives given as dumps hold: proxy and istiod logs,
    // syncz, Istio objects.
    let extras = crate::istio::ArchiveExtras::read(dumps, input::proxy_selected)?;
    let mut envoy = Vec::new();
    for (proxy, label, text) in &extras.proxy_logs {
        envoy_logs.push_text(label.clone(), text.clone());
        for (r, src) in crate::istio::nacklog::parse_log(label, text) {
            envoy.push((Some(proxy.clone()), r, src));
        }
    }
    let mut istiod_logs = crate::istio::LogFiles::read(istiod_log)?;
    istiod_logs.extend(extras.istiod_logs);
    let istiod: Vec<_> = istiod_logs
        .files
        .iter()
        .flat_map(|(f, t)| crate::istio::nacklog::parse_log(f, t))
        .collect();
    let mut named = nack::clusters_named(&envoy, &istiod);
    named.extend(nack::clusters_named(
        &given_logs
            .iter()
            .flat_map(|(_, _, rs)| rs.iter().map(|(r, src)| (None, r.clone(), src.clone())))
            .collect::<Vec<_>>(),
        &[],
    ));
    // One unreadable dump does not stop the others: it is reported
    // (and the exit status is 2); Envoy's own "cannot print its
    // dump" answer is evidence of a rejection.
    let mut facts = Vec::new();
    let mut kept = Vec::new();
    let mut unreadable: Vec<String> = Vec::new();
    let mut dump_evidence = Vec::new();
    let mut archive_notes = Vec::new();
    let keep = |d: input::LoadedDump| {
        let ix = Index::build(d);
        (nack::DumpFacts::of(&ix, &|c| named.contains(c)), each(ix))
    };
    input::stream::stream::<_, std::convert::Infallible>(dumps, workers(), &keep, &mut |item| {
        match item {
            Streamed::Dump((f, t)) => {
                facts.push(f);
                kept.push(t);
            }
            Streamed::Unreadable { path, error } => match envoy_dump_failure(&path) {
                Some(r) => dump_evidence.push(r),
                None => unreadable.push(error.to_string()),
            },
            Streamed::Notes { file, notes } => archive_notes.extend(notes.into_iter().map(|n| format!("{file}: {n}"))),
        }
        Ok(())
    })
    .unwrap_or_else(|e| match e {});
    let mut identity_notes = Vec::new();
    let dump_proxies: Vec<String> = facts.iter().map(|f| f.proxy.clone()).collect();
    for (file, r, src) in dump_evidence {
        let proxy = log_identity(&file, "", &dump_proxies, &mut identity_notes);
        envoy.push((proxy, r, src));
    }
    for (i, (proxy, file, rejections)) in given_logs.into_iter().enumerate() {
        let text = &envoy_logs.files[i].1;
        let proxy = proxy.or_else(|| log_identity(&file, text, &dump_proxies, &mut identity_notes));
        for (r, src) in rejections {
            envoy.push((proxy.clone(), r, src));
        }
    }
    let gateway_lines = istiod_logs.gateway_lines();
    let mut logs_read = envoy_logs.sizes();
    logs_read.extend(istiod_logs.sizes());
    let mut notes = envoy_logs.notes;
    notes.extend(istiod_logs.notes);
    let mut sync = Vec::new();
    for f in syncz {
        let (text, note) = input::read_log(f)?;
        notes.extend(note);
        sync.extend(nack::parse_syncz(f, &text).map_err(|msg| InputError::NotADump {
            file: f.clone(),
            looks_like: msg,
        })?);
    }
    let mut istio_sync = Vec::new();
    for (label, text) in &extras.syncz {
        match nack::parse_syncz(label, text) {
            Ok(s) => sync.extend(s),
            Err(msg) => notes.push(format!("{label}: not read as syncz: {msg}")),
        }
        istio_sync.extend(crate::analysis::triage::parse_istio_syncz(text));
    }
    let config = crate::istio::load_config(istio)?.or(extras.config);
    let mut report = nack::postmortem(&nack::NackInput {
        dumps: &facts,
        envoy: &envoy,
        istiod: &istiod,
        gateway_lines: &gateway_lines,
        syncz: &sync,
        config: config.as_ref(),
        logs: &logs_read,
    });
    report.notes.extend(archive_notes);
    report.notes.extend(notes);
    report.notes.extend(identity_notes);
    if let Some(c) = &config {
        report.notes.extend(c.skipped.iter().map(|s| format!("skipped {s}")));
    }
    for u in &unreadable {
        report.notes.push(format!("not read: {u}"));
    }
    Ok((
        NackRun {
            report,
            unreadable,
            istio_sync,
            analyze: extras.analyze,
        },
        kept,
    ))
}

/// Dumps made side by side when a fleet is read (triage, nack, export):
/// one per core (`RAYON_NUM_THREADS` sets it), each decode spreading its
/// resources over a pool of the same size.
fn workers() -> usize {
    rayon::current_num_threads()
}

/// One dump → the object itself (the documented contracts); several (a
/// wrapped egctl file) → a list; text forms one after the other.
fn emit_each<T: serde::Serialize>(
    items: &[T],
    output: OutputFormat,
    text: impl Fn(&T, OutputFormat) -> String,
) -> String {
    match output {
        OutputFormat::Json if items.len() == 1 => render::json(&items[0]),
        OutputFormat::Yaml if items.len() == 1 => render::yaml(&items[0]),
        OutputFormat::Json => render::json(items),
        OutputFormat::Yaml => render::yaml(items),
        o => items.iter().map(|i| text(i, o)).collect::<Vec<_>>().join("\n"),
    }
}

fn emit<T: serde::Serialize>(views: &[T], output: OutputFormat, table: impl Fn(&[T], bool) -> String) -> String {
    match output {
        OutputFormat::Json => render::json(views),
        OutputFormat::Yaml => render::yaml(views),
        OutputFormat::Wide => table(views, true),
        // Diagrams and raw resources are refused before any command that
        // cannot give them runs.
        OutputFormat::Table
        | OutputFormat::Mermaid
        | OutputFormat::Dot
        | OutputFormat::Html
        | OutputFormat::Raw
        | OutputFormat::RawYaml => table(views, false),
    }
}

/// A view over every dump of every file: its rows (filtered), or with
/// `-o raw` the resources those rows are about, as Envoy holds them.
fn view_output<T: serde::Serialize>(
    files: &[String],
    output: OutputFormat,
    view: impl Fn(&Index) -> Vec<T>,
    keep: impl Fn(&T) -> bool,
    raw: impl Fn(&Index, &[T]) -> Vec<serde_json::Value>,
    table: impl Fn(&[T], bool) -> String,
) -> Result<String, InputError> {
    let raw_out = matches!(output, OutputFormat::Raw | OutputFormat::RawYaml);
    let mut views = Vec::new();
    let mut resources = Vec::new();
    for f in files {
        for d in load(f)? {
            let ix = Index::build(d);
            let rows: Vec<T> = view(&ix).into_iter().filter(|v| keep(v)).collect();
            if raw_out {
                resources.extend(raw(&ix, &rows));
            } else {
                views.extend(rows);
            }
        }
    }
    Ok(match output {
        OutputFormat::Raw => render::json(&resources),
        OutputFormat::RawYaml => render::yaml(&resources),
        o => emit(&views, o, table),
    })
}

/// The rows of a view over every dump of every file (egctl files hold
/// several), concatenated in the order given, filtered.
fn rows<T>(files: &[String], view: impl Fn(&Index) -> Vec<T>, keep: impl Fn(&T) -> bool) -> Result<Vec<T>, InputError> {
    let mut out = Vec::new();
    for f in files {
        for d in load(f)? {
            out.extend(view(&Index::build(d)).into_iter().filter(|v| keep(v)));
        }
    }
    Ok(out)
}

/// Every dump of every file, indexed.
fn indexes(files: &[String]) -> Result<Vec<Index>, InputError> {
    let mut out = Vec::new();
    for f in files {
        for d in load(f)? {
            out.push(Index::build(d));
        }
    }
    Ok(out)
}

fn load(path: &str) -> Result<Vec<input::LoadedDump>, InputError> {
    let big = path != "-" && std::fs::metadata(path).map(|m| m.len() > 50_000_000).unwrap_or(false);
    let spinner = (big && std::io::stderr().is_terminal()).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!("decoding {path}"));
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let result = input::load_path(path);
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    result
}

/// A proxy name from a log file name: `egw-pt-7f9c.egress-pt.log` → `egw-pt-7f9c.egress-pt`.
/// A file holding Envoy's answer when it cannot print its config dump
/// (`Failed to convert protobuf message to JSON string: … could not find
/// @type '…'`): a rejection in evidence, of a type this Envoy does not know.
fn envoy_dump_failure(file: &str) -> Option<(String, crate::istio::nacklog::LogRejection, String)> {
    let text = std::fs::read_to_string(file).ok()?;
    let first = text.lines().next()?.trim();
    let reason = first.strip_prefix(input::ENVOY_DUMP_FAILURE)?.trim();
    Some((
        file.to_string(),
        crate::istio::nacklog::LogRejection {
            reporter: crate::istio::nacklog::Reporter::Envoy,
            xds_type: "unknown".into(),
            type_inferred: true,
            resource: None,
            message: format!(
                "Envoy could not print its /config_dump: {reason} — it holds a resource of a type it does not know (a rejected update kept in error_state)"
            ),
            time: None,
            proxy: None,
            protocol: None,
            count: None,
            per_resource: false,
        },
        format!("{file} (Envoy's /config_dump answer)"),
    ))
}

/// Which proxy an Envoy log without `PROXY=` belongs to: the dump whose
/// proxy its file is named after, else the identity the log states itself
/// (pilot-agent's `Proxy role … id=POD.NS` line), else the only dump given
/// (said in a note), else its file name.
fn log_identity(file: &str, text: &str, dump_proxies: &[String], notes: &mut Vec<String>) -> Option<String> {
    let by_name = log_proxy_name(file);
    if let Some(n) = by_name.as_ref().filter(|n| dump_proxies.contains(n)) {
        return Some(n.clone());
    }
    let stated = text
        .lines()
        .take(5000)
        .filter(|l| l.contains("Proxy role"))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("id="))
                .map(|id| crate::istio::nacklog::proxy_of_connection(id.trim_end_matches(',')))
        });
    if stated.is_some() {
        return stated;
    }
    let distinct: std::collections::BTreeSet<&String> = dump_proxies.iter().collect();
    if distinct.len() == 1 {
        let only = distinct.into_iter().next().cloned();
        if let Some(p) = &only {
            notes.push(format!(
                "{file} does not name its proxy: taken as {p}'s, the only proxy of the dumps given (name it with PROXY=FILE otherwise)"
            ));
        }
        return only;
    }
    by_name
}

fn log_proxy_name(file: &str) -> Option<String> {
    let name = std::path::Path::new(file).file_name()?.to_string_lossy().into_owned();
    let stem = name
        .strip_suffix(".log")
        .or_else(|| name.strip_suffix(".txt"))
        .unwrap_or(&name);
    let stem = stem.strip_suffix(".envoy").unwrap_or(stem);
    (!stem.is_empty() && stem != "istio-proxy").then(|| stem.to_string())
}

#[derive(Default)]
struct BugReportFiles {
    dumps: Vec<String>,
    envoy_logs: Vec<String>,
    istiod_logs: Vec<String>,
    skipped: Vec<String>,
}

/// Dumps and logs in an `istioctl bug-report` directory: config dumps by
/// name, istiod's logs by path, proxy logs named `POD.NAMESPACE` after the
/// folders holding them.
fn bug_report_files(dir: &std::path::Path) -> BugReportFiles {
    let mut out = BugReportFiles::default();
    let walk = match input::walk_dir(dir) {
        Ok(w) => w,
        Err(e) => {
            out.skipped.push(e.to_string());
            input::DirWalk::default()
        }
    };
    out.skipped.extend(walk.skipped);
    {
        for p in walk.files {
            let path = p.to_string_lossy().into_owned();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.contains("config_dump") || name == "proxy-config.json" {
                out.dumps.push(path);
            } else if name.ends_with(".log") && (path.contains("istiod") || path.contains("discovery")) {
                out.istiod_logs.push(path);
            } else if name.ends_with(".log") {
                let pod = p
                    .parent()
                    .and_then(|x| x.file_name())
                    .map(|x| x.to_string_lossy().into_owned());
                let ns = p
                    .parent()
                    .and_then(|x| x.parent())
                    .and_then(|x| x.file_name())
                    .map(|x| x.to_string_lossy().into_owned());
                match (pod, ns) {
                    (Some(pod), Some(ns)) => out.envoy_logs.push(format!("{pod}.{ns}={path}")),
                    _ => out.envoy_logs.push(path),
                }
            }
        }
    }
    out.dumps.sort();
    out.envoy_logs.sort();
    out.istiod_logs.sort();
    out
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| "expected name=value".to_string())
}

fn parse_now(s: &str) -> Result<time::OffsetDateTime, String> {
    if s == "now" {
        return Ok(time::OffsetDateTime::now_utc());
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time like 2026-11-26T00:00:00Z, or `now`: {e}"))
}

fn palette(choice: ColorChoice, terminal: bool) -> Palette {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let enabled = match choice {
        ColorChoice::Always => !no_color,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && terminal,
    };
    Palette { enabled }
}

/// The findings catalogue as Markdown; `docs/findings.md` is this text.
pub fn catalogue_markdown() -> String {
    let mut s = String::from(
        "# Findings catalogue\n\n\
         Every finding egress-xray reports has a stable code. This file is generated by \
         `egress-xray findings` (a test keeps it in step with the code).\n",
    );
    for r in crate::findings::CATALOGUE {
        s.push_str(&rule_markdown(r));
    }
    s
}

/// One catalogue entry as Markdown.
fn rule_markdown(r: &crate::findings::Rule) -> String {
    format!(
        "\n## {} {}\n\nSeverity: {:?}\n\n**Why.** {}\n\n**Fix.** {}\n",
        r.code,
        r.name,
        r.severity,
        squash(r.why),
        squash(r.fix)
    )
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The report's time: `SOURCE_DATE_EPOCH` (seconds; set it for a page
/// that is byte-identical run after run), else now; RFC 3339, UTC.
fn report_time() -> String {
    let at = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
