//! `explain` against istiod's own tests of gateway listener building.
//!
//! Each case translates one subtest of istio/istio (Apache-2.0) into the
//! Gateway/VirtualService/Service/ServiceEntry/Pod YAML a user would hand
//! us, and asserts what that subtest asserts: the listener names istiod
//! builds, the filter chains of a listener, the SNI server names of a chain,
//! whether a call finds a listener at all. Sources, at the commits read:
//! - `pilot/pkg/networking/core/gateway_test.go` @ 0098d99f8e43fe516aaac5a84a131b4ce3c8b9d1
//! - `pilot/pkg/networking/core/gateway_simulation_test.go` @ 0cb5c33595cdfaea732178a4d70265ac0a762255
//!
//! Each case names its test function and subtest (the stored copies carry no
//! line numbers). Where the Istio test asserts only listener names, chain
//! counts marked `derived` follow from istiod's code (gateway.go,
//! model/gateway.go) and are checked too. The gateway pod of Istio's tests is
//! a router with labels `istio: ingressgateway`, IP 1.1.1.1 and no
//! UNPRIVILEGED_POD; it is written here as a Pod.

use std::collections::BTreeMap;

use assert_cmd::Command;
use serde_json::Value;

const GATEWAY_TEST: &str = "gateway_test.go";
const SIMULATION_TEST: &str = "gateway_simulation_test.go";

