//! `backup index`, and the walk-rule options shared with `save`.

use super::{Global, exit, show};
use anyhow::Context;
use backup::fsindex::RootRules;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Options that choose what a walk includes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RuleArgs {
    /// Don't cross filesystem boundaries.
    #[arg(short = 'x', long = "one-file-system")]
    pub one_file_system: bool,
    /// Exclude this path and everything below it (repeatable).
    #[arg(long, value_name = "PATH")]
    pub exclude: Vec<PathBuf>,
    /// Exclude the paths listed in FILE, one per line (repeatable).
    #[arg(long, value_name = "FILE")]
    pub exclude_from: Vec<PathBuf>,
    /// Exclude paths matching this regular expression; directories are
    /// matched with a trailing `/` (repeatable).
    #[arg(long, value_name = "RE")]
    pub exclude_rx: Vec<String>,
}

impl RuleArgs {
    /// The rules as the library wants them.
    pub fn rules(&self) -> anyhow::Result<RootRules> {
        let mut exclude = Vec::new();
        for p in &self.exclude {
            exclude.push(absolute(p)?);
        }
        for f in &self.exclude_from {
            let text = std::fs::read(f)
                .with_context(|| format!("cannot read --exclude-from file {}", show(f)))?;
            for line in text.split(|&c| c == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() || line.starts_with(b"#") {
                    continue;
                }
                exclude.push(absolute(&PathBuf::from(std::ffi::OsStr::from_bytes(line)))?);
            }
        }
        Ok(RootRules {
            path: Vec::new(),
            one_file_system: self.one_file_system,
            exclude,
            exclude_rx: self.exclude_rx.clone(),
        })
    }
}

/// An exclude path as the walk will see it (absolute, parent symlinks
/// resolved).
fn absolute(p: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    Ok(backup::save::walk::resolve_lenient(p)
        .as_os_str()
        .as_bytes()
        .to_vec())
}

/// Record what the paths look like, so a later save can skip unchanged files.
#[derive(clap::Args)]
#[command(
    long_about = "Walk PATHS and record each entry's stat data (size, times, inode, \
mode) in the repository's file index, so that the next save does not re-read \
files that did not change. The rules given here (-x, --exclude...) are \
remembered for these paths and applied by later saves of them.\n\n\
Running index is optional: save refreshes the index itself. The index is a \
cache; it is written to a temporary file and renamed, so a crash never leaves \
a half-written index.",
    after_help = "Examples:\n  backup index -x --exclude /var/tmp /var\n  backup index --exclude-rx '\\.cache/$' /home"
)]
pub struct Args {
    #[command(flatten)]
    rules: RuleArgs,
    /// Seconds to wait for another writer to finish.
    #[arg(long, value_name = "SECS", default_value = "3600", value_parser = super::parse_secs)]
    lock_wait: std::time::Duration,
    /// Paths to index.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let _lock = g.lock(&repo, a.lock_wait)?;
    let rules = a.rules.rules()?;
    let report = backup::save::index::index(
        &repo.fsindex_path(),
        &a.paths,
        &rules,
        &[std::fs::canonicalize(repo.path()).unwrap_or_else(|_| repo.path().to_path_buf())],
    )?;
    if report.rebuilt {
        eprintln!("backup: the file index was damaged and has been rebuilt");
    }
    for (p, why) in &report.errors {
        eprintln!("backup: cannot index {}: {why}", show(p));
    }
    if g.interactive() {
        eprintln!(
            "indexed {} entries ({} unchanged since the last save)",
            report.entries, report.unchanged
        );
    }
    Ok(if report.errors.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}
