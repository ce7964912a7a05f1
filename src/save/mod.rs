//! `save` and `split`: turning files and streams into objects, trees and a
//! commit, written through an [`ObjectSink`].
//!
//! Owns the save pipeline: the walker (main thread) reads the old file index
//! in step and decides per entry whether its stored object can be reused;
//! everything else becomes a job on the rayon pool (capture metadata, read,
//! chunk, hash, compress, store). Results are consumed in walk order through
//! a bounded window, so directories are assembled bottom-up with bounded
//! memory. Files larger than one read block are stored by the main thread
//! itself, with their chunks hashed and compressed in parallel.
//!
//! Write order: objects (packs) → flush (durable) → ref (compare-and-swap)
//! → file index. A crash at any point leaves the previous saves intact.

pub mod commit;
pub mod dirtree;
pub mod index;
pub mod split;
pub mod stream;
pub mod walk;

use crate::fsindex::{self, Entry, IndexReader, Merger, RootRules, Stat};
use crate::meta::{self, Capturer};
use crate::object::mangle::mangle;
use crate::object::{MODE_FILE, MODE_SYMLINK, MODE_TREE, TreeEntry};
use crate::oid::{ObjectId, ObjectKind};
use crate::repo::refs;
use crate::repo::sink::{ObjectSink, SinkError, SinkStats, store};
use dirtree::{Finished, Placement, RootResult, Skeleton};
use std::collections::{HashMap, VecDeque};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// Files at most this large are stored by pool jobs (whole file in memory);
/// larger ones by the main thread, block by block, chunks in parallel.
const SMALL_FILE: u64 = 1 << 20;
/// Results waiting to be assembled, at most.
const WINDOW: usize = 512;

/// Errors that stop a save (per-file problems do not: they are reported as
/// [`Skipped`] and the save completes).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The backup name is not acceptable.
    #[error(transparent)]
    Name(#[from] refs::Error),
    /// A path to save or a rule is unusable.
    #[error(transparent)]
    Walk(#[from] walk::Error),
    /// The repository could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The file index could not be written.
    #[error(transparent)]
    Index(#[from] fsindex::Error),
}

impl From<stream::Error> for Error {
    fn from(e: stream::Error) -> Error {
        Error::Sink(dirtree::sink_error(e))
    }
}

/// How saved paths are placed in the commit tree (bup-format.md §2.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PathMap {
    /// Mirror absolute paths.
    #[default]
    Absolute,
    /// `--strip`: each path becomes the root.
    Strip,
    /// `--strip-path P`: remove the prefix P.
    StripPath(PathBuf),
    /// `--graft OLD=NEW` (repeatable).
    Graft(Vec<(PathBuf, PathBuf)>),
}

/// What to save and how.
#[derive(Clone, Debug, Default)]
pub struct SaveOptions {
    /// Backup name (branch).
    pub name: String,
    /// Paths to save.
    pub paths: Vec<PathBuf>,
    /// Commit date in seconds since the epoch (default: now).
    pub date: Option<i64>,
    /// Placement of paths in the tree.
    pub map: PathMap,
    /// Walk rules (`path` is ignored; applied to every root).
    pub rules: RootRules,
    /// The subcommand and its arguments, for the commit message.
    pub message_args: Vec<Vec<u8>>,
    /// The file index to update (`None`: none).
    pub index: Option<PathBuf>,
    /// Reuse objects of unchanged files recorded in the index (`false`:
    /// read every file; the index is still updated).
    pub reuse_index: bool,
    /// Paths never saved (the repository itself).
    pub never_save: Vec<PathBuf>,
}

/// A path that was not saved, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The path.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// Live counters for progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Entries assembled.
    pub entries: AtomicU64,
    /// Bytes of file content read.
    pub bytes_read: AtomicU64,
    /// Files whose stored object was reused without reading.
    pub reused: AtomicU64,
}

