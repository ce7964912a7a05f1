//! Hashing throughput: the git blob id (SHA-1 of "blob <len>\0" + data) of
//! chunks of the sizes our chunkers produce, on one and two threads.

use backup::oid::{ObjectId, ObjectKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

#[path = "data.rs"]
mod data;

fn bench(c: &mut Criterion) {
    let buf = data::random(64 << 20, 1);
    let mut group = c.benchmark_group("hash");
    group
        .throughput(Throughput::Bytes(buf.len() as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    for chunk in [8 << 10, 16 << 10, 64 << 10] {
        group.bench_function(format!("sha1-blob-id-{}k-1t", chunk >> 10), |b| {
            b.iter(|| {
                for c in buf.chunks(chunk) {
                    black_box(ObjectId::hash_object(ObjectKind::Blob, c));
                }
            })
        });
        group.bench_function(format!("sha1-blob-id-{}k-2t", chunk >> 10), |b| {
            b.iter(|| {
                pool.install(|| {
                    buf.par_chunks(chunk).for_each(|c| {
                        black_box(ObjectId::hash_object(ObjectKind::Blob, c));
                    })
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
