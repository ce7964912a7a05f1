//! Chunk-size study: how the fastcdc average size trades deduplication
//! against speed and object count. Prints the table kept in
//! docs/design.md ("Chunker and chunk size"). Run with
//! `cargo bench --bench chunk_sizes`.
//!
//! Datasets (deterministic): a 256 MiB "disk image" of mixed random/text
//! segments edited by 50 small inserts/deletes/overwrites at random
//! offsets, and a 128 MiB SQL-like dump of which 0.5 % of rows change, 0.1 %
//! are inserted and 0.1 % deleted. Bytes are compressed pack bytes written
//! into an in-memory sink (blobs and chunk trees), as a save would write.

use backup::chunk::ChunkerConfig;
use backup::pack::Compression;
use backup::repo::MemSink;
use backup::repo::sink::ObjectSink;
use backup::save::stream::store_stream;
use std::time::Instant;

#[path = "data.rs"]
mod data;

fn edit_image(v1: &[u8]) -> Vec<u8> {
    let r = data::random(50 * 16, 99);
    let mut v = v1.to_vec();
    for k in 0..50 {
        let x = u64::from_le_bytes(r[k * 16..k * 16 + 8].try_into().unwrap_or_default());
        let y = u64::from_le_bytes(r[k * 16 + 8..k * 16 + 16].try_into().unwrap_or_default());
        let at = (x % (v.len() as u64 - 100)) as usize;
        let n = 1 + (y % 64) as usize;
        match y % 3 {
            0 => {
                v.splice(at..at, std::iter::repeat_n(b'#', n));
            }
            1 => {
                v.drain(at..at + n);
            }
            _ => v[at..at + n].fill(b'!'),
        }
    }
    v
}

/// A dump of `rows` rows. Day 0 is the base. Day 1 ("uniform"): 0.5 % of
/// rows changed, 0.1 % deleted, 0.1 % inserted, spread over the whole dump
/// (a worst case). Day 2 ("typical"): 0.02 % of rows changed anywhere, 1 %
/// of the newest 50 000 rows changed, 2 000 rows appended.
fn dump(rows: usize, day: u64) -> Vec<u8> {
    let r = data::random(rows * 8, 5);
    let mut out = Vec::with_capacity(rows * 80);
    for i in 0..rows {
        let h = u64::from_le_bytes(r[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        let bucket = h % 1000;
        let bucket5 = h % 5000;
        if day == 1 && bucket < 1 {
            continue; // deleted row
        }
        let changed = (day == 1 && (1..6).contains(&bucket))
            || (day == 2 && (bucket5 == 1 || (i + 50_000 >= rows && bucket < 10)));
        out.extend_from_slice(
            format!(
                "INSERT INTO bugs VALUES ({i}, 'status-{}', 'assigned to user{}', {}, '{}');\n",
                if changed { "FIXED" } else { "open" },
                h % 97,
                h % 100_000,
                if changed { "2026-11-22" } else { "2026-11-21" }
            )
            .as_bytes(),
        );
        if day == 1 && bucket == 999 {
            out.extend_from_slice(
                format!("INSERT INTO bugs VALUES ({i}000, 'new', 'x', 0, '2026-11-22');\n")
                    .as_bytes(),
            );
        }
    }
    if day == 2 {
        for i in rows..rows + 2000 {
            out.extend_from_slice(format!("INSERT INTO bugs VALUES ({i}, 'new', 'assigned to user{}', 0, '2026-11-22');\n", i % 97).as_bytes());
        }
    }
    out
}

struct Row {
    name: String,
    mbps: f64,
    objects_per_gib: f64,
    image_added: u64,
    dump_added: u64,
    dump_typical_added: u64,
}

fn run(cfg: &ChunkerConfig, pool: &rayon::ThreadPool, v1: &[u8], v2: &[u8]) -> (f64, u64, u64) {
    let sink = MemSink::new(cfg.clone(), Compression::default());
    let t = Instant::now();
    pool.install(|| store_stream(&sink, cfg, &mut &v1[..], &|_| {}))
        .expect("store v1");
    let secs = t.elapsed().as_secs_f64();
    let after1 = sink.stats();
    pool.install(|| store_stream(&sink, cfg, &mut &v2[..], &|_| {}))
        .expect("store v2");
    let after2 = sink.stats();
    (
        v1.len() as f64 / 1e6 / secs,
        after1.objects_written,
        after2.bytes_written - after1.bytes_written,
    )
}

fn main() {
    let image1 = data::mixed(256 << 20, 11);
    let image2 = edit_image(&image1);
    let dump1 = dump(1_600_000, 0);
    let dump2 = dump(1_600_000, 1);
    let dump3 = dump(1_600_000, 2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let mut configs: Vec<(String, ChunkerConfig)> = [8, 16, 32, 64, 128]
        .iter()
        .map(|k| {
            (
                format!("fastcdc {k} KiB"),
                ChunkerConfig::fastcdc_with_avg(k << 10).expect("valid"),
            )
        })
        .collect();
    configs.push(("bup rollsum (8 KiB)".into(), ChunkerConfig::Bup));
    let mut rows = Vec::new();
    for (name, cfg) in &configs {
        let (mbps, objects, image_added) = run(cfg, &pool, &image1, &image2);
        let (_, _, dump_added) = run(cfg, &pool, &dump1, &dump2);
        let (_, _, dump_typical_added) = run(cfg, &pool, &dump1, &dump3);
        rows.push(Row {
            name: name.clone(),
            mbps,
            objects_per_gib: objects as f64 * (1u64 << 30) as f64 / image1.len() as f64,
            image_added,
            dump_added,
            dump_typical_added,
        });
    }
    println!(
        "image: {} MiB, 50 edits; dump: {:.0} MiB; 2 threads",
        image1.len() >> 20,
        dump1.len() as f64 / (1 << 20) as f64
    );
    println!(
        "| chunker | MB/s (first save, 2 threads) | objects per GiB | image: added by 50 edits | dump, typical day: added | dump, 0.7 % of rows changed uniformly: added |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.2} MB | {:.2} MB | {:.2} MB |",
            r.name,
            r.mbps,
            r.objects_per_gib,
            r.image_added as f64 / 1e6,
            r.dump_typical_added as f64 / 1e6,
            r.dump_added as f64 / 1e6
        );
    }
}
