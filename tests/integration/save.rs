//! `backup save` / `split` against the real git and bup (issue 2).

use crate::util::*;
use std::path::Path;

fn init(repo: &Path, extra: &[&str]) {
    ok(backup(repo).arg("init").args(extra));
}

fn save(repo: &Path, name: &str, src: &Path) -> serde_json::Value {
    let out = ok(backup(repo).args(["save", "--json", "-n", name]).arg(src));
    serde_json::from_slice(&out).expect("save --json prints JSON")
}

fn git_fsck(repo: &Path) {
    let out = run(git(repo).args(["fsck", "--strict", "--no-dangling"]));
    let err = text(out.stderr);
    assert!(out.status.success(), "git fsck --strict failed:\n{err}");
    assert!(!err.contains("error"), "git fsck --strict reported:\n{err}");
}

fn bup_fsck(repo: &Path) {
    ok(bup(repo).arg("fsck"));
}

/// Acceptance 1: a fixture with every kind of entry passes git fsck --strict
/// and bup fsck, and the real `bup restore` gives back identical content and
/// metadata.
#[test]
fn fixture_save_passes_fsck_and_bup_restores_it_exactly() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let before = snapshot(&src, true);
    let repo = base.join("repo");
    init(&repo, &[]);
    ok(backup(&repo).arg("index").arg(&src));
    let r = save(&repo, "test", &src);
    assert_eq!(r["partial"], false, "{r}");
    git_fsck(&repo);
    bup_fsck(&repo);

    let out = base.join("restored");
    let target = format!("test/latest{}/", src.display());
    ok(bup(&repo)
        .args(["restore", "-q", "-C"])
        .arg(&out)
        .arg(&target));
    let mut after = snapshot(&out, true);
    let mut want = before.clone();
    // The restore target directory itself is not part of the comparison.
    after.remove(Path::new(""));
    want.remove(Path::new(""));
    let d = diff(&want, &after);
    assert!(
        d.is_empty(),
        "bup restore differs from the source:\n{}",
        d.join("\n")
    );
    // The source was not disturbed by the save (atimes of files included).
    let d = diff(&before, &snapshot(&src, true));
    assert!(d.is_empty(), "save changed the source:\n{}", d.join("\n"));
}

/// Acceptance 2: `git clone` + `git checkout NAME` shows the small files.
#[test]
fn git_clone_and_checkout_show_the_files() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let repo = base.join("repo");
    init(&repo, &[]);
    save(&repo, "web", &src);
    let clone = base.join("clone");
    ok(std::process::Command::new("git")
        .arg("clone")
        .arg("-q")
        .arg(&repo)
        .arg(&clone));
    ok(std::process::Command::new("git")
        .arg("-C")
        .arg(&clone)
        .args(["checkout", "-q", "web"]));
    let rel = src.strip_prefix("/").unwrap();
    let checked = clone.join(rel);
    for f in [
        "hello.txt",
        "a b",
        "sub/deeper/note.txt",
        "dir.bup.bupl/inner",
        "run.sh",
    ] {
        assert_eq!(
            std::fs::read(checked.join(f)).unwrap_or_else(|e| panic!("{f} in the checkout: {e}")),
            std::fs::read(src.join(f.replace(".bup.bupl", ".bup"))).unwrap(),
            "{f}"
        );
    }
    // A file larger than one chunk is a directory of chunks whose names are
    // hex offsets: concatenated in name order they are the file.
    let mut chunks: Vec<std::path::PathBuf> = walkdir::WalkDir::new(checked.join("medium.txt.bup"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file())
        .collect();
    assert!(chunks.len() > 1);
    chunks.sort();
    let joined: Vec<u8> = chunks
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(joined, std::fs::read(src.join("medium.txt")).unwrap());
}

