//! Generates a large, realistic Istio sidecar config dump for benchmarks:
//! a mesh of N services, each with an outbound EDS cluster using Istio's auto
//! mTLS `transport_socket_matches`, a listener with an HTTP connection manager
//! (RDS) or a tcp_proxy, virtual hosts in a shared route config, and EDS
//! endpoints carrying `tlsMode` metadata.
//!
//!     cargo run --release --example gen_dump -- SERVICES OUT.json
//!     cargo run --release --example gen_dump -- --protobuf IN.json OUT.pb
//!     cargo run --release --example gen_dump -- --fleet GATEWAYS HOSTS OUT_DIR [OUT.tar.gz]
//!
//! About 7 KB per service: 14,000 services ≈ 100 MB. The second form
//! re-encodes a dump as binary protobuf (envoy.admin.v3.ConfigDump). The
//! third writes a fleet of egress gateway dumps (`OUT_DIR/<ns>-<pod>.json`,
//! HOSTS external hosts each: an SNI chain on 0.0.0.0_8443, a virtual host
//! on 0.0.0.0_8080, a TLS-originating cluster and its endpoints; about
//! 5 KB per host, 400 hosts ≈ 2 MB); every 97th gateway's listeners are a
//! push behind its clusters, every 89th holds a rejected listener. With
//! OUT.tar.gz the same dumps are also packed as an `istioctl bug-report`
//! archive (`bug-report/proxies/<ns>/<pod>/config_dump?include_eds`).

use std::io::{BufWriter, Write};

use serde_json::{json, Value};

const T: &str = "type.googleapis.com/";

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--protobuf") {
        use prost::Message;
        let (input, out) = (args.nth(1).expect("IN.json"), args.next().expect("OUT.pb"));
        let dump = egress_xray::input::load_path(&input)
            .expect("decodes")
            .remove(0)
            .config_dump();
        std::fs::write(out, dump.encode_to_vec()).expect("write output");
        return;
    }
    if args.peek().map(String::as_str) == Some("--fleet") {
        let usage = "usage: gen_dump --fleet GATEWAYS HOSTS OUT_DIR [OUT.tar.gz]";
        let gateways: usize = args.nth(1).and_then(|a| a.parse().ok()).expect(usage);
        let hosts: usize = args.next().and_then(|a| a.parse().ok()).expect(usage);
        let dir = std::path::PathBuf::from(args.next().expect(usage));
        std::fs::create_dir_all(&dir).expect("create OUT_DIR");
        let mut tar = args.next().map(|t| {
            let f = std::fs::File::create(t).expect("create OUT.tar.gz");
            tar::Builder::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast()))
        });
        for k in 0..gateways {
            let (ns, pod) = (format!("egress-{}", k % 10), format!("egress-gw-{k}-7c9d8f6b5-x2k4p"));
            let bytes = gateway_dump(k, hosts, &ns, &pod);
            std::fs::write(dir.join(format!("{ns}-{pod}.json")), &bytes).expect("write dump");
            if let Some(t) = &mut tar {
                let mut h = tar::Header::new_gnu();
                h.set_size(bytes.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                t.append_data(
                    &mut h,
                    format!("bug-report/proxies/{ns}/{pod}/config_dump?include_eds"),
                    &bytes[..],
                )
                .expect("append to archive");
            }
        }
        if let Some(t) = tar {
            t.into_inner().and_then(|gz| gz.finish()).expect("finish archive");
        }
        return;
    }
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: gen_dump SERVICES OUT.json");
    let out = args.next().expect("usage: gen_dump SERVICES OUT.json");
    let mut w = BufWriter::new(std::fs::File::create(&out).expect("create output"));
    let ts = "2026-11-20T10:02:11.482Z";
    let ver = "2026-11-20T10:02:11Z/57";

    write!(w, "{{\"configs\":[").unwrap();
    let boot = json!({"@type": format!("{T}envoy.admin.v3.BootstrapConfigDump"), "bootstrap": {"node": {
        "id": "sidecar~10.244.0.9~sleep-5f7d8c6b4-abcde.mesh-test~mesh-test.svc.cluster.local",
        "cluster": "sleep.mesh-test",
        "metadata": {"NAMESPACE": "mesh-test", "NAME": "sleep-5f7d8c6b4-abcde", "ISTIO_VERSION": "1.30.0"},
        "user_agent_name": "envoy",
        "user_agent_build_version": {"version": {"major_number": 1, "minor_number": 38, "patch": 0}}}},
        "last_updated": ts});
    serde_json::to_writer(&mut w, &boot).unwrap();

    section(
        &mut w,
        "ClustersConfigDump",
        ver,
        "dynamic_active_clusters",
        n,
        |i| json!({"version_info": ver, "cluster": cluster(i), "last_updated": ts}),
    );
    section(
        &mut w,
        "ListenersConfigDump",
        ver,
        "dynamic_listeners",
        n,
        |i| json!({"name": listener_name(i), "active_state": {"version_info": ver, "listener": listener(i), "last_updated": ts}}),
    );
    let groups = n.div_ceil(100);
    section(&mut w, "RoutesConfigDump", ver, "dynamic_route_configs", groups, |g| {
        let vhosts: Vec<Value> = (g * 100..((g + 1) * 100).min(n)).map(vhost).collect();
        json!({"version_info": ver, "route_config": {"@type": format!("{T}envoy.config.route.v3.RouteConfiguration"),
            "name": format!("{}", 8000 + g), "virtual_hosts": vhosts, "validate_clusters": false}, "last_updated": ts})
    });
    section(
        &mut w,
        "EndpointsConfigDump",
        ver,
        "dynamic_endpoint_configs",
        n,
        |i| json!({"version_info": ver, "endpoint_config": endpoints(i), "last_updated": ts}),
    );
    write!(w, "]}}").unwrap();
    w.flush().unwrap();
}

