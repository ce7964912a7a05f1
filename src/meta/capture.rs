//! Capturing a filesystem object's metadata the way `bup save` records it
//! (spec §4.3–4.4): stat fields, owner and group names, symlink target,
//! Linux attr flags, xattrs in `listxattr` order and, for files with an
//! extended POSIX ACL, its text forms.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use nix::unistd::{Gid, Group, Uid, User};
use thiserror::Error;

use super::acl::{self, ACCESS_XATTR, DEFAULT_XATTR, Tag};
use super::chattr;
use super::record::{Acl, FileType, Metadata, Timespec};

/// The step of a capture that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptureStep {
    /// `lstat` of the path.
    Lstat,
    /// Reading a symlink's target.
    Readlink,
    /// Listing or reading extended attributes.
    Xattr,
    /// Opening the object or reading its Linux attr flags (ioctl).
    LinuxAttr,
    /// Decoding the ACL xattrs.
    Acl,
}

impl fmt::Display for CaptureStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CaptureStep::Lstat => "lstat",
            CaptureStep::Readlink => "readlink",
            CaptureStep::Xattr => "reading xattrs",
            CaptureStep::LinuxAttr => "reading linux attr flags",
            CaptureStep::Acl => "decoding ACL",
        })
    }
}

/// Capturing metadata failed: which path, which step, and why.
#[derive(Debug, Error)]
#[error("capturing metadata of {}: {step}", path.display())]
pub struct CaptureError {
    /// The object whose metadata was being captured.
    pub path: PathBuf,
    /// The step that failed.
    pub step: CaptureStep,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl CaptureError {
    fn new(path: &Path, step: CaptureStep, source: io::Error) -> CaptureError {
        CaptureError {
            path: path.to_path_buf(),
            step,
            source,
        }
    }

    /// Whether the object vanished (`ENOENT`) — typically deleted between
    /// the directory listing and the capture.
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

/// Captures metadata; caches uid → user name and gid → group name lookups.
/// Shareable between threads.
#[derive(Debug, Default)]
pub struct Capturer {
    users: RwLock<HashMap<u32, Option<Vec<u8>>>>,
    groups: RwLock<HashMap<u32, Option<Vec<u8>>>>,
}

impl Capturer {
    /// A capturer with empty name caches.
    pub fn new() -> Capturer {
        Capturer::default()
    }

    /// The name of user `uid`, or `None` if the passwd database has none.
    pub fn user_name(&self, uid: u32) -> Option<Vec<u8>> {
        cached_lookup(&self.users, uid, |id| {
            User::from_uid(Uid::from_raw(id)).map(|u| u.map(|u| u.name.into_bytes()))
        })
    }

    /// The name of group `gid`, or `None` if the group database has none.
    pub fn group_name(&self, gid: u32) -> Option<Vec<u8>> {
        cached_lookup(&self.groups, gid, |id| {
            Group::from_gid(Gid::from_raw(id)).map(|g| g.map(|g| g.name.into_bytes()))
        })
    }

    /// `lstat`s `path` and captures its metadata (see [`Capturer::capture`]).
    pub fn capture_path(&self, path: &Path) -> Result<Metadata, CaptureError> {
        let st = std::fs::symlink_metadata(path)
            .map_err(|e| CaptureError::new(path, CaptureStep::Lstat, e))?;
        self.capture(path, &st)
    }

    /// Metadata of the filesystem object at `path` (a final symlink is not
    /// followed), given its `lstat` result `st`.
    ///
    /// `size` is `st_size` for regular files (the caller may overwrite it
    /// with the number of bytes actually read), the target length for
    /// symlinks, and `None` otherwise. `hardlink_target` is left `None`:
    /// only the caller knows the hard-link sets.
    pub fn capture(&self, path: &Path, st: &std::fs::Metadata) -> Result<Metadata, CaptureError> {
        let mode = st.mode();
        let file_type = FileType::from_mode(mode);
        let mut meta = Metadata {
            mode,
            uid: i64::from(st.uid()),
            user: self.user_name(st.uid()).unwrap_or_default(),
            gid: i64::from(st.gid()),
            group: self.group_name(st.gid()).unwrap_or_default(),
            rdev: match file_type {
                FileType::CharDev | FileType::BlockDev => st.rdev(),
                _ => 0,
            },
            atime: timespec(st.atime(), st.atime_nsec()),
            mtime: timespec(st.mtime(), st.mtime_nsec()),
            ctime: timespec(st.ctime(), st.ctime_nsec()),
            size: match file_type {
                FileType::File => Some(st.size()),
                _ => None,
            },
            ..Metadata::default()
        };

        if file_type == FileType::Symlink {
            let target = std::fs::read_link(path)
                .map_err(|e| CaptureError::new(path, CaptureStep::Readlink, e))?
                .into_os_string()
                .into_vec();
            meta.size = Some(target.len() as u64);
            meta.symlink_target = Some(target);
        }

        if matches!(file_type, FileType::File | FileType::Dir) {
            meta.linux_attr = read_linux_attr(path)
                .map_err(|e| CaptureError::new(path, CaptureStep::LinuxAttr, e))?
                .filter(|flags| *flags != 0)
                .map(u64::from);
        }

        meta.xattrs =
            read_xattrs(path).map_err(|e| CaptureError::new(path, CaptureStep::Xattr, e))?;

        if file_type != FileType::Symlink {
            meta.acl = self
                .acl_from_xattrs(&meta.xattrs, mode, file_type == FileType::Dir)
                .map_err(|e| {
                    CaptureError::new(
                        path,
                        CaptureStep::Acl,
                        io::Error::new(io::ErrorKind::InvalidData, e),
                    )
                })?;
        }
        Ok(meta)
    }

    /// The ACL bup records for an object with these xattrs: `None` unless
    /// the object has an extended ACL (an access ACL beyond the three base
    /// entries, or, for a directory, a default ACL), as libacl's
    /// `acl_extended_file` decides.
    fn acl_from_xattrs(
        &self,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        mode: u32,
        is_dir: bool,
    ) -> Result<Option<Acl>, acl::AclError> {
        let find = |name: &str| {
            xattrs
                .iter()
                .find(|(n, _)| n.as_slice() == name.as_bytes())
                .map(|(_, v)| v.as_slice())
        };
        let access = find(ACCESS_XATTR).map(acl::parse_xattr).transpose()?;
        let default = if is_dir {
            find(DEFAULT_XATTR).map(acl::parse_xattr).transpose()?
        } else {
            None
        };
        let extended = access.as_ref().is_some_and(|a| a.len() > 3)
            || default.as_ref().is_some_and(|d| !d.is_empty());
        if !extended {
            return Ok(None);
        }
        let access = access.unwrap_or_else(|| acl::from_mode(mode));
        let names = |tag: Tag, id: u32| match tag {
            Tag::User => self.user_name(id),
            Tag::Group => self.group_name(id),
            _ => None,
        };
        let mut result = Acl {
            access_text: acl::to_text(&access, names),
            access_numeric: acl::to_text(&access, |_, _| None),
            ..Acl::default()
        };
        if let Some(default) = default {
            result.default_text = acl::to_text(&default, names);
            result.default_numeric = acl::to_text(&default, |_, _| None);
        }
        Ok(Some(result))
    }
}

fn cached_lookup(
    cache: &RwLock<HashMap<u32, Option<Vec<u8>>>>,
    id: u32,
    lookup: impl FnOnce(u32) -> nix::Result<Option<Vec<u8>>>,
) -> Option<Vec<u8>> {
    // A poisoned lock only means another thread panicked mid-insert; the
    // map itself is still a valid cache.
    if let Some(hit) = cache
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&id)
    {
        return hit.clone();
    }
    // Lookup errors (e.g. an unreachable name service) are not cached.
    let found = lookup(id).ok()?;
    cache
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(id, found.clone());
    found
}

/// A timespec from `lstat`'s seconds and nanoseconds, normalized to floor
/// semantics (the kernel already reports it that way).
fn timespec(sec: i64, nsec: i64) -> Timespec {
    Timespec::normalized(sec, nsec).unwrap_or(Timespec { sec, nsec: 0 })
}

/// The Linux attr flags of a regular file or directory; `None` when the
/// filesystem has none or refuses to say.
fn read_linux_attr(path: &Path) -> io::Result<Option<u32>> {
    let file = chattr::open_for_flags(path)?;
    match chattr::get_flags(&file) {
        Ok(flags) => Ok(Some(flags)),
        Err(e) if chattr::is_unsupported(&e) || e.raw_os_error() == Some(libc::EPERM) => Ok(None),
        Err(e) => Err(e),
    }
}

/// All extended attributes of `path` (not following a final symlink), in
/// `listxattr` order; empty when the filesystem does not support them.
fn read_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if is_xattr_unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        match xattr::get(path, &name) {
            Ok(Some(value)) => out.push((name.into_vec(), value)),
            // Removed between list and get.
            Ok(None) => {}
            Err(e) if is_xattr_unsupported(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn is_xattr_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS))
}

