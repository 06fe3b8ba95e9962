//! Route view: one row per route of every virtual host of every route
//! configuration (RDS, static and inline in a listener), with istioctl's
//! columns plus what the route does and where the configuration came from.

use envoy_types::pb::envoy::config::route::v3::{header_matcher, route, route_action, Route, RouteMatch};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use serde::Serialize;

use super::filter::{keep, TextFilter};
use super::inventory::describe_route_match;
use crate::model::istio::IstioConfigRef;
use crate::model::{Index, RouteOrigin, State};

#[derive(Debug, Clone, Serialize)]
pub struct RouteView {
    /// The proxy the row is from (`pod.namespace`, else the node id or file).
    pub proxy: String,
    /// The route configuration's name (empty for most inline ones).
    pub route_config: String,
    pub origin: RouteOrigin,
    /// Listed in the dump's routes section (what istioctl shows).
    pub in_routes_section: bool,
    pub state: State,
    pub vhost: String,
    pub domains: Vec<String>,
    /// istioctl's DOMAINS column: the one domain, or the shortest names
    /// without a port (at most two, then `+ N more...`).
    pub domains_summary: String,
    pub route_name: String,
    /// istioctl's MATCH column (`/prefix*`, `/exact`, `PathPrefix:/p`,
    /// `regex r`); `/*` for a virtual host without routes.
    #[serde(rename = "match")]
    pub match_summary: String,
    /// Header, query and other conditions istioctl does not print.
    pub conditions: Vec<String>,
    /// What the route does: `cluster X`, `weighted A 90%, B 10%`,
    /// `redirect ...`, `direct_response 404`, `404 (no routes)`.
    pub action: String,
    /// The clusters it may send to.
    pub clusters: Vec<String>,
    /// The VirtualService (or HTTPRoute) it came from.
    pub virtual_service: Option<IstioConfigRef>,
    /// True when the virtual host has no routes (Envoy answers 404).
    pub no_routes: bool,
    pub version_info: String,
    pub last_updated: Option<String>,
}

/// What `routes` keeps; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    /// The route configuration's name (`http.8080`, `80`).
    pub name: Option<TextFilter>,
    pub domain: Option<TextFilter>,
    /// A cluster the route may send to.
    pub cluster: Option<TextFilter>,
    pub state: Option<State>,
}

impl RouteFilter {
    pub fn keep(&self, r: &RouteView) -> bool {
        keep(&self.name, &r.route_config)
            && self.domain.as_ref().is_none_or(|d| d.any(&r.domains))
            && self.cluster.as_ref().is_none_or(|c| c.any(&r.clusters))
            && self.state.is_none_or(|s| r.state == s)
    }
}

