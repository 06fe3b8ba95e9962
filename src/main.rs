fn main() {
    std::process::exit(egress_xray::cli::run());
}
