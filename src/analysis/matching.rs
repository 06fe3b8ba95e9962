//! Envoy's filter chain selection, rule for rule: `filter_chain_match`
//! narrowed field by field in Envoy's order with no backtracking, or the
//! unified `filter_chain_matcher` when a listener has one. Pure functions
//! over a [`Connection`]; every step says why.

use std::net::IpAddr;

use envoy_types::pb::envoy::config::core::v3::CidrRange;
use envoy_types::pb::envoy::config::listener::v3::{filter_chain_match::ConnectionSourceType, FilterChainMatch};
use envoy_types::pb::google::protobuf::{Any, StringValue};
use envoy_types::pb::xds::core::v3::TypedExtensionConfig;
use envoy_types::pb::xds::r#type::matcher::v3::matcher::matcher_list::predicate::{single_predicate, MatchType};
use envoy_types::pb::xds::r#type::matcher::v3::matcher::matcher_list::Predicate;
use envoy_types::pb::xds::r#type::matcher::v3::matcher::matcher_tree::TreeType;
use envoy_types::pb::xds::r#type::matcher::v3::matcher::{on_match, MatcherTree, MatcherType, OnMatch};
use envoy_types::pb::xds::r#type::matcher::v3::string_matcher::MatchPattern;
use envoy_types::pb::xds::r#type::matcher::v3::{Matcher, StringMatcher};
use serde::Serialize;

use crate::model::util::decode_any;

/// What Envoy knows about a connection when it picks a filter chain.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Connection {
    /// The (original) destination address; None when unknown.
    pub dst_ip: Option<IpAddr>,
    pub dst_port: u32,
    /// SNI as tls_inspector would see it (lower-cased before matching).
    pub sni: Option<String>,
    /// `tls` or `raw_buffer` as the listener filters would detect it.
    pub transport: String,
    /// ALPN the client offers, in its order.
    pub alpn: Vec<String>,
    pub src_ip: Option<IpAddr>,
    pub src_port: Option<u32>,
}

/// One chain's outcome: the step that eliminated it and why, or None when
/// it survived every step.
#[derive(Debug, Clone, Serialize)]
pub struct Elimination {
    pub index: usize,
    pub step: &'static str,
    pub reason: String,
}

/// The decision at one step of the narrowing.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub decision: String,
    /// Chains still candidates after this step.
    pub remaining: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainSelection {
    /// The chosen chain's index in `filter_chains`; None → default chain (or
    /// closed when there is none).
    pub chosen: Option<usize>,
    pub steps: Vec<Step>,
    /// Why each other chain lost.
    pub near_misses: Vec<Elimination>,
    /// Set when more than one chain survived (Envoy would have rejected
    /// such a listener; we take the first).
    pub ambiguous: bool,
    /// Set when Envoy's own choice is not fixed by the configuration: the
    /// chains it may pick (None: no chain), and why.
    pub undetermined: Option<Undetermined>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Undetermined {
    pub reason: String,
    /// Each chain index Envoy may choose; None means no chain (the default
    /// chain, or the connection closed).
    pub possible: Vec<Option<usize>>,
}

/// Selects a filter chain by `filter_chain_match`, as Envoy's filter chain
/// manager does.
pub fn select_by_match(matches: &[FilterChainMatch], conn: &Connection) -> ChainSelection {
    let mut first = narrow_all(matches, conn, [ZeroTie::Unresolved; 3]);
    if first.ties.iter().all(|t| !t) {
        return first.selection;
    }
    // An explicit /0 range and "no ranges" tied at some IP step: Envoy
    // files chains without ranges under 0.0.0.0/0 and ::/0 as well, and
    // which of the two groups wins depends on the process (seen on Envoy
    // 1.40: the same listener picks either across restarts). Follow both
    // groups at every such step; the answer stands only if they agree.
    let tied: Vec<usize> = (0..3).filter(|&k| first.ties[k]).collect();
    let mut outcomes: Vec<Option<usize>> = Vec::new();
    let mut explicit_run = None;
    for combo in 0..(1u32 << tied.len()) {
        let mut policy = [ZeroTie::Unresolved; 3];
        for (bit, &k) in tied.iter().enumerate() {
            policy[k] = if combo & (1 << bit) == 0 {
                ZeroTie::Explicit
            } else {
                ZeroTie::Empty
            };
        }
        let run = narrow_all(matches, conn, policy);
        if !outcomes.contains(&run.selection.chosen) {
            outcomes.push(run.selection.chosen);
        }
        explicit_run.get_or_insert(run);
    }
    let mut sel = explicit_run.map_or(first.selection.clone(), |r| r.selection);
    if outcomes.len() > 1 {
        // Both groups were kept in this run: that is the tie, not a
        // listener Envoy would reject.
        first.selection.ambiguous = false;
        first.selection.undetermined = Some(Undetermined {
            reason: "an explicit 0.0.0.0/0 or ::/0 range ties with chains that list no ranges: Envoy files \
                     both under the same prefix and which group wins differs from one Envoy process to the next"
                .into(),
            possible: outcomes,
        });
        return first.selection;
    }
    sel.steps.push(Step {
        step: "tie",
        decision: "an explicit /0 range tied with chains without ranges (Envoy picks either group per process); \
                   both lead here"
            .into(),
        remaining: sel.chosen.into_iter().collect(),
    });
    sel
}

/// How an IP step resolves a tie between an explicit /0 range and chains
/// without ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZeroTie {
    /// Keep both groups (and record the tie).
    Unresolved,
    /// Keep the chains whose listed /0 range holds the address.
    Explicit,
    /// Keep the chains without ranges.
    Empty,
}

