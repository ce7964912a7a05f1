//! kill -9 during a save, at many points (issue 2, acceptance 6).

use crate::util::*;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

/// The repository is valid for git and bup, and every save listed in
/// `saves` (commit id → `git ls-tree -r` output) is intact.
fn check(repo: &Path, saves: &[(String, String)], label: &str) {
    let out = run(git(repo).args(["fsck", "--strict", "--no-dangling"]));
    assert!(
        out.status.success() && !text(out.stderr.clone()).contains("error"),
        "{label}: git fsck failed:\n{}",
        text(out.stderr)
    );
    let out = run(bup(repo).arg("fsck"));
    assert!(
        out.status.success(),
        "{label}: bup fsck failed:\n{}",
        text(out.stderr)
    );
    let history = text(ok(git(repo).args(["rev-list", "crash"])));
    for (commit, listing) in saves {
        assert!(
            history.contains(commit.as_str()),
            "{label}: save {commit} is no longer on the branch"
        );
        let now = text(ok(git(repo).args(["ls-tree", "-r", commit])));
        assert_eq!(&now, listing, "{label}: save {commit} changed");
    }
}

#[test]
fn kill_9_anywhere_in_a_save_leaves_a_valid_repository() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    let repo = base.join("repo");
    ok(backup(&repo).arg("init"));
    // Small packs, so one save finishes several and every step repeats.
    ok(git(&repo).args(["config", "pack.packSizeLimit", "1048576"]));
    let first = text(ok(backup(&repo)
        .args(["save", "--json", "-n", "crash"])
        .arg(&src)));
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let first = first["commit"].as_str().unwrap().to_string();
    let mut saves = vec![(
        first.clone(),
        text(ok(git(&repo).args(["ls-tree", "-r", &first]))),
    )];
    check(&repo, &saves, "after the first save");

    let mut points: Vec<String> = [
        "pack-append:1",
        "pack-append:2",
        "pack-append:10",
        "pack-append:100",
        "pack-append:200",
        "pack-before-trailer:1",
        "pack-before-trailer:3",
        "pack-after-fsync:1",
        "pack-after-fsync:2",
        "pack-after-idx-write:1",
        "pack-after-idx-write:4",
        "pack-after-pack-rename:1",
        "pack-after-pack-rename:3",
        "pack-after-idx-rename:1",
        "pack-after-idx-rename:5",
        "save-before-open:1",
        "save-before-open:3",
        "ref-before-update",
        "ref-after-update",
        "index-before-rename",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Plus kills at arbitrary moments.
    points.extend(
        [
            "after:5ms",
            "after:30ms",
            "after:80ms",
            "after:150ms",
            "after:300ms",
        ]
        .map(String::from),
    );
    assert!(points.len() >= 20);

    for (round, point) in points.iter().enumerate() {
        // New data for every round, so every save has objects to write.
        std::fs::write(
            src.join("round.bin"),
            random_bytes(6 << 20, round as u64 + 100),
        )
        .unwrap();
        std::fs::write(src.join("note.txt"), format!("round {round}\n")).unwrap();
        let mut cmd = Command::new(backup_bin());
        cmd.arg("-d")
            .arg(&repo)
            .args(["save", "--json", "-n", "crash"])
            .arg(&src);
        let status = if let Some(delay) = point.strip_prefix("after:") {
            let ms: u64 = delay.trim_end_matches("ms").parse().unwrap();
            let mut child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(ms));
            let _ = child.kill();
            child.wait().unwrap()
        } else {
            let out = run(cmd.env("BACKUP_FAILPOINT", point));
            assert_eq!(
                out.status.signal(),
                Some(9),
                "{point}: the save was expected to die at this point: {}",
                text(out.stderr)
            );
            out.status
        };
        check(&repo, &saves, point);
        // If the ref moved before the kill, that save is complete too.
        let tip = text(ok(git(&repo).args(["rev-parse", "crash"])))
            .trim()
            .to_string();
        if !saves.iter().any(|(c, _)| *c == tip) {
            assert!(
                status.success()
                    || *point == "ref-after-update"
                    || *point == "index-before-rename"
                    || point.starts_with("after:"),
                "{point}: the ref moved although the save died before the ref update"
            );
            saves.push((
                tip.clone(),
                text(ok(git(&repo).args(["ls-tree", "-r", &tip]))),
            ));
        }
    }

    // The next save works, and what it stored restores (by the real bup).
    std::fs::write(src.join("note.txt"), b"final\n").unwrap();
    let out = text(ok(backup(&repo)
        .args(["save", "--json", "-n", "crash"])
        .arg(&src)));
    let last: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(last["partial"], false);
    check(&repo, &saves, "after the final save");
    let dest = base.join("restored");
    ok(bup(&repo)
        .args(["restore", "-q", "-C"])
        .arg(&dest)
        .arg(format!("crash/latest{}/", src.display())));
    for f in ["round.bin", "note.txt", "big.bin", "hello.txt", "sub/hard2"] {
        assert_eq!(
            std::fs::read(dest.join(f)).unwrap(),
            std::fs::read(src.join(f)).unwrap(),
            "{f}"
        );
    }
    // No temp files survive a successful save.
    let tmp: Vec<_> = std::fs::read_dir(repo.join("objects/pack"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("pack-"))
        .collect();
    assert!(
        tmp.is_empty(),
        "left in objects/pack after recovery: {tmp:?}"
    );
}
