//! Backup targets against real storage: a directory, and a real S3 API (moto).

use std::io::{self, Read};
use std::time::{Duration, Instant};

use outpost::backup_target::{LocalDir, MANIFEST, S3, S3Config, Stored, Target, TargetError};
use outpost::secret::SecretString;
use sha2::{Digest, Sha256};

use crate::support::s3::{BUCKET, MotoServer};
use crate::support::{canary, logs};

const MIB: u64 = 1024 * 1024;

/// `len` pseudo-random bytes produced as they are read (xorshift), never held whole;
/// fails with an I/O error after `fail_at` bytes when set.
struct RandomStream {
    state: u64,
    left: u64,
    fail_at: Option<u64>,
    sent: u64,
}

impl RandomStream {
    fn new(seed: u64, len: u64) -> Self {
        Self {
            state: seed | 1,
            left: len,
            fail_at: None,
            sent: 0,
        }
    }

    fn failing_after(mut self, at: u64) -> Self {
        self.fail_at = Some(at);
        self
    }

    /// What `put` must report for this stream.
    fn expected(seed: u64, len: u64) -> Stored {
        let mut hasher = Sha256::new();
        let size = io::copy(
            &mut RandomStream::new(seed, len),
            &mut HashWriter(&mut hasher),
        )
        .unwrap();
        Stored {
            size,
            sha256: hasher.finalize().into(),
        }
    }
}

impl Read for RandomStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at.is_some_and(|at| self.sent >= at) {
            return Err(io::Error::other("producer died"));
        }
        let n = buf.len().min(self.left as usize).min(64 * 1024);
        for byte in &mut buf[..n] {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *byte = self.state as u8;
        }
        self.left -= n as u64;
        self.sent += n as u64;
        Ok(n)
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn round_trip(target: &dyn Target) {
    let len = 20 * MIB;
    let started = Instant::now();
    let stored = target
        .put("rt/data.bin", &mut RandomStream::new(7, len))
        .unwrap();
    let put_time = started.elapsed();
    assert_eq!(stored, RandomStream::expected(7, len));
    let started = Instant::now();
    target.verify("rt/data.bin", &stored).unwrap();
    let debug = format!("{target:?}");
    assert!(
        !debug.contains("AKIDTEST") && !debug.contains("s3-secret-key"),
        "{debug}"
    );
    // Peak memory of this test process (the S3 server is another process); alone
    // (`--test-threads=1`) it shows the upload and download stream: about 37 MB for
    // S3 at 20 MiB and at 100 MiB alike, 17 MB for the directory.
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    eprintln!(
        "{debug}: put 20 MiB in {put_time:?}, verified in {:?}; {peak}",
        started.elapsed()
    );
    assert_eq!(target.head("rt/data.bin").unwrap().unwrap().size, len);
    assert!(target.head("rt/missing.bin").unwrap().is_none());
    assert!(matches!(
        target.get("rt/missing.bin"),
        Err(TargetError::NotFound(_))
    ));
    target.delete("rt/data.bin").unwrap();
    assert!(target.head("rt/data.bin").unwrap().is_none());
}

