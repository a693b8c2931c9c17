//! The cost of encrypting backups: plaintext MB/s of the write pipeline (zstd level 3 →
//! AES-256-GCM STREAM → SHA-256 of the stored bytes) against zstd alone, and of the
//! read pipeline against unzstd alone, on pg_dump-like text (COPY rows). Reported with
//! the ratio between the two and the compression ratio.
//!
//! `cargo bench --bench backup_stream` (256 MiB; `-- --quick` for 32 MiB).

use std::io::{self, Read, Write};
use std::time::Instant;

use outpost::backup::key::BackupKey;
use outpost::backup::pipeline::{BackupReader, BackupWriter, DEFAULT_ZSTD_LEVEL};

/// Larger than zstd's level-3 window (2 MiB), so repeating it adds no easy matches.
const BLOCK: usize = 16 << 20;

/// COPY-format rows as in a dump's data section: ids, hex digests, timestamps, words.
fn dump_like(len: usize) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "sign_in",
        "sign_out",
        "credential.read",
        "api_key.create",
        "harden.apply",
        "backup.run",
        "owner",
        "admin",
        "viewer",
        "203.0.113.7",
        "ok",
        "denied",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::with_capacity(len + 256);
    let mut id = 0u64;
    while out.len() < len {
        id += 1;
        let (a, b) = (next(), next());
        let w = |n: u64| WORDS[(n % WORDS.len() as u64) as usize];
        writeln!(
            out,
            "{id}\t{a:016x}{b:016x}\t2026-11-{:02} {:02}:{:02}:{:02}+00\t{}\t{}\t{}",
            1 + a % 28,
            a % 24,
            b % 60,
            (a >> 8) % 60,
            w(a >> 16),
            w(b >> 16),
            w(a >> 32)
        )
        .unwrap();
    }
    out.truncate(len);
    out
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / (1 << 20) as f64 / secs
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let total: usize = if quick { 32 << 20 } else { 256 << 20 };
    let block = dump_like(BLOCK);
    let key = BackupKey::generate("bench").unwrap();

    let t = Instant::now();
    let mut zstd_only = zstd::stream::write::Encoder::new(Vec::new(), DEFAULT_ZSTD_LEVEL).unwrap();
    for _ in 0..total / BLOCK {
        zstd_only.write_all(&block).unwrap();
    }
    let compressed = zstd_only.finish().unwrap();
    let zstd_write = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut writer = BackupWriter::new(Vec::new(), &key, DEFAULT_ZSTD_LEVEL).unwrap();
    for _ in 0..total / BLOCK {
        writer.write_all(&block).unwrap();
    }
    let (stored, part) = writer.finish("bench").unwrap();
    let full_write = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut plain = zstd::stream::read::Decoder::new(&compressed[..]).unwrap();
    let n = io::copy(&mut plain, &mut io::sink()).unwrap();
    let zstd_read = t.elapsed().as_secs_f64();
    assert_eq!(n as usize, total);

    let t = Instant::now();
    let mut reader = BackupReader::new(&stored[..], &key).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0;
    loop {
        match reader.read(&mut buf).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    let full_read = t.elapsed().as_secs_f64();
    assert_eq!(n, total);

    println!(
        "{} MiB of dump-like text, compressed {:.1}x ({} -> {} bytes stored, {:+} bytes of framing)",
        total >> 20,
        total as f64 / part.stored_size as f64,
        total,
        part.stored_size,
        part.stored_size as i64 - compressed.len() as i64,
    );
    let row = |what: &str, base: f64, full: f64| {
        println!(
            "{what:<6} zstd alone {:>7.1} MB/s   zstd+AES-GCM {:>7.1} MB/s   cost x{:.2}",
            mbps(total, base),
            mbps(total, full),
            full / base
        );
    };
    row("write", zstd_write, full_write);
    row("read", zstd_read, full_read);
}
