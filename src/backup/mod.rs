//! Backups: the file format (compressed, encrypted, authenticated streams and their
//! manifest), taking one ([`create`]), reading one back ([`restore`], [`catalog`]),
//! retention ([`retention`]) and how the server runs them ([`runs`]).

pub mod catalog;
pub mod create;
pub mod download;
pub mod drills;
pub mod error;
pub mod header;
pub mod jobs;
pub mod key;
pub mod manifest;
pub mod pipeline;
pub mod producer;
pub mod prune;
pub mod recipient;
pub mod recover;
pub mod restore;
pub mod retention;
pub mod runs;
pub mod schedule;
pub mod scheduled;
pub mod settings;
pub mod status;
pub mod stream;
pub mod tables;
pub mod targets;

#[cfg(test)]
mod stream_tests;
