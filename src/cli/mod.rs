//! `rookery cli`: a command-line client that prints what Apache ZooKeeper 3.8's `zkCli.sh`
//! prints, so that scripts written against zkCli keep working.
//!
//! ```text
//! rookery cli [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] [-waitforconnection]
//!             [-client-configuration file] [cmd args...]
//! ```
//!
//! With a command it runs that one command and exits (0 on success, 1 on an error, 127 for an
//! unknown command, as zkCli). Without one it reads commands from standard input; on a terminal
//! it shows zkCli's prompt, `[zk: host:port(CONNECTED) 3] `. Watch notifications are printed as
//! they arrive, as zkCli prints them (a blank line, `WATCHER::`, a blank line, the event).
//! As zkCli.sh, it takes the Java client's `-D` properties from `CLIENT_JVMFLAGS` and `JVMFLAGS`:
//! a JAAS `Client` section (`java.security.auth.login.config`) makes it log in with SASL
//! DIGEST-MD5, `zookeeper.client.secure=true` with `zookeeper.ssl.*` PEM stores connects with TLS.
//!
//! The layers: `parse` (words and flags), `format` (zkCli's text), `commands` (one function per
//! command, on a `client::session::Session`), and this module, the loop and the terminal.

mod commands;
pub mod format;
pub mod parse;
mod quota;
mod reconfig;

use crate::client::session::{AddWatchMode, SaslLogin, Session, SessionConfig, States};
use crate::client::watches::WatchedEvent;
use crate::node::tls::SecureClient;
use crossbeam_channel::{bounded, never, select, Receiver};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// zkCli's defaults (`MyCommandOptions`).
const DEFAULT_SERVER: &str = "localhost:2181";
const DEFAULT_TIMEOUT_MS: i32 = 30_000;
/// Lines read ahead from standard input.
const STDIN_QUEUE_MAX: usize = 16;

/// The exit status of a failed command (`CliException`'s default).
pub const EXIT_ERROR: i32 = 1;
/// The exit status after an unknown command (`CommandNotFoundException`).
pub const EXIT_NOT_FOUND: i32 = 127;

/// An error a command reports: the line zkCli prints on stderr, and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub msg: String,
    pub code: i32,
}

impl CliError {
    fn new(msg: impl Into<String>) -> CliError {
        CliError { msg: msg.into(), code: EXIT_ERROR }
    }
}

/// The command-line options (`MyCommandOptions.parseOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub server: String,
    pub timeout_ms: i32,
    pub read_only: bool,
    pub wait_for_connection: bool,
    /// `-client-configuration`: a properties file of client settings (`ZKClientConfig`).
    pub client_configuration: Option<String>,
    /// The command to run, if any, with its arguments.
    pub command: Option<Vec<String>>,
    /// Problems zkCli reports and then ignores.
    pub warnings: Vec<String>,
}

impl Options {
    /// As zkCli: options until the first word that does not start with `-`, which begins the
    /// command; unknown options are ignored.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            server: DEFAULT_SERVER.into(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            read_only: false,
            wait_for_connection: false,
            client_configuration: None,
            command: None,
            warnings: Vec::new(),
        };
        let mut timeout = DEFAULT_TIMEOUT_MS.to_string();
        let mut it = args.iter();
        while let Some(opt) = it.next() {
            let mut value = |o: &mut Options| {
                let v = it.next().cloned();
                if v.is_none() {
                    o.warnings.push(format!("Error: no argument found for option {opt}"));
                }
                v
            };
            match opt.as_str() {
                "-server" => o.server = value(&mut o).unwrap_or(o.server.clone()),
                "-timeout" => timeout = value(&mut o).unwrap_or(timeout),
                "-r" => o.read_only = true,
                "-waitforconnection" => o.wait_for_connection = true,
                "-client-configuration" => o.client_configuration = value(&mut o).or(o.client_configuration.clone()),
                _ if !opt.starts_with('-') => {
                    let mut cmd = vec![opt.clone()];
                    cmd.extend(it.by_ref().cloned());
                    o.command = Some(cmd);
                }
                _ => {}
            }
        }
        o.timeout_ms = timeout.parse().map_err(|_| format!("invalid -timeout {timeout:?}: expected milliseconds"))?;
        Ok(o)
    }
}

