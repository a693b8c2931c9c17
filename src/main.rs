use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use outpost::cli;

/// Outpost: the security appliance of this server.
#[derive(Parser)]
#[command(name = "outpost", version, about, propagate_version = true)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Print the `webhook-signature` value (`v1,<base64>`) for the body on stdin.
    Sign {
        #[command(flatten)]
        message: WebhookMessage,
    },
    /// Exit 0 when --signature is valid for the body on stdin (and the timestamp is
    /// within five minutes), 1 when it is not.
    Verify {
        #[command(flatten)]
        message: WebhookMessage,
        /// The `webhook-signature` header's value (may hold several signatures).
        #[arg(long)]
        signature: String,
        /// Check the signature only, however old the timestamp (a captured request).
        #[arg(long)]
        ignore_time: bool,
    },
}

#[derive(clap::Args)]
struct WebhookMessage {
    /// The endpoint's secret, `whsec_…` (or from OUTPOST_WEBHOOK_SECRET, kept out of
    /// the process list).
    #[arg(long, env = "OUTPOST_WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
    /// The `webhook-id` header's value.
    #[arg(long)]
    id: String,
    /// The `webhook-timestamp` header's value (Unix seconds).
    #[arg(long, allow_negative_numbers = true)]
    timestamp: i64,
}

#[derive(Subcommand)]
enum EmailCommand {
    /// Send a test email through the configured relay; exit 1 with the SMTP error.
    Test {
        #[arg(long, value_name = "ADDRESS")]
        to: String,
    },
}

