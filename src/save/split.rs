//! `split`: store a stream (stdin, files, or a command's output) as bup does
//! (bup-format.md §5.4). With a name, the commit's tree holds one entry:
//! `data` (a blob) or `data.bup` (a chunk tree), no `.bupm`.
//!
//! A command that fails (non-zero exit, killed by a signal) records no
//! commit: a failed dump must never look like a good backup.

use super::commit;
use super::stream::{self, Stored};
use crate::object::mangle::mangle;
use crate::object::{TreeEntry, tree};
use crate::oid::{ObjectId, ObjectKind};
use crate::repo::refs;
use crate::repo::sink::{ObjectSink, SinkError, store};
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Errors from `split`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The backup name is not acceptable.
    #[error(transparent)]
    Name(#[from] refs::Error),
    /// An input file could not be read.
    #[error("cannot read {path}: {source}; nothing was recorded")]
    Input {
        /// The file (`-` for stdin).
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The command could not be started.
    #[error("cannot run {cmd:?}: {source}; nothing was recorded")]
    Spawn {
        /// The command.
        cmd: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The command failed; its output was not recorded.
    #[error(
        "{cmd:?} {status}; nothing was recorded (a failed dump must not look like a good backup)"
    )]
    CommandFailed {
        /// The command.
        cmd: String,
        /// How it ended.
        status: String,
    },
    /// The repository could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Where the stream comes from.
#[derive(Clone, Debug)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// These files, concatenated.
    Files(Vec<PathBuf>),
    /// The standard output of this command (program, then arguments).
    Command(Vec<OsString>),
}

/// What to record.
#[derive(Clone, Debug, Default)]
pub struct SplitOptions {
    /// Branch to commit to (`-n`); `None` only stores objects.
    pub name: Option<String>,
    /// Commit date (default now).
    pub date: Option<i64>,
    /// Full command line, for the commit message.
    pub argv: Vec<Vec<u8>>,
}

/// The outcome of a split.
#[derive(Clone, Debug)]
pub struct SplitReport {
    /// Blob or chunk tree of the data.
    pub data: Stored,
    /// The commit, when a name was given.
    pub commit: Option<ObjectId>,
}

/// Store `input` and, with a name, commit it.
pub fn split(
    sink: &dyn ObjectSink,
    opts: &SplitOptions,
    input: &Input,
    progress: &dyn Fn(u64),
) -> Result<SplitReport, Error> {
    if let Some(n) = &opts.name {
        refs::validate_name(n)?;
    }
    let data = match input {
        Input::Stdin => {
            let mut stdin = std::io::stdin();
            stream::store_stream(sink, sink.chunker(), &mut stdin, progress)
                .map_err(|e| map_stream(e, "-".into()))?
        }
        Input::Files(paths) => {
            // Check every file up front: a missing one must not be found
            // after hours of reading the others.
            for p in paths {
                std::fs::File::open(p).map_err(|source| Error::Input {
                    path: p.clone(),
                    source,
                })?;
            }
            let current = std::sync::Mutex::new(PathBuf::new());
            let mut it = paths.iter().map(|p| {
                if let Ok(mut c) = current.lock() {
                    *c = p.clone();
                }
                std::fs::File::open(p).map(|f| Box::new(f) as Box<dyn Read + Send>)
            });
            let res = stream::store_streams(sink, &mut it, progress);
            let failed = current.lock().map(|c| c.clone()).unwrap_or_default();
            res.map_err(|e| map_stream(e, failed))?
        }
        Input::Command(argv) => run_command(sink, argv, progress)?,
    };
    let commit = match &opts.name {
        None => None,
        Some(name) => Some(commit_data(sink, name, opts, &data)?),
    };
    sink.flush()?;
    if let (Some(name), Some((cid, parent))) = (&opts.name, commit) {
        sink.update_ref(&refs::branch_ref(name), cid, parent, "backup split")?;
    }
    Ok(SplitReport {
        data,
        commit: commit.map(|(c, _)| c),
    })
}

fn map_stream(e: stream::Error, path: PathBuf) -> Error {
    match e {
        stream::Error::Read(source) => Error::Input { path, source },
        stream::Error::Sink(s) => Error::Sink(s),
    }
}

fn run_command(
    sink: &dyn ObjectSink,
    argv: &[OsString],
    progress: &dyn Fn(u64),
) -> Result<Stored, Error> {
    let cmd = argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let Some((prog, args)) = argv.split_first() else {
        return Err(Error::Spawn {
            cmd,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command given"),
        });
    };
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| Error::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    let Some(mut out) = child.stdout.take() else {
        return Err(Error::Spawn {
            cmd,
            source: std::io::Error::other("no stdout pipe"),
        });
    };
    let stored = stream::store_stream(sink, sink.chunker(), &mut out, progress);
    drop(out);
    let status = child.wait().map_err(|source| Error::Spawn {
        cmd: cmd.clone(),
        source,
    })?;
    if let Err(stream::Error::Sink(e)) = stored {
        return Err(Error::Sink(e));
    }
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("was killed by signal {s}"),
            _ => "failed".into(),
        };
        return Err(Error::CommandFailed { cmd, status: how });
    }
    stored.map_err(|e| map_stream(e, PathBuf::from(prog)))
}

fn commit_data(
    sink: &dyn ObjectSink,
    name: &str,
    opts: &SplitOptions,
    data: &Stored,
) -> Result<(ObjectId, Option<ObjectId>), Error> {
    let mut entries = vec![TreeEntry::new(
        data.git_mode,
        mangle(b"data", data.chunked()),
        data.id,
    )];
    let tree_id = store(sink, ObjectKind::Tree, &tree::encode_tree(&mut entries))?;
    let branch = refs::branch_ref(name);
    let parent = sink.read_ref(&branch)?;
    let date = opts.date.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let c = commit::make_commit(tree_id, parent, date, commit::split_message(&opts.argv));
    let cid = store(sink, ObjectKind::Commit, &c.encode())?;
    Ok((cid, parent))
}
