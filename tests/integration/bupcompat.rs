//! Our `--chunker bup` repositories cut files exactly as the real bup does
//! (issue 2, acceptance 3).

use crate::util::*;
use std::path::Path;

/// `git ls-tree -r -t` of a save, keeping what must be identical between
/// bup and us: every blob except `.bupm` files, and every chunk tree
/// (`*.bup` and the trees inside it). Directory trees differ only because
/// their `.bupm` carries metadata such as atimes.
fn content_listing(repo: &Path, rev: &str) -> Vec<String> {
    let all = text(ok(git(repo).args(["ls-tree", "-r", "-t", rev])));
    all.lines()
        .filter(|l| {
            let (head, path) = l.split_once('\t').unwrap();
            let is_tree = head.contains(" tree ");
            let in_chunk_tree = path.split('/').any(|c| c.ends_with(".bup"));
            let is_bupm = path.split('/').any(|c| c == ".bupm");
            !is_bupm && (!is_tree || in_chunk_tree)
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn bup_chunker_gives_the_same_ids_as_real_bup_save() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    make_fixture(&src);
    // Inputs that exercise the splitter: > 8 MiB (read-block boundary),
    // long runs without a split (blind 32 KiB cuts), and plain text.
    std::fs::write(src.join("lcg20m"), lcg_bytes(20_000_000, 1)).unwrap();
    std::fs::write(src.join("zeros"), vec![0u8; 10_000_000]).unwrap();
    let mut quirk = lcg_bytes(100_000, 1);
    for _ in 0..725_937 {
        quirk.extend_from_slice(&[
            0xa5, 0x48, 0x71, 0x07, 0xdd, 0x97, 0xfa, 0x25, 0xa9, 0x39, 0x08, 0x40, 0xaf,
        ]);
    }
    quirk.extend_from_slice(&lcg_bytes(100_000, 1));
    std::fs::write(src.join("vquirk"), quirk).unwrap();

    let ours = base.join("ours");
    ok(backup(&ours).args(["init", "--chunker", "bup"]));
    ok(backup(&ours).args(["save", "-n", "t"]).arg(&src));

    let theirs = base.join("theirs");
    ok(bup(&theirs).arg("init"));
    ok(bup(&theirs).arg("index").arg(&src));
    ok(bup(&theirs).args(["save", "-n", "t"]).arg(&src));

    let a = content_listing(&ours, "t");
    let b = content_listing(&theirs, "t");
    assert!(a.len() > 100, "too few entries compared: {}", a.len());
    assert!(
        a.iter().any(|l| l.contains("lcg20m.bup/")),
        "lcg20m should be chunked"
    );
    let only_ours: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
    let only_bups: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
    assert!(
        only_ours.is_empty() && only_bups.is_empty(),
        "listings differ\nonly ours: {only_ours:#?}\nonly bup's: {only_bups:#?}"
    );
}

/// `--strip`, `--strip-path` and `--graft` lay the tree out as bup does
/// (same paths, same empty-record `.bupm` for graft prefixes), and the
/// commit text (identity, date, timezone, message) is byte-identical.
#[test]
fn tree_layout_options_and_commit_text_match_real_bup() {
    let (_td, base) = tempdir();
    let src = base.join("src");
    std::fs::create_dir(&src).unwrap();
    for f in ["a.txt", "d/b.txt", "d/e/c.txt", "x.bup"] {
        let p = src.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, f.as_bytes()).unwrap();
    }
    let s = src.to_str().unwrap().to_string();
    let b = base.to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("plain", vec![]),
        ("strip", vec!["--strip".into()]),
        ("strippath", vec!["--strip-path".into(), b.clone()]),
        ("graft", vec!["--graft".into(), format!("{s}=/x/y")]),
        ("graftroot", vec!["--graft".into(), format!("{s}=/")]),
    ];
    for (name, opts) in &cases {
        // A fresh bup repository per case: bup 0.33.7 records an empty tree
        // for an *incremental* `save --strip` of unchanged paths (its bug).
        let ours = base.join(format!("ours-{name}"));
        ok(backup(&ours).args(["init", "--chunker", "bup"]));
        let theirs = base.join(format!("theirs-{name}"));
        ok(bup(&theirs).arg("init"));
        ok(bup(&theirs).arg("index").arg(&src));
        let zones: &[&str] = if *name == "plain" {
            &["UTC", "America/New_York", "Asia/Kolkata"]
        } else {
            &["UTC"]
        };
        for tz in zones {
            let branch = format!("{name}-{}", tz.replace('/', "-"));
            ok(backup(&ours)
                .env("TZ", tz)
                .args(["save", "-n", &branch, "--date", "1400000000"])
                .args(opts)
                .arg(&src));
            ok(bup(&theirs)
                .env("TZ", tz)
                .args(["save", "-n", &branch, "--date", "1400000000"])
                .args(opts)
                .arg(&src));
            let names = |repo: &Path| {
                text(ok(git(repo).args([
                    "ls-tree",
                    "-r",
                    "-t",
                    "--name-only",
                    &branch,
                ])))
            };
            assert_eq!(
                names(&ours),
                names(&theirs),
                "{branch}: tree layout differs"
            );
            // Commit text without the tree line (trees differ by .bupm atimes).
            let body = |repo: &Path| {
                let c = text(ok(git(repo).args(["cat-file", "commit", &branch])));
                c.lines()
                    .filter(|l| !l.starts_with("tree "))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(body(&ours), body(&theirs), "{branch}: commit text differs");
        }
    }
    // A file given as a path keeps its absolute place under --strip and
    // --graft, as bup keeps it.
    let file = src.join("a.txt");
    let f = file.to_str().unwrap().to_string();
    for (name, opts) in [
        ("fstrip", vec!["--strip".to_string()]),
        ("fgraft", vec!["--graft".into(), format!("{f}=/x/renamed")]),
    ] {
        let ours = base.join(format!("ours-{name}"));
        ok(backup(&ours).args(["init", "--chunker", "bup"]));
        let theirs = base.join(format!("theirs-{name}"));
        ok(bup(&theirs).arg("init"));
        ok(bup(&theirs).arg("index").arg(&file));
        ok(backup(&ours)
            .args(["save", "-n", name])
            .args(&opts)
            .arg(&file));
        ok(bup(&theirs)
            .args(["save", "-n", name])
            .args(&opts)
            .arg(&file));
        let names = |repo: &Path| {
            text(ok(git(repo).args([
                "ls-tree",
                "-r",
                "-t",
                "--name-only",
                name,
            ])))
        };
        assert_eq!(names(&ours), names(&theirs), "{name}: tree layout differs");
    }
    // Graft prefixes carry the empty metadata record, as bup writes them.
    for repo in [base.join("ours-graft"), base.join("theirs-graft")] {
        let ls = text(ok(git(&repo).args(["ls-tree", "-r", "graft-UTC"])));
        for p in ["\t.bupm", "\tx/.bupm"] {
            let line = ls.lines().find(|l| l.ends_with(p)).unwrap();
            assert!(
                line.contains("f76dd238ade08917e6712764a16a22005a50573d"),
                "{line}"
            );
        }
    }
}