struct Narrowed {
    selection: ChainSelection,
    /// Per IP step (destination, direct source, source): whether it tied.
    ties: [bool; 3],
}

fn narrow_all(matches: &[FilterChainMatch], conn: &Connection, zero: [ZeroTie; 3]) -> Narrowed {
    let mut sel = Selector {
        matches,
        candidates: (0..matches.len()).collect(),
        steps: Vec::new(),
        near_misses: Vec::new(),
        zero,
        ties: [false; 3],
    };
    sel.destination_port(conn.dst_port);
    sel.ip_step(0, "destination IP", conn.dst_ip, |m| &m.prefix_ranges);
    sel.server_names(conn.sni.as_deref());
    sel.transport(&conn.transport);
    sel.alpn(&conn.alpn);
    sel.ip_step(1, "direct source IP", conn.src_ip, |m| &m.direct_source_prefix_ranges);
    sel.source_type(conn);
    sel.ip_step(2, "source IP", conn.src_ip, |m| &m.source_prefix_ranges);
    sel.source_port(conn.src_port);
    let ambiguous = sel.candidates.len() > 1;
    Narrowed {
        selection: ChainSelection {
            chosen: sel.candidates.first().copied(),
            steps: sel.steps,
            near_misses: sel.near_misses,
            ambiguous,
            undetermined: None,
        },
        ties: sel.ties,
    }
}

struct Selector<'a> {
    matches: &'a [FilterChainMatch],
    candidates: Vec<usize>,
    steps: Vec<Step>,
    near_misses: Vec<Elimination>,
    zero: [ZeroTie; 3],
    ties: [bool; 3],
}

