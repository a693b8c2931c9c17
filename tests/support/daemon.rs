//! A daemon started by a test on a loopback port: killed (by its own pid) when the
//! guard is dropped, so a failing test leaves nothing running. Its stderr goes to a
//! log file that failures quote.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port free on 127.0.0.1 just now (the OS picks it; tiny race until used).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> Self {
        let out = File::create(log).expect("create daemon log");
        let err = out.try_clone().expect("clone daemon log");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        Self {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Waits until something accepts connections on 127.0.0.1:`port`; panics with the
    /// daemon's log if it exits or does not listen in time.
    pub fn wait_for_port(&mut self, port: u16, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("daemon exited ({status}) before listening:\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "daemon not listening on {port} after {timeout:?}:\n{}",
            self.log()
        );
    }

    /// The daemon's process id (to read its CPU time from `/proc`).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the daemon has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