/// Acceptance 4: an unchanged re-save adds a commit and almost no bytes; a
/// few bytes edited in the middle of a 100 MB file add a few chunks.
#[test]
fn resave_is_cheap_and_an_edit_stores_only_a_few_chunks() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    let big = src.join("db.img");
    let mut data = random_bytes(100 << 20, 3);
    std::fs::write(&big, &data).unwrap();
    std::fs::write(src.join("small.txt"), b"small\n").unwrap();
    // Files changed within two seconds before a save are re-read by the next
    // one (the filesystem clock may not have moved); let that window pass.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let repo = base.join("repo");
    init(&repo, &[]);
    let first = save(&repo, "img", &src);
    let size1 = du(&repo.join("objects"));
    assert!(
        size1 > 100 << 20,
        "random data should be stored whole: {size1}"
    );

    // Same tree again: new commit, parent = first, tiny growth, file not re-read.
    let second = save(&repo, "img", &src);
    let size2 = du(&repo.join("objects"));
    assert_eq!(second["parent"], first["commit"]);
    assert!(
        size2 - size1 < 16 << 10,
        "unchanged re-save added {} bytes",
        size2 - size1
    );
    assert_eq!(
        second["bytes_read"], 0,
        "unchanged files must not be re-read: {second}"
    );

    // Edit 7 bytes in the middle.
    data[50 << 20..(50 << 20) + 7].copy_from_slice(b"EDITED!");
    std::fs::write(&big, &data).unwrap();
    let third = save(&repo, "img", &src);
    let size3 = du(&repo.join("objects"));
    let added = size3 - size2;
    let objects = third["objects_written"].as_u64().unwrap();
    assert!(added < 512 << 10, "a 7-byte edit added {added} bytes");
    assert!(objects < 40, "a 7-byte edit wrote {objects} objects");
    git_fsck(&repo);

    // And the edited file reads back right (bup join of the chunk tree).
    let ls = text(ok(git(&repo).args(["ls-tree", "-r", "-t", "img"])));
    let line = ls
        .lines()
        .find(|l| l.ends_with("db.img.bup"))
        .unwrap_or_else(|| panic!("no chunked db.img in:\n{ls}"));
    let tree_id = line.split_whitespace().nth(2).unwrap();
    let joined = ok(bup(&repo).args(["join", tree_id]));
    assert!(joined == data, "bup join of the edited file differs");
}

/// Acceptance 5: `split` stores a stream bup can join; `--from-command`
/// with a failing or killed command records no commit and exits non-zero.
#[test]
fn split_streams_and_refuses_failed_commands() {
    let (_td, base) = tempdir();
    let repo = base.join("repo");
    init(&repo, &[]);
    let dump = base.join("dump.sql");
    let mut sql = Vec::new();
    for i in 0..60_000 {
        sql.extend_from_slice(
            format!(
                "INSERT INTO bugs VALUES ({i}, 'bug number {i}', {});\n",
                i * 7
            )
            .as_bytes(),
        );
    }
    std::fs::write(&dump, &sql).unwrap();

    // From stdin, as in `mysqldump bugs | backup split -n mysql-bugs`.
    let out = run(backup(&repo)
        .args(["split", "-n", "mysql-bugs"])
        .stdin(std::fs::File::open(&dump).unwrap()));
    assert!(out.status.success(), "{}", text(out.stderr));
    let tip1 = text(ok(git(&repo).args(["rev-parse", "mysql-bugs"])));
    let tree = text(ok(git(&repo).args(["ls-tree", "mysql-bugs"])));
    assert!(tree.trim_end().ends_with("\tdata.bup"), "{tree}");
    assert_eq!(ok(bup(&repo).args(["join", "mysql-bugs"])), sql);
    let msg = text(ok(git(&repo).args([
        "log",
        "-1",
        "--format=%B",
        "mysql-bugs",
    ])));
    assert!(
        msg.starts_with("bup split\n\nGenerated by command:\n[b'"),
        "{msg}"
    );

    // Next day's dump, a few rows changed: a new commit, little new data.
    let size1 = du(&repo.join("objects"));
    let sql2 = String::from_utf8(sql.clone())
        .unwrap()
        .replace("bug number 30000'", "bug number 30000 (fixed)'");
    let dump2 = base.join("dump2.sql");
    std::fs::write(&dump2, &sql2).unwrap();
    let out = run(backup(&repo)
        .args(["split", "-n", "mysql-bugs", "--from-command", "--", "cat"])
        .arg(&dump2));
    assert!(out.status.success(), "{}", text(out.stderr));
    let parent = text(ok(git(&repo).args(["rev-parse", "mysql-bugs^"])));
    assert_eq!(parent, tip1);
    assert_eq!(ok(bup(&repo).args(["join", "mysql-bugs"])), sql2.as_bytes());
    assert!(du(&repo.join("objects")) - size1 < 64 << 10);

    // A failing dump: no commit, non-zero exit, a message naming the failure.
    let tip2 = text(ok(git(&repo).args(["rev-parse", "mysql-bugs"])));
    for (script, want) in [
        ("echo partial dump; exit 3", "exited with status 3"),
        ("echo partial dump; kill -9 $$", "killed by signal 9"),
    ] {
        let out = run(backup(&repo).args([
            "split",
            "-n",
            "mysql-bugs",
            "--from-command",
            "--",
            "sh",
            "-c",
            script,
        ]));
        assert!(!out.status.success());
        let err = text(out.stderr);
        assert!(
            err.contains(want) && err.contains("nothing was recorded"),
            "{err}"
        );
        assert_eq!(text(ok(git(&repo).args(["rev-parse", "mysql-bugs"]))), tip2);
    }
    git_fsck(&repo);
    bup_fsck(&repo);
}