impl Selector<'_> {
    /// Keeps the candidates `keep` accepts; the others are near misses with
    /// `why(index)` as reason.
    fn narrow(
        &mut self,
        step: &'static str,
        decision: String,
        keep: impl Fn(usize) -> bool,
        why: impl Fn(usize) -> String,
    ) {
        if self.candidates.is_empty() {
            return;
        }
        let (kept, lost): (Vec<usize>, Vec<usize>) = self.candidates.iter().partition(|&&i| keep(i));
        for i in lost {
            self.near_misses.push(Elimination {
                index: i,
                step,
                reason: why(i),
            });
        }
        self.candidates = kept;
        self.steps.push(Step {
            step,
            decision,
            remaining: self.candidates.clone(),
        });
    }

    fn destination_port(&mut self, port: u32) {
        let port_of = |i: usize| self.matches[i].destination_port.map(|p| p.value);
        if self.candidates.iter().all(|&i| port_of(i).is_none()) {
            return;
        }
        let exact = self.candidates.iter().any(|&i| port_of(i) == Some(port));
        let decision = if exact {
            format!("chains for port {port} exist: only they are searched")
        } else {
            format!("no chain names port {port}: chains without a port are searched")
        };
        let want = exact.then_some(port);
        let matches = self.matches;
        self.narrow(
            "destination port",
            decision,
            |i| matches[i].destination_port.map(|p| p.value) == want,
            |i| match matches[i].destination_port.map(|p| p.value) {
                Some(p) if p != port => format!("destination port {p} ≠ {port}"),
                Some(p) => format!("destination port {p}"),
                None => format!("no destination port, and chains for port {port} take precedence"),
            },
        );
    }

    /// Longest-prefix match over one list of ranges (empty = any address).
    fn ip_step(
        &mut self,
        k: usize,
        step: &'static str,
        ip: Option<IpAddr>,
        ranges: impl Fn(&FilterChainMatch) -> &Vec<CidrRange>,
    ) {
        let matches = self.matches;
        // Best prefix length per candidate: Some(len) when it matches, the
        // empty list counting as /0 of both families (Envoy files it under
        // 0.0.0.0/0 and ::/0).
        let best = |i: usize| -> Option<i64> {
            let r = ranges(&matches[i]);
            if r.is_empty() {
                return Some(0);
            }
            let ip = ip?;
            r.iter()
                .filter(|c| cidr_contains(c, ip))
                .map(|c| prefix_len(c) as i64)
                .max()
        };
        let top = self.candidates.iter().filter_map(|&i| best(i)).max();
        let uses = self.candidates.iter().any(|&i| !ranges(&matches[i]).is_empty());
        if !uses {
            return;
        }
        let ip_text = ip.map_or_else(|| "unknown".to_string(), |i| i.to_string());
        let decision = match top {
            Some(0) => format!("{step} {ip_text}: no specific range contains it; catch-all chains remain"),
            Some(len) => format!("{step} {ip_text}: longest matching prefix is /{len}"),
            None => format!("{step} {ip_text}: no chain's ranges contain it"),
        };
        let empty = |i: usize| ranges(&matches[i]).is_empty();
        let tie = top == Some(0)
            && self.candidates.iter().any(|&i| empty(i))
            && self.candidates.iter().any(|&i| !empty(i) && best(i) == Some(0));
        self.ties[k] |= tie;
        let zero = self.zero[k];
        self.narrow(
            step,
            decision,
            |i| {
                top.is_some()
                    && best(i) == top
                    && match zero {
                        _ if !tie => true,
                        ZeroTie::Unresolved => true,
                        ZeroTie::Explicit => !empty(i),
                        ZeroTie::Empty => empty(i),
                    }
            },
            |i| {
                let r = ranges(&matches[i]);
                let list = r.iter().map(cidr_text).collect::<Vec<_>>().join(",");
                match best(i) {
                    None if ip.is_none() => format!("{step} ranges {list}, and the address is unknown"),
                    None => format!("{step} {ip_text} is not in {list}"),
                    Some(0) if tie && r.is_empty() => {
                        format!("no {step} ranges; in this branch Envoy takes the chains listing a /0 range")
                    }
                    Some(0) if tie => format!("{step} /0 range; in this branch Envoy takes the chains without ranges"),
                    Some(0) if r.is_empty() => format!("no {step} ranges, and a more specific range matched"),
                    Some(len) => format!("{step} matched only /{len}; a longer prefix won"),
                }
            },
        );
    }

    fn server_names(&mut self, sni: Option<&str>) {
        let matches = self.matches;
        let uses = self.candidates.iter().any(|&i| !matches[i].server_names.is_empty());
        if !uses {
            return;
        }
        let sni = sni.map(str::to_ascii_lowercase).unwrap_or_default();
        let names =
            |i: usize| -> Vec<String> { matches[i].server_names.iter().map(|s| s.to_ascii_lowercase()).collect() };
        // Exact, then wildcard suffixes longest first, then no server_names.
        let mut keys: Vec<String> = Vec::new();
        if !sni.is_empty() {
            keys.push(sni.clone());
            let mut pos = sni.get(1..).and_then(|t| t.find('.')).map(|p| p + 1);
            while let Some(p) = pos {
                if p >= sni.len() - 1 {
                    break;
                }
                keys.push(format!("*{}", &sni[p..]));
                pos = sni[p + 1..].find('.').map(|q| q + p + 1);
            }
        }
        let hit = keys
            .iter()
            .find(|k| self.candidates.iter().any(|&i| names(i).contains(k)))
            .cloned();
        let (decision, key) = match &hit {
            Some(k) if *k == sni => (format!("SNI {sni}: exact server name"), Some(k.clone())),
            Some(k) => (format!("SNI {sni}: wildcard {k} is the longest match"), Some(k.clone())),
            None if sni.is_empty() => ("no SNI: only chains without server_names".to_string(), None),
            None => (
                format!("SNI {sni}: no server name matches; chains without server_names"),
                None,
            ),
        };
        self.narrow(
            "server name",
            decision,
            |i| match &key {
                Some(k) => names(i).contains(k),
                None => matches[i].server_names.is_empty(),
            },
            |i| {
                if matches[i].server_names.is_empty() {
                    format!(
                        "no server_names, and {} matched a named chain",
                        key.clone().unwrap_or_default()
                    )
                } else if sni.is_empty() {
                    format!(
                        "server_names {} need an SNI; none was sent (or no tls_inspector)",
                        matches[i].server_names.join(",")
                    )
                } else {
                    format!("server_names {} do not match {sni}", matches[i].server_names.join(","))
                }
            },
        );
    }

    fn transport(&mut self, transport: &str) {
        let matches = self.matches;
        let uses = self
            .candidates
            .iter()
            .any(|&i| !matches[i].transport_protocol.is_empty());
        if !uses {
            return;
        }
        let exact = self
            .candidates
            .iter()
            .any(|&i| matches[i].transport_protocol == transport);
        let want = if exact { transport } else { "" };
        self.narrow(
            "transport protocol",
            if exact {
                format!("transport {transport}: chains for it")
            } else {
                format!("transport {transport}: no chain names it; chains without a transport protocol")
            },
            |i| matches[i].transport_protocol == want,
            |i| {
                let t = &matches[i].transport_protocol;
                if t.is_empty() {
                    format!("any transport, and a chain for {transport} exists")
                } else {
                    format!("transport protocol {t} ≠ {transport}")
                }
            },
        );
    }

    fn alpn(&mut self, alpn: &[String]) {
        let matches = self.matches;
        let uses = self
            .candidates
            .iter()
            .any(|&i| !matches[i].application_protocols.is_empty());
        if !uses {
            return;
        }
        let hit = alpn
            .iter()
            .find(|p| {
                self.candidates
                    .iter()
                    .any(|&i| matches[i].application_protocols.contains(p))
            })
            .cloned();
        self.narrow(
            "application protocols",
            match &hit {
                Some(p) => format!("ALPN {p}: the first offered protocol a chain names"),
                None if alpn.is_empty() => "no ALPN: chains without application_protocols".into(),
                None => format!(
                    "ALPN {}: no chain names any; chains without application_protocols",
                    alpn.join(",")
                ),
            },
            |i| match &hit {
                Some(p) => matches[i].application_protocols.contains(p),
                None => matches[i].application_protocols.is_empty(),
            },
            |i| {
                let a = &matches[i].application_protocols;
                if a.is_empty() {
                    format!(
                        "any ALPN, and {} matched a named chain",
                        hit.clone().unwrap_or_default()
                    )
                } else {
                    format!("application protocols {} not offered first", a.join(","))
                }
            },
        );
    }

    fn source_type(&mut self, conn: &Connection) {
        let matches = self.matches;
        let ty = |i: usize| ConnectionSourceType::try_from(matches[i].source_type).unwrap_or(ConnectionSourceType::Any);
        let uses = self.candidates.iter().any(|&i| ty(i) != ConnectionSourceType::Any);
        if !uses {
            return;
        }
        let local = is_same_ip_or_loopback(conn);
        let mine = if local {
            ConnectionSourceType::SameIpOrLoopback
        } else {
            ConnectionSourceType::External
        };
        let specific = self.candidates.iter().any(|&i| ty(i) == mine);
        let want = if specific { mine } else { ConnectionSourceType::Any };
        self.narrow(
            "source type",
            format!(
                "source is {}",
                if local {
                    "local (127.0.0.1, ::1 or the destination address itself)"
                } else {
                    "external"
                }
            ),
            |i| ty(i) == want,
            |i| format!("source type {} does not apply", ty(i).as_str_name()),
        );
    }

    fn source_port(&mut self, port: Option<u32>) {
        let matches = self.matches;
        let uses = self.candidates.iter().any(|&i| !matches[i].source_ports.is_empty());
        if !uses {
            return;
        }
        let exact = port.is_some_and(|p| self.candidates.iter().any(|&i| matches[i].source_ports.contains(&p)));
        self.narrow(
            "source port",
            match port {
                Some(p) if exact => format!("source port {p}: chains for it"),
                Some(p) => format!("source port {p}: no chain names it; chains without source ports"),
                None => "source port unknown: chains without source ports".into(),
            },
            |i| {
                if exact {
                    port.is_some_and(|p| matches[i].source_ports.contains(&p))
                } else {
                    matches[i].source_ports.is_empty()
                }
            },
            |i| {
                let p = &matches[i].source_ports;
                if p.is_empty() {
                    "any source port, and a chain for this port exists".into()
                } else {
                    format!("source ports {p:?} do not include it")
                }
            },
        );
    }
}

