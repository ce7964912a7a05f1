//! What a save includes: exclusion rules, `-x`, symlink roots, roots that
//! yield nothing, hard links across roots, files swapped during a save.
//! (Regressions for findings of the first code review.)

use crate::util::*;
use std::path::Path;
use std::process::Command;

fn names(repo: &Path, rev: &str) -> String {
    text(ok(git(repo).args(["ls-tree", "-r", "--name-only", rev])))
}

fn rel(p: &Path, sub: &str) -> String {
    format!("{}/{sub}", p.strip_prefix("/").unwrap().display())
}

/// `-x` plus an excluded mount point must not drop the siblings that come
/// after it (walkdir's filter_entry + same_file_system skip the parent).
#[test]
fn excluding_a_mount_point_keeps_its_siblings() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    for d in ["a", "m", "z"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    std::fs::write(src.join("a/1"), b"1").unwrap();
    std::fs::write(src.join("z/2"), b"2").unwrap();
    std::fs::write(src.join("zz"), b"3").unwrap();
    ok(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(src.join("m")));
    std::fs::write(src.join("m/on-tmpfs"), b"x").unwrap();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    let out = run(backup(&repo)
        .args(["save", "-n", "s", "-x", "--exclude"])
        .arg(src.join("m"))
        .arg(&src));
    let out2 = run(backup(&repo).args(["save", "-n", "t", "-x"]).arg(&src));
    ok(Command::new("umount").arg(src.join("m")));
    assert!(
        out.status.success() && out2.status.success(),
        "{}{}",
        text(out.stderr),
        text(out2.stderr)
    );
    let s = names(&repo, "s");
    for want in ["a/1", "z/2", "zz"] {
        assert!(s.contains(&rel(&src, want)), "{want} missing:\n{s}");
    }
    assert!(!s.contains("on-tmpfs"), "{s}");
    // Under -x alone, the mount point is saved, its contents are not.
    let t = names(&repo, "t");
    assert!(
        t.contains(&rel(&src, "zz")) && !t.contains("on-tmpfs"),
        "{t}"
    );
    assert!(
        t.contains(&rel(&src, "m/.bupm")),
        "the mount point itself is saved:\n{t}"
    );
}

/// Rules given to `save` apply to that run only; `backup index` rules are
/// recorded (once, not accumulated) and survive `save --no-index`.
#[test]
fn save_rules_are_one_off_and_index_rules_persist() {
    let (_td, base) = tempdir();
    let src = base.join("home");
    for f in ["cache/c", "keep/k", "tmp/t"] {
        let p = src.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, f.as_bytes()).unwrap();
    }
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    ok(backup(&repo)
        .args(["save", "-n", "a", "--exclude"])
        .arg(src.join("cache"))
        .arg(&src));
    assert!(!names(&repo, "a").contains("cache/c"));
    ok(backup(&repo).args(["save", "-n", "b"]).arg(&src));
    assert!(
        names(&repo, "b").contains(&rel(&src, "cache/c")),
        "a save's --exclude leaked into a later save"
    );

    ok(backup(&repo)
        .args(["index", "--exclude"])
        .arg(src.join("tmp"))
        .arg(&src));
    for i in 0..3 {
        ok(backup(&repo).args(["save", "-n", "c"]).arg(&src));
        let n = names(&repo, "c");
        assert!(
            !n.contains("tmp/t") && n.contains("keep/k"),
            "save {i}:\n{n}"
        );
    }
    ok(backup(&repo)
        .args(["save", "--no-index", "-n", "d"])
        .arg(&src));
    ok(backup(&repo).args(["save", "-n", "e"]).arg(&src));
    for b in ["d", "e"] {
        assert!(
            !names(&repo, b).contains("tmp/t"),
            "recorded rule lost by {b}"
        );
    }
    // The recorded rule is stored once, however many saves ran.
    let index = std::fs::read(repo.join("backup.index")).unwrap();
    let needle = src.join("tmp");
    let needle = needle.to_str().unwrap().as_bytes();
    let count = index.windows(needle.len()).filter(|w| *w == needle).count();
    assert!(count <= 2, "exclusion recorded {count} times");
}