/// Bad repository paths, a locked repository, an unreadable file, a file
/// that vanishes mid-save, a full disk and a read-only repository each give
/// a clear error and the right exit code, and harm nothing already saved.
#[test]
fn bad_inputs_fail_clearly_and_harm_nothing() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"a\n").unwrap();

    // No repository.
    let out = run(backup(&base.join("nope"))
        .args(["save", "-n", "x"])
        .arg(&src));
    assert_eq!(out.status.code(), Some(10));
    let err = text(out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("init"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // A non-empty directory that is not a repository.
    let out = run(backup(&src).arg("init"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(out.stderr).contains("refusing"));
    assert!(src.join("a.txt").exists());

    let repo = base.join("repo");
    init(&repo, &[]);
    let good = save(&repo, "s", &src)["commit"]
        .as_str()
        .unwrap()
        .to_string();

    // Locked by another process (the real flock(1)).
    let mut holder = std::process::Command::new("flock")
        .arg("--no-fork")
        .arg(repo.join("backup.lock"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = run(backup(&repo)
        .args(["save", "--lock-wait", "1", "-n", "s"])
        .arg(&src));
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(out.status.code(), Some(11), "{}", text(out.stderr));
    assert!(text(out.stderr).contains("locked by another writer"));

    // Files vanishing between the walk and the read: the process is stopped
    // at its first file open, the files are deleted, the process continued.
    // One worker thread, so the thread that stops itself is the only one
    // opening files.
    let vdir = src.join("vanishing");
    std::fs::create_dir(&vdir).unwrap();
    for i in 0..20 {
        std::fs::write(vdir.join(format!("v{i:02}")), format!("{i}\n")).unwrap();
    }
    let child = std::process::Command::new(backup_bin())
        .arg("-d")
        .arg(&repo)
        .args(["save", "--no-index", "--json", "-n", "s"])
        .arg(&vdir)
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
    for i in 0..20 {
        std::fs::remove_file(vdir.join(format!("v{i:02}"))).unwrap();
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(out.stderr));
    let err = text(out.stderr);
    let vanished: Vec<&str> = err.lines().filter(|l| l.contains("vanished")).collect();
    assert_eq!(
        vanished.len(),
        20,
        "expected every file reported as vanished:\n{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["partial"], true);
    let ls = text(ok(git(&repo).args(["ls-tree", "-r", "--name-only", "s"])));
    for line in &vanished {
        let name = line
            .split("vanishing/")
            .nth(1)
            .unwrap()
            .split(':')
            .next()
            .unwrap();
        assert!(
            !ls.contains(&format!("vanishing/{name}")),
            "{name} reported vanished but saved:\n{ls}"
        );
    }

    // An unreadable file (as an unprivileged user): skipped, exit 3, rest saved.
    let urepo = base.join("urepo");
    init(&urepo, &[]);
    let usrc = base.join("usrc");
    std::fs::create_dir(&usrc).unwrap();
    std::fs::write(usrc.join("ok.txt"), b"ok\n").unwrap();
    std::fs::write(usrc.join("secret"), b"no\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(usrc.join("secret"), std::fs::Permissions::from_mode(0o000)).unwrap();
    ok(std::process::Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(&urepo)
        .arg(&usrc));
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(backup_bin())
        .arg("-d")
        .arg(&urepo)
        .args(["save", "-n", "u"])
        .arg(&usrc));
    assert_eq!(out.status.code(), Some(3), "{}", text(out.stderr));
    let err = text(out.stderr);
    assert!(
        err.contains("secret") && err.contains("ermission denied"),
        "{err}"
    );
    let ls = text(ok(git(&urepo).args(["ls-tree", "-r", "--name-only", "u"])));
    assert!(ls.contains("ok.txt") && !ls.contains("secret"), "{ls}");

    // Full disk: a 6 MiB tmpfs repository, then a 20 MB incompressible file.
    let small = base.join("small");
    std::fs::create_dir(&small).unwrap();
    ok(std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&small));
    let frepo = small.join("repo");
    init(&frepo, &[]);
    let fgood = save(&frepo, "f", &src)["commit"]
        .as_str()
        .unwrap()
        .to_string();
    let bigsrc = base.join("bigsrc");
    std::fs::create_dir(&bigsrc).unwrap();
    std::fs::write(bigsrc.join("random.bin"), random_bytes(20 << 20, 9)).unwrap();
    let out = run(backup(&frepo).args(["save", "-n", "f"]).arg(&bigsrc));
    let err = text(out.stderr);
    let tip = text(ok(git(&frepo).args(["rev-parse", "f"])));
    let leftovers: Vec<_> = std::fs::read_dir(frepo.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp"))
        .collect();
    let fsck = run(git(&frepo).args(["fsck", "--strict", "--no-dangling"]));
    ok(std::process::Command::new("umount").arg(&small));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(tip.trim(), fgood);
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    assert!(fsck.status.success(), "{}", text(fsck.stderr));

    // Read-only repository.
    let ro = base.join("ro");
    std::fs::create_dir(&ro).unwrap();
    ok(std::process::Command::new("mount")
        .args(["--bind", "-o", "ro"])
        .arg(&repo)
        .arg(&ro));
    let out = run(backup(&ro).args(["save", "-n", "s"]).arg(&src));
    ok(std::process::Command::new("umount").arg(&ro));
    assert_eq!(out.status.code(), Some(1));
    let err = text(out.stderr);
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // The first save is still intact.
    assert!(text(ok(git(&repo).args(["rev-list", "s"]))).contains(&good));
    git_fsck(&repo);
}

/// A backup of a tree holding git checkouts (`.git` directories), hostile
/// `.gitmodules` and oversized `.gitattributes` still passes
/// `git fsck --strict`, and the real bup restores the real names.
#[test]
fn git_metadata_names_keep_git_fsck_clean_and_restore_by_name() {
    let (_td, base) = tempdir();
    let src = base.join("home");
    for f in [
        "proj/.git/HEAD",
        "proj/.git/config",
        "proj/src/main.rs",
        "other/.GIT",
        "other/.git.",
        "other/git~1",
        "other/.gitignore",
    ] {
        let p = src.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("{f}\n")).unwrap();
    }
    std::fs::write(
        src.join("proj/.gitmodules"),
        "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=evil\n",
    )
    .unwrap();
    std::fs::write(
        src.join("proj/.gitattributes"),
        format!("*.c {}\n", "a".repeat(5000)),
    )
    .unwrap();
    std::os::unix::fs::symlink(".gitmodules", src.join("other/.gitmodules")).unwrap();
    let repo = base.join("repo");
    init(&repo, &[]);
    save(&repo, "home", &src);
    git_fsck(&repo);
    bup_fsck(&repo);
    let out = base.join("out");
    ok(bup(&repo)
        .args(["restore", "-q", "-C"])
        .arg(&out)
        .arg(format!("home/latest{}/", src.display())));
    let (mut want, mut got) = (snapshot(&src, false), snapshot(&out, false));
    want.remove(Path::new(""));
    got.remove(Path::new(""));
    let d = diff(&want, &got);
    assert!(d.is_empty(), "{}", d.join("\n"));
    let ls = text(ok(bup(&repo)
        .args(["ls", "-a"])
        .arg(format!("home/latest{}/proj", src.display()))));
    assert!(ls.lines().any(|l| l == ".git"), "{ls}");
}

/// `backup index` rules (-x, --exclude, --exclude-from, --exclude-rx) are
/// recorded and applied by the next save of the same path.
#[test]
fn index_rules_are_remembered_by_save() {
    let (_td, base) = tempdir();
    let src = base.join("srv");
    for f in [
        "keep.txt",
        "cache/big.tmp",
        "cache/x",
        "logs/a.log",
        "logs/keep.txt",
        "skip-me/y",
        "sub/z.tmp",
    ] {
        let p = src.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, f.as_bytes()).unwrap();
    }
    // Another filesystem mounted inside the tree.
    let mnt = src.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    ok(std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt));
    std::fs::write(mnt.join("other-fs.txt"), b"x").unwrap();
    let list = base.join("excludes");
    std::fs::write(
        &list,
        format!("# comment\n{}\n", src.join("skip-me").display()),
    )
    .unwrap();
    let repo = base.join("repo");
    init(&repo, &[]);
    let out = run(backup(&repo)
        .args(["index", "-x", "--exclude"])
        .arg(src.join("cache"))
        .arg("--exclude-from")
        .arg(&list)
        .args(["--exclude-rx", r"\.tmp$", "--exclude-rx", "/logs/$"])
        .arg(&src));
    save(&repo, "srv", &src);
    ok(std::process::Command::new("umount").arg(&mnt));
    assert!(out.status.success(), "{}", text(out.stderr));
    let ls = text(ok(git(&repo).args(["ls-tree", "-r", "--name-only", "srv"])));
    let rel = |p: &str| format!("{}/{p}", src.strip_prefix("/").unwrap().display());
    assert!(ls.contains(&rel("keep.txt")), "{ls}");
    for gone in [
        "cache/x",
        "skip-me/y",
        "sub/z.tmp",
        "logs/keep.txt",
        "mnt/other-fs.txt",
    ] {
        assert!(!ls.contains(&rel(gone)), "{gone} should be excluded:\n{ls}");
    }
}

/// Reading files between saves (a restore check, a virus scan, `diff -r`)
/// moves their atime but is not a change: the next save keeps their
/// recorded metadata, so the directory's `.bupm`, and its tree, stay the same.
#[test]
fn reading_files_between_saves_rewrites_nothing() {
    let (_td, base) = tempdir();
    let sub = base.join("src").join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(sub.join("b.txt"), random_bytes(3 << 20, 9)).unwrap();
    // Settle the directory's own atime before the first save lists it, and
    // let the index's "changed within 2 s" window pass.
    std::fs::read_dir(&sub).unwrap().for_each(drop);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let repo = base.join("repo");
    init(&repo, &[]);
    save(&repo, "r", &base.join("src"));

    let atime = |p: &Path| {
        std::os::unix::fs::MetadataExt::atime_nsec(&std::fs::metadata(p).unwrap())
            + 1_000_000_000 * std::os::unix::fs::MetadataExt::atime(&std::fs::metadata(p).unwrap())
    };
    let before = atime(&sub.join("a.txt"));
    std::fs::read(sub.join("a.txt")).unwrap();
    std::fs::read(sub.join("b.txt")).unwrap();
    assert_ne!(
        atime(&sub.join("a.txt")),
        before,
        "this filesystem does not update atime on read (noatime?): the test cannot show anything"
    );
    let second = save(&repo, "r", &base.join("src"));
    assert_eq!(second["bytes_read"], 0, "{second}");

    let rel = sub.strip_prefix("/").unwrap().display().to_string();
    let tree = |rev: &str| text(ok(git(&repo).args(["rev-parse", &format!("{rev}:{rel}")])));
    assert_eq!(
        tree("r"),
        tree("r~1"),
        "reading the files changed the stored directory"
    );
}
