//! The listener → filter chain → route → cluster → endpoints graph of one
//! proxy, laid out left to right in five columns and drawn as inline SVG
//! (maud escapes every name). Large graphs are folded: a node budget is
//! spent on the listeners that are not plainly active first (rejected,
//! warming, draining), a few chains per listener and a few clusters per
//! route; what is left out is counted in `+N more` nodes.

use std::collections::BTreeMap;

use maud::{html, Markup};

use crate::analysis::paths::{ClusterNode, PathsReport};
use crate::model::State;

/// Nodes drawn per graph at most (the `+N more` nodes excepted).
pub const NODE_BUDGET: usize = 90;
/// Chains drawn per listener.
pub const CHAINS_PER_LISTENER: usize = 5;
/// Clusters drawn per route configuration or chain.
pub const CLUSTERS_PER_ROUTE: usize = 5;

const COL_W: f64 = 250.0;
const BOX_W: f64 = 210.0;
const ROW_H: f64 = 26.0;
const BOX_H: f64 = 20.0;
const LABEL: usize = 30;
/// Room for the column names above the boxes.
const HEAD: f64 = 22.0;

/// One box of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    pub column: usize,
    pub label: String,
    /// The full text (a tooltip).
    pub title: String,
    /// CSS class: the state (`active`, `rejected`...), `missing` for a
    /// name with nothing behind it, `more` for a fold.
    pub class: &'static str,
    /// Page anchor the box links to.
    pub href: Option<String>,
    /// The box's own anchor (listeners: findings link to them).
    pub id: Option<String>,
}

/// The graph: nodes per column in order, edges between node indexes.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<(usize, usize)>,
    /// True when something was left out.
    pub folded: bool,
    /// Listeners, chains and clusters in the whole proxy (for the caption).
    pub totals: (usize, usize, usize),
    /// The listeners drawn, by name.
    pub listeners: std::collections::BTreeSet<String>,
}

/// Anchor of a listener's box in the graph of the proxy section `proxy`.
pub fn listener_anchor(proxy: &str, name: &str) -> String {
    format!("{proxy}-l-{:016x}", fnv(name))
}

fn state_class(s: State) -> &'static str {
    s.as_str()
}

/// Anchor of a cluster's row in the TLS matrix.
pub fn cluster_anchor(name: &str) -> String {
    format!("c-{:016x}", fnv(name))
}