/// A root that yields nothing (excluded, or the repository itself) is
/// reported and the exit status is 3; a symlink given as a root is saved
/// as a link, not followed.
#[test]
fn empty_roots_are_reported_and_symlink_roots_are_not_followed() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d/big"), random_bytes(2 << 20, 3)).unwrap();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    let out = run(backup(&repo)
        .args(["save", "-n", "x", "--exclude"])
        .arg(&src)
        .arg(&src));
    let err = text(out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("nothing was saved"), "{err}");
    // The repository itself, named relatively: excluded, reported.
    let out = run(Command::new(backup_bin())
        .current_dir(&base)
        .args(["-d", "repo", "save", "-n", "self"])
        .arg(&repo));
    assert_eq!(out.status.code(), Some(3), "{}", text(out.stderr));

    let link = base.join("link");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let out = ok(backup(&repo).args(["save", "--json", "-n", "l"]).arg(&link));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["bytes_read"], 0, "the link's target was read: {v}");
    assert_eq!(v["entries"], 1, "{v}");
    let ls = text(ok(git(&repo).args(["ls-tree", "-r", "l"])));
    assert!(
        ls.lines()
            .any(|l| l.starts_with("120000") && l.ends_with("/link")),
        "{ls}"
    );
}

/// Exclusions and the repository are recognised through symlinked parents
/// and relative names.
#[test]
fn paths_are_compared_after_resolving_symlinked_parents() {
    let (_td, base) = tempdir();
    let real = base.join("real");
    std::fs::create_dir_all(real.join("home/cache")).unwrap();
    std::fs::write(real.join("home/cache/c"), b"c").unwrap();
    std::fs::write(real.join("home/keep"), b"k").unwrap();
    std::os::unix::fs::symlink(&real, base.join("alias")).unwrap();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    ok(backup(&repo)
        .args(["save", "-n", "s", "--exclude"])
        .arg(base.join("alias/home/cache"))
        .arg(base.join("alias/home")));
    let n = names(&repo, "s");
    assert!(n.contains("home/keep") && !n.contains("cache/c"), "{n}");
}

/// Hard links in two different saved roots are still one inode when
/// restored (by the real bup).
#[test]
fn hard_links_across_roots_stay_linked() {
    let (_td, base) = tempdir();
    for d in ["a", "c"] {
        std::fs::create_dir_all(base.join("h").join(d)).unwrap();
    }
    std::fs::write(base.join("h/a/one"), b"linked\n").unwrap();
    std::fs::hard_link(base.join("h/a/one"), base.join("h/c/two")).unwrap();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    ok(backup(&repo)
        .args(["save", "-n", "s"])
        .arg(base.join("h/c"))
        .arg(base.join("h/a")));
    let out = base.join("out");
    ok(bup(&repo)
        .args(["restore", "-q", "-C"])
        .arg(&out)
        .arg(format!("s/latest{}/", base.join("h").display())));
    use std::os::unix::fs::MetadataExt;
    let one = std::fs::metadata(out.join("a/one")).unwrap();
    let two = std::fs::metadata(out.join("c/two")).unwrap();
    assert_eq!(one.ino(), two.ino(), "not restored as a hard link");
}

/// A FIFO swapped in for a file between the walk and the read must not hang
/// the save: it is skipped as replaced.
#[test]
fn a_fifo_swapped_in_does_not_hang_the_save() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("victim"), b"data").unwrap();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    let child = Command::new(backup_bin())
        .arg("-d")
        .arg(&repo)
        .args(["save", "-n", "s"])
        .arg(&src)
        .env("BACKUP_FAILPOINT", "save-before-open:1:stop")
        .env("RAYON_NUM_THREADS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    loop {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        if st.split_whitespace().nth(2) == Some("T") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::remove_file(src.join("victim")).unwrap();
    nix::unistd::mkfifo(
        &src.join("victim"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the save hung on the FIFO")
        .unwrap();
    let err = text(out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("replaced"), "{err}");
}

/// A reader that stops early is not an error.
#[test]
fn closed_stdout_is_not_an_error() {
    let (_td, base) = tempdir();
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), random_bytes(4 << 20, 1)).unwrap();
    ok(backup(&repo).args(["save", "-n", "s"]).arg(&src));
    let path = format!("s/latest{}/f", src.display());
    let script = format!(
        "'{b}' -d '{r}' cat-file '{path}' | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}; \
         '{b}' -d '{r}' save --json -n s '{s}' | true; echo ${{PIPESTATUS[0]}}",
        b = backup_bin().display(),
        r = repo.display(),
        s = src.display()
    );
    let codes = text(ok(Command::new("bash").arg("-c").arg(&script)));
    assert_eq!(
        codes.split_whitespace().collect::<Vec<_>>(),
        ["0", "0"],
        "{codes}"
    );
}
