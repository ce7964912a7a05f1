//! `restore`: recreate saved files, directories, links and special files
//! with their metadata, from any [`crate::repo::source::ObjectSource`] through the [`Vfs`].
//!
//! Safety rules (a repository may be hostile or damaged):
//! * Every path component is reached through a directory file descriptor
//!   opened with `O_NOFOLLOW`; nothing is ever written through a symlink.
//!   A regular file gets its metadata through the descriptor it was
//!   written with; anything else through `/proc/self/fd/<dir>/<name>`, so
//!   the parent directory is pinned by its descriptor, not re-walked by name.
//! * Entry names `.`, `..`, empty, or containing `/` are refused; so is a
//!   second entry with the same (demangled) name.
//! * Directories are created mode 0700 and get their recorded metadata only
//!   after everything inside them is done (so their times stick, and no other
//!   user can slip a symlink into them meanwhile).
//! * A missing or corrupt object fails only the files that need it: they are
//!   reported (repository path and object) and removed; the rest restores.
//!
//! Files are restored by rayon jobs in parallel (a large file's chunks are
//! read and checked in parallel batches and written in order); at most
//! [`WINDOW`] files are in flight, so memory stays bounded.

use crate::meta::{self, ApplyOptions, FileType, Metadata};
use crate::object::MODE_TREE;
use crate::object::tree;
use crate::oid::{ObjectId, ObjectKind};
use crate::repo::source::{ReadError, read_kind};
use crate::vfs::{self, Follow, Item, Kind, Vfs, effective_meta};
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, linkat, symlinkat, unlinkat};
use rayon::prelude::*;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Files being restored at once, at most.
pub const WINDOW: usize = 64;
/// Chunks of one file read in parallel per batch.
const CHUNK_BATCH: usize = 32;

/// Errors that stop a restore before it starts (per-entry problems do not:
/// they are reported as [`Problem`]s).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path to restore does not resolve.
    #[error(transparent)]
    Resolve(#[from] vfs::Error),
    /// The output directory cannot be created or opened.
    #[error("cannot use output directory {path}: {source}")]
    Output {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// How to restore.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Restore owners by number, ignoring recorded names.
    pub numeric_ids: bool,
    /// Leave runs of zeros as holes.
    pub sparse: bool,
    /// Re-hash every file chunk against its id (SHA-1) instead of the
    /// cheaper checks of [`crate::repo::source::ObjectSource::read_blob`].
    pub verify_ids: bool,
}

/// Something that was not restored (or not completely), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Path in the repository.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Why an entry failed: a problem with that entry, or the output
/// filesystem being full (which stops the whole restore).
enum Failure {
    Problem(String),
    Full(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Problem(s)
    }
}

fn is_full_errno(errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::ENOSPC | libc::EDQUOT))
}

fn nix_fail(what: &str, e: nix::Error) -> Failure {
    let msg = format!("{what}: {e}");
    if is_full_errno(Some(e as i32)) {
        Failure::Full(msg)
    } else {
        Failure::Problem(msg)
    }
}

fn io_fail(what: &str, e: std::io::Error) -> Failure {
    let full = is_full_errno(e.raw_os_error());
    let msg = format!("{what}: {e}");
    if full {
        Failure::Full(msg)
    } else {
        Failure::Problem(msg)
    }
}

/// Live counters for progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Entries restored.
    pub entries: AtomicU64,
    /// Bytes of file content written.
    pub bytes: AtomicU64,
}

/// The outcome of a restore.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Entries restored.
    pub entries: u64,
    /// Bytes of content written.
    pub bytes: u64,
    /// Entries not restored (the restore is partial when non-empty).
    pub problems: Vec<Problem>,
    /// Metadata that could not be applied, counted by kind (e.g. ownership
    /// when not running as root).
    pub not_applied: Vec<(String, u64)>,
    /// Set when the output filesystem filled up (`ENOSPC`/`EDQUOT`): the
    /// restore stopped there, and entries not yet started were skipped
    /// without being listed in `problems`. Holds where and the error.
    pub stopped: Option<Problem>,
}