/// The outcome of a save.
#[derive(Clone, Debug)]
pub struct SaveReport {
    /// The new commit.
    pub commit: ObjectId,
    /// Its tree.
    pub tree: ObjectId,
    /// The previous save, if any.
    pub parent: Option<ObjectId>,
    /// Paths not saved (the save is partial when non-empty).
    pub skipped: Vec<Skipped>,
    /// Non-fatal problems after the commit (e.g. the file index could not be written).
    pub warnings: Vec<String>,
    /// Entries saved.
    pub entries: u64,
    /// Files reused from the index without reading.
    pub reused: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// What the sink wrote.
    pub sink: SinkStats,
}

struct Ctx<'a> {
    sink: &'a dyn ObjectSink,
    capturer: Capturer,
    progress: &'a Progress,
    /// Times at or after this are "racy": the file may change again within
    /// the filesystem's timestamp granularity, so it is not trusted next time.
    racy_cutoff: i128,
}

enum JobOut {
    Dir {
        record0: Vec<u8>,
        warning: Option<String>,
        index: Entry,
    },
    Leaf {
        fin: Finished,
        index: Entry,
        warning: Option<String>,
    },
    Skip(Skipped),
    Fatal(Error),
}

struct Pending {
    depth: usize,
    name: Vec<u8>,
    rx: Result<mpsc::Receiver<JobOut>, Box<JobOut>>,
}

impl Pending {
    fn ready(depth: usize, name: Vec<u8>, out: JobOut) -> Pending {
        Pending {
            depth,
            name,
            rx: Err(Box::new(out)),
        }
    }

    fn wait(self) -> (usize, Vec<u8>, JobOut) {
        let out = match self.rx {
            Err(out) => *out,
            Ok(rx) => rx.recv().unwrap_or_else(|_| {
                JobOut::Fatal(Error::Sink(SinkError::Other(
                    "internal error: a save job ended without a result".into(),
                )))
            }),
        };
        (self.depth, self.name, out)
    }
}

struct OpenDir {
    name: Vec<u8>,
    record0: Vec<u8>,
    entries: Vec<Finished>,
}

/// Assembles job results (in walk order) into directory trees.
struct Assembler<'a, 'm> {
    sink: &'a dyn ObjectSink,
    stack: Vec<OpenDir>,
    result: Option<RootResult>,
    merger: Option<&'a mut Merger<'m>>,
    skipped: &'a mut Vec<Skipped>,
    on_skip: &'a mut dyn FnMut(&Skipped),
    progress: &'a Progress,
    dups: Vec<Vec<u8>>,
    warnings: Vec<String>,
}

impl Assembler<'_, '_> {
    fn skip(&mut self, s: Skipped) {
        (self.on_skip)(&s);
        self.skipped.push(s);
    }

    fn pop_to(&mut self, depth: usize) -> Result<(), Error> {
        while self.stack.len() > depth {
            let Some(d) = self.stack.pop() else { break };
            match self.stack.last_mut() {
                None => {
                    self.result = Some(RootResult::Dir {
                        record0: d.record0,
                        entries: d.entries,
                    });
                }
                Some(_) => {
                    let fin = dirtree::finish_dir(
                        self.sink,
                        d.name,
                        &d.record0,
                        d.entries,
                        &mut self.dups,
                    )?;
                    if let Some(parent) = self.stack.last_mut() {
                        parent.entries.push(fin);
                    }
                }
            }
        }
        Ok(())
    }

    fn index(&mut self, e: &Entry) -> Result<(), Error> {
        if let Some(m) = self.merger.as_mut() {
            m.push(e)?;
        }
        Ok(())
    }

