//! String attribute values that repeat from span to span (the method, the
//! route, the SQL, the peer's address), shared instead of copied.
//!
//! Each thread remembers, per field name, the last value it turned into an
//! attribute; the same text again is the same `Arc<str>`. A copy per value
//! was a malloc and a free on the request path, and the free usually lands
//! on an exporter's thread, where glibc's per-thread cache cannot take it:
//! −3.6 k instructions of a home request with spans alone (scripts/bench
//! --instructions; see docs/telemetry-cost.md). Written here because interning crates
//! keep every distinct value for the life of the process, and a header such
//! as `User-Agent` would then grow memory without bound: this keeps one
//! value per slot, a few KiB a thread at most.

use std::{cell::RefCell, sync::Arc};

use opentelemetry::{StringValue, Value};

/// Slots per thread, chosen by the field name's address (a span's field
/// names are `'static`). Two names in one slot only take turns.
const SLOTS: usize = 64;

/// Longer values are copied as before rather than kept.
const MAX_KEPT_LEN: usize = 2048;

thread_local! {
    static LAST: RefCell<[Option<Arc<str>>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

/// `value` as an attribute value of the field `name`, sharing the text
/// with the last value of that field on this thread when they are equal.
pub(crate) fn shared(name: &'static str, value: &str) -> Value {
    if value.len() > MAX_KEPT_LEN {
        return Value::from(value.to_owned());
    }
    let slot = slot_of(name);
    let text = LAST
        .try_with(|last| {
            let mut last = last.borrow_mut();
            match &last[slot] {
                Some(kept) if **kept == *value => kept.clone(),
                _ => last[slot].insert(Arc::from(value)).clone(),
            }
        })
        // The thread is ending: no cache, a copy.
        .unwrap_or_else(|_| Arc::from(value));
    Value::String(StringValue::from(text))
}

fn slot_of(name: &'static str) -> usize {
    let address = name.as_ptr().addr();
    // Names are laid out byte by byte in read-only data: mix the low bits.
    (address ^ (address >> 6) ^ (address >> 12)) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many holders the text kept for `name` has (the slot included).
    fn holders(name: &'static str) -> usize {
        LAST.with(|last| last.borrow()[slot_of(name)].as_ref().map_or(0, Arc::strong_count))
    }

    #[test]
    fn the_same_text_of_a_field_is_shared_and_a_new_one_replaces_it() {
        let first = shared("db.query.text", "SELECT 1");
        let again = shared("db.query.text", "SELECT 1");
        assert_eq!(again.as_str(), "SELECT 1");
        assert_eq!(holders("db.query.text"), 3, "one text for the slot and both values");

        let other = shared("db.query.text", "SELECT 2");
        assert_eq!(other.as_str(), "SELECT 2");
        assert_eq!(holders("db.query.text"), 2, "the new text, for the slot and its value");
        // The older text lives on in the spans that hold it.
        assert_eq!((&*first.as_str(), &*again.as_str()), ("SELECT 1", "SELECT 1"));
        drop((first, again, other));
        assert_eq!(holders("db.query.text"), 1);
    }

    #[test]
    fn fields_in_one_slot_take_turns_and_keep_their_values() {
        let names: Vec<&'static str> = (0..SLOTS * 2).map(|i| &*format!("field.{i}").leak()).collect();
        let values: Vec<Value> = names.iter().map(|name| shared(name, name)).collect();
        for (name, value) in names.iter().zip(&values) {
            assert_eq!(value.as_str(), *name);
            assert_eq!(shared(name, name).as_str(), *name);
        }
    }

    #[test]
    fn a_long_value_is_copied_whole() {
        let long = "x".repeat(MAX_KEPT_LEN + 1);
        let value = shared("url.full", &long);
        assert_eq!(value.as_str(), long.as_str());
        assert_eq!(holders("url.full"), 0, "not kept");
    }
}