/// One directory being restored.
struct Dir {
    fd: OwnedFd,
    /// Parent and our name in it; `None` for the output directory itself.
    parent: Option<(Arc<Dir>, Vec<u8>)>,
    /// Metadata applied when everything inside is done (set once the
    /// directory has been listed, which also reads its own record).
    meta: std::sync::OnceLock<Metadata>,
    /// Whether to apply `meta` at all (not for the output directory).
    apply_meta: bool,
    repo_path: String,
    /// Children not finished yet, plus one while the walker lists it.
    pending: AtomicUsize,
}

impl Dir {
    fn proc_path(&self, name: &[u8]) -> PathBuf {
        let mut p = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        p.push(std::ffi::OsStr::from_bytes(name));
        p
    }
}

struct Shared<'a> {
    vfs: &'a Vfs<'a>,
    opts: &'a Options,
    apply: meta::Applier,
    progress: &'a Progress,
    problems: Mutex<Vec<Problem>>,
    not_applied: Mutex<HashMap<String, u64>>,
    window: Window,
    /// The first out-of-space failure; once set, nothing new is started.
    full: std::sync::OnceLock<Problem>,
}

/// Bounds the files in flight. The walker sleeps when [`WINDOW`] are in
/// flight and is woken only once [`WINDOW_LOW`] remain, so it schedules a
/// batch per wake-up instead of being woken for every finished file (a
/// context switch per file was measurable on two cores).
struct Window {
    in_flight: Mutex<usize>,
    walker_waits: std::sync::Condvar,
}

/// In-flight count at which a waiting walker is woken.
const WINDOW_LOW: usize = WINDOW / 2;

impl Window {
    fn new() -> Window {
        Window {
            in_flight: Mutex::new(0),
            walker_waits: std::sync::Condvar::new(),
        }
    }

    /// Takes a slot, waiting while all are taken.
    fn acquire(&self) {
        // A poisoned lock only means a job panicked; the count is still
        // right (release runs after the job's work).
        let mut n = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= WINDOW {
            n = self.walker_waits.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
    }

    /// Gives a slot back.
    fn release(&self) {
        let mut n = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        if *n == WINDOW_LOW {
            self.walker_waits.notify_one();
        }
    }
}

impl Shared<'_> {
    fn fail(&self, path: &str, f: Failure) {
        match f {
            Failure::Problem(reason) => self.problem(path, reason),
            Failure::Full(reason) => {
                let _ = self.full.set(Problem {
                    path: path.to_string(),
                    reason,
                });
            }
        }
    }

    /// Whether the output filesystem filled up (stop starting new work).
    fn out_of_space(&self) -> bool {
        self.full.get().is_some()
    }

    fn problem(&self, path: &str, reason: String) {
        if let Ok(mut p) = self.problems.lock() {
            p.push(Problem {
                path: path.to_string(),
                reason,
            });
        }
    }

    fn note_unapplied(&self, warnings: Vec<meta::ApplyWarning>) {
        if warnings.is_empty() {
            return;
        }
        if let Ok(mut m) = self.not_applied.lock() {
            for w in warnings {
                *m.entry(warning_kind(&w)).or_default() += 1;
            }
        }
    }

    /// A child of `dir` is done; finish every directory that thereby
    /// completes, innermost first.
    fn child_done(&self, dir: &Arc<Dir>) {
        let mut cur = Arc::clone(dir);
        loop {
            if cur.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
                return;
            }
            let Some((parent, name)) = &cur.parent else {
                return;
            };
            if let (true, Some(m)) = (cur.apply_meta, cur.meta.get()) {
                match self.apply.apply(m, &parent.proc_path(name)) {
                    Ok(w) => self.note_unapplied(w),
                    Err(e) => self.problem(&cur.repo_path, format!("metadata not restored: {e}")),
                }
            }
            self.progress.entries.fetch_add(1, Ordering::Relaxed);
            let next = Arc::clone(parent);
            cur = next;
        }
    }
}

/// A short, countable description of a metadata warning.
fn warning_kind(w: &meta::ApplyWarning) -> String {
    let s = w.to_string();
    // "xattr user.x: Operation not permitted" → "xattr: Operation not permitted"
    match s.split_once(": ") {
        Some((head, tail)) => {
            let kind = head.split_whitespace().next().unwrap_or(head);
            format!("{kind}: {tail}")
        }
        None => s,
    }
}

