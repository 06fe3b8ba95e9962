fn main() {
    for p in std::env::args().skip(1) {
        match egress_xray::input::load_path(&p) {
            Ok(ds) => {
                for d in ds {
                    println!(
                        "{} [{:?} {}] sections={} : {}",
                        d.label(),
                        d.format,
                        d.shape,
                        d.dump.configs.len(),
                        d.report.one_line()
                    );
                }
            }
            Err(e) => println!("ERR {e}"),
        }
    }
}
