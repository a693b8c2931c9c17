//! `outpost backup run` to the local target on a generated ~1 GB database, next to
//! the plain `pg_dump -Fc | zstd -1 > file` and to `pg_dump -Fc --compress=0 | zstd -3`
//! (the same dump and compression outpost does, without its encryption, table checks
//! and read-back), all measured in the same run.
//!
//! The benchmark starts a PostgreSQL of its own, migrates a database, fills it with
//! audit-like rows (uuids, timestamps, text, jsonb, MACs, with indexes) until
//! `pg_database_size` is ~1 GB, then runs the commands in turn, 3 rounds each,
//! and reports per command the median/min/max wall time, the CPU time, the stored bytes
//! and the peak RSS, and the ratio of the medians (outpost / baseline). Performance is
//! a ratio against the baseline of the same run, never a timed assertion.
//!
//! The first baseline does different work on the same data: its pg_dump compresses with
//! zlib itself (`-Fc`'s default) before zstd sees the bytes; outpost dumps with
//! `--compress=0` into zstd and AES-256-GCM, counts and samples every table, and reads
//! each stored part back.
//!
//! `cargo bench --bench backup_run` (add `-- --quick` for ~64 MB and one round). Cargo
//! builds the release `outpost` binary for it. Needs the PostgreSQL server binaries and
//! `zstd` (both ensured by `tests/run.sh`).
//!
//! Peak RSS and CPU time: see `common/probe.rs`; the sampled peaks of the command and
//! of its descendants tell outpost's own peak from its pg_dump's.

#[path = "common/probe.rs"]
mod probe;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use probe::{Sample, measured, median};
use support::pg::{Cluster, Durability};

/// Rows of the first insert, which measures the size of a row.
const PROBE_ROWS: i64 = 20_000;
/// Most rows per `INSERT ... SELECT generate_series` statement (~110 MB).
const BATCH: i64 = 250_000;

