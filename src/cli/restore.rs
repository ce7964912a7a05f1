//! `backup restore`.

use super::progress::{Display, human};
use super::{Global, exit};
use backup::repo::LocalSource;
use backup::restore::{Options, Progress};
use backup::vfs::Vfs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Restore files, directories or whole saves with their metadata.
#[derive(clap::Args)]
#[command(
    long_about = "Restore PATHs (NAME/SAVE/..., as `backup ls` shows them) into OUTDIR, which \
is created if missing. As with bup, a trailing `/` restores a directory's contents \
into OUTDIR; without it, the directory (or file) itself is created inside OUTDIR. \
`NAME/latest` is the newest save.\n\n\
Content, mode (including setuid, setgid, sticky), owner and group (by name, falling \
back to the number; --numeric-ids uses numbers only), times to the nanosecond, \
symlinks, hard links, devices, fifos, sockets, xattrs and ACLs are restored; \
directory times are set after their contents. Run as root to restore ownership and \
devices; otherwise what cannot be restored is summarised and the rest is restored.\n\n\
Nothing is written outside OUTDIR, whatever the repository contains: entries named \
`..` or containing `/` are refused, and symlinks are never followed. A missing or \
corrupt object is reported with the path that needs it; the other files restore \
and the exit status is 3. When OUTDIR's filesystem fills up (or a quota is reached) \
the restore stops at once with one message naming where, and the exit status is 3.",
    after_help = "Examples:\n  backup restore -C /tmp/etc etc/latest/etc/\n  backup restore -C /srv/restore web/2026-11-20-021500/var/www\n  backup restore --numeric-ids -C /mnt/new host/latest/"
)]
pub struct Args {
    /// Directory to restore into.
    #[arg(
        short = 'C',
        long = "outdir",
        value_name = "OUTDIR",
        default_value = "."
    )]
    outdir: PathBuf,
    /// Restore owners by number, ignoring recorded user and group names.
    #[arg(long)]
    numeric_ids: bool,
    /// Leave blocks of zeros as holes (sparse files).
    #[arg(long)]
    sparse: bool,
    /// Re-hash every chunk of file content with SHA-1 and compare it with its
    /// object id (a large file then takes about 1.4 times as long to
    /// restore). By default content is checked by the CRC-32 the pack index
    /// records and zlib's checksum, which catches damage; use this when
    /// someone you do not trust could have written packs into the repository.
    #[arg(long)]
    verify_ids: bool,
    /// Repository paths to restore.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<std::ffi::OsString>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let src = LocalSource::open(&repo, &mut |w| eprintln!("backup: warning: {w}"))?;
    let fs = Vfs::new(&src);
    let paths: Vec<Vec<u8>> = a.paths.iter().map(|p| p.as_bytes().to_vec()).collect();
    let opts = Options {
        numeric_ids: a.numeric_ids,
        sparse: a.sparse,
        verify_ids: a.verify_ids,
    };
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let display = Display::start(
        Box::new(move |secs| {
            let mb = p.bytes.load(Ordering::Relaxed) as f64 / 1e6;
            format!(
                "{} entries restored, {mb:.1} MB ({:.0} MB/s)",
                p.entries.load(Ordering::Relaxed),
                mb / secs
            )
        }),
        g.interactive(),
    );
    let report = backup::restore::restore(&fs, &paths, &a.outdir, &opts, &progress);
    drop(display);
    let report = report?;
    for p in &report.problems {
        eprintln!("backup: not restored: {}: {}", p.path, p.reason);
    }
    for (what, n) in &report.not_applied {
        eprintln!("backup: note: not applied to {n} entries: {what}");
    }
    if let Some(s) = &report.stopped {
        eprintln!(
            "backup: restore stopped: {}: {}: the filesystem of {} is full (or a quota is \
             reached); free space (or restore elsewhere with -C) and run the restore again",
            s.path,
            s.reason,
            a.outdir.display()
        );
    }
    if g.interactive() {
        eprintln!(
            "restored {} entries, {}{}",
            report.entries,
            human(report.bytes),
            if report.problems.is_empty() && report.stopped.is_none() {
                String::new()
            } else if report.stopped.is_some() {
                "; STOPPED, the rest NOT restored (see above)".to_string()
            } else {
                format!("; {} NOT restored (see above)", report.problems.len())
            }
        );
    }
    Ok(if report.problems.is_empty() && report.stopped.is_none() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}
