//! A real S3 API on 127.0.0.1: the moto server (`pip install 'moto[server]'`, see
//! `ensure_moto` in provisioning/lib.sh) on a free port, with one bucket, killed on drop.
//! moto accepts any credentials, which lets tests also talk to it with raw HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tools;

pub const BUCKET: &str = "outpost-test";

#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Started and answering with [`BUCKET`] created, or none (after printing SKIPPED)
    /// when moto is not installed.
    pub fn start() -> Option<Self> {
        let program = tools::require("moto_server", "S3 target tests")?;
        // Bind-and-release to find a free port; moto cannot report one it picked.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((status, _)) = server.raw("PUT", &format!("/{BUCKET}")) {
                assert_eq!(status, 200, "moto refused to create the bucket");
                return Some(server);
            }
            if let Ok(Some(exit)) = server.child.try_wait() {
                panic!("moto_server exited before answering: {exit}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One unauthenticated HTTP/1.1 request with an empty body: (status, body).
    pub fn raw(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not HTTP: {response:.80}")))?;
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok((status, body.to_owned()))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