/// Selects a filter chain by the unified `filter_chain_matcher`: the
/// matcher's action names the chain; no match → None (default chain).
pub fn select_by_matcher(m: &Matcher, conn: &Connection) -> MatcherSelection {
    let mut steps = Vec::new();
    let chain = eval_matcher(m, conn, &mut steps, 0);
    MatcherSelection { chain, steps }
}

#[derive(Debug, Clone, Serialize)]
pub struct MatcherSelection {
    /// The filter chain name the matcher chose.
    pub chain: Option<String>,
    /// What each matcher node looked at and decided.
    pub steps: Vec<String>,
}

/// The matcher as readable lines, one per leaf: the conditions on the way
/// down, then the chain it names (`DestinationIP in 10.0.0.1/32, DestinationPort
/// = 80 → chain x`). Custom matchers other than Istio's IP matcher are shown
/// as opaque.
pub fn describe_matcher(m: &Matcher) -> Vec<String> {
    let mut out = Vec::new();
    describe_into(m, &mut Vec::new(), &mut out, 0);
    out
}

fn describe_into(m: &Matcher, path: &mut Vec<String>, out: &mut Vec<String>, depth: usize) {
    if depth > MATCHER_DEPTH {
        out.push(format!("{} → (nested too deep)", path.join(", ")));
        return;
    }
    match &m.matcher_type {
        Some(MatcherType::MatcherTree(tree)) => {
            let input = input_name(tree.input.as_ref());
            match &tree.tree_type {
                Some(TreeType::ExactMatchMap(map)) | Some(TreeType::PrefixMatchMap(map)) => {
                    let op = if matches!(tree.tree_type, Some(TreeType::ExactMatchMap(_))) {
                        "="
                    } else {
                        "starts with"
                    };
                    let mut keys: Vec<&String> = map.map.keys().collect();
                    keys.sort();
                    for k in keys {
                        path.push(format!("{input} {op} {k}"));
                        describe_on_match(&map.map[k], path, out, depth);
                        path.pop();
                    }
                }
                Some(TreeType::CustomMatch(c)) => match c.typed_config.as_ref().and_then(ip_matcher) {
                    Some(ranges) => {
                        for (cidrs, on_match, _) in &ranges {
                            let text = cidrs.iter().map(cidr_text).collect::<Vec<_>>().join(",");
                            path.push(format!("{input} in {text}"));
                            if let Some(o) = on_match {
                                describe_on_match(o, path, out, depth);
                            }
                            path.pop();
                        }
                    }
                    None => {
                        let t = c.typed_config.as_ref().map(|a| a.type_url.clone()).unwrap_or_default();
                        out.push(format!("{} → opaque custom matcher {t}", prefix(path)));
                    }
                },
                None => {}
            }
        }
        Some(MatcherType::MatcherList(list)) => {
            for (i, fm) in list.matchers.iter().enumerate() {
                path.push(format!("list entry #{i}"));
                if let Some(o) = &fm.on_match {
                    describe_on_match(o, path, out, depth);
                }
                path.pop();
            }
        }
        None => {}
    }
    if let Some(o) = &m.on_no_match {
        path.push("otherwise".into());
        describe_on_match(o, path, out, depth);
        path.pop();
    }
}

