//! The whole write hot path: chunk + hash + dedup check + compress, as
//! `save` runs it (`save::stream::store_stream`), into an in-memory sink,
//! with rayon pools of 1 and 2 threads. Input: 64 MiB of mixed random and
//! text data; every run starts from an empty sink (all data is new).

use backup::chunk::ChunkerConfig;
use backup::pack::Compression;
use backup::repo::MemSink;
use backup::save::stream::store_stream;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

#[path = "data.rs"]
mod data;

fn bench(c: &mut Criterion) {
    let input = data::mixed(64 << 20, 7);
    let mut group = c.benchmark_group("pipeline");
    group
        .throughput(Throughput::Bytes(input.len() as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    let configs = [
        ("fastcdc-16k", ChunkerConfig::fastcdc_default()),
        ("bup", ChunkerConfig::Bup),
    ];
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        for (name, cfg) in &configs {
            group.bench_function(format!("{name}-{threads}t"), |b| {
                b.iter(|| {
                    pool.install(|| {
                        let sink = MemSink::new(cfg.clone(), Compression::default());
                        let mut r = &input[..];
                        black_box(store_stream(&sink, cfg, &mut r, &|_| {}).expect("store"))
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
