//! `backup cat-file`.

use super::{Global, exit};
use anyhow::bail;
use backup::meta::FileType;
use backup::repo::LocalSource;
use backup::vfs::{Follow, Kind, Vfs};
use std::os::unix::ffi::OsStrExt;

/// Write a saved file's content to stdout.
#[derive(clap::Args)]
#[command(
    long_about = "Write the content of a saved regular file (a small file, or a large file \
stored in chunks) to standard output, byte for byte. Symlinks, devices and other \
special files are refused, as bup refuses them (`backup ls -l` shows a link's target).",
    after_help = "Examples:\n  backup cat-file etc/latest/etc/passwd\n  backup cat-file vm/2026-11-20-010000/var/lib/vm.img > vm.img"
)]
pub struct Args {
    /// Path in the repository: NAME/SAVE/path/to/file.
    #[arg(value_name = "PATH")]
    path: std::ffi::OsString,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let src = LocalSource::open(&repo, &mut |w| eprintln!("backup: warning: {w}"))?;
    let fs = Vfs::new(&src);
    let (names, item) = fs.resolve(a.path.as_bytes(), Follow::Latest)?;
    let shown = a.path.to_string_lossy();
    match &item.kind {
        Kind::File { id, chunked } if item.file_type() == FileType::File => {
            let mut out = std::io::stdout().lock();
            fs.copy_content(id, *chunked, &names, &mut out)
                .map_err(|e| {
                    super::closed_stdout_is_fine(
                        anyhow::Error::new(e).context(format!("cannot write {shown}")),
                    )
                })?;
        }
        _ if item.is_dir() => {
            bail!("{shown}: is a directory (use `backup ls` or `backup restore`)")
        }
        _ => bail!(
            "{shown}: is not a plain file (a symlink or special file; `backup ls -l` shows it)"
        ),
    }
    Ok(exit::OK)
}
