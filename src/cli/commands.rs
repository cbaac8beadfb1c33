//! The commands, each as zkCli's `*Command.java` parses and runs it: the same flags, the same
//! checks in the same order, the same text on the same stream.

use super::format::{self, cli_message, java_list, java_sort, keeper_message};
use super::parse::{self, parse_flags, Parsed, Spec};
use super::{CliError, Shell, EXIT_NOT_FOUND};
use crate::client::session::{AddWatchMode, Session, SessionError};
use crate::client::Op;
use crate::codes::{watcher_type, ErrorCode};
use crate::jute::data::{open_acl_unsafe, Acl, Stat};
use crate::pipeline::OpResult;

type CmdResult = Result<(), CliError>;

/// Every command and its argument synopsis (`CliCommand.getOptionStr`), as the usage lists them.
const COMMANDS: &[(&str, &str)] = &[
    (
        "addWatch",
        "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
    ),
    ("addauth", "scheme auth"),
    ("close", ""),
    ("config", "[-c] [-w] [-s]"),
    ("connect", "host:port"),
    ("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "[-v version] path"),
    ("delquota", "[-n|-b|-N|-B] path"),
    ("deleteall", "path [-b batch size]"),
    ("get", "[-s] [-w] path"),
    ("getAcl", "[-s] path"),
    ("getAllChildrenNumber", "path"),
    ("getEphemerals", "path"),
    ("history", ""),
    ("listquota", "path"),
    ("ls", "[-s] [-w] [-R] path"),
    ("printwatches", "on|off"),
    ("quit", ""),
    (
        "reconfig",
        "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | \
         [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]",
    ),
    ("redo", "cmdno"),
    ("removewatches", "path [-c|-d|-a] [-l]"),
    ("set", "[-s] [-v version] path data"),
    ("setAcl", "[-s] [-v version] [-R] path acl"),
    ("setquota", "-n|-b|-N|-B val path"),
    ("stat", "[-w] path"),
    ("sync", "path"),
    ("version", ""),
    ("whoami", ""),
];

/// What `ls -?` prints (commons-cli's HelpFormatter for LsCommand's options).
const LS_HELP: &str = "usage: ls [options] path\n -?   help\n -R   recurse\n -s   stat\n -w   watch\n";

/// The largest TTL (`EphemeralType.TTL.maxValue()`, 2^40 - 1 ms).
const TTL_MAX: i64 = crate::codes::owner::MAX_TTL;

/// `CliParseException(getUsageStr())`: the command's synopsis as the error.
pub(super) fn usage(cmd: &str) -> CliError {
    let opts = COMMANDS.iter().find(|c| c.0 == cmd).map_or("", |c| c.1);
    CliError::new(format!("{cmd} {opts}"))
}

/// `CliWrapperException` around what the client library threw for `path`.
pub(super) fn wrap(e: SessionError, path: Option<&str>) -> CliError {
    match e {
        SessionError::InvalidArgument(m) => CliError::new(m),
        SessionError::Keeper(code) => CliError::new(cli_message(code, path)),
    }
}

/// `Integer.parseInt`, failing as zkCli does (it dies with this exception; the shell goes on).
fn parse_int(s: &str) -> Result<i32, CliError> {
    s.parse().map_err(|_| CliError::new(format!("java.lang.NumberFormatException: For input string: \"{s}\"")))
}

fn valid(path: &str) -> CmdResult {
    crate::client::paths::validate_path(path, false).map_err(CliError::new)
}

impl Shell {
    /// `ZooKeeperMain.processZKCmd`.
    pub(super) fn process_zk_cmd(&mut self, words: &[String]) -> CmdResult {
        let Some(cmd) = words.first().map(String::as_str) else {
            self.usage();
            return Err(CliError::new("No command entered"));
        };
        if cmd == "help" {
            // Not a zkCli command (zkCli prints the usage for any unknown word, then an error).
            self.usage();
            return Ok(());
        }
        if !COMMANDS.iter().any(|c| c.0 == cmd) {
            self.usage();
            return Err(CliError { msg: format!("Command not found: Command not found {cmd}"), code: EXIT_NOT_FOUND });
        }
        match cmd {
            "quit" => {
                self.close_session();
                self.quit = true;
                return Ok(());
            }
            "redo" if words.len() >= 2 => self.redo(&words[1])?,
            "history" => {
                for i in self.command_count.saturating_sub(10)..=self.command_count {
                    let line = self.history.get(&i).map_or("null", String::as_str);
                    self.out_line(&format!("{i} - {line}"));
                }
            }
            "printwatches" => match words.get(1) {
                None => self.out_line(&format!("printwatches is {}", if self.print_watches { "on" } else { "off" })),
                Some(v) => self.print_watches = v == "on",
            },
            "connect" => {
                let host = words.get(1).cloned().unwrap_or_else(|| self.host.clone());
                self.connect(&host);
            }
            _ => {}
        }
        // The commands below need a live session.
        if !self.state().is_alive() {
            self.out_line("Not connected");
            return Ok(());
        }
        match cmd {
            "addWatch" => self.add_watch(words),
            "addauth" => self.add_auth(words),
            "close" => {
                self.close_session();
                Ok(())
            }
            "config" => self.config(words),
            "create" => self.create(words),
            "delete" => self.delete(words),
            "deleteall" => self.delete_all(words),
            "delquota" => self.del_quota(words),
            "listquota" => self.list_quota(words),
            "reconfig" => self.reconfig(words),
            "setquota" => self.set_quota(words),
            "get" => self.get(words),
            "getAcl" => self.get_acl(words),
            "getAllChildrenNumber" => self.get_all_children_number(words),
            "getEphemerals" => self.get_ephemerals(words),
            "ls" => self.ls(words),
            "removewatches" => self.remove_watches(words),
            "set" => self.set(words),
            "setAcl" => self.set_acl(words),
            "stat" => self.stat(words),
            "sync" => self.sync(words),
            "version" => {
                self.out_line(&format!("ZooKeeper CLI version: {}", crate::fourlw::full_version()));
                Ok(())
            }
            "whoami" => self.who_am_i(),
            _ => Ok(()),
        }
    }

    /// `ZooKeeperMain.usage()`, on stderr.
    fn usage(&self) {
        let mut names: Vec<String> = COMMANDS.iter().map(|c| c.0.to_string()).collect();
        java_sort(&mut names);
        let mut text = String::from("ZooKeeper -server host:port -client-configuration properties-file cmd args\n");
        for n in names {
            let opts = COMMANDS.iter().find(|c| c.0 == n).map_or("", |c| c.1);
            text.push_str(&format!("\t{n} {opts}\n"));
        }
        eprint!("{text}");
    }

    fn redo(&mut self, arg: &str) -> CmdResult {
        let i = parse::java_decode(arg)
            .ok_or_else(|| CliError::new(format!("java.lang.NumberFormatException: For input string: \"{arg}\"")))?;
        if i < 0 || i as usize >= self.command_count {
            return Err(CliError::new("Command index out of range"));
        }
        let line = self.history.get(&(i as usize)).cloned().unwrap_or_default();
        let words = parse::split_line(&line);
        if words.first().map(String::as_str) == Some("redo") {
            return Err(CliError::new("No redoing redos"));
        }
        self.history.insert(self.command_count, line);
        self.process(&words);
        Ok(())
    }

    /// Runs `f` on the session, then prints the events that arrived meanwhile (they came before
    /// the reply, so before the output it leads to).
    pub(super) fn with_zk<T>(&mut self, f: impl FnOnce(&Session) -> T) -> T {
        let r = f(self.zk.as_ref().expect("commands run only on a live session"));
        self.drain_events();
        r
    }

    pub(super) fn print_stat(&self, stat: &Stat) {
        for l in format::stat_lines(stat, &self.tz) {
            self.out_line(&l);
        }
    }

    /// `parse` plus the `retainCompatibility` of get, ls and stat: a third word is the old
    /// `watch` argument, rewritten to `-w` after a warning.
    fn parse_compat(&self, words: &[String], spec: Spec, warning: &str) -> Result<Parsed, CliError> {
        let p = parse_flags(words, spec).map_err(CliError::new)?;
        if p.args.len() <= 2 {
            return Ok(p);
        }
        let mut rewritten = words.to_vec();
        rewritten[2] = "-w".into();
        self.err_line(warning);
        parse_flags(&rewritten, spec).map_err(CliError::new)
    }

    fn parse_acl(&self, text: &str) -> Vec<Acl> {
        let (acl, warnings) = format::parse_acl(text);
        for w in warnings {
            self.err_line(&w);
        }
        acl
    }

    fn ls(&mut self, words: &[String]) -> CmdResult {
        const SPEC: Spec = &[('?', false), ('s', false), ('w', false), ('R', false)];
        if parse_flags(words, SPEC).map_err(CliError::new)?.has('?') {
            self.out(LS_HELP);
        }
        let p = self.parse_compat(
            words,
            SPEC,
            "'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead.",
        )?;
        let Some(path) = p.args.get(1) else { return Err(usage("ls")) };
        let watch = p.has('w');
        if p.has('R') {
            return self.visit_sub_tree(path, watch, &mut |shell, node| {
                shell.out_line(node);
                Ok(())
            });
        }
        let (mut children, stat) =
            self.with_zk(|zk| zk.get_children(path, watch, p.has('s'))).map_err(|e| wrap(e, Some(path)))?;
        java_sort(&mut children);
        self.out_line(&java_list(&children));
        if let Some(stat) = stat {
            self.print_stat(&stat);
        }
        Ok(())
    }

    /// `ZKUtil.visitSubTreeDFS`: the node, then each level's children (sorted) before their
    /// subtrees. A node that vanishes meanwhile is skipped.
    fn visit_sub_tree(
        &mut self,
        path: &str,
        watch: bool,
        visit: &mut dyn FnMut(&mut Shell, &str) -> CmdResult,
    ) -> CmdResult {
        valid(path)?;
        self.with_zk(|zk| zk.get_data(path, watch)).map_err(|e| wrap(e, Some(path)))?;
        visit(self, path)?;
        self.visit_children(path, watch, visit)
    }

    fn visit_children(
        &mut self,
        path: &str,
        watch: bool,
        visit: &mut dyn FnMut(&mut Shell, &str) -> CmdResult,
    ) -> CmdResult {
        let mut children = match self.with_zk(|zk| zk.get_children(path, watch, false)) {
            Ok((c, _)) => c,
            Err(SessionError::Keeper(ErrorCode::NoNode)) => return Ok(()),
            Err(e) => return Err(wrap(e, Some(path))),
        };
        java_sort(&mut children);
        let paths: Vec<String> =
            children.iter().map(|c| if path == "/" { format!("/{c}") } else { format!("{path}/{c}") }).collect();
        for p in &paths {
            visit(self, p)?;
        }
        for p in &paths {
            self.visit_children(p, watch, visit)?;
        }
        Ok(())
    }

    fn get(&mut self, words: &[String]) -> CmdResult {
        const SPEC: Spec = &[('s', false), ('w', false)];
        if parse_flags(words, SPEC).map_err(CliError::new)?.args.len() < 2 {
            return Err(usage("get"));
        }
        let p = self.parse_compat(
            words,
            SPEC,
            "'get path [watch]' has been deprecated. Please use 'get [-s] [-w] path' instead.",
        )?;
        let path = &p.args[1];
        let (data, stat) = self.with_zk(|zk| zk.get_data(path, p.has('w'))).map_err(|e| wrap(e, Some(path)))?;
        self.out_line(&data.map_or_else(|| "null".to_string(), |d| String::from_utf8_lossy(&d).into_owned()));
        if p.has('s') {
            self.print_stat(&stat);
        }
        Ok(())
    }

    fn set(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('s', false), ('v', true)]).map_err(CliError::new)?;
        if p.args.len() < 3 {
            return Err(usage("set"));
        }
        let (path, data) = (&p.args[1], p.args[2].as_bytes());
        let version = p.value('v').map_or(Ok(-1), parse_int)?;
        let stat = self.with_zk(|zk| zk.set_data(path, data, version)).map_err(|e| wrap(e, Some(path)))?;
        if p.has('s') {
            self.print_stat(&stat);
        }
        Ok(())
    }

    fn create(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('e', false), ('s', false), ('c', false), ('t', true)]).map_err(CliError::new)?;
        if p.args.len() < 2 {
            return Err(usage("create"));
        }
        let (e, s, c, t) = (p.has('e'), p.has('s'), p.has('c'), p.has('t'));
        if c && (e || s) {
            return Err(CliError::new(
                "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
            ));
        }
        let ttl = match p.value('t') {
            Some(v) => Some(v.parse::<i64>().map_err(|_| CliError::new("-t argument must be a long value"))?),
            None => None,
        };
        if t && e {
            return Err(CliError::new("TTLs cannot be used with Ephemeral znodes"));
        }
        if t && c {
            return Err(CliError::new("TTLs cannot be used with Container znodes"));
        }
        // CreateMode flags: persistent 0, ephemeral 1, sequential 2, ephemeral-sequential 3,
        // container 4, TTL 5, sequential TTL 6.
        let flags = match (e, s, c) {
            (true, true, _) => 3,
            (true, false, _) => 1,
            (false, true, _) => 2 + 4 * i32::from(t),
            (false, false, true) => 4,
            (false, false, false) => 5 * i32::from(t),
        };
        if ttl.is_some_and(|t| !(1..=TTL_MAX).contains(&t)) {
            return Err(CliError::new(format!("ttl must be positive and cannot be larger than: {TTL_MAX}")));
        }
        let path = &p.args[1];
        let data = p.args.get(2).map(String::as_bytes);
        let acl = match p.args.get(3) {
            Some(text) => self.parse_acl(text),
            None => open_acl_unsafe(),
        };
        crate::client::paths::validate_path(path, flags == 2 || flags == 3 || flags == 6).map_err(CliError::new)?;
        if acl.is_empty() {
            // ZooKeeper.validateACL, before anything is sent: an InvalidACL without a path.
            self.err_line(&keeper_message(ErrorCode::InvalidAcl, None));
            return Err(CliError::new(cli_message(ErrorCode::InvalidAcl, None)));
        }
        match self.with_zk(|zk| zk.create(path, data, acl, flags, ttl)) {
            Ok(created) => {
                self.err_line(&format!("Created {created}"));
                Ok(())
            }
            Err(SessionError::Keeper(code @ (ErrorCode::InvalidAcl | ErrorCode::EphemeralOnLocalSession))) => {
                self.err_line(&if code == ErrorCode::InvalidAcl {
                    keeper_message(code, Some(path))
                } else {
                    "Unable to create ephemeral node on a local session".to_string()
                });
                Err(CliError::new(cli_message(code, Some(path))))
            }
            Err(e) => Err(wrap(e, Some(path))),
        }
    }

    fn delete(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('v', true)]).map_err(CliError::new)?;
        if p.args.len() < 2 {
            return Err(usage("delete"));
        }
        if p.args.len() > 2 {
            self.err_line(
                "'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.",
            );
        }
        let path = &p.args[1];
        let version = p.value('v').map_or(Ok(-1), parse_int)?;
        self.with_zk(|zk| zk.delete(path, version)).map_err(|e| wrap(e, Some(path)))
    }

    /// `ZKUtil.deleteRecursive`: the subtree listed breadth first, deleted deepest first in
    /// multis of `-b` deletes (1000 by default). A failed batch stops it with a message (and a
    /// zero exit status, as in zkCli).
    fn delete_all(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('b', true)]).map_err(CliError::new)?;
        if p.args.len() < 2 {
            return Err(usage("deleteall"));
        }
        let batch = match p.value('b') {
            Some(b) => b.parse::<i32>().map_err(|_| CliError::new("-b argument must be an int value"))?,
            None => 1000,
        };
        let path = &p.args[1];
        valid(path)?;
        let mut tree = vec![path.clone()];
        let mut next = 0;
        while next < tree.len() {
            let node = tree[next].clone();
            next += 1;
            let (children, _) =
                self.with_zk(|zk| zk.get_children(&node, false, false)).map_err(|e| wrap(e, Some(&node)))?;
            let base = if node == "/" { "" } else { node.as_str() };
            tree.extend(children.iter().map(|c| format!("{base}/{c}")));
        }
        let batch = if batch <= 0 { usize::MAX } else { batch as usize };
        let mut success = true;
        for chunk in tree.iter().rev().collect::<Vec<_>>().chunks(batch) {
            let ops: Vec<Op> = chunk.iter().map(|p| Op::Delete { path: (*p).clone(), version: -1 }).collect();
            let ok = self
                .with_zk(|zk| zk.multi(&ops))
                .is_ok_and(|results| !results.iter().any(|r| matches!(r, OpResult::Error(e) if *e != 0)));
            if !ok {
                success = false;
                break;
            }
        }
        if !success {
            self.err_line("Failed to delete some node(s) in the subtree!");
        }
        Ok(())
    }

    fn stat(&mut self, words: &[String]) -> CmdResult {
        const SPEC: Spec = &[('w', false)];
        if parse_flags(words, SPEC).map_err(CliError::new)?.args.len() < 2 {
            return Err(usage("stat"));
        }
        let p = self.parse_compat(
            words,
            SPEC,
            "'stat path [watch]' has been deprecated. Please use 'stat [-w] path' instead.",
        )?;
        let path = &p.args[1];
        match self.with_zk(|zk| zk.exists(path, p.has('w'))).map_err(|e| wrap(e, Some(path)))? {
            Some(stat) => {
                self.print_stat(&stat);
                Ok(())
            }
            None => Err(CliError::new(cli_message(ErrorCode::NoNode, Some(path)))),
        }
    }

    fn sync(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[]).map_err(CliError::new)?;
        let Some(path) = p.args.get(1) else { return Err(usage("sync")) };
        valid(path)?;
        match self.with_zk(|zk| zk.sync(path)) {
            Ok(()) => self.out_line("Sync is OK"),
            Err(SessionError::Keeper(code)) => self.out_line(&format!("Sync has failed. rc={}", code.code())),
            Err(e) => return Err(wrap(e, Some(path))),
        }
        Ok(())
    }

    fn get_acl(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('s', false)]).map_err(CliError::new)?;
        let Some(path) = p.args.get(1) else { return Err(usage("getAcl")) };
        let (acl, stat) = self.with_zk(|zk| zk.get_acl(path)).map_err(|e| wrap(e, Some(path)))?;
        for a in &acl {
            for l in format::acl_lines(a) {
                self.out_line(&l);
            }
        }
        if p.has('s') {
            self.print_stat(&stat);
        }
        Ok(())
    }

    fn set_acl(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('s', false), ('v', true), ('R', false)]).map_err(CliError::new)?;
        if p.args.len() < 3 {
            return Err(usage("setAcl"));
        }
        let path = &p.args[1];
        let acl = self.parse_acl(&p.args[2]);
        let version = p.value('v').map_or(Ok(-1), parse_int)?;
        if p.has('R') {
            // Each node's failure is printed (without a newline, as zkCli's `out.print`) and the
            // walk goes on.
            return self.visit_sub_tree(path, false, &mut |shell, node| {
                let r = if acl.is_empty() {
                    Err(SessionError::Keeper(ErrorCode::InvalidAcl))
                } else {
                    shell.with_zk(|zk| zk.set_acl(node, acl.clone(), version))
                };
                match r {
                    Err(SessionError::Keeper(code)) => {
                        let at = (!acl.is_empty()).then_some(node);
                        shell.out(&keeper_message(code, at));
                    }
                    Err(SessionError::InvalidArgument(m)) => return Err(CliError::new(m)),
                    Ok(_) => {}
                }
                Ok(())
            });
        }
        valid(path)?;
        if acl.is_empty() {
            return Err(CliError::new(cli_message(ErrorCode::InvalidAcl, None)));
        }
        let stat = self.with_zk(|zk| zk.set_acl(path, acl, version)).map_err(|e| wrap(e, Some(path)))?;
        if p.has('s') {
            self.print_stat(&stat);
        }
        Ok(())
    }

    fn add_auth(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[]).map_err(CliError::new)?;
        if p.args.len() < 2 {
            return Err(usage("addauth"));
        }
        let auth = p.args.get(2).map(String::as_bytes);
        self.with_zk(|zk| zk.add_auth(&p.args[1], auth));
        Ok(())
    }

    fn who_am_i(&mut self) -> CmdResult {
        let infos = self.with_zk(Session::who_am_i).map_err(|e| wrap(e, None))?;
        self.out_line("Auth scheme: User");
        for i in infos {
            self.out_line(&format!("{}: {}", i.auth_scheme, i.user));
        }
        Ok(())
    }

    fn get_ephemerals(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[]).map_err(CliError::new)?;
        let prefix = p.args.get(1).map_or("/", String::as_str);
        let list = self.with_zk(|zk| zk.get_ephemerals(prefix)).map_err(|e| wrap(e, None))?;
        self.out_line(&java_list(&list));
        Ok(())
    }

    fn get_all_children_number(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[]).map_err(CliError::new)?;
        let Some(path) = p.args.get(1) else { return Err(usage("getAllChildrenNumber")) };
        let n = self.with_zk(|zk| zk.get_all_children_number(path)).map_err(|e| wrap(e, Some(path)))?;
        self.out_line(&n.to_string());
        Ok(())
    }

    fn add_watch(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('m', true)]).map_err(CliError::new)?;
        if p.args.len() != 2 {
            return Err(usage("addWatch"));
        }
        if let Some(m) = p.value('m') {
            self.add_watch_mode = match m.to_uppercase().as_str() {
                "PERSISTENT" => AddWatchMode::Persistent,
                "PERSISTENT_RECURSIVE" => AddWatchMode::PersistentRecursive,
                _ => return Err(usage("addWatch")),
            };
        }
        let (path, mode) = (&p.args[1], self.add_watch_mode);
        self.with_zk(|zk| zk.add_watch(path, mode)).map_err(|e| wrap(e, Some(path)))
    }

    fn remove_watches(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('c', false), ('d', false), ('a', false), ('l', false)]).map_err(CliError::new)?;
        let Some(path) = p.args.get(1) else { return Err(usage("removewatches")) };
        let kind = if p.has('c') {
            watcher_type::CHILDREN
        } else if p.has('d') {
            watcher_type::DATA
        } else {
            watcher_type::ANY
        };
        self.with_zk(|zk| zk.remove_watches(path, kind, p.has('l'))).map_err(|e| wrap(e, Some(path)))
    }

    fn config(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[('s', false), ('w', false), ('c', false)]).map_err(CliError::new)?;
        let (data, stat) =
            self.with_zk(|zk| zk.get_config(p.has('w'))).map_err(|e| wrap(e, Some(crate::tree::CONFIG)))?;
        let text = data.map_or_else(|| "null".to_string(), |d| String::from_utf8_lossy(&d).into_owned());
        self.out_line(&if p.has('c') { format::client_config_str(&text) } else { text });
        if p.has('s') {
            self.print_stat(&stat);
        }
        Ok(())
    }
}
