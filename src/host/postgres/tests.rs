//! On scratch roots seeded with a copy of this machine's cluster configuration, checked
//! by the real `postgres -C` of that version.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;
use crate::host::{ControlReport, SystemRunner, engine};

/// This machine's first cluster with its server installed, if any.
fn source_cluster() -> Option<(String, PathBuf)> {
    let mut versions: Vec<_> = fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    versions.into_iter().find_map(|v| {
        let dir = Path::new("/etc/postgresql").join(&v).join("main");
        let server = Path::new("/usr/lib/postgresql")
            .join(&v)
            .join("bin/postgres");
        (dir.join("postgresql.conf").exists() && server.exists()).then_some((v, dir))
    })
}

struct Seeded {
    dir: tempfile::TempDir,
    host: Host,
    cluster: PathBuf,
}

impl Seeded {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(&self.cluster).join(name)
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap()
    }
}

/// A root holding a copy of the cluster's files, owned as the originals are, and
/// readable by the postgres user that validates them.
fn seeded() -> Option<Seeded> {
    let Some((version, source)) = source_cluster() else {
        eprintln!(
            "SKIPPED: no PostgreSQL cluster configuration with its server under /etc/postgresql"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let cluster = Path::new("etc/postgresql").join(&version).join("main");
    copy_tree(&source, &dir.path().join(&cluster));
    let host = Host::new(dir.path(), Box::new(SystemRunner));
    Some(Seeded { dir, host, cluster })
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
        let meta = entry.metadata().unwrap();
        // Only root may give a file away; as anyone else the copy stays theirs.
        let _ = std::os::unix::fs::chown(&target, Some(meta.uid()), Some(meta.gid()));
    }
}

fn keys(report: &ControlReport) -> Vec<String> {
    report.drift.iter().filter_map(|d| d.key.clone()).collect()
}

#[test]
fn apply_then_check_is_clean_trust_lines_are_disabled_and_ownership_kept() {
    let Some(root) = seeded() else { return };
    let baseline = Baseline::default();
    // Whatever this machine's pg_hba says, the seeded one has a TCP trust line.
    fs::write(
        root.path("pg_hba.conf"),
        format!(
            "{}host all all 127.0.0.1/32 trust\nhost all all 0.0.0.0/0 scram-sha-256\n",
            root.read("pg_hba.conf")
        ),
    )
    .unwrap();
    let hba_owner = fs::metadata(root.path("pg_hba.conf")).unwrap().uid();
    let hba_lines = root.read("pg_hba.conf").lines().count();

    let report = engine::check(&root.host, &Postgres, &baseline);
    let named = keys(&report);
    assert!(
        named.contains(&format!("line {}", hba_lines - 1)),
        "{report}"
    );
    assert!(named.contains(&format!("line {hba_lines}")), "{report}");

    let changed = engine::apply(&root.host, &Postgres, &baseline).unwrap();
    assert!(changed.iter().any(|c| c.ends_with(DROP_IN)), "{changed:?}");
    assert!(
        changed.iter().any(|c| c.ends_with("pg_hba.conf")),
        "{changed:?}"
    );
    let report = engine::check(&root.host, &Postgres, &baseline);
    assert!(report.drift.is_empty(), "{report}");
    assert!(
        engine::apply(&root.host, &Postgres, &baseline)
            .unwrap()
            .is_empty()
    );

    let hba = root.read("pg_hba.conf");
    assert!(hba.contains(
        "# disabled by outpost harden (trust over TCP): host all all 127.0.0.1/32 trust"
    ));
    assert!(root.path("pg_hba.conf.outpost-bak").exists());
    assert_eq!(
        fs::metadata(root.path("pg_hba.conf")).unwrap().uid(),
        hba_owner,
        "postgres must still own (and so read) its pg_hba.conf"
    );
    assert_eq!(
        Postgres::show(
            &root.host,
            &clusters(&root.host).unwrap()[0],
            "listen_addresses"
        )
        .unwrap()
        .as_deref(),
        Some("localhost")
    );
}

#[test]
fn a_listen_address_beyond_loopback_is_named_wherever_it_is_set() {
    let Some(root) = seeded() else { return };
    let baseline = Baseline::default();
    engine::apply(&root.host, &Postgres, &baseline).unwrap();

    fs::write(root.path(DROP_IN), "listen_addresses = '*'\n").unwrap();
    let report = engine::check(&root.host, &Postgres, &baseline);
    let named = keys(&report);
    assert_eq!(
        named.iter().filter(|k| *k == "listen_addresses").count(),
        2,
        "the file's key and the effective value: {report}"
    );
    engine::apply(&root.host, &Postgres, &baseline).unwrap();
    assert!(
        engine::check(&root.host, &Postgres, &baseline)
            .drift
            .is_empty()
    );

    // ALTER SYSTEM writes postgresql.auto.conf in the data directory, which wins over
    // every file: only the effective value shows it.
    let conf = root.read("postgresql.conf");
    let data = conf_value(&conf, "data_directory").expect("Debian names the data directory");
    let data = root.dir.path().join(data.trim_start_matches('/'));
    fs::create_dir_all(&data).unwrap();
    fs::write(
        data.join("postgresql.auto.conf"),
        "listen_addresses = '0.0.0.0'\n",
    )
    .unwrap();
    let report = engine::check(&root.host, &Postgres, &baseline);
    assert_eq!(
        keys(&report),
        vec!["listen_addresses".to_owned()],
        "{report}"
    );
    assert_eq!(report.drift[0].actual.as_deref(), Some("0.0.0.0"));
}

#[test]
fn a_configuration_without_conf_d_gets_the_include() {
    let Some(root) = seeded() else { return };
    let baseline = Baseline::default();
    let conf = root.read("postgresql.conf");
    let without: String = conf
        .lines()
        .filter(|l| !l.trim_start().starts_with("include_dir"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(root.path("postgresql.conf"), &without).unwrap();

    let report = engine::check(&root.host, &Postgres, &baseline);
    assert!(
        keys(&report).contains(&"include_dir".to_owned()),
        "{report}"
    );
    engine::apply(&root.host, &Postgres, &baseline).unwrap();
    assert!(
        root.read("postgresql.conf")
            .ends_with("include_dir = 'conf.d'\n")
    );
    assert!(
        engine::check(&root.host, &Postgres, &baseline)
            .drift
            .is_empty()
    );
}

#[test]
fn a_configuration_postgres_rejects_rolls_the_apply_back() {
    let Some(root) = seeded() else { return };
    fs::write(root.path("conf.d/50-broken.conf"), "work_mem = '4MB\n").unwrap();
    fs::write(
        root.path("pg_hba.conf"),
        format!("{}host all all ::/0 trust\n", root.read("pg_hba.conf")),
    )
    .unwrap();
    let hba_before = root.read("pg_hba.conf");

    let error = engine::apply(&root.host, &Postgres, &Baseline::default()).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("postgres"), "{text}");
    assert!(text.contains("restored"), "{text}");
    assert!(!root.path(DROP_IN).exists());
    assert_eq!(root.read("pg_hba.conf"), hba_before);

    let report = engine::check(&root.host, &Postgres, &Baseline::default());
    assert!(
        report.drift.iter().any(|d| d
            .to_string()
            .contains("PostgreSQL cannot read its configuration")),
        "{report}"
    );
}

#[test]
fn a_root_without_postgresql_has_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(dir.path(), Box::new(SystemRunner));
    let report = engine::check(&host, &Postgres, &Baseline::default());
    assert!(report.drift.is_empty(), "{report}");
    assert!(
        engine::apply(&host, &Postgres, &Baseline::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn listeners_beyond_loopback_are_found_on_the_cluster_port() {
    let ss = "LISTEN 0 244 127.0.0.1:5432 0.0.0.0:*\n\
              LISTEN 0 244 [::1]:5432 [::]:*\n\
              LISTEN 0 244 0.0.0.0:5432 0.0.0.0:*\n\
              LISTEN 0 244 [::]:5432 [::]:*\n\
              LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\n\
              LISTEN 0 244 *:5433 *:*\n";
    assert_eq!(
        public_listeners(ss, "5432"),
        vec!["0.0.0.0:5432".to_owned(), "[::]:5432".to_owned()]
    );
    assert_eq!(public_listeners(ss, "5433"), vec!["*:5433".to_owned()]);
}

#[test]
fn conf_values_follow_postgres_rules() {
    let text = "#listen_addresses = '*'\nlisten_addresses = 'a'  # first\nlisten_addresses 'localhost,::1'\nport = 5433 # x\n";
    assert_eq!(
        conf_value(text, "listen_addresses").as_deref(),
        Some("localhost,::1")
    );
    assert_eq!(conf_value(text, "port").as_deref(), Some("5433"));
    assert!(loopback_only("localhost,::1, 127.0.0.2"));
    assert!(loopback_only(""));
    assert!(!loopback_only("localhost,10.0.0.1"));
    assert!(!loopback_only("*"));
}
