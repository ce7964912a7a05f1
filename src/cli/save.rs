//! `backup save`.

use super::index::RuleArgs;
use super::progress::{Display, human};
use super::{Global, exit, show};
use backup::repo::LocalSink;
use backup::save::walk::resolve_lenient;
use backup::save::{PathMap, Progress, SaveOptions, Skipped};
use std::path::PathBuf;
use std::sync::Arc;

/// Save paths as a new dated commit on branch NAME.
#[derive(clap::Args)]
#[command(
    long_about = "Save PATHS as one new commit on the branch NAME (refs/heads/NAME), \
whose parent is the previous save of that name. The commit's tree mirrors the \
absolute paths (unless --strip, --strip-path or --graft say otherwise), with \
bup's .bupm metadata file in every directory, so `bup ls`, `bup restore` and \
`git checkout NAME` all work on it.\n\n\
Only new data is written: chunks already in the repository are never stored \
twice, and files whose size, times, inode and mode did not change since the \
last save are not read again (see `backup index`).\n\n\
A file that cannot be read, or that vanishes during the save, is reported on \
stderr and skipped; the save still completes and exits with status 3. Any \
other failure (disk full, read-only repository) records nothing and leaves \
every earlier save intact.\n\n\
Writers take the repository lock; a second writer waits (see --lock-wait).",
    after_help = "Examples:\n  backup save -n etc /etc\n  backup save -n home -x --exclude /home/bob/.cache /home\n  backup save -n www --strip /srv/www\n  backup save -n db --graft /var/lib/mysql=/mysql /var/lib/mysql"
)]
pub struct Args {
    /// Backup name: the branch to commit to.
    #[arg(short = 'n', long, value_name = "NAME")]
    name: String,
    /// Commit date in seconds since the epoch (default: now).
    #[arg(long, value_name = "WHEN", value_parser = super::parse_date)]
    date: Option<i64>,
    /// Make each path the root of the saved tree.
    #[arg(long, conflicts_with_all = ["strip_path", "graft"])]
    strip: bool,
    /// Remove this prefix from saved paths.
    #[arg(long, value_name = "PATH", conflicts_with = "graft")]
    strip_path: Option<PathBuf>,
    /// Store paths under OLD at NEW instead (repeatable).
    #[arg(long, value_name = "OLD=NEW", value_parser = parse_graft)]
    graft: Vec<(PathBuf, PathBuf)>,
    #[command(flatten)]
    rules: RuleArgs,
    /// Read every file instead of trusting the file index for unchanged
    /// ones (the index and its recorded rules are still kept and updated).
    #[arg(long)]
    no_index: bool,
    /// Seconds to wait for another writer to finish.
    #[arg(long, value_name = "SECS", default_value = "3600", value_parser = super::parse_secs)]
    lock_wait: std::time::Duration,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// Paths to save.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn parse_graft(s: &str) -> Result<(PathBuf, PathBuf), String> {
    match s.split_once('=') {
        Some((o, n)) if !o.is_empty() && !n.is_empty() => Ok((o.into(), n.into())),
        _ => Err(format!("{s:?} is not OLD=NEW")),
    }
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let lock = g.lock(&repo, a.lock_wait)?;
    let sink = LocalSink::new(&repo, lock)?;
    let map = if a.strip {
        PathMap::Strip
    } else if let Some(p) = a.strip_path {
        PathMap::StripPath(resolve_lenient(&p))
    } else if !a.graft.is_empty() {
        PathMap::Graft(
            a.graft
                .into_iter()
                .map(|(o, n)| (resolve_lenient(&o), n))
                .collect(),
        )
    } else {
        PathMap::Absolute
    };
    let index_path = repo.fsindex_path();
    let opts = SaveOptions {
        name: a.name.clone(),
        paths: a.paths,
        date: a.date,
        map,
        rules: a.rules.rules()?,
        message_args: super::subcommand_args("save"),
        index: Some(index_path),
        reuse_index: !a.no_index,
        // The repository never backs itself up, however it was named.
        never_save: vec![
            std::fs::canonicalize(repo.path()).unwrap_or_else(|_| resolve_lenient(repo.path())),
        ],
    };
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let display = Display::start(
        Box::new(move |secs| {
            let mb = p.bytes_read.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6;
            format!(
                "{} entries, {} unchanged, {mb:.1} MB read ({:.0} MB/s)",
                p.entries.load(std::sync::atomic::Ordering::Relaxed),
                p.reused.load(std::sync::atomic::Ordering::Relaxed),
                mb / secs
            )
        }),
        g.interactive(),
    );
    let mut on_skip = |s: &Skipped| eprintln!("backup: skipped {}: {}", show(&s.path), s.reason);
    let report = backup::save::save(&sink, &opts, &progress, &mut on_skip);
    drop(display);
    let report = report?;
    for w in &report.warnings {
        eprintln!("backup: warning: {w}");
    }
    if a.json {
        let v = serde_json::json!({
            "name": a.name,
            "commit": report.commit.to_hex(),
            "tree": report.tree.to_hex(),
            "parent": report.parent.map(|p| p.to_hex()),
            "entries": report.entries,
            "unchanged": report.reused,
            "bytes_read": report.bytes_read,
            "objects_written": report.sink.objects_written,
            "bytes_written": report.sink.bytes_written,
            "skipped": report.skipped.iter().map(|s| serde_json::json!({
                "path": s.path.to_string_lossy(), "reason": s.reason})).collect::<Vec<_>>(),
            "partial": !report.skipped.is_empty(),
        });
        super::out_summary(&v.to_string())?;
    } else if g.interactive() {
        eprintln!(
            "saved {} as {}: {} entries ({} unchanged), read {}, wrote {} in {} new objects{}",
            a.name,
            &report.commit.to_hex()[..12],
            report.entries,
            report.reused,
            human(report.bytes_read),
            human(report.sink.bytes_written),
            report.sink.objects_written,
            if report.skipped.is_empty() {
                String::new()
            } else {
                format!("; {} paths SKIPPED (see above)", report.skipped.len())
            }
        );
    }
    Ok(if report.skipped.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}
