//! `backup ls`.

use super::{Global, exit};
use anyhow::Context;
use backup::repo::LocalSource;
use backup::vfs::{Follow, Item, Kind, Vfs, effective_meta, ls};

/// List saves and their contents, as `bup ls` does.
#[derive(clap::Args)]
#[command(
    long_about = "List the repository as bup shows it. `/` (the default) lists the backup \
names; `NAME` lists its dated saves (named by author time in the local time zone, \
YYYY-MM-DD-HHMMSS, with -N suffixes for saves in the same second) and `latest`, a link \
to the newest; `NAME/SAVE/...` lists directories inside a save with their real \
(demangled) names.\n\n\
With -l each line shows mode, owner/group, size and modification time from the saved \
metadata, like `bup ls -l`. Names starting with `.` are hidden unless -a or -A.",
    after_help = "Examples:\n  backup ls\n  backup ls -l etc\n  backup ls -l etc/latest/etc/ssh\n  backup ls --json etc/2026-11-21-021500/etc"
)]
pub struct Args {
    /// Long listing: mode, owner, size, date.
    #[arg(short = 'l')]
    long: bool,
    /// Show hidden entries, and `.` and `..`.
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Show hidden entries, but not `.` and `..`.
    #[arg(short = 'A', long = "almost-all")]
    almost_all: bool,
    /// Show the object id of each entry.
    #[arg(short = 's', long = "hash")]
    hash: bool,
    /// Show the commit id of each save.
    #[arg(long)]
    commit_hash: bool,
    /// Show numeric owners instead of names.
    #[arg(short = 'n', long)]
    numeric_ids: bool,
    /// List a directory itself, not its contents (bup's `ls -d`; `-d` is
    /// the repository here).
    #[arg(long)]
    directory: bool,
    /// Print a JSON array of entries instead of text.
    #[arg(long)]
    json: bool,
    /// Paths to list (default: `/`).
    #[arg(value_name = "PATH")]
    paths: Vec<std::ffi::OsString>,
}

struct Row {
    item: Item,
    shown_name: Vec<u8>,
    path: Vec<Vec<u8>>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<u8> {
    use std::os::unix::ffi::OsStrExt;
    let repo = g.open()?;
    let src = LocalSource::open(&repo, &mut |w| eprintln!("backup: warning: {w}"))?;
    let fs = Vfs::new(&src);
    let paths = if a.paths.is_empty() {
        vec![std::ffi::OsString::from("/")]
    } else {
        a.paths.clone()
    };
    let mut rows = Vec::new();
    for p in &paths {
        let bytes = p.as_bytes();
        let (names, item) = fs
            .resolve(
                bytes,
                if a.directory {
                    Follow::Nothing
                } else {
                    Follow::Links
                },
            )
            .with_context(|| "cannot list it (see `backup ls` for what exists)")?;
        if item.is_dir() && !a.directory {
            let mut children = fs.list(&item, &names, a.long || a.json)?;
            let show_hidden = a.all || a.almost_all;
            children.retain(|c| show_hidden || !c.name.starts_with(b"."));
            if a.all {
                let parent = if names.is_empty() {
                    item.clone()
                } else {
                    fs.resolve(&join(&names[..names.len() - 1]), Follow::Links)?
                        .1
                };
                rows.push(Row {
                    item: self_meta(&fs, item.clone(), &names)?,
                    shown_name: b".".to_vec(),
                    path: names.clone(),
                });
                let ppath = names[..names.len().saturating_sub(1)].to_vec();
                rows.push(Row {
                    item: self_meta(&fs, parent, &ppath)?,
                    shown_name: b"..".to_vec(),
                    path: ppath,
                });
            }
            for c in children {
                let mut path = names.clone();
                path.push(c.name.clone());
                rows.push(Row {
                    shown_name: c.name.clone(),
                    item: c,
                    path,
                });
            }
        } else {
            let item = self_meta(&fs, item, &names)?;
            rows.push(Row {
                item,
                shown_name: bytes.to_vec(),
                path: names,
            });
        }
    }
    if a.json {
        let mut v = Vec::new();
        for r in &rows {
            v.push(json_row(&fs, r)?);
        }
        super::out(format!("{}\n", serde_json::Value::Array(v)).as_bytes())?;
        return Ok(exit::OK);
    }
    for r in &rows {
        let mut line = Vec::new();
        if a.commit_hash {
            let id = match &r.item.kind {
                Kind::Save { commit, .. } => commit.to_hex(),
                Kind::Branch { tip } => tip.to_hex(),
                _ => "0".repeat(40),
            };
            line.extend_from_slice(id.as_bytes());
            line.push(b' ');
        } else if a.hash {
            let id = r
                .item
                .object_id()
                .map(|i| i.to_hex())
                .unwrap_or_else(|| "0".repeat(40));
            line.extend_from_slice(id.as_bytes());
            line.push(b' ');
        }
        if a.long {
            let m = effective_meta(&r.item);
            let size = match r.item.kind {
                Kind::Dir { .. }
                | Kind::Save { .. }
                | Kind::Branch { .. }
                | Kind::Root
                | Kind::Tags => Some(0),
                _ => fs.size(&r.item, &r.path)?,
            };
            let link = if matches!(r.item.kind, Kind::Symlink { .. } | Kind::Latest { .. }) {
                Some(fs.link_target(&r.item, &r.path)?)
            } else {
                None
            };
            line.extend_from_slice(&ls::long_line(
                &m,
                size,
                &r.shown_name,
                link.as_deref(),
                a.numeric_ids,
            ));
        } else {
            line.extend_from_slice(&r.shown_name);
        }
        line.push(b'\n');
        super::out(&line)?;
    }
    Ok(exit::OK)
}

fn join(names: &[Vec<u8>]) -> Vec<u8> {
    let mut p = b"/".to_vec();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            p.push(b'/');
        }
        p.extend_from_slice(n);
    }
    p
}

