//! Route selection, generated: random route tables (every domain form, path
//! kinds, header/query/method matches, case sensitivity, weighted clusters,
//! redirects, direct responses) behind an HTTP connection manager, random
//! requests, and `trace` compared with the route and cluster Envoy's access
//! log names.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use egress_xray::analysis::trace::{trace, TraceRequest, TraceResult};
use egress_xray::model::Index;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::probe::{self, Hello};
use super::{access_log, dead_cluster, envoy_bin, free_ports, generate, generator, shrink, turn, Envoy};

const DOMAINS: [&str; 9] = [
    "a.example.com",
    "*.example.com",
    "*-api.example.com",
    "a.example.*",
    "api-*",
    "a.example.com:8080",
    "*",
    "b.example.org",
    "*.org",
];
const HOSTS: [&str; 10] = [
    "a.example.com",
    "A.Example.COM",
    "b.example.com",
    "x-api.example.com",
    "a.example.org",
    "api-gw",
    "a.example.com:8080",
    "b.example.org",
    "other.net",
    "b.example.org:80",
];
/// (kind, value): prefix, path, regex, separated prefix, template.
const PATHS: [(&str, &str); 10] = [
    ("prefix", "/"),
    ("prefix", "/api"),
    ("prefix", "/api/"),
    ("path", "/api/v1"),
    ("safe_regex", "/api/v[0-9]+"),
    ("path_separated_prefix", "/api"),
    ("template", "/api/{version}/items"),
    ("template", "/api/**"),
    ("template", "/{a}/v1/{rest=**}"),
    ("prefix", "/API"),
];
const REQ_PATHS: [&str; 12] = [
    "/",
    "/api",
    "/api/",
    "/api/v1",
    "/API/v1",
    "/api/v12",
    "/apix",
    "/api?debug=1",
    "/api/v1?debug=0",
    "/api/v2/items",
    "/x/v1/a/b",
    "/api/v1/items/",
];
const CLUSTERS: [&str; 3] = ["c0", "c1", "c2"];

#[derive(Debug, Clone)]
pub struct RouteSpec {
    path: usize,
    case_insensitive: bool,
    /// 0 none, 1 x-env exact prod, 2 x-debug present, 3 x-env prefix d, 4 method POST
    header: u8,
    /// 0 none, 1 debug present, 2 debug exact 1
    query: u8,
    /// 0 cluster, 1 weighted, 2 redirect, 3 direct response
    action: u8,
    cluster: usize,
}

#[derive(Debug, Clone)]
pub struct TableSpec {
    vhosts: Vec<(BTreeSet<usize>, Vec<RouteSpec>)>,
    /// A health_check filter before the router, answering on this path
    /// (index into HEALTH_PATHS), as Envoy Gateway's ready listener has.
    health: Option<usize>,
}

const HEALTH_PATHS: [&str; 2] = ["/api", "/api/v1"];

#[derive(Debug, Clone)]
pub struct RequestSpec {
    host: usize,
    path: usize,
    post: bool,
    env: u8,
    debug: bool,
}

fn route() -> impl Strategy<Value = RouteSpec> {
    (
        0..PATHS.len(),
        prop::bool::weighted(0.2),
        prop_oneof![4 => Just(0u8), 1 => 1..5u8],
        prop_oneof![5 => Just(0u8), 1 => 1..3u8],
        prop_oneof![6 => Just(0u8), 1 => 1..4u8],
        0..CLUSTERS.len(),
    )
        .prop_map(|(path, case_insensitive, header, query, action, cluster)| RouteSpec {
            path,
            case_insensitive,
            header,
            query,
            action,
            cluster,
        })
}

