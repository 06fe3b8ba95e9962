//! Golden outputs of the human-facing views on our samples and a real dump,
//! reviewed like code (insta snapshots in tests/it/snapshots/).

use crate::common;

use egress_xray::analysis::{bootstrap, endpoints, inventory, paths, routes, secrets, summary, tls};
use egress_xray::render::{table, Palette};

#[test]
fn sample_views() {
    for name in [
        "egw-mtls.config_dump.json",
        "egw-pt.config_dump.json",
        "sleep-sidecar.config_dump.json",
    ] {
        let mut ix = common::index(&common::sample(name));
        ix.source = format!("samples/{name}");
        let p = Palette::default();
        let text = format!(
            "{}\n{}\n{}",
            table::summary(&summary::summarize(&ix), p),
            table::listeners(&inventory::listeners(&ix), true, p),
            table::clusters(&inventory::clusters(&ix), true, p)
        );
        insta::assert_snapshot!(name, text);
        let text = format!(
            "{}\n{}\n{}\n{}",
            table::routes(&routes::routes(&ix), true, p),
            table::endpoints(&endpoints::endpoints(&ix), true, p),
            table::secrets(&secrets::secrets(&ix, None), true, false, p),
            table::bootstrap(&bootstrap::bootstrap(&ix).expect("samples have a bootstrap")),
        );
        insta::assert_snapshot!(format!("{name}.more"), text);
        let graph = paths::paths(&ix, &Default::default());
        let text = format!(
            "{}\n{}",
            egress_xray::render::graph::tree(&graph, true, p),
            table::tls(&tls::tls(&ix), true, p)
        );
        insta::assert_snapshot!(format!("{name}.paths"), text);
    }
}

#[test]
fn deathstarbench_summary() {
    let Some(corpus) = common::corpus() else { return };
    let mut ix = common::index(
        &corpus
            .join("public/TZ-Zephrus__DeathStarBench__config_dump.json")
            .to_string_lossy(),
    );
    ix.source = "TZ-Zephrus__DeathStarBench__config_dump.json".into();
    insta::assert_snapshot!(table::summary(&summary::summarize(&ix), Palette::default()));
}
