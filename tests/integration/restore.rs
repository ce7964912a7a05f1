//! `backup restore` (issue 3): exact round trips, equality with real
//! `bup restore`, hostile and damaged repositories.

use crate::util::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn restore_ok(repo: &Path, out: &Path, path: &str) {
    ok(backup(repo).args(["restore", "-C"]).arg(out).arg(path));
}

/// Runs a restore that must be partial (exit 3); returns its stderr.
fn restore_partial(repo: &Path, extra: &[&str], out: &Path, path: &str) -> String {
    let r = run(backup(repo)
        .arg("restore")
        .args(extra)
        .arg("-C")
        .arg(out)
        .arg(path));
    let err = text(r.stderr);
    assert_eq!(r.status.code(), Some(3), "{err}");
    err
}

fn snap_without_root(dir: &Path) -> BTreeMap<PathBuf, Node> {
    let mut s = snapshot(dir, true);
    s.remove(Path::new(""));
    s
}

fn assert_same(want: &BTreeMap<PathBuf, Node>, got: &BTreeMap<PathBuf, Node>, what: &str) {
    let d = diff(want, got);
    assert!(d.is_empty(), "{what}:\n{}", d.join("\n"));
}

/// Acceptance 1: save with backup, restore with backup: content and every
/// kind of metadata identical (modes incl. setuid/setgid/sticky, owners,
/// ns times, links, hard links, devices, fifos, sockets, xattrs, ACLs).
#[test]
fn save_then_restore_is_exact() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let want = snap_without_root(&src);
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    ok(backup(&repo).args(["save", "-n", "h"]).arg(&src));
    let out = base.join("out");
    restore_ok(&repo, &out, &format!("h/latest{}/", src.display()));
    assert_same(
        &want,
        &snap_without_root(&out),
        "backup restore of a backup save",
    );
    // The hard link is a hard link again.
    let a = std::fs::metadata(out.join("hard1")).unwrap();
    let b = std::fs::metadata(out.join("sub/hard2")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(a.ino(), b.ino());
}

/// Acceptance 2 (restore part): on a repository written by the real bup,
/// `backup restore` gives what `bup restore` gives; and on ours too.
#[test]
fn restore_matches_bup_restore_on_both_kinds_of_repository() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let theirs = base.join("theirs");
    ok(bup(&theirs).arg("init"));
    ok(bup(&theirs).arg("index").arg(&src));
    ok(bup(&theirs).args(["save", "-n", "h"]).arg(&src));
    let ours = base.join("ours");
    ok(backup(&ours).arg("init"));
    ok(backup(&ours).args(["save", "-n", "h"]).arg(&src));
    let source = snap_without_root(&src);
    for (label, repo) in [("bup's", &theirs), ("ours", &ours)] {
        // When bup's `.bupm` lookup bug hides this directory's metadata
        // (util::bup_misses_bupm), bup's own restore is wrong: compare ours
        // with the source instead.
        let dir = format!("h/latest{}", src.display());
        let bup_wrong = bup_misses_bupm(repo, &dir);
        // Both forms: a directory itself, and a directory's contents.
        for (path, sub) in [(dir.clone(), "src"), (format!("{dir}/"), "")] {
            let by_bup = base.join(format!("bup-{label}-{sub}"));
            let by_us = base.join(format!("us-{label}-{sub}"));
            ok(bup(repo)
                .args(["restore", "-q", "-C"])
                .arg(&by_bup)
                .arg(&path));
            restore_ok(repo, &by_us, &path);
            let ours_now = snap_without_root(&by_us);
            if bup_wrong {
                // Without the trailing slash the copy sits in `src/`.
                let got: BTreeMap<PathBuf, Node> = if sub == "src" {
                    ours_now
                        .into_iter()
                        .filter_map(|(p, mut n)| {
                            // Hard-link groups are named by a path: strip it too.
                            if let Some(g) = &n.hardlink_group {
                                n.hardlink_group =
                                    g.strip_prefix("src").ok().map(Path::to_path_buf);
                            }
                            p.strip_prefix("src").ok().map(|q| (q.to_path_buf(), n))
                        })
                        .filter(|(p, _)| p != Path::new(""))
                        .collect()
                } else {
                    ours_now
                };
                assert_same(
                    &source,
                    &got,
                    &format!("restore of {path} from {label} repository vs the source"),
                );
            } else {
                assert_same(
                    &snap_without_root(&by_bup),
                    &ours_now,
                    &format!("restore of {path} from {label} repository: bup vs backup"),
                );
            }
        }
    }
    // Single files and the `latest` save itself.
    let one = base.join("one");
    restore_ok(&ours, &one, &format!("h/latest{}/hello.txt", src.display()));
    assert_eq!(std::fs::read(one.join("hello.txt")).unwrap(), b"hello\n");
    let whole = base.join("whole");
    restore_ok(&ours, &whole, "h/latest");
    assert!(
        whole
            .join("latest")
            .join(src.strip_prefix("/").unwrap())
            .join("big.bin")
            .is_file()
    );
}

