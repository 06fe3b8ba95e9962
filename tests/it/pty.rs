//! What a user sees at a terminal: every command and output mode run on a
//! real pseudo-terminal (colour on by default), escapes stripped, must be
//! byte-identical to the same command with `--color never`, and that to what
//! a pipe receives. Catches layout computed on strings that carry colour.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

use crate::common;

const BIN: &str = env!("CARGO_BIN_EXE_egress-xray");

/// Runs the binary with stdout and stderr on a fresh pty (raw mode, so the
/// bytes are the program's own: no `\n` → `\r\n`); returns what the
/// terminal received and the exit code. Bounded: the child is killed by
/// its PID after 60 s.
fn on_pty(args: &[String]) -> (Vec<u8>, i32) {
    on_pty_with(args, "cat")
}

/// `on_pty` with this $PAGER (`cat`: none; paging has its own test).
fn on_pty_with(args: &[String], pager: &str) -> (Vec<u8>, i32) {
    let size = Winsize {
        ws_row: 50,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).expect("openpty");
    let mut mode = tcgetattr(&pty.slave).expect("tcgetattr");
    cfmakeraw(&mut mode);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &mode).expect("tcsetattr");
    let mut child = {
        let out: OwnedFd = pty.slave.try_clone().expect("dup slave");
        let err: OwnedFd = pty.slave;
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .env("TERM", "xterm-256color")
            .env("PAGER", pager)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .spawn()
            .expect("spawn egress-xray")
        // The Command, holding our copies of the slave, is dropped here, so
        // the master sees EOF (EIO) once the child exits.
    };
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match master.read(&mut chunk) {
                Ok(0) | Err(_) => break, // EIO: every slave end is closed
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("egress-xray {args:?} did not finish on the pty in 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (reader.join().expect("reader"), status.code().unwrap_or(-1))
}

fn piped(args: &[String]) -> Vec<u8> {
    // The pty is 160 columns wide; clap wraps --help to the width it is given.
    let out = Command::new(BIN)
        .args(args)
        .env_remove("NO_COLOR")
        .env("COLUMNS", "160")
        .output()
        .expect("run");
    let mut all = out.stdout;
    all.extend(out.stderr);
    all
}

fn strip(bytes: &[u8]) -> String {
    anstream::adapter::strip_str(&String::from_utf8_lossy(bytes)).to_string()
}

/// Every command with inputs that make it print colour where it can.
fn cases() -> Vec<Vec<String>> {
    let s = common::sample;
    let (mtls, pt, trap1, sleep) = (
        s("egw-mtls.config_dump.json"),
        s("egw-pt.config_dump.json"),
        s("egw-mtls-trap1.config_dump.json"),
        s("sleep-sidecar.config_dump.json"),
    );
    let istio_base = s("istio/base");
    let istio_bad = s("istio/broken/tls-route.yaml");
    let k8s = s("istio/k8s.yaml");
    let istiod_log = s("istio/istiod-tls-route.log");
    let mut cases: Vec<Vec<String>> = vec![
        vec![mtls.clone(), pt.clone(), trap1.clone(), sleep.clone()],
        vec!["summary".into(), trap1.clone()],
        vec!["listeners".into(), mtls.clone()],
        vec!["listeners".into(), sleep.clone()],
        vec!["clusters".into(), sleep.clone()],
        vec!["routes".into(), sleep.clone()],
        vec!["endpoints".into(), sleep.clone()],
        vec!["secrets".into(), mtls.clone()],
        vec!["bootstrap".into(), mtls.clone()],
        vec!["ecds".into(), sleep.clone()],
        vec!["tls".into(), mtls.clone()],
        vec!["tls".into(), sleep.clone()],
        vec![
            "trace".into(),
            mtls.clone(),
            "--port".into(),
            "8443".into(),
            "--sni".into(),
            "www.wikipedia.org".into(),
        ],
        vec![
            "trace".into(),
            pt.clone(),
            "--port".into(),
            "8443".into(),
            "--sni".into(),
            "nowhere.example".into(),
        ],
        vec![
            "trace".into(),
            sleep.clone(),
            "--port".into(),
            "80".into(),
            "--dst-ip".into(),
            "10.0.0.1".into(),
            "--host".into(),
            "example.org".into(),
        ],
        vec!["paths".into(), mtls.clone()],
        vec!["paths".into(), sleep.clone()],
        vec![
            "explain".into(),
            trap1.clone(),
            "--istio".into(),
            istio_base.clone(),
            "--istio".into(),
            istio_bad,
            "--k8s".into(),
            k8s.clone(),
            "--istiod-log".into(),
            istiod_log,
        ],
        vec!["explain".into(), "--istio".into(), istio_base, "--k8s".into(), k8s],
        std::iter::once("nack".to_string())
            .chain(common::trap2_evidence())
            .collect(),
        vec![
            "diff".into(),
            s("push/egw-pt.before.config_dump.json"),
            s("push/egw-pt.after.config_dump.json"),
        ],
        vec!["diff".into(), mtls.clone(), s("push/egw-mtls.after.config_dump.json")],
        vec!["isolation".into(), mtls.clone(), pt.clone()],
        vec!["triage".into(), mtls.clone(), pt.clone(), trap1.clone()],
        vec!["findings".into()],
        vec!["completions".into(), "bash".into()],
        vec!["--help".into()],
        vec!["trace".into(), "--help".into()],
    ];
    // Each table command also in its wide form.
    let wide: Vec<Vec<String>> = cases
        .iter()
        .filter(|c| {
            !matches!(c[0].as_str(), "findings" | "completions" | "man" | "--help") && !c.contains(&"--help".into())
        })
        .map(|c| {
            let mut w = c.clone();
            w.extend(["-o".into(), "wide".into()]);
            w
        })
        .collect();
    cases.extend(wide);
    cases
}

#[test]
fn terminal_output_is_the_plain_output_painted() {
    let mut coloured = 0;
    for args in cases() {
        let (tty, code) = on_pty(&args);
        let mut never = args.clone();
        never.extend(["--color".into(), "never".into()]);
        let (tty_never, code_never) = on_pty(&never);
        assert_eq!(code, code_never, "{args:?}: exit code depends on colour");
        assert!(code == 0 || code == 1, "{args:?} exited {code}: {}", strip(&tty));
        assert!(
            !tty_never.contains(&0x1b),
            "{args:?} --color never wrote escapes on the terminal"
        );
        let plain = strip(&tty);
        assert_eq!(
            plain,
            String::from_utf8_lossy(&tty_never),
            "{args:?}: the terminal output without its colour differs from --color never"
        );
        assert_eq!(
            String::from_utf8_lossy(&tty_never),
            String::from_utf8_lossy(&piped(&never)),
            "{args:?}: the terminal and a pipe get different text"
        );
        if tty.contains(&0x1b) {
            coloured += 1;
        }
    }
    assert!(
        coloured >= 20,
        "only {coloured} runs printed colour on the pty: is colour detection broken?"
    );
}

#[test]
fn machine_formats_carry_no_escapes_on_a_terminal() {
    let mtls = common::sample("egw-mtls.config_dump.json");
    for cmd in ["summary", "listeners", "clusters", "tls", "paths"] {
        for fmt in ["json", "yaml"] {
            let (tty, code) = on_pty(&[cmd.into(), mtls.clone(), "-o".into(), fmt.into()]);
            assert_eq!(code, 0);
            assert!(!tty.contains(&0x1b), "{cmd} -o {fmt} wrote escapes on a terminal");
        }
    }
    for fmt in ["mermaid", "dot"] {
        let (tty, code) = on_pty(&["paths".into(), mtls.clone(), "-o".into(), fmt.into()]);
        assert_eq!(code, 0);
        assert!(!tty.contains(&0x1b), "paths -o {fmt} wrote escapes on a terminal");
    }
}

#[test]
fn cells_are_measured_in_display_columns() {
    use egress_xray::render::width;
    assert_eq!(width("abc"), 3);
    assert_eq!(width("日本"), 4, "wide characters take two columns");
    assert_eq!(width("e\u{301}"), 1, "a combining accent takes none");
}

/// Long output at a terminal goes through the pager ($PAGER, run by the
/// shell, as git does); --no-pager, PAGER=cat and a pipe do not page.
#[test]
fn output_at_a_terminal_is_paged_unless_told_not_to() {
    let args = vec![
        "listeners".to_string(),
        common::sample("sleep-sidecar.config_dump.json"),
    ];
    let (paged, code) = on_pty_with(&args, "sed 's/^/PAGED:/'");
    assert_eq!(code, 0);
    let paged = strip(&paged);
    assert!(
        paged.lines().filter(|l| !l.is_empty()).all(|l| l.starts_with("PAGED:")),
        "{paged}"
    );
    let mut no_pager = args.clone();
    no_pager.push("--no-pager".into());
    let (direct, _) = on_pty_with(&no_pager, "sed 's/^/PAGED:/'");
    assert!(!strip(&direct).contains("PAGED:"));
    let (cat, _) = on_pty_with(&args, "cat");
    assert!(!strip(&cat).contains("PAGED:"));
    assert!(!String::from_utf8_lossy(&piped(&args)).contains("PAGED:"));
}

/// `man` at a terminal shows the page with man(1); in a pipe it is roff.
#[test]
fn man_at_a_terminal_is_rendered() {
    if std::process::Command::new("man").arg("--version").output().is_err() {
        eprintln!("skipped: no man(1) on this machine");
        return;
    }
    let (shown, code) = on_pty(&["man".to_string()]);
    assert_eq!(code, 0);
    let shown = strip(&shown).replace('\u{8}', "");
    assert!(!shown.contains(".TH"), "{shown}");
    assert!(
        shown.contains("SYNOPSIS") || shown.contains("SSYYNNOOPPSSIISS"),
        "{shown}"
    );
    assert!(String::from_utf8_lossy(&piped(&["man".to_string()])).starts_with(".ie"));
}

/// A report at a terminal is not 1 MB of HTML on the screen: it says where
/// the page can go; with -O it writes the file and says so.
#[test]
fn a_report_at_a_terminal_asks_for_a_file() {
    let dump = common::sample("egw-mtls.config_dump.json");
    let (out, code) = on_pty(&["report".into(), dump.clone()]);
    let text = strip(&out);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("give -O report.html"), "{text}");
    assert!(!text.contains("<html"), "{text}");
    let page = std::env::temp_dir().join(format!("egress-xray-pty-report-{}.html", std::process::id()));
    let (out, code) = on_pty(&["report".into(), dump, "-O".into(), page.to_string_lossy().into_owned()]);
    let text = strip(&out);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("1 proxy, "), "{text}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    let _ = std::fs::remove_file(&page);
}
