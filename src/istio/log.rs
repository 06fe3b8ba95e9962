//! istiod log lines about gateway listeners, recognised by their wording
//! (pilot/pkg/networking/core/gateway.go) and tied to the gateway, server
//! port or listener they name.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GatewayLogEvent {
    /// `gateway omitting listener "L" due to: must have more than 0 chains ...`
    ListenerOmitted { listener: String, reason: String },
    /// `gateway NS/NAME:PORT listener missed network filter`
    MissedNetworkFilter { gateway: String, port: u32 },
    /// `no virtual service bound to gateway: NS/NAME`
    NoVirtualService { gateway: String },
    /// `skipping VirtualService VS rule #I on server port P of gateway G, duplicate SNI host names: [..]`
    DuplicateSni {
        virtual_service: String,
        rule: u32,
        port: u32,
        gateway: String,
        hosts: String,
    },
    /// `skipping privileged gateway port P for node N as it is an unprivileged pod`
    PrivilegedPort { port: u32, node: String },
    /// `gateway has zero listeners for node N` (older: `buildGatewayListeners: Have zero listeners`)
    ZeroListeners { node: String },
    /// istiod's multi-error header (`1 error occurred:`): the gateway
    /// errors follow on `* ...` lines.
    ErrorsFollow { count: u32 },
}

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub file: String,
    pub line: usize,
    pub text: String,
    pub event: GatewayLogEvent,
}

/// Every recognised line of a log text (other lines are ignored).
pub fn parse(file: &str, text: &str) -> Vec<LogLine> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            recognise(l).map(|event| LogLine {
                file: file.to_string(),
                line: i + 1,
                text: l.trim().to_string(),
                event,
            })
        })
        .collect()
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let a = s.find(start)? + start.len();
    let rest = &s[a..];
    let b = rest.find(end)?;
    Some(&rest[..b])
}

fn after<'a>(s: &'a str, start: &str) -> Option<&'a str> {
    s.find(start).map(|a| &s[a + start.len()..])
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("").trim_end_matches([',', '"'])
}

/// One line's event, if it is one we know.
pub fn recognise(line: &str) -> Option<GatewayLogEvent> {
    if let Some(listener) = between(line, "gateway omitting listener \"", "\"") {
        let reason = after(line, " due to: ").unwrap_or("").trim().to_string();
        return Some(GatewayLogEvent::ListenerOmitted {
            listener: listener.to_string(),
            reason,
        });
    }
    if line.contains("listener missed network filter") {
        let head = between(line, "gateway ", " listener missed network filter")?;
        let head = head.rsplit(' ').next().unwrap_or(head);
        let (gw, port) = head.rsplit_once(':')?;
        return Some(GatewayLogEvent::MissedNetworkFilter {
            gateway: gw.to_string(),
            port: port.parse().ok()?,
        });
    }
    if let Some(rest) = after(line, "no virtual service bound to gateway: ") {
        return Some(GatewayLogEvent::NoVirtualService {
            gateway: first_word(rest).to_string(),
        });
    }
    if line.contains("duplicate SNI host names") {
        let vs = between(line, "skipping VirtualService ", " rule #")?;
        let rule = between(line, " rule #", " on server port ")?.parse().ok()?;
        let port = between(line, " on server port ", " of gateway ")?.parse().ok()?;
        let gateway = between(line, " of gateway ", ", duplicate SNI host names")?;
        let hosts = after(line, "duplicate SNI host names: ").unwrap_or("").trim();
        return Some(GatewayLogEvent::DuplicateSni {
            virtual_service: vs.to_string(),
            rule,
            port,
            gateway: gateway.to_string(),
            hosts: hosts.to_string(),
        });
    }
    if let Some(rest) = after(line, "skipping privileged gateway port ") {
        let port = first_word(rest).parse().ok()?;
        let node = between(rest, " for node ", " as it is").unwrap_or("").to_string();
        return Some(GatewayLogEvent::PrivilegedPort { port, node });
    }
    if let Some(rest) = after(line, "gateway has zero listeners for node ") {
        return Some(GatewayLogEvent::ZeroListeners {
            node: first_word(rest).to_string(),
        });
    }
    if line.contains("buildGatewayListeners: Have zero listeners") {
        return Some(GatewayLogEvent::ZeroListeners { node: String::new() });
    }
    let t = line.trim_end();
    if let Some(head) = t
        .strip_suffix(" errors occurred:")
        .or_else(|| t.strip_suffix(" error occurred:"))
    {
        if let Ok(count) = first_word(head.rsplit(char::is_whitespace).next().unwrap_or("")).parse() {
            return Some(GatewayLogEvent::ErrorsFollow { count });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_lines() {
        let t = "2026-11-20T10:00:01.1Z\twarn\tads\tgateway egress-mtls/egw-mtls-gateway:15443 listener missed network filter\n\
                 2026-11-20T10:00:01.2Z\tinfo\tads\tgateway omitting listener \"0.0.0.0_15443\" due to: must have more than 0 chains in listener \"0.0.0.0_15443\"\n\
                 unrelated line";
        let events: Vec<_> = parse("istiod.log", t).into_iter().map(|l| l.event).collect();
        assert_eq!(
            events,
            vec![
                GatewayLogEvent::MissedNetworkFilter {
                    gateway: "egress-mtls/egw-mtls-gateway".into(),
                    port: 15443
                },
                GatewayLogEvent::ListenerOmitted {
                    listener: "0.0.0.0_15443".into(),
                    reason: "must have more than 0 chains in listener \"0.0.0.0_15443\"".into()
                },
            ]
        );
    }

    #[test]
    fn other_gateway_lines() {
        assert_eq!(
            recognise("warn\tno virtual service bound to gateway: egress-pt/egw-pt-gateway"),
            Some(GatewayLogEvent::NoVirtualService {
                gateway: "egress-pt/egw-pt-gateway".into()
            })
        );
        assert_eq!(
            recognise("warn\tskipping VirtualService example-org-b rule #0 on server port 443 of gateway egress-pt/egw-pt-gateway, duplicate SNI host names: [example.org]"),
            Some(GatewayLogEvent::DuplicateSni {
                virtual_service: "example-org-b".into(),
                rule: 0,
                port: 443,
                gateway: "egress-pt/egw-pt-gateway".into(),
                hosts: "[example.org]".into()
            })
        );
        assert_eq!(
            recognise("warn\tbuildGatewayListeners: skipping privileged gateway port 80 for node router~10.0.0.1~gw-1.ns~ns.svc.cluster.local as it is an unprivileged pod"),
            Some(GatewayLogEvent::PrivilegedPort {
                port: 80,
                node: "router~10.0.0.1~gw-1.ns~ns.svc.cluster.local".into()
            })
        );
        assert_eq!(
            recognise("warn\tgateway has zero listeners for node router~1.2.3.4~x.y~y.svc.cluster.local"),
            Some(GatewayLogEvent::ZeroListeners {
                node: "router~1.2.3.4~x.y~y.svc.cluster.local".into()
            })
        );
    }
}