struct Case {
    /// `<file> <TestFunction>/<subtest>`.
    source: String,
    yaml: String,
    /// Listeners Envoy receives: name and chain count (None: the Istio test
    /// asserts the name only and no count is derived).
    sent: Vec<(&'static str, Option<usize>)>,
    /// Listeners istiod builds with zero chains and omits.
    omitted: Vec<&'static str>,
    /// Server names of each chain, in order, where asserted.
    server_names: Vec<(&'static str, Vec<Vec<&'static str>>)>,
    /// Findings that must appear, and that must not.
    codes: Vec<&'static str>,
    not_codes: Vec<&'static str>,
}

impl Case {
    fn new(file: &str, test: &str, subtest: &str, yaml: String) -> Self {
        Case {
            source: format!("{file} {test}/{subtest}"),
            yaml,
            sent: Vec::new(),
            omitted: Vec::new(),
            server_names: Vec::new(),
            codes: Vec::new(),
            not_codes: Vec::new(),
        }
    }
    fn sent(mut self, l: &[(&'static str, Option<usize>)]) -> Self {
        self.sent = l.to_vec();
        self
    }
    fn omitted(mut self, l: &[&'static str]) -> Self {
        self.omitted = l.to_vec();
        self
    }
    fn names(mut self, listener: &'static str, chains: &[&[&'static str]]) -> Self {
        self.server_names
            .push((listener, chains.iter().map(|c| c.to_vec()).collect()));
        self
    }
    fn codes(mut self, c: &[&'static str]) -> Self {
        self.codes = c.to_vec();
        self
    }
    fn not_codes(mut self, c: &[&'static str]) -> Self {
        self.not_codes = c.to_vec();
        self
    }
}

/// The gateway pod of Istio's tests; `env` is the proxy container's
/// environment.
fn pod(env: &[(&str, &str)]) -> String {
    let env: String = env
        .iter()
        .map(|(k, v)| format!("\n        - name: {k}\n          value: \"{v}\""))
        .collect();
    let env = if env.is_empty() {
        String::new()
    } else {
        format!("\n      env:{env}")
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: istio-ingressgateway\n  namespace: istio-system\n  labels:\n    istio: ingressgateway\nspec:\n  containers:\n    - name: istio-proxy\n      args: [proxy, router]{env}\nstatus:\n  podIP: 1.1.1.1\n---\n"
    )
}

/// A Gateway; `selector: false` writes none (it then applies to every
/// gateway pod). `servers` is the YAML of the server list items.
fn gateway(name: &str, ns: &str, selector: bool, servers: &[&str]) -> String {
    let sel = if selector {
        "\n  selector:\n    istio: ingressgateway"
    } else {
        ""
    };
    let servers: String = servers
        .iter()
        .map(|s| {
            let mut lines = s.trim().lines();
            let first = lines.next().unwrap_or("");
            let rest: String = lines.map(|l| format!("\n      {l}")).collect();
            format!("\n    - {first}{rest}")
        })
        .collect();
    format!(
        "apiVersion: networking.istio.io/v1alpha3\nkind: Gateway\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:{sel}\n  servers:{servers}\n---\n"
    )
}

/// `createGateway` of the simulation tests: namespace `default` unless
/// given, selector `istio: ingressgateway`.
fn sim_gateway(name: &str, ns: &str, servers: &[&str]) -> String {
    gateway(
        if name.is_empty() { "default" } else { name },
        if ns.is_empty() { "default" } else { ns },
        true,
        servers,
    )
}

/// `createGatewayWithServiceSelector`: a Gateway API Gateway that names its
/// Services instead of selecting pods.
fn service_gateway(name: &str, services: &str, servers: &[&str]) -> String {
    gateway(name, "istio-system", false, servers).replacen(
        "  namespace: istio-system\n",
        &format!("  namespace: istio-system\n  annotations:\n    internal.istio.io/gateway-service: \"{services}\"\n"),
        1,
    )
}

fn tcp_vs(name: &str, ns: &str, gateways: &str, hosts: &str, port: Option<u32>, dest: &str) -> String {
    let m = port.map_or(String::new(), |p| format!("\n      match:\n        - port: {p}"));
    format!(
        "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  gateways: [{gateways}]\n  hosts: [\"{hosts}\"]\n  tcp:\n    - route:\n        - destination:\n            host: {dest}{m}\n---\n"
    )
}

fn tls_vs(name: &str, ns: &str, gateways: &str, host: &str, port: Option<u32>, dest: &str) -> String {
    let p = port.map_or(String::new(), |p| format!("\n          port: {p}"));
    format!(
        "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  gateways: [{gateways}]\n  hosts: [\"{host}\"]\n  tls:\n    - match:\n        - sniHosts: [\"{host}\"]{p}\n      route:\n        - destination:\n            host: {dest}\n---\n"
    )
}

fn http_vs(name: &str, ns: &str, gateways: &str, hosts: &str, dest: &str, port: u32) -> String {
    format!(
        "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  gateways: [{gateways}]\n  hosts: [\"{hosts}\"]\n  http:\n    - route:\n        - destination:\n            host: {dest}\n            port:\n              number: {port}\n---\n"
    )
}

/// A ServiceEntry whose endpoint is the gateway pod (1.1.1.1).
fn service_entry(name: &str, ns: &str, host: &str, port: u32, target: u32, labels: &str) -> String {
    let labels = if labels.is_empty() {
        String::new()
    } else {
        format!("\n  labels:\n    {labels}")
    };
    format!(
        "apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: {name}\n  namespace: {ns}{labels}\nspec:\n  hosts: [\"{host}\"]\n  ports:\n    - number: {port}\n      targetPort: {target}\n      name: http\n      protocol: HTTP\n  resolution: STATIC\n  location: MESH_INTERNAL\n  endpoints:\n    - address: 1.1.1.1\n      labels:\n        istio: ingressgateway\n---\n"
    )
}

fn build_gateway_listeners() -> Vec<Case> {
    let t = "TestBuildGatewayListeners";
    let c = |sub: &str, yaml: String| Case::new(GATEWAY_TEST, t, sub, yaml);
    let http = |n: u32| format!("port: {{name: http, number: {n}, protocol: HTTP}}");
    vec![
        c(
            "targetPort overrides service port",
            pod(&[])
                + &gateway("gw", "ns1", false, &[&http(80)])
                + "apiVersion: v1\nkind: Service\nmetadata:\n  name: test\n  namespace: istio-system\nspec:\n  selector:\n    istio: ingressgateway\n  ports:\n    - port: 80\n      targetPort: 8080\n",
        )
        .sent(&[("0.0.0.0_8080", Some(1))]),
        c("multiple ports", pod(&[]) + &gateway("gw", "ns1", false, &[&http(80), &http(801)]))
            .sent(&[("0.0.0.0_80", Some(1)), ("0.0.0.0_801", Some(1))]),
        c(
            "privileged port on unprivileged pod",
            pod(&[("ISTIO_META_UNPRIVILEGED_POD", "true")]) + &gateway("gw", "ns1", false, &[&http(80), &http(8080)]),
        )
        .sent(&[("0.0.0.0_8080", Some(1))])
        .codes(&["XR0020"]),
        c(
            "privileged port on privileged pod when empty env var is set",
            pod(&[("ISTIO_META_UNPRIVILEGED_POD", "")]) + &gateway("gw", "ns1", false, &[&http(80), &http(8080)]),
        )
        .sent(&[("0.0.0.0_80", Some(1)), ("0.0.0.0_8080", Some(1))])
        .not_codes(&["XR0020"]),
        c(
            "privileged port on privileged pod",
            pod(&[]) + &gateway("gw", "ns1", false, &[&http(80), &http(8080)]),
        )
        .sent(&[("0.0.0.0_80", Some(1)), ("0.0.0.0_8080", Some(1))])
        .not_codes(&["XR0020"]),
        c(
            "gateway with bind",
            pod(&[])
                + &gateway(
                    "gw",
                    "ns1",
                    false,
                    &[
                        &http(80),
                        "port: {name: http, number: 8080, protocol: HTTP}\nhosts: [externalgatewayclient.com]",
                        "port: {name: http, number: 8080, protocol: HTTP}\nbind: 127.0.0.1\nhosts: [internalmesh.svc.cluster.local]",
                    ],
                ),
        )
        .sent(&[("0.0.0.0_80", Some(1)), ("0.0.0.0_8080", Some(1)), ("127.0.0.1_8080", Some(1))]),
        c(
            "gateway with simple and passthrough",
            pod(&[])
                + &gateway(
                    "gw-a",
                    "ns-a",
                    false,
                    &[
                        "port: {name: http, number: 443, protocol: HTTPS}\nhosts: [\"*.example.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: http, number: 80, protocol: HTTP}\nhosts: [foo.example.com]",
                    ],
                )
                + &gateway(
                    "passthrough-gateway",
                    "testns",
                    false,
                    &[
                        "port: {name: http, number: 443, protocol: HTTPS}\nhosts: [\"*.example.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: tcp, number: 9443, protocol: TLS}\nhosts: [barone.example.com]\ntls: {credentialName: test, mode: PASSTHROUGH}",
                        "port: {name: http, number: 80, protocol: HTTP}\nhosts: [bar.example.com]",
                    ],
                )
                + &tls_vs("vs", "ns-vs", "testns/passthrough-gateway", "barone.example.com", Some(9443), "foo.com"),
        )
        // derived: the second HTTPS server repeats `*.example.com` and is
        // skipped; both HTTP servers share http.80.
        .sent(&[("0.0.0.0_443", Some(1)), ("0.0.0.0_80", Some(1)), ("0.0.0.0_9443", Some(1))])
        .names("0.0.0.0_9443", &[&["barone.example.com"]])
        .codes(&["XR0045"]),
        c(
            "gateway with multiple http servers",
            pod(&[])
                + &gateway(
                    "gateway1",
                    "testns",
                    false,
                    &[
                        "port: {name: http, number: 443, protocol: HTTPS}\nhosts: [\"*.example.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: http, number: 80, protocol: HTTP}\nhosts: [foo.example.com]",
                    ],
                )
                + &gateway(
                    "gateway2",
                    "testns",
                    false,
                    &[
                        "port: {name: http, number: 443, protocol: HTTPS}\nhosts: [\"*.exampleone.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: http, number: 80, protocol: HTTP}\nhosts: [bar.example.com]",
                    ],
                ),
        )
        .sent(&[("0.0.0.0_443", Some(2)), ("0.0.0.0_80", Some(1))])
        .names("0.0.0.0_443", &[&["*.example.com"], &["*.exampleone.com"]]),
        c(
            "gateway with multiple TLS HTTPS TCP servers",
            pod(&[])
                + &gateway(
                    "gateway1",
                    "testns",
                    false,
                    &[
                        "port: {name: tcp, number: 443, protocol: TLS}\nhosts: [\"*.example.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: tcp, number: 443, protocol: HTTPS}\nhosts: [https.example.com]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: tcp, number: 9443, protocol: TCP}\nhosts: [tcp.example.com]",
                    ],
                )
                + &gateway(
                    "gateway2",
                    "testns",
                    false,
                    &[
                        "port: {name: http, number: 443, protocol: HTTPS}\nhosts: [\"*.exampleone.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: tcp, number: 443, protocol: TLS}\nhosts: [\"*.exampleone.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                    ],
                )
                + &tcp_vs("vs", "ns-vs", "testns/gateway1", "tcp.example.com", Some(9443), "foo.com"),
        )
        // derived: the TLS server on 443 has no tcp route for port 443; the
        // last TLS server repeats `*.exampleone.com` and is skipped.
        .sent(&[("0.0.0.0_443", Some(2)), ("0.0.0.0_9443", Some(1))])
        .codes(&["XR0045"]),
        c(
            "gateway with multiple TCP/HTTPS servers with bind",
            pod(&[])
                + &gateway("gateway1", "testns", false, &["port: {name: tcp, number: 8000, protocol: TCP}\nhosts: [\"*\"]\nbind: 10.0.0.1"])
                + &gateway("gateway2", "testns", false, &["port: {name: tcp, number: 8000, protocol: TCP}\nhosts: [\"*\"]\nbind: 10.0.0.2"])
                + &gateway(
                    "gateway3",
                    "testns",
                    false,
                    &["port: {name: https, number: 8000, protocol: HTTPS}\nhosts: [\"*\"]\nbind: 10.0.0.3\ntls: {credentialName: test, mode: SIMPLE}"],
                )
                + &tcp_vs("vs1", "ns-vs", "testns/gateway1", "*", Some(8000), "foo.com")
                + &tcp_vs("vs2", "ns-vs", "testns/gateway2", "*", Some(8000), "foo.com")
                + &http_vs("vs3", "ns-vs", "testns/gateway3", "*", "grpc.example.org", 80),
        )
        .sent(&[("10.0.0.1_8000", Some(1)), ("10.0.0.2_8000", Some(1)), ("10.0.0.3_8000", Some(1))]),
        c(
            "gateway with HTTPS/GRPC servers with bind",
            pod(&[])
                + &gateway(
                    "gateway1",
                    "testns",
                    false,
                    &["port: {name: https, number: 443, protocol: HTTPS}\nhosts: [\"*\"]\nbind: 10.0.0.1\ntls: {credentialName: test, mode: SIMPLE}"],
                )
                + &gateway("gateway2", "testns", false, &["port: {name: grpc, number: 443, protocol: GRPC}\nbind: 10.0.0.2\nhosts: [\"*\"]"])
                + &gateway("gateway3", "testns", false, &["port: {name: grpc, number: 443, protocol: GRPC}\nhosts: [grpc.example.org]"])
                + &http_vs("vs1", "ns-vs", "testns/gateway1", "*", "example.org", 80)
                + &http_vs("vs2", "ns-vs", "testns/gateway2", "*", "grpc.example.org", 80)
                + &http_vs("vs3", "ns-vs", "testns/gateway3", "grpc.example.org", "grpc.example.org", 80),
        )
        .sent(&[("10.0.0.1_443", Some(1)), ("10.0.0.2_443", Some(1)), ("0.0.0.0_443", Some(1))]),
        c(
            "gateway with HTTPS/TCP invalid configuration",
            pod(&[])
                + &gateway(
                    "gateway1",
                    "testns",
                    false,
                    &[
                        "port: {name: https, number: 443, protocol: HTTPS}\nhosts: [\"*.1.example.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: tcp, number: 443, protocol: TCP}\nhosts: [\"*.1.example.com\"]",
                    ],
                )
                + &gateway(
                    "gateway2",
                    "testns",
                    false,
                    &[
                        "port: {name: https, number: 443, protocol: HTTPS}\nhosts: [\"*.2.example.com\"]\ntls: {credentialName: test, mode: SIMPLE}",
                        "port: {name: tcp, number: 443, protocol: TCP}\nhosts: [\"*.2.example.com\"]",
                    ],
                )
                + &tcp_vs("vs1", "ns-vs", "testns/gateway1", "*", None, "example.com")
                + &tcp_vs("vs2", "ns-vs", "testns/gateway2", "*", None, "example.com"),
        )
        // derived: two HTTPS chains and gateway1's TCP server; gateway2's
        // TCP server is skipped (no TLS on a port of TLS servers).
        .sent(&[("0.0.0.0_443", Some(3))])
        .codes(&["XR0045"]),
        c(
            "gateway with multiple HTTPS servers with bind and same host",
            pod(&[])
                + &gateway(
                    "gateway1",
                    "testns",
                    false,
                    &["port: {name: tcp, number: 443, protocol: HTTPS}\nhosts: [\"*\"]\nbind: 10.0.0.1\ntls: {credentialName: test, mode: SIMPLE}"],
                )
                + &gateway(
                    "gateway2",
                    "testns",
                    false,
                    &["port: {name: tcp, number: 443, protocol: HTTPS}\nhosts: [\"*\"]\nbind: 10.0.0.2\ntls: {credentialName: test, mode: SIMPLE}"],
                )
                + &tcp_vs("vs1", "ns-vs", "testns/gateway1", "*", Some(9443), "foo.com")
                + &tcp_vs("vs2", "ns-vs", "testns/gateway2", "*", Some(9443), "foo.com"),
        )
        .sent(&[("10.0.0.1_443", Some(1)), ("10.0.0.2_443", Some(1))])
        .not_codes(&["XR0045", "XR0047"]),
    ]
}

fn build_gateway_listeners_filters() -> Vec<Case> {
    let t = "TestBuildGatewayListenersFilters";
    let c = |sub: &str, yaml: String| Case::new(GATEWAY_TEST, t, sub, yaml);
    // The AuthorizationPolicy, Telemetry and WasmPlugin objects of these
    // subtests change filters inside the chains, not the chains: left out.
    let terminated = gateway(
        "terminated-tls-gateway",
        "testns",
        false,
        &["port: {name: tls, number: 5678, protocol: TLS}\nhosts: [barone.example.com]\ntls: {credentialName: test, mode: SIMPLE}"],
    ) + &tcp_vs("vs", "ns-vs", "testns/terminated-tls-gateway", "barone.example.com", Some(5678), "foo.com");
    let http80 = gateway(
        "http-server",
        "testns",
        false,
        &["port: {name: http, number: 80, protocol: HTTP}"],
    );
    vec![
        c("http server", pod(&[]) + &http80).sent(&[("0.0.0.0_80", Some(1))]),
        c(
            "passthrough server",
            pod(&[])
                + &gateway(
                    "passthrough-gateway",
                    "testns",
                    false,
                    &["port: {name: tls, number: 9443, protocol: TLS}\nhosts: [barone.example.com]\ntls: {mode: PASSTHROUGH}"],
                )
                + &tls_vs("vs", "ns-vs", "testns/passthrough-gateway", "barone.example.com", Some(9443), "foo.com"),
        )
        .sent(&[("0.0.0.0_9443", Some(1))]),
        c("terminated-tls server", pod(&[]) + &terminated).sent(&[("0.0.0.0_5678", Some(1))]),
        c(
            "non-http istio-mtls server",
            pod(&[])
                + &gateway(
                    "non-http-gateway",
                    "testns",
                    false,
                    &["port: {name: mtls, number: 15443, protocol: TLS}\nhosts: [barone.example.com]\ntls: {mode: ISTIO_MUTUAL}"],
                )
                + &tcp_vs("vs", "ns-vs", "testns/non-http-gateway", "barone.example.com", Some(15443), "foo.com"),
        )
        .sent(&[("0.0.0.0_15443", Some(1))])
        .names("0.0.0.0_15443", &[&["barone.example.com"]]),
        c(
            "http and tcp istio-mtls server",
            pod(&[])
                + &gateway(
                    "gateway",
                    "testns",
                    false,
                    &[
                        "port: {name: mtls, number: 15443, protocol: HTTPS}\nhosts: [www.example.com]\ntls: {mode: ISTIO_MUTUAL}",
                        "port: {name: mtls, number: 15443, protocol: TLS}\nhosts: [tcp.example.com]\ntls: {mode: ISTIO_MUTUAL}",
                    ],
                )
                + &http_vs("vs1", "ns-vs", "testns/gateway", "www.example.com", "http.com", 80)
                + &tcp_vs("vs2", "ns-vs", "testns/gateway", "tcp.example.com", Some(15443), "tcp.com"),
        )
        .sent(&[("0.0.0.0_15443", Some(2))])
        .names("0.0.0.0_15443", &[&["www.example.com"], &["tcp.example.com"]]),
        c("http server with proxy proto", pod(&[]) + &http80).sent(&[("0.0.0.0_80", Some(1))]),
        c("terminated-tls server with proxy proto", pod(&[]) + &terminated).sent(&[("0.0.0.0_5678", Some(1))]),
        c(
            "TCP RBAC and Stats",
            pod(&[])
                + &gateway("gateway", "testns", false, &["port: {name: tcp, number: 100, protocol: TCP}\nhosts: [www.example.com]"])
                + &tcp_vs("vs", "ns-vs", "testns/gateway", "www.example.com", None, "http.com"),
        )
        .sent(&[("0.0.0.0_100", Some(1))]),
        c(
            "mTLS, RBAC, WASM, and Stats",
            pod(&[])
                + &gateway(
                    "gateway",
                    "testns",
                    false,
                    &["port: {name: tcp, number: 100, protocol: TCP}\ntls: {mode: ISTIO_MUTUAL}\nhosts: [www.example.com]"],
                )
                + &tcp_vs("vs", "ns-vs", "testns/gateway", "www.example.com", None, "http.com"),
        )
        .sent(&[("0.0.0.0_100", Some(1))]),
        c(
            "HTTP RBAC, WASM, and Stats",
            pod(&[])
                + &gateway("gateway", "testns", false, &["port: {name: http, number: 200, protocol: HTTP}\nhosts: [www.example.com]"])
                + &http_vs("vs", "ns-vs", "testns/gateway", "www.example.com", "http.com", 80),
        )
        .sent(&[("0.0.0.0_200", Some(1))]),
    ]
}

fn sni_overlap() -> Vec<Case> {
    // The subtests assert that istiod's listeners pass validation: no two
    // chains with the same match.
    let t = "TestGatewayFilterChainSNIOverlap";
    let c = |sub: &str, yaml: String| Case::new(GATEWAY_TEST, t, sub, yaml);
    let example = "port: {name: example, number: 443, protocol: TLS}\nhosts: [example.com]\ntls: {mode: PASSTHROUGH}";
    let wildcard = "port: {name: wildcard-tls, number: 443, protocol: HTTPS}\nhosts: [\"*\"]\ntls: {mode: PASSTHROUGH}";
    vec![
        c(
            "no sni overlap",
            pod(&[])
                + &gateway("gw", "testns", false, &[example])
                + &tls_vs("example", "testns", "testns/gw", "example.com", None, "example"),
        )
        .sent(&[("0.0.0.0_443", Some(1))])
        .names("0.0.0.0_443", &[&["example.com"]])
        .not_codes(&["XR0047"]),
        c(
            "sni overlap in one gateway",
            pod(&[])
                + &gateway("gw", "testns", false, &[example, wildcard])
                + &tls_vs("example", "testns", "testns/gw", "example.com", None, "example"),
        )
        // derived: the wildcard server's copy of the rule repeats SNI
        // example.com on the port and is skipped.
        .sent(&[("0.0.0.0_443", Some(1))])
        .codes(&["XR0019"])
        .not_codes(&["XR0047"]),
        c(
            "sni overlap in two gateways",
            pod(&[])
                + &gateway("gw1", "testns", false, &[example])
                + &gateway("gw2", "testns", false, &[wildcard])
                + &tls_vs("example", "testns", "testns/gw2", "example.com", None, "example"),
        )
        .sent(&[("0.0.0.0_443", Some(1))])
        .not_codes(&["XR0047"]),
    ]
}

fn http_filter_chain_opts() -> Vec<Case> {
    // TestCreateGatewayHTTPFilterChainOpts asserts the SNI hosts of the
    // chain built for one server; "QUIC protocol with server name" builds
    // an HTTP/3 chain, which istiod makes only with PILOT_ENABLE_QUIC_LISTENERS
    // (off by default): not modelled, left out.
    let t = "TestCreateGatewayHTTPFilterChainOpts";
    let one = |sub: &str, server: &str, names: &[&'static str]| {
        let names: Vec<&'static str> = names.to_vec();
        Case::new(
            GATEWAY_TEST,
            t,
            sub,
            pod(&[]) + &gateway("gw", "testns", false, &[server]),
        )
        .sent(&[("0.0.0.0_443", Some(1))])
        .names("0.0.0.0_443", &[&names])
    };
    vec![
        Case::new(
            GATEWAY_TEST,
            t,
            "HTTP1.0 mode enabled",
            pod(&[]) + &gateway("gw", "testns", false, &["port: {name: http, number: 80, protocol: HTTP}"]),
        )
        .sent(&[("0.0.0.0_80", Some(1))])
        .names("0.0.0.0_80", &[&[]]),
        one(
            "Duplicate hosts in TLS filterChain",
            "port: {name: https, number: 443, protocol: HTTPS}\nhosts: [example.org, example.org]\ntls: {mode: ISTIO_MUTUAL}",
            &["example.org"],
        ),
        one(
            "Unique hosts in TLS filterChain",
            "port: {name: https, number: 443, protocol: HTTPS}\nhosts: [example.org, test.org]\ntls: {mode: ISTIO_MUTUAL}",
            &["example.org", "test.org"],
        ),
        one(
            "Wildcard hosts in TLS filterChain are not duplicates",
            "port: {name: https, number: 443, protocol: HTTPS}\nhosts: [\"*.example.org\", example.org]\ntls: {mode: ISTIO_MUTUAL}",
            &["*.example.org", "example.org"],
        ),
        Case::new(
            GATEWAY_TEST,
            t,
            "Topology HTTP Protocol",
            pod(&[]) + &gateway("gw", "testns", false, &["port: {name: http, number: 80, protocol: HTTP}"]),
        )
        .sent(&[("0.0.0.0_80", Some(1))])
        .names("0.0.0.0_80", &[&[]]),
        one(
            "Topology HTTPS Protocol",
            "port: {name: https, number: 443, protocol: HTTPS}\nhosts: [example.org]\ntls: {mode: ISTIO_MUTUAL}",
            &["example.org"],
        ),
        one(
            "HTTPS Protocol with server name",
            "name: server1\nport: {name: https, number: 443, protocol: HTTPS}\nhosts: [example.org]\ntls: {mode: ISTIO_MUTUAL}",
            &["example.org"],
        ),
    ]
}

fn simulation() -> Vec<Case> {
    let f = SIMULATION_TEST;
    let http80_foo = "port: {number: 80, name: http, protocol: HTTP}\nhosts: [\"foo.bar\"]";
    let tcp80_foo = "port: {number: 80, name: tcp, protocol: TCP}\nhosts: [\"foo.bar\"]";
    let tls_server = "hosts: [\"./*\"]\nport: {name: https-ingress, number: 443, protocol: HTTPS}\ntls: {credentialName: sds-credential, mode: SIMPLE}";
    let redirect =
        "port: {number: 80, name: http, protocol: HTTP}\nhosts: [\"example.com\"]\ntls: {httpsRedirect: true}";
    let simple_route = http_vs("vs", "default", "gateway", "example.com", "b", 80);
    let collision = tcp_vs("bookinfo", "default", "istio-system/gateway", "*", None, "productpage");
    let port_translation_vs = http_vs("a", "default", "gateway80, gateway8081", "example.com", "a", 80)
        + &http_vs("b", "default", "gateway80, gateway8081", "example.com", "b", 8081);
    let gw80 = "port: {number: 80, name: http, protocol: HTTP}\nhosts: [\"example.com\"]";
    let gw8081 = "port: {number: 8081, name: http, protocol: HTTP}\nhosts: [\"example.com\"]";
    let no_translation = "experimental.istio.io/disable-gateway-port-translation: \"true\"";
    let svc_gw =
        |n: u32| format!("port: {{number: {n}, name: http-{n}, protocol: HTTP}}\nhosts: [\"{n}.example.com\"]");
    let a_vs = http_vs("a", "default", "istio-system/gateway", "*.example.com", "a", 80);
    vec![
        Case::new(
            f,
            "TestDisablePortTranslation",
            "multiple target port, target port first",
            pod(&[])
                + &sim_gateway("gateway80", "", &[gw80])
                + &sim_gateway("gateway8081", "", &[gw8081])
                + &service_entry("service-instance", "istio-system", "a.example.com", 80, 8081, no_translation)
                + &service_entry("service-instance-2", "istio-system", "b.example.com", 80, 8080, "")
                + &port_translation_vs,
        )
        .sent(&[("0.0.0.0_8080", Some(1)), ("0.0.0.0_8081", Some(1))]),
        Case::new(
            f,
            "TestDisablePortTranslation",
            "multiple target port, service port first",
            pod(&[])
                + &sim_gateway("gateway80", "", &[gw80])
                + &sim_gateway("gateway8081", "", &[gw8081])
                + &service_entry("service-instance", "istio-system", "b.example.com", 80, 8081, no_translation)
                + &service_entry("service-instance-2", "istio-system", "a.example.com", 80, 8080, "")
                + &port_translation_vs,
        )
        .sent(&[("0.0.0.0_8080", Some(1)), ("0.0.0.0_8081", Some(1))]),
        Case::new(f, "TestHTTPGateway", "no virtual services", pod(&[]) + &sim_gateway("", "", &[http80_foo]))
            .sent(&[("0.0.0.0_80", Some(1))]),
        Case::new(
            f,
            "TestHTTPGateway",
            "simple http and virtual service",
            pod(&[]) + &sim_gateway("gateway", "", &[http80_foo]) + &http_vs("bookinfo", "default", "gateway", "*", "productpage", 9080),
        )
        .sent(&[("0.0.0.0_80", Some(1))]),
        Case::new(
            f,
            "TestHTTPGateway",
            "virtual service merging",
            pod(&[])
                + &sim_gateway("gateway", "", &["port: {number: 80, name: http, protocol: HTTP}\nhosts: [\"*.example.com\"]"])
                + &http_vs("a", "default", "gateway", "a.example.com", "a", 80)
                + &http_vs("b", "default", "gateway", "b.example.com", "b", 80),
        )
        .sent(&[("0.0.0.0_80", Some(1))]),
        Case::new(f, "TestHTTPGateway", "httpsRedirect without routes", pod(&[]) + &sim_gateway("gateway", "", &[redirect]))
            .sent(&[("0.0.0.0_80", Some(1))]),
        Case::new(
            f,
            "TestHTTPGateway",
            "httpsRedirect with routes",
            pod(&[]) + &sim_gateway("gateway", "", &[redirect]) + &simple_route,
        )
        .sent(&[("0.0.0.0_80", Some(1))]),
        Case::new(
            f,
            "TestHTTPGateway",
            "mixed httpsRedirect with routes",
            pod(&[])
                + &sim_gateway("gateway", "", &[redirect])
                + &sim_gateway("gateway2", "", &["port: {number: 80, name: http, protocol: HTTP}\nhosts: [\"example.com\"]"])
                + &simple_route,
        )
        .sent(&[("0.0.0.0_80", Some(1))]),
        Case::new(
            f,
            "TestHTTPGateway",
            "httpsRedirect on https",
            pod(&[])
                + &sim_gateway(
                    "gateway",
                    "",
                    &["port: {number: 443, name: https, protocol: HTTPS}\nhosts: [\"example.com\"]\ntls: {httpsRedirect: true, mode: SIMPLE, credentialName: test}"],
                )
                + &simple_route,
        )
        .sent(&[("0.0.0.0_443", Some(1))]),
        Case::new(
            f,
            "TestGatewayConflicts",
            "duplicate cross namespace gateway collision",
            pod(&[]) + &sim_gateway("gateway", "istio-system", &[tcp80_foo]) + &sim_gateway("gateway", "alpha", &[tcp80_foo]) + &collision,
        )
        .omitted(&["0.0.0.0_80"])
        .codes(&["XR0045", "XR0012"]),
        Case::new(
            f,
            "TestGatewayConflicts",
            "duplicate cross namespace gateway collision - selected first",
            pod(&[]) + &sim_gateway("gateway", "istio-system", &[tcp80_foo]) + &sim_gateway("gateway", "zeta", &[tcp80_foo]) + &collision,
        )
        .sent(&[("0.0.0.0_80", Some(1))])
        .codes(&["XR0045"]),
        Case::new(
            f,
            "TestGatewayConflicts",
            "duplicate tls gateway",
            pod(&[]) + &sim_gateway("", "istio-system", &[tls_server]) + &sim_gateway("", "default", &[tls_server]),
        )
        // Envoy would reject it: the simulation reports multiple matching chains.
        .sent(&[("0.0.0.0_443", Some(2))])
        .names("0.0.0.0_443", &[&[], &[]])
        .codes(&["XR0047"])
        .not_codes(&["XR0045"]),
        Case::new(
            f,
            "TestGatewayConflicts",
            "duplicate tls virtual service",
            pod(&[])
                + &gateway(
                    "ingressgateway",
                    "istio-system",
                    true,
                    &["hosts: [\"*.example.com\"]\nport: {name: https, number: 443, protocol: HTTPS}\ntls: {mode: PASSTHROUGH}"],
                )
                + &tls_vs("vs1", "default", "istio-system/ingressgateway", "mysite.example.com", Some(443), "mysite.default.svc.cluster.local")
                + &tls_vs("vs2", "default", "istio-system/ingressgateway", "mysite.example.com", Some(443), "mysite.default.svc.cluster.local"),
        )
        .sent(&[("0.0.0.0_443", Some(1))])
        .codes(&["XR0019"]),
        Case::new(
            f,
            "TestGatewayConflicts",
            "multiple protocols on a port - tcp first",
            pod(&[]) + &sim_gateway("alpha", "", &[tcp80_foo]) + &sim_gateway("beta", "", &[http80_foo]),
        )
        .omitted(&["0.0.0.0_80"])
        .codes(&["XR0045", "XR0012"]),
        Case::new(
            f,
            "TestGatewayConflicts",
            "multiple protocols on a port - http first",
            pod(&[]) + &sim_gateway("beta", "", &[tcp80_foo]) + &sim_gateway("alpha", "", &[http80_foo]),
        )
        .sent(&[("0.0.0.0_80", Some(1))])
        .codes(&["XR0045"]),
        Case::new(
            f,
            "TestGatewayConflicts",
            "multiple wildcards with virtual service disambiguator",
            pod(&[])
                + &sim_gateway("alpha", "", &["hosts: [\"ns-1/*.example.com\"]\nport: {name: http, number: 80, protocol: HTTP}"])
                + &sim_gateway("beta", "", &["hosts: [\"ns-2/*.example.com\"]\nport: {name: http, number: 80, protocol: HTTP}"])
                + &http_vs("default", "ns-1", "default/alpha", "ns-1.example.com", "echo", 80)
                + &http_vs("default", "ns-2", "default/beta", "ns-2.example.com", "echo", 80),
        )
        .sent(&[("0.0.0.0_80", Some(1))])
        .not_codes(&["XR0045"]),
        Case::new(
            f,
            "TestGatewayConflicts",
            "multiple virtual services that should become separate vhosts",
            pod(&[])
                + &gateway(
                    "public-gw",
                    "istio-system",
                    true,
                    &["port: {number: 80, name: http, protocol: HTTP}\nhosts: [foo.example.com, bar.example.com]"],
                )
                + &http_vs("foobar-vs", "default", "istio-system/public-gw", "foo.example.com", "echo-foobar", 80)
                + &http_vs("foo-vs", "default", "istio-system/public-gw", "foo.example.com", "echo-foo", 80)
                + &http_vs("bar-vs", "default", "istio-system/public-gw", "bar.example.com", "echo-bar", 80),
        )
        .sent(&[("0.0.0.0_80", Some(1))]),
        Case::new(
            f,
            "TestTargetPort",
            "basic",
            pod(&[])
                + &service_gateway("gateway80", "istio-ingressgateway.istio-system.svc.cluster.local", &[gw80])
                + &service_gateway(
                    "gateway81",
                    "istio-ingressgateway.istio-system.svc.cluster.local",
                    &["port: {number: 8080, name: http, protocol: HTTP}\nhosts: [\"example.com\"]"],
                )
                + &service_entry("service-instance", "istio-system", "istio-ingressgateway.istio-system.svc.cluster.local", 80, 8080, "")
                + &http_vs("a", "default", "istio-system/gateway80, istio-system/gateway81", "example.com", "a", 80),
        )
        .sent(&[("0.0.0.0_8080", Some(1))]),
        Case::new(
            f,
            "TestTargetPort",
            "multiple target port",
            pod(&[])
                + &service_gateway("gateway80", "ingress1.istio-system.svc.cluster.local", &[gw80])
                + &service_gateway("gateway81", "ingress2.istio-system.svc.cluster.local", &[gw80])
                + &service_entry("service-instance", "istio-system", "ingress1.istio-system.svc.cluster.local", 80, 8080, "")
                + &service_entry("service-instance-2", "istio-system", "ingress2.istio-system.svc.cluster.local", 80, 8081, "")
                + &http_vs("a", "default", "istio-system/gateway80, istio-system/gateway81", "example.com", "a", 80),
        )
        .sent(&[("0.0.0.0_8080", Some(1)), ("0.0.0.0_8081", Some(1))]),
        Case::new(
            f,
            "TestGatewayServices",
            "single service",
            pod(&[])
                + &service_gateway("gateway", "istio-ingressgateway.istio-system.svc.cluster.local", &[&svc_gw(80), &svc_gw(82)])
                + &service_entry("service-instance", "istio-system", "istio-ingressgateway.istio-system.svc.cluster.local", 80, 8080, "")
                + &a_vs,
        )
        .sent(&[("0.0.0.0_8080", Some(1))]),
        Case::new(
            f,
            "TestGatewayServices",
            "wrong namespace",
            pod(&[])
                + &service_gateway("gateway", "istio-ingressgateway.not-istio-system.svc.cluster.local", &[&svc_gw(80)])
                + &service_entry(
                    "service-instance",
                    "not-istio-system",
                    "istio-ingressgateway.not-istio-system.svc.cluster.local",
                    80,
                    80,
                    "",
                ),
        )
        .sent(&[]),
        Case::new(
            f,
            "TestGatewayServices",
            "multiple services",
            pod(&[])
                + &service_gateway(
                    "gateway",
                    "istio-ingressgateway.istio-system.svc.cluster.local,ingress.com",
                    &[&svc_gw(80), &svc_gw(81), &svc_gw(82)],
                )
                + &service_entry("service-instance", "istio-system", "istio-ingressgateway.istio-system.svc.cluster.local", 80, 8080, "")
                + &service_entry("service-instance2", "istio-system", "ingress.com", 81, 8081, "")
                + &a_vs,
        )
        .sent(&[("0.0.0.0_8080", Some(1)), ("0.0.0.0_8081", Some(1))]),
        Case::new(
            f,
            "TestGatewayServices",
            "multiple overlapping services",
            pod(&[])
                + &service_gateway(
                    "gateway",
                    "istio-ingressgateway.istio-system.svc.cluster.local,ingress.com",
                    &[&svc_gw(80), &svc_gw(81)],
                )
                + &service_entry("service-instance", "istio-system", "istio-ingressgateway.istio-system.svc.cluster.local", 80, 8080, "")
                + &service_entry("service-instance2", "istio-system", "ingress.com", 81, 8080, "")
                + &http_vs("a-80", "default", "istio-system/gateway", "80.example.com", "a", 80)
                + &http_vs("a-81", "default", "istio-system/gateway", "81.example.com", "a", 80),
        )
        .sent(&[("0.0.0.0_8080", Some(1))]),
        Case::new(
            f,
            "TestGatewayServices",
            "no match selector",
            pod(&[])
                + &sim_gateway("gateway", "istio-system", &[&svc_gw(80), &svc_gw(82)])
                + &service_entry("service-instance", "istio-system", "istio-ingressgateway.istio-system.svc.cluster.local", 80, 8080, "")
                + &a_vs,
        )
        .sent(&[("0.0.0.0_8080", Some(1)), ("0.0.0.0_82", Some(1))]),
    ]
    // Left out: TestGatewayServices/"multiple overlapping services wildcard"
    // repeats "multiple overlapping services" with a wildcard VirtualService
    // (same listeners); "overlapping SNI match" asserts no call; TestIngress
    // builds from Kubernetes Ingress objects, which explain does not read.
}

fn explain_json(yaml: &str, dir: &std::path::Path, n: usize) -> Value {
    let path = dir.join(format!("case-{n}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    let out = Command::cargo_bin("egress-xray")
        .unwrap()
        .args(["explain", "--istio", &path.to_string_lossy(), "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every translated case, checked; all disagreements are listed together.
#[test]
fn explain_agrees_with_istiods_gateway_tests() {
    let dir = std::env::temp_dir().join(format!("egress-xray-istiod-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = build_gateway_listeners();
    cases.extend(build_gateway_listeners_filters());
    cases.extend(sni_overlap());
    cases.extend(http_filter_chain_opts());
    cases.extend(simulation());
    let mut failures = Vec::new();
    let mut checks = 0;
    for (n, case) in cases.iter().enumerate() {
        let v = explain_json(&case.yaml, &dir, n);
        let listeners: BTreeMap<String, &Value> = v["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["name"].as_str().unwrap().to_string(), l))
            .collect();
        let chains = |name: &str| {
            listeners
                .get(name)
                .map(|l| l["predicted_chains"].as_u64().unwrap() as usize)
        };
        let sent: Vec<&str> = listeners
            .iter()
            .filter(|(_, l)| l["predicted_chains"].as_u64() > Some(0))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut want: Vec<&str> = case.sent.iter().map(|(n, _)| *n).collect();
        want.sort();
        let mut fail = |what: String| failures.push(format!("{}: {what}", case.source));
        checks += 1;
        if sent != want {
            fail(format!("listeners sent {sent:?}, Istio {want:?}"));
        }
        for (name, count) in &case.sent {
            if let Some(count) = count {
                checks += 1;
                if chains(name) != Some(*count) {
                    fail(format!("{name}: {:?} chains, Istio {count}", chains(name)));
                }
            }
        }
        for name in &case.omitted {
            checks += 1;
            if chains(name) != Some(0) {
                fail(format!("{name}: predicted {:?} chains, Istio omits it", chains(name)));
            }
        }
        for (name, want) in &case.server_names {
            checks += 1;
            let got: Vec<Vec<String>> = listeners
                .get(*name)
                .map(|l| {
                    l["chains"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| {
                            c["server_names"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|s| s.as_str().unwrap().to_string())
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            if got != *want {
                fail(format!("{name}: server names {got:?}, Istio {want:?}"));
            }
        }
        let codes: Vec<&str> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        for c in &case.codes {
            checks += 1;
            if !codes.contains(c) {
                fail(format!("no {c} finding: {codes:?}"));
            }
        }
        for c in &case.not_codes {
            checks += 1;
            if codes.contains(c) {
                fail(format!("unexpected {c} finding: {}", v["findings"]));
            }
        }
        // Each case is about a gateway pod it can see: explain never falls
        // back to guessing workloads from selectors here.
        if v["limits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("assumed to match"))
        {
            fail("the gateway Pod was not used".into());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{} Istio gateway cases, {checks} checks", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {checks} checks disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases.len() >= 50, "{} cases", cases.len());
}