fn table() -> impl Strategy<Value = TableSpec> {
    (
        proptest::collection::vec(
            (
                proptest::collection::btree_set(0..DOMAINS.len(), 1..=3),
                proptest::collection::vec(route(), 1..6),
            ),
            1..5,
        ),
        prop::option::weighted(0.2, 0..HEALTH_PATHS.len()),
    )
        .prop_map(|(vhosts, health)| {
            // Envoy refuses a domain that two virtual hosts share.
            let mut seen = BTreeSet::new();
            let vhosts = vhosts
                .into_iter()
                .filter_map(|(domains, routes)| {
                    let mine: BTreeSet<usize> = domains.into_iter().filter(|d| seen.insert(*d)).collect();
                    (!mine.is_empty()).then_some((mine, routes))
                })
                .collect();
            TableSpec { vhosts, health }
        })
}

fn request() -> impl Strategy<Value = RequestSpec> {
    (
        0..HOSTS.len(),
        0..REQ_PATHS.len(),
        prop::bool::weighted(0.2),
        0..3u8,
        any::<bool>(),
    )
        .prop_map(|(host, path, post, env, debug)| RequestSpec {
            host,
            path,
            post,
            env,
            debug,
        })
}

fn route_json(r: &RouteSpec, name: &str) -> Value {
    let (kind, value) = PATHS[r.path];
    let mut m = match kind {
        "safe_regex" => json!({"safe_regex": {"regex": value}}),
        "template" => json!({"path_match_policy": {
            "name": "envoy.path.match.uri_template.uri_template_matcher",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
                "path_template": value
            }
        }}),
        k => json!({k: value}),
    };
    if r.case_insensitive {
        m["case_sensitive"] = json!(false);
    }
    let headers = match r.header {
        1 => json!([{"name": "x-env", "string_match": {"exact": "prod"}}]),
        2 => json!([{"name": "x-debug", "present_match": true}]),
        3 => json!([{"name": "x-env", "string_match": {"prefix": "d"}}]),
        4 => json!([{"name": ":method", "string_match": {"exact": "POST"}}]),
        _ => json!([]),
    };
    if r.header != 0 {
        m["headers"] = headers;
    }
    match r.query {
        1 => m["query_parameters"] = json!([{"name": "debug", "present_match": true}]),
        2 => m["query_parameters"] = json!([{"name": "debug", "string_match": {"exact": "1"}}]),
        _ => {}
    }
    let mut out = json!({"name": name, "match": m});
    match r.action {
        1 => {
            out["route"] = json!({"weighted_clusters": {"clusters": [
                {"name": CLUSTERS[r.cluster], "weight": 60},
                {"name": CLUSTERS[(r.cluster + 1) % CLUSTERS.len()], "weight": 40}
            ]}})
        }
        2 => out["redirect"] = json!({"host_redirect": "moved.example.com"}),
        3 => out["direct_response"] = json!({"status": 403}),
        _ => out["route"] = json!({"cluster": CLUSTERS[r.cluster]}),
    }
    out
}

fn listener_json(t: &TableSpec, name: &str, port: u16, log: &std::path::Path) -> Value {
    let vhosts: Vec<Value> = t
        .vhosts
        .iter()
        .enumerate()
        .map(|(v, (domains, routes))| {
            json!({
                "name": format!("vh{v}"),
                "domains": domains.iter().map(|&d| DOMAINS[d]).collect::<Vec<_>>(),
                "routes": routes.iter().enumerate().map(|(i, r)| route_json(r, &format!("r{v}-{i}"))).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{
            "name": "http",
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": name,
                    "access_log": access_log(log, "http"),
                    "route_config": {"name": format!("rc-{name}"), "virtual_hosts": vhosts},
                    "http_filters": http_filters(t)
                }
            }]
        }]
    })
}

fn http_filters(t: &TableSpec) -> Value {
    let mut v = Vec::new();
    if let Some(h) = t.health {
        v.push(json!({
            "name": "envoy.filters.http.health_check",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
                "pass_through_mode": false,
                "headers": [{"name": ":path", "string_match": {"exact": HEALTH_PATHS[h]}}]
            }
        }));
    }
    v.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));
    Value::Array(v)
}

