//! Replays every committed fuzz input (`fuzz/corpus/<target>/seed-*` and
//! `fuzz/artifacts/<target>/*`) through the same harness the cargo-fuzz
//! targets run (`fuzz/src/lib.rs`), so CI checks them on a stable compiler:
//! no parser may panic, and the harness's properties (e.g. the `.bupm`
//! round trip) must hold. Also names each bug the fuzzers found, with the
//! input that showed it.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Entries directly under `dir` that pass `keep`, sorted (none if `dir`
/// does not exist).
fn entries_in(dir: &Path, keep: fn(&Path) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).filter(|p| keep(p)).collect();
    v.sort();
    v
}

/// Files directly under `dir`.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    entries_in(dir, Path::is_file)
}

/// Run every input under `fuzz/<kind>/<target>/` through its target;
/// returns how many ran, and fails naming every input that panicked.
fn replay(kind: &str, only_seeds: bool) -> usize {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path().join("index");
    let mut failed = Vec::new();
    let mut ran = 0;
    for dir in files_dirs(&fuzz_dir().join(kind)) {
        let target = dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            harness::TARGETS.contains(&target.as_str()),
            "fuzz/{kind}/{target}: no such fuzz target"
        );
        for file in files_in(&dir) {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            if only_seeds && !name.starts_with("seed-") {
                continue;
            }
            let data = std::fs::read(&file).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                harness::run(&target, &data, &scratch);
            }));
            ran += 1;
            if outcome.is_err() {
                failed.push(format!("{kind}/{target}/{name}"));
            }
        }
    }
    assert!(failed.is_empty(), "inputs that fail: {failed:?}");
    ran
}

/// Directories directly under `dir`.
fn files_dirs(dir: &Path) -> Vec<PathBuf> {
    entries_in(dir, Path::is_dir)
}

/// Every target has committed seeds, and none of them fails.
#[test]
fn seed_corpus_replays_cleanly() {
    for t in harness::TARGETS {
        let seeds = files_in(&fuzz_dir().join("corpus").join(t))
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("seed-")
            })
            .count();
        assert!(seeds > 0, "fuzz/corpus/{t} has no seed-* files");
    }
    // Only the committed seeds: a local fuzzing run leaves thousands of
    // other files in the same directories.
    assert!(replay("corpus", true) >= harness::TARGETS.len());
}

/// Every crash, timeout or OOM input a fuzzer found now passes.
#[test]
fn fuzz_artifacts_replay_cleanly() {
    replay("artifacts", false);
}

// One test per bug a fuzzer found, on its minimised input (also committed
// under fuzz/artifacts/ and replayed above), checking the outcome, not just
// the absence of a panic.

/// `commit`: `+1İ0` is five bytes, but slicing the time zone as a `str` at
/// byte 3 fell inside `İ` and panicked. A time zone that is not `±hhmm`
/// digits makes the signature malformed.
#[test]
fn commit_time_zone_with_a_multibyte_character_is_rejected() {
    use backup::object::commit::{Commit, ParseCommitError};
    let input =
        std::fs::read(fuzz_dir().join("artifacts/commit/crash-tz-not-char-boundary")).unwrap();
    assert_eq!(input, b"author <>5 +1\xc4\xb00\n\n");
    assert_eq!(Commit::parse(&input), Err(ParseCommitError::BadSignature));
}

/// `bupm`: a record with an empty symlink target (tag 3) decoded to
/// `Some(vec![])`, but `encode` (like bup) writes no tag 3 for an empty
/// target, so the re-encoded record decoded to `None`: the round trip
/// changed the value. The same held for an empty hard-link target (tag 8)
/// and zero Linux attr flags (tag 6; the first input the fuzzer found).
/// They now decode as absent.
#[test]
fn bupm_empty_targets_and_zero_flags_decode_as_absent() {
    use backup::meta::decode_record;
    let input =
        std::fs::read(fuzz_dir().join("artifacts/bupm/crash-empty-symlink-target-round-trip"))
            .unwrap();
    // Common v3 record (tag 10, 17 bytes), then tag 3 with an empty bvec, then the end tag.
    assert_eq!(&input[..2], [0x0a, 0x11]);
    assert_eq!(&input[19..], [0x03, 0x00, 0x00]);
    let mut rest = &input[..];
    let meta = decode_record(&mut rest).unwrap().unwrap();
    assert!(rest.is_empty());
    assert_eq!(meta.symlink_target, None);

    // The same common part with tag 8 (empty) and tag 6 (a one-byte bvec
    // holding vuint 0), each alone.
    for field in [&[0x08, 0x00][..], &[0x06, 0x01, 0x00][..]] {
        let mut bytes = input[..19].to_vec();
        bytes.extend_from_slice(field);
        bytes.push(0);
        let meta = decode_record(&mut &bytes[..]).unwrap().unwrap();
        assert_eq!((&meta.hardlink_target, meta.linux_attr), (&None, None));
        let mut again = Vec::new();
        meta.encode(&mut again);
        assert_eq!(decode_record(&mut &again[..]).unwrap(), Some(meta));
    }
}

