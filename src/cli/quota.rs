//! `setquota`, `listquota` and `delquota`, as zkCli's `SetQuotaCommand`, `ListQuotaCommand` and
//! `DelQuotaCommand` run them: all client-side, on the nodes under `/zookeeper/quota` that the
//! server's quota bookkeeping reads (see `tree::quota`).

use super::commands::{usage, wrap};
use super::parse::{parse_flags, Parsed, Spec};
use super::{CliError, Shell};
use crate::client::session::{Session, SessionError};
use crate::codes::ErrorCode;
use crate::jute::data::open_acl_unsafe;
use crate::tree::quota::{limit_path, quota_path, stat_path, StatsTrack, LIMIT_NODE};
use crate::tree::{QUOTA, ZOOKEEPER};

type CmdResult = Result<(), CliError>;

/// The option group of setquota and delquota, as commons-cli describes it.
const GROUP: [(char, &str); 4] =
    [('n', "num soft quota"), ('b', "bytes soft quota"), ('N', "num hard quota"), ('B', "bytes hard quota")];

/// Parses a command whose n/b/N/B options form one commons-cli `OptionGroup` (at most one of
/// them; `required` for setquota).
fn parse_group(words: &[String], spec: Spec, required: bool) -> Result<Parsed, CliError> {
    let p = parse_flags(words, spec).map_err(CliError::new)?;
    let mut selected: Option<char> = None;
    for w in words.iter().skip(1) {
        let Some(c) = w.strip_prefix('-').and_then(|r| r.chars().next()) else { continue };
        if !GROUP.iter().any(|(g, _)| *g == c) {
            continue;
        }
        match selected {
            Some(s) if s != c => {
                return Err(CliError::new(format!(
                    "org.apache.commons.cli.AlreadySelectedException: The option '{c}' was specified but an option \
                     from this group has already been selected: '{s}'"
                )))
            }
            _ => selected = Some(c),
        }
    }
    if required && selected.is_none() {
        let names: Vec<String> = GROUP.iter().map(|(c, d)| format!("-{c} {d}")).collect();
        return Err(CliError::new(format!(
            "org.apache.commons.cli.MissingOptionException: Missing required option: [{}]",
            names.join(", ")
        )));
    }
    Ok(p)
}

fn stats_of(data: Option<Vec<u8>>) -> StatsTrack {
    StatsTrack::from_bytes(data.as_deref())
}

/// `SetQuotaCommand.checkIfChildQuota`: no quota may sit below `path`'s.
fn check_if_child_quota(zk: &Session, path: &str) -> Result<(), String> {
    let own = quota_path(path);
    let mut stack = vec![own.clone()];
    while let Some(q) = stack.pop() {
        let children = match zk.get_children(&q, false, false) {
            Ok((c, _)) => c,
            Err(_) => continue,
        };
        if q != own && children.iter().any(|c| c == LIMIT_NODE) {
            return Err(format!("{path} has a child {} which has a quota", &q[QUOTA.len()..]));
        }
        stack.extend(children.iter().rev().map(|c| format!("{q}/{c}")));
    }
    Ok(())
}

/// `SetQuotaCommand.checkIfParentQuota`: no quota may sit above `path`'s.
fn check_if_parent_quota(zk: &Session, path: &str) -> Result<(), String> {
    let parts: Vec<&str> = path.split('/').collect();
    let mut q = QUOTA.to_string();
    for part in parts.iter().take(parts.len().saturating_sub(1)).skip(1) {
        q.push('/');
        q.push_str(part);
        let Ok((children, _)) = zk.get_children(&q, false, false) else { return Ok(()) };
        if children.is_empty() {
            return Ok(());
        }
        if q != quota_path(path) && children.iter().any(|c| c == LIMIT_NODE) {
            return Err(format!("{path} has a parent {} which has a quota", &q[QUOTA.len()..]));
        }
    }
    Ok(())
}

