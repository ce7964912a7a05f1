//! Chunking throughput (MB/s): bup's rollsum splitter and FastCDC at
//! 8/16/64 KiB average, over 64 MiB of deterministic pseudo-random data read
//! through `Chunker::next_block` from an in-memory reader.

use backup::chunk::{Chunker, ChunkerConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const SIZE: usize = 64 * 1024 * 1024;

/// Deterministic pseudo-random bytes (xorshift64*).
fn data() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(SIZE);
    while out.len() < SIZE {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out
}

/// Chunk all of `data`; returns the number of chunks.
fn chunk_all(config: &ChunkerConfig, data: &[u8]) -> usize {
    let mut chunker = Chunker::new(config);
    let mut reader = data;
    let mut n = 0;
    while let Some(block) = chunker.next_block(&mut reader).expect("in-memory read") {
        n += block.chunks.len();
        chunker.recycle(block.data);
    }
    n + chunker.finish().map_or(0, |b| b.chunks.len())
}

fn bench(c: &mut Criterion) {
    let data = data();
    let mut group = c.benchmark_group("chunk");
    group
        .throughput(Throughput::Bytes(SIZE as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let configs = [
        ("bup", ChunkerConfig::Bup),
        (
            "fastcdc-8k",
            ChunkerConfig::fastcdc_with_avg(8 * 1024).expect("valid"),
        ),
        (
            "fastcdc-16k",
            ChunkerConfig::fastcdc_with_avg(16 * 1024).expect("valid"),
        ),
        (
            "fastcdc-64k",
            ChunkerConfig::fastcdc_with_avg(64 * 1024).expect("valid"),
        ),
    ];
    for (name, config) in &configs {
        group.bench_function(format!("{name}-1t"), |b| {
            b.iter(|| chunk_all(config, black_box(&data)))
        });
    }
    // Two streams at once (as when two large files are saved): the same
    // 64 MiB, cut as two 32 MiB streams on two threads.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let (a, b) = data.split_at(SIZE / 2);
    for (name, config) in &configs {
        group.bench_function(format!("{name}-2t"), |bch| {
            bch.iter(|| {
                pool.install(|| {
                    rayon::join(
                        || chunk_all(config, black_box(a)),
                        || chunk_all(config, black_box(b)),
                    )
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
