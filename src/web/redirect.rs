//! The plain HTTP listener once HTTPS is on: every request gets a 301 to the same
//! host and path over HTTPS, and nothing else is served in clear. The ACME HTTP-01
//! path is kept out of the redirect: the answers of orders in progress are served
//! there (the CA fetches them over plain HTTP on port 80), and 404 otherwise.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::http::uri::Authority;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use super::error::AppError;
use super::middleware;
use crate::tls::acme::Challenges;

/// Where ACME HTTP-01 challenges are fetched (RFC 8555 §8.3).
pub const ACME_CHALLENGE_PATH: &str = "/.well-known/acme-challenge";

/// Where the redirects point.
#[derive(Debug, Clone)]
pub struct Target {
    /// The HTTPS port, left out of the URL when it is 443.
    pub https_port: u16,
    /// The host named when a request names none usable (`public_url`'s).
    pub fallback_host: String,
    /// The HTTP-01 answers of ACME orders in progress.
    pub challenges: Challenges,
}

/// Serves the redirects on `listener`; returns the server (not yet polled) and its
/// real address.
pub fn bind(listener: TcpListener, target: Target) -> std::io::Result<(Server, SocketAddr)> {
    let addr = listener.local_addr()?;
    let target = web::Data::new(target);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(target.clone())
            // Challenges are answered or not found, but never redirected.
            .service(
                web::scope(ACME_CHALLENGE_PATH)
                    .route("/{token}", web::get().to(challenge))
                    .default_service(web::to(|| async {
                        Err::<HttpResponse, _>(AppError::NotFound)
                    })),
            )
            .default_service(web::to(redirect))
            .wrap(from_fn(middleware::problems::middleware))
            .wrap(from_fn(middleware::request_id::middleware))
    })
    // Redirects are cheap: one worker is plenty next to the dashboard's.
    .workers(1)
    .listen(listener)?;
    Ok((server.run(), addr))
}

/// The key authorization for `token` while its order runs (RFC 8555 §8.3).
async fn challenge(
    token: web::Path<String>,
    target: web::Data<Target>,
) -> Result<HttpResponse, AppError> {
    let answer = target.challenges.answer(&token).ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(answer))
}

async fn redirect(req: HttpRequest, target: web::Data<Target>) -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, location(&req, &target)))
        .finish()
}

/// `https://` + the requested host (port dropped) + the HTTPS port unless 443 + the
/// path and query as asked.
fn location(req: &HttpRequest, target: &Target) -> String {
    let host = requested_host(req).unwrap_or_else(|| target.fallback_host.clone());
    let port = match target.https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    format!("https://{host}{port}{path}")
}

/// The host the client asked for, if it is a well-formed host (no user info). Not
/// `ConnectionInfo::host`, which would believe `X-Forwarded-Host` from anyone.
fn requested_host(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::HOST)?.to_str().ok()?;
    let authority: Authority = value.parse().ok()?;
    if value.contains('@') || authority.host().is_empty() {
        return None;
    }
    Some(authority.host().to_owned())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn target(https_port: u16) -> Target {
        Target {
            https_port,
            fallback_host: "outpost.example".into(),
            challenges: Challenges::default(),
        }
    }

    #[test]
    fn keeps_host_path_and_query_and_drops_the_http_port() {
        let req = TestRequest::get()
            .uri("/login?next=%2Fbackups")
            .insert_header((header::HOST, "acme.example:80"))
            .to_http_request();
        assert_eq!(
            location(&req, &target(443)),
            "https://acme.example/login?next=%2Fbackups"
        );
        assert_eq!(
            location(&req, &target(8443)),
            "https://acme.example:8443/login?next=%2Fbackups"
        );
    }

    #[test]
    fn an_unusable_host_falls_back_to_the_public_one() {
        for host in ["evil.example@acme.example", "bad host", ""] {
            let req = TestRequest::get()
                .uri("/")
                .insert_header((header::HOST, host))
                .to_http_request();
            assert_eq!(location(&req, &target(443)), "https://outpost.example/");
        }
        let v6 = TestRequest::get()
            .uri("/")
            .insert_header((header::HOST, "[::1]:8080"))
            .to_http_request();
        assert_eq!(location(&v6, &target(443)), "https://[::1]/");
    }
}
