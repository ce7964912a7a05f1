//! The writer lock: one process at a time writes to a repository.
//!
//! `backup.lock` in the repository root is locked with `flock(LOCK_EX)`; the
//! kernel releases it when the holder exits, even after `kill -9`, so a crash
//! never leaves a stale lock. The file is never deleted (deleting a lock file
//! races with a waiter that already opened it). After locking, the holder
//! writes its pid and command into the file so a waiter can say who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Errors taking the lock.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process holds the lock and did not release it in time.
    #[error(
        "repository {repo} is locked by another writer ({holder}); waited {waited:?} (retry later, or raise --lock-wait)"
    )]
    Busy {
        /// The repository.
        repo: PathBuf,
        /// What the holder wrote into the lock file.
        holder: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Held while writing; released on drop (or by the kernel on exit).
#[derive(Debug)]
pub struct RepoLock {
    file: File,
    path: PathBuf,
}

impl RepoLock {
    /// Take the writer lock of the repository at `repo`, waiting up to
    /// `wait`. `on_wait` is called once if we have to wait, with the holder's
    /// description.
    pub fn acquire(
        repo: &Path,
        wait: Duration,
        on_wait: &mut dyn FnMut(&str),
    ) -> Result<RepoLock, Error> {
        let path = repo.join("backup.lock");
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = holder_of(&mut file);
                    if start.elapsed() >= wait {
                        return Err(Error::Busy {
                            repo: repo.to_path_buf(),
                            holder,
                            waited: start.elapsed(),
                        });
                    }
                    if !told {
                        on_wait(&holder);
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let who = format!(
            "pid {} ({})",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(who.as_bytes()).map_err(io)?;
        Ok(RepoLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn holder_of(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.rewind();
    let _ = file.take(512).read_to_string(&mut s);
    if s.is_empty() {
        "unknown holder".into()
    } else {
        s
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_waits_then_fails_clearly() {
        let td = tempfile::tempdir().unwrap();
        let first = RepoLock::acquire(td.path(), Duration::ZERO, &mut |_| {}).unwrap();
        let mut waited_for = String::new();
        let err = RepoLock::acquire(td.path(), Duration::from_millis(250), &mut |h| {
            waited_for = h.to_string()
        })
        .unwrap_err();
        assert!(waited_for.contains(&format!("pid {}", std::process::id())));
        assert!(matches!(err, Error::Busy { .. }));
        assert!(err.to_string().contains("locked by another writer"));
        drop(first);
        RepoLock::acquire(td.path(), Duration::ZERO, &mut |_| {}).unwrap();
    }
}
