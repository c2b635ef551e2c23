//! Database client spans. sqlx 0.9 emits only `sqlx::query` events, so the
//! services wrap each query in one of these (through `service_kit::db_query!`).

use std::fmt::Display;

use opentelemetry_semantic_conventions::attribute as attr;
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
            { $crate::__private::semconv::DB_SYSTEM_NAME } = $system,
            { $crate::__private::semconv::DB_OPERATION_NAME } = $operation,
            { $crate::__private::semconv::DB_COLLECTION_NAME } = $collection,
            { $crate::__private::semconv::DB_QUERY_TEXT } = $sql,
            { $crate::__private::semconv::ERROR_TYPE } = $crate::__private::tracing::field::Empty,
            { $crate::__private::semconv::EXCEPTION_MESSAGE } = $crate::__private::tracing::field::Empty,
        )
    };
}

/// Marks `span` as failed when `result` is an error, recording what failed.
pub fn record_result<T, E: Display>(span: &Span, result: &Result<T, E>) {
    if let Err(err) = result {
        span.record("otel.status_code", "ERROR");
        span.record(attr::ERROR_TYPE, std::any::type_name::<E>());
        span.record(attr::EXCEPTION_MESSAGE, tracing::field::display(err));
    }
}
