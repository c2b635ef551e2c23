//! Runs each request's middleware and handler as a task of its own on the
//! worker's runtime. actix-http's HTTP/1 dispatcher is the future that polls
//! the handler, and every wake of the handler (each database row batch, each
//! call to another service) re-runs the whole dispatcher: its timers, its
//! response check, and its request decoder, which resets a 3 KiB header
//! array even when nothing new has arrived. A request made ten such passes
//! (callgrind, scripts/bench --instructions). As its own task the handler is
//! woken alone, and the dispatcher wakes once, when the answer is ready.
//!
//! The task is aborted when the dispatcher drops the request (the client went
//! away), as the handler would have been dropped before; a panic in it is a
//! 500 for this request rather than the loss of every request of the worker.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};
use tokio::task::JoinHandle;

pub async fn on_own_task<B: MessageBody + 'static>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let task = AbortOnDrop(actix_web::rt::spawn(async move { next.call(request).await }));
    match task.await {
        Ok(answer) => answer,
        Err(failed) => Err(actix_web::error::ErrorInternalServerError(TaskFailed(failed.to_string()))),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request's task failed: {0}")]
struct TaskFailed(String);

/// A task handle that aborts the task when dropped unfinished.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, http::StatusCode, middleware::from_fn, test, web};

    use super::on_own_task;

    #[actix_web::test]
    async fn the_handler_answers_from_its_own_task() {
        let app = test::init_service(App::new().wrap(from_fn(on_own_task)).route(
            "/",
            web::get().to(|| async {
                // A handler that waits on something, as a database call does.
                tokio::task::yield_now().await;
                HttpResponse::Ok().body("answered")
            }),
        ))
        .await;
        let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(test::read_body(response).await, "answered");
    }

    async fn panics() -> HttpResponse {
        panic!("a bug in one handler")
    }

    #[actix_web::test]
    async fn a_panicking_handler_is_a_500_for_its_request_alone() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(on_own_task))
                .route("/panic", web::get().to(panics))
                .route("/fine", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let failed = test::try_call_service(&app, test::TestRequest::get().uri("/panic").to_request())
            .await
            .expect_err("the panic is the request's error");
        assert_eq!(failed.as_response_error().status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        // The worker lives on and serves the next request.
        let response = test::call_service(&app, test::TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}
