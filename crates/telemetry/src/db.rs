//! Database client spans. sqlx 0.9 emits only `sqlx::query` events, so the
//! services wrap each query in one of these (through `service_kit::db_query!`).

use std::fmt::Display;

use tracing::Span;

/// A database client span named `{operation} {collection}` with the stable
/// `db.*` attributes. The query text is the parameterised SQL (values are
/// bound, never inlined), so it carries no user data.
#[macro_export]
macro_rules! db_client_span {
    ($name:expr, $system:expr, $operation:expr, $collection:expr, $sql:expr) => {
        $crate::__private::tracing::info_span!(
            "db.query",
            otel.name = $name,
            otel.kind = "client",
            otel.status_code = $crate::__private::tracing::field::Empty,
            db.system.name = $system,
            db.operation.name = $operation,
            db.collection.name = $collection,
            db.query.text = $sql,
            error.type = $crate::__private::tracing::field::Empty,
            exception.message = $crate::__private::tracing::field::Empty,
        )
    };
}

/// Marks `span` as failed when `result` is an error, recording what failed.
pub fn record_result<T, E: Display>(span: &Span, result: &Result<T, E>) {
    if let Err(err) = result {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", std::any::type_name::<E>());
        span.record("exception.message", tracing::field::display(err));
    }
}
