//! `outpost export --out FILE.tar [--include-secrets]`

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use crate::audit::Actor;
use crate::export::{self, Options};
use crate::identity::ClientInfo;

pub fn run(
    path: Option<&Path>,
    out: &Path,
    include_secrets: bool,
    pg_bin: Option<&Path>,
) -> Result<(), CliError> {
    // Values leave the vault only for someone who holds the server itself: at the
    // command line that is root (an Owner re-authenticating is the dashboard's form).
    if include_secrets && !nix::unistd::geteuid().is_root() {
        return Err(CliError::Failed(
            "--include-secrets must be run as root on the server".into(),
        ));
    }
    let (config, db, vault) = super::open(path)?;
    let mut conn = db.get()?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let mut step = |what: &str| match &bar {
        Some(bar) => bar.set_message(what.to_owned()),
        None => eprintln!("{what}"),
    };
    let options = Options {
        out,
        include_secrets,
        pg_bin,
        actor: Actor::Cli,
        client: ClientInfo::default(),
        target: None,
    };
    let result = export::run(&mut conn, &config, &vault, &options, &mut step);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = result.map_err(|e| CliError::Failed(e.to_string()))?;
    println!(
        "exported {} files ({} bytes) to {}",
        summary.members.len() + 1,
        summary.bytes,
        out.display()
    );
    if include_secrets {
        println!("this archive holds every stored value in clear: keep it safe");
    }
    Ok(())
}