/// Creates `path` if missing (NODEEXISTS from a race is fine).
fn ensure(zk: &Session, path: &str) -> Result<(), SessionError> {
    if zk.exists(path, false)?.is_none() {
        match zk.create(path, None, open_acl_unsafe(), 0, None) {
            Ok(_) | Err(SessionError::Keeper(ErrorCode::NodeExists)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Shell {
    /// `setquota -n|-b|-N|-B val path`.
    pub(super) fn set_quota(&mut self, words: &[String]) -> CmdResult {
        let p = parse_group(words, &[('n', true), ('b', true), ('N', true), ('B', true)], true)?;
        if p.args.len() < 2 {
            return Err(usage("setquota"));
        }
        let path = p.args[1].clone();
        if path.starts_with(QUOTA) {
            self.err_line(&format!("cannot set a quota under the path: {QUOTA}"));
            return Ok(());
        }
        let mut quota = StatsTrack::default();
        quota.set_count(-1);
        quota.set_bytes(-1);
        quota.set_count_hard_limit(-1);
        quota.set_byte_hard_limit(-1);
        for (flag, _) in GROUP {
            let Some(v) = p.value(flag) else { continue };
            let count = flag.eq_ignore_ascii_case(&'n');
            let parsed = if count { v.parse::<i32>().map(i64::from) } else { v.parse::<i64>() };
            let Ok(n) = parsed else {
                self.err_line("NumberFormatException happens when parsing the option value");
                return Ok(());
            };
            if count && n <= 0 {
                self.err_line("the num quota must be greater than zero");
                return Ok(());
            }
            if !count && n < 0 {
                self.err_line("the bytes quota must be greater than or equal to zero");
                return Ok(());
            }
            match flag {
                'n' => quota.set_count(n),
                'b' => quota.set_bytes(n),
                'N' => quota.set_count_hard_limit(n),
                _ => quota.set_byte_hard_limit(n),
            }
        }
        self.create_quota(&path, &quota)
    }

    /// `SetQuotaCommand.createQuota`.
    fn create_quota(&mut self, path: &str, quota: &StatsTrack) -> CmdResult {
        let warnings = self.with_zk(|zk| -> Result<Vec<String>, CliError> {
            let exists = match zk.exists(path, false) {
                Err(SessionError::InvalidArgument(m)) => return Err(CliError::new(m)),
                other => other.map_err(|e| wrap(e, Some(path)))?,
            };
            if exists.is_none() {
                return Err(CliError::new(format!("{path} does not exist.")));
            }
            check_if_child_quota(zk, path).map_err(CliError::new)?;
            check_if_parent_quota(zk, path).map_err(CliError::new)?;
            let keeper = |e| wrap(e, None);
            if zk.exists(QUOTA, false).map_err(keeper)?.is_none() {
                for p in [ZOOKEEPER, QUOTA] {
                    ensure(zk, p).map_err(keeper)?;
                }
            }
            let mut q = QUOTA.to_string();
            for part in path.split('/').skip(1) {
                q.push('/');
                q.push_str(part);
                ensure(zk, &q).map_err(keeper)?;
            }
            let (limits_path, stats_path) = (limit_path(path), stat_path(path));
            let existed = zk.exists(&limits_path, false).map_err(keeper)?.is_some();
            let limits = if !existed {
                zk.create(&limits_path, Some(quota.text().as_bytes()), open_acl_unsafe(), 0, None).map_err(keeper)?;
                let mut zero = StatsTrack::default();
                zero.set_count(0);
                zero.set_bytes(0);
                zk.create(&stats_path, Some(zero.text().as_bytes()), open_acl_unsafe(), 0, None).map_err(keeper)?;
                stats_of(zk.get_data(&limits_path, false).map_err(keeper)?.0)
            } else {
                let mut limits = stats_of(zk.get_data(&limits_path, false).map_err(keeper)?.0);
                if quota.count() > -1 {
                    limits.set_count(quota.count());
                }
                if quota.bytes() > -1 {
                    limits.set_bytes(quota.bytes());
                }
                if quota.count_hard_limit() > -1 {
                    limits.set_count_hard_limit(quota.count_hard_limit());
                }
                if quota.byte_hard_limit() > -1 {
                    limits.set_byte_hard_limit(quota.byte_hard_limit());
                }
                limits
            };
            let usage = stats_of(zk.get_data(&stats_path, false).map_err(keeper)?.0);
            let mut warnings = Vec::new();
            let under = |limit: i64, used: i64| limit > -1 && limit < used;
            if under(limits.count(), usage.count()) || under(limits.count_hard_limit(), usage.count()) {
                warnings.push(format!(
                    "[Warning]: the count quota you create is less than the existing count:{}",
                    usage.count()
                ));
            }
            if under(limits.bytes(), usage.bytes()) || under(limits.byte_hard_limit(), usage.bytes()) {
                warnings.push(format!(
                    "[Warning]: the bytes quota you create is less than the existing bytes:{}",
                    usage.bytes()
                ));
            }
            if existed {
                zk.set_data(&limits_path, limits.text().as_bytes(), -1).map_err(keeper)?;
            }
            Ok(warnings)
        })?;
        for w in warnings {
            self.out_line(&w);
        }
        Ok(())
    }

    /// `listquota path`.
    pub(super) fn list_quota(&mut self, words: &[String]) -> CmdResult {
        let p = parse_flags(words, &[]).map_err(CliError::new)?;
        if p.args.len() < 2 {
            return Err(usage("listquota"));
        }
        let path = p.args[1].clone();
        self.err_line(&format!("absolute path is {}", limit_path(&path)));
        let read = self.with_zk(|zk| -> Result<(StatsTrack, StatsTrack), SessionError> {
            let limits = stats_of(zk.get_data(&limit_path(&path), false)?.0);
            let usage = stats_of(zk.get_data(&stat_path(&path), false)?.0);
            Ok((limits, usage))
        });
        match read {
            Ok((limits, usage)) => {
                self.out_line(&format!("Output quota for {path} {}", limits.text()));
                self.out_line(&format!("Output stat for {path} {}", usage.text()));
                Ok(())
            }
            Err(SessionError::Keeper(ErrorCode::NoNode)) => {
                self.err_line(&format!("quota for {path} does not exist."));
                Ok(())
            }
            Err(e) => Err(wrap(e, Some(&path))),
        }
    }

    /// `delquota [-n|-b|-N|-B] path`: the whole quota, or the limits named.
    pub(super) fn del_quota(&mut self, words: &[String]) -> CmdResult {
        let p = parse_group(words, &[('n', false), ('b', false), ('N', false), ('B', false)], false)?;
        if p.args.len() < 2 {
            return Err(usage("delquota"));
        }
        let path = p.args[1].clone();
        let flags: Vec<char> = GROUP.iter().map(|(c, _)| *c).filter(|c| p.has(*c)).collect();
        let done = self.with_zk(|zk| -> Result<bool, SessionError> {
            let limits_path = limit_path(&path);
            if zk.exists(&limits_path, false)?.is_none() {
                return Ok(false);
            }
            let mut limits = stats_of(zk.get_data(&limits_path, false)?.0);
            if flags.is_empty() {
                let parent = quota_path(&path);
                for child in zk.get_children(&parent, false, false)?.0 {
                    zk.delete(&format!("{parent}/{child}"), -1)?;
                }
                // trimProcQuotas: remove the quota path's empty ancestors, up to /zookeeper/quota.
                let mut q = parent;
                while q != QUOTA && zk.get_children(&q, false, false)?.0.is_empty() {
                    zk.delete(&q, -1)?;
                    q.truncate(q.rfind('/').unwrap_or(0));
                }
            } else {
                for f in flags {
                    match f {
                        'n' => limits.set_count(-1),
                        'b' => limits.set_bytes(-1),
                        'N' => limits.set_count_hard_limit(-1),
                        _ => limits.set_byte_hard_limit(-1),
                    }
                }
                zk.set_data(&limits_path, limits.text().as_bytes(), -1)?;
            }
            Ok(true)
        });
        match done {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.out_line(&format!("Quota does not exist for {path}"));
                Ok(())
            }
            Err(SessionError::Keeper(ErrorCode::NoNode)) => {
                self.err_line(&format!("quota for {path} does not exist."));
                Ok(())
            }
            Err(e) => Err(wrap(e, Some(&path))),
        }
    }
}