/// Whether a recorded xattr name is one of the two POSIX ACL xattrs.
pub(crate) fn is_acl_xattr(name: &[u8]) -> bool {
    let name = OsStr::from_bytes(name);
    name == ACCESS_XATTR || name == DEFAULT_XATTR
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::record::RecordReader;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    fn run(cmd: &mut Command) -> Vec<u8> {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is it installed?)"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn tool(name: &str, args: &[&OsStr]) -> Vec<u8> {
        run(Command::new(name).args(args))
    }

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn capturer_is_send_and_sync() {
        assert_send_sync::<Capturer>();
    }

    /// Builds a directory with one of each kind of object and interesting
    /// metadata, saves it with the real bup, and checks that our capture
    /// of every object equals bup's record field by field (except atime,
    /// which bup's reading may have changed).
    #[test]
    fn capture_matches_real_bup_save() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        let p = |name: &str| src.join(name);
        std::fs::create_dir(&src).expect("mkdir src");

        std::fs::write(p("plain"), b"hello\n").expect("write");
        std::fs::write(p("empty"), b"").expect("write");
        std::fs::write(p("suid"), b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(p("suid"), std::fs::Permissions::from_mode(0o4755))
            .expect("chmod");
        std::fs::write(p("acl_file"), b"acl\n").expect("write");
        tool(
            "setfacl",
            &[
                os("-m"),
                os("u:nobody:r,g:12345:rw"),
                p("acl_file").as_os_str(),
            ],
        );
        tool(
            "setfattr",
            &[
                os("-n"),
                os("user.foo"),
                os("-v"),
                os("bar"),
                p("acl_file").as_os_str(),
            ],
        );
        tool(
            "setfattr",
            &[
                os("-n"),
                os("trusted.t"),
                os("-v"),
                os("0x00ff01"),
                p("acl_file").as_os_str(),
            ],
        );
        std::fs::write(p("numeric_acl"), b"n\n").expect("write");
        tool(
            "setfacl",
            &[os("-m"), os("u:54321:rwx"), p("numeric_acl").as_os_str()],
        );
        std::fs::write(p("noatime_attr"), b"a\n").expect("write");
        tool("chattr", &[os("+A"), p("noatime_attr").as_os_str()]);
        std::fs::write(p("foreign_owner"), b"f\n").expect("write");
        std::os::unix::fs::lchown(p("foreign_owner"), Some(4242), Some(4343)).expect("chown");
        std::fs::write(p("old"), b"o\n").expect("write");
        tool(
            "touch",
            &[
                os("-h"),
                os("-d"),
                os("1960-01-01 00:00:00.25 UTC"),
                p("old").as_os_str(),
            ],
        );
        std::os::unix::fs::symlink("acl_file", p("link")).expect("symlink");
        tool(
            "setfattr",
            &[
                os("-h"),
                os("-n"),
                os("trusted.l"),
                os("-v"),
                os("x"),
                p("link").as_os_str(),
            ],
        );
        nix::unistd::mkfifo(&p("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o640))
            .expect("mkfifo");
        tool(
            "setfacl",
            &[os("-m"), os("u:nobody:r"), p("fifo").as_os_str()],
        );
        nix::sys::stat::mknod(
            &p("chardev"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            nix::sys::stat::makedev(1, 3),
        )
        .expect("mknod char device (tests run as root)");
        nix::sys::stat::mknod(
            &p("sock"),
            nix::sys::stat::SFlag::S_IFSOCK,
            nix::sys::stat::Mode::from_bits_truncate(0o755),
            0,
        )
        .expect("mknod socket");

        std::fs::create_dir(p("default_acl_dir")).expect("mkdir");
        tool(
            "setfacl",
            &[
                os("-d"),
                os("-m"),
                os("u:nobody:rx"),
                p("default_acl_dir").as_os_str(),
            ],
        );
        std::fs::write(p("default_acl_dir/inherits"), b"i\n").expect("write");
        std::fs::create_dir(p("access_acl_dir")).expect("mkdir");
        tool(
            "setfacl",
            &[
                os("-m"),
                os("g:daemon:rwx"),
                p("access_acl_dir").as_os_str(),
            ],
        );
        std::fs::create_dir(p("both_acl_dir")).expect("mkdir");
        tool(
            "setfacl",
            &[
                os("-m"),
                os("u:nobody:rwx,d:g:12345:r"),
                p("both_acl_dir").as_os_str(),
            ],
        );
        std::fs::create_dir(p("sticky")).expect("mkdir");
        std::fs::set_permissions(p("sticky"), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod");
        std::fs::create_dir(p("sgid")).expect("mkdir");
        std::fs::set_permissions(p("sgid"), std::fs::Permissions::from_mode(0o2750))
            .expect("chmod");
        std::fs::write(p("sgid/child"), b"c\n").expect("write");

        let repo = tmp.path().join("repo");
        let bup = |args: &[&OsStr]| run(Command::new("bup").env("BUP_DIR", &repo).args(args));
        bup(&[os("init")]);
        bup(&[os("index"), src.as_os_str()]);
        bup(&[os("save"), os("-n"), os("t"), src.as_os_str()]);

        let capturer = Capturer::new();
        let mut compared = 0;
        let dirs = [
            "",
            "default_acl_dir",
            "access_acl_dir",
            "both_acl_dir",
            "sticky",
            "sgid",
        ];
        for dir in dirs {
            let dir_path = if dir.is_empty() {
                src.clone()
            } else {
                src.join(dir)
            };
            let mut vfs_path = b"t/latest".to_vec();
            vfs_path.extend_from_slice(dir_path.as_os_str().as_bytes());
            let bupm = bup(&[os("cat-file"), os("--bupm"), OsStr::from_bytes(&vfs_path)]);
            let records: Vec<_> = RecordReader::new(&bupm)
                .collect::<Result<_, _>>()
                .expect("bup's .bupm decodes");

            // Record 0 is the directory, then one per non-directory entry
            // in bytewise name order (spec §4.1).
            let mut names: Vec<Vec<u8>> = std::fs::read_dir(&dir_path)
                .expect("read_dir")
                .map(|e| e.expect("dir entry").file_name().into_vec())
                .collect();
            names.sort();
            let mut objects = vec![dir_path.clone()];
            for name in names {
                let path = dir_path.join(OsStr::from_bytes(&name));
                let st = std::fs::symlink_metadata(&path).expect("lstat");
                if !st.is_dir() {
                    objects.push(path);
                }
            }
            assert_eq!(
                records.len(),
                objects.len(),
                "records of {}",
                dir_path.display()
            );
            for (record, path) in records.iter().zip(&objects) {
                let bup_meta = record.clone().expect("bup wrote metadata");
                let mut ours = capturer.capture_path(path).expect("capture");
                ours.atime = bup_meta.atime;
                assert_eq!(ours, bup_meta, "metadata of {}", path.display());
                compared += 1;
            }
        }
        // 6 directories, 12 non-directories in src, one file each in
        // default_acl_dir and sgid.
        assert_eq!(compared, 6 + 12 + 2);

        // Spot checks that the comparison covered what it was meant to.
        let acl_file = capturer.capture_path(&p("acl_file")).expect("capture");
        let acl = acl_file.acl.expect("extended ACL recorded");
        let nobody_uid = User::from_name("nobody")
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw());
        assert_eq!(
            String::from_utf8_lossy(&acl.access_numeric),
            format!(
                "u::rw-,u:{}:r--,g::r--,g:12345:rw-,m::rw-,o::r--",
                nobody_uid.expect("user nobody exists")
            )
        );
        assert!(
            acl_file
                .xattrs
                .iter()
                .any(|(n, _)| n == b"system.posix_acl_access")
        );
        let dacl = capturer
            .capture_path(&p("default_acl_dir"))
            .expect("capture");
        assert_eq!(
            dacl.acl.map(|a| a.access_text),
            Some(b"u::rwx,g::r-x,o::r-x".to_vec())
        );
        let link = capturer.capture_path(&p("link")).expect("capture");
        assert_eq!(link.symlink_target.as_deref(), Some(&b"acl_file"[..]));
        assert_eq!(link.size, Some(8));
        assert_eq!(link.acl, None);
        assert_eq!(link.xattrs, vec![(b"trusted.l".to_vec(), b"x".to_vec())]);
        let noatime = capturer.capture_path(&p("noatime_attr")).expect("capture");
        assert_eq!(noatime.linux_attr.map(|f| f & 0x80), Some(0x80));
        let old = capturer.capture_path(&p("old")).expect("capture");
        assert!(old.mtime.sec < 0 && old.mtime.nsec == 250_000_000);
        let foreign = capturer.capture_path(&p("foreign_owner")).expect("capture");
        assert_eq!((foreign.uid, foreign.gid), (4242, 4343));
    }

    #[test]
    fn vanished_objects_are_not_found_errors() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let capturer = Capturer::new();
        let missing = tmp.path().join("missing");
        let err = capturer.capture_path(&missing).expect_err("missing file");
        assert!(err.is_not_found());
        assert_eq!(err.step, CaptureStep::Lstat);
        assert_eq!(err.path, missing);

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink("target", &link).expect("symlink");
        let st = std::fs::symlink_metadata(&link).expect("lstat");
        std::fs::remove_file(&link).expect("rm");
        let err = capturer.capture(&link, &st).expect_err("vanished symlink");
        assert!(err.is_not_found());
        assert_eq!(err.step, CaptureStep::Readlink);

        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        let st = std::fs::symlink_metadata(&file).expect("lstat");
        std::fs::remove_file(&file).expect("rm");
        let err = capturer.capture(&file, &st).expect_err("vanished file");
        assert!(err.is_not_found());
        assert!(err.to_string().contains(&*file.to_string_lossy()));
    }
}
