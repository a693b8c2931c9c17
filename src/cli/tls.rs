//! `outpost tls status` and `outpost tls renew`.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;

use super::CliError;
use crate::audit::{self, Actor, Event, Outcome};
use crate::config::Config;
use crate::tls::acme::{CertificateStatus, renewal};
use crate::web::redirect;

/// What the served certificate is, and for ACME when it will be renewed.
pub fn status(path: Option<&Path>) -> Result<(), CliError> {
    let config = Config::load(path)?;
    let cert_file = config
        .tls
        .cert_file
        .as_deref()
        .ok_or_else(|| CliError::Failed("tls.cert_file is not set: TLS is off".into()))?;
    let status = CertificateStatus::read(cert_file).map_err(|e| CliError::Failed(e.to_string()))?;
    let now = OffsetDateTime::now_utc();
    println!("certificate: {}", cert_file.display());
    println!("subject:     {}", status.subject);
    println!("issuer:      {}", status.issuer);
    println!("serial:      {}", status.serial);
    println!("names:       {}", status.dns_names.join(", "));
    println!("expires:     {}", status.not_after);
    println!("days left:   {}", status.days_left(now));
    match &config.tls.acme {
        None => println!("renewal:     by hand ([tls.acme] is not set)"),
        Some(acme) => match status.renewal_reason(&acme.domains, acme.renew_before, now) {
            Some(reason) => println!("renewal:     due now ({reason})"),
            None => println!(
                "renewal:     from {} ({})",
                status.due_at(acme.renew_before),
                acme.directory_url
            ),
        },
    }
    Ok(())
}

/// Renews now: through the running server, whose port-80 listener answers the
/// challenges, or, with no server running, by answering them here.
pub fn renew(path: Option<&Path>, wait: Duration) -> Result<(), CliError> {
    let (config, db, _vault) = super::open(path)?;
    let renewer = super::serve::renewer(&config, &db)
        .ok_or_else(|| CliError::Failed("[tls.acme] is not set: nothing to renew from".into()))?;
    let redirect_addr = config
        .tls
        .http_redirect_listen
        .ok_or_else(|| CliError::Failed("tls.http_redirect_listen is not set".into()))?;
    let before = CertificateStatus::read(&renewer.cert_file).ok();
    match TcpListener::bind(redirect_addr) {
        Ok(listener) => renew_here(renewer, listener, &config),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let mut conn = db.get()?;
            audit::record(
                &mut conn,
                &Event::new(Actor::Cli, "tls.renewal_requested", Outcome::Success)
                    .target(renewer.cert_file.display().to_string())
                    .details(json!({ "domains": renewer.settings.domains })),
            )
            .map_err(|e| CliError::Failed(e.to_string()))?;
            renewal::request(&config.data_dir).map_err(CliError::Failed)?;
            println!("Asked the running server to renew; waiting for the new certificate…");
            let renewed = wait_for_new_serial(&renewer.cert_file, before.as_ref(), wait)?;
            print_renewed(&renewed);
            Ok(())
        }
        Err(e) => Err(CliError::Failed(format!(
            "cannot listen on {redirect_addr} to answer the CA's challenges: {e}"
        ))),
    }
}

/// No server holds port 80: serve the challenges from here while the order runs.
fn renew_here(
    renewer: renewal::Renewer,
    listener: TcpListener,
    config: &Config,
) -> Result<(), CliError> {
    let target = redirect::Target {
        https_port: config.tls.https_listen.map_or(443, |a| a.port()),
        fallback_host: renewer
            .settings
            .domains
            .first()
            .cloned()
            .unwrap_or_default(),
        challenges: renewer.challenges.clone(),
    };
    actix_web::rt::System::new().block_on(async move {
        let (server, _) = redirect::bind(listener, target)
            .map_err(|e| CliError::Failed(format!("cannot answer challenges: {e}")))?;
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let result = renewer
            .renew("renewal requested with `outpost tls renew`", Actor::Cli)
            .await;
        handle.stop(false).await;
        let renewed = result.map_err(CliError::Failed)?;
        print_renewed(&renewed);
        Ok(())
    })
}

fn wait_for_new_serial(
    cert_file: &Path,
    before: Option<&CertificateStatus>,
    wait: Duration,
) -> Result<CertificateStatus, CliError> {
    let started = Instant::now();
    loop {
        if let Ok(now) = CertificateStatus::read(cert_file)
            && before.is_none_or(|b| b.serial != now.serial)
        {
            return Ok(now);
        }
        if started.elapsed() >= wait {
            return Err(CliError::Failed(format!(
                "no new certificate within {}; the server's log says why",
                humantime::format_duration(wait)
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn print_renewed(status: &CertificateStatus) {
    let days = status.days_left(OffsetDateTime::now_utc());
    println!(
        "Installed certificate {} from {}, valid until {} ({days} days).",
        status.serial, status.issuer, status.not_after
    );
}
