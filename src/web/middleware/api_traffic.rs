//! Counts every `/api/` response by status class (see `crate::api_traffic`); the
//! dashboard's pages are not counted. A 401 or 403 to a request that presented no
//! credentials counts as an ordinary 4xx: that is a crawler or a probe (the security
//! loop's own authentication-surface check among them), not someone trying keys.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::web::{AppState, is_api};

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let traffic = is_api(req.path())
        .then(|| req.app_data::<web::Data<AppState>>())
        .flatten()
        .map(|state| state.api_traffic.clone());
    let presented = req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION);
    let result = next.call(req).await;
    if let Some(traffic) = traffic {
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        let code = match status.as_u16() {
            401 | 403 if !presented => 400,
            code => code,
        };
        traffic.count(code, time::OffsetDateTime::now_utc());
    }
    result
}
