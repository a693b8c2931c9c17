//! Counts every `/api/` response by status class (see `crate::api_traffic`); the
//! dashboard's pages are not counted.

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
    let result = next.call(req).await;
    if let Some(traffic) = traffic {
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        traffic.count(status.as_u16(), time::OffsetDateTime::now_utc());
    }
    result
}
