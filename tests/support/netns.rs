//! Network namespaces for tests that touch netfilter or run network daemons: each
//! test gets namespaces of its own (`ip netns add`), so firewalls it enables and bans
//! it makes never reach this machine's own rules. Everything started in one is
//! killed, and the namespace deleted, when the guard drops, however the test ends.
//!
//! Programs that read fixed paths (ufw reads /etc/ufw) run with scratch copies
//! bind-mounted over those paths in a private mount namespace ([`Binds`]).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use outpost::host::{CommandOutput, HostError, Runner};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Binds and listens (never accepts: the kernel completes handshakes into the backlog).
const LISTENER: &str = r#"
import socket, sys, time
held = []
for port in map(int, sys.argv[1:]):
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((address, port))
        s.listen(64)
        held.append(s)
print("ready", flush=True)
time.sleep(3600)
"#;

const PROBE: &str = r#"
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=1.5).close()
        print("open")
    except socket.timeout:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
    except OSError as e:
        print("error", e.errno)
"#;

/// A network namespace with loopback up, deleted on drop.
pub struct Netns {
    name: String,
    children: Vec<Child>,
}

/// Scratch paths mounted over the paths a program reads (source, target), plus a
/// private /run so lock files (`/run/ufw.lock`, `/run/xtables.lock`) stay out of this
/// machine's.
#[derive(Clone, Default)]
pub struct Binds(pub Vec<(PathBuf, String)>);

impl Netns {
    /// A fresh namespace, or `None` after a loud message when this process may not
    /// create one (not root, no CAP_SYS_ADMIN, no `ip`).
    pub fn create(label: &str) -> Option<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("outpost-{label}-{}-{n}", std::process::id());
        match Command::new("ip").args(["netns", "add", &name]).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                eprintln!(
                    "SKIPPED: cannot create a network namespace ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return None;
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run `ip netns add`: {e}");
                return None;
            }
        }
        let netns = Self {
            name,
            children: Vec::new(),
        };
        netns.ok("ip", &["link", "set", "lo", "up"]);
        Some(netns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program` to run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        exec(&self.name, None, program)
    }

    /// `program` inside the namespace with `binds` mounted in a private mount
    /// namespace of its own.
    pub fn command_with(&self, binds: &Binds, program: &str) -> Command {
        exec(&self.name, Some(binds), program)
    }

    /// Runs a command in the namespace that must succeed; its stdout.
    pub fn ok(&self, program: &str, args: &[&str]) -> String {
        checked(self.command(program).args(args).output(), program, args)
    }

    /// Like [`Netns::ok`], with `binds` mounted.
    pub fn ok_with(&self, binds: &Binds, program: &str, args: &[&str]) -> String {
        checked(
            self.command_with(binds, program).args(args).output(),
            program,
            args,
        )
    }

    /// Starts a long-running process in the namespace; killed when the guard drops.
    pub fn spawn(&mut self, mut cmd: Command) -> &mut Child {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }

    /// Joins two namespaces with a veth pair, each end given its addresses
    /// (`10.99.0.1/24`, `fd00:99::1/64`; IPv6 without duplicate detection, so they
    /// are usable at once).
    pub fn link(a: &Netns, a_addresses: &[&str], b: &Netns, b_addresses: &[&str]) {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Interface names are at most 15 bytes.
        let id = format!("{}{n}", std::process::id() % 100_000);
        let (end_a, end_b) = (format!("vo{id}a"), format!("vo{id}b"));
        let out = Command::new("ip")
            .args([
                "link", "add", &end_a, "netns", &a.name, "type", "veth", "peer", "name",
            ])
            .args([&end_b, "netns", &b.name])
            .output();
        checked(out, "ip", &["link", "add", &end_a]);
        for (netns, end, addresses) in [(a, &end_a, a_addresses), (b, &end_b, b_addresses)] {
            for address in addresses {
                let mut args = vec!["addr", "add", address, "dev", end];
                if address.contains(':') {
                    args.push("nodad");
                }
                netns.ok("ip", &args);
            }
            netns.ok("ip", &["link", "set", end, "up"]);
        }
    }

    /// Listens on every port given, on 0.0.0.0 and :: (TCP), until the guard drops;
    /// returns the listener's pid (its socket table is `/proc/PID/net/tcp`).
    pub fn listen(&mut self, ports: &[u16]) -> u32 {
        let mut cmd = self.command("python3");
        cmd.args(["-c", LISTENER])
            .args(ports.iter().map(u16::to_string));
        cmd.stdout(Stdio::piped());
        let child = self.spawn(cmd);
        let mut ready = String::new();
        let stdout = child.stdout.take().expect("piped");
        BufReader::new(stdout)
            .read_line(&mut ready)
            .expect("listener output");
        assert_eq!(ready.trim(), "ready", "the listener did not start");
        child.id()
    }

    /// Tries a TCP connection from this namespace to each `address:port` (IPv6 in
    /// brackets): `open`, `timeout` (dropped) or `refused`, in order.
    pub fn probe(&self, targets: &[String]) -> Vec<String> {
        let out = self.ok(
            "python3",
            &[
                &["-c", PROBE][..],
                &targets.iter().map(String::as_str).collect::<Vec<_>>(),
            ]
            .concat(),
        );
        out.lines().map(str::to_owned).collect()
    }

    /// A [`Runner`] that runs every command in this namespace, with `binds` mounted.
    pub fn runner(&self, binds: Binds) -> NetnsRunner {
        NetnsRunner {
            name: self.name.clone(),
            binds,
        }
    }
}

fn exec(netns: &str, binds: Option<&Binds>, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns]);
    let Some(binds) = binds else {
        cmd.arg(program);
        return cmd;
    };
    // Paths travel in the environment, so no quoting can go wrong.
    let mut script = String::from("set -e; mount -t tmpfs outpost-run /run; ");
    for (i, (source, target)) in binds.0.iter().enumerate() {
        script.push_str(&format!(
            "mount --bind \"$OUTPOST_BIND_SRC_{i}\" \"$OUTPOST_BIND_DST_{i}\"; "
        ));
        cmd.env(format!("OUTPOST_BIND_SRC_{i}"), source);
        cmd.env(format!("OUTPOST_BIND_DST_{i}"), target);
    }
    script.push_str("exec \"$@\"");
    cmd.args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
        .args([&script, "sh", program]);
    cmd
}

fn checked(out: std::io::Result<Output>, program: &str, args: &[&str]) -> String {
    let out = out.unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for Netns {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Anything else still inside was started by this test (a daemon's own
        // children): the namespace is ours alone.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs a control's commands inside a test namespace, as they would run on a host.
pub struct NetnsRunner {
    name: String,
    binds: Binds,
}

impl Runner for NetnsRunner {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, HostError> {
        let out = exec(&self.name, Some(&self.binds), program)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| HostError::Command {
                command: format!("{program} {}", args.join(" ")),
                detail: e.to_string(),
            })?;
        Ok(out.into())
    }
}

/// This machine's own netfilter rules (IPv4 and IPv6), without the timestamps
/// iptables-save adds: equal before and after a test that must not change them.
pub fn host_rules() -> String {
    let mut all = String::new();
    for program in ["iptables-save", "ip6tables-save"] {
        let out = Command::new(program)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if !line.starts_with('#') {
                all.push_str(line);
                all.push('\n');
            }
        }
    }
    all
}