fn describe_on_match(o: &OnMatch, path: &mut Vec<String>, out: &mut Vec<String>, depth: usize) {
    match &o.on_match {
        Some(on_match::OnMatch::Matcher(inner)) => describe_into(inner, path, out, depth + 1),
        Some(on_match::OnMatch::Action(a)) => {
            let name = a
                .typed_config
                .as_ref()
                .and_then(decode_any::<StringValue>)
                .map(|s| s.value)
                .unwrap_or_else(|| a.name.clone());
            out.push(format!("{} → chain {name}", prefix(path)));
        }
        None => {}
    }
}

fn prefix(path: &[String]) -> String {
    if path.is_empty() {
        "always".into()
    } else {
        path.join(", ")
    }
}

fn input_name(input: Option<&TypedExtensionConfig>) -> String {
    let url = input
        .and_then(|i| i.typed_config.as_ref())
        .map(|a| crate::input::pool::type_url_name(&a.type_url).to_string())
        .unwrap_or_default();
    let short = url
        .rsplit('.')
        .next()
        .unwrap_or("")
        .trim_end_matches("Input")
        .to_string();
    if short.is_empty() {
        "input".into()
    } else {
        short
    }
}

const MATCHER_DEPTH: usize = 16;

fn eval_matcher(m: &Matcher, conn: &Connection, steps: &mut Vec<String>, depth: usize) -> Option<String> {
    if depth > MATCHER_DEPTH {
        steps.push("matcher nested too deep: treated as no match".into());
        return None;
    }
    let hit = match &m.matcher_type {
        Some(MatcherType::MatcherTree(tree)) => eval_tree(tree, conn, steps, depth),
        Some(MatcherType::MatcherList(list)) => {
            let mut hit = None;
            for (i, fm) in list.matchers.iter().enumerate() {
                let ok = fm.predicate.as_ref().is_some_and(|p| eval_predicate(p, conn, steps));
                steps.push(format!(
                    "list entry #{i}: {}",
                    if ok { "matches" } else { "does not match" }
                ));
                if ok {
                    hit = fm.on_match.as_ref().and_then(|o| eval_on_match(o, conn, steps, depth));
                    if hit.is_some() {
                        break;
                    }
                }
            }
            hit
        }
        None => None,
    };
    if hit.is_some() {
        return hit;
    }
    match &m.on_no_match {
        Some(o) => {
            steps.push("no match: on_no_match applies".into());
            eval_on_match(o, conn, steps, depth)
        }
        None => None,
    }
}

fn eval_on_match(o: &OnMatch, conn: &Connection, steps: &mut Vec<String>, depth: usize) -> Option<String> {
    match &o.on_match {
        Some(on_match::OnMatch::Matcher(inner)) => eval_matcher(inner, conn, steps, depth + 1),
        Some(on_match::OnMatch::Action(a)) => {
            let name = a
                .typed_config
                .as_ref()
                .and_then(decode_any::<StringValue>)
                .map(|s| s.value)
                .unwrap_or_else(|| a.name.clone());
            steps.push(format!("action: filter chain {name}"));
            Some(name)
        }
        None => None,
    }
}

fn eval_tree(tree: &MatcherTree, conn: &Connection, steps: &mut Vec<String>, depth: usize) -> Option<String> {
    let (input_name, value) = input_value(tree.input.as_ref(), conn);
    let shown = value.clone().unwrap_or_else(|| "(none)".into());
    match &tree.tree_type {
        Some(TreeType::ExactMatchMap(map)) => {
            let hit = value.as_ref().and_then(|v| map.map.get(v));
            steps.push(format!(
                "{input_name} = {shown}: {}",
                if hit.is_some() {
                    "exact key found"
                } else {
                    "no exact key"
                }
            ));
            hit.and_then(|o| eval_on_match(o, conn, steps, depth))
        }
        Some(TreeType::PrefixMatchMap(map)) => {
            let v = value.unwrap_or_default();
            let mut keys: Vec<&String> = map.map.keys().filter(|k| v.starts_with(k.as_str())).collect();
            keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
            steps.push(format!("{input_name} = {shown}: prefixes {keys:?}"));
            keys.into_iter()
                .find_map(|k| eval_on_match(&map.map[k], conn, steps, depth))
        }
        Some(TreeType::CustomMatch(custom)) => {
            let ip = value.as_deref().and_then(|v| v.parse::<IpAddr>().ok());
            match custom.typed_config.as_ref().and_then(ip_matcher) {
                Some(ranges) => {
                    let Some(ip) = ip else {
                        steps.push(format!("{input_name} = {shown}: not an IP; IP matcher does not match"));
                        return None;
                    };
                    let mut hits: Vec<&IpRange> = ranges
                        .iter()
                        .filter(|r| r.0.iter().any(|c| cidr_contains(c, ip)))
                        .collect();
                    let best = |r: &IpRange| {
                        r.0.iter()
                            .filter(|c| cidr_contains(c, ip))
                            .map(prefix_len)
                            .max()
                            .unwrap_or(0)
                    };
                    hits.sort_by_key(|r| std::cmp::Reverse(best(r)));
                    steps.push(format!("{input_name} = {ip}: {} IP range(s) contain it", hits.len()));
                    // Longest prefix first (ties in configuration order).
                    // Only the first range tried may be exclusive: an
                    // exclusive range is skipped when Envoy falls back to it
                    // after a more specific one did not match (checked
                    // against Envoy 1.40).
                    for (pos, r) in hits.into_iter().enumerate() {
                        let text = r.0.iter().map(cidr_text).collect::<Vec<_>>().join(",");
                        if pos > 0 && r.2 {
                            steps.push(format!(
                                "range {text} is exclusive: it applies only as the first match, skipped"
                            ));
                            continue;
                        }
                        steps.push(format!("range {text}"));
                        if let Some(found) = r.1.as_ref().and_then(|o| eval_on_match(o, conn, steps, depth)) {
                            return Some(found);
                        }
                    }
                    None
                }
                None => {
                    let name = custom
                        .typed_config
                        .as_ref()
                        .map(|a| a.type_url.clone())
                        .unwrap_or_default();
                    steps.push(format!(
                        "custom matcher {name} cannot be evaluated offline: treated as no match"
                    ));
                    None
                }
            }
        }
        None => None,
    }
}