    fn take(&mut self, p: Pending) -> Result<(), Error> {
        let (depth, name, out) = p.wait();
        match out {
            JobOut::Skip(s) => self.skip(s),
            JobOut::Fatal(e) => return Err(e),
            JobOut::Dir {
                record0,
                warning,
                index,
            } => {
                if depth > self.stack.len() {
                    return Ok(()); // parent was not readable; already reported
                }
                self.pop_to(depth)?;
                if let Some(w) = warning {
                    self.skip(Skipped {
                        path: bytes_path(&index.path),
                        reason: w,
                    });
                }
                self.index(&index)?;
                self.stack.push(OpenDir {
                    name,
                    record0,
                    entries: Vec::new(),
                });
            }
            JobOut::Leaf {
                fin,
                index,
                warning,
            } => {
                if let Some(w) = warning {
                    self.warnings.push(w);
                }
                if depth > self.stack.len() {
                    return Ok(());
                }
                self.pop_to(depth)?;
                self.index(&index)?;
                match self.stack.last_mut() {
                    Some(dir) => dir.entries.push(fin),
                    None => self.result = Some(RootResult::Leaf(fin)),
                }
            }
        }
        self.progress.entries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

/// Save `opts.paths` as a new commit on branch `opts.name`.
pub fn save(
    sink: &dyn ObjectSink,
    opts: &SaveOptions,
    progress: &Progress,
    on_skip: &mut dyn FnMut(&Skipped),
) -> Result<SaveReport, Error> {
    refs::validate_name(&opts.name)?;
    let now = chrono::Utc::now().timestamp();
    let date = opts.date.unwrap_or(now);

    let mut warnings = Vec::new();
    let old = match &opts.index {
        None => None,
        Some(p) => match IndexReader::open(p) {
            Ok(r) => r,
            Err(e @ fsindex::Error::Corrupt { .. }) => {
                warnings.push(e.to_string());
                None
            }
            Err(e) => return Err(e.into()),
        },
    };

    // Roots: resolved; this run's rules plus those `backup index` recorded.
    let recorded: Vec<RootRules> = old.as_ref().map(|o| o.roots().to_vec()).unwrap_or_default();
    let mut roots = Vec::new();
    for p in &opts.paths {
        let abs = walk::resolve_root(p)?;
        roots.push(walk::effective_rules(
            abs.as_os_str().as_bytes(),
            &opts.rules,
            &recorded,
        ));
    }
    let roots = walk::normalise_roots(roots);

    let branch = refs::branch_ref(&opts.name);
    let parent = sink.read_ref(&branch)?;

    let mut merger = match &opts.index {
        None => None,
        Some(p) => {
            let all = walk::recorded_after_save(&recorded, &roots);
            let w = fsindex::IndexWriter::create(p, &all)?;
            Some(Merger::new(
                old.as_ref(),
                roots.iter().map(|r| r.path.clone()).collect(),
                w,
            ))
        }
    };

    let ctx = Ctx {
        sink,
        capturer: Capturer::new(),
        progress,
        racy_cutoff: fsindex::racy_cutoff(),
    };
    let mut cursor = if opts.reuse_index {
        old.as_ref().map(IndexReader::cursor)
    } else {
        None
    };
    let mut hardlinks: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut skeleton = Skeleton::default();
    let mut skipped = Vec::new();
    let mut dups = Vec::new();
    for root in &roots {
        let excl = walk::Excluder::new(root, &opts.never_save)?;
        let placement = placement_for(&root.path, &opts.map);
        let mut asm = Assembler {
            sink,
            stack: Vec::new(),
            result: None,
            merger: merger.as_mut(),
            skipped: &mut skipped,
            on_skip,
            progress,
            dups: Vec::new(),
            warnings: Vec::new(),
        };
        save_root(&ctx, root, excl, cursor.as_mut(), &mut hardlinks, &mut asm)?;
        let result = asm.result.take();
        dups.append(&mut asm.dups);
        warnings.append(&mut asm.warnings);
        if result.is_none() {
            let s = Skipped {
                path: bytes_path(&root.path),
                reason:
                    "nothing was saved for this path: it is excluded (by this command's rules or \
                         rules recorded with `backup index`) or could not be read"
                        .into(),
            };
            on_skip(&s);
            skipped.push(s);
        }
        if let Some(result) = result {
            let mut warn = |p: &Path, reason: String| {
                let s = Skipped {
                    path: p.to_path_buf(),
                    reason,
                };
                on_skip(&s);
                skipped.push(s);
            };
            skeleton.insert(&placement, result, &ctx.capturer, &mut warn);
        }
    }
    let tree = skeleton.build(sink, &mut dups)?;
    for d in dups {
        let s = Skipped {
            path: bytes_path(&d),
            reason: "another saved path has the same name at this place in the tree; the first one was kept".into(),
        };
        on_skip(&s);
        skipped.push(s);
    }

    let message = commit::save_message(&opts.message_args);
    let c = commit::make_commit(tree, parent, date, message);
    let cid = store(sink, ObjectKind::Commit, &c.encode())?;
    sink.flush()?;
    sink.update_ref(&branch, cid, parent, "backup save")?;

    if let Some(m) = merger
        && let Err(e) = m.finish()
    {
        warnings.push(format!(
            "the save is complete, but {e}; the next save will read every file"
        ));
    }
    Ok(SaveReport {
        commit: cid,
        tree,
        parent,
        skipped,
        warnings,
        entries: progress.entries.load(Ordering::Relaxed),
        reused: progress.reused.load(Ordering::Relaxed),
        bytes_read: progress.bytes_read.load(Ordering::Relaxed),
        sink: sink.stats(),
    })
}

fn placement_for(root: &[u8], map: &PathMap) -> Placement {
    // As bup: --strip/--strip-path/--graft apply to directories; a file
    // given as a path keeps its absolute place.
    let is_dir = std::fs::symlink_metadata(bytes_path(root)).is_ok_and(|m| m.is_dir());
    if !is_dir {
        return dirtree::place(root, b"/", b"/");
    }
    let bytes = |p: &Path| {
        let mut b = p.as_os_str().as_bytes().to_vec();
        while b.len() > 1 && b.last() == Some(&b'/') {
            b.pop();
        }
        b
    };
    match map {
        PathMap::Absolute => dirtree::place(root, b"/", b"/"),
        PathMap::Strip => dirtree::place(root, root, b"/"),
        PathMap::StripPath(p) => {
            let p = bytes(p);
            if fsindex::is_under(root, &p) {
                dirtree::place(root, &p, b"/")
            } else {
                dirtree::place(root, b"/", b"/")
            }
        }
        PathMap::Graft(pairs) => {
            let best = pairs
                .iter()
                .map(|(o, n)| (bytes(o), bytes(n)))
                .filter(|(o, _)| fsindex::is_under(root, o))
                .max_by_key(|(o, _)| o.len());
            match best {
                Some((o, n)) => dirtree::place(root, &o, &n),
                None => dirtree::place(root, b"/", b"/"),
            }
        }
    }
}

fn save_root(
    ctx: &Ctx<'_>,
    root: &RootRules,
    excl: walk::Excluder,
    mut cursor: Option<&mut fsindex::Cursor<'_>>,
    hardlinks: &mut HashMap<(u64, u64), Vec<u8>>,
    asm: &mut Assembler<'_, '_>,
) -> Result<(), Error> {
    let mut queue: VecDeque<Pending> = VecDeque::new();
    std::thread::scope(|threads| {
        rayon::in_place_scope(|scope| -> Result<(), Error> {
            for step in walk::walk_ahead(threads, root, excl) {
                let (depth, path, stat) = match step {
                    walk::Step::Error { path, reason } => {
                        queue.push_back(Pending::ready(
                            0,
                            Vec::new(),
                            JobOut::Skip(Skipped { path, reason }),
                        ));
                        continue;
                    }
                    walk::Step::Entry { depth, path, stat } => (depth, path, stat),
                };
                let name = path
                    .file_name()
                    .map(|n| n.as_bytes().to_vec())
                    .unwrap_or_default();
                let pbytes = path.as_os_str().as_bytes().to_vec();
                let old = cursor.as_mut().and_then(|c| c.seek(&pbytes));
                if stat.is_dir() {
                    // A few syscalls per directory: cheaper here than as a job.
                    let out = dir_job(ctx, &path, &stat);
                    queue.push_back(Pending::ready(depth, name, out));
                } else {
                    let hardlink = if stat.nlink() > 1 {
                        Some(
                            hardlinks
                                .entry((stat.dev(), stat.ino()))
                                .or_insert_with(|| pbytes.clone())
                                .clone(),
                        )
                    } else {
                        None
                    };
                    let reuse = old.filter(|o| {
                        o.id.is_some_and(|id| ctx.sink.contains(&id))
                            && o.git_mode != 0
                            && Stat::from_metadata(&stat).unchanged(&o.stat)
                    });
                    if reuse.is_some() || (stat.is_file() && stat.len() > SMALL_FILE) {
                        // Unchanged files cost no I/O: handle them here rather
                        // than pay a job and a channel each. Large files are
                        // stored here too, their chunks processed in parallel.
                        let out = leaf_job(ctx, &path, &name, &stat, reuse, hardlink);
                        queue.push_back(Pending::ready(depth, name, out));
                    } else {
                        let (tx, rx) = mpsc::sync_channel(1);
                        let job_name = name.clone();
                        scope.spawn(move |_| {
                            let _ =
                                tx.send(leaf_job(ctx, &path, &job_name, &stat, reuse, hardlink));
                        });
                        queue.push_back(Pending {
                            depth,
                            name,
                            rx: Ok(rx),
                        });
                    }
                }
                while queue.len() > WINDOW {
                    if let Some(p) = queue.pop_front() {
                        asm.take(p)?;
                    }
                }
            }
            while let Some(p) = queue.pop_front() {
                asm.take(p)?;
            }
            asm.pop_to(0)
        })
    })
}

fn index_entry(
    ctx: &Ctx<'_>,
    path: &Path,
    stat: &std::fs::Metadata,
    git_mode: u32,
    id: Option<ObjectId>,
    meta: Vec<u8>,
) -> Entry {
    let s = Stat::from_metadata(stat);
    // Changed within the last second: the filesystem clock may not move
    // for the next change, so don't trust this entry next time.
    let racy = s.is_racy(ctx.racy_cutoff);
    Entry {
        path: path.as_os_str().as_bytes().to_vec(),
        stat: s,
        git_mode,
        id: if racy { None } else { id },
        meta,
    }
}

fn dir_job(ctx: &Ctx<'_>, path: &Path, stat: &std::fs::Metadata) -> JobOut {
    let mut record0 = Vec::new();
    let warning = match ctx.capturer.capture(path, stat) {
        Ok(m) => {
            m.encode(&mut record0);
            None
        }
        Err(e) => {
            meta::encode_empty_record(&mut record0);
            Some(format!(
                "directory metadata not recorded ({}): {}",
                e.step, e.source
            ))
        }
    };
    JobOut::Dir {
        record0,
        warning,
        index: index_entry(ctx, path, stat, MODE_TREE, None, Vec::new()),
    }
}

fn leaf_job(
    ctx: &Ctx<'_>,
    path: &Path,
    name: &[u8],
    stat: &std::fs::Metadata,
    reuse: Option<Entry>,
    hardlink: Option<Vec<u8>>,
) -> JobOut {
    if let Some(old) = reuse
        && let Some(id) = old.id
    {
        // The record is kept as recorded, atime included (as bup does): a
        // file that was only read since is not new metadata, and refreshing
        // atimes would rewrite every `.bupm` of a tree that something reads
        // between saves. Only a hard-link set's first path may have changed.
        let record = if stat.nlink() == 1 && hardlink.is_none() {
            old.meta.clone()
        } else {
            match meta::decode_record(&mut &old.meta[..]) {
                Ok(Some(mut m)) => {
                    m.hardlink_target = hardlink;
                    let mut record = Vec::new();
                    m.encode(&mut record);
                    record
                }
                // An unreadable cached record: capture and store afresh.
                _ => return store_or_skip(ctx, path, name, stat, hardlink),
            }
        };
        let chunked = old.git_mode == MODE_TREE;
        ctx.progress.reused.fetch_add(1, Ordering::Relaxed);
        return JobOut::Leaf {
            fin: Finished {
                name: name.to_vec(),
                entry: TreeEntry::new(old.git_mode, mangle(name, chunked), id),
                record: Some(record.clone()),
            },
            index: index_entry(ctx, path, stat, old.git_mode, Some(id), record),
            warning: None,
        };
    }
    store_or_skip(ctx, path, name, stat, hardlink)
}

fn store_or_skip(
    ctx: &Ctx<'_>,
    path: &Path,
    name: &[u8],
    stat: &std::fs::Metadata,
    hardlink: Option<Vec<u8>>,
) -> JobOut {
    match store_leaf(ctx, path, name, stat, hardlink) {
        Ok(out) => out,
        Err(LeafError::Skip(reason)) => JobOut::Skip(Skipped {
            path: path.to_path_buf(),
            reason,
        }),
        Err(LeafError::Fatal(e)) => JobOut::Fatal(e),
    }
}

enum LeafError {
    Skip(String),
    Fatal(Error),
}

impl From<SinkError> for LeafError {
    fn from(e: SinkError) -> LeafError {
        LeafError::Fatal(Error::Sink(e))
    }
}

/// Open a file to read it: never following a symlink, never blocking on a
/// FIFO or device swapped in since the walk, and only if it is still the
/// same regular file (device and inode) the walk saw.
fn open_for_backup(path: &Path, walked: &std::fs::Metadata) -> Result<std::fs::File, String> {
    let open = |flags| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path)
    };
    let base = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let f = match open(base | libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(base),
        r => r,
    }
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "vanished during the save".to_string()
        } else {
            format!("cannot open: {e}")
        }
    })?;
    let now = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !now.is_file() || now.dev() != walked.dev() || now.ino() != walked.ino() {
        return Err("replaced by another file during the save".into());
    }
    // Back to blocking reads, keeping O_NOATIME (F_SETFL sets all flags).
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = fcntl(&f, FcntlArg::F_GETFL).map_err(|e| format!("cannot read: {e}"))?;
    let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(&f, FcntlArg::F_SETFL(flags)).map_err(|e| format!("cannot read: {e}"))?;
    Ok(f)
}