fn join_repo_path(base: &str, name: &[u8]) -> String {
    let n = String::from_utf8_lossy(name);
    if base.ends_with('/') {
        format!("{base}{n}")
    } else {
        format!("{base}/{n}")
    }
}

fn name_ok(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("empty name")
    } else if name == b"." || name == b".." {
        Err("name is `.` or `..`")
    } else if name.contains(&b'/') {
        Err("name contains `/`")
    } else if name.contains(&0) {
        Err("name contains a NUL byte")
    } else {
        Ok(())
    }
}

/// Open (creating if needed) the output directory.
fn open_outdir(path: &Path) -> Result<OwnedFd, Error> {
    let err = |source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(err)?;
    let f = std::fs::File::open(path).map_err(err)?;
    if !f.metadata().map_err(err)?.is_dir() {
        return Err(err(std::io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    Ok(OwnedFd::from(f))
}

/// Create (or reuse) directory `name` in `parent`, mode 0700, and open it
/// without following symlinks.
fn make_dir(parent: &OwnedFd, name: &[u8]) -> Result<OwnedFd, Failure> {
    let n = std::ffi::OsStr::from_bytes(name);
    match mkdirat(parent.as_fd(), n, Mode::from_bits_truncate(0o700)) {
        Ok(()) => {}
        Err(nix::Error::EEXIST) => {
            let st = fstatat(parent.as_fd(), n, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| nix_fail("directory not created", e))?;
            if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFDIR {
                // Something else is in the way: replace it, but never a
                // directory tree and never by following it.
                unlinkat(parent.as_fd(), n, UnlinkatFlags::NoRemoveDir).map_err(|e| {
                    format!("directory not created: cannot replace the existing entry: {e}")
                })?;
                mkdirat(parent.as_fd(), n, Mode::from_bits_truncate(0o700))
                    .map_err(|e| nix_fail("directory not created", e))?;
            }
        }
        Err(e) => return Err(nix_fail("directory not created", e)),
    }
    openat(
        parent.as_fd(),
        n,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| nix_fail("directory not opened", e))
}

/// Remove whatever non-directory is at `name` (so a restore overwrites).
fn clear_entry(dir: &OwnedFd, name: &[u8]) -> Result<(), String> {
    let n = std::ffi::OsStr::from_bytes(name);
    match unlinkat(dir.as_fd(), n, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::Error::ENOENT) => Ok(()),
        Err(nix::Error::EISDIR) => Err("a directory is in the way".into()),
        Err(e) => Err(format!("cannot replace the existing entry: {e}")),
    }
}

/// Where a request puts things.
enum Target {
    /// Restore `item` as `name` inside the directory.
    Entry(Item, Vec<u8>),
    /// Restore the children of `item` into the directory itself.
    Contents(Item),
}

/// Restore each of `paths` (repository paths; a trailing `/` restores a
/// directory's contents into `outdir`, without it the entry itself) into
/// `outdir`, which is created if missing.
pub fn restore(
    vfs: &Vfs<'_>,
    paths: &[Vec<u8>],
    outdir: &Path,
    opts: &Options,
    progress: &Progress,
) -> Result<Report, Error> {
    let mut targets = Vec::new();
    for p in paths {
        let contents = p.ends_with(b"/") && p.iter().any(|&c| c != b'/');
        let follow = if contents {
            Follow::Links
        } else {
            Follow::Latest
        };
        let (names, mut item) = vfs.resolve(p, follow)?;
        let shown = String::from_utf8_lossy(p).trim_end_matches('/').to_string();
        if contents || names.is_empty() {
            if let Kind::Save { tree, .. } | Kind::Dir { tree } = &item.kind
                && item.meta.is_none()
            {
                item.meta = vfs.dir_meta(tree, &names)?;
            }
            targets.push((shown, names, Target::Contents(item)));
        } else {
            if let Kind::Save { tree, .. } | Kind::Dir { tree } = &item.kind
                && item.meta.is_none()
            {
                item.meta = vfs.dir_meta(tree, &names)?;
            }
            let name = names.last().cloned().unwrap_or_default();
            targets.push((shown, names, Target::Entry(item, name)));
        }
    }
    let root_fd = open_outdir(outdir)?;
    let root = Arc::new(Dir {
        fd: root_fd,
        parent: None,
        meta: std::sync::OnceLock::new(),
        apply_meta: false,
        repo_path: String::from("/"),
        pending: AtomicUsize::new(1),
    });
    let shared = Shared {
        vfs,
        opts,
        apply: meta::Applier::new(ApplyOptions {
            numeric_ids: opts.numeric_ids,
        }),
        progress,
        problems: Mutex::new(Vec::new()),
        not_applied: Mutex::new(HashMap::new()),
        window: Window::new(),
        full: std::sync::OnceLock::new(),
    };
    let mut links: Vec<Deferred> = Vec::new();
    let mut hard: HashMap<Vec<u8>, Primary> = HashMap::new();
    // Permits bound the number of files in flight.
    rayon::in_place_scope(|scope| {
        for (shown, names, target) in targets {
            match target {
                Target::Contents(item) => {
                    root.pending.fetch_add(1, Ordering::AcqRel);
                    let holder = Arc::new(Dir {
                        fd: match root.fd.try_clone() {
                            Ok(fd) => fd,
                            Err(e) => {
                                shared.problem(
                                    &shown,
                                    format!("cannot use the output directory: {e}"),
                                );
                                shared.child_done(&root);
                                continue;
                            }
                        },
                        parent: Some((Arc::clone(&root), Vec::new())),
                        meta: std::sync::OnceLock::new(),
                        apply_meta: false,
                        repo_path: shown.clone(),
                        pending: AtomicUsize::new(1),
                    });
                    walk_dir(
                        &shared, scope, &holder, &item, &names, &mut hard, &mut links,
                    );
                    shared.child_done(&holder);
                }
                Target::Entry(item, name) => {
                    let mut parent_names = names.clone();
                    parent_names.pop();
                    schedule(
                        &shared,
                        scope,
                        &root,
                        item,
                        name,
                        &parent_names,
                        &shown,
                        &mut hard,
                        &mut links,
                    );
                }
            }
        }
    });
    // Hard links whose first member is now complete.
    for d in links {
        if shared.out_of_space() {
            shared.child_done(&d.dir);
            continue;
        }
        let n = std::ffi::OsStr::from_bytes(&d.name);
        let pn = std::ffi::OsStr::from_bytes(&d.primary_name);
        let res = clear_entry(&d.dir.fd, &d.name)
            .map_err(|e| Failure::Problem(format!("hard link not restored: {e}")))
            .and_then(|()| {
                linkat(
                    d.primary_dir.fd.as_fd(),
                    pn,
                    d.dir.fd.as_fd(),
                    n,
                    AtFlags::empty(),
                )
                .map_err(|e| nix_fail("hard link not restored", e))
            });
        match res {
            Ok(()) => {
                progress.entries.fetch_add(1, Ordering::Relaxed);
            }
            Err(f) => shared.fail(&d.repo_path, f),
        }
        shared.child_done(&d.dir);
    }
    shared.child_done(&root);
    let problems = shared.problems.into_inner().unwrap_or_default();
    let mut not_applied: Vec<(String, u64)> = shared
        .not_applied
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .collect();
    not_applied.sort();
    let stopped = shared.full.into_inner();
    Ok(Report {
        stopped,
        entries: progress.entries.load(Ordering::Relaxed),
        bytes: progress.bytes.load(Ordering::Relaxed),
        problems,
        not_applied,
    })
}

/// A hard link to make once its first member is complete.
struct Deferred {
    dir: Arc<Dir>,
    name: Vec<u8>,
    primary_dir: Arc<Dir>,
    primary_name: Vec<u8>,
    repo_path: String,
}

/// The first restored member of a hard-link set.
struct Primary {
    dir: Arc<Dir>,
    name: Vec<u8>,
    id: Option<ObjectId>,
    meta: Metadata,
}

/// Whether two members of a hard-link set can share one inode: same
/// content and the same metadata (bup-format.md §7 item 11).
fn same_inode(a: &Metadata, a_id: Option<ObjectId>, b: &Metadata, b_id: Option<ObjectId>) -> bool {
    a_id == b_id
        && a.mode == b.mode
        && a.mtime == b.mtime
        && a.ctime == b.ctime
        && a.uid == b.uid
        && a.gid == b.gid
        && a.user == b.user
        && a.group == b.group
        && a.rdev == b.rdev
        && a.size == b.size
        && a.acl == b.acl
        && a.linux_attr == b.linux_attr
        && a.xattrs == b.xattrs
}

#[allow(clippy::too_many_arguments)]
fn schedule<'s>(
    shared: &'s Shared<'s>,
    scope: &rayon::Scope<'s>,
    dir: &Arc<Dir>,
    item: Item,
    name: Vec<u8>,
    parent_names: &[Vec<u8>],
    repo_path: &str,
    hard: &mut HashMap<Vec<u8>, Primary>,
    links: &mut Vec<Deferred>,
) {
    if shared.out_of_space() {
        return;
    }
    if let Err(why) = name_ok(&name) {
        shared.problem(repo_path, format!("refused: {why}"));
        return;
    }
    let mut my_names = parent_names.to_vec();
    my_names.push(name.clone());
    if item.is_dir() {
        let fd = match make_dir(&dir.fd, &name) {
            Ok(fd) => fd,
            Err(f) => {
                shared.fail(repo_path, f);
                return;
            }
        };
        dir.pending.fetch_add(1, Ordering::AcqRel);
        let meta = std::sync::OnceLock::new();
        if item.meta.is_some() {
            let _ = meta.set(effective_meta(&item));
        }
        let sub = Arc::new(Dir {
            fd,
            parent: Some((Arc::clone(dir), name)),
            meta,
            apply_meta: true,
            repo_path: repo_path.to_string(),
            pending: AtomicUsize::new(1),
        });
        walk_dir(shared, scope, &sub, &item, &my_names, hard, links);
        shared.child_done(&sub);
        return;
    }
    let m = effective_meta(&item);
    // Hard links: later members become links to the first one.
    if let Some(target) = m.hardlink_target.clone()
        && m.file_type() != FileType::Dir
    {
        let id = item.object_id();
        match hard.get(&target) {
            Some(p) if same_inode(&p.meta, p.id, &m, id) => {
                dir.pending.fetch_add(1, Ordering::AcqRel);
                links.push(Deferred {
                    dir: Arc::clone(dir),
                    name,
                    primary_dir: Arc::clone(&p.dir),
                    primary_name: p.name.clone(),
                    repo_path: repo_path.to_string(),
                });
                return;
            }
            Some(_) => {}
            None => {
                hard.insert(
                    target,
                    Primary {
                        dir: Arc::clone(dir),
                        name: name.clone(),
                        id,
                        meta: m.clone(),
                    },
                );
            }
        }
    }
    // Wait for a free slot, then restore on the pool.
    shared.window.acquire();
    dir.pending.fetch_add(1, Ordering::AcqRel);
    let dir = Arc::clone(dir);
    let repo_path = repo_path.to_string();
    scope.spawn(move |_| {
        // Even if the job panics, its directory and its window slot are
        // given back (the panic then surfaces from the scope, not a hang).
        let _done = JobDone {
            shared,
            dir: Arc::clone(&dir),
        };
        if shared.out_of_space() {
            // Skipped: the restore stops at the first out-of-space error.
        } else if let Err(f) = restore_leaf(shared, &dir, &name, &item, &m, &my_names) {
            let _ = clear_entry(&dir.fd, &name);
            shared.fail(&repo_path, f);
        } else {
            shared.progress.entries.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Finishes a file job when dropped: its directory learns that a child is
/// done, and its slot in the window is released.
struct JobDone<'s> {
    shared: &'s Shared<'s>,
    dir: Arc<Dir>,
}

impl Drop for JobDone<'_> {
    fn drop(&mut self) {
        self.shared.child_done(&self.dir);
        self.shared.window.release();
    }
}

#[allow(clippy::too_many_arguments)]
fn walk_dir<'s>(
    shared: &'s Shared<'s>,
    scope: &rayon::Scope<'s>,
    dir: &Arc<Dir>,
    item: &Item,
    names: &[Vec<u8>],
    hard: &mut HashMap<Vec<u8>, Primary>,
    links: &mut Vec<Deferred>,
) {
    // A directory's listing also gives its own record: one read, not two.
    let listed = match &item.kind {
        Kind::Save { tree, .. } | Kind::Dir { tree } => {
            shared.vfs.read_dir(tree, names, false).map(|(own, c)| {
                let _ = dir.meta.set(own.unwrap_or_else(|| effective_meta(item)));
                c
            })
        }
        _ => shared.vfs.list(item, names, false),
    };
    let children = match listed {
        Ok(c) => c,
        Err(e) => {
            let _ = dir.meta.set(effective_meta(item));
            shared.problem(&dir.repo_path, format!("contents not restored: {e}"));
            return;
        }
    };
    let mut seen = std::collections::HashSet::new();
    for child in children {
        let path = join_repo_path(&dir.repo_path, &child.name);
        if !seen.insert(child.name.clone()) {
            shared.problem(&path, "refused: a second entry with the same name".into());
            continue;
        }
        let name = child.name.clone();
        schedule(shared, scope, dir, child, name, names, &path, hard, links);
    }
}

/// Restore one non-directory entry into `dir`.
fn restore_leaf(
    shared: &Shared<'_>,
    dir: &Arc<Dir>,
    name: &[u8],
    item: &Item,
    m: &Metadata,
    names: &[Vec<u8>],
) -> Result<(), Failure> {
    let n = std::ffi::OsStr::from_bytes(name);
    // Create; only if something is in the way, remove it and create again
    // (an unlink of a missing name still takes the directory's write lock,
    // which would serialise parallel restores into one directory).
    let create = || -> Result<Option<std::fs::File>, (bool, Failure)> {
        let exists = |e: &nix::Error| *e == nix::Error::EEXIST;
        match (&item.kind, item.file_type()) {
            (Kind::Symlink { .. } | Kind::Latest { .. }, _) => {
                let target = shared
                    .vfs
                    .link_target(item, names)
                    .map_err(|e| (false, Failure::Problem(e.to_string())))?;
                symlinkat(std::ffi::OsStr::from_bytes(&target), dir.fd.as_fd(), n)
                    .map_err(|e| (exists(&e), nix_fail("symlink not created", e)))?;
                Ok(None)
            }
            (
                Kind::File { .. },
                FileType::CharDev | FileType::BlockDev | FileType::Fifo | FileType::Socket,
            ) => {
                meta::create_special(m, &dir.proc_path(name)).map_err(|e| {
                    let in_way = std::fs::symlink_metadata(dir.proc_path(name)).is_ok();
                    let full = std::error::Error::source(&e)
                        .and_then(|s| s.downcast_ref::<std::io::Error>())
                        .is_some_and(|s| is_full_errno(s.raw_os_error()));
                    let msg = e.to_string();
                    (
                        in_way,
                        if full {
                            Failure::Full(msg)
                        } else {
                            Failure::Problem(msg)
                        },
                    )
                })?;
                Ok(None)
            }
            (Kind::File { .. }, _) => {
                let fd = openat(
                    dir.fd.as_fd(),
                    n,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| (exists(&e), nix_fail("cannot create", e)))?;
                Ok(Some(std::fs::File::from(fd)))
            }
            _ => Err((
                false,
                Failure::Problem("cannot restore this kind of entry".into()),
            )),
        }
    };
    let file = match create() {
        Ok(f) => f,
        Err((true, _)) => {
            clear_entry(&dir.fd, name)?;
            create().map_err(|(_, e)| e)?
        }
        Err((false, e)) => return Err(e),
    };
    let applied = match (file, &item.kind) {
        (Some(file), Kind::File { id, chunked }) => {
            let written = write_content(shared, &file, id, *chunked, names)?;
            shared.progress.bytes.fetch_add(written, Ordering::Relaxed);
            // Through the descriptor we hold: no path walks, no reopen.
            shared.apply.apply_open(m, &file, &dir.proc_path(name))
        }
        _ => shared.apply.apply(m, &dir.proc_path(name)),
    };
    let warnings = applied.map_err(|e| format!("metadata not restored: {e}"))?;
    shared.note_unapplied(warnings);
    Ok(())
}

/// Write a file's content: chunk blobs read and checked (see
/// [`crate::repo::source::ObjectSource::read_blob`]) in parallel batches,
/// written in order (holes for zero blocks with `sparse`).
fn write_content(
    shared: &Shared<'_>,
    file: &std::fs::File,
    id: &ObjectId,
    chunked: bool,
    names: &[Vec<u8>],
) -> Result<u64, Failure> {
    let src = shared.vfs.source();
    let show = |e: ReadError| e.to_string();
    let blobs: Vec<ObjectId> = if chunked {
        chunk_list(shared, id, names)?
    } else {
        vec![*id]
    };
    let read_one = |b: &ObjectId| {
        if shared.opts.verify_ids {
            read_kind(src, b, ObjectKind::Blob)
        } else {
            src.read_blob(b)
        }
    };
    let read = |batch: &[ObjectId]| -> Vec<Result<Vec<u8>, ReadError>> {
        if batch.len() > 1 {
            batch.par_iter().map(read_one).collect()
        } else {
            batch.iter().map(read_one).collect()
        }
    };
    let mut offset = 0u64;
    let mut write = |datas: Vec<Result<Vec<u8>, ReadError>>| -> Result<(), Failure> {
        for d in datas {
            let d = d.map_err(show)?;
            write_at(file, &d, offset, shared.opts.sparse)
                .map_err(|e| io_fail("write error", e))?;
            offset += d.len() as u64;
        }
        Ok(())
    };
    // Batch k is written while batch k+1 is read and checked, so the
    // (single-threaded, in-order) writing overlaps the parallel reading.
    let mut batches = blobs.chunks(CHUNK_BATCH);
    let mut pending = batches.next().map(read);
    for batch in batches {
        let Some(ready) = pending.take() else { break };
        let (written, next) = rayon::join(|| write(ready), || read(batch));
        written?;
        pending = Some(next);
    }
    if let Some(ready) = pending {
        write(ready)?;
    }
    if shared.opts.sparse {
        file.set_len(offset)
            .map_err(|e| io_fail("write error", e))?;
    }
    Ok(offset)
}

fn write_at(file: &std::fs::File, data: &[u8], offset: u64, sparse: bool) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    if !sparse {
        return file.write_all_at(data, offset);
    }
    const BLOCK: usize = 4096;
    let mut at = 0;
    while at < data.len() {
        let end = (at + BLOCK).min(data.len());
        let piece = &data[at..end];
        if piece.iter().any(|&b| b != 0) {
            file.write_all_at(piece, offset + at as u64)?;
        }
        at = end;
    }
    Ok(())
}

/// The blobs of a chunk tree, in order.
fn chunk_list(
    shared: &Shared<'_>,
    id: &ObjectId,
    names: &[Vec<u8>],
) -> Result<Vec<ObjectId>, String> {
    let src = shared.vfs.source();
    let mut out = Vec::new();
    let mut stack: Vec<std::vec::IntoIter<tree::TreeEntry>> = Vec::new();
    let read_tree = |id: &ObjectId| -> Result<std::vec::IntoIter<tree::TreeEntry>, String> {
        let body = read_kind(src, id, ObjectKind::Tree).map_err(|e| e.to_string())?;
        tree::parse_tree(&body)
            .map(Vec::into_iter)
            .map_err(|e| format!("{}: damaged chunk tree {id}: {e}", vfs_path(names)))
    };
    stack.push(read_tree(id)?);
    while let Some(top) = stack.last_mut() {
        match top.next() {
            None => {
                stack.pop();
            }
            Some(e) if e.mode == MODE_TREE => {
                if stack.len() > 64 {
                    return Err(format!("damaged chunk tree {id}: nested too deep"));
                }
                stack.push(read_tree(&e.id)?);
            }
            Some(e) => out.push(e.id),
        }
    }
    Ok(out)
}

fn vfs_path(names: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for n in names {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(n));
    }
    s
}
