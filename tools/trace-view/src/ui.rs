//! The pages: the list of recent traces (`/`), one trace as a waterfall
//! (`/trace/<id>`), and the JSON both read (`/api/traces`,
//! `/api/traces/<id>`). HTML, CSS and a little JavaScript, built into the
//! binary; the browser draws the waterfall from the JSON.

use actix_web::{HttpResponse, http::header, web};
use serde::Deserialize;
use serde_json::json;

use crate::{
    SharedStore,
    store::Filter,
    trace::TraceId,
    view::{SummaryView, TraceView},
};

const INDEX_HTML: &str = include_str!("assets/index.html");
const TRACE_HTML: &str = include_str!("assets/trace.html");
const STYLE_CSS: &str = include_str!("assets/style.css");
const COMMON_JS: &str = include_str!("assets/common.js");
const LIST_JS: &str = include_str!("assets/list.js");
const TRACE_JS: &str = include_str!("assets/trace.js");

/// The list shows at most this many traces unless asked for fewer.
const LIST_LIMIT: usize = 200;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(|| async { page(INDEX_HTML) }))
        .route("/trace/{id}", web::get().to(trace_page))
        .route("/api/traces", web::get().to(list))
        .route("/api/traces/{id}", web::get().to(trace))
        .route("/api/health", web::get().to(|| async { HttpResponse::Ok().json(json!({"ok": true})) }))
        .route("/assets/style.css", web::get().to(|| async { asset("text/css", STYLE_CSS) }))
        .route("/assets/common.js", web::get().to(|| async { asset("text/javascript", COMMON_JS) }))
        .route("/assets/list.js", web::get().to(|| async { asset("text/javascript", LIST_JS) }))
        .route("/assets/trace.js", web::get().to(|| async { asset("text/javascript", TRACE_JS) }))
        .default_service(web::to(|| async { HttpResponse::NotFound().content_type("text/plain").body("not found\n") }));
}

/// Span names and attributes come from anyone who can export: the pages
/// insert them as text only, and this policy forbids inline script anyway.
fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'self'; base-uri 'none'; form-action 'self'"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(html)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(format!("{content_type}; charset=utf-8"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// A trace's page; an id written otherwise (upper case, a whole
/// `traceresponse` value) is sent to the canonical address.
async fn trace_page(id: web::Path<String>) -> HttpResponse {
    match id.parse::<TraceId>() {
        Ok(parsed) if parsed.to_string() == *id => page(TRACE_HTML),
        Ok(parsed) => HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/trace/{parsed}"))).finish(),
        Err(err) => HttpResponse::NotFound().content_type("text/plain").body(format!("{err}\n")),
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    service: Option<String>,
    /// A whole trace id, a `traceresponse` value, or the first hex digits of an id.
    trace: Option<String>,
    limit: Option<usize>,
}

async fn list(query: web::Query<ListQuery>, store: web::Data<SharedStore>) -> HttpResponse {
    let query = query.into_inner();
    let trace_id_prefix = match query.trace.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => match text.parse::<TraceId>() {
            Ok(id) => Some(id.to_string()),
            Err(_) if text.chars().all(|c| c.is_ascii_hexdigit()) => Some(text.to_ascii_lowercase()),
            Err(err) => return bad_trace_id(&err.to_string()),
        },
    };
    let filter = Filter {
        service: query.service.filter(|s| !s.is_empty()),
        trace_id_prefix,
        limit: query.limit.unwrap_or(LIST_LIMIT).min(LIST_LIMIT),
    };
    let store = store.lock().expect("the store lock is never poisoned");
    let traces: Vec<SummaryView> = store.summaries(&filter).iter().map(SummaryView::from).collect();
    HttpResponse::Ok().json(json!({"traces": traces, "services": store.services(), "stats": store.stats()}))
}

async fn trace(id: web::Path<String>, store: web::Data<SharedStore>) -> HttpResponse {
    let id = match id.parse::<TraceId>() {
        Ok(id) => id,
        Err(err) => return bad_trace_id(&err.to_string()),
    };
    let store = store.lock().expect("the store lock is never poisoned");
    match store.trace(&id) {
        Some(trace) => HttpResponse::Ok().json(TraceView::from(trace)),
        None => HttpResponse::NotFound().json(json!({"error": "trace_not_found", "trace_id": id.to_string()})),
    }
}