fn section(w: &mut impl Write, ty: &str, ver: &str, field: &str, n: usize, item: impl Fn(usize) -> Value) {
    // Only the cluster and listener sections carry a section-wide version.
    let version = if ty.starts_with("Clusters") || ty.starts_with("Listeners") {
        format!("\"version_info\":\"{ver}\",")
    } else {
        String::new()
    };
    write!(w, ",{{\"@type\":\"{T}envoy.admin.v3.{ty}\",{version}\"{field}\":[").unwrap();
    for i in 0..n {
        if i > 0 {
            write!(w, ",").unwrap();
        }
        serde_json::to_writer(&mut *w, &item(i)).unwrap();
    }
    write!(w, "]}}").unwrap();
}

fn host(i: usize) -> String {
    format!("svc-{i}.ns-{}.svc.cluster.local", i % 50)
}

fn port(i: usize) -> u32 {
    [80, 8080, 443, 9090][i % 4]
}

fn cluster_name(i: usize) -> String {
    format!("outbound|{}||{}", port(i), host(i))
}

fn listener_name(i: usize) -> String {
    format!("10.96.{}.{}_{}", i / 250, i % 250, port(i))
}

fn sds(name: &str) -> Value {
    json!({"name": name, "sds_config": {"api_config_source": {"api_type": "GRPC", "transport_api_version": "V3",
        "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}], "set_node_on_first_message_only": true},
        "initial_fetch_timeout": "0s", "resource_api_version": "V3"}})
}

fn cluster(i: usize) -> Value {
    let h = host(i);
    let p = port(i);
    json!({"@type": format!("{T}envoy.config.cluster.v3.Cluster"), "name": cluster_name(i), "type": "EDS",
        "eds_cluster_config": {"eds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
            "service_name": cluster_name(i)},
        "connect_timeout": "10s", "lb_policy": "LEAST_REQUEST",
        "circuit_breakers": {"thresholds": [{"max_connections": 4294967295u64, "max_pending_requests": 4294967295u64,
            "max_requests": 4294967295u64, "max_retries": 4294967295u64, "track_remaining": true}]},
        "common_lb_config": {"locality_weighted_lb_config": {}},
        "metadata": {"filter_metadata": {"istio": {"services": [{"host": h, "name": format!("svc-{i}"), "namespace": format!("ns-{}", i % 50)}],
            "default_original_port": p}}},
        "filters": [{"name": "istio.metadata_exchange", "typed_config": {"@type": format!("{T}envoy.tcp.metadataexchange.config.MetadataExchange"), "protocol": "istio-peer-exchange"}}],
        "transport_socket_matches": [
            {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": {"name": "envoy.transport_sockets.tls",
                "typed_config": {"@type": format!("{T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"),
                "common_tls_context": {"tls_params": {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"},
                    "alpn_protocols": ["istio-peer-exchange", "istio"],
                    "tls_certificate_sds_secret_configs": [sds("default")],
                    "combined_validation_context": {"default_validation_context": {"match_subject_alt_names": [{"exact": format!("spiffe://cluster.local/ns/ns-{}/sa/svc-{i}", i % 50)}]},
                        "validation_context_sds_secret_config": sds("ROOTCA")}},
                "sni": format!("outbound_.{p}_._.{h}")}}},
            {"name": "tlsMode-disabled", "match": {}, "transport_socket": {"name": "envoy.transport_sockets.raw_buffer",
                "typed_config": {"@type": format!("{T}envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer")}}}]})
}

fn listener(i: usize) -> Value {
    let p = port(i);
    let filter = if i % 3 == 2 {
        json!({"name": "envoy.filters.network.tcp_proxy", "typed_config": {"@type": format!("{T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"),
            "stat_prefix": cluster_name(i), "cluster": cluster_name(i)}})
    } else {
        json!({"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": format!("{T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"),
            "stat_prefix": "outbound_0.0.0.0_80",
            "rds": {"config_source": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}, "route_config_name": format!("{}", 8000 + i / 100)},
            "http_filters": [
                {"name": "istio.metadata_exchange", "typed_config": {"@type": format!("{T}udpa.type.v1.TypedStruct"), "type_url": "type.googleapis.com/io.istio.http.peer_metadata.Config", "value": {"upstream_discovery": [{"istio_headers": {}}]}}},
                {"name": "envoy.filters.http.grpc_stats", "typed_config": {"@type": format!("{T}envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"), "emit_filter_state": true, "stats_for_all_methods": false}},
                {"name": "istio.stats", "typed_config": {"@type": format!("{T}stats.PluginConfig"), "disable_host_header_fallback": true}},
                {"name": "envoy.filters.http.router", "typed_config": {"@type": format!("{T}envoy.extensions.filters.http.router.v3.Router")}}],
            "tracing": {"client_sampling": {"value": 100}, "random_sampling": {"value": 1}, "overall_sampling": {"value": 100}},
            "use_remote_address": false, "upgrade_configs": [{"upgrade_type": "websocket"}],
            "normalize_path": true, "path_with_escaped_slashes_action": "KEEP_UNCHANGED", "request_id_extension": {"typed_config": {"@type": format!("{T}envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig"), "use_request_id_for_trace_sampling": true}}}})
    };
    json!({"@type": format!("{T}envoy.config.listener.v3.Listener"), "name": listener_name(i),
        "address": {"socket_address": {"address": format!("10.96.{}.{}", i / 250, i % 250), "port_value": p}},
        "filter_chains": [{"filter_chain_match": {"transport_protocol": "raw_buffer", "application_protocols": ["http/1.1", "h2c"]}, "filters": [filter]}],
        "default_filter_chain": {"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {"@type": format!("{T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"), "stat_prefix": "PassthroughCluster", "cluster": "PassthroughCluster"}}], "name": "PassthroughFilterChain"},
        "listener_filters": [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {"@type": format!("{T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")}},
            {"name": "envoy.filters.listener.http_inspector", "typed_config": {"@type": format!("{T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector")}}],
        "listener_filters_timeout": "0s", "continue_on_listener_filters_timeout": true, "traffic_direction": "OUTBOUND", "bind_to_port": false,
        "metadata": {"filter_metadata": {"istio": {"config": format!("/apis/networking.istio.io/v1/namespaces/ns-{}/virtual-service/svc-{i}", i % 50)}}}})
}

