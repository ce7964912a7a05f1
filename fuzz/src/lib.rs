//! The fuzz harness: one function per cargo-fuzz target, each feeding
//! arbitrary bytes to one parser of untrusted input and checking the
//! properties that must hold whatever the bytes are.
//!
//! The same file is compiled into the main crate's integration tests
//! (`tests/integration/fuzzed.rs`, through `#[path]`), which replay every
//! committed corpus and crash input with [`run`], so CI checks them on a
//! stable compiler without libFuzzer. It may therefore use only `backup`
//! and the crates `backup` itself depends on (`sha1`, `blake3`).
//!
//! A panic here is a finding: either the parser panicked, or a property
//! asserted below does not hold.

use backup::fsindex::IndexReader;
use backup::meta::{Metadata, RecordReader, decode_record};
use backup::object::Commit;
use backup::object::commit::format_tz;
use backup::object::tree::{encode_sorted, parse_tree, sort_entries};
use backup::oid::{ObjectId, ObjectKind};
use backup::pack::entry::encode_entry_header;
use backup::pack::{
    Compression, Idx, Pack, apply_delta, encode_object, parse_entry_header, write_idx_v2,
};
use sha1::{Digest, Sha1};
use std::path::Path;

/// Names of the targets, which are also the directory names under
/// `fuzz/corpus/` and `fuzz/artifacts/`.
pub const TARGETS: [&str; 8] = [
    "pack",
    "pack_structured",
    "delta",
    "idx",
    "tree",
    "commit",
    "bupm",
    "fsindex",
];

/// Run target `name` on `data`; `scratch` is a file path the `fsindex`
/// target may overwrite. Returns `false` for an unknown target name.
pub fn run(name: &str, data: &[u8], scratch: &Path) -> bool {
    match name {
        "pack" => pack(data),
        "pack_structured" => pack_structured(data),
        "delta" => delta(data),
        "idx" => idx(data),
        "tree" => tree(data),
        "commit" => commit(data),
        "bupm" => bupm(data),
        "fsindex" => fsindex(data, scratch),
        _ => return false,
    }
    true
}

/// Most entry offsets the `pack` target guesses in one input (each is read
/// several times, so this bounds the work per input).
const MAX_GUESSED_ENTRIES: usize = 64;

/// Id the `pack` target gives the `i`-th guessed entry in its first pass:
/// twenty copies of one byte, easy for the fuzzer to write as a REF_DELTA
/// base (`i < 64`, so never `THIN_BASE_BYTE`).
fn synthetic_id(i: usize) -> ObjectId {
    ObjectId([i as u8; 20])
}

/// REF_DELTA bases whose id starts with this byte are "outside the pack":
/// the resolver supplies them (a thin pack).
const THIN_BASE_BYTE: u8 = 0xfe;

/// Whether `b` starts like a zlib stream (deflate method, header checksum).
fn looks_like_zlib(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Length of an OFS_DELTA distance varint at the start of `b`, if complete.
fn ofs_len(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| c & 0x80 == 0).map(|i| i + 1)
}