/// The item with its own metadata filled in (directories listed from their
/// parent carry none until asked).
fn self_meta(fs: &Vfs<'_>, item: Item, path: &[Vec<u8>]) -> anyhow::Result<Item> {
    Ok(fs.with_meta(item, path)?)
}

fn json_row(fs: &Vfs<'_>, r: &Row) -> anyhow::Result<serde_json::Value> {
    let m = effective_meta(&r.item);
    let kind = match &r.item.kind {
        Kind::Root | Kind::Tags => "dir",
        Kind::Branch { .. } => "branch",
        Kind::Save { .. } => "save",
        Kind::Latest { .. } => "symlink",
        Kind::Dir { .. } => "dir",
        Kind::Symlink { .. } => "symlink",
        Kind::File { .. } => match r.item.file_type() {
            backup::meta::FileType::CharDev => "chardev",
            backup::meta::FileType::BlockDev => "blockdev",
            backup::meta::FileType::Fifo => "fifo",
            backup::meta::FileType::Socket => "socket",
            _ => "file",
        },
    };
    let size = match r.item.kind {
        Kind::File { .. } | Kind::Symlink { .. } | Kind::Latest { .. } => {
            fs.size(&r.item, &r.path)?
        }
        _ => None,
    };
    let target = match r.item.kind {
        Kind::Symlink { .. } | Kind::Latest { .. } => {
            Some(String::from_utf8_lossy(&fs.link_target(&r.item, &r.path)?).into_owned())
        }
        _ => None,
    };
    let commit = match &r.item.kind {
        Kind::Save { commit, .. } => Some(commit.to_hex()),
        _ => None,
    };
    Ok(serde_json::json!({
        "name": String::from_utf8_lossy(&r.shown_name),
        "type": kind,
        "mode": format!("{:o}", m.mode),
        "user": String::from_utf8_lossy(&m.user),
        "group": String::from_utf8_lossy(&m.group),
        "uid": m.uid,
        "gid": m.gid,
        "size": size,
        "mtime": m.mtime.sec,
        "mtime_ns": m.mtime.nsec,
        "id": r.item.object_id().map(|i| i.to_hex()),
        "commit": commit,
        "target": target,
    }))
}