/// The Java client's SASL login, from its properties (later ones win): DIGEST-MD5 with the
/// `username` and `password` of the JAAS file's `Client` section (`java.security.auth.login.config`;
/// `zookeeper.sasl.clientconfig` names another section), unless `zookeeper.sasl.client=false`.
/// A problem is a warning and the session goes on without SASL. (The Java client also goes on,
/// after an `AuthFailed` event that zkCli prints before `SyncConnected`; a warning that says what
/// is wrong is clearer.)
pub fn sasl_login(props: &[(String, String)]) -> (Option<SaslLogin>, Vec<String>) {
    use crate::auth::{jaas_path, read_jaas, DIGEST_MODULE};
    let props: HashMap<&str, &str> = props.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let prop = |k: &str| props.get(k).copied();
    let Some(file) = prop("java.security.auth.login.config") else { return (None, vec![]) };
    if prop("zookeeper.sasl.client").is_some_and(|v| !v.eq_ignore_ascii_case("true")) {
        return (None, vec![]);
    }
    let name = prop("zookeeper.sasl.clientconfig").unwrap_or("Client");
    let without = |why: String| (None, vec![format!("{why}; connecting without SASL authentication")]);
    let sections = match read_jaas(jaas_path(file)) {
        Ok(s) => s,
        Err(e) => return without(e),
    };
    let Some((_, entries)) = sections.iter().find(|(n, _)| n == name) else {
        return without(format!("{file}: no JAAS section '{name}'"));
    };
    let Some(entry) = entries.first() else { return without(format!("{file}: section '{name}' is empty")) };
    if entry.module != DIGEST_MODULE {
        return without(format!("{file}: section '{name}' uses {}: only DIGEST-MD5 ({DIGEST_MODULE})", entry.module));
    }
    let option = |k: &str| entry.options.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (option("username"), option("password")) {
        (Some(user), Some(password)) => (Some(SaslLogin { user, password }), vec![]),
        _ => without(format!("{file}: section '{name}' needs username and password")),
    }
}

/// TLS as the Java client sets it up from its properties:
/// `zookeeper.client.secure=true` and the `zookeeper.ssl.*` PEM stores (zkCli.sh also needs
/// `zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty`; Rookery ignores it).
pub fn secure_client(props: &[(String, String)]) -> Result<Option<Arc<SecureClient>>, String> {
    let cfg = crate::config::Config::of_properties(std::path::Path::new("CLIENT_JVMFLAGS"), props.iter().cloned());
    Ok(SecureClient::from_config(&cfg)?.map(Arc::new))
}

/// The shell: a session, its events, and zkCli's bookkeeping (history, printwatches).
pub struct Shell {
    zk: Option<Session>,
    events: Receiver<WatchedEvent>,
    /// The connect string as given (the prompt shows it).
    host: String,
    timeout_ms: i32,
    read_only: bool,
    sasl: Option<SaslLogin>,
    tls: Option<Arc<SecureClient>>,
    history: HashMap<usize, String>,
    /// Lines executed so far (the prompt's number).
    command_count: usize,
    print_watches: bool,
    /// zkCli keeps one AddWatchCommand, whose mode stays as the last `-m` set it.
    add_watch_mode: AddWatchMode,
    /// The status of the last command: what the process exits with.
    exit_code: i32,
    /// Set by `quit`: the shell stops reading commands.
    quit: bool,
    tz: jiff::tz::TimeZone,
}

