//! Decode benchmark: egress-xray's decode + index + summary of one dump,
//! beside a bare `serde_json::Value` parse of the same bytes, and of the
//! same dump re-encoded as binary protobuf (best of N).
//!
//!     cargo run --release --example gen_dump -- 14000 /tmp/mesh-100mb.json
//!     cargo bench --bench decode -- /tmp/mesh-100mb.json [RUNS]
//!
//! Peak memory is measured on the binary: `/usr/bin/time -v target/release/egress-xray FILE`;
//! `EGRESS_XRAY_RSS=1 cargo bench --bench decode -- FILE` prints it by phase.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use egress_xray::analysis::summary;
use egress_xray::input;
use egress_xray::model::Index;

/// The system allocator, counting live heap bytes and their peak, so the
/// RSS report can tell live data from memory the allocator keeps.
struct Counting;

/// Counting is on only for the by-phase report (atomics cost time).
static COUNT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && COUNT.load(Ordering::Relaxed) {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        if COUNT.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() && COUNT.load(Ordering::Relaxed) {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn best<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: cargo bench --bench decode -- FILE [RUNS]  (make FILE with the gen_dump example)");
        return;
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    if std::env::var_os("EGRESS_XRAY_RSS").is_some() {
        COUNT.store(true, Ordering::Relaxed);
    }
    let bytes = std::fs::read(path).expect("read dump");
    if std::env::var_os("EGRESS_XRAY_RSS").is_some() {
        // Peak memory by phase, in a fresh process (nothing else ran yet).
        println!("file read             peak RSS {}", peak_rss_mb());
        let t = Instant::now();
        let mut dumps = input::load_bytes(path, &bytes).expect("decodes");
        println!(
            "decoded               peak RSS {}  ({:.3} s)",
            peak_rss_mb(),
            t.elapsed().as_secs_f64()
        );
        drop(bytes);
        let t = Instant::now();
        let ix = Index::build(dumps.remove(0));
        println!(
            "indexed               peak RSS {}  ({:.3} s)",
            peak_rss_mb(),
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        std::hint::black_box(summary::summarize(&ix));
        println!(
            "summarised            peak RSS {}  ({:.3} s)",
            peak_rss_mb(),
            t.elapsed().as_secs_f64()
        );
        return;
    }
    let mb = bytes.len() as f64 / 1e6;

    let serde = best(runs, || {
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
        std::hint::black_box(&v);
    });
    let decode_only = best(runs, || {
        std::hint::black_box(input::load_bytes(path, &bytes).expect("decodes"));
    });
    let ours = best(runs, || {
        for d in input::load_bytes(path, &bytes).expect("decodes") {
            let ix = Index::build(d);
            std::hint::black_box(summary::summarize(&ix));
        }
    });
    // The same dump as binary protobuf (envoy.admin.v3.ConfigDump).
    let proto: Vec<u8> = {
        use prost::Message;
        let mut dumps = input::load_bytes(path, &bytes).expect("decodes");
        dumps.remove(0).config_dump().encode_to_vec()
    };
    let proto_mb = proto.len() as f64 / 1e6;
    let ours_proto = best(runs, || {
        for d in input::load_bytes("dump.pb", &proto).expect("decodes") {
            let ix = Index::build(d);
            std::hint::black_box(summary::summarize(&ix));
        }
    });
    let rate = |d: Duration| mb / d.as_secs_f64();
    println!("input                 {path} ({mb:.1} MB)");
    println!(
        "serde_json::Value      {:>8.3} s  {:>7.1} MB/s",
        serde.as_secs_f64(),
        rate(serde)
    );
    println!(
        "egress-xray summary    {:>8.3} s  {:>7.1} MB/s",
        ours.as_secs_f64(),
        rate(ours)
    );
    println!(
        "  of which decode      {:>8.3} s  {:>7.1} MB/s",
        decode_only.as_secs_f64(),
        rate(decode_only)
    );
    println!(
        "ratio to serde_json    {:>8.2}x",
        ours.as_secs_f64() / serde.as_secs_f64()
    );
    println!(
        "protobuf summary       {:>8.3} s  {:>7.1} MB/s  ({proto_mb:.1} MB as protobuf)",
        ours_proto.as_secs_f64(),
        proto_mb / ours_proto.as_secs_f64()
    );
}

/// The process's peak resident set (VmHWM), in MB; 0 where /proc is absent.
fn peak_rss_mb() -> String {
    let mb = |b: usize| b / (1 << 20);
    format!(
        "{:>6} MB   live heap {:>5} MB, its peak {:>5} MB",
        vm_hwm_mb(),
        mb(LIVE.load(Ordering::Relaxed)),
        mb(PEAK.load(Ordering::Relaxed))
    )
}

fn vm_hwm_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