/// Anchor of a chain's row in the TLS matrix.
pub fn chain_anchor(listener: &str, chain: &str) -> String {
    format!("ch-{:016x}", fnv(&format!("{listener}\u{0}{chain}")))
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn short(s: &str) -> String {
    if s.chars().count() > LABEL {
        format!("{}…", s.chars().take(LABEL - 1).collect::<String>())
    } else {
        s.to_string()
    }
}

struct Builder {
    g: Graph,
    /// (column, key) → node.
    seen: BTreeMap<(usize, String), usize>,
}

impl Builder {
    fn node(&mut self, column: usize, key: &str, make: impl FnOnce() -> Node) -> usize {
        if let Some(&i) = self.seen.get(&(column, key.to_string())) {
            return i;
        }
        let mut n = make();
        n.column = column;
        self.g.nodes.push(n);
        let i = self.g.nodes.len() - 1;
        self.seen.insert((column, key.to_string()), i);
        i
    }

    fn edge(&mut self, a: usize, b: usize) {
        if !self.g.edges.contains(&(a, b)) {
            self.g.edges.push((a, b));
        }
    }

    fn more(&mut self, column: usize, key: String, text: String, from: usize) {
        let i = self.node(column, &key, || Node {
            column,
            label: short(&text),
            title: text,
            class: "more",
            href: None,
            id: None,
        });
        self.edge(from, i);
        self.g.folded = true;
    }

    fn cluster(&mut self, name: &str, clusters: &BTreeMap<String, ClusterNode>, from: usize) {
        let c = clusters.get(name);
        let i = self.node(3, name, || Node {
            column: 3,
            label: short(name),
            title: name.to_string(),
            class: match c {
                Some(c) if c.found => c.state.map_or("active", state_class),
                _ => "missing",
            },
            href: Some(cluster_anchor(name)),
            id: None,
        });
        self.edge(from, i);
        let Some(c) = c.filter(|c| c.found) else { return };
        let (label, class) = if !c.endpoints_known {
            ("endpoints not in the dump".to_string(), "unknown")
        } else if c.endpoints.is_empty() {
            ("no endpoints".to_string(), "missing")
        } else if c.endpoints.len() == 1 {
            (c.endpoints[0].clone(), "endpoint")
        } else {
            (format!("{} (+{})", c.endpoints[0], c.endpoints.len() - 1), "endpoint")
        };
        let title = if c.endpoints.is_empty() {
            label.clone()
        } else {
            c.endpoints.join("\n")
        };
        let e = self.node(4, &format!("{name}\u{0}endpoints"), || Node {
            column: 4,
            label: short(&label),
            title,
            class,
            href: None,
            id: None,
        });
        self.edge(i, e);
    }
}

/// Lays out a proxy's paths as a folded graph; `proxy` is the anchor of
/// the proxy's section (listener boxes get anchors under it).
pub fn graph(p: &PathsReport, proxy: &str) -> Graph {
    let mut b = Builder {
        g: Graph::default(),
        seen: BTreeMap::new(),
    };
    let chains: usize = p.listeners.iter().map(|l| l.chains.len()).sum();
    b.g.totals = (p.listeners.len(), chains, p.clusters.len());
    // Listeners that need a look first, then the others in their order.
    let mut order: Vec<usize> = (0..p.listeners.len()).collect();
    order.sort_by_key(|&i| !matches!(p.listeners[i].state, State::Rejected | State::Warming | State::Draining));
    let mut left = 0usize;
    let mut left_chains = 0usize;
    for &li in &order {
        let l = &p.listeners[li];
        if b.g.nodes.len() >= NODE_BUDGET {
            left += 1;
            left_chains += l.chains.len();
            continue;
        }
        let label = if l.name.is_empty() {
            format!("(unnamed) {}", l.addresses.first().map_or("", String::as_str))
        } else {
            l.name.clone()
        };
        let ln = b.node(0, &l.name, || Node {
            column: 0,
            label: short(&label),
            title: format!("{} ({}) {}", l.name, state_class(l.state), l.addresses.join(", ")),
            class: state_class(l.state),
            href: None,
            id: Some(listener_anchor(proxy, &l.name)),
        });
        b.g.listeners.insert(l.name.clone());
        for (ci, c) in l.chains.iter().enumerate() {
            if ci == CHAINS_PER_LISTENER {
                let n = l.chains.len() - CHAINS_PER_LISTENER;
                b.more(1, format!("{}\u{0}more", l.name), format!("+{n} more chains"), ln);
                break;
            }
            let name = if c.name.is_empty() {
                format!("chain {}", c.index.map_or("default".into(), |i| i.to_string()))
            } else {
                c.name.clone()
            };
            let cn = b.node(1, &format!("{}\u{0}{}\u{0}{ci}", l.name, c.name), || Node {
                column: 1,
                label: short(&name),
                title: format!("{name}\nmatch: {}", c.match_summary),
                class: state_class(l.state),
                href: Some(chain_anchor(&l.name, &c.name)),
                id: None,
            });
            b.edge(ln, cn);
            for f in &c.filters {
                let mut drawn = 0usize;
                let mut targets: Vec<&str> = f.clusters.iter().map(String::as_str).collect();
                let mut from = cn;
                if let Some(r) = &f.route {
                    let label = if r.name.is_empty() {
                        format!("{} route", r.source)
                    } else {
                        r.name.clone()
                    };
                    let rn = b.node(
                        2,
                        &format!("{}\u{0}{}", r.name, if r.name.is_empty() { cn } else { 0 }),
                        || Node {
                            column: 2,
                            label: short(&label),
                            title: format!("route {} ({})", r.name, r.source),
                            class: if r.found { "active" } else { "missing" },
                            href: None,
                            id: None,
                        },
                    );
                    b.edge(cn, rn);
                    from = rn;
                    for v in r.vhosts.iter() {
                        for leaf in &v.routes {
                            for t in &leaf.clusters {
                                if !targets.contains(&t.as_str()) {
                                    targets.push(t);
                                }
                            }
                        }
                    }
                }
                for t in &targets {
                    if drawn == CLUSTERS_PER_ROUTE {
                        let key = format!("{from}\u{0}more");
                        b.more(3, key, format!("+{} more clusters", targets.len() - drawn), from);
                        break;
                    }
                    b.cluster(t, &p.clusters, from);
                    drawn += 1;
                }
            }
        }
    }
    if left > 0 {
        b.g.nodes.push(Node {
            column: 0,
            label: format!("+{left} more listeners"),
            title: format!("{left} more listeners ({left_chains} chains): egress-xray paths DUMP --listener NAME"),
            class: "more",
            href: None,
            id: None,
        });
        b.g.folded = true;
    }
    b.g
}

/// Draws a graph as SVG.
pub fn svg(g: &Graph, id: &str) -> Markup {
    // Each column's nodes top to bottom in the order they were made.
    let mut row = [0usize; 5];
    let mut at = Vec::with_capacity(g.nodes.len());
    for n in &g.nodes {
        at.push((n.column as f64 * COL_W + 4.0, row[n.column] as f64 * ROW_H + 4.0 + HEAD));
        row[n.column] += 1;
    }
    let rows = row.iter().copied().max().unwrap_or(0).max(1);
    let (w, h) = (4.0 * COL_W + BOX_W + 8.0, rows as f64 * ROW_H + 8.0 + HEAD);
    let heads = ["listener", "filter chain", "route", "cluster", "endpoints"];
    html! {
        svg id=(id) class="graph" xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox={"0 0 " (w) " " (h)} role="img" {
            title { "listener → filter chain → route → cluster → endpoints" }
            @for (i, h) in heads.iter().enumerate() {
                text class="head" x=(i as f64 * COL_W + 6.0) y="14" { (h) }
            }
            @for &(a, z) in &g.edges {
                @let ((x1, y1), (x2, y2)) = (at[a], at[z]);
                @let (sx, sy, ex, ey) = (x1 + BOX_W, y1 + BOX_H / 2.0, x2, y2 + BOX_H / 2.0);
                path class="edge" d={"M" (sx) " " (sy) " C" (sx + 20.0) " " (sy) " " (ex - 20.0) " " (ey) " " (ex) " " (ey)} {}
            }
            @for (i, n) in g.nodes.iter().enumerate() {
                @let (x, y) = at[i];
                @let body = html! {
                    title { (n.title) }
                    rect x=(x) y=(y) width=(BOX_W) height=(BOX_H) rx="3" {}
                    text x=(x + 6.0) y=(y + 14.0) { (n.label) }
                };
                @match &n.href {
                    Some(href) => a class={"node " (n.class)} href={"#" (href)} { (body) },
                    None => g class={"node " (n.class)} id=[n.id.as_deref()] { (body) },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_stable_and_safe() {
        assert_eq!(
            cluster_anchor("outbound|443||a.com"),
            cluster_anchor("outbound|443||a.com")
        );
        assert_ne!(cluster_anchor("a"), cluster_anchor("b"));
        assert!(cluster_anchor("<x\"y>")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