/// Pack data and delta application: `parse_entry_header` at every offset,
/// then the input as a pack with an idx built by `write_idx_v2` over the
/// offsets that look like entries, read through `read_at`, `read_verified`
/// and `copy_to`.
///
/// Properties: a parsed header is in bounds with a valid type; an idx from
/// `write_idx_v2` always parses; with the header count patched to match, the
/// pack opens; a non-delta entry reads the same through `read_at` (whole
/// buffer, libdeflate) and `copy_to` (streaming, flate2), and once its real
/// id is in the idx, `read_verified` returns the same object.
pub fn pack(data: &[u8]) {
    let mut guesses: Vec<(u64, bool)> = Vec::new();
    for start in 0..data.len() {
        let Ok((code, _size, hlen)) = parse_entry_header(&data[start..]) else {
            continue;
        };
        assert!(
            (1..=7).contains(&code) && code != 5 && hlen >= 1 && hlen <= data.len() - start,
            "bad header parse at {start}: code {code}, length {hlen}"
        );
        // Entries live between the 12-byte header and the 20-byte trailer.
        if start < 12 || start + 20 >= data.len() || guesses.len() >= MAX_GUESSED_ENTRIES {
            continue;
        }
        let after = &data[start + hlen..];
        let stream = match code {
            6 => ofs_len(after).and_then(|n| after.get(n..)),
            7 => after.get(20..),
            _ => Some(after),
        };
        if stream.is_some_and(looks_like_zlib) {
            guesses.push((start as u64, code < 5));
        }
    }

    let trailer: [u8; 20] = match data.len().checked_sub(20) {
        Some(at) => data[at..].try_into().unwrap_or([0; 20]),
        None => [0; 20],
    };
    let mut entries: Vec<(ObjectId, u32, u64)> = guesses
        .iter()
        .enumerate()
        .map(|(i, &(off, _))| (synthetic_id(i), 0, off))
        .collect();
    let idx_bytes = write_idx_v2(&mut entries, &trailer);
    let open_idx = || Idx::from_bytes(idx_bytes.clone()).expect("write_idx_v2 output parses");

    // As given: the header is whatever the fuzzer wrote.
    if let Ok(p) = Pack::from_bytes(data.to_vec(), open_idx()) {
        read_all(&p, data, &entries);
    }
    if data.len() < 32 {
        return;
    }
    // With a valid header whose count matches the idx.
    let mut patched = data.to_vec();
    patched[..4].copy_from_slice(b"PACK");
    if !matches!(patched[4..8], [0, 0, 0, 2] | [0, 0, 0, 3]) {
        patched[4..8].copy_from_slice(&2u32.to_be_bytes());
    }
    patched[8..12].copy_from_slice(&(guesses.len() as u32).to_be_bytes());
    let pack = Pack::from_bytes(patched.clone(), open_idx()).expect("patched pack opens");
    let read = read_all(&pack, data, &entries);
    let _ = pack.verify_checksum();
    for off in [0, 11, 12, pack.size() - 20, pack.size(), u64::MAX] {
        let _ = pack.read_at(off, &|_| None);
        let _ = pack.copy_to(off, &mut std::io::sink());
    }

    // Second pass: whole (non-delta) entries that read cleanly get their
    // real id, and must then read back verified and unchanged.
    let mut real: Vec<(ObjectId, u32, u64)> = Vec::new();
    let mut expect: Vec<(ObjectId, ObjectKind, Vec<u8>)> = Vec::new();
    for (i, &(off, whole)) in guesses.iter().enumerate() {
        let id = match read.iter().find(|r| r.0 == off) {
            Some((_, Some((kind, body)))) if whole => {
                let id = ObjectId::hash_object(*kind, body);
                if real.iter().any(|e| e.0 == id) || id.0 == synthetic_id(i).0 {
                    continue;
                }
                expect.push((id, *kind, body.clone()));
                id
            }
            _ => synthetic_id(i),
        };
        if real.iter().any(|e| e.0 == id) {
            continue;
        }
        real.push((id, 0, off));
    }
    if expect.is_empty() {
        return;
    }
    patched[8..12].copy_from_slice(&(real.len() as u32).to_be_bytes());
    let idx = Idx::from_bytes(write_idx_v2(&mut real, &trailer)).expect("idx parses");
    let pack = Pack::from_bytes(patched, idx).expect("patched pack opens");
    for (id, kind, body) in expect {
        match pack.read_verified(&id, &|_| None) {
            Ok(Some((k, b))) => assert!(k == kind && b == body, "{id} reads differently"),
            other => panic!("{id} no longer reads: {other:?}"),
        }
    }
}

