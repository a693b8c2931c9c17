//! A real `pg_dump -Fc` through the backup pipeline (zstd, STREAM encryption) to a file
//! and back into `pg_restore --list`, with the manifest entry it produced.

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::process::{Command, Stdio};

use outpost::backup::key::BackupKey;
use outpost::backup::manifest::{MANIFEST_VERSION, Manifest};
use outpost::backup::pipeline::{BackupReader, BackupWriter, DEFAULT_ZSTD_LEVEL};
use outpost::backup::stream::StreamError;
use sha2::{Digest, Sha256};

use crate::support::pg::TestDb;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

#[test]
fn pg_dump_round_trips_through_the_encrypted_pipeline() {
    let db = TestDb::new();
    // Enough rows that the dump spans many 64 KiB chunks even after compression.
    db.execute(
        "CREATE TABLE backup_probe AS SELECT g AS id, md5(g::text) AS digest \
         FROM generate_series(1, 50000) g",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("database.dump.zst.enc");
    let key = BackupKey::generate("backup-test").unwrap();

    let mut dump = Command::new(format!("{PG_BIN}/pg_dump"))
        .args(["-Fc", "--dbname", &db.url])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run pg_dump");
    let sink = BufWriter::new(File::create(&path).unwrap());
    let mut writer = BackupWriter::new(sink, &key, DEFAULT_ZSTD_LEVEL).unwrap();
    io::copy(&mut dump.stdout.take().unwrap(), &mut writer).unwrap();
    assert!(dump.wait().unwrap().success(), "pg_dump failed");
    let (sink, part) = writer.finish("database.dump").unwrap();
    sink.into_inner().unwrap().sync_all().unwrap();

    let stored = std::fs::read(&path).unwrap();
    assert_eq!(part.stored_size, stored.len() as u64);
    assert_eq!(part.sha256, format!("{:x}", Sha256::digest(&stored)));
    assert!(
        part.plaintext_size > 64 * 1024,
        "dump of {} bytes",
        part.plaintext_size
    );
    assert!(
        !contains(&stored, b"backup_probe"),
        "table name visible in the stored file"
    );

    let manifest = Manifest {
        version: MANIFEST_VERSION,
        backup_id: uuid::Uuid::new_v4(),
        created_at: time::OffsetDateTime::now_utc(),
        key_id: key.id().to_owned(),
        outpost_version: env!("CARGO_PKG_VERSION").to_owned(),
        pg_dump_version: tool_version("pg_dump"),
        server_version: "15".to_owned(),
        parts: vec![part.clone()],
        tables: Vec::new(),
        content_key: None,
    };
    let signed = manifest.sign(&key).unwrap();
    assert_eq!(
        Manifest::verify(&signed, &key).unwrap().parts,
        vec![part.clone()]
    );

    // Decrypted to a file as a restore would (pg_restore wants to seek a custom dump),
    // and read to the end so the final chunk is verified.
    let restored = dir.path().join("database.dump");
    let mut reader = BackupReader::new(File::open(&path).unwrap(), &key).unwrap();
    let plain = io::copy(&mut reader, &mut File::create(&restored).unwrap()).unwrap();
    assert_eq!(plain, part.plaintext_size);
    let out = Command::new(format!("{PG_BIN}/pg_restore"))
        .arg("--list")
        .arg(&restored)
        .output()
        .expect("run pg_restore");
    assert!(out.status.success(), "pg_restore --list failed");
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        listing.contains("TABLE DATA public backup_probe"),
        "{listing}"
    );
    assert!(listing.contains("TABLE public audit_leaves"), "{listing}");

    // The same file cut short fails rather than restoring part of the data.
    let cut = &stored[..stored.len() - 70_000];
    let err = BackupReader::new(cut, &key)
        .unwrap()
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert!(StreamError::from_io(&err).is_some(), "{err}");
}

fn tool_version(tool: &str) -> String {
    let out = Command::new(format!("{PG_BIN}/{tool}"))
        .arg("--version")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
