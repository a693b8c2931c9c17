//! One certificate order (RFC 8555 §7.4): the account (created once and stored),
//! HTTP-01 challenges answered through the shared [`Challenges`], a fresh key and
//! its CSR, and the issued chain.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, AuthorizationStatus, BodyWrapper, ChallengeType, HttpClient, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use super::challenges::{Challenges, Published};
use super::settings::AcmeSettings;
use super::store;
use crate::tls::client::trust_anchors;

/// How long the CA gets to validate the challenges, and then to issue.
const VALIDATION: Duration = Duration::from_secs(120);

/// A certificate the CA issued, with the key it was issued for.
pub struct Issued {
    /// Leaf first, then the intermediates, as the CA sent them.
    pub chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// Orders a certificate for `settings.domains` and waits until it is issued. The
/// challenges are answered from `challenges` (served on port 80) while this runs.
pub async fn obtain(
    settings: &AcmeSettings,
    data_dir: &Path,
    challenges: &Challenges,
) -> Result<Issued, String> {
    let account = account(settings, data_dir).await?;
    let identifiers: Vec<Identifier> = settings
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| format!("the CA refused the order: {}", describe(&e)))?;

    // Answers stay published until the order is done, whatever the outcome.
    let mut published: Vec<Published> = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization
            .map_err(|e| format!("cannot fetch an authorization: {}", describe(&e)))?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(format!(
                    "the authorization for {} is {other:?}",
                    authorization.identifier()
                ));
            }
        }
        let name = authorization.identifier().to_string();
        let mut challenge = authorization
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| format!("the CA offers no HTTP-01 challenge for {name}"))?;
        let answer = challenge.key_authorization().as_str().to_owned();
        published.push(challenges.publish(challenge.token.clone(), answer));
        challenge
            .set_ready()
            .await
            .map_err(|e| format!("cannot start the challenge for {name}: {}", describe(&e)))?;
    }

    let retries = RetryPolicy::new().timeout(VALIDATION);
    let status = order
        .poll_ready(&retries)
        .await
        .map_err(|e| format!("the order did not become ready: {}", describe(&e)))?;
    if status != OrderStatus::Ready {
        return Err(format!(
            "the CA did not validate the challenges (order {status:?}): {}",
            failed_challenges(&mut order).await
        ));
    }
    drop(published);

    // A fresh key at every order: a renewal never reuses the key of the last one.
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params =
        rcgen::CertificateParams::new(settings.domains.clone()).map_err(|e| e.to_string())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| format!("cannot make the CSR: {e}"))?;
    order
        .finalize_csr(csr.der())
        .await
        .map_err(|e| format!("the CA refused the CSR: {}", describe(&e)))?;
    let chain_pem = order
        .poll_certificate(&retries)
        .await
        .map_err(|e| format!("the CA did not issue the certificate: {}", describe(&e)))?;
    Ok(Issued {
        chain_pem,
        key_pem: key.serialize_pem(),
    })
}

/// The stored account for this directory, or a new one (stored owner-only).
async fn account(settings: &AcmeSettings, data_dir: &Path) -> Result<Account, String> {
    let directory = settings.directory_url.as_str();
    if let Some(credentials) = store::load_account(data_dir, directory)? {
        return Account::builder_with_http(http_client(settings)?)
            .from_credentials(credentials)
            .await
            .map_err(|e| {
                format!(
                    "cannot reach the ACME directory {directory}: {}",
                    describe(&e)
                )
            });
    }
    let contact = settings
        .contact_email
        .as_ref()
        .map(|email| format!("mailto:{email}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = Account::builder_with_http(http_client(settings)?)
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory.to_owned(),
            None,
        )
        .await
        .map_err(|e| format!("cannot create an account at {directory}: {}", describe(&e)))?;
    store::save_account(data_dir, directory, credentials)?;
    tracing::info!(directory, account = account.id(), "ACME account created");
    Ok(account)
}

/// HTTPS to the directory, trusting the system's anchors and `ca_bundle`.
fn http_client(settings: &AcmeSettings) -> Result<Box<dyn HttpClient>, String> {
    let roots = trust_anchors(settings.ca_bundle.as_deref())?;
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    Ok(Box::new(client))
}

/// What the CA said about the challenges that failed.
async fn failed_challenges(order: &mut instant_acme::Order) -> String {
    let mut problems = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        let name = authorization.identifier().to_string();
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                problems.push(format!("{name}: {problem}"));
            }
        }
    }
    if problems.is_empty() {
        "no reason given".into()
    } else {
        problems.join("; ")
    }
}

/// An error with its causes, which hyper keeps apart ("client error (Connect)" says
/// little without them).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
