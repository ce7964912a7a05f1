//! Command-line parsing and dispatch. The only place that prints, uses
//! `anyhow`, and decides exit codes.

mod cat_file;
mod exit;
mod index;
mod init;
mod join;
mod ls;
mod progress;
mod restore;
mod save;
mod split;

use backup::repo::{self, Repo, RepoLock, lock};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const ABOUT: &str = "Fast, bup-compatible, deduplicating backups in plain git repositories";

const LONG_ABOUT: &str = "\
Fast, bup-compatible, deduplicating backups in plain git repositories.

Each backup name is a git branch (refs/heads/NAME); each save is one dated
commit whose tree mirrors the saved paths. Large files are split into chunks
so that only changed parts are stored again. The repository stays a plain
git repository that the real bup 0.33 reads and writes too.

The repository is chosen by -d, else $BACKUP_DIR, else ~/.backup.";

const AFTER_HELP: &str = "\
Exit status:
  0   success
  1   error; nothing new was recorded, earlier saves are intact
  2   bad usage
  3   partial: the save was recorded but some paths were skipped (listed on stderr)
  10  no repository at the given path
  11  the repository is locked by another writer

Examples:
  backup -d /srv/backup/host init
  backup -d /srv/backup/host save -n etc /etc
  mysqldump bugs | backup split -n mysql-bugs
  backup split -n mysql-bugs --from-command -- mysqldump bugs";

#[derive(Parser)]
#[command(name = "backup", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// Repository directory (default: $BACKUP_DIR, else ~/.backup).
    #[arg(short = 'd', long = "repo", global = true, value_name = "REPO")]
    repo: Option<PathBuf>,

    /// Print nothing but errors (no progress, no summary).
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Init(init::Args),
    Index(index::Args),
    Save(save::Args),
    Split(split::Args),
    Ls(ls::Args),
    CatFile(cat_file::Args),
    Join(join::Args),
    Restore(restore::Args),
}

/// Settings every command can use.
pub struct Global {
    repo: PathBuf,
    quiet: bool,
}

impl Global {
    /// Whether to draw progress and summaries (a terminal, not --quiet).
    pub fn interactive(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// Open the repository.
    pub fn open(&self) -> anyhow::Result<Repo> {
        Ok(Repo::open(&self.repo)?)
    }

    /// Take the writer lock, waiting up to `wait`.
    pub fn lock(&self, repo: &Repo, wait: Duration) -> anyhow::Result<RepoLock> {
        let quiet = self.quiet;
        Ok(RepoLock::acquire(repo.path(), wait, &mut |holder| {
            if !quiet {
                eprintln!(
                    "backup: waiting up to {}s for the repository lock held by {holder}",
                    wait.as_secs()
                );
            }
        })?)
    }
}

/// The subcommand and its arguments as typed (for commit messages).
pub fn subcommand_args(word: &str) -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    let all: Vec<Vec<u8>> = std::env::args_os()
        .skip(1)
        .map(OsStringExt::into_vec)
        .collect();
    let start = all.iter().position(|a| a == word.as_bytes()).unwrap_or(0);
    all[start..].to_vec()
}

/// The whole command line (for `split` commit messages).
pub fn full_argv() -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::env::args_os().map(OsStringExt::into_vec).collect()
}

/// Stdout was closed by the reader (`backup ls | head`): stop quietly.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// Write to stdout; a closed pipe becomes [`StdoutClosed`] (exit 0 for
/// commands whose only job is output), other errors are reported.
pub fn out(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_all(bytes).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// For commands that write only to stdout: a broken pipe anywhere in the
/// error's causes means the reader went away.
pub fn closed_stdout_is_fine(e: anyhow::Error) -> anyhow::Error {
    let closed = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if closed { StdoutClosed.into() } else { e }
}

/// Print a summary line on stdout after work that is already done and
/// recorded: a reader that went away does not turn it into a failure.
pub fn out_summary(line: &str) -> anyhow::Result<()> {
    match out(format!("{line}\n").as_bytes()) {
        Err(e) if e.is::<StdoutClosed>() => Ok(()),
        r => r,
    }
}

/// Display a path for messages.
pub fn show(p: &Path) -> String {
    p.display().to_string()
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let global = Global {
        repo: repo::default_path(cli.repo.as_deref()),
        quiet: cli.quiet,
    };
    let result = match cli.command {
        Command::Init(a) => init::run(&global, a),
        Command::Index(a) => index::run(&global, a),
        Command::Save(a) => save::run(&global, a),
        Command::Split(a) => split::run(&global, a),
        Command::Ls(a) => ls::run(&global, a),
        Command::CatFile(a) => cat_file::run(&global, a),
        Command::Join(a) => join::run(&global, a),
        Command::Restore(a) => restore::run(&global, a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if e.is::<StdoutClosed>() {
                return ExitCode::from(exit::OK);
            }
            eprintln!("backup: {}", render(&e));
            ExitCode::from(exit_code_for(&e))
        }
    }
}

/// An error and its causes on one line. A cause already quoted by the
/// message before it (many messages include their cause) is not repeated;
/// line breaks inside messages (regex errors) become `; `.
pub fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text
            .split('\n')
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn exit_code_for(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(r) = cause.downcast_ref::<repo::Error>()
            && matches!(r, repo::Error::Missing(_) | repo::Error::NotARepo(_))
        {
            return exit::NO_REPO;
        }
        if let Some(lock::Error::Busy { .. }) = cause.downcast_ref::<lock::Error>() {
            return exit::LOCKED;
        }
    }
    exit::ERROR
}

/// Parse a lock wait in seconds.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{s:?} is not a whole number of seconds"))
}

/// Parse `--date`: seconds since the epoch, possibly fractional (truncated, as bup does).
pub fn parse_date(s: &str) -> Result<i64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a date in seconds since the epoch (e.g. 1700000000)"))?;
    if !v.is_finite() || !(0.0..=1.0e11).contains(&v) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(v.trunc() as i64)
}
