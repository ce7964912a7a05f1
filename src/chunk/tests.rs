//! Chunker + fanout tests: bup-format.md §3.7 vectors (bup mode), and
//! read-independence and coverage properties (fastcdc mode).

use super::*;
use crate::object::tree::{MODE_FILE, MODE_TREE, parse_tree};
use crate::oid::ObjectKind;
use proptest::prelude::*;
use std::collections::HashMap;
use std::convert::Infallible;

/// The §3.7 LCG byte stream.
fn lcg(n: usize) -> Vec<u8> {
    let mut x: u32 = 1;
    (0..n)
        .map(|_| {
            x = (x.wrapping_mul(1103515245).wrapping_add(12345)) & 0x7fff_ffff;
            (x >> 16) as u8
        })
        .collect()
}

/// §3.7 `vquirk`: lcg 100000 ‖ pattern × 725 937 ‖ lcg 100000.
fn vquirk() -> Vec<u8> {
    let pat = [
        0xa5, 0x48, 0x71, 0x07, 0xdd, 0x97, 0xfa, 0x25, 0xa9, 0x39, 0x08, 0x40, 0xaf,
    ];
    let head = lcg(100_000);
    let mut v = head.clone();
    v.reserve(pat.len() * 725_937 + head.len());
    for _ in 0..725_937 {
        v.extend_from_slice(&pat);
    }
    v.extend_from_slice(&head);
    assert_eq!(v.len(), 9_637_181);
    v
}

/// A reader that returns at most `sizes[k]` bytes on its k-th read (cycling),
/// and an `Interrupted` error before every seventh read.
struct ShortReader<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    calls: usize,
}

impl<'a> ShortReader<'a> {
    fn new(data: &'a [u8], sizes: Vec<usize>) -> ShortReader<'a> {
        ShortReader {
            data,
            sizes,
            calls: 0,
        }
    }
}

impl Read for ShortReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(7) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "test"));
        }
        let limit = self.sizes[self.calls % self.sizes.len()].max(1);
        let n = limit.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A chunk as seen by the whole stream: absolute offset, length, level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Abs {
    offset: usize,
    len: usize,
    level: Option<u8>,
}

/// Run `chunker` over the readers in turn, then finish; check that every
/// block's spans cover its data exactly; return the chunks and their bytes.
fn run(chunker: &mut Chunker, readers: Vec<&mut dyn Read>) -> Vec<(Abs, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut take = |block: Block, out: &mut Vec<(Abs, Vec<u8>)>| {
        let mut pos = 0;
        for s in &block.chunks {
            assert_eq!(s.start, pos, "spans must be contiguous");
            assert!(s.end > s.start, "spans must be non-empty");
            out.push((
                Abs {
                    offset: offset + s.start,
                    len: s.len(),
                    level: s.level,
                },
                block.data[s.start..s.end].to_vec(),
            ));
            pos = s.end;
        }
        assert_eq!(pos, block.data.len(), "spans must cover the block");
        offset += block.data.len();
        block.data
    };
    for reader in readers {
        while let Some(block) = chunker.next_block(reader).unwrap() {
            let buf = take(block, &mut out);
            chunker.recycle(buf);
        }
    }
    if let Some(block) = chunker.finish() {
        take(block, &mut out);
    }
    assert!(chunker.finish().is_none());
    out
}

/// Trees stored while building chunk trees, by id.
type Trees = HashMap<ObjectId, Vec<u8>>;

/// Hash each chunk as a blob and build the chunk tree (bup levels).
fn file_id(chunks: &[(Abs, Vec<u8>)], trees: &mut Trees) -> (u32, ObjectId, u64) {
    let mut fanout = FanoutBuilder::new();
    let mut store = |body: Vec<u8>| -> Result<ObjectId, Infallible> {
        let id = ObjectId::hash_object(ObjectKind::Tree, &body);
        trees.insert(id, body);
        Ok(id)
    };
    for (abs, bytes) in chunks {
        let id = ObjectId::hash_object(ObjectKind::Blob, bytes);
        let level = abs.level.unwrap_or_else(|| fanout_level_from_id(&id));
        fanout.push(id, abs.len as u64, level, &mut store).unwrap();
    }
    fanout.finish(&mut store).unwrap()
}

fn bup_id_with_read_size(data: &[u8], read_size: usize) -> (u32, ObjectId, u64, Trees) {
    let mut chunker = Chunker::with_read_size(&ChunkerConfig::Bup, read_size);
    let chunks = run(&mut chunker, vec![&mut &data[..]]);
    let mut trees = Trees::new();
    let (mode, id, size) = file_id(&chunks, &mut trees);
    assert_eq!(size, data.len() as u64);
    (mode, id, size, trees)
}

