//! The `rookery` binary: `rookery server [zoo.cfg]` (default `conf/zoo.cfg`); see `serve` for the
//! server's command line, signals and systemd notifications.

use rookery::config::Config;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: rookery server [CONFIG]                 start a server (default conf/zoo.cfg; also --config
                                               FILE|DIR, start-foreground [CONFIG]); SIGTERM stops it gracefully
       rookery status [CONFIG]                 one line per server of CONFIG: mode, zxid, clients
       rookery cli [-server H:P[,H:P...][/chroot]] [-timeout MS] [-r] [CMD ARGS...]
                                               a zkCli.sh-compatible shell (CMD: run one command)
       rookery dump log FILE [--json]          print a txn log (like zkTxnLogToolkit)
       rookery dump snapshot FILE [--json]     print a snapshot (like zkSnapShotToolkit)
       rookery bench [--hosts H:P[,H:P...]] [--op create|set|get|exists|mixed|watch|ephemeral]
                     [--clients N] [--outstanding K] [--duration S] [--total N] [--rate OPS]
                     [--value-bytes B] [--keys K] [--read-pct P] [--root PATH] [--quiet]
                                               load servers and print throughput, latency, fsyncs
       rookery version                         print the version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The CLI's output is zkCli's text: no log lines unless RUST_LOG asks for them.
    let log_default = if args.first().is_some_and(|a| a == "cli") { "off" } else { "info" };
    rookery::serve::init_logger(log_default);
    match args.first().map(String::as_str) {
        Some("server") => rookery::serve::run(&args[1..]),
        // zkServer.sh's word for it.
        Some("start-foreground") => rookery::serve::run(&args),
        Some("dump") => dump(&args[1..]),
        Some("cli") => ExitCode::from(rookery::cli::main(&args[1..]).clamp(0, 255) as u8),
        Some("status") => status(args.get(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("conf/zoo.cfg"))),
        Some("bench") => match rookery::bench::parse(&args[1..]) {
            Err(e) => {
                eprintln!("rookery bench: {e}");
                ExitCode::from(2)
            }
            Ok(o) => match rookery::bench::run(&o) {
                Ok(report) => {
                    print!("{}", report.render(&o));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rookery bench: {e}");
                    ExitCode::FAILURE
                }
            },
        },
        Some("version" | "--version") => {
            println!("rookery {} (ZooKeeper {})", env!("CARGO_PKG_VERSION"), rookery::fourlw::VERSION);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn dump(args: &[String]) -> ExitCode {
    let json = args.iter().any(|a| a == "--json");
    let rest: Vec<&String> = args.iter().filter(|a| *a != "--json").collect();
    let (kind, file) = match rest.as_slice() {
        [kind, file] => (kind.as_str(), PathBuf::from(file)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match kind {
        "log" => rookery::dump::dump_log(&file, json),
        "snapshot" => rookery::dump::dump_snapshot(&file, json),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(text) => {
            // A reader that stops early (`| head`) is not an error.
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rookery: {e}");
            ExitCode::from(1)
        }
    }
}

/// Exit status 0 when every server answered, 1 otherwise (as `zkServer.sh status`).
fn status(path: PathBuf) -> ExitCode {
    // Read without dataDir/myid: the status tool runs on any host that has the files. The
    // ensemble comes from dynamicConfigFile when zoo.cfg names one (after a reconfig).
    let cfg = match Config::load_ensemble(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rookery: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let rows = rookery::status::status(&cfg);
    let _ = std::io::stdout().write_all(rookery::status::render(&rows).as_bytes());
    let all_up = rows.iter().all(|r| !matches!(r.mode.as_str(), "not running" | "not serving"));
    if all_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