fn eval_predicate(p: &Predicate, conn: &Connection, steps: &mut Vec<String>) -> bool {
    match &p.match_type {
        Some(MatchType::SinglePredicate(sp)) => {
            let (name, value) = input_value(sp.input.as_ref(), conn);
            let ok = match &sp.matcher {
                Some(single_predicate::Matcher::ValueMatch(sm)) => {
                    value.as_deref().is_some_and(|v| string_matches(sm, v))
                }
                Some(single_predicate::Matcher::CustomMatch(c)) => {
                    let ip = value.as_deref().and_then(|v| v.parse::<IpAddr>().ok());
                    match (c.typed_config.as_ref().and_then(ip_matcher), ip) {
                        (Some(ranges), Some(ip)) => ranges.iter().any(|r| r.0.iter().any(|c| cidr_contains(c, ip))),
                        _ => false,
                    }
                }
                None => false,
            };
            steps.push(format!(
                "{name} = {}: {}",
                value.unwrap_or_default(),
                if ok { "yes" } else { "no" }
            ));
            ok
        }
        Some(MatchType::OrMatcher(l)) => l.predicate.iter().any(|p| eval_predicate(p, conn, steps)),
        Some(MatchType::AndMatcher(l)) => l.predicate.iter().all(|p| eval_predicate(p, conn, steps)),
        Some(MatchType::NotMatcher(p)) => !eval_predicate(p, conn, steps),
        None => false,
    }
}

/// Envoy's `SAME_IP_OR_LOOPBACK`: the source is the loopback address itself
/// (127.0.0.1 or ::1 — not the rest of 127.0.0.0/8) or equals the
/// destination address. Checked against Envoy 1.40 (tests/it/envoy).
pub fn is_same_ip_or_loopback(conn: &Connection) -> bool {
    conn.src_ip.is_some_and(|s| {
        s == IpAddr::from([127, 0, 0, 1]) || s == IpAddr::from(std::net::Ipv6Addr::LOCALHOST) || Some(s) == conn.dst_ip
    })
}

/// What a network matching input yields for this connection.
fn input_value(input: Option<&TypedExtensionConfig>, conn: &Connection) -> (String, Option<String>) {
    let url = input
        .and_then(|i| i.typed_config.as_ref())
        .map(|a| crate::input::pool::type_url_name(&a.type_url).to_string())
        .unwrap_or_default();
    let short = url.rsplit('.').next().unwrap_or("").to_string();
    let value = match short.as_str() {
        "DestinationIPInput" => conn.dst_ip.map(|i| i.to_string()),
        "DestinationPortInput" => Some(conn.dst_port.to_string()),
        "SourceIPInput" | "DirectSourceIPInput" => conn.src_ip.map(|i| i.to_string()),
        "SourcePortInput" => conn.src_port.map(|p| p.to_string()),
        "ServerNameInput" => conn.sni.as_ref().map(|s| s.to_ascii_lowercase()),
        "TransportProtocolInput" => Some(conn.transport.clone()),
        "ApplicationProtocolInput" => Some(conn.alpn.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(",")),
        "SourceTypeInput" => is_same_ip_or_loopback(conn).then(|| "local".to_string()),
        _ => None,
    };
    let name = match short.as_str() {
        "" => "input".to_string(),
        s => s.trim_end_matches("Input").to_string(),
    };
    (name, value)
}

/// One IPMatcher entry: (ranges, on_match, exclusive).
type IpRange = (Vec<CidrRange>, Option<OnMatch>, bool);

