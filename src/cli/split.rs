//! `backup split`.

use super::{Global, exit};
use backup::repo::LocalSink;
use backup::save::split::{Input, SplitOptions};
use std::ffi::OsString;
use std::path::PathBuf;

/// Store a stream (stdin, files, or a command's output), deduplicated.
#[derive(clap::Args)]
#[command(
    long_about = "Store a stream the way bup split does: cut into chunks, each chunk \
stored once, arranged in a chunk tree. With -n NAME, a commit on branch NAME \
records it (tree entry `data`, or `data.bup` when chunked), so daily dumps of \
a database deduplicate against each other. Without -n, the id of the data is \
printed.\n\n\
With --from-command, the command's standard output is stored, and if the \
command exits with a non-zero status or is killed, NO commit is recorded and \
split exits non-zero: a failed dump never looks like a good backup. (With a \
plain pipe the shell hides the dumper's failure unless `set -o pipefail` is \
used; --from-command does not have that problem.)",
    after_help = "Examples:\n  mysqldump bugs | backup split -n mysql-bugs\n  backup split -n mysql-bugs --from-command -- mysqldump bugs\n  backup split -n vm-image /var/lib/libvirt/images/vm.img"
)]
pub struct Args {
    /// Commit the stream on this branch.
    #[arg(short = 'n', long, value_name = "NAME")]
    name: Option<String>,
    /// Commit date in seconds since the epoch (default: now).
    #[arg(long, value_name = "WHEN", value_parser = super::parse_date)]
    date: Option<i64>,
    /// Seconds to wait for another writer to finish.
    #[arg(long, value_name = "SECS", default_value = "3600", value_parser = super::parse_secs)]
    lock_wait: std::time::Duration,
    /// Store the output of this command (give it after `--`).
    #[arg(long, requires = "command")]
    from_command: bool,
    /// Files to store, concatenated (default: stdin); with --from-command,
    /// the command and its arguments.
    #[arg(value_name = "FILE", trailing_var_arg = true)]
    command: Vec<OsString>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let lock = g.lock(&repo, a.lock_wait)?;
    let sink = LocalSink::new(&repo, lock)?;
    let input = if a.from_command {
        Input::Command(a.command)
    } else if a.command.is_empty() {
        Input::Stdin
    } else {
        Input::Files(a.command.into_iter().map(PathBuf::from).collect())
    };
    let opts = SplitOptions {
        name: a.name,
        date: a.date,
        argv: super::full_argv(),
    };
    let report = backup::save::split::split(&sink, &opts, &input, &|_| {})?;
    if opts.name.is_none() {
        super::out_summary(&report.data.id.to_hex())?;
    } else if g.interactive() {
        eprintln!(
            "stored {} bytes as {}",
            report.data.size,
            report.commit.map(|c| c.to_hex()).unwrap_or_default()
        );
    }
    Ok(exit::OK)
}