/// Run git plumbing in `repo`, feeding `input`; return stdout (trimmed).
fn git_in(repo: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Evil")
        .env("GIT_AUTHOR_EMAIL", "evil@example.com")
        .env("GIT_COMMITTER_NAME", "Evil")
        .env("GIT_COMMITTER_EMAIL", "evil@example.com")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    text(out.stdout).trim().to_string()
}

fn raw_tree(repo: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut body = Vec::new();
    for (mode, name, id) in entries {
        body.extend_from_slice(mode.as_bytes());
        body.push(b' ');
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(
            backup::oid::ObjectId::from_hex(id.as_bytes())
                .unwrap()
                .as_bytes(),
        );
    }
    git_in(
        repo,
        &["hash-object", "-w", "--literally", "-t", "tree", "--stdin"],
        &body,
    )
}

/// Acceptance 4: a crafted repository with hostile names and symlinks makes
/// restore write nothing outside OUTDIR; the harmless entries restore.
#[test]
fn hostile_repository_writes_nothing_outside_outdir() {
    let (_td, base) = tempdir();
    let repo = base.join("evil.git");
    ok(Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&repo));
    let victim = base.join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("precious"), b"keep me\n").unwrap();

    let blob = |data: &[u8]| git_in(&repo, &["hash-object", "-w", "--stdin"], data);
    let pwned = blob(b"pwned\n");
    let good = blob(b"good\n");
    let abs_target = blob(victim.to_str().unwrap().as_bytes());
    let up_target = blob(b"../../../victim");
    let inner = raw_tree(
        &repo,
        &[("100644", b"precious", &pwned), ("100644", b"new", &pwned)],
    );
    let deeper = raw_tree(
        &repo,
        &[("100644", b"..", &pwned), ("100644", b"ok.txt", &good)],
    );
    let root = raw_tree(
        &repo,
        &[
            ("100644", b"..", &pwned),
            ("100644", b".", &pwned),
            ("100644", b"../escape", &pwned),
            ("40000", b"deeper", &deeper),
            ("100644", b"good.txt", &good),
            // A symlink to the victim, then a directory with the same real
            // name (`link.bupl` demangles to `link`) holding files.
            ("120000", b"link", &abs_target),
            ("40000", b"link.bupl", &inner),
            ("120000", b"up", &up_target),
            ("40000", b"up.bupl", &inner),
            // `..bup` demangles to `..` (a chunked file).
            ("40000", b"..bup", &inner),
        ],
    );
    let commit = git_in(&repo, &["commit-tree", &root, "-m", "evil"], b"");
    git_in(&repo, &["update-ref", "refs/heads/evil", &commit], b"");

    let before = snapshot(&base, false);
    let out = base.join("out");
    // A symlink already in OUTDIR where a directory will be restored.
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("deeper")).unwrap();
    let err = restore_partial(&repo, &[], &out, "evil/latest/");
    for why in ["`.` or `..`", "contains `/`", "same name"] {
        assert!(err.contains(why), "no refusal mentioning {why}:\n{err}");
    }
    // Nothing outside OUTDIR changed.
    // (The base directory itself changed: OUTDIR was created in it.)
    let mut after = snapshot(&base, false);
    after.retain(|p, _| !p.starts_with("out") && p != Path::new(""));
    let mut before_outside = before.clone();
    before_outside.retain(|p, _| !p.starts_with("out") && p != Path::new(""));
    assert_same(&before_outside, &after, "outside OUTDIR");
    assert_eq!(
        std::fs::read(victim.join("precious")).unwrap(),
        b"keep me\n"
    );
    // The harmless entries are there, the symlinks are links (not followed).
    assert_eq!(std::fs::read(out.join("good.txt")).unwrap(), b"good\n");
    assert_eq!(std::fs::read(out.join("deeper/ok.txt")).unwrap(), b"good\n");
    assert!(
        std::fs::symlink_metadata(out.join("deeper"))
            .unwrap()
            .is_dir()
    );
    assert!(
        std::fs::symlink_metadata(out.join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Damaged repositories: a corrupt object, a missing object and a truncated
/// pack are reported with the object and the path; everything else restores
/// with the right bytes; exit status 3; no panic.
#[test]
fn damaged_objects_are_named_and_the_rest_restores() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    std::fs::write(src.join("z-last.bin"), random_bytes(3 << 20, 77)).unwrap();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    ok(git(&repo).args(["config", "pack.packSizeLimit", "1048576"]));
    ok(backup(&repo).args(["save", "-n", "h"]).arg(&src));
    let pack_dir = repo.join("objects/pack");

    // Flip one byte inside the stored data of hello.txt's blob.
    let hello = backup::oid::ObjectId::hash_object(backup::oid::ObjectKind::Blob, b"hello\n");
    let mut flipped = false;
    for e in std::fs::read_dir(&pack_dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            let idx = backup::pack::Idx::open(&p).unwrap();
            if let Some(off) = idx.lookup(&hello) {
                let pack = p.with_extension("pack");
                let mut bytes = std::fs::read(&pack).unwrap();
                bytes[off as usize + 4] ^= 0x55;
                std::fs::write(&pack, &bytes).unwrap();
                flipped = true;
            }
        }
    }
    assert!(flipped);
    let out = base.join("out1");
    let err = restore_partial(&repo, &[], &out, &format!("h/latest{}/", src.display()));
    assert!(
        err.contains("hello.txt") && err.contains(&hello.to_hex()),
        "{err}"
    );
    assert!(
        !out.join("hello.txt").exists(),
        "a damaged file must not be left looking restored"
    );
    assert_eq!(
        std::fs::read(out.join("big.bin")).unwrap(),
        std::fs::read(src.join("big.bin")).unwrap()
    );

    // Truncate the largest pack: files with chunks in it are reported,
    // everything restored is byte-identical to the source.
    let largest = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let len = std::fs::metadata(&largest).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&largest)
        .unwrap();
    f.set_len(len / 2).unwrap();
    let out = base.join("out2");
    let err = restore_partial(&repo, &[], &out, &format!("h/latest{}/", src.display()));
    assert!(
        err.contains("corrupt") && err.contains("not restored"),
        "{err}"
    );
    let restored: Vec<_> = walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .collect();
    assert!(!restored.is_empty());
    for e in restored {
        let rel = e.path().strip_prefix(&out).unwrap();
        assert_eq!(
            std::fs::read(e.path()).unwrap(),
            std::fs::read(src.join(rel)).unwrap(),
            "{}",
            rel.display()
        );
    }

    // A tree naming an object that does not exist.
    let missing = "1111111111111111111111111111111111111111";
    let good = git_in(&repo, &["hash-object", "-w", "--stdin"], b"fine\n");
    let tree = raw_tree(
        &repo,
        &[
            ("100644", b"gone.txt", missing),
            ("100644", b"fine.txt", &good),
        ],
    );
    let commit = git_in(&repo, &["commit-tree", &tree, "-m", "m"], b"");
    git_in(&repo, &["update-ref", "refs/heads/holey", &commit], b"");
    let out = base.join("out3");
    let err = restore_partial(&repo, &[], &out, "holey/latest/");
    assert!(
        err.contains("gone.txt") && err.contains(missing) && err.contains("missing"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("fine.txt")).unwrap(), b"fine\n");
}