/// An IPMatcher's (ranges, on_match, exclusive) entries, read through the
/// descriptor pool (envoy-types has no Rust type for it).
fn ip_matcher(any: &Any) -> Option<Vec<IpRange>> {
    use prost::Message;
    use prost_reflect::{DynamicMessage, Value};
    if crate::input::pool::type_url_name(&any.type_url) != "xds.type.matcher.v3.IPMatcher" {
        return None;
    }
    let desc = crate::input::pool::message("xds.type.matcher.v3.IPMatcher")?;
    let msg = DynamicMessage::decode(desc, any.value.as_slice()).ok()?;
    let list = msg.get_field_by_name("range_matchers")?;
    let Value::List(items) = list.as_ref() else { return None };
    let mut out = Vec::new();
    for item in items {
        let Value::Message(rm) = item else { continue };
        let ranges = match rm.get_field_by_name("ranges").as_deref() {
            Some(Value::List(rs)) => rs
                .iter()
                .filter_map(|r| match r {
                    Value::Message(c) => CidrRange::decode(c.encode_to_vec().as_slice()).ok(),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let on_match = match rm.get_field_by_name("on_match").as_deref() {
            Some(Value::Message(o)) => OnMatch::decode(o.encode_to_vec().as_slice()).ok(),
            _ => None,
        };
        let exclusive = matches!(rm.get_field_by_name("exclusive").as_deref(), Some(Value::Bool(true)));
        out.push((ranges, on_match, exclusive));
    }
    Some(out)
}

/// Envoy's StringMatcher on a value.
pub fn string_matches(m: &StringMatcher, v: &str) -> bool {
    let (v, ignore_case) = if m.ignore_case {
        (v.to_ascii_lowercase(), true)
    } else {
        (v.to_string(), false)
    };
    let norm = |s: &str| {
        if ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    match &m.match_pattern {
        Some(MatchPattern::Exact(s)) => v == norm(s),
        Some(MatchPattern::Prefix(s)) => v.starts_with(&norm(s)),
        Some(MatchPattern::Suffix(s)) => v.ends_with(&norm(s)),
        Some(MatchPattern::Contains(s)) => v.contains(&norm(s)),
        Some(MatchPattern::SafeRegex(r)) => full_regex(&r.regex).is_some_and(|re| re.is_match(&v)),
        Some(MatchPattern::Custom(_)) | None => false,
    }
}

/// A regex that must match the whole value, as Envoy's safe_regex does.
pub fn full_regex(pattern: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$")).ok()
}

pub fn cidr_text(c: &CidrRange) -> String {
    format!("{}/{}", c.address_prefix, prefix_len(c))
}

fn prefix_len(c: &CidrRange) -> u32 {
    c.prefix_len.map_or(0, |l| l.value)
}

/// Whether `ip` lies in the range (families must agree).
pub fn cidr_contains(c: &CidrRange, ip: IpAddr) -> bool {
    let Ok(base) = c.address_prefix.parse::<IpAddr>() else {
        return false;
    };
    let len = prefix_len(c);
    match (base, ip) {
        (IpAddr::V4(b), IpAddr::V4(a)) => {
            let len = len.min(32);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            (u32::from(b) & mask) == (u32::from(a) & mask)
        }
        (IpAddr::V6(b), IpAddr::V6(a)) => {
            let len = len.min(128);
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            (u128::from(b) & mask) == (u128::from(a) & mask)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::UInt32Value;

    fn chain(f: impl FnOnce(&mut FilterChainMatch)) -> FilterChainMatch {
        let mut m = FilterChainMatch::default();
        f(&mut m);
        m
    }
    fn port(p: u32) -> Option<UInt32Value> {
        Some(UInt32Value { value: p })
    }
    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }
    fn cidr(a: &str, l: u32) -> CidrRange {
        CidrRange {
            address_prefix: a.into(),
            prefix_len: Some(UInt32Value { value: l }),
        }
    }
    fn conn(port: u32, sni: Option<&str>) -> Connection {
        Connection {
            dst_port: port,
            sni: sni.map(String::from),
            transport: if sni.is_some() { "tls" } else { "raw_buffer" }.into(),
            ..Default::default()
        }
    }

    #[test]
    fn exact_port_chains_win_outright_without_fallback() {
        let m = vec![
            chain(|m| {
                m.destination_port = port(443);
                m.server_names = names(&["a.example.com"]);
            }),
            chain(|m| m.server_names = names(&["b.example.com"])),
        ];
        // b.example.com is only on the port-less chain: no fallback to it.
        let s = select_by_match(&m, &conn(443, Some("b.example.com")));
        assert_eq!(s.chosen, None);
        assert_eq!(s.near_misses[0].index, 1);
        assert_eq!(s.near_misses[0].step, "destination port");
        // Another port: only port-less chains are searched.
        assert_eq!(select_by_match(&m, &conn(8443, Some("b.example.com"))).chosen, Some(1));
    }

    #[test]
    fn server_names_exact_then_longest_wildcard_then_none() {
        let m = vec![
            chain(|m| m.server_names = names(&["*.com"])),
            chain(|m| m.server_names = names(&["*.example.com"])),
            chain(|m| m.server_names = names(&["www.example.com"])),
            chain(|_| {}),
        ];
        assert_eq!(select_by_match(&m, &conn(443, Some("www.example.com"))).chosen, Some(2));
        assert_eq!(select_by_match(&m, &conn(443, Some("a.b.example.com"))).chosen, Some(1));
        assert_eq!(select_by_match(&m, &conn(443, Some("example.org"))).chosen, Some(3));
        assert_eq!(select_by_match(&m, &conn(443, Some("foo.com"))).chosen, Some(0));
        // Upper-case SNI is lower-cased.
        assert_eq!(select_by_match(&m, &conn(443, Some("WWW.Example.COM"))).chosen, Some(2));
        // A wildcard never matches the bare suffix.
        assert_eq!(select_by_match(&m, &conn(443, Some("example.com"))).chosen, Some(0));
        // No SNI: only the chain without server_names.
        assert_eq!(select_by_match(&m, &conn(443, None)).chosen, Some(3));
    }

    #[test]
    fn no_backtracking_after_a_more_specific_hit() {
        let m = vec![
            chain(|m| {
                m.server_names = names(&["www.example.com"]);
                m.transport_protocol = "tls".into();
            }),
            chain(|m| {
                m.server_names = names(&["*.example.com"]);
                m.transport_protocol = "raw_buffer".into();
            }),
        ];
        let mut c = conn(443, Some("www.example.com"));
        c.transport = "raw_buffer".into();
        // Exact SNI wins, then transport fails: default chain, not the wildcard.
        let s = select_by_match(&m, &c);
        assert_eq!(s.chosen, None);
        assert!(s
            .steps
            .iter()
            .any(|st| st.step == "transport protocol" && st.remaining.is_empty()));
    }

    #[test]
    fn empty_lists_mean_any_and_lose_to_specific_entries() {
        let m = vec![chain(|m| m.application_protocols = names(&["h2"])), chain(|_| {})];
        let mut c = conn(80, None);
        c.alpn = names(&["http/1.1", "h2"]);
        assert_eq!(select_by_match(&m, &c).chosen, Some(0));
        c.alpn = names(&["http/1.1"]);
        assert_eq!(select_by_match(&m, &c).chosen, Some(1));
    }

    #[test]
    fn destination_ip_longest_prefix() {
        let m = vec![
            chain(|m| m.prefix_ranges = vec![cidr("10.0.0.0", 8)]),
            chain(|m| m.prefix_ranges = vec![cidr("10.1.0.0", 16)]),
            chain(|_| {}),
        ];
        let mut c = conn(80, None);
        c.dst_ip = Some("10.1.2.3".parse().unwrap());
        assert_eq!(select_by_match(&m, &c).chosen, Some(1));
        c.dst_ip = Some("10.2.2.3".parse().unwrap());
        assert_eq!(select_by_match(&m, &c).chosen, Some(0));
        c.dst_ip = Some("192.168.0.1".parse().unwrap());
        assert_eq!(select_by_match(&m, &c).chosen, Some(2));
        c.dst_ip = Some("::1".parse().unwrap());
        assert_eq!(select_by_match(&m, &c).chosen, Some(2));
    }

    #[test]
    fn source_type_and_ports() {
        let m = vec![
            chain(|m| m.source_type = ConnectionSourceType::SameIpOrLoopback as i32),
            chain(|m| m.source_ports = vec![1234]),
            chain(|_| {}),
        ];
        let mut c = conn(80, None);
        c.src_ip = Some("127.0.0.1".parse().unwrap());
        assert_eq!(select_by_match(&m, &c).chosen, Some(0));
        // Only 127.0.0.1 is "loopback" to Envoy, not the rest of 127/8...
        c.src_ip = Some("127.0.0.9".parse().unwrap());
        assert_eq!(select_by_match(&m, &c).chosen, Some(2));
        // ...and a source equal to the destination is local.
        c.dst_ip = c.src_ip;
        assert_eq!(select_by_match(&m, &c).chosen, Some(0));
        c.dst_ip = None;
        c.src_ip = Some("10.0.0.9".parse().unwrap());
        c.src_port = Some(1234);
        assert_eq!(select_by_match(&m, &c).chosen, Some(1));
        c.src_port = Some(999);
        assert_eq!(select_by_match(&m, &c).chosen, Some(2));
    }

    #[test]
    fn an_explicit_zero_prefix_beside_no_ranges_is_undetermined() {
        // Envoy files "no ranges" under /0 too; which group wins varies per
        // process. Here the two groups lead to different chains.
        let m = vec![
            chain(|m| {
                m.prefix_ranges = vec![cidr("0.0.0.0", 0)];
                m.server_names = names(&["a.example.com"]);
            }),
            chain(|m| m.server_names = names(&["*.example.com"])),
        ];
        let mut c = conn(80, Some("a.example.com"));
        c.dst_ip = Some("10.1.2.3".parse().unwrap());
        let sel = select_by_match(&m, &c);
        let u = sel.undetermined.expect("undetermined");
        assert_eq!(u.possible, vec![Some(0), Some(1)]);
        assert!(!sel.ambiguous);
        // Where both groups lead to the same chain, the answer stands.
        let mut c2 = conn(80, Some("other.org"));
        c2.dst_ip = Some("10.1.2.3".parse().unwrap());
        let sel = select_by_match(&m, &c2);
        assert!(sel.undetermined.is_none());
        assert_eq!(sel.chosen, None);
        assert!(sel.steps.iter().any(|s| s.step == "tie"));
        // A v6 address is not in 0.0.0.0/0: no tie.
        let mut c3 = conn(80, Some("a.example.com"));
        c3.dst_ip = Some("::1".parse().unwrap());
        let sel = select_by_match(&m, &c3);
        assert!(sel.undetermined.is_none());
        assert_eq!(sel.chosen, Some(1));
    }

    #[test]
    fn cidr_edges() {
        assert!(cidr_contains(&cidr("0.0.0.0", 0), "8.8.8.8".parse().unwrap()));
        assert!(!cidr_contains(&cidr("0.0.0.0", 0), "::1".parse().unwrap()));
        assert!(cidr_contains(&cidr("10.0.0.1", 32), "10.0.0.1".parse().unwrap()));
        assert!(!cidr_contains(&cidr("10.0.0.1", 32), "10.0.0.2".parse().unwrap()));
        assert!(cidr_contains(&cidr("fd00::", 8), "fd12::1".parse().unwrap()));
    }
}