fn bad_trace_id(reason: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": "invalid_trace_id", "message": reason}))
}

#[cfg(test)]
mod tests {
    use std::{sync::Mutex, time::Instant};

    use actix_web::{App, http::StatusCode, test};

    use super::*;
    use crate::{store::Store, store::tests::export};

    async fn get(store: &web::Data<SharedStore>, uri: &str) -> (StatusCode, String, Option<String>) {
        let app = test::init_service(App::new().app_data(store.clone()).configure(routes)).await;
        let response = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        let status = response.status();
        let location = response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned());
        (status, String::from_utf8(test::read_body(response).await.to_vec()).unwrap(), location)
    }

    fn store() -> web::Data<SharedStore> {
        let mut store = Store::new(10, 100);
        store.ingest(export("activities", &[(1, 1, 0, "GET /home", 0, 5)]), Instant::now());
        store.ingest(export("users", &[(1, 2, 1, "GET /api/users", 1, 2)]), Instant::now());
        store.ingest(export("users", &[(2, 1, 0, "GET /api/users/@x", 10, 11)]), Instant::now());
        web::Data::new(Mutex::new(store))
    }

    #[actix_web::test]
    async fn the_pages_and_their_assets_are_served() {
        let store = store();
        let (status, body, _) = get(&store, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("/assets/list.js"));
        let id = "01".repeat(16);
        let (status, body, _) = get(&store, &format!("/trace/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("/assets/trace.js"));
        for asset in ["style.css", "common.js", "list.js", "trace.js"] {
            assert_eq!(get(&store, &format!("/assets/{asset}")).await.0, StatusCode::OK, "{asset}");
        }
        assert_eq!(get(&store, "/trace/nothex").await.0, StatusCode::NOT_FOUND);
    }

    #[actix_web::test]
    async fn a_traceresponse_value_in_the_address_leads_to_the_trace() {
        let id = "01".repeat(16);
        let (status, _, location) = get(&store(), &format!("/trace/00-{id}-0202020202020202-01")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location, Some(format!("/trace/{id}")));
    }

    #[actix_web::test]
    async fn the_json_of_a_trace_names_every_span_and_service() {
        let store = store();
        let (status, body, _) = get(&store, &format!("/api/traces/{}", "01".repeat(16))).await;
        assert_eq!(status, StatusCode::OK);
        let trace: serde_json::Value = serde_json::from_str(&body).unwrap();
        let names: Vec<&str> = trace["spans"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["GET /home", "GET /api/users"]);
        assert_eq!(trace["services"], json!(["activities", "users"]));
        assert_eq!(get(&store, &format!("/api/traces/{}", "03".repeat(16))).await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&store, "/api/traces/xyz").await.0, StatusCode::BAD_REQUEST);
    }

    #[actix_web::test]
    async fn the_list_filters_by_service_and_trace_id_in_any_of_its_forms() {
        let store = store();
        let ids = |body: String| -> Vec<String> {
            let list: serde_json::Value = serde_json::from_str(&body).unwrap();
            list["traces"].as_array().unwrap().iter().map(|t| t["trace_id"].as_str().unwrap().to_owned()).collect()
        };
        let (one, two) = (&"01".repeat(16)[..], &"02".repeat(16)[..]);
        assert_eq!(ids(get(&store, "/api/traces").await.1), [two, one]);
        assert_eq!(ids(get(&store, "/api/traces?service=activities").await.1), [one]);
        assert_eq!(ids(get(&store, "/api/traces?trace=0202").await.1), [two]);
        let header = format!("/api/traces?trace=00-{one}-0101010101010101-01");
        assert_eq!(ids(get(&store, &header).await.1), [one]);
        assert_eq!(ids(get(&store, "/api/traces?limit=1").await.1), [two]);
        assert_eq!(get(&store, "/api/traces?trace=not-an-id").await.0, StatusCode::BAD_REQUEST);
        let list: serde_json::Value = serde_json::from_str(&get(&store, "/api/traces").await.1).unwrap();
        assert_eq!(list["services"], json!(["activities", "users"]));
        assert_eq!(list["stats"]["spans"], 3);
    }
}
