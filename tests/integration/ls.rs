//! `backup ls`, `cat-file` and `join` against real `bup` (issue 3).

use crate::util::*;
use std::path::Path;

/// Run `bup ls ARGS` and `backup ls ARGS` on the same repository under the
/// same time zone; both must print the same bytes.
fn same_ls(repo: &Path, tz: &str, args: &[&str]) {
    let theirs = ok(bup(repo).env("TZ", tz).arg("ls").args(args));
    let ours = ok(backup(repo).env("TZ", tz).arg("ls").args(args));
    if theirs != ours {
        let (t, o) = (text(theirs), text(ours));
        let only_t: Vec<&str> = t.lines().filter(|l| !o.lines().any(|x| x == *l)).collect();
        let only_o: Vec<&str> = o.lines().filter(|l| !t.lines().any(|x| x == *l)).collect();
        panic!(
            "ls {args:?} (TZ={tz}) differs\n--- only bup:\n{}\n--- only backup:\n{}\n--- bup:\n{t}",
            only_t.join("\n"),
            only_o.join("\n")
        );
    }
}

/// Every directory of a save, as repository paths.
fn dirs_of(repo: &Path, save: &str, src: &Path) -> Vec<String> {
    let mut v = vec![format!("{save}{}", src.display())];
    let listing = text(ok(bup(repo).args(["ls", "-la"]).arg(&v[0])));
    for l in listing.lines() {
        if l.starts_with('d') {
            let name = l.rsplit(' ').next().unwrap();
            if name != "." && name != ".." {
                v.push(format!("{}/{name}", v[0]));
            }
        }
    }
    v
}

/// Acceptance 2 (ls part): on a repository written by the real `bup save`,
/// `backup ls -l` (and -a, -s, -n, --commit-hash) prints what `bup ls` does.
#[test]
fn ls_matches_bup_on_a_bup_written_repository() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let repo = base.join("bup");
    ok(bup(&repo).arg("init"));
    ok(bup(&repo).arg("index").arg(&src));
    ok(bup(&repo).args(["save", "-n", "host"]).arg(&src));
    for tz in ["UTC", "America/New_York"] {
        for args in [
            &[][..],
            &["-l"],
            &["-la"],
            &["-A"],
            &["-s"],
            &["--commit-hash"],
        ] {
            same_ls(&repo, tz, args);
            let mut a = args.to_vec();
            a.push("host");
            same_ls(&repo, tz, &a);
        }
        for dir in dirs_of(&repo, "host/latest", &src) {
            if bup_misses_bupm(&repo, &dir) {
                // bup shows `?/?` and the epoch; we show the recorded owners.
                let ours = text(ok(backup(&repo).env("TZ", tz).args(["ls", "-l", &dir])));
                let line = ours.lines().find(|l| l.ends_with(" hello.txt")).unwrap();
                assert!(
                    line.contains(" root/root ") && !line.contains(" 1970-01-01 "),
                    "{line}"
                );
                same_ls(&repo, tz, &["-A", &dir]);
                continue;
            }
            // `-la` also shows `..`, whose metadata bup may miss the same way.
            let parent = &dir[..dir.rfind('/').unwrap()];
            let dotdot_ok = !bup_misses_bupm(&repo, parent);
            for args in [&["-l"][..], &["-la"], &["-ls"], &["-ln"], &["-A"]] {
                if args[0] == "-la" && !dotdot_ok {
                    continue;
                }
                let mut a = args.to_vec();
                a.push(&dir);
                same_ls(&repo, tz, &a);
            }
        }
        // Single entries of every kind (their metadata comes from the
        // directory's `.bupm`, which bup may miss; see bup_misses_bupm).
        let dir = format!("host/latest{}", src.display());
        let bup_wrong = bup_misses_bupm(&repo, &dir);
        for f in [
            "hello.txt",
            "big.bin",
            "link",
            "fifo",
            "chardev",
            "sock",
            "run.sh",
            "x.bup",
            ".bupm",
        ] {
            let p = format!("host/latest{}/{f}", src.display());
            if bup_wrong {
                let ours = text(ok(backup(&repo).env("TZ", tz).args(["ls", "-l", &p])));
                assert!(
                    ours.contains(" root/") && !ours.contains("1970-01-01"),
                    "{ours}"
                );
            } else {
                same_ls(&repo, tz, &["-l", &p]);
            }
        }
    }
}

/// The same on a repository we wrote (which bup reads).
#[test]
fn ls_matches_bup_on_our_repository() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let repo = base.join("ours");
    ok(backup(&repo).arg("init"));
    ok(backup(&repo).args(["save", "-n", "host"]).arg(&src));
    for args in [&[][..], &["-l"], &["-la"], &["-s"]] {
        let mut a = args.to_vec();
        a.push("host");
        same_ls(&repo, "UTC", &a);
    }
    for dir in dirs_of(&repo, "host/latest", &src) {
        same_ls(&repo, "Asia/Kolkata", &["-la", &dir]);
        same_ls(&repo, "UTC", &["-ls", &dir]);
    }
}