fn vhost(i: usize) -> Value {
    let h = host(i);
    let p = port(i);
    let short = format!("svc-{i}");
    json!({"name": format!("{h}:{p}"), "domains": [format!("{h}:{p}"), h, format!("{short}:{p}"), short],
        "routes": [{"name": "default", "match": {"prefix": "/"}, "route": {"cluster": cluster_name(i), "timeout": "0s",
            "retry_policy": {"retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", "num_retries": 2,
                "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {"@type": format!("{T}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate")}}],
                "host_selection_retry_max_attempts": "5", "retriable_status_codes": [503]},
            "max_stream_duration": {"max_stream_duration": "0s", "grpc_timeout_header_max": "0s"}},
            "decorator": {"operation": format!("{h}:{p}/*")}}],
        "include_request_attempt_count": true})
}

fn endpoints(i: usize) -> Value {
    let eps: Vec<Value> = (0..3)
        .map(|k| json!({"endpoint": {"address": {"socket_address": {"address": format!("10.{}.{}.{}", 1 + k, (i / 250) % 250, i % 250), "port_value": port(i)}}, "health_check_config": {}},
            "health_status": "HEALTHY", "metadata": {"filter_metadata": {"envoy.transport_socket_match": {"tlsMode": "istio"},
                "istio": {"workload": format!("svc-{i}-v1;ns-{};svc-{i};v1;Kubernetes", i % 50)}}}, "load_balancing_weight": 1}))
        .collect();
    json!({"@type": format!("{T}envoy.config.endpoint.v3.ClusterLoadAssignment"), "cluster_name": cluster_name(i),
        "endpoints": [{"locality": {"region": "eu-west-1", "zone": "eu-west-1a"}, "lb_endpoints": eps, "load_balancing_weight": 3}],
        "policy": {"overprovisioning_factor": 140}})
}