/// Read every entry of `pack` listed in `entries` in every way; returns,
/// per offset, the object `read_at` returned (if it succeeded).
#[allow(clippy::type_complexity)]
fn read_all(
    pack: &Pack,
    data: &[u8],
    entries: &[(ObjectId, u32, u64)],
) -> Vec<(u64, Option<(ObjectKind, Vec<u8>)>)> {
    // A thin-pack base: the start of the input, as a blob.
    let head = data[..data.len().min(64)].to_vec();
    let resolver =
        move |id: &ObjectId| (id.0[0] == THIN_BASE_BYTE).then(|| (ObjectKind::Blob, head.clone()));
    let mut out = Vec::new();
    for (id, _, off) in entries {
        let read = pack.read_at(*off, &resolver).ok();
        let _ = pack.read_verified(id, &resolver);
        let mut streamed = Vec::new();
        let copied = pack.copy_to(*off, &mut streamed);
        let whole = parse_entry_header(&data[*off as usize..]).is_ok_and(|h| h.0 < 5);
        if whole {
            match (&read, copied) {
                (Some((kind, body)), Ok(k)) => assert!(
                    k == *kind && streamed == *body,
                    "entry at {off}: copy_to and read_at disagree"
                ),
                (None, Err(_)) => {}
                (r, c) => panic!(
                    "entry at {off}: read_at {} but copy_to {}",
                    if r.is_some() { "succeeds" } else { "fails" },
                    if c.is_ok() { "succeeds" } else { "fails" },
                ),
            }
        }
        out.push((*off, read));
    }
    out
}