fn store_leaf(
    ctx: &Ctx<'_>,
    path: &Path,
    name: &[u8],
    stat: &std::fs::Metadata,
    hardlink: Option<Vec<u8>>,
) -> Result<JobOut, LeafError> {
    let mut m = ctx.capturer.capture(path, stat).map_err(|e| {
        LeafError::Skip(if e.is_not_found() {
            "vanished during the save".into()
        } else {
            format!("cannot read its metadata ({}): {}", e.step, e.source)
        })
    })?;
    m.hardlink_target = hardlink;
    let ft = stat.file_type();
    let mut warning = None;
    let (git_mode, id, chunked) = if ft.is_file() {
        crate::failpoint::hit("save-before-open");
        let mut f = open_for_backup(path, stat).map_err(LeafError::Skip)?;
        let progress = |n: u64| {
            ctx.progress.bytes_read.fetch_add(n, Ordering::Relaxed);
        };
        let stored = stream::store_sized(
            ctx.sink,
            ctx.sink.chunker(),
            &mut f,
            Some(stat.len()),
            &progress,
        )
        .map_err(|e| match e {
            stream::Error::Read(io) => LeafError::Skip(format!("read error: {io}")),
            stream::Error::Sink(s) => LeafError::Fatal(Error::Sink(s)),
        })?;
        m.size = Some(stored.size);
        // A file written to while we read it is stored as read (possibly a
        // mix of old and new content): say so.
        if let Ok(after) = f.metadata()
            && (after.len() != stat.len()
                || after.mtime() != stat.mtime()
                || after.mtime_nsec() != stat.mtime_nsec())
        {
            warning = Some(format!(
                "{} changed while it was being saved; the saved copy may mix old and new content",
                path.display()
            ));
        }
        (stored.git_mode, stored.id, stored.chunked())
    } else if ft.is_symlink() {
        let target = m.symlink_target.clone().unwrap_or_default();
        (
            MODE_SYMLINK,
            store(ctx.sink, ObjectKind::Blob, &target)?,
            false,
        )
    } else if ft.is_fifo() || ft.is_socket() || ft.is_char_device() || ft.is_block_device() {
        (MODE_FILE, store(ctx.sink, ObjectKind::Blob, b"")?, false)
    } else {
        return Err(LeafError::Skip("unsupported file type".into()));
    };
    let mut record = Vec::new();
    m.encode(&mut record);
    Ok(JobOut::Leaf {
        fin: Finished {
            name: name.to_vec(),
            entry: TreeEntry::new(git_mode, mangle(name, chunked), id),
            record: Some(record.clone()),
        },
        index: index_entry(ctx, path, stat, git_mode, Some(id), record),
        warning,
    })
}