/// `fsindex`: a file whose roots JSON (here `[`, newlines, `]`: 19 bytes)
/// reaches into the 8-byte entry count before the checksum opened, and
/// `cursor()` then sliced its entries with start > end and panicked. The
/// input is the body; the target appends a valid BLAKE3 trailer, so the
/// damage is behind an intact checksum. It is now reported as corrupt.
#[test]
fn fsindex_roots_overlapping_the_entry_count_are_corrupt() {
    use backup::fsindex::{Error, IndexReader};
    let body = std::fs::read(fuzz_dir().join("artifacts/fsindex/crash-roots-overlap-entry-count"))
        .unwrap();
    assert_eq!(&body[..12], b"BKIX\x01\0\0\0\x13\0\0\0");
    assert_eq!(body.len(), 12 + 19);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("backup.index");
    let mut file = body.clone();
    file.extend_from_slice(blake3::hash(&body).as_bytes());
    std::fs::write(&path, &file).unwrap();
    match IndexReader::open(&path) {
        Err(Error::Corrupt { why, .. }) => assert_eq!(why, "roots overlap the entry count"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a damaged index opened"),
    }
}

/// A pack (bytes, idx) whose entries are REF_DELTAs with 1 MiB delta
/// payloads, entry `i` naming `ids[bases[i]]` as its base.
fn ref_delta_pack(ids: &[backup::oid::ObjectId], bases: &[usize]) -> backup::pack::Pack {
    use backup::oid::ObjectKind;
    use backup::pack::entry::encode_entry_header;
    use backup::pack::{Compression, Idx, Pack, encode_object, parse_entry_header, write_idx_v2};
    use sha1::{Digest, Sha1};
    let payload = vec![0u8; 1 << 20];
    // The zlib stream of the payload, from our own entry encoder.
    let encoded = encode_object(ObjectKind::Blob, &payload, Compression { level: 6 });
    let (_, _, hlen) = parse_entry_header(&encoded.data).unwrap();
    let stream = &encoded.data[hlen..];
    let mut pack = b"PACK\0\0\0\x02".to_vec();
    pack.extend_from_slice(&(bases.len() as u32).to_be_bytes());
    let mut entries = Vec::new();
    for (i, &b) in bases.iter().enumerate() {
        entries.push((ids[i], 0, pack.len() as u64));
        encode_entry_header(7, payload.len() as u64, &mut pack);
        pack.extend_from_slice(ids[b].as_bytes());
        pack.extend_from_slice(stream);
    }
    let trailer: [u8; 20] = Sha1::digest(&pack).into();
    pack.extend_from_slice(&trailer);
    let idx = Idx::from_bytes(write_idx_v2(&mut entries, &trailer)).unwrap();
    Pack::from_bytes(pack, idx).unwrap()
}

/// `pack_structured`: REF_DELTA entries whose bases lead back to
/// themselves. The reader followed the loop until MAX_DELTA_DEPTH (5000),
/// inflating and keeping every delta on it again on each pass. In the
/// fuzzer's input an entry names itself, with a 527,104-byte delta: one
/// read would hold 5001 copies (2.6 GB) and went over the 2 GB limit. The
/// 1 MiB deltas here would need 5 GB, from a pack of about 2 KiB. The
/// reader now stops the first time the chain comes back to an entry, with
/// its own error (it used to end in `ChainTooDeep`).
/// libFuzzer's inputs are in fuzz/artifacts/pack_structured/oom-*.
#[test]
fn ref_delta_loops_stop_at_the_first_repeat_with_their_own_error() {
    use backup::oid::ObjectId;
    use backup::pack::read::{Error, Problem};
    let ids = [ObjectId([0xa1; 20]), ObjectId([0xb2; 20])];
    for bases in [&[0][..], &[1, 0][..]] {
        let pack = ref_delta_pack(&ids, bases);
        for id in &ids[..bases.len()] {
            // The chain is back at the entry it started from.
            let err = pack.read(id, &|_| None).unwrap_err();
            let at = pack.idx().lookup(id).unwrap();
            assert!(
                matches!(err, Error::Corrupt { offset, problem: Problem::DeltaLoop(back), .. } if offset == at && back == at),
                "{err}"
            );
        }
    }
}