fn hello(r: &RequestSpec) -> Hello {
    let mut headers = Vec::new();
    match r.env {
        1 => headers.push(("x-env".to_string(), "prod".to_string())),
        2 => headers.push(("x-env".to_string(), "dev".to_string())),
        _ => {}
    }
    if r.debug {
        headers.push(("x-debug".to_string(), "1".to_string()));
    }
    Hello::Http {
        host: HOSTS[r.host].to_string(),
        path: REQ_PATHS[r.path].to_string(),
        method: if r.post { "POST" } else { "GET" }.to_string(),
        headers,
    }
}

/// What Envoy and the tool chose for one request: (route, cluster).
#[derive(Debug)]
pub struct Verdict {
    envoy: (Option<String>, Option<String>),
    /// Envoy's %RESPONSE_CODE_DETAILS% (`health_check_ok` when the filter
    /// answered) and trace's result.
    envoy_details: Option<String>,
    tool_result: TraceResult,
    tool: (Option<String>, Option<String>),
    /// Clusters a weighted route may pick.
    weighted: Vec<String>,
    undetermined: bool,
}

fn tool_route(ix: &Index, port: u16, h: &Hello) -> (TraceResult, Option<String>, Option<String>, Vec<String>) {
    let Hello::Http {
        host,
        path,
        method,
        headers,
    } = h
    else {
        unreachable!("HTTP probes only")
    };
    let t = trace(
        ix,
        &TraceRequest {
            port: port as u32,
            dst_ip: Some("127.0.0.1".parse().expect("ip")),
            transport: Some("raw_buffer".into()),
            host: Some(host.clone()),
            path: Some(path.clone()),
            method: Some(method.clone()),
            headers: headers.clone(),
            ..Default::default()
        },
    );
    let route = t.route.as_ref().and_then(|r| r.route_name.clone());
    let cluster = match t.result {
        TraceResult::Routed => t.cluster.clone(),
        _ => None,
    };
    let weighted = t.weighted_clusters.iter().map(|(n, _)| n.clone()).collect();
    let route = match t.result {
        TraceResult::NoRoute => None,
        _ => route,
    };
    (t.result, route, cluster, weighted)
}

fn run_batch(envoy: &mut Envoy, batch: &[(TableSpec, Vec<RequestSpec>)], round: usize) -> Vec<Vec<Verdict>> {
    let ports = free_ports(batch.len());
    let names: Vec<String> = (0..batch.len()).map(|k| format!("http-{round}-{k}")).collect();
    let listeners: Vec<Value> = batch
        .iter()
        .zip(&ports)
        .zip(&names)
        .map(|(((t, _), port), name)| listener_json(t, name, *port, &envoy.access_log))
        .collect();
    if let Err(log) = envoy.push("lds", &listeners) {
        panic!(
            "Envoy rejected a generated route table (the generator must only make valid ones):\n{log}\n{}",
            serde_json::to_string_pretty(&listeners).unwrap_or_default()
        );
    }
    // One source port per request, above the chain test's blocks.
    let work: Vec<(SocketAddr, SocketAddr, Hello)> = batch
        .iter()
        .zip(&ports)
        .enumerate()
        .flat_map(|(k, ((_, reqs), port))| {
            reqs.iter().enumerate().map(move |(i, r)| {
                let src = probe::source(
                    "127.0.0.1".parse().expect("ip"),
                    10000 + ((round * 997 + k * 41 + i) % 9000) as u16,
                );
                (src, SocketAddr::new("127.0.0.1".parse().expect("ip"), *port), hello(r))
            })
        })
        .collect();
    let (keys, lines) = envoy.send_all(&work, "http");
    let (_, ix) = envoy.dump();
    let mut out = Vec::new();
    let mut w = work.iter().zip(&keys);
    for ((_, reqs), port) in batch.iter().zip(&ports) {
        let mut verdicts = Vec::new();
        for _ in reqs {
            let ((_, _, h), key) = w.next().expect("one per request");
            let line = lines
                .get(key)
                .and_then(|v| v.iter().find(|l| l["w"] == "http"))
                .unwrap_or_else(|| panic!("Envoy logged no request for {key} in 20 s"));
            let text = |k: &str| line[k].as_str().map(str::to_string);
            let (result, route, cluster, weighted) = tool_route(&ix, *port, h);
            verdicts.push(Verdict {
                envoy: (text("route"), text("cluster")),
                envoy_details: text("details"),
                tool_result: result,
                tool: (route, cluster),
                weighted,
                undetermined: result == TraceResult::Undetermined,
            });
        }
        out.push(verdicts);
    }
    out
}