/// As an unprivileged user, restore restores what it can, says what it
/// could not (ownership), and does not fail.
#[test]
fn non_root_restore_reports_ownership_and_succeeds() {
    let (_td, base) = tempdir();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("mine"), b"m\n").unwrap();
    std::fs::write(src.join("theirs"), b"t\n").unwrap();
    std::os::unix::fs::lchown(src.join("theirs"), Some(0), Some(0)).unwrap();
    std::fs::set_permissions(src.join("theirs"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::lchown(src.join("mine"), Some(65534), Some(65534)).unwrap();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    ok(backup(&repo).args(["save", "-n", "h"]).arg(&src));
    ok(Command::new("chmod").args(["-R", "a+rX"]).arg(&repo));
    let out = base.join("out");
    std::fs::create_dir(&out).unwrap();
    ok(Command::new("chown").arg("nobody:nogroup").arg(&out));
    let r = run(Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(backup_bin())
        .arg("-d")
        .arg(&repo)
        .args(["restore", "-C"])
        .arg(&out)
        .arg(format!("h/latest{}/", src.display())));
    let err = text(r.stderr);
    assert_eq!(r.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not applied") && err.contains("owner"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("theirs")).unwrap(), b"t\n");
    assert_eq!(std::fs::read(out.join("mine")).unwrap(), b"m\n");
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_output_filesystem_stops_the_restore_with_one_message() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    for d in ["a", "b"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
        for i in 0..20u64 {
            let seed = i + if d == "a" { 0 } else { 100 };
            std::fs::write(
                src.join(d).join(format!("f{i:02}")),
                random_bytes(256 << 10, seed),
            )
            .unwrap();
        }
    }
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    ok(backup(&repo).args(["save", "-n", "h"]).arg(&src));

    // 10 MiB of files into a 2 MiB filesystem (tests run as root).
    let out = base.join("out");
    std::fs::create_dir(&out).unwrap();
    ok(std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&out));
    let _mounted = Mounted(out.clone());
    let err = restore_partial(&repo, &[], &out, &format!("h/latest{}/", src.display()));
    // (tmpfs has no attr flags: a "note:" line summarises that.)
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("backup: note: "))
        .collect();
    assert_eq!(lines.len(), 1, "one message, not one per file: {err}");
    assert!(
        lines[0].starts_with("backup: restore stopped: h/latest")
            && lines[0].contains("No space left on device")
            && lines[0].contains(&out.display().to_string()),
        "{err}"
    );
    // What is there is whole: the file being written when space ran out
    // was removed, not left short.
    let mut restored = 0;
    for d in ["a", "b"] {
        let Ok(entries) = std::fs::read_dir(out.join(d)) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let want = std::fs::read(src.join(d).join(e.file_name())).unwrap();
            assert!(
                std::fs::read(e.path()).unwrap() == want,
                "{:?} differs",
                e.path()
            );
            restored += 1;
        }
    }
    assert!(restored > 0 && restored < 40, "{restored} files restored");
}