/// Acceptance 3: three saves, two in the same second, named as bup names
/// them (`-N` suffixes, newest highest), in several time zones.
#[test]
fn save_names_match_bup_with_same_second_saves() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"1").unwrap();
    let ours = base.join("ours");
    ok(backup(&ours).arg("init"));
    let theirs = base.join("theirs");
    ok(bup(&theirs).arg("init"));
    ok(bup(&theirs).arg("index").arg(&src));
    for date in ["1400000000", "1400003600", "1400003600", "1400003600.5"] {
        ok(backup(&ours)
            .args(["save", "-n", "s", "--date", date])
            .arg(&src));
        ok(bup(&theirs)
            .args(["save", "-n", "s", "--date", date])
            .arg(&src));
    }
    for tz in ["UTC", "America/New_York", "Asia/Kolkata"] {
        let a = text(ok(bup(&theirs).env("TZ", tz).args(["ls", "s"])));
        let b = text(ok(backup(&ours).env("TZ", tz).args(["ls", "s"])));
        assert_eq!(a, b, "TZ={tz}");
        assert_eq!(a.lines().count(), 5, "4 saves and latest:\n{a}");
        assert!(a.contains("-2\n") && a.contains("-0\n"), "{a}");
        // Our names on bup's repository too, and bup's on ours.
        same_ls(&theirs, tz, &["-l", "s"]);
        same_ls(&ours, tz, &["-l", "s"]);
    }
}

/// Trees without `.bupm` (made by plain git): defaults, as bup shows them.
#[test]
fn plain_git_trees_list_and_read_with_defaults() {
    let (_td, base) = tempdir();
    let repo = base.join("plain");
    ok(std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&repo));
    let work = base.join("work");
    std::fs::create_dir_all(work.join("d")).unwrap();
    std::fs::write(work.join("a.txt"), b"plain git\n").unwrap();
    std::fs::write(work.join("d/b.txt"), b"b\n").unwrap();
    std::os::unix::fs::symlink("a.txt", work.join("l")).unwrap();
    let env = |c: &mut std::process::Command| {
        c.env("GIT_DIR", &repo)
            .env("GIT_WORK_TREE", &work)
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@b")
            .env("GIT_COMMITTER_NAME", "A")
            .env("GIT_COMMITTER_EMAIL", "a@b")
            .env("GIT_AUTHOR_DATE", "1500000000 +0000")
            .env("GIT_COMMITTER_DATE", "1500000000 +0000");
    };
    let mut add = std::process::Command::new("git");
    env(&mut add);
    ok(add.args(["add", "-A"]));
    let mut commit = std::process::Command::new("git");
    env(&mut commit);
    ok(commit.args(["commit", "-q", "-m", "m"]));
    let mut branch = std::process::Command::new("git");
    env(&mut branch);
    ok(branch.args(["branch", "-f", "plain", "HEAD"]));
    for p in ["plain", "plain/latest", "plain/latest/d"] {
        same_ls(&repo, "UTC", &["-l", p]);
        same_ls(&repo, "UTC", &["-la", p]);
    }
    let got = ok(backup(&repo).args(["cat-file", "plain/latest/a.txt"]));
    assert_eq!(got, b"plain git\n");
}

/// `cat-file` gives the exact bytes of small and chunked files, on bup's
/// repositories and ours; `join` gives back what `split` stored.
#[test]
fn cat_file_and_join_give_back_the_bytes() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let theirs = base.join("theirs");
    ok(bup(&theirs).arg("init"));
    ok(bup(&theirs).arg("index").arg(&src));
    ok(bup(&theirs).args(["save", "-n", "t"]).arg(&src));
    let ours = base.join("ours");
    ok(backup(&ours).arg("init"));
    ok(backup(&ours).args(["save", "-n", "t"]).arg(&src));
    for repo in [&theirs, &ours] {
        for f in [
            "hello.txt",
            "big.bin",
            "medium.txt",
            "empty",
            "x.bup",
            ".bupm",
            "sub/hard2",
        ] {
            let got = ok(backup(repo)
                .arg("cat-file")
                .arg(format!("t/latest{}/{f}", src.display())));
            assert!(
                got == std::fs::read(src.join(f)).unwrap(),
                "{f} in {}",
                repo.display()
            );
        }
        for special in ["link", "fifo", "chardev"] {
            let out = run(backup(repo)
                .arg("cat-file")
                .arg(format!("t/latest{}/{special}", src.display())));
            assert_eq!(out.status.code(), Some(1), "{special}");
            assert!(
                text(out.stderr).contains("is not a plain file"),
                "{special}"
            );
        }
        let out = run(backup(repo)
            .arg("cat-file")
            .arg(format!("t/latest{}/sub", src.display())));
        assert_eq!(out.status.code(), Some(1));
        assert!(text(out.stderr).contains("is a directory"));
    }
    // join of split streams, split by bup and by us.
    let data = random_bytes(3_000_000, 5);
    let f = base.join("stream");
    std::fs::write(&f, &data).unwrap();
    ok(bup(&theirs).args(["split", "-n", "st"]).arg(&f));
    ok(backup(&ours).args(["split", "-n", "st"]).arg(&f));
    for repo in [&theirs, &ours] {
        assert!(
            ok(backup(repo).args(["join", "st"])) == data,
            "{}",
            repo.display()
        );
        let save = text(ok(backup(repo).args(["ls", "st"])));
        let first = save.lines().next().unwrap();
        assert!(ok(backup(repo).arg("join").arg(format!("st/{first}"))) == data);
    }
}
