//! Whole-command measurements for the benchmarks: a command runs under the bench's
//! own executable re-started as a probe (`--measure`), which waits for it and reads
//! `getrusage(RUSAGE_CHILDREN)` (the peak RSS of the largest process of the command's
//! tree, and their CPU time) and samples `VmHWM` of the command and of its descendants
//! every 10 ms while they run (a high-water mark, so a sample misses at most the last
//! 10 ms of growth).
//!
//! A bench's `main` hands its arguments to [`run_probe_if_asked`] first.

use std::ffi::OsString;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// First argument that turns the bench executable into the probe around one command.
pub const MEASURE: &str = "--measure";

/// When this process was started as the probe: runs the command and returns its exit.
pub fn run_probe_if_asked(args: &[OsString]) -> Option<ExitCode> {
    args.get(1)
        .is_some_and(|a| a == MEASURE)
        .then(|| probe(&args[2..]))
}

/// Runs one command, prints `wall_secs cpu_secs tree_kib top_kib descendants_kib`, and
/// exits as the command did.
fn probe(command: &[OsString]) -> ExitCode {
    let (program, args) = command.split_first().expect("--measure needs a command");
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program:?}: {e}"));
    let (mut top, mut descendants) = (0, 0);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        top = top.max(vm_hwm_kib(child.id()).unwrap_or(0));
        for pid in descendants_of(child.id()) {
            descendants = descendants.max(vm_hwm_kib(pid).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = started.elapsed().as_secs_f64();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let cpu = secs(usage.user_time()) + secs(usage.system_time());
    // Linux reports ru_maxrss in KiB. It can come out a little under a VmHWM sample
    // (the kernel counts them at different moments); the peak is the larger.
    let tree = (usage.max_rss() as u64).max(top).max(descendants);
    println!("{wall} {cpu} {tree} {top} {descendants}");
    ExitCode::from(status.code().map_or(1, |c| c as u8))
}

/// The process's peak resident set so far, from `/proc/PID/status`.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Every live descendant of `pid`, from the kernel's per-thread child lists.
fn descendants_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{parent}/task")).into_iter();
        for task in tasks.flatten().flatten() {
            let children = std::fs::read_to_string(task.path().join("children"));
            for child in children.unwrap_or_default().split_whitespace() {
                if let Ok(child) = child.parse() {
                    found.push(child);
                    queue.push(child);
                }
            }
        }
    }
    found
}

/// What the probe saw of one run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: f64,
    /// User + system time of the whole tree (not of servers it talks to).
    pub cpu: f64,
    /// Peak RSS of the largest process of the tree.
    pub tree_kib: u64,
    /// Sampled peak RSS of the command itself and of its largest descendant.
    pub top_kib: u64,
    pub descendants_kib: u64,
    pub stored_bytes: u64,
}

/// Runs `command` under the probe, in an empty environment but for the variables
/// the command sets (an `OUTPOST_*` of the caller's must not steer the run); the
/// error carries its stderr. `accept`: the exit codes that count as a run
/// (`outpost scan` exits 1 while an urgent finding is open).
pub fn measured(command: &Command, accept: &[i32]) -> Result<Sample, String> {
    let mut probe = Command::new(std::env::current_exe().expect("own executable"));
    probe
        .arg(MEASURE)
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear()
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let out = probe
        .output()
        .map_err(|e| format!("start the probe: {e}"))?;
    if !out.status.code().is_some_and(|code| accept.contains(&code)) {
        return Err(format!(
            "{command:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let fields: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|f| f.parse().expect("probe output"))
        .collect();
    let [wall, cpu, tree, top, descendants] = fields[..] else {
        return Err(format!("unexpected probe output {fields:?}"));
    };
    Ok(Sample {
        wall,
        cpu,
        tree_kib: tree as u64,
        top_kib: top as u64,
        descendants_kib: descendants as u64,
        stored_bytes: 0,
    })
}

/// Medians of every field, each taken on its own.
pub fn median(runs: &[Sample]) -> Sample {
    fn mid<T: Copy + PartialOrd>(runs: &[Sample], field: impl Fn(&Sample) -> T) -> T {
        let mut values: Vec<T> = runs.iter().map(field).collect();
        values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        values[values.len() / 2]
    }
    Sample {
        wall: mid(runs, |s| s.wall),
        cpu: mid(runs, |s| s.cpu),
        tree_kib: mid(runs, |s| s.tree_kib),
        top_kib: mid(runs, |s| s.top_kib),
        descendants_kib: mid(runs, |s| s.descendants_kib),
        stored_bytes: mid(runs, |s| s.stored_bytes),
    }
}