/// Rows in istioctl's order: RDS configurations before static and inline
/// ones, each as the dump lists it (numerically named configurations sorted
/// among themselves), routes in evaluation order.
pub fn routes(ix: &Index) -> Vec<RouteView> {
    let proxy = ix.proxy_name();
    let mut entries: Vec<_> = ix.route_configs.iter().collect();
    entries.sort_by_key(|e| !matches!(e.origin, RouteOrigin::Rds));
    sort_numeric_names(&mut entries, |e| e.name.as_str());
    let mut rows = Vec::new();
    for e in entries {
        let rc = e.route_config();
        for vh in &rc.virtual_hosts {
            let base = RouteView {
                proxy: proxy.clone(),
                route_config: e.name.clone(),
                origin: e.origin.clone(),
                in_routes_section: e.in_routes_section,
                state: e.state,
                vhost: vh.name.clone(),
                domains: vh.domains.clone(),
                domains_summary: describe_domains(&vh.domains),
                route_name: String::new(),
                match_summary: "/*".into(),
                conditions: Vec::new(),
                action: "404 (no routes)".into(),
                clusters: Vec::new(),
                virtual_service: None,
                no_routes: true,
                version_info: e.stamp.version_info.clone(),
                last_updated: e.stamp.last_updated.clone(),
            };
            if vh.routes.is_empty() {
                rows.push(base);
                continue;
            }
            for r in &vh.routes {
                let (action, clusters) = describe_action(r);
                rows.push(RouteView {
                    route_name: r.name.clone(),
                    match_summary: describe_route_match(r.r#match.as_ref()),
                    conditions: conditions(r.r#match.as_ref()),
                    action,
                    clusters,
                    virtual_service: IstioConfigRef::from_metadata(r.metadata.as_ref()),
                    no_routes: false,
                    ..base.clone()
                });
            }
        }
    }
    rows
}

/// Sorts the entries whose names are numbers (`80`, `8443`) among the
/// positions they hold, leaving every other entry where it is.
fn sort_numeric_names<T: Copy>(items: &mut [T], name: impl Fn(&T) -> &str) {
    let slots: Vec<usize> = (0..items.len())
        .filter(|&i| name(&items[i]).parse::<u64>().is_ok())
        .collect();
    let mut numbered: Vec<T> = slots.iter().map(|&i| items[i]).collect();
    numbered.sort_by_key(|t| name(t).parse::<u64>().unwrap_or_default());
    for (slot, item) in slots.into_iter().zip(numbered) {
        items[slot] = item;
    }
}

/// istioctl's DOMAINS column.
pub fn describe_domains(domains: &[String]) -> String {
    match domains {
        [] => String::new(),
        [one] => one.clone(),
        _ => {
            let without_port: Vec<&String> = domains
                .iter()
                .filter(|d| !d.contains(':') || (d.matches(':').count() > 2 && d.ends_with(']')))
                .collect();
            // Drop `a.ns.svc.cluster.local` and `a.ns.svc` when `a.ns` is there.
            let short: Vec<&String> = without_port
                .iter()
                .copied()
                .filter(|d| {
                    let longer_of = |suffix: &str| {
                        d.strip_suffix(suffix)
                            .is_some_and(|s| without_port.iter().any(|o| o.as_str() == s))
                    };
                    !longer_of(".svc.cluster.local") && !longer_of(".svc")
                })
                .collect();
            if short.len() > 2 {
                format!("{}, {} + {} more...", short[0], short[1], short.len() - 2)
            } else {
                short.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    }
}

// The deprecated header matchers are still what older control planes send.
#[allow(deprecated)]
fn conditions(m: Option<&RouteMatch>) -> Vec<String> {
    let Some(m) = m else { return Vec::new() };
    let mut out = Vec::new();
    for h in &m.headers {
        let how = match &h.header_match_specifier {
            Some(header_matcher::HeaderMatchSpecifier::StringMatch(s)) => string_match(s.match_pattern.as_ref()),
            Some(header_matcher::HeaderMatchSpecifier::PresentMatch(p)) => {
                if *p { "present" } else { "absent" }.to_string()
            }
            Some(header_matcher::HeaderMatchSpecifier::ExactMatch(v)) => format!("= {v}"),
            Some(header_matcher::HeaderMatchSpecifier::PrefixMatch(v)) => format!("prefix {v}"),
            Some(header_matcher::HeaderMatchSpecifier::SuffixMatch(v)) => format!("suffix {v}"),
            Some(header_matcher::HeaderMatchSpecifier::ContainsMatch(v)) => format!("contains {v}"),
            Some(header_matcher::HeaderMatchSpecifier::SafeRegexMatch(r)) => format!("regex {}", r.regex),
            Some(header_matcher::HeaderMatchSpecifier::RangeMatch(r)) => format!("in [{}, {})", r.start, r.end),
            None => "present".into(),
        };
        let not = if h.invert_match { "not " } else { "" };
        out.push(format!("header {} {not}{how}", h.name));
    }
    for q in &m.query_parameters {
        out.push(format!("query {}", q.name));
    }
    if m.grpc.is_some() {
        out.push("grpc".into());
    }
    if m.case_sensitive.is_some_and(|c| !c.value) {
        out.push("case-insensitive".into());
    }
    out
}

fn string_match(p: Option<&MatchPattern>) -> String {
    match p {
        Some(MatchPattern::Exact(v)) => format!("= {v}"),
        Some(MatchPattern::Prefix(v)) => format!("prefix {v}"),
        Some(MatchPattern::Suffix(v)) => format!("suffix {v}"),
        Some(MatchPattern::Contains(v)) => format!("contains {v}"),
        Some(MatchPattern::SafeRegex(r)) => format!("regex {}", r.regex),
        Some(MatchPattern::Custom(c)) => format!("custom {}", c.name),
        None => "present".into(),
    }
}

/// What a route does, and the clusters it may use.
fn describe_action(r: &Route) -> (String, Vec<String>) {
    match &r.action {
        Some(route::Action::Route(a)) => match &a.cluster_specifier {
            Some(route_action::ClusterSpecifier::Cluster(c)) => (format!("cluster {c}"), vec![c.clone()]),
            Some(route_action::ClusterSpecifier::WeightedClusters(w)) => {
                let total: u64 = w.clusters.iter().map(|c| c.weight.map_or(0, |v| v.value as u64)).sum();
                let parts: Vec<String> = w
                    .clusters
                    .iter()
                    .map(|c| {
                        let weight = c.weight.map_or(0, |v| v.value as u64);
                        match (weight * 100).checked_div(total) {
                            Some(pct) => format!("{} {pct}%", c.name),
                            None => c.name.clone(),
                        }
                    })
                    .collect();
                (
                    format!("weighted {}", parts.join(", ")),
                    w.clusters.iter().map(|c| c.name.clone()).collect(),
                )
            }
            Some(route_action::ClusterSpecifier::ClusterHeader(h)) => (format!("cluster from header {h}"), Vec::new()),
            Some(route_action::ClusterSpecifier::ClusterSpecifierPlugin(p)) => {
                (format!("cluster from plugin {p}"), Vec::new())
            }
            Some(route_action::ClusterSpecifier::InlineClusterSpecifierPlugin(_)) => {
                ("cluster from inline plugin".into(), Vec::new())
            }
            None => ("route without cluster".into(), Vec::new()),
        },
        Some(route::Action::Redirect(rd)) => {
            let mut to = String::new();
            if !rd.host_redirect.is_empty() {
                to.push_str(&rd.host_redirect);
            }
            if rd.port_redirect != 0 {
                to.push_str(&format!(":{}", rd.port_redirect));
            }
            (format!("redirect {to}").trim_end().to_string(), Vec::new())
        }
        Some(route::Action::DirectResponse(d)) => (format!("direct_response {}", d.status), Vec::new()),
        Some(route::Action::FilterAction(_)) => ("filter_action".into(), Vec::new()),
        Some(route::Action::NonForwardingAction(_)) => ("non_forwarding".into(), Vec::new()),
        None => ("no action".into(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_like_istioctl() {
        let d = |v: &[&str]| describe_domains(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(d(&["*"]), "*");
        assert_eq!(d(&["httpbin.example.com"]), "httpbin.example.com");
        assert_eq!(
            d(&[
                "reviews.default.svc.cluster.local",
                "reviews.default.svc.cluster.local:9080",
                "reviews",
                "reviews:9080",
                "reviews.default.svc",
                "reviews.default",
                "10.0.0.1",
            ]),
            "reviews, reviews.default + 1 more..."
        );
        assert_eq!(d(&["a.ns", "a.ns.svc", "a.ns.svc.cluster.local"]), "a.ns");
        assert_eq!(
            d(&["[fd00:10:96::7fc7]", "[fd00:10:96::7fc7]:8090"]),
            "[fd00:10:96::7fc7]"
        );
    }

    #[test]
    fn numeric_names_sort_among_themselves() {
        let mut v = vec!["8443", "x", "80", "y", "15010"];
        sort_numeric_names(&mut v, |s| s);
        assert_eq!(v, ["80", "x", "8443", "y", "15010"]);
    }
}
