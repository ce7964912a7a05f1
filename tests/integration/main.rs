//! Integration tests (filled in with the features).

mod chunk_vs_bup;
