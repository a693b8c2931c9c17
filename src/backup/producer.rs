//! Turning what a backup stores (a pg_dump child's output, a tar stream built on a
//! thread, bytes in memory) into the encrypted stream a target uploads.
//!
//! Targets pull (`Read`), the compressor and cipher push (`Write`). [`Encrypted`] joins
//! them without a thread or an unbounded buffer: each read pulls one block from the
//! source, pushes it through the [`BackupWriter`] and hands out what came out.
//!
//! A producer's end of data is believed only if the producer succeeded: a pg_dump that
//! exits non-zero or a tar thread that failed turns its EOF into an error, so a target
//! aborts the upload instead of storing a stream that merely looks finished.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdout};
use std::rc::Rc;
use std::thread::JoinHandle;

use super::key::BackupKey;
use super::manifest::Part;
use super::pipeline::BackupWriter;

const BLOCK: usize = 64 * 1024;

/// Where the writer's output waits to be read: at most one block's worth of
/// compressed ciphertext at a time.
#[derive(Debug, Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts the plaintext bytes read from a source, for progress reports.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// The encrypted form of `source`, read on demand.
pub struct Encrypted<'p, R: Read> {
    source: R,
    writer: Option<BackupWriter<Shared>>,
    out: Shared,
    pos: usize,
    name: String,
    part: Option<Part>,
    block: Vec<u8>,
    progress: Progress<'p>,
}

impl<'p, R: Read> Encrypted<'p, R> {
    pub fn new(
        source: R,
        name: &str,
        key: &BackupKey,
        zstd_level: i32,
        progress: Progress<'p>,
    ) -> io::Result<Self> {
        let out = Shared::default();
        let writer = BackupWriter::new(out.clone(), key, zstd_level)?;
        Ok(Self {
            source,
            writer: Some(writer),
            out,
            pos: 0,
            name: name.to_owned(),
            part: None,
            block: vec![0; BLOCK],
            progress,
        })
    }

    /// The manifest entry, once the whole stream has been read.
    pub fn part(&self) -> Option<&Part> {
        self.part.as_ref()
    }

    /// Pulls one block from the source through the writer; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(false);
        };
        let n = loop {
            match self.source.read(&mut self.block) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n > 0 {
            writer.write_all(&self.block[..n])?;
            (self.progress)(n as u64);
        } else {
            let writer = self.writer.take().expect("checked above");
            let (_, part) = writer.finish(self.name.clone())?;
            self.part = Some(part);
        }
        Ok(true)
    }
}

impl<R: Read> Read for Encrypted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut out = self.out.0.borrow_mut();
                if self.pos < out.len() {
                    let n = buf.len().min(out.len() - self.pos);
                    buf[..n].copy_from_slice(&out[self.pos..self.pos + n]);
                    self.pos += n;
                    if self.pos == out.len() {
                        out.clear();
                        self.pos = 0;
                    }
                    return Ok(n);
                }
            }
            if !self.refill()? {
                return Ok(0);
            }
        }
    }
}

impl<R: Read> std::fmt::Debug for Encrypted<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypted")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A child process's stdout whose EOF counts only if the child exits 0; its stderr's
/// first line becomes the error otherwise.
#[derive(Debug)]
pub struct ChildOutput {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<String>>,
    what: &'static str,
    done: bool,
}

impl ChildOutput {
    /// Takes over `child`, which must have been spawned with piped stdout and stderr.
    pub fn new(mut child: Child, what: &'static str) -> io::Result<Self> {
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr"))?;
        // Drained on its own thread so a chatty child can never block on a full pipe.
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_string(&mut text);
            let _ = io::copy(&mut stderr, &mut io::sink());
            text
        });
        Ok(Self {
            child,
            stdout,
            stderr: Some(stderr),
            what,
            done: false,
        })
    }

    fn finish(&mut self) -> io::Result<()> {
        let status = self.child.wait()?;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        Err(io::Error::other(format!(
            "{} failed ({status}): {}",
            self.what,
            first.trim()
        )))
    }
}

impl Read for ChildOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.finish()?;
            self.done = true;
        }
        Ok(n)
    }
}

impl Drop for ChildOutput {
    /// An upload that failed midway must not leave the child running.
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The reading end of a pipe fed by a thread; EOF counts only if the thread succeeded.
#[derive(Debug)]
pub struct ThreadOutput {
    reader: io::PipeReader,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ThreadOutput {
    /// Runs `produce` on a thread, writing into a pipe this reads from.
    pub fn spawn(
        produce: impl FnOnce(&mut io::PipeWriter) -> io::Result<()> + Send + 'static,
    ) -> io::Result<Self> {
        let (reader, mut writer) = io::pipe()?;
        let thread = std::thread::spawn(move || produce(&mut writer));
        Ok(Self {
            reader,
            thread: Some(thread),
        })
    }
}

impl Read for ThreadOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        if n == 0
            && !buf.is_empty()
            && let Some(thread) = self.thread.take()
        {
            thread
                .join()
                .map_err(|_| io::Error::other("the producing thread panicked"))??;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;
    use crate::backup::pipeline::BackupReader;

    fn key() -> BackupKey {
        BackupKey::generate("test").unwrap()
    }

    #[test]
    fn the_pulled_stream_decrypts_to_the_source() {
        let key = key();
        let data: Vec<u8> = (0..1_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut seen = 0;
        let mut progress = |n| seen += n;
        let mut enc = Encrypted::new(&data[..], "p", &key, 3, &mut progress).unwrap();
        let mut stored = Vec::new();
        // Small reads exercise the buffer's hand-out path.
        let mut buf = [0u8; 1000];
        loop {
            let n = enc.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            stored.extend_from_slice(&buf[..n]);
        }
        let part = enc.part().unwrap().clone();
        drop(enc);
        assert_eq!(seen, data.len() as u64);
        assert_eq!(part.stored_size, stored.len() as u64);
        assert_eq!(part.plaintext_size, data.len() as u64);
        let mut back = Vec::new();
        BackupReader::new(&stored[..], &key)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn a_failing_child_is_an_error_not_an_end() {
        let child = Command::new("sh")
            .args([
                "-c",
                "echo partial; echo 'pg_dump: error: boom' >&2; exit 3",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = ChildOutput::new(child, "pg_dump").unwrap();
        let mut text = Vec::new();
        let err = out.read_to_end(&mut text).unwrap_err().to_string();
        assert!(
            err.contains("pg_dump failed") && err.contains("boom"),
            "{err}"
        );
        assert_eq!(text, b"partial\n");
    }

    #[test]
    fn a_failing_thread_is_an_error_not_an_end() {
        let mut out = ThreadOutput::spawn(|w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk went away"))
        })
        .unwrap();
        let mut text = Vec::new();
        let err = out.read_to_end(&mut text).unwrap_err().to_string();
        assert!(err.contains("disk went away"), "{err}");
        let mut ok = ThreadOutput::spawn(|w| w.write_all(b"whole")).unwrap();
        let mut text = String::new();
        ok.read_to_string(&mut text).unwrap();
        assert_eq!(text, "whole");
    }
}
