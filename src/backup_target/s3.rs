//! Backups in an S3-compatible bucket (AWS, MinIO, Ceph RGW, Garage, ...).
//!
//! object_store's client is async; this target owns a small current-thread tokio
//! runtime and blocks on it, so callers use it like the local directory from a
//! `spawn_blocking` thread (never from inside an async task: blocking there panics).
//! Uploads stream as multipart uploads of [`PART_SIZE`] parts with at most
//! [`MAX_PARTS_IN_FLIGHT`] in flight, so memory stays bounded whatever the object's
//! size; an upload that fails midway is aborted, so no object (and no orphaned parts)
//! remain.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart};
use sha2::{Digest, Sha256};

use super::{ObjectInfo, Result, Stored, Target, TargetError, check_name};
use crate::secret::SecretString;

/// S3's minimum part size (except the last); bigger parts buy nothing for backups.
pub const PART_SIZE: usize = 5 * 1024 * 1024;
pub const MAX_PARTS_IN_FLIGHT: usize = 2;

/// Where and how to reach the bucket. `Debug` is safe: the keys print as a mask.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Custom endpoint (`https://s3.example.net`); none means AWS for `region`.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Key prefix inside the bucket (`outpost/host1`); empty for the bucket's root.
    pub prefix: String,
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`; most
    /// self-hosted stores need this.
    pub path_style: bool,
    /// Plain HTTP to the endpoint; only for a loopback test server.
    pub allow_http: bool,
    pub access_key_id: SecretString,
    pub secret_access_key: SecretString,
    pub connect_timeout: Duration,
    /// Per request; a part upload of PART_SIZE must fit in it on a slow link.
    pub request_timeout: Duration,
    /// Retries of a failed request (with backoff) before the operation fails.
    pub max_retries: usize,
}

impl S3Config {
    /// Defaults for the settings an operator rarely changes.
    pub fn new(
        bucket: impl Into<String>,
        access_key_id: SecretString,
        secret_access_key: SecretString,
    ) -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: bucket.into(),
            prefix: String::new(),
            path_style: false,
            allow_http: false,
            access_key_id,
            secret_access_key,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            max_retries: 3,
        }
    }
}

pub struct S3 {
    store: Arc<dyn ObjectStore>,
    runtime: Arc<tokio::runtime::Runtime>,
    bucket: String,
    prefix: String,
}

/// By hand: the client's own `Debug` prints the access key id.
impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl S3 {
    pub fn new(config: &S3Config) -> Result<Self> {
        install_tls_provider();
        let client = ClientOptions::new()
            .with_allow_http(config.allow_http)
            .with_connect_timeout(config.connect_timeout)
            .with_timeout(config.request_timeout);
        let retry = RetryConfig {
            max_retries: config.max_retries,
            retry_timeout: config.request_timeout,
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(config.access_key_id.expose())
            .with_secret_access_key(config.secret_access_key.expose())
            .with_virtual_hosted_style_request(!config.path_style)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        // The builder's error never contains the keys; it names the bad setting.
        let s3 = builder
            .build()
            .map_err(|e| TargetError::S3Config(e.to_string()))?;
        let prefix = config.prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TargetError::S3Config(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Self {
            store,
            runtime: Arc::new(runtime),
            bucket: config.bucket.clone(),
            prefix: prefix.to_owned(),
        })
    }

    fn err(&self, op: &'static str, name: &str, source: object_store::Error) -> TargetError {
        match source {
            object_store::Error::NotFound { .. } => TargetError::NotFound(name.to_owned()),
            source => TargetError::S3 {
                op,
                name: format!("s3://{}/{name}", self.bucket),
                cause: root_cause(&source),
            },
        }
    }

    async fn upload(
        &self,
        path: &Path,
        reader: &mut dyn Read,
    ) -> std::result::Result<Stored, PutError> {
        let upload = self
            .store
            .put_multipart(path)
            .await
            .map_err(PutError::Store)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        let outcome: std::result::Result<(), PutError> = async {
            loop {
                // A blocking read on the runtime's only thread: parts in flight wait
                // meanwhile, which bounds memory at the cost of some overlap.
                let n = match reader.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(PutError::Read(e)),
                };
                hasher.update(&buf[..n]);
                size += n as u64;
                writer.write(&buf[..n]);
                writer
                    .wait_for_capacity(MAX_PARTS_IN_FLIGHT)
                    .await
                    .map_err(PutError::Store)?;
            }
        }
        .await;
        match outcome {
            Ok(()) => {
                writer.finish().await.map_err(PutError::Store)?;
                Ok(Stored {
                    size,
                    sha256: hasher.finalize().into(),
                })
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(object = %path, error = %abort,
                        "could not abort the failed multipart upload; the bucket's lifecycle rule must remove its parts");
                }
                Err(e)
            }
        }
    }
}

/// reqwest is built without a crypto provider so that ring stays the tree's only one;
/// every reqwest client in the process (the tests' too) needs it installed first.
pub fn install_tls_provider() {
    // An Err means one is installed already, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// object_store nests the same request error several levels deep, each level
/// repeating the one below; the innermost says what actually went wrong (connection
/// refused, 403 with the store's message, timeout).
fn root_cause(error: &object_store::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

enum PutError {
    Read(io::Error),
    Store(object_store::Error),
}

impl Target for S3 {
    fn put(&self, name: &str, reader: &mut dyn Read) -> Result<Stored> {
        check_name(name)?;
        let path = Path::from(name);
        self.runtime
            .block_on(self.upload(&path, reader))
            .map_err(|e| match e {
                PutError::Read(source) => TargetError::Io {
                    op: "read the data for",
                    name: name.to_owned(),
                    source,
                },
                PutError::Store(source) => self.err("upload", name, source),
            })
    }

    fn get(&self, name: &str) -> Result<Box<dyn Read + Send>> {
        check_name(name)?;
        let result = self
            .runtime
            .block_on(self.store.get(&Path::from(name)))
            .map_err(|e| self.err("download", name, e))?;
        Ok(Box::new(StreamReader {
            runtime: self.runtime.clone(),
            stream: result.into_stream(),
            chunk: Bytes::new(),
        }))
    }

    fn head(&self, name: &str) -> Result<Option<ObjectInfo>> {
        check_name(name)?;
        match self.runtime.block_on(self.store.head(&Path::from(name))) {
            Ok(meta) => Ok(Some(ObjectInfo {
                name: name.to_owned(),
                size: meta.size,
                modified: SystemTime::from(meta.last_modified),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("head", name, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        // object_store lists by whole path segments; narrow to the string prefix here.
        let dir = prefix.rsplit_once('/').map(|(dir, _)| Path::from(dir));
        let mut objects = self
            .runtime
            .block_on(async {
                let mut out = Vec::new();
                let mut stream = self.store.list(dir.as_ref());
                while let Some(meta) = stream.next().await {
                    let meta = meta?;
                    out.push(ObjectInfo {
                        name: meta.location.to_string(),
                        size: meta.size,
                        modified: SystemTime::from(meta.last_modified),
                    });
                }
                Ok(out)
            })
            .map_err(|e| self.err("list", prefix, e))?;
        objects.retain(|o| o.name.starts_with(prefix));
        objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        match self.runtime.block_on(self.store.delete(&Path::from(name))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", name, e)),
        }
    }
}

/// A download as `Read`: pulls the next chunk from the body stream when the last one
/// is used up, so only one chunk is in memory.
struct StreamReader {
    runtime: Arc<tokio::runtime::Runtime>,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