fn bup_id(data: &[u8]) -> (u32, String) {
    let (mode, id, _, _) = bup_id_with_read_size(data, bupsplit::READ_SIZE);
    (mode, id.to_hex())
}

#[test]
fn spec_vectors_small() {
    let blob = |h: &str| (MODE_FILE, h.to_string());
    let tree = |h: &str| (MODE_TREE, h.to_string());
    assert_eq!(
        bup_id(b""),
        blob("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
    );
    assert_eq!(
        bup_id(&lcg(1)),
        blob("566d900abb9af2df549e573a5c0b8c5d7c3204fc")
    );
    assert_eq!(
        bup_id(&lcg(100)),
        blob("47ebb187d51a61a1e005e7bce008468835c78971")
    );
    assert_eq!(
        bup_id(&lcg(8192)),
        tree("25979a74b78e940629f626354e7ddc809341c21a")
    );
    assert_eq!(
        bup_id(&lcg(40_000)),
        tree("1477561552f5d34b7552a9c238c19cbb957945d1")
    );
}

#[test]
fn spec_vector_lcg_1m_and_its_first_chunks() {
    let data = lcg(1_000_000);
    assert_eq!(
        bup_id(&data),
        (
            MODE_TREE,
            "125b7be6a88d4e23a6d3ef9faeff6e7c1fe94865".to_string()
        )
    );
    let mut chunker = Chunker::new(&ChunkerConfig::Bup);
    let chunks = run(&mut chunker, vec![&mut &data[..]]);
    // §3.7: (offset, length, level, blob id prefix); bits are checked in rollsum.
    let expected = [
        (0x0, 1149, 0, "c2ae171c"),
        (0x47d, 1407, 0, "d51b5cfc"),
        (0x9fc, 5057, 0, "ee3dcc5f"),
        (0x1dbd, 13682, 0, "ff005bad"),
        (0x532f, 3119, 0, "0a833b00"),
        (0x5f5e, 9701, 0, "8d4c0325"),
    ];
    for (i, (offset, len, level, prefix)) in expected.into_iter().enumerate() {
        let (abs, bytes) = &chunks[i];
        assert_eq!(
            *abs,
            Abs {
                offset,
                len,
                level: Some(level)
            }
        );
        let id = ObjectId::hash_object(ObjectKind::Blob, bytes).to_hex();
        assert!(id.starts_with(prefix), "chunk {i}: {id} vs {prefix}");
    }
}

#[test]
fn spec_vector_lcg_20m() {
    assert_eq!(
        bup_id(&lcg(20_000_000)),
        (
            MODE_TREE,
            "86db4b4e4682be676524f30ce6946bf9a249c884".to_string()
        )
    );
}

#[test]
fn spec_vector_zeros_10m() {
    let (mode, id, _, trees) = bup_id_with_read_size(&vec![0u8; 10_000_000], bupsplit::READ_SIZE);
    assert_eq!(
        (mode, id.to_hex().as_str()),
        (MODE_TREE, "e6b42a173c4bc3a77a4aebd62dcc9e73ef3181b0")
    );
    // §3.7: top entries `000000` (256 capped chunks) and `800000`.
    let top = parse_tree(&trees[&id]).unwrap();
    let names: Vec<&[u8]> = top.iter().map(|e| &e.name[..]).collect();
    assert_eq!(names, [&b"000000"[..], b"800000"]);
    assert_eq!(parse_tree(&trees[&top[0].id]).unwrap().len(), 256);
}

#[test]
fn spec_vector_vquirk_and_its_read_size_variants() {
    let data = vquirk();
    assert_eq!(
        bup_id(&data),
        (
            MODE_TREE,
            "dcb6cc372ab66fec97c56f6c8680fc25181ef54f".to_string()
        )
    );
    // §3.5: 1 MiB reads give 6c671f43…, one unbounded read 58f54182….
    let (_, id, _, _) = bup_id_with_read_size(&data, 1 << 20);
    assert!(id.to_hex().starts_with("6c671f43"), "{id}");
    let (_, id, _, _) = bup_id_with_read_size(&data, data.len());
    assert!(id.to_hex().starts_with("58f54182"), "{id}");
}

#[test]
fn bup_mode_ignores_short_reads() {
    // Reads are looped until 8 MiB, as Python's read(n) does.
    let data = vquirk();
    let expected = bup_id(&data);
    let mut chunker = Chunker::new(&ChunkerConfig::Bup);
    let mut reader = ShortReader::new(&data, vec![1, 65_536, 3_000_001, 17, 1 << 20]);
    let chunks = run(&mut chunker, vec![&mut reader]);
    let (mode, id, _) = file_id(&chunks, &mut Trees::new());
    assert_eq!((mode, id.to_hex()), expected);
}

#[test]
fn bup_mode_continues_across_readers_with_their_own_blocks() {
    // §3.5: several files are chunked as one stream, each read in its own
    // blocks; so (a, b) differs from reading a ‖ b as one file only in where
    // the read blocks fall. Check against the literal §3.5 procedure.
    let a = vquirk();
    let b = lcg(300_000);
    let read_size = 1 << 20;
    let mut chunker = Chunker::with_read_size(&ChunkerConfig::Bup, read_size);
    let got: Vec<(usize, u8)> = run(&mut chunker, vec![&mut &a[..], &mut &b[..]])
        .iter()
        .map(|(abs, _)| (abs.len, abs.level.unwrap_or(99)))
        .collect();
    // Literal: blocks are a's blocks, then b's blocks.
    let mut expected = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for block in a.chunks(read_size).chain(b.chunks(read_size)) {
        let mut spans = Vec::new();
        pending.extend_from_slice(block);
        let used = bupsplit::split_block(&pending, &mut spans);
        expected.extend(spans.iter().map(|s| (s.len(), s.level.unwrap_or(99))));
        pending.drain(..used);
    }
    if !pending.is_empty() {
        expected.push((pending.len(), 0));
    }
    assert_eq!(got, expected);
    assert_eq!(got.iter().map(|c| c.0).sum::<usize>(), a.len() + b.len());
}

#[test]
fn bup_chunks_are_capped_and_final_chunk_is_level_zero() {
    let data = vquirk();
    let mut chunker = Chunker::new(&ChunkerConfig::Bup);
    let chunks = run(&mut chunker, vec![&mut &data[..]]);
    assert!(chunks.iter().all(|(a, _)| a.len <= bupsplit::BLOB_MAX));
    assert_eq!(chunks.last().map(|c| c.0.level), Some(Some(0)));
    let total: usize = chunks.iter().map(|c| c.0.len).sum();
    assert_eq!(total, data.len());
}

#[test]
fn chunker_and_fanout_builder_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Chunker>();
    assert_send::<FanoutBuilder>();
    assert_send::<Block>();
}

