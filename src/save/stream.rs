//! Storing one byte stream (a file's content, or `split`'s input) as blobs
//! arranged in bup's chunk tree.
//!
//! The hot path: the chunker cuts one read-block while rayon hashes and
//! compresses the chunks of the previous block (`rayon::join`), so reading,
//! chunking, hashing and compressing overlap. At most two blocks are held
//! at once, whatever the stream's size.

use crate::chunk::{Block, Chunker, ChunkerConfig, FanoutBuilder, fanout_level_from_id};
use crate::object::MODE_TREE;
use crate::oid::{ObjectId, ObjectKind};
use crate::pack::encode_object_with_id;
use crate::repo::sink::{ObjectSink, SinkError, store};
use rayon::prelude::*;
use std::io::Read;

/// Errors storing a stream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the input failed.
    #[error("read error: {0}")]
    Read(#[source] std::io::Error),
    /// Writing to the repository failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Streams expected to be at most this long are stored without overlapping
/// reads and hashing (they fit in one read block).
const SMALL_STREAM: u64 = 1 << 20;

/// What was stored for a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// `MODE_FILE` for a single blob, `MODE_TREE` for a chunk tree.
    pub git_mode: u32,
    /// Blob or chunk-tree id.
    pub id: ObjectId,
    /// Bytes read.
    pub size: u64,
}

impl Stored {
    /// Whether the content is a chunk tree (its tree entry name gets `.bup`).
    pub fn chunked(&self) -> bool {
        self.git_mode == MODE_TREE
    }
}

/// Hash, dedup-check, compress and store every chunk of a block; returns
/// (id, length, level) per chunk, in order.
fn store_block(
    sink: &dyn ObjectSink,
    block: &Block,
) -> Result<Vec<(ObjectId, u64, u8)>, SinkError> {
    let compression = sink.compression();
    let work = |span: &crate::chunk::ChunkSpan| -> Result<(ObjectId, u64, u8), SinkError> {
        let data = &block.data[span.start..span.end];
        let id = ObjectId::hash_object(ObjectKind::Blob, data);
        if !sink.contains(&id) {
            sink.put(encode_object_with_id(
                id,
                ObjectKind::Blob,
                data,
                compression,
            ))?;
        }
        let level = span.level.unwrap_or_else(|| fanout_level_from_id(&id));
        Ok((id, data.len() as u64, level))
    };
    if block.chunks.len() <= 1 {
        return block.chunks.iter().map(work).collect();
    }
    block.chunks.par_iter().map(work).collect()
}

/// Feeds stored chunks into the chunk-tree builder.
struct Tree<'a> {
    sink: &'a dyn ObjectSink,
    fanout: FanoutBuilder,
    size: u64,
}

impl Tree<'_> {
    fn add(&mut self, chunks: Vec<(ObjectId, u64, u8)>) -> Result<(), SinkError> {
        let sink = self.sink;
        let mut store_tree = |body: Vec<u8>| store(sink, ObjectKind::Tree, &body);
        for (id, len, level) in chunks {
            self.size += len;
            self.fanout.push(id, len, level, &mut store_tree)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Stored, SinkError> {
        let sink = self.sink;
        let mut store_tree = |body: Vec<u8>| store(sink, ObjectKind::Tree, &body);
        let (git_mode, id, _) = self.fanout.finish(&mut store_tree)?;
        if self.size == 0 {
            // No chunks: the empty blob, which must exist in the repository.
            store(sink, ObjectKind::Blob, b"")?;
        }
        Ok(Stored {
            git_mode,
            id,
            size: self.size,
        })
    }
}

/// Store several readers as one concatenated stream (bup `split` without
/// `--keep-boundaries`: each reader is read in its own blocks, chunks run on
/// across reader boundaries).
pub fn store_streams(
    sink: &dyn ObjectSink,
    readers: &mut dyn Iterator<Item = Result<Box<dyn Read + Send>, std::io::Error>>,
    progress: &dyn Fn(u64),
) -> Result<Stored, Error> {
    let mut chunker = Chunker::new(sink.chunker());
    let mut tree = Tree {
        sink,
        fanout: FanoutBuilder::new(),
        size: 0,
    };
    for reader in readers {
        let mut reader = reader.map_err(Error::Read)?;
        pump(sink, &mut chunker, &mut *reader, &mut tree, progress)?;
    }
    if let Some(last) = chunker.finish() {
        tree.add(store_block(sink, &last)?)?;
        progress(last.data.len() as u64);
    }
    Ok(tree.finish()?)
}

/// Store one reader's content.
pub fn store_stream(
    sink: &dyn ObjectSink,
    chunker_cfg: &ChunkerConfig,
    reader: &mut (dyn Read + Send),
    progress: &dyn Fn(u64),
) -> Result<Stored, Error> {
    store_sized(sink, chunker_cfg, reader, None, progress)
}

/// [`store_stream`] for input of about `size_hint` bytes (a file's size),
/// which sizes the read buffer to it.
pub fn store_sized(
    sink: &dyn ObjectSink,
    chunker_cfg: &ChunkerConfig,
    reader: &mut (dyn Read + Send),
    size_hint: Option<u64>,
    progress: &dyn Fn(u64),
) -> Result<Stored, Error> {
    let mut chunker = Chunker::new(chunker_cfg);
    if let Some(h) = size_hint {
        chunker = chunker.with_size_hint(h);
        if h <= SMALL_STREAM {
            // One block at most: nothing to overlap, so no rayon::join (it
            // would wake the pool's threads for each of many small files).
            let mut tree = Tree {
                sink,
                fanout: FanoutBuilder::new(),
                size: 0,
            };
            while let Some(block) = chunker
                .next_block(&mut ReadRef(reader))
                .map_err(Error::Read)?
            {
                tree.add(store_block(sink, &block)?)?;
                progress(block.data.len() as u64);
            }
            if let Some(last) = chunker.finish() {
                tree.add(store_block(sink, &last)?)?;
                progress(last.data.len() as u64);
            }
            return Ok(tree.finish()?);
        }
    }
    let mut tree = Tree {
        sink,
        fanout: FanoutBuilder::new(),
        size: 0,
    };
    pump(sink, &mut chunker, reader, &mut tree, progress)?;
    if let Some(last) = chunker.finish() {
        tree.add(store_block(sink, &last)?)?;
        progress(last.data.len() as u64);
    }
    Ok(tree.finish()?)
}

/// Read `reader` to its end, storing complete chunks; the pending tail
/// stays in `chunker`. Block k is stored while block k+1 is read and cut.
fn pump(
    sink: &dyn ObjectSink,
    chunker: &mut Chunker,
    reader: &mut (dyn Read + Send),
    tree: &mut Tree<'_>,
    progress: &dyn Fn(u64),
) -> Result<(), Error> {
    let mut current = chunker
        .next_block(&mut ReadRef(reader))
        .map_err(Error::Read)?;
    while let Some(block) = current {
        let (stored, next) = rayon::join(
            || store_block(sink, &block),
            || chunker.next_block(&mut ReadRef(reader)),
        );
        tree.add(stored?)?;
        progress(block.data.len() as u64);
        chunker.recycle(block.data);
        current = next.map_err(Error::Read)?;
    }
    Ok(())
}

/// `&mut dyn Read` as a sized `Read` (the chunker is generic over readers).
struct ReadRef<'a>(&'a mut (dyn Read + Send));

impl Read for ReadRef<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}