/// The share of the target size filled with table rows before the indexes are built;
/// the indexes make up the rest.
const HEAP_SHARE: f64 = 0.78;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(exit) = probe::run_probe_if_asked(&args) {
        return exit;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (target, rounds) = if quick { (64 << 20, 1) } else { (1 << 30, 3) };
    bench(target, rounds);
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------------
// The database.

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

fn database_size(conn: &mut PgConnection) -> u64 {
    diesel::sql_query("SELECT pg_database_size(current_database()) AS bytes")
        .get_result::<Size>(conn)
        .expect("database size")
        .bytes as u64
}

fn execute(conn: &mut PgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Audit-like rows until the database is about `target` bytes; returns the row count.
/// Values mix what compresses well (repeated actors, actions, user agents, JSON keys)
/// with what does not (uuids, request ids, 32-byte MACs), as a real log does.
fn generate(conn: &mut PgConnection, target: u64) -> i64 {
    execute(
        conn,
        "CREATE TABLE bench_events (
            id bigint NOT NULL,
            event_id uuid NOT NULL,
            occurred_at timestamptz NOT NULL,
            actor text NOT NULL,
            action text NOT NULL,
            source_ip inet,
            user_agent text,
            message text NOT NULL,
            details jsonb NOT NULL,
            mac bytea NOT NULL
        )",
    );
    let insert = "INSERT INTO bench_events
        SELECT i,
               gen_random_uuid(),
               timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second'
                   + random() * interval '900 milliseconds',
               'user' || (i * 7919 % 97) || '@example.com',
               (ARRAY['sign_in', 'sign_out', 'credential.read', 'api_key.create',
                      'harden.apply', 'backup.run', 'user.invite', 'session.expire'])
                   [1 + i * 31 % 8],
               ('203.0.113.' || i % 251)::inet,
               (ARRAY['Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
                      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15',
                      'outpost-agent/0.1 (linux; x86_64)',
                      'curl/8.5.0'])[1 + i * 13 % 4],
               'request ' || (i * 2654435761 % 1000003) || ' from 203.0.113.' || i % 251
                   || ' answered in ' || (random() * 500)::int || ' ms',
               jsonb_build_object(
                   'request_id', md5(i::text),
                   'path', '/api/v1/credentials/' || i % 5000,
                   'status', (ARRAY[200, 200, 200, 201, 204, 401, 403, 404])[1 + i % 8],
                   'duration_ms', (random() * 500)::int,
                   'session', left(md5((i / 40)::text), 16)),
               sha256(int8send(i))
        FROM generate_series($1, $2) AS i";
    let insert = |conn: &mut PgConnection, from: i64, to: i64| {
        diesel::sql_query(insert)
            .bind::<BigInt, _>(from)
            .bind::<BigInt, _>(to)
            .execute(conn)
            .expect("insert rows");
    };
    let empty = database_size(conn);
    insert(conn, 1, PROBE_ROWS);
    let row_bytes = (database_size(conn) - empty) as f64 / PROBE_ROWS as f64;
    let rows = PROBE_ROWS.max(((target as f64 * HEAP_SHARE - empty as f64) / row_bytes) as i64);
    let mut done = PROBE_ROWS;
    while done < rows {
        let to = rows.min(done + BATCH);
        insert(conn, done + 1, to);
        done = to;
        eprint!(".");
    }
    eprintln!();
    for sql in [
        "ALTER TABLE bench_events ADD PRIMARY KEY (id)",
        "CREATE UNIQUE INDEX ON bench_events (event_id)",
        "CREATE INDEX ON bench_events (occurred_at)",
        "CREATE INDEX ON bench_events (actor, occurred_at)",
        // Set hint bits and freeze now, so the first dump does not pay for them, and
        // flush every dirty page so no checkpoint writes them during a timed run.
        "VACUUM (FREEZE, ANALYZE) bench_events",
        "CHECKPOINT",
    ] {
        execute(conn, sql);
    }
    rows
}

// ---------------------------------------------------------------------------------
// The run.

/// A TOML basic string.
fn toml_str(value: impl AsRef<str>) -> String {
    toml::Value::String(value.as_ref().to_owned()).to_string()
}

fn path_str(path: &Path) -> String {
    toml_str(path.to_str().expect("UTF-8 path"))
}

/// A config for the `outpost` binary: this database, the keys in `dir`, `data_dir`
/// (whose `backups/` is the `local` target) and no schedules, so nothing runs but
/// the backup asked for.
fn write_config(dir: &Path, url: &str, data_dir: &Path, pg_bin: &Path) -> PathBuf {
    let config = format!(
        "database_url = {}\n\
         data_dir = {}\n\
         vault_key_file = {}\n\
         audit_signing_key_file = {}\n\
         audit_checkpoint_file = {}\n\
         \n\
         [backup]\n\
         daily = \"\"\n\
         weekly = \"\"\n\
         monthly = \"\"\n\
         drill = false\n\
         pg_bin = {}\n",
        toml_str(url),
        path_str(data_dir),
        path_str(&dir.join("vault.key")),
        path_str(&dir.join("audit-signing.key")),
        path_str(&dir.join("checkpoints.log")),
        path_str(pg_bin),
    );
    let path = dir.join("outpost.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

/// The names in `dir` (none if it does not exist).
fn entries(dir: &Path) -> BTreeSet<OsString> {
    let names = std::fs::read_dir(dir).into_iter().flatten().flatten();
    names.map(|e| e.file_name()).collect()
}

/// Total size of the files under `dir` (0 if it does not exist).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// The first line `program VERSION_FLAG` prints.
fn tool_version(program: &Path, flag: &str) -> String {
    Command::new(program)
        .arg(flag)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_else(|| panic!("{} is missing (apt-get install it)", program.display()))
}

fn bench(target: u64, rounds: usize) {
    let outpost = Path::new(env!("CARGO_BIN_EXE_outpost"));
    let zstd = support::tools::find("zstd").expect("zstd is not installed: apt-get install zstd");
    // Only reading is measured: a durable cluster would just slow the generation down.
    let cluster = Cluster::start(Durability::Off);
    let pg_dump = cluster.bin_dir().join("pg_dump");
    let url = cluster.create_database("outpost_bench");
    let mut conn = PgConnection::establish(&url).expect("connect");
    outpost::db::migrate(&mut conn).expect("migrate");

    let work = tempfile::tempdir().expect("temp dir");
    let data_dir = work.path().join("data");
    std::fs::create_dir(&data_dir).expect("data dir");
    support::pg::write_test_keys(work.path(), "bench/backup");
    let config = write_config(work.path(), &url, &data_dir, cluster.bin_dir());
    let backups = data_dir.join("backups");

    eprint!("generating ~{} MiB ", target >> 20);
    let started = Instant::now();
    let rows = generate(&mut conn, target);
    let db_bytes = database_size(&mut conn);
    eprintln!(
        "database: {} rows, {:.1} MiB in {:.0?}",
        rows,
        mib(db_bytes),
        started.elapsed()
    );

    let baseline_file = work.path().join("baseline.dump.zst");
    // `dump_args` after -Fc, then zstd's level.
    let baseline = |dump_args: &str, level: &str| {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            // pipefail: a failing pg_dump must fail the run, not leave a short file.
            .arg(r#"set -o pipefail; "$1" -Fc $5 --dbname "$2" | "$3" "$6" -q -f -o "$4""#)
            .arg("baseline")
            .arg(&pg_dump)
            .arg(&url)
            .arg(&zstd)
            .arg(&baseline_file)
            .arg(dump_args)
            .arg(level);
        let mut sample = measured(&command, &[0]).unwrap_or_else(|e| panic!("{e}"));
        sample.stored_bytes = std::fs::metadata(&baseline_file)
            .expect("baseline output")
            .len();
        std::fs::remove_file(&baseline_file).expect("remove baseline output");
        sample
    };
    let backup = || {
        let before = entries(&backups);
        let mut command = Command::new(outpost);
        command
            .args(["backup", "run"])
            .env("OUTPOST_CONFIG", &config)
            .env("OUTPOST_LOG", "warn");
        let mut sample = measured(&command, &[0]).unwrap_or_else(|e| panic!("{e}"));
        // What the new backup's directory holds, whatever else the run removed.
        sample.stored_bytes = entries(&backups)
            .difference(&before)
            .map(|name| tree_bytes(&backups.join(name)))
            .sum();
        sample
    };

    let mut base_runs = Vec::new();
    let mut same_work_runs = Vec::new();
    let mut outpost_runs = Vec::new();
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        // The order turns every round, so drift of the machine (caches, other load)
        // weighs on every command alike.
        for slot in 0..3 {
            match (slot + round) % 3 {
                0 => base_runs.push(baseline("", "-1")),
                1 => same_work_runs.push(baseline("--compress=0", "-3")),
                _ => outpost_runs.push(backup()),
            }
        }
    }

    println!(
        "database {:.1} MiB (pg_database_size), {rows} audit-like rows; {}; zstd {}; {rounds} round(s)",
        mib(db_bytes),
        tool_version(&pg_dump, "--version"),
        tool_version(&zstd, "-qV"),
    );
    println!(
        "{:<24} {:>8} {:>7} {:>7} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "(medians; min/max wall)",
        "wall s",
        "min",
        "max",
        "CPU s",
        "stored MiB",
        "peak RSS",
        "top proc",
        "children",
    );
    report("pg_dump -Fc | zstd -1", &base_runs);
    report("-Fc -Z0 | zstd -3", &same_work_runs);
    report("outpost backup run", &outpost_runs);
    let ours = median(&outpost_runs);
    for (what, base) in [
        ("pg_dump -Fc | zstd -1", median(&base_runs)),
        (
            "pg_dump -Fc --compress=0 | zstd -3",
            median(&same_work_runs),
        ),
    ] {
        println!(
            "outpost / {what}: wall time x{:.2}, CPU time x{:.2}, stored bytes x{:.2}, peak RSS x{:.2}",
            ours.wall / base.wall,
            ours.cpu / base.cpu,
            ours.stored_bytes as f64 / base.stored_bytes as f64,
            ours.tree_kib as f64 / base.tree_kib as f64,
        );
    }
    println!(
        "pg_dump -Fc compresses with zlib; outpost runs pg_dump --compress=0 into zstd -{} \
         as the second baseline does, and adds AES-256-GCM, table counts and samples, and \
         reading every part back: its cost over that baseline",
        outpost::backup::pipeline::DEFAULT_ZSTD_LEVEL
    );
    println!(
        "peak RSS: the largest process of each command's tree (getrusage); top process \
         (bash / outpost) and children (pg_dump, zstd) sampled every 10 ms"
    );
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn report(what: &str, runs: &[Sample]) {
    let walls = runs.iter().map(|s| s.wall);
    let min = walls.clone().fold(f64::INFINITY, f64::min);
    let max = walls.fold(0.0, f64::max);
    let m = median(runs);
    let kib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    println!(
        "{what:<24} {:>8.2} {min:>7.2} {max:>7.2} {:>7.2} {:>10.1} {:>10} {:>10} {:>10}",
        m.wall,
        m.cpu,
        mib(m.stored_bytes),
        kib(runs.iter().map(|s| s.tree_kib).max().unwrap_or(0)),
        kib(runs.iter().map(|s| s.top_kib).max().unwrap_or(0)),
        kib(runs.iter().map(|s| s.descendants_kib).max().unwrap_or(0)),
    );
}
