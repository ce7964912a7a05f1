//! Pack-layer benchmarks: per-object encoding, pack writing, idx lookups,
//! reading objects back (SHA-1-verified and CRC-checked).
//!
//! `cargo bench --bench pack`; data is generated in memory, packs are written
//! to a temporary directory (page cache; `finish` includes its fsyncs).

use backup::oid::{ObjectId, ObjectKind};
use backup::pack::{Compression, Idx, Pack, PackWriter, encode_object, write_idx_v2};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha1::{Digest, Sha1};
use std::hint::black_box;

const CHUNK: usize = 16 * 1024;

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(n);
    out
}

fn text_bytes(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "fn", "let", "mut", "pack", "object", "tree", "blob", "commit", "return", "offset",
        "delta", "zlib", "stream", "header", "size", "chunk", "file", ";\n", "{", "}\n", "(", ")",
        "self", "impl", "match", "Some", "None", "Ok", "Err", "    ", "==", "0x7f",
    ];
    let picks = random_bytes(n, seed);
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(WORDS[picks[i] as usize % WORDS.len()].as_bytes());
        out.push(b' ');
        i += 1;
    }
    out.truncate(n);
    out
}

/// `count` chunks of 16 KiB, alternating random and text-like.
fn mixed_chunks(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            if i % 2 == 0 {
                random_bytes(CHUNK, i as u64)
            } else {
                text_bytes(CHUNK, i as u64)
            }
        })
        .collect()
}

/// `total` bytes of mixed 16 KiB chunks, encoded as pack entries.
fn mixed_objects(total: usize) -> Vec<backup::pack::PackedObject> {
    mixed_chunks(total / CHUNK)
        .iter()
        .map(|b| encode_object(ObjectKind::Blob, b, Compression::default()))
        .collect()
}

fn bench_encode(c: &mut Criterion) {
    let chunks = mixed_chunks(64);
    let mut g = c.benchmark_group("encode_object_16k_mixed");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    for level in [1, 6] {
        g.bench_with_input(BenchmarkId::new("level", level), &level, |b, &level| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % chunks.len();
                black_box(encode_object(
                    ObjectKind::Blob,
                    &chunks[i],
                    Compression { level },
                ))
            });
        });
    }
    g.finish();
}

fn bench_pack_writer(c: &mut Criterion) {
    let total = 64 << 20;
    let objects = mixed_objects(total);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("pack_writer");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("append_finish_64MiB_16k_objects", |b| {
        b.iter(|| {
            let mut w = PackWriter::create(dir.path()).expect("create");
            for o in &objects {
                w.append(o).expect("append");
            }
            let fin = w.finish().expect("finish").expect("non-empty");
            std::fs::remove_file(&fin.pack_path).expect("rm pack");
            std::fs::remove_file(&fin.idx_path).expect("rm idx");
        });
    });
    g.finish();
}

fn bench_idx_lookup(c: &mut Criterion) {
    let n = 1_000_000u64;
    let id = |i: u64| {
        let mut h = Sha1::new();
        h.update(i.to_le_bytes());
        ObjectId(h.finalize().into())
    };
    let mut entries: Vec<_> = (0..n).map(|i| (id(i), i as u32, 12 + i * 100)).collect();
    let idx = Idx::from_bytes(write_idx_v2(&mut entries, &[0; 20])).expect("valid idx");
    let hits: Vec<ObjectId> = (0..4096).map(|i| id(i * 241)).collect();
    let misses: Vec<ObjectId> = (0..4096).map(|i| id(n + i)).collect();
    let mut g = c.benchmark_group("idx_lookup_1M");
    g.throughput(Throughput::Elements(1));
    for (name, ids) in [("hit", &hits), ("miss", &misses)] {
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(idx.lookup(&ids[i]))
            });
        });
    }
    g.finish();
}

fn bench_pack_read(c: &mut Criterion) {
    let total = 64 << 20;
    let objects = mixed_objects(total);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut w = PackWriter::create(dir.path()).expect("create");
    for o in &objects {
        w.append(o).expect("append");
    }
    let fin = w.finish().expect("finish").expect("non-empty");
    let idx = Idx::open(&fin.idx_path).expect("idx");
    let pack = Pack::open(&fin.pack_path, idx).expect("pack");
    let ids: Vec<ObjectId> = objects.iter().map(|o| o.id).collect();
    let mut g = c.benchmark_group("pack_read_64MiB_16k_objects");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("read_verified_sha1", |b| {
        b.iter(|| {
            for id in &ids {
                black_box(pack.read_verified(id, &|_| None).expect("read"));
            }
        });
    });
    g.bench_function("read_checked_crc", |b| {
        b.iter(|| {
            for id in &ids {
                black_box(pack.read_checked(id, &|_| None).expect("read"));
            }
        });
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_encode,
    bench_pack_writer,
    bench_idx_lookup,
    bench_pack_read
);
criterion_main!(benches);