/// `overwrite` replaces an object's bytes behind the target's back.
fn verify_catches_damage(target: &dyn Target, overwrite: &dyn Fn(&str, Vec<u8>)) {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let stored = target.put("vf/db.dump", &mut &data[..]).unwrap();
    target.verify("vf/db.dump", &stored).unwrap();

    let mut flipped = data.clone();
    flipped[50_000] ^= 1;
    overwrite("vf/db.dump", flipped);
    let err = target.verify("vf/db.dump", &stored).unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");

    overwrite("vf/db.dump", data[..60_000].to_vec());
    let err = target.verify("vf/db.dump", &stored).unwrap_err();
    assert!(
        err.to_string()
            .contains("stored size 60000 bytes, sent 100000 bytes"),
        "{err}"
    );

    target.delete("vf/db.dump").unwrap();
    let err = target.verify("vf/db.dump", &stored).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

fn manifest_last_and_cleanup(target: &dyn Target) {
    target.put("b1/db.dump", &mut &b"db"[..]).unwrap();
    target.put("b2/db.dump", &mut &b"db"[..]).unwrap();
    assert!(
        target.complete_backups().unwrap().is_empty(),
        "no manifest yet"
    );
    target
        .put(&format!("b1/{MANIFEST}"), &mut &b"{}"[..])
        .unwrap();
    assert_eq!(target.complete_backups().unwrap(), ["b1"]);

    // b2 was just written: a backup possibly still in progress is left alone.
    assert!(
        target
            .cleanup_partial(Duration::from_secs(3600))
            .unwrap()
            .is_empty()
    );
    assert_eq!(target.cleanup_partial(Duration::ZERO).unwrap(), ["b2"]);
    assert!(target.list("b2/").unwrap().is_empty());
    let b1: Vec<_> = target
        .list("b1/")
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(b1, ["b1/db.dump", "b1/manifest.json"]);
    assert_eq!(target.complete_backups().unwrap(), ["b1"]);
}

/// A producer that dies halfway through (a killed pg_dump) leaves nothing listed.
fn failed_upload_leaves_nothing(target: &dyn Target) {
    let mut reader = RandomStream::new(3, 20 * MIB).failing_after(12 * MIB);
    let err = target.put("kd/db.dump", &mut reader).unwrap_err();
    assert!(err.to_string().contains("producer died"), "{err}");
    assert!(target.list("kd/").unwrap().is_empty());
    assert!(
        !target
            .complete_backups()
            .unwrap()
            .contains(&"kd".to_owned())
    );
    assert_eq!(
        target.cleanup_partial(Duration::ZERO).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn local_dir_target() {
    logs::init();
    let dir = tempfile::tempdir().unwrap();
    let target = LocalDir::in_data_dir(dir.path()).unwrap();
    round_trip(&target);
    let root = target.root().to_owned();
    verify_catches_damage(&target, &|name, bytes| {
        std::fs::write(root.join(name), bytes).unwrap()
    });
    manifest_last_and_cleanup(&target);
    failed_upload_leaves_nothing(&target);
    // Nothing of the failed write is left on disk either.
    assert!(std::fs::read_dir(root.join("kd")).unwrap().next().is_none());
}

fn s3_config(endpoint: String) -> S3Config {
    logs::init();
    let mut config = S3Config::new(
        BUCKET,
        SecretString::new(canary::secret("AKIDTEST")),
        SecretString::new(canary::secret("s3-secret-key")),
    );
    config.endpoint = Some(endpoint);
    config.path_style = true;
    config.allow_http = true;
    config.prefix = "hosts/test".into();
    config.connect_timeout = Duration::from_secs(1);
    config.request_timeout = Duration::from_secs(30);
    config.max_retries = 0;
    config
}

#[test]
fn s3_target() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let config = s3_config(moto.endpoint());
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("s3-secret-key") && !debug.contains("AKIDTEST"),
        "{debug}"
    );
    let target = S3::new(&config).unwrap();
    round_trip(&target);
    verify_catches_damage(&target, &|name, bytes| {
        // A second client, so the target under test sees nothing of the change.
        S3::new(&config)
            .unwrap()
            .put(name, &mut &bytes[..])
            .unwrap();
    });
    manifest_last_and_cleanup(&target);
    failed_upload_leaves_nothing(&target);
    // The multipart upload was aborted: no parts linger in the bucket.
    let (status, body) = moto.raw("GET", &format!("/{BUCKET}?uploads")).unwrap();
    assert_eq!(status, 200);
    assert!(!body.contains("<UploadId>"), "upload left behind: {body}");
    // Objects live under the configured prefix.
    let (_, body) = moto
        .raw(
            "GET",
            &format!("/{BUCKET}?list-type=2&prefix=hosts/test/b1/"),
        )
        .unwrap();
    assert!(body.contains("hosts/test/b1/manifest.json"), "{body}");
}

#[test]
fn s3_unreachable_endpoint_fails_fast_and_clearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = S3::new(&s3_config(format!("http://127.0.0.1:{port}"))).unwrap();
    let started = Instant::now();
    let err = target.put("x/db.dump", &mut &b"data"[..]).unwrap_err();
    let elapsed = started.elapsed();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("unreachable endpoint after {elapsed:?}: {text}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(
        text.starts_with("S3 upload s3://outpost-test/x/db.dump failed"),
        "{text}"
    );
    assert!(
        !text.contains("s3-secret-key") && !text.contains("AKIDTEST"),
        "{text}"
    );
    assert!(target.list("").is_err());
}

/// A server that accepts the connection but never answers: the request timeout, not
/// the OS's, decides how long an upload hangs.
#[test]
fn s3_silent_endpoint_times_out() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = s3_config(format!("http://{}", silent.local_addr().unwrap()));
    config.request_timeout = Duration::from_secs(2);
    let target = S3::new(&config).unwrap();
    let started = Instant::now();
    let err = target.list("").unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("silent endpoint after {elapsed:?}: {err}");
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert!(err.to_string().starts_with("S3 list"), "{err}");
}

/// The way the server uses it: from a blocking-pool thread of the app's runtime (the
/// target's own runtime must not clash with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_target_works_from_spawn_blocking() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = s3_config(format!("http://127.0.0.1:{port}"));
    let result = tokio::task::spawn_blocking(move || {
        let target = S3::new(&config).unwrap();
        target.list("").map(|_| ()).map_err(|e| e.to_string())
    })
    .await
    .expect("no panic on the blocking thread");
    assert!(result.unwrap_err().contains("Connection refused"));
}

#[test]
fn root_writes_objects_the_data_directory_owner_can_read() {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: ownership hand-over (needs root)");
        return;
    }
    // The data directory belongs to the service user; root runs `outpost backup`.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    let target = LocalDir::in_data_dir(&data).unwrap();
    target
        .put("b1/part", &mut io::Cursor::new(b"backup"))
        .unwrap();
    for path in [
        target.root().to_owned(),
        target.root().join("b1"),
        target.root().join("b1/part"),
    ] {
        let meta = path.metadata().unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "{}",
            path.display()
        );
    }
    // Where root owns the directory above, root keeps what it writes.
    let own = LocalDir::new(dir.path().join("root-owned/backups")).unwrap();
    own.put("b2/part", &mut io::Cursor::new(b"x")).unwrap();
    assert_eq!(own.root().join("b2/part").metadata().unwrap().uid(), 0);
}