/// Runs `rookery cli ARGS` and returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let opts = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rookery cli: {e}");
            return 2;
        }
    };
    // zkCli.sh hands `$CLIENT_JVMFLAGS $JVMFLAGS` to java: their -D properties count here too,
    // and a -client-configuration file's override them (ZKClientConfig reads it last).
    let flags = ["CLIENT_JVMFLAGS", "JVMFLAGS"].map(|k| std::env::var(k).unwrap_or_default()).join(" ");
    let mut props = crate::config::jvm_properties(&flags);
    if let Some(file) = &opts.client_configuration {
        match std::fs::read_to_string(file).map_err(|e| e.to_string()).and_then(|t| crate::config::read_properties(&t))
        {
            Ok(more) => props.extend(more),
            Err(e) => {
                // zkCli's status for a configuration it cannot read (INVALID_INVOCATION).
                eprintln!("rookery cli: -client-configuration {file}: {e}");
                return 2;
            }
        }
    }
    let (sasl, sasl_warnings) = sasl_login(&props);
    for w in opts.warnings.iter().chain(&sasl_warnings) {
        eprintln!("{w}");
    }
    let tls = match secure_client(&props) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rookery cli: {e}");
            return EXIT_ERROR;
        }
    };
    println!("Connecting to {}", opts.server);
    let mut shell = Shell::new(&opts, sasl, tls);
    shell.connect(&opts.server);
    if opts.wait_for_connection && !shell.wait_connected(Duration::from_millis(opts.timeout_ms.max(0) as u64)) {
        shell.err_line(&format::keeper_message(crate::codes::ErrorCode::ConnectionLoss, None));
        return EXIT_ERROR;
    }
    match opts.command {
        Some(words) => {
            shell.process(&words);
            // zkCli exits without closing; closing here lets the server drop the session (and
            // its ephemerals) now instead of after the timeout. Nothing more is printed.
            shell.close_quietly();
        }
        None => shell.interactive(),
    }
    shell.exit_code
}

impl Shell {
    fn new(opts: &Options, sasl: Option<SaslLogin>, tls: Option<Arc<SecureClient>>) -> Shell {
        Shell {
            zk: None,
            events: never(),
            host: String::new(),
            timeout_ms: opts.timeout_ms,
            read_only: opts.read_only,
            sasl,
            tls,
            history: HashMap::new(),
            command_count: 0,
            print_watches: true,
            add_watch_mode: AddWatchMode::PersistentRecursive,
            exit_code: 0,
            quit: false,
            tz: jiff::tz::TimeZone::system(),
        }
    }

    /// `connectToZK`: closes a live session (its Closed event is printed), opens a new one.
    fn connect(&mut self, host: &str) {
        if self.zk.as_ref().is_some_and(|z| z.state().is_alive()) {
            self.close_session();
        }
        self.host = host.to_string();
        let cfg = SessionConfig {
            connect_string: host.into(),
            timeout_ms: self.timeout_ms,
            read_only: self.read_only,
            sasl: self.sasl.clone(),
            tls: self.tls.clone(),
        };
        match Session::connect(&cfg) {
            Ok((zk, events)) => {
                self.zk = Some(zk);
                self.events = events;
            }
            Err(e) => {
                self.err_line(&e.to_string());
                self.zk = None;
                self.events = never();
            }
        }
    }

    fn state(&self) -> States {
        self.zk.as_ref().map_or(States::Closed, Session::state)
    }

