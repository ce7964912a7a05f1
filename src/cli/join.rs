//! `backup join`.

use super::{Global, exit};
use backup::object::{MODE_GITLINK, tree};
use backup::oid::{ObjectId, ObjectKind};
use backup::repo::{LocalSource, ObjectSource};
use backup::vfs::{Follow, Kind, Vfs};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

/// Write back a stream stored with `split`.
#[derive(clap::Args)]
#[command(
    long_about = "Write back, on standard output, what `split` stored: for a backup name the \
stream of its newest save, for NAME/SAVE that save's stream. An object id (40 hex \
digits) is written as bup join writes it: a blob as is, a tree as all its blobs in \
order (recursively), a commit as its tree.",
    after_help = "Examples:\n  backup join mysql-bugs > bugs.sql\n  backup join mysql-bugs/2026-11-20-010000 | mysql bugs"
)]
pub struct Args {
    /// NAME, NAME/SAVE, or object ids.
    #[arg(value_name = "REF", required = true)]
    refs: Vec<std::ffi::OsString>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let src = LocalSource::open(&repo, &mut |w| eprintln!("backup: warning: {w}"))?;
    let fs = Vfs::new(&src);
    let mut out = std::io::stdout().lock();
    for r in &a.refs {
        let bytes = r.as_bytes();
        let start = if let Ok(id) = ObjectId::from_hex(bytes) {
            id
        } else {
            let (_, item) = fs.resolve(bytes, Follow::Latest)?;
            match item.kind {
                Kind::Branch { tip } => tip,
                Kind::Save { tree, .. } | Kind::Dir { tree } => tree,
                Kind::File { id, .. } | Kind::Symlink { id } => id,
                _ => anyhow::bail!("{}: nothing to join there", r.to_string_lossy()),
            }
        };
        write_object(&src, &start, &mut out).map_err(super::closed_stdout_is_fine)?;
    }
    out.flush()
        .map_err(|e| super::closed_stdout_is_fine(e.into()))?;
    Ok(exit::OK)
}

/// Blob: its bytes; tree: every entry in order, recursively; commit: its tree.
fn write_object(src: &dyn ObjectSource, id: &ObjectId, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut stack = vec![*id];
    // Depth-first, in tree order: push children in reverse.
    while let Some(id) = stack.pop() {
        let (kind, body) = src.read(&id)?;
        match kind {
            ObjectKind::Blob => out.write_all(&body)?,
            ObjectKind::Commit => {
                let c = backup::object::Commit::parse(&body)
                    .map_err(|e| anyhow::anyhow!("commit {id}: {e}"))?;
                stack.push(c.tree);
            }
            ObjectKind::Tree => {
                let entries =
                    tree::parse_tree(&body).map_err(|e| anyhow::anyhow!("tree {id}: {e}"))?;
                // Submodule links point outside the repository: skip them.
                for e in entries.iter().rev() {
                    if e.mode != MODE_GITLINK {
                        stack.push(e.id);
                    }
                }
            }
            ObjectKind::Tag => anyhow::bail!("{id} is a tag object; give what it points at"),
        }
    }
    Ok(())
}
