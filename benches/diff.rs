//! Diff and isolation benchmark.
//!
//!     target/release/examples/gen_dump 14000 /tmp/mesh-100mb.json
//!     target/release/examples/gen_dump 14001 /tmp/mesh-100mb-b.json
//!     cargo bench --bench diff -- /tmp/mesh-100mb.json /tmp/mesh-100mb-b.json samples/egw-mtls.config_dump.json
//!
//! Times decoding both dumps, diffing them, and `isolation` over 50 copies
//! of a gateway dump (the third argument).

use std::time::Instant;

use egress_xray::analysis::{diff, isolation};
use egress_xray::input;
use egress_xray::model::Index;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let (Some(a), Some(b)) = (args.first(), args.get(1)) else {
        eprintln!("usage: cargo bench --bench diff -- A B [GATEWAY_DUMP]");
        return;
    };
    let read = |p: &str| std::fs::read(p).expect("read dump");
    let (ba, bb) = (read(a), read(b));
    let t = Instant::now();
    let ia = Index::build(input::load_bytes(a, &ba).expect("decodes").remove(0));
    let ib = Index::build(input::load_bytes(b, &bb).expect("decodes").remove(0));
    let decode = t.elapsed();
    let t = Instant::now();
    let report = diff::diff(&ia, &ib, &diff::DiffOptions::default());
    let d = t.elapsed();
    println!(
        "decode + index A and B   {:>8.3} s  ({:.1} + {:.1} MB)",
        decode.as_secs_f64(),
        ba.len() as f64 / 1e6,
        bb.len() as f64 / 1e6
    );
    println!(
        "diff                     {:>8.3} s  ({} changes)  = {:.2}x the decode",
        d.as_secs_f64(),
        report.changes.len(),
        d.as_secs_f64() / decode.as_secs_f64()
    );
    println!(
        "decode + diff            {:>8.3} s  = {:.2}x the decode",
        (decode + d).as_secs_f64(),
        (decode + d).as_secs_f64() / decode.as_secs_f64()
    );
    if let Some(g) = args.get(2) {
        let bytes = read(g);
        let t = Instant::now();
        let gateways: Vec<Index> = (0..50)
            .map(|i| {
                let mut ix = Index::build(
                    input::load_bytes(&format!("{g}#{i}"), &bytes)
                        .expect("decodes")
                        .remove(0),
                );
                // Fifty distinct gateways sharing everything.
                if let Some(id) = ix.identity.as_mut() {
                    id.pod = Some(format!("gateway-{i}"));
                }
                ix
            })
            .collect();
        let r = isolation::isolation(&gateways, None);
        println!(
            "isolation over 50 dumps  {:>8.3} s  (decode included; {} gateways, {} shared objects)",
            t.elapsed().as_secs_f64(),
            r.gateways.len(),
            r.shared.len()
        );
    }
}