    fn wait_connected(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.state(), States::Connected | States::ConnectedReadOnly) {
                return true;
            }
            if let Ok(e) = self.events.recv_timeout(Duration::from_millis(20)) {
                self.print_event(&e);
            }
        }
        false
    }

    /// Closes the session and prints what it announced (Closed).
    fn close_session(&mut self) {
        if let Some(zk) = self.zk.as_mut() {
            zk.close();
        }
        self.drain_events();
    }

    fn close_quietly(&mut self) {
        // Nobody reads the events any more: let the session drop them rather than wait.
        self.events = never();
        if let Some(mut zk) = self.zk.take() {
            zk.close();
        }
    }

    /// Prints the events that have arrived so far. Commands call it after each request, so an
    /// event the server sent before a reply is printed before the output that reply produces.
    fn drain_events(&mut self) {
        loop {
            match self.events.try_recv() {
                Ok(e) => self.print_event(&e),
                Err(crossbeam_channel::TryRecvError::Empty) => return,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.events = never();
                    return;
                }
            }
        }
    }

    /// `ZooKeeperMain.MyWatcher.process`: `printMessage` puts a blank line before each line.
    fn print_event(&mut self, e: &WatchedEvent) {
        if self.print_watches {
            self.out(&format!("\nWATCHER::\n\n{e}\n"));
        }
    }

    fn out(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        // A reader that went away (`| head`) is not an error worth a panic.
        let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
    }

    pub(super) fn out_line(&self, line: &str) {
        self.out(&format!("{line}\n"));
    }

    pub(super) fn err_line(&self, line: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// `executeLine`: one line of input, numbered in the history.
    fn execute_line(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        let words = parse::split_line(line);
        self.history.insert(self.command_count, line.to_string());
        self.process(&words);
        self.command_count += 1;
    }

    /// `processCmd`: runs a command and records its exit status; errors go to stderr.
    fn process(&mut self, words: &[String]) {
        match self.process_zk_cmd(words) {
            // `quit` exits with the status of the command before it.
            Ok(()) if self.quit => {}
            Ok(()) => self.exit_code = 0,
            Err(e) => {
                self.exit_code = e.code;
                self.err_line(&e.msg);
            }
        }
    }

    fn interactive(&mut self) {
        println!("Welcome to ZooKeeper!");
        println!("JLine support is disabled");
        let tty = std::io::stdin().is_terminal();
        let (lines_tx, lines) = bounded::<String>(STDIN_QUEUE_MAX);
        // The reader thread ends at end of input, or when the process exits.
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            if tty {
                self.out(&format!("[zk: {}({}) {}] ", self.host, self.state(), self.command_count));
            }
            // Events arriving while the user types are printed at once (the prompt is not
            // repeated, as with zkCli's JLine).
            let line = loop {
                select! {
                    recv(lines) -> l => break l.ok(),
                    recv(self.events) -> e => match e {
                        Ok(e) => self.print_event(&e),
                        Err(_) => self.events = never(),
                    },
                }
            };
            let Some(line) = line else { break };
            self.execute_line(line.trim_end_matches('\r'));
            if self.quit {
                return;
            }
        }
        // End of input: zkCli exits without closing the session; we close it, quietly.
        self.close_quietly();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_login_reads_the_client_section_named_by_the_jvm_flags() {
        let dir = std::env::temp_dir().join(format!("rookery-cli-sasl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jaas.conf");
        std::fs::write(
            &file,
            "Client { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"bob\" password=\"pw\"; };\n\
             Other { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"al\" password=\"x\"; };\n\
             Kerb { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };\n",
        )
        .unwrap();
        let jaas = format!("-Xmx1g -Djava.security.auth.login.config={}", file.display());
        let login = |user: &str, password: &str| Some(SaslLogin { user: user.into(), password: password.into() });
        let sasl_login = |flags: &str| sasl_login(&crate::config::jvm_properties(flags));
        assert_eq!(sasl_login(""), (None, vec![]), "no JAAS file, no SASL");
        assert_eq!(sasl_login(&jaas), (login("bob", "pw"), vec![]));
        // Java's ConfigFile forms: `==path` (replace the JVM's files) and a file: URL.
        for form in ["=", "file:", "=file://"] {
            let flags = format!("-Djava.security.auth.login.config={form}{}", file.display());
            assert_eq!(sasl_login(&flags), (login("bob", "pw"), vec![]), "{flags}");
        }
        assert_eq!(sasl_login(&format!("{jaas} -Dzookeeper.sasl.clientconfig=Other")), (login("al", "x"), vec![]));
        assert_eq!(sasl_login(&format!("{jaas} -Dzookeeper.sasl.client=false")), (None, vec![]));
        for (flags, why) in [
            (format!("{jaas} -Dzookeeper.sasl.clientconfig=Nope"), "no JAAS section 'Nope'"),
            (format!("{jaas} -Dzookeeper.sasl.clientconfig=Kerb"), "uses com.sun.security.auth.module.Krb5LoginModule"),
            ("-Djava.security.auth.login.config=/nonexistent/jaas.conf".to_string(), "cannot read"),
        ] {
            let (none, warnings) = sasl_login(&flags);
            assert!(none.is_none() && warnings.len() == 1, "{flags}: {warnings:?}");
            assert!(warnings[0].contains(why) && warnings[0].ends_with("connecting without SASL authentication"));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
