//! Named crash points for the kill -9 tests.
//!
//! `BACKUP_FAILPOINT=<name>[:<n>][:stop]` makes the process send itself
//! SIGKILL (or, with `stop`, SIGSTOP, so a test can change the filesystem
//! and then continue it) the n-th time (default 1st) execution reaches
//! [`hit`]`(<name>)`. Unset (the normal case) a hit costs one atomic load. The points sit between the
//! durable steps of a write (pack data, trailer, idx, renames, ref update,
//! index rename) so tests can prove each intermediate state is safe.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Armed {
    name: String,
    nth: u64,
    stop: bool,
    seen: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("BACKUP_FAILPOINT").ok()?;
            let mut parts = spec.split(':');
            let name = parts.next()?.to_string();
            let mut nth = 1;
            let mut stop = false;
            for p in parts {
                match p {
                    "stop" => stop = true,
                    k => nth = k.parse().ok()?,
                }
            }
            Some(Armed {
                name,
                nth,
                stop,
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Crash here with SIGKILL if `BACKUP_FAILPOINT` selects this point.
pub fn hit(name: &'static str) {
    let Some(a) = armed() else { return };
    if a.name == name && a.seen.fetch_add(1, Ordering::SeqCst) + 1 == a.nth {
        use nix::sys::signal::{Signal, kill, raise};
        if a.stop {
            // Thread-directed, so this thread stops before it goes on; the
            // whole process stops and resumes when the test sends SIGCONT.
            let _ = raise(Signal::SIGSTOP);
            return;
        }
        let _ = kill(nix::unistd::Pid::this(), Signal::SIGKILL);
        // SIGKILL cannot be caught; wait for it to land.
        loop {
            std::thread::park();
        }
    }
}
