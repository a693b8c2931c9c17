//! The backup file format: compressed, encrypted, authenticated streams and their manifest.

pub mod header;
pub mod key;
pub mod manifest;
pub mod pipeline;
pub mod schedule;
pub mod settings;
pub mod stream;

#[cfg(test)]
mod stream_tests;