/// By default a file's chunks are checked by the CRC-32 its pack index
/// records (which catches damage), so a pack *and* index written to lie about
/// a blob restore the lie; `--verify-ids` re-hashes every chunk and refuses it.
#[test]
fn verify_ids_refuses_a_blob_whose_bytes_do_not_hash_to_its_id() {
    use backup::oid::{ObjectId, ObjectKind};
    use backup::pack::{Compression, Idx, Pack, PackWriter, encode_object_with_id};
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("hello.txt"), b"hello\n").unwrap();
    std::fs::write(src.join("other.txt"), b"other\n").unwrap();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    ok(backup(&repo).args(["save", "-n", "h"]).arg(&src));

    // Rewrite every pack into one where hello's id labels other bytes, with
    // an index made for that pack (so its CRCs agree with the lie).
    let hello = ObjectId::hash_object(ObjectKind::Blob, b"hello\n");
    let pack_dir = repo.join("objects/pack");
    let old: Vec<PathBuf> = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    let mut w = PackWriter::create(&pack_dir).unwrap();
    let mut replaced = false;
    for idx_path in &old {
        let idx = Idx::open(idx_path).unwrap();
        let ids: Vec<ObjectId> = idx.iter().map(|(id, _)| id).collect();
        let pack = Pack::open(&idx_path.with_extension("pack"), idx).unwrap();
        for id in ids {
            let (kind, body) = pack.read_verified(&id, &|_| None).unwrap().unwrap();
            let body = if id == hello {
                replaced = true;
                b"HELLO\n".to_vec()
            } else {
                body
            };
            w.append(&encode_object_with_id(
                id,
                kind,
                &body,
                Compression::default(),
            ))
            .unwrap();
        }
    }
    assert!(replaced);
    w.finish().unwrap().unwrap();
    for idx_path in &old {
        std::fs::remove_file(idx_path.with_extension("pack")).unwrap();
        std::fs::remove_file(idx_path).unwrap();
    }

    let what = format!("h/latest{}/", src.display());
    let out = base.join("out-default");
    restore_ok(&repo, &out, &what);
    assert_eq!(std::fs::read(out.join("hello.txt")).unwrap(), b"HELLO\n");

    let out = base.join("out-verified");
    let err = restore_partial(&repo, &["--verify-ids"], &out, &what);
    assert!(
        err.contains("hello.txt") && err.contains(&hello.to_hex()),
        "{err}"
    );
    assert!(!out.join("hello.txt").exists());
    assert_eq!(std::fs::read(out.join("other.txt")).unwrap(), b"other\n");
}
