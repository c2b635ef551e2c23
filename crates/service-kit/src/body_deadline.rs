//! Bounds the time a client may take to send a request body. actix times out
//! slow *headers* (408) but waits for a body forever, so a client that sends
//! headers and then trickles the body could hold a connection (and a file
//! descriptor) open indefinitely; thousands of them exhaust the process.
//! actix has no setting for this, hence this middleware: the body is read
//! whole, up to the JSON limit, within `REQUEST_BODY_TIMEOUT_MS`, then handed
//! on to the extractors as if just received.

use std::time::Duration;

use actix_web::{
    Error, HttpResponse,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
    web,
};

use crate::{error::error_body, http::JSON_BODY_LIMIT};

pub async fn read_body_within(
    deadline: Duration,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    // A request that announces no body (most GETs) has nothing to wait for:
    // no timer, no copy.
    let headers = req.headers();
    let announces_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).is_some_and(|length| length.as_bytes() != b"0");
    if !announces_body {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let payload = req.extract::<web::Payload>().await?;
    match tokio::time::timeout(deadline, payload.to_bytes_limited(JSON_BODY_LIMIT)).await {
        Ok(Ok(Ok(body))) => {
            req.set_payload(Payload::from(body));
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Ok(Err(_over_limit)) => {
            let answer = HttpResponse::PayloadTooLarge()
                .force_close()
                .json(error_body("body_too_large", "the request body is larger than this service takes"));
            Ok(req.into_response(answer).map_into_right_body())
        }
        // The client broke the body off: the connection is gone or unusable.
        Ok(Ok(Err(err))) => Err(err),
        Err(_elapsed) => {
            let answer = HttpResponse::RequestTimeout()
                .force_close()
                .json(error_body("request_body_timeout", "the request body did not arrive in time"));
            Ok(req.into_response(answer).map_into_right_body())
        }
    }
}
