//! SIGTERM and SIGINT, without a crate: both are blocked in every thread (the mask is set before
//! the first thread is spawned, and threads inherit it), and one thread takes them with
//! `sigwait(3)`. No handler ever runs, so there is nothing async-signal-unsafe to get wrong: the
//! waiting thread is an ordinary thread that may log, lock and send on a channel.
//!
//! The C functions are glibc's (std links libc on every Unix target); the constants are the
//! Linux (and macOS) values, which differ on a few architectures, hence the `cfg`s.

use crossbeam_channel::{bounded, Receiver};
use std::io;
use std::os::raw::c_int;

pub const SIGINT: c_int = 2;
pub const SIGTERM: c_int = 15;

#[cfg(all(target_os = "linux", not(any(target_arch = "mips", target_arch = "mips64", target_arch = "sparc64"))))]
const SIG_BLOCK: c_int = 0;
#[cfg(any(
    target_os = "macos",
    all(target_os = "linux", any(target_arch = "mips", target_arch = "mips64", target_arch = "sparc64"))
))]
const SIG_BLOCK: c_int = 1;

/// `signal(2)`'s special handlers, as the integers the C API uses.
const SIG_IGN: usize = 1;
const SIG_ERR: usize = usize::MAX;

/// Big enough for `sigset_t` on every supported target (glibc's is 128 bytes, macOS's 4), and
/// only ever touched through `sigemptyset`/`sigaddset`.
#[repr(C)]
struct SigSet([u64; 16]);

extern "C" {
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigaddset(set: *mut SigSet, sig: c_int) -> c_int;
    fn pthread_sigmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwait(set: *const SigSet, sig: *mut c_int) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
}

/// The name of a signal number we handle, for the log.
pub fn name(sig: c_int) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// True when `sig` is ignored (`SIG_IGN`) in this process. A shell starts background commands
/// with SIGINT ignored, so that Ctrl-C in the terminal does not reach them; such a server keeps
/// ignoring it. Must run before any thread exists (it briefly changes the disposition).
fn ignored(sig: c_int) -> bool {
    // SAFETY: signal(2) with SIG_IGN installs no handler; the previous disposition is put back
    // at once, and no other thread exists that could observe the gap.
    unsafe {
        let old = signal(sig, SIG_IGN);
        if old == SIG_ERR {
            return false;
        }
        if old != SIG_IGN {
            signal(sig, old);
        }
        old == SIG_IGN
    }
}

/// The termination signals, blocked in this thread and every thread spawned after it.
pub struct Termination {
    set: SigSet,
    signals: Vec<c_int>,
}

impl Termination {
    /// Blocks SIGTERM and SIGINT (unless SIGINT is ignored, see `ignored`). Call it before any
    /// thread is spawned: a thread that existed before keeps its own mask, and the kernel could
    /// deliver the signal to it, running the default action (exit without a graceful stop).
    pub fn block() -> io::Result<Termination> {
        let mut signals = vec![SIGTERM];
        if !ignored(SIGINT) {
            signals.push(SIGINT);
        }
        let mut set = SigSet([0; 16]);
        // SAFETY: `set` is a valid, writable sigset_t-sized buffer; the functions only write it.
        unsafe {
            if sigemptyset(&mut set) != 0 {
                return Err(io::Error::last_os_error());
            }
            for &s in &signals {
                if sigaddset(&mut set, s) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            let rc = pthread_sigmask(SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
        }
        Ok(Termination { set, signals })
    }

    /// The signals this process takes as a request to stop.
    pub fn signals(&self) -> &[c_int] {
        &self.signals
    }

    /// Starts the thread that waits for the signals. The first one is sent on the returned
    /// channel (capacity 1, never closed while the thread lives); a second one means the operator
    /// does not want to wait for the graceful stop, and `on_second` runs (it should exit).
    pub fn wait_in_thread(self, on_second: fn(c_int)) -> io::Result<Receiver<c_int>> {
        let (tx, rx) = bounded(1);
        std::thread::Builder::new().name("signals".into()).spawn(move || {
            let mut first = true;
            loop {
                let mut sig: c_int = 0;
                // SAFETY: `self.set` was filled by sigemptyset/sigaddset; `sig` is writable.
                let rc = unsafe { sigwait(&self.set, &mut sig) };
                if rc != 0 {
                    log::error!("sigwait failed: {}", io::Error::from_raw_os_error(rc));
                    return;
                }
                if first {
                    first = false;
                    let _ = tx.send(sig);
                } else {
                    on_second(sig);
                }
            }
        })?;
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(SIGTERM), "SIGTERM");
        assert_eq!(name(SIGINT), "SIGINT");
        assert_eq!(name(1), "signal");
    }
}
