//! Integration tests (filled in with the features).
