//! What health reporting costs a satellite: two real `outpost serve` processes run side
//! by side on loopback for the same window, each with its own database and keys, one
//! enrolled and reporting to a real `outpost fleet serve` every second, the other with
//! reporting off (the baseline). Their CPU time (utime + stime from `/proc/PID/stat`)
//! over the window, less each other, divided by the reports the controller stored, is
//! the CPU one report costs (sampling CPU, memory, disks, the SSH banner, the
//! database's figures, signing, sending). Scaled to the default 60 s interval, that is
//! the share of one core reporting takes.
//!
//! `cargo bench --bench fleet_report` (add `-- --quick` for a shorter window).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::{QueryableByName, RunQueryDsl};
use support::daemon::{Daemon, free_port};
use support::pg::{TestDb, outpost_command, write_test_keys};

/// The kernel's unit for `/proc/PID/stat` times (USER_HZ), 100 on Linux.
const TICKS_PER_SEC: f64 = 100.0;
const PATIENCE: Duration = Duration::from_secs(120);
/// The default report interval the share is quoted for.
const DEFAULT_INTERVAL_SECS: f64 = 60.0;

/// A TCP listener that greets every connection with an SSH identification line, as
/// sshd does: the satellite reads it to prove SSH is reachable.
fn ssh_greeter() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"SSH-2.0-bench\r\n");
        }
    });
    addr
}

/// User plus system CPU seconds the process has used so far, its exited threads
/// included.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // The command name may hold spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    // utime and stime are the 14th and 15th fields; 12th and 13th after the name.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / TICKS_PER_SEC
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn stored_reports(db: &TestDb) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM fleet_heartbeats")
        .get_result::<Count>(&mut db.conn())
        .expect("count reports")
        .n
}

struct Node {
    dir: tempfile::TempDir,
    db: TestDb,
}

impl Node {
    fn new(origin: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_test_keys(dir.path(), origin);
        Self {
            dir,
            db: TestDb::new(),
        }
    }

    fn command(&self) -> Command {
        outpost_command(self.dir.path(), &self.db.url)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn serve(node: &Node, controller: Option<&str>, ssh: SocketAddr) -> (Daemon, u16) {
    let port = free_port();
    let mut command = node.command();
    command
        .arg("serve")
        .env("OUTPOST_LISTEN", format!("127.0.0.1:{port}"))
        .env("OUTPOST_FLEET__INTERVAL", "1s")
        .env("OUTPOST_FLEET__SSH_ADDRESS", ssh.to_string())
        .env("OUTPOST_LOG", "warn");
    if let Some(url) = controller {
        command.env("OUTPOST_FLEET__CONTROLLER_URL", url);
    }
    let mut daemon = Daemon::spawn(command, &node.path().join("serve.log"));
    daemon.wait_for_port(port, PATIENCE);
    (daemon, port)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let window = Duration::from_secs(if quick { 20 } else { 60 });
    let ssh = ssh_greeter();

    let controller = Node::new("bench/controller");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = controller.command();
    command
        .args(["fleet", "serve"])
        .env("OUTPOST_CONTROLLER__LISTEN", format!("127.0.0.1:{port}"))
        .env("OUTPOST_CONTROLLER__PUBLIC_URL", &base)
        .env("OUTPOST_CONTROLLER__INTERVAL", "1s")
        .env("OUTPOST_LOG", "warn");
    let mut controller_daemon = Daemon::spawn(command, &controller.path().join("controller.log"));
    controller_daemon.wait_for_port(port, PATIENCE);

    let reporting = Node::new("bench/reporting");
    let token = controller
        .command()
        .args(["fleet", "token", "create", "--name", "reporting"])
        .args(["--client", "Bench", "--region", "eu-west"])
        .output()
        .expect("fleet token create");
    assert!(token.status.success(), "token create: {token:?}");
    let token = String::from_utf8(token.stdout).expect("token");
    let enrolled = reporting
        .command()
        .args(["fleet", "enroll", "--controller", &base])
        .env("OUTPOST_FLEET_TOKEN", token.trim())
        .output()
        .expect("fleet enroll");
    assert!(enrolled.status.success(), "enroll: {enrolled:?}");
    let quiet = Node::new("bench/quiet");

    let (reporter, _) = serve(&reporting, Some(&base), ssh);
    let (baseline, _) = serve(&quiet, None, ssh);
    // Past start-up (migrations, first scans of the disks, the first report).
    std::thread::sleep(Duration::from_secs(5));

    let before = (
        cpu_secs(reporter.id()),
        cpu_secs(baseline.id()),
        stored_reports(&controller.db),
    );
    let started = Instant::now();
    std::thread::sleep(window);
    let after = (
        cpu_secs(reporter.id()),
        cpu_secs(baseline.id()),
        stored_reports(&controller.db),
    );
    let elapsed = started.elapsed().as_secs_f64();

    let reports = after.2 - before.2;
    assert!(
        reports > 0,
        "no report reached the controller:\n{}",
        reporter.log()
    );
    let (with, without) = (after.0 - before.0, after.1 - before.1);
    let per_report = ((with - without) / reports as f64).max(0.0);
    println!(
        "fleet reporting: two `outpost serve` side by side for {elapsed:.1} s, one reporting every second"
    );
    println!("  reports stored by the controller: {reports}");
    println!(
        "  CPU: reporting {with:.2} s, baseline {without:.2} s ({:.2}% and {:.2}% of a core)",
        100.0 * with / elapsed,
        100.0 * without / elapsed
    );
    println!("  CPU per report: {:.2} ms", per_report * 1000.0);
    println!(
        "  share of one core at the default {DEFAULT_INTERVAL_SECS:.0} s interval: {:.4}%",
        100.0 * per_report / DEFAULT_INTERVAL_SECS
    );
    println!(
        "  ratio reporting/baseline CPU at a 1 s interval: {:.2}",
        with / without.max(1.0 / TICKS_PER_SEC)
    );
    drop((reporter, baseline, controller_daemon));
}
