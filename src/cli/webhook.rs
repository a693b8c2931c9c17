//! `outpost webhook sign | verify`: what a receiver of Outpost's webhooks needs to debug
//! its signature check. The body is read from stdin, byte for byte: a signature covers
//! the raw body, so it must not be re-encoded on the way.

use std::io::Read;

use super::CliError;
use crate::config::ConfigError;
use crate::notify::signature::WebhookSecret;

fn body() -> Result<Vec<u8>, CliError> {
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| CliError::Failed(format!("cannot read the body from stdin: {e}")))?;
    Ok(body)
}

fn secret(text: &str) -> Result<WebhookSecret, CliError> {
    WebhookSecret::parse(text)
        .map_err(|e| CliError::Config(ConfigError::from(format!("--secret: {e}"))))
}

pub fn sign(secret_text: &str, id: &str, timestamp: i64) -> Result<(), CliError> {
    let secret = secret(secret_text)?;
    println!("{}", secret.sign(id, timestamp, &body()?));
    Ok(())
}

pub fn verify(
    secret_text: &str,
    id: &str,
    timestamp: i64,
    signature: &str,
    ignore_time: bool,
) -> Result<(), CliError> {
    let secret = secret(secret_text)?;
    let body = body()?;
    let outcome = if ignore_time {
        secret.verify_signature(id, timestamp, signature, &body)
    } else {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        secret.verify(id, timestamp, signature, &body, now)
    };
    match outcome {
        Ok(()) => {
            println!("valid");
            Ok(())
        }
        Err(e) => Err(CliError::Failed(format!("invalid: {e}"))),
    }
}
