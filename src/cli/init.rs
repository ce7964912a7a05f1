//! `backup init`.

use super::{Global, exit, show};
use backup::chunk::ChunkerConfig;
use backup::repo::{Repo, config::describe_chunker};

/// Create a repository (or confirm an existing one).
#[derive(clap::Args)]
#[command(
    long_about = "Create a repository: a bare git repository that bup also accepts.\n\n\
Running init on an existing repository is harmless: it changes nothing but \
missing settings. A non-empty directory that is not a repository is refused.\n\n\
The chunker decides how large files and streams are cut into chunks. It is \
recorded in the repository so every writer cuts the same way. `fastcdc` \
(the default) is fast and deduplicates well; `bup` is bup's own rollsum \
splitter, bit for bit, for repositories that bup also writes to or that were \
migrated from bup (init on a bup repository keeps `bup` unless told otherwise).",
    after_help = "Examples:\n  backup -d /srv/backup/web init\n  backup -d ~/.bup init --chunker bup"
)]
pub struct Args {
    /// How to cut files into chunks: `fastcdc` (default) or `bup`.
    #[arg(long, value_name = "NAME")]
    chunker: Option<String>,
    /// Average chunk size in bytes for fastcdc (a power of two, 1024..=4194304).
    #[arg(long, value_name = "BYTES")]
    avg_size: Option<u32>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<u8> {
    let chunker = match (a.chunker.as_deref(), a.avg_size) {
        (None, None) => None,
        (Some("bup"), None) => Some(ChunkerConfig::Bup),
        (Some("bup"), Some(_)) => anyhow::bail!("--avg-size applies to the fastcdc chunker only"),
        (Some("fastcdc") | None, Some(avg)) => Some(ChunkerConfig::fastcdc_with_avg(avg)?),
        (Some("fastcdc"), None) => Some(ChunkerConfig::fastcdc_default()),
        (Some(other), _) => anyhow::bail!("unknown chunker {other:?}: use `fastcdc` or `bup`"),
    };
    let repo = Repo::init(&g.repo, chunker)?;
    if !g.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "repository {} ready (chunker: {})",
            show(repo.path()),
            describe_chunker(&repo.config().chunker)
        );
    }
    Ok(exit::OK)
}