#[test]
fn config_names_defaults_and_validation() {
    assert_eq!(ChunkerConfig::Bup.name(), "bup");
    let d = ChunkerConfig::fastcdc_default();
    assert_eq!(d.name(), "fastcdc");
    assert_eq!(
        d,
        ChunkerConfig::FastCdc {
            min: 4096,
            avg: 16384,
            max: 65536
        }
    );
    assert_eq!(d.validate(), Ok(()));
    assert_eq!(
        ChunkerConfig::fastcdc_with_avg(65536),
        Ok(ChunkerConfig::FastCdc {
            min: 16384,
            avg: 65536,
            max: 262_144
        })
    );
    assert_eq!(
        ChunkerConfig::fastcdc_with_avg(3000),
        Err(ConfigError::NotPowerOfTwo(3000))
    );
    assert!(matches!(
        ChunkerConfig::fastcdc_with_avg(128),
        Err(ConfigError::OutOfRange { name: "avg", .. })
    ));
    assert!(matches!(
        ChunkerConfig::fastcdc_with_avg(8 << 20),
        Err(ConfigError::OutOfRange { name: "avg", .. })
    ));
    assert!(ChunkerConfig::fastcdc_with_avg(256).is_ok());
    assert!(ChunkerConfig::fastcdc_with_avg(4 << 20).is_ok());
    assert_eq!(
        ChunkerConfig::fastcdc(4095, 16384, 65536),
        Err(ConfigError::Odd {
            name: "min",
            value: 4095
        })
    );
    assert!(matches!(
        ChunkerConfig::fastcdc(8192, 4096, 65536),
        Err(ConfigError::Unordered { .. })
    ));
    assert_eq!(
        ChunkerConfig::fastcdc(4096, 16384, 65536).map(|c| c.validate()),
        Ok(Ok(()))
    );
}