#[derive(Subcommand)]
enum NotifyCommand {
    /// Email every member the notice of a personal-data breach, with the regulator's
    /// deadline 72 hours after detection (audited).
    Breach {
        /// The Owner sending it (the notice names them as the contact).
        #[arg(long, value_name = "EMAIL")]
        owner: String,
        /// What happened.
        #[arg(long)]
        summary: String,
        /// When it was detected, RFC 3339 (e.g. 2026-12-06T21:30:00Z).
        #[arg(long, value_name = "TIME")]
        detected_at: String,
        /// What data is affected.
        #[arg(long)]
        data: String,
        /// What is being done about it.
        #[arg(long)]
        actions: String,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the web dashboard and JSON API (applies pending migrations first).
    Serve {
        /// Config file [default: /etc/outpost/outpost.toml, if present].
        #[arg(long, env = "OUTPOST_CONFIG")]
        config: Option<PathBuf>,
        /// Serve HTTPS on ADDR (`tls.https_listen`); needs --tls-cert and --tls-key
        /// unless the config sets them.
        #[arg(long, value_name = "ADDR")]
        https_listen: Option<SocketAddr>,
        /// PEM certificate chain, leaf first (`tls.cert_file`).
        #[arg(long, value_name = "FILE")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of the certificate (`tls.key_file`).
        #[arg(long, value_name = "FILE")]
        tls_key: Option<PathBuf>,
        /// Answer plain HTTP on ADDR with redirects to HTTPS (`tls.http_redirect_listen`).
        #[arg(long, value_name = "ADDR")]
        http_redirect_listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations.
    Migrate {
        #[arg(long, env = "OUTPOST_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Account administration from the server's shell.
    Admin {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Sign and verify the tamper-evident audit log.
    Audit {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage the keys that seal stored secrets and sign the audit log.
    Keys {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Bring the host to the hardening baseline (`[harden]`), or report how it differs.
    /// Runs as root; `--root DIR` acts on a scratch tree instead of `/`.
    Harden {
        #[arg(long, env = "OUTPOST_CONFIG")]
        config: Option<PathBuf>,
        /// Report each control as ok, drift (naming what differs) or error; exit 1 on drift.
        #[arg(long, group = "mode")]
        check: bool,
        /// Print the exact file changes and commands, changing nothing.
        #[arg(long, group = "mode")]
        plan: bool,
        /// Write, validate with the real tools and activate; roll back on failure.
        #[arg(long, group = "mode")]
        apply: bool,
        /// Re-apply the controls the service asked for (the drift remedy of the
        /// security loop); nothing to do is not an error. Run by outpost-harden-queue.timer.
        #[arg(long, group = "mode", conflicts_with = "only")]
        apply_requested: bool,
        /// Only this control (repeatable).
        #[arg(long, value_name = "CONTROL")]
        only: Vec<String>,
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write everything this server holds for the client to one tarball: the database
    /// (SQL and pg_dump custom format), a Markdown summary, files and a SHA-256 manifest.
    Export {
        #[arg(long, env = "OUTPOST_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, value_name = "FILE.tar")]
        out: PathBuf,
        /// Also write every stored credential's value in clear (root only; audited).
        #[arg(long)]
        include_secrets: bool,
        /// The directory of pg_dump [default: the newest /usr/lib/postgresql/N/bin].
        #[arg(long, value_name = "DIR")]
        pg_bin: Option<PathBuf>,
    },
    /// Take, list, check, restore and prune backups.
    Backup {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: cli::backup::BackupCommand,
    },
    /// End the service for this client: at the date an export of everything is
    /// prepared for the Owners to download for 30 days; then the data is destroyed.
    #[command(group(clap::ArgGroup::new("mode").required(true)))]
    Cancel {
        #[arg(long, env = "OUTPOST_CONFIG")]
        config: Option<PathBuf>,
        /// When the service ends: a UTC date (YYYY-MM-DD) or an RFC 3339 time, in the future.
        #[arg(long, value_name = "DATE", group = "mode")]
        at: Option<String>,
        /// End it now: the export is prepared at once.
        #[arg(long, group = "mode")]
        now: bool,
        /// Show the cancellation in force, its dates and its export.
        #[arg(long, group = "mode")]
        status: bool,
        /// Withdraw the cancellation (possible until the export window closes).
        #[arg(long, group = "mode")]
        revoke: bool,
    },
    /// Run the security loop once: every check (or --only ones), findings recorded;
    /// exit 1 while a high or critical finding is open.
    Scan {
        #[arg(long, env = "OUTPOST_CONFIG")]
        config: Option<PathBuf>,
        /// Only this check (repeatable).
        #[arg(long, value_name = "CHECK")]
        only: Vec<String>,
        /// One JSON object: `checks` (id, status, duration) and the open `findings`.
        #[arg(long)]
        json: bool,
    },
    /// Check the mail relay.
    Email {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: EmailCommand,
    },
    /// Notices to every member.
    Notify {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Sign or verify a Standard Webhooks message (the body on stdin), to debug a
    /// receiver of Outpost's webhooks.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// The fleet: this server's enrolment with the operators' controller, and the
    /// controller itself (enrolment tokens, the service, maintenance windows).
    Fleet {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// The HTTPS certificate: what is served, and renewing it from the ACME CA.
    Tls {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: TlsCommand,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell), e.g. `outpost completions bash > /etc/bash_completion.d/outpost`.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), e.g. `outpost man > /usr/share/man/man1/outpost.1`.
    Man,
    /// Inspect the configuration.
    Config {
        #[arg(long, env = "OUTPOST_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum TlsCommand {
    /// Show the served certificate: subject, issuer, serial, expiry, days left, and
    /// when `[tls.acme]` renews it.
    Status,
    /// Obtain a new certificate from the ACME CA now (audited): the running server
    /// does it, or this command when no server holds the port-80 listener.
    Renew {
        /// How long to wait for the running server's new certificate.
        #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = humantime::parse_duration)]
        wait: std::time::Duration,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create the first Owner and print a one-time setup link (30 minutes, single use).
    CreateOwner {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Take new entries into the log and sign a checkpoint now.
    Checkpoint,
    /// Rebuild the log from the database (or check an export offline with --export and
    /// --pubkey), check every signed checkpoint, and report the first bad entry
    /// (exit 0 clean, 1 tampered, 2 could not check).
    Verify {
        /// An export written by `outpost audit export --format jsonl`.
        #[arg(long, requires = "pubkey")]
        export: Option<PathBuf>,
        /// The server's audit public key, as printed by `outpost keys init`.
        #[arg(long, requires = "export")]
        pubkey: Option<String>,
    },
    /// Archive entries older than `audit_retention` to FILE (a verifiable export) and
    /// remove them, by a signed and audited compaction.
    Compact {
        #[arg(long)]
        archive: PathBuf,
    },
    /// Write the entries covered by the latest checkpoint as JSON lines (with the
    /// proofs an auditor needs) or CSV.
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Only entries from this UTC date or RFC 3339 time on.
        #[arg(long, default_value = "")]
        since: String,
        /// Only entries before this UTC date or RFC 3339 time.
        #[arg(long, default_value = "")]
        until: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create the vault keyring and the audit signing key, each if it does not exist.
    Init,
    /// Add a new vault key (KEK), rewrap every stored value under it while the server
    /// runs, and retire the old keys nothing needs any more.
    Rotate,
    /// Finish an interrupted rotation: rewrap what is left, retire what is unused.
    Rewrap,
    /// List the vault keys: age, data keys wrapped, values under each, state.
    Status,
}

#[derive(Subcommand)]
enum FleetCommand {
    /// Enrol with the controller using the one-time token an operator created there;
    /// the satellite id and signing secret are kept (sealed). Enrolling again replaces them.
    Enroll {
        /// The controller's base URL, e.g. https://fleet.example.com.
        #[arg(long, value_name = "URL")]
        controller: String,
        /// The one-time enrolment token (or from OUTPOST_FLEET_TOKEN, kept out of the
        /// process list).
        #[arg(long, env = "OUTPOST_FLEET_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Enrolment tokens for new satellites.
    Token {
        #[command(subcommand)]
        command: FleetTokenCommand,
    },
    /// Operators' accounts on the controller (its dashboard at /fleet).
    Operator {
        #[command(subcommand)]
        command: FleetOperatorCommand,
    },
    /// Run the controller: satellites' enrolment and reports, the status sweep,
    /// escalation and retention (`[controller]`).
    Serve,
    /// Silence a satellite's escalations until a time (RFC 3339) or for a duration
    /// (`2h`); a past time ends the window.
    Maintenance {
        /// The satellite's name or id.
        satellite: String,
        #[arg(long, value_name = "WHEN")]
        until: String,
    },
}

#[derive(Subcommand)]
enum FleetOperatorCommand {
    /// Create an operator (or renew an unused setup link) and print the setup link.
    Create {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum FleetTokenCommand {
    /// Print a one-time token (only its hash is stored) that enrols one satellite.
    Create {
        /// The satellite's name in the fleet.
        #[arg(long)]
        name: String,
        /// The client it serves.
        #[arg(long)]
        client: String,
        #[arg(long)]
        region: Option<String>,
        /// How long the token stays valid [default: controller.token_ttl, 24h].
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it with secrets masked.
    Check,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // `serve` always logs; other commands talk to a person on stdout and stderr, and
    // log only when asked to (to diagnose them).
    if std::env::var_os("OUTPOST_LOG").is_some() {
        outpost::telemetry::init();
    }
    let result = match args.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Args::command(),
                "outpost",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Args::command())
            .render(&mut std::io::stdout())
            .map_err(|e| cli::CliError::Failed(format!("cannot write the man page: {e}"))),
        Command::Serve {
            config,
            https_listen,
            tls_cert,
            tls_key,
            http_redirect_listen,
        } => cli::serve::run(
            config.as_deref(),
            cli::serve::TlsFlags {
                https_listen,
                cert_file: tls_cert,
                key_file: tls_key,
                http_redirect_listen,
            },
        ),
        Command::Migrate { config } => cli::migrate::run(config.as_deref()),
        Command::Email {
            config,
            command: EmailCommand::Test { to },
        } => cli::notify::test_email(config.as_deref(), &to),
        Command::Notify {
            config,
            command:
                NotifyCommand::Breach {
                    owner,
                    summary,
                    detected_at,
                    data,
                    actions,
                },
        } => cli::notify::breach(
            config.as_deref(),
            cli::notify::BreachArgs {
                owner: &owner,
                summary: &summary,
                data: &data,
                actions: &actions,
                detected_at: &detected_at,
            },
        ),
        Command::Admin {
            config,
            command: AdminCommand::CreateOwner { email },
        } => cli::admin::create_owner(config.as_deref(), &email),
        Command::Audit { config, command } => match command {
            AuditCommand::Checkpoint => cli::audit::checkpoint(config.as_deref()),
            AuditCommand::Verify {
                export: Some(file),
                pubkey: Some(key),
            } => cli::audit::verify_export(&file, &key),
            AuditCommand::Verify { .. } => cli::audit::verify(config.as_deref()),
            AuditCommand::Compact { archive } => cli::audit::compact(config.as_deref(), &archive),
            AuditCommand::Export {
                format,
                since,
                until,
                out,
            } => {
                let format = match format {
                    ExportFormat::Jsonl => outpost::audit::export::Format::Jsonl,
                    ExportFormat::Csv => outpost::audit::export::Format::Csv,
                };
                cli::audit::export(config.as_deref(), format, &since, &until, out.as_deref())
            }
        },
        Command::Keys { config, command } => match command {
            KeysCommand::Init => cli::keys::init(config.as_deref()),
            KeysCommand::Rotate => cli::keys::rotate(config.as_deref()),
            KeysCommand::Rewrap => cli::keys::rewrap(config.as_deref()),
            KeysCommand::Status => cli::keys::status(config.as_deref()),
        },
        Command::Export {
            config,
            out,
            include_secrets,
            pg_bin,
        } => cli::export::run(config.as_deref(), &out, include_secrets, pg_bin.as_deref()),
        Command::Scan { config, only, json } => cli::scan::run(config.as_deref(), &only, json),
        Command::Backup { config, command } => cli::backup::run(config.as_deref(), command),
        Command::Cancel {
            config,
            at,
            now,
            status,
            revoke: _,
        } => {
            use cli::cancel::Action;
            let action = match (at.as_deref(), now, status) {
                (Some(date), _, _) => Action::At(date),
                (None, true, _) => Action::Now,
                (None, false, true) => Action::Status,
                _ => Action::Revoke,
            };
            cli::cancel::run(config.as_deref(), action)
        }
        Command::Webhook {
            command: WebhookCommand::Sign { message },
        } => cli::webhook::sign(&message.secret, &message.id, message.timestamp),
        Command::Webhook {
            command:
                WebhookCommand::Verify {
                    message,
                    signature,
                    ignore_time,
                },
        } => cli::webhook::verify(
            &message.secret,
            &message.id,
            message.timestamp,
            &signature,
            ignore_time,
        ),
        Command::Fleet { config, command } => match command {
            FleetCommand::Enroll { controller, token } => {
                cli::fleet::enroll(config.as_deref(), &controller, &token)
            }
            FleetCommand::Token {
                command:
                    FleetTokenCommand::Create {
                        name,
                        client,
                        region,
                        expires,
                    },
            } => cli::fleet_controller::create_token(
                config.as_deref(),
                outpost::fleet::controller::enrolment::TokenFor {
                    name,
                    client,
                    region,
                },
                expires.as_deref(),
            ),
            FleetCommand::Operator {
                command: FleetOperatorCommand::Create { email },
            } => cli::fleet_controller::create_operator(config.as_deref(), &email),
            FleetCommand::Serve => cli::fleet_controller::serve(config.as_deref()),
            FleetCommand::Maintenance { satellite, until } => {
                cli::fleet_controller::maintenance(config.as_deref(), &satellite, &until)
            }
        },
        Command::Tls { config, command } => match command {
            TlsCommand::Status => cli::tls::status(config.as_deref()),
            TlsCommand::Renew { wait } => cli::tls::renew(config.as_deref(), wait),
        },
        Command::Config {
            config,
            command: ConfigCommand::Check,
        } => cli::config_check::run(config.as_deref()),
        Command::Harden {
            config,
            apply_requested: true,
            root,
            json,
            ..
        } => cli::harden_requests::run(config.as_deref(), &root, json),
        Command::Harden {
            config,
            check: _,
            plan,
            apply,
            apply_requested: _,
            only,
            root,
            json,
        } => cli::harden::run(
            config.as_deref(),
            &cli::harden::Options {
                mode: match (plan, apply) {
                    (true, _) => cli::harden::Mode::Plan,
                    (_, true) => cli::harden::Mode::Apply,
                    _ => cli::harden::Mode::Check,
                },
                only: &only,
                root: &root,
                json,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("outpost: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