/// One egress gateway's dump of a fleet (see the module's documentation).
fn gateway_dump(k: usize, hosts: usize, ns: &str, pod: &str) -> Vec<u8> {
    let ts = "2026-11-20T10:02:11.482Z";
    let ver = "2026-11-20T10:02:11Z/57";
    let lds_ver = if k % 97 == 3 { "2026-11-20T10:01:40Z/56" } else { ver };
    let ext = |i: usize| format!("api-{i}.partner-{}.example.com", i % 20);
    let cname = |i: usize| format!("outbound|443||{}", ext(i));
    let chains: Vec<Value> = (0..hosts)
        .map(|i| json!({"filter_chain_match": {"server_names": [ext(i)]}, "filters": [{"name": "envoy.filters.network.tcp_proxy",
            "typed_config": {"@type": format!("{T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"),
                "stat_prefix": cname(i), "cluster": cname(i)}}],
            "metadata": {"filter_metadata": {"istio": {"config": format!("/apis/networking.istio.io/v1/namespaces/{ns}/virtual-service/partner-{}", i % 20)}}}}))
        .collect();
    let tls = json!({"@type": format!("{T}envoy.config.listener.v3.Listener"), "name": "0.0.0.0_8443",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8443}}, "filter_chains": chains,
        "listener_filters": [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {"@type": format!("{T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")}}],
        "traffic_direction": "OUTBOUND"});
    let http = json!({"@type": format!("{T}envoy.config.listener.v3.Listener"), "name": "0.0.0.0_8080",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": format!("{T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"),
            "stat_prefix": "outbound_0.0.0.0_8080",
            "rds": {"config_source": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}, "route_config_name": "http.8080"},
            "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": format!("{T}envoy.extensions.filters.http.router.v3.Router")}}]}}]}],
        "traffic_direction": "OUTBOUND"});
    let mut listeners = vec![
        json!({"name": "0.0.0.0_8443", "active_state": {"version_info": lds_ver, "listener": tls, "last_updated": ts}}),
        json!({"name": "0.0.0.0_8080", "active_state": {"version_info": lds_ver, "listener": http, "last_updated": ts}}),
    ];
    if k % 89 == 5 {
        listeners.push(json!({"name": "0.0.0.0_9443", "error_state": {"failed_configuration": {
            "@type": format!("{T}envoy.config.listener.v3.Listener"), "name": "0.0.0.0_9443"},
            "last_update_attempt": "2026-11-20T10:02:12.101Z",
            "details": "error adding listener '0.0.0.0:9443': multiple filter chains with the same matching rules are defined",
            "version_info": ver}}));
    }
    let clusters: Vec<Value> = (0..hosts)
        .map(|i| json!({"version_info": ver, "last_updated": ts, "cluster": {"@type": format!("{T}envoy.config.cluster.v3.Cluster"),
            "name": cname(i), "type": "EDS", "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}, "service_name": cname(i)},
            "connect_timeout": "10s", "lb_policy": "LEAST_REQUEST",
            "metadata": {"filter_metadata": {"istio": {"services": [{"host": ext(i), "name": ext(i), "namespace": ns}], "default_original_port": 443,
                "config": format!("/apis/networking.istio.io/v1/namespaces/{ns}/destination-rule/partner-{}", i % 20)}}},
            "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": format!("{T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"),
                "common_tls_context": {"tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                    "validation_context": {"trusted_ca": {"filename": "/etc/ssl/certs/ca-certificates.crt"}}}, "sni": ext(i)}}}}))
        .collect();
    let vhosts: Vec<Value> = (0..hosts)
        .map(|i| json!({"name": format!("{}:8080", ext(i)), "domains": [ext(i), format!("{}:8080", ext(i))],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cname(i), "timeout": "0s"},
                "metadata": {"filter_metadata": {"istio": {"config": format!("/apis/networking.istio.io/v1/namespaces/{ns}/virtual-service/partner-{}", i % 20)}}}}]}))
        .collect();
    let endpoints: Vec<Value> = (0..hosts)
        .map(|i| json!({"version_info": ver, "last_updated": ts, "endpoint_config": {"@type": format!("{T}envoy.config.endpoint.v3.ClusterLoadAssignment"),
            "cluster_name": cname(i), "endpoints": [{"locality": {}, "lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": format!("203.0.{}.{}", (i / 250) % 250, i % 250), "port_value": 443}}},
                 "health_status": "HEALTHY", "load_balancing_weight": 1}]}]}}))
        .collect();
    let dump = json!({"configs": [
        {"@type": format!("{T}envoy.admin.v3.BootstrapConfigDump"), "bootstrap": {"node": {
            "id": format!("router~10.8.{}.{}~{pod}.{ns}~{ns}.svc.cluster.local", k / 250, k % 250),
            "cluster": format!("egress-gw.{ns}"),
            "metadata": {"NAMESPACE": ns, "NAME": pod, "ISTIO_VERSION": if k % 50 == 7 { "1.29.2" } else { "1.30.0" }},
            "user_agent_name": "envoy",
            "user_agent_build_version": {"version": {"major_number": 1, "minor_number": 38, "patch": 0}}}}, "last_updated": ts},
        {"@type": format!("{T}envoy.admin.v3.ClustersConfigDump"), "version_info": ver, "dynamic_active_clusters": clusters},
        {"@type": format!("{T}envoy.admin.v3.ListenersConfigDump"), "version_info": lds_ver, "dynamic_listeners": listeners},
        {"@type": format!("{T}envoy.admin.v3.RoutesConfigDump"), "dynamic_route_configs": [{"version_info": ver, "last_updated": ts,
            "route_config": {"@type": format!("{T}envoy.config.route.v3.RouteConfiguration"), "name": "http.8080", "virtual_hosts": vhosts,
                "validate_clusters": false}}]},
        {"@type": format!("{T}envoy.admin.v3.EndpointsConfigDump"), "dynamic_endpoint_configs": endpoints}]});
    serde_json::to_vec(&dump).expect("a Value always serialises")
}