/// Read a delta size varint (7-bit groups, low first), for checking results.
fn delta_varint(d: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *d.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// `apply_delta(base, delta)`: the first two bytes (little-endian) give the
/// base length, the base follows, the rest is the delta.
///
/// Property: a result has exactly the size the delta declares.
pub fn delta(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (base, delta) = rest.split_at(n);
    if let Ok(out) = apply_delta(base, delta) {
        let mut pos = 0;
        let declared_base = delta_varint(delta, &mut pos);
        let declared = delta_varint(delta, &mut pos);
        assert_eq!(declared_base, Some(base.len() as u64));
        assert_eq!(declared, Some(out.len() as u64), "result size differs");
    }
}

/// `Idx::from_bytes` on the input as given and with a valid SHA-1 trailer
/// appended (so the structure behind the checksum gets explored), then
/// every accessor over every entry and lookups of ids taken from the input.
///
/// Properties: `iter` yields `len` entries; a found position holds the id
/// looked up; `lookup` agrees with `position` + `offset_at`.
pub fn idx(data: &[u8]) {
    if let Ok(idx) = Idx::from_bytes(data.to_vec()) {
        exercise_idx(&idx, data);
    }
    let mut sealed = data.to_vec();
    let sum: [u8; 20] = Sha1::digest(data).into();
    sealed.extend_from_slice(&sum);
    if let Ok(idx) = Idx::from_bytes(sealed) {
        exercise_idx(&idx, data);
    }
}

fn exercise_idx(idx: &Idx, data: &[u8]) {
    let _ = (
        idx.version(),
        idx.is_empty(),
        idx.pack_checksum(),
        idx.path(),
    );
    let check = |id: &ObjectId| {
        let pos = idx.position(id);
        if let Some(i) = pos {
            assert_eq!(idx.id_at(i), *id, "position {i} holds another id");
            assert_eq!(idx.lookup(id), Some(idx.offset_at(i)));
        } else {
            assert_eq!(idx.lookup(id), None);
        }
        assert_eq!(idx.contains(id), pos.is_some());
    };
    for i in 0..idx.len() {
        let id = idx.id_at(i);
        let _ = (idx.offset_at(i), idx.crc_at(i));
        check(&id);
    }
    assert_eq!(idx.iter().count(), idx.len());
    check(&ObjectId([0; 20]));
    check(&ObjectId([0xff; 20]));
    for w in data.windows(20).step_by(7).take(64) {
        if let Some(id) = ObjectId::from_slice(w) {
            check(&id);
        }
    }
}

/// `parse_tree`, then sorting the entries.
///
/// Property: re-encoding parsed entries yields bytes that parse to the same
/// entries (the bytes may differ: git accepts modes with leading zeros).
pub fn tree(data: &[u8]) {
    let Ok(entries) = parse_tree(data) else {
        return;
    };
    let again = parse_tree(&encode_sorted(&entries)).expect("re-encoded tree parses");
    assert_eq!(again, entries);
    let mut sorted = entries;
    sort_entries(&mut sorted);
}

/// `Commit::parse`.
///
/// Property: re-encoding a parsed commit yields bytes that parse to the same
/// commit, provided its time zones fit `+hhmm` (the parser accepts minutes
/// above 59, so `+9999` means 100h39m, which `+hhmm` cannot write).
pub fn commit(data: &[u8]) {
    let Ok(c) = Commit::parse(data) else {
        return;
    };
    if [c.author.tz_minutes, c.committer.tz_minutes]
        .iter()
        .all(|m| format_tz(*m).len() == 5)
    {
        let again = Commit::parse(&c.encode()).expect("re-encoded commit parses");
        assert_eq!(again, c);
    }
}

/// `.bupm` records: `RecordReader` over the whole input and
/// `decode_record` called directly, record by record.
///
/// Property: every decoded record re-encodes to bytes that decode to the
/// same value, consuming them exactly, and re-encode to the same bytes.
pub fn bupm(data: &[u8]) {
    let mut reader = RecordReader::new(data);
    let mut decoded = Vec::new();
    while let Some(item) = reader.next() {
        match item {
            Ok(Some(meta)) => {
                round_trip(&meta);
                decoded.push(Some(meta));
            }
            Ok(None) => decoded.push(None),
            Err(_) => break,
        }
        assert!(reader.offset() <= data.len());
    }
    let mut rest = data;
    for want in decoded {
        let before = rest.len();
        let got = decode_record(&mut rest).expect("decode_record agrees with RecordReader");
        assert!(rest.len() < before, "a record consumed no bytes");
        assert_eq!(got, want);
    }
}

fn round_trip(meta: &Metadata) {
    let mut bytes = Vec::new();
    meta.encode(&mut bytes);
    let mut rest = &bytes[..];
    let back = decode_record(&mut rest).expect("encoded record decodes");
    assert!(rest.is_empty(), "encoded record has trailing bytes");
    assert_eq!(back.as_ref(), Some(meta), "record changed in a round trip");
    let mut again = Vec::new();
    meta.encode(&mut again);
    assert_eq!(again, bytes);
}

/// The local file index: `IndexReader::open` on a file holding the input
/// as given and with a valid BLAKE3 trailer appended (so the structure
/// behind the checksum gets explored), then cursors over every entry.
///
/// Properties: a cursor yields entries until it stops and then stays
/// stopped; seeking to an entry's path finds an entry with that path.
pub fn fsindex(data: &[u8], scratch: &Path) {
    std::fs::write(scratch, data).expect("write scratch file");
    exercise_index(scratch);
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(blake3::hash(data).as_bytes());
    std::fs::write(scratch, &sealed).expect("write scratch file");
    exercise_index(scratch);
}

fn exercise_index(path: &Path) {
    let Ok(Some(reader)) = IndexReader::open(path) else {
        return;
    };
    let _ = reader.roots();
    let mut cursor = reader.cursor();
    let mut paths = Vec::new();
    while let Some(e) = cursor.next_entry() {
        paths.push(e.path);
    }
    assert!(cursor.next_entry().is_none(), "cursor restarted");
    let mut cursor = reader.cursor();
    for p in &paths {
        while cursor.pop_before(p).is_some() {}
        if let Some(e) = cursor.seek(p) {
            assert_eq!(&e.path, p);
        }
    }
}

/// Most entries `pack_structured` builds from one input.
const MAX_BUILT_ENTRIES: usize = 64;

/// Most uncompressed payload bytes `pack_structured` builds from one input.
const MAX_BUILT_PAYLOAD: usize = 8 << 20;

/// One entry `pack_structured` builds, as its input describes it.
struct Spec {
    /// Pack type code: 1..=4, 6 (OFS_DELTA) or 7 (REF_DELTA).
    code: u8,
    /// OFS_DELTA: index of an earlier entry. REF_DELTA: index of any entry
    /// (loops allowed), or `None` for a base outside the pack.
    base: Option<usize>,
    /// What the header claims, if not the payload's length.
    claimed_size: Option<u64>,
    /// zlib level (0 = stored blocks).
    level: i32,
    /// Bytes cut from the end of the zlib stream.
    cut: usize,
    /// The object body or delta.
    payload: Vec<u8>,
}

impl Spec {
    fn honest(&self) -> bool {
        self.cut == 0
            && self
                .claimed_size
                .is_none_or(|s| s == self.payload.len() as u64)
    }
}

/// Little reader over the fuzz input; every read of a missing byte is 0.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

/// Parse the `pack_structured` input into entry specs. Per entry:
///
/// ```text
/// byte  b0: bits 0-2 kind (0 commit, 1 tree, 2 blob, 3 tag, 4-5 OFS_DELTA,
///           6-7 REF_DELTA); bit 3 the header lies about the size (u32
///           follows); bit 4 the zlib stream is cut short (byte follows:
///           bytes cut); bit 5 compressed (byte follows: level % 7), else stored
/// [OFS_DELTA] byte: base = earlier entry (byte % index)
/// [REF_DELTA] byte: 0xfe = a base outside the pack, else entry (byte % 64)
/// u16 LE: payload length n; byte r: the n bytes are repeated r + 1 times
/// n bytes
/// ```
fn parse_specs(data: &[u8]) -> Vec<Spec> {
    let mut input = Input(data);
    let mut specs = Vec::new();
    let mut total = 0usize;
    while !input.0.is_empty() && specs.len() < MAX_BUILT_ENTRIES {
        let b0 = input.byte();
        let code = [1, 2, 3, 4, 6, 6, 7, 7][usize::from(b0 & 7)];
        let claimed_size = (b0 & 0x08 != 0).then(|| u64::from(input.u32()));
        let cut = if b0 & 0x10 != 0 {
            usize::from(input.byte())
        } else {
            0
        };
        let level = if b0 & 0x20 != 0 {
            i32::from(input.byte() % 7)
        } else {
            0
        };
        let i = specs.len();
        let base = match code {
            6 if i == 0 => {
                input.byte();
                None
            }
            6 => Some(usize::from(input.byte()) % i),
            7 => match input.byte() {
                0xfe => None,
                b => Some(usize::from(b) % MAX_BUILT_ENTRIES),
            },
            _ => None,
        };
        let n = usize::from(input.u16());
        let repeat = usize::from(input.byte()) + 1;
        let chunk = input.bytes(n);
        let len = chunk.len() * repeat;
        if total + len > MAX_BUILT_PAYLOAD {
            break;
        }
        total += len;
        let payload = chunk.repeat(repeat);
        if code == 6 && base.is_none() {
            // No earlier entry to be the base of the first one.
            continue;
        }
        specs.push(Spec {
            code,
            base,
            claimed_size,
            level,
            cut,
            payload,
        });
    }
    specs
}

/// Pack data, structure-aware: the input describes entries (see
/// [`parse_specs`]), which are built into a valid pack (zlib streams,
/// OFS_DELTA distances, REF_DELTA ids, header, SHA-1 trailer) with an idx,
/// optionally damaged in controlled ways (size lies, cut streams). This
/// reaches the delta-resolution code that random bytes rarely reach,
/// because random bytes rarely make a zlib stream with a valid Adler-32.
///
/// Properties: the pack opens and its checksum verifies; an undamaged
/// non-delta entry reads back exactly (`read_at`, `read_verified`,
/// `copy_to`); an entry whose header lies about its size fails; a delta
/// entry that reads is its base's kind and `apply_delta` of its base's
/// body; a base outside the pack is asked of the resolver.
pub fn pack_structured(data: &[u8]) {
    let specs = parse_specs(data);
    // Ids: non-delta entries get their real id (unless it repeats), deltas
    // twenty copies of their index.
    let mut ids: Vec<ObjectId> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let real = ObjectKind::from_pack_code(s.code).map(|k| ObjectId::hash_object(k, &s.payload));
        ids.push(match real {
            Some(id) if !ids.contains(&id) => id,
            _ => synthetic_id(i),
        });
    }
    let thin_base_id = ObjectId([THIN_BASE_BYTE; 20]);
    let mut pack = b"PACK".to_vec();
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&(specs.len() as u32).to_be_bytes());
    let mut offsets: Vec<u64> = Vec::new();
    for s in &specs {
        let at = pack.len() as u64;
        offsets.push(at);
        let size = s.claimed_size.unwrap_or(s.payload.len() as u64);
        encode_entry_header(s.code, size, &mut pack);
        match (s.code, s.base) {
            (6, Some(b)) => {
                let mut dist = at - offsets[b];
                let mut rev = vec![(dist & 0x7f) as u8];
                dist >>= 7;
                while dist != 0 {
                    dist -= 1;
                    rev.push(0x80 | (dist & 0x7f) as u8);
                    dist >>= 7;
                }
                pack.extend(rev.iter().rev());
            }
            (7, b) => {
                let id = b.and_then(|b| ids.get(b)).unwrap_or(&thin_base_id);
                pack.extend_from_slice(id.as_bytes());
            }
            _ => {}
        }
        let encoded = encode_object(ObjectKind::Blob, &s.payload, Compression { level: s.level });
        let (_, _, hlen) = parse_entry_header(&encoded.data).expect("our own entry header parses");
        let stream = &encoded.data[hlen..];
        pack.extend_from_slice(&stream[..stream.len().saturating_sub(s.cut)]);
    }
    let trailer: [u8; 20] = Sha1::digest(&pack).into();
    pack.extend_from_slice(&trailer);
    let mut entries: Vec<(ObjectId, u32, u64)> = ids
        .iter()
        .zip(&offsets)
        .map(|(id, off)| (*id, 0, *off))
        .collect();
    let idx = Idx::from_bytes(write_idx_v2(&mut entries, &trailer)).expect("idx parses");
    let pack = Pack::from_bytes(pack, idx).expect("built pack opens");
    pack.verify_checksum()
        .expect("built pack checksum verifies");

    // A thin base: a fixed blob (a delta made for it must say 64 bytes).
    let thin_base = [b'x'; 64];
    let asked = std::cell::Cell::new(false);
    let resolver = |id: &ObjectId| {
        if *id == thin_base_id {
            asked.set(true);
            Some((ObjectKind::Blob, thin_base.to_vec()))
        } else {
            None
        }
    };
    let mut read: Vec<Option<(ObjectKind, Vec<u8>)>> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let off = offsets[i];
        asked.set(false);
        let r = pack.read_at(off, &resolver).ok();
        let thin_asked = asked.get();
        let _ = pack.read_verified(&ids[i], &resolver);
        let mut streamed = Vec::new();
        let copied = pack.copy_to(off, &mut streamed);
        if let Some(kind) = ObjectKind::from_pack_code(s.code) {
            if s.honest() {
                let (k, body) = r
                    .as_ref()
                    .unwrap_or_else(|| panic!("entry {i} does not read"));
                assert!(*k == kind && *body == s.payload, "entry {i} reads wrong");
                assert!(
                    copied.is_ok() && streamed == s.payload,
                    "entry {i} streams wrong"
                );
                if ids[i] != synthetic_id(i) {
                    let v = pack.read_verified(&ids[i], &resolver);
                    assert!(matches!(v, Ok(Some(_))), "entry {i} does not verify");
                }
            } else if s.claimed_size.is_some_and(|c| c != s.payload.len() as u64) {
                assert!(
                    r.is_none() && copied.is_err(),
                    "entry {i} lies about its size but reads"
                );
            }
        } else if let Some((kind, body)) = &r {
            // A delta read: its base read too, and the delta applies to it.
            let base = match (s.code, s.base) {
                (6, Some(b)) => read.get(b).cloned().flatten(),
                (7, Some(b)) if b < specs.len() => pack.read_at(offsets[b], &resolver).ok(),
                _ => {
                    assert!(thin_asked, "entry {i}: a base from nowhere");
                    Some((ObjectKind::Blob, thin_base.to_vec()))
                }
            };
            if s.honest() {
                let (bk, bb) = base.unwrap_or_else(|| panic!("entry {i} read without its base"));
                assert_eq!(*kind, bk, "entry {i}: kind differs from its base");
                let want = apply_delta(&bb, &s.payload).expect("delta that was applied applies");
                assert!(*body == want, "entry {i}: delta result differs");
            }
        }
        read.push(r);
    }
}
