//! `ls` output as `bup ls` prints it: one name per line, or with `-l`
//! `MODE USER/GROUP SIZE YYYY-MM-DD HH:MM NAME[ -> TARGET]`, laid out as
//! bup's `%-10s %-11s %11s %16s %s` (mtime in the local time zone).
//! Like bup's, the mode string shows only the nine permission bits: a
//! setuid file shows `-rwxr-xr-x` (the bits are stored and restored).

use crate::meta::{FileType, Metadata};
use chrono::{Local, TimeZone};

/// `ls -l` style mode string as bup prints it, e.g. `drwxr-xr-x`,
/// `crw-r--r--` (setuid, setgid and sticky bits are not shown).
pub fn mode_string(mode: u32) -> String {
    let t = match FileType::from_mode(mode) {
        FileType::Dir => 'd',
        FileType::Symlink => 'l',
        FileType::CharDev => 'c',
        FileType::BlockDev => 'b',
        FileType::Fifo => 'p',
        FileType::Socket => 's',
        FileType::File | FileType::Unknown => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    for (bit, c) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        s.push(if mode & bit != 0 { c } else { '-' });
    }
    s
}

/// `user/group` (names, or ids when a name is not recorded or
/// `numeric` is set; `?` when unknown).
pub fn owner_string(m: &Metadata, numeric: bool) -> String {
    let one = |name: &[u8], id: i64| {
        if !numeric && !name.is_empty() {
            String::from_utf8_lossy(name).into_owned()
        } else if id >= 0 {
            id.to_string()
        } else {
            "?".to_string()
        }
    };
    format!("{}/{}", one(&m.user, m.uid), one(&m.group, m.gid))
}

/// `YYYY-MM-DD HH:MM` of `secs` in the local time zone.
pub fn date_string(secs: i64) -> String {
    match Local.timestamp_opt(secs, 0).earliest() {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => "1970-01-01 00:00".into(),
    }
}

/// The size column: bytes, or `major,minor` for devices.
pub fn size_string(m: &Metadata, size: Option<u64>) -> String {
    match FileType::from_mode(m.mode) {
        FileType::CharDev | FileType::BlockDev => {
            let (maj, min) = (nix::sys::stat::major(m.rdev), nix::sys::stat::minor(m.rdev));
            format!("{maj},{min}")
        }
        _ => size.unwrap_or(0).to_string(),
    }
}

/// One `ls -l` line (without the newline). Names and link targets are
/// written as raw bytes, as bup does (they need not be UTF-8).
pub fn long_line(
    m: &Metadata,
    size: Option<u64>,
    name: &[u8],
    link: Option<&[u8]>,
    numeric: bool,
) -> Vec<u8> {
    let mut s = format!(
        "{:<10} {:<11} {:>11} {:>16} ",
        mode_string(m.mode),
        owner_string(m, numeric),
        size_string(m, size),
        date_string(m.mtime.sec),
    )
    .into_bytes();
    s.extend_from_slice(name);
    if let Some(t) = link {
        s.extend_from_slice(b" -> ");
        s.extend_from_slice(t);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_render_like_ls() {
        assert_eq!(mode_string(0o40755), "drwxr-xr-x");
        assert_eq!(mode_string(0o104755), "-rwxr-xr-x");
        assert_eq!(mode_string(0o102640), "-rw-r-----");
        assert_eq!(mode_string(0o41777), "drwxrwxrwx");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o20644), "crw-r--r--");
        assert_eq!(mode_string(0o10644), "prw-r--r--");
        assert_eq!(mode_string(0o140755), "srwxr-xr-x");
    }
}
