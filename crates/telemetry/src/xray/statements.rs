//! SQL statements as JSON strings, written once per statement rather than
//! once per sampled query. A service runs a handful of statements, each up
//! to a few hundred bytes of text (home's is ~960), and serde_json escaped
//! the whole text byte by byte into every document: ~9 k instructions of a
//! home request with every request sampled (scripts/bench --instructions).
//!
//! A statement is known by its text's identity, not its contents: the span
//! bridge shares a repeated text as one `Arc<str>` (`string_values`), and
//! comparing addresses costs nothing where comparing or hashing ~1 KB of
//! SQL would cost much of what it saves.

use opentelemetry::{StringValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_semantic_conventions::attribute as attr;
use serde_json::value::RawValue;

/// More distinct texts than a service has statements: past it, start over
/// (texts a thread stopped sharing are let go, so memory stays bounded).
const MAX_KEPT: usize = 64;

#[derive(Debug, Default)]
pub(super) struct Statements {
    /// Each text, kept alive by this clone, with its JSON string. While it is
    /// held, no other text can have its address and length: a match by
    /// address is the same text.
    written: Vec<(StringValue, Box<RawValue>)>,
}

impl Statements {
    /// Writes the statement of each query in `batch` not written yet.
    pub(super) fn add_from(&mut self, batch: &[SpanData]) {
        for span in batch {
            let Some(Value::String(text)) =
                span.attributes.iter().find(|kv| kv.key.as_str() == attr::DB_QUERY_TEXT).map(|kv| &kv.value)
            else {
                continue;
            };
            if self.get(text).is_some() {
                continue;
            }
            let kept = text.clone();
            // A text of its own (not shared) is copied by `clone`: its copy
            // would never match again, so it is not kept.
            if !std::ptr::eq(kept.as_str(), text.as_str()) {
                continue;
            }
            if self.written.len() == MAX_KEPT {
                self.written.clear();
            }
            let json = serde_json::to_string(kept.as_str()).expect("a string always serialises");
            let json = RawValue::from_string(json).expect("serde_json wrote valid JSON");
            self.written.push((kept, json));
        }
    }

    /// The JSON string of `text`, if it was written.
    pub(super) fn get(&self, text: &StringValue) -> Option<&RawValue> {
        self.written.iter().find(|(kept, _)| std::ptr::eq(kept.as_str(), text.as_str())).map(|(_, json)| &**json)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::KeyValue;

    use super::*;

    fn query(text: StringValue) -> SpanData {
        let mut span = crate::batch::tests::span(1);
        span.attributes = vec![KeyValue::new(attr::DB_QUERY_TEXT, text)];
        span
    }

    #[test]
    fn a_shared_text_is_written_once_and_found_by_identity() {
        let shared = StringValue::from(Arc::<str>::from("SELECT \"a\" FROM t WHERE b = $1"));
        let mut statements = Statements::default();
        statements.add_from(&[query(shared.clone()), query(shared.clone())]);
        assert_eq!(statements.written.len(), 1);
        assert_eq!(statements.get(&shared).unwrap().get(), r#""SELECT \"a\" FROM t WHERE b = $1""#);
        // The same words in another allocation are another text.
        let equal = StringValue::from(Arc::<str>::from("SELECT \"a\" FROM t WHERE b = $1"));
        assert!(statements.get(&equal).is_none());
    }

    #[test]
    fn an_unshared_text_is_not_kept() {
        let owned = StringValue::from(String::from("SELECT 1"));
        let mut statements = Statements::default();
        statements.add_from(&[query(owned.clone())]);
        assert!(statements.written.is_empty());
        assert!(statements.get(&owned).is_none());
    }

    #[test]
    fn past_the_limit_it_starts_over() {
        let texts: Vec<StringValue> =
            (0..=MAX_KEPT).map(|i| StringValue::from(Arc::<str>::from(format!("SELECT {i}")))).collect();
        let mut statements = Statements::default();
        statements.add_from(&texts.iter().cloned().map(query).collect::<Vec<_>>());
        assert_eq!(statements.written.len(), 1);
        assert_eq!(statements.get(&texts[MAX_KEPT]).unwrap().get(), format!("\"SELECT {MAX_KEPT}\""));
    }
}