#[test]
fn invalid_fastcdc_config_fails_reads_without_panicking() {
    let bad = ChunkerConfig::FastCdc {
        min: 9000,
        avg: 7,
        max: 10,
    };
    let mut chunker = Chunker::new(&bad);
    let err = chunker.next_block(&mut &b"some data"[..]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(chunker.finish().is_none());
}

#[test]
fn fanout_level_from_id_counts_trailing_ones_of_first_word() {
    let mut raw = [0u8; 20];
    assert_eq!(fanout_level_from_id(&ObjectId(raw)), 0);
    raw[3] = 0x0f; // 4 trailing ones
    assert_eq!(fanout_level_from_id(&ObjectId(raw)), 1);
    raw[3] = 0x7f; // 7
    assert_eq!(fanout_level_from_id(&ObjectId(raw)), 1);
    raw[3] = 0xff;
    raw[2] = 0x01; // 9
    assert_eq!(fanout_level_from_id(&ObjectId(raw)), 2);
    raw[..4].copy_from_slice(&[0xff; 4]); // 32; bytes after the first four are ignored
    raw[4] = 0xff;
    assert_eq!(fanout_level_from_id(&ObjectId(raw)), 8);
    raw[..4].copy_from_slice(&[0xff, 0xff, 0xff, 0xfe]);
    assert_eq!(fanout_level_from_id(&ObjectId(raw)), 0);
}

#[test]
fn fastcdc_chunks_within_bounds_and_match_one_shot_fastcdc() {
    let data = lcg(3_000_000);
    for avg in [8192u32, 16384, 65536] {
        let config = ChunkerConfig::fastcdc_with_avg(avg).unwrap();
        let mut chunker = Chunker::new(&config);
        let chunks = run(&mut chunker, vec![&mut &data[..]]);
        let (min, max) = ((avg / 4) as usize, (avg * 4) as usize);
        for (i, (abs, _)) in chunks.iter().enumerate() {
            assert_eq!(abs.level, None);
            if i + 1 < chunks.len() {
                assert!((min..=max).contains(&abs.len), "chunk {i} has {}", abs.len);
            }
        }
        let reference: Vec<(usize, usize)> =
            fastcdc::v2020::FastCDC::new(&data, min, avg as usize, max)
                .map(|c| (c.offset, c.length))
                .collect();
        let ours: Vec<(usize, usize)> = chunks.iter().map(|(a, _)| (a.offset, a.len)).collect();
        assert_eq!(ours, reference);
    }
}

/// Test data for the properties: random bytes, repeats and zero runs.
fn segments() -> impl Strategy<Value = Vec<u8>> {
    let seg = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..8000),
        (proptest::collection::vec(any::<u8>(), 1..9), 0usize..800).prop_map(|(pat, n)| pat
            .iter()
            .copied()
            .cycle()
            .take(pat.len() * n)
            .collect()),
        (0usize..6000).prop_map(|n| vec![0u8; n]),
    ];
    proptest::collection::vec(seg, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// fastcdc boundaries depend only on the content: not on the read-block
    /// size, short reads, or how the stream is split over several readers.
    #[test]
    fn fastcdc_boundaries_depend_only_on_content(
        data in segments(),
        read_size in 1usize..20_000,
        sizes in proptest::collection::vec(1usize..3000, 1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        avg in prop::sample::select(vec![256u32, 512, 2048]),
    ) {
        let config = ChunkerConfig::fastcdc_with_avg(avg).unwrap();
        let (min, max) = ((avg / 4) as usize, (avg * 4) as usize);
        let reference: Vec<Abs> = fastcdc::v2020::FastCDC::new(&data, min, avg as usize, max)
            .map(|c| Abs { offset: c.offset, len: c.length, level: None })
            .collect();
        // The stream split into several readers at random points.
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        let mut readers: Vec<ShortReader<'_>> = points
            .windows(2)
            .map(|w| ShortReader::new(&data[w[0]..w[1]], sizes.clone()))
            .collect();
        let mut chunker = Chunker::with_read_size(&config, read_size);
        let got = run(&mut chunker, readers.iter_mut().map(|r| r as &mut dyn Read).collect());
        let spans: Vec<Abs> = got.iter().map(|(a, _)| *a).collect();
        prop_assert_eq!(&spans, &reference);
        for (i, (abs, bytes)) in got.iter().enumerate() {
            prop_assert_eq!(&bytes[..], &data[abs.offset..abs.offset + abs.len]);
            if i + 1 < got.len() {
                prop_assert!((min..=max).contains(&abs.len));
            }
        }
    }

    /// bup mode: short reads and buffer reuse never change the chunks; they
    /// equal the literal §3.5 procedure with the same read-block size.
    #[test]
    fn bup_mode_equals_literal_spec_with_short_reads(
        data in segments(),
        read_size in 1000usize..50_000,
        sizes in proptest::collection::vec(1usize..70_000, 1..6),
    ) {
        let mut chunker = Chunker::with_read_size(&ChunkerConfig::Bup, read_size);
        let mut reader = ShortReader::new(&data, sizes);
        let got = run(&mut chunker, vec![&mut reader]);
        let spans: Vec<(usize, u8)> = got.iter().map(|(a, _)| (a.len, a.level.unwrap_or(99))).collect();
        prop_assert_eq!(spans, bupsplit::tests::spec_chunks(&data, read_size));
        let joined: Vec<u8> = got.into_iter().flat_map(|(_, b)| b).collect();
        prop_assert_eq!(joined, data);
    }
}