fn agrees(v: &Verdict) -> bool {
    if v.undetermined {
        return true;
    }
    let filter_answered = v
        .envoy_details
        .as_deref()
        .is_some_and(|d| d.starts_with("health_check"));
    if filter_answered || v.tool_result == TraceResult::FilterResponse {
        return filter_answered && v.tool_result == TraceResult::FilterResponse;
    }
    if v.envoy.0 != v.tool.0 {
        return false;
    }
    if v.weighted.is_empty() {
        v.envoy.1 == v.tool.1
    } else {
        v.envoy.1.as_ref().is_some_and(|c| v.weighted.contains(c))
    }
}

const PER_PUSH: usize = 20;
const REQUESTS: usize = 50;

#[test]
fn trace_picks_the_route_envoy_picks_on_generated_route_tables() {
    let Some(bin) = envoy_bin() else { return };
    let _turn = turn();
    let (mut runner, seed, rounds) = generator(0x7a3b1e, 1);
    eprintln!("generated routes: seed {seed:#x}, {rounds} rounds of {PER_PUSH} route tables × {REQUESTS} requests");
    let mut envoy = Envoy::start(&bin, "routes");
    let clusters: Vec<Value> = CLUSTERS.iter().map(|c| dead_cluster(c)).collect();
    envoy.push("cds", &clusters).expect("CDS accepted");
    let (mut total, mut undetermined, mut routed, mut no_route, mut weighted) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut by_filter = 0usize;
    for round in 0..rounds {
        let (mut trees, batch) = generate(&mut runner, table, request, PER_PUSH, REQUESTS);
        let verdicts = run_batch(&mut envoy, &batch, round);
        for (k, vs) in verdicts.iter().enumerate() {
            for (i, v) in vs.iter().enumerate() {
                total += 1;
                undetermined += v.undetermined as usize;
                weighted += (!v.weighted.is_empty()) as usize;
                by_filter += (v.tool_result == TraceResult::FilterResponse) as usize;
                match &v.envoy.0 {
                    None => no_route += 1,
                    Some(_) => routed += 1,
                }
                if !agrees(v) {
                    let req = &batch[k].1[i];
                    // Shrink the table with this request fixed, on the real Envoy.
                    let tree = trees.swap_remove(k);
                    let mut r = 1000 + round * 100;
                    let last = shrink(tree, |t| {
                        r += 1;
                        let v = run_batch(&mut envoy, &[(t.clone(), vec![req.clone()])], r);
                        !agrees(&v[0][0])
                    });
                    let v2 = run_batch(&mut envoy, &[(last.clone(), vec![req.clone()])], r + 1);
                    panic!(
                        "trace disagrees with Envoy on a request (seed {seed:#x}, round {round}): as found {v:?}\nshrunk route table:\n{}\nrequest {:?}\nEnvoy (route, cluster) {:?}; trace {:?} weighted {:?}",
                        serde_json::to_string_pretty(&listener_json(&last, "shrunk", 10000, std::path::Path::new("access.log"))["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]).unwrap_or_default(),
                        hello(req),
                        v2[0][0].envoy,
                        v2[0][0].tool,
                        v2[0][0].weighted
                    );
                }
            }
        }
    }
    eprintln!(
        "generated routes: trace agreed with Envoy on {} of {total} requests, {undetermined} undetermined \
         (Envoy routed {routed}, of which weighted {weighted}; no route {no_route}; answered by health_check {by_filter})",
        total - undetermined
    );
    assert!(total >= rounds * PER_PUSH * REQUESTS);
    assert!(undetermined * 50 < total, "{undetermined} of {total} undetermined");
    assert!(
        routed * 3 > total && no_route * 20 > total && weighted > 0,
        "the generator should reach every outcome"
    );
}
