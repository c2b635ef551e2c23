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

/// Slots per thread. A field's text goes in the first slot from its home
/// slot (chosen by the name's address) that is free or already its own,
/// within [`PROBES`] of home: each name keeps its own slot, so which names
/// share a home slot (that depends on where the linker puts the names) does
/// not matter. With a slot of their own per home, two names of one request
/// taking turns made a new text each time, and the X-Ray exporter, which
/// knows a statement by its text's identity (`xray/statements.rs`), wrote
/// the statement again each time: +22 k instructions of a home request with
/// X-Ray on, after a change elsewhere moved the names (scripts/bench
/// --instructions).
const SLOTS: usize = 64;

/// How far from its home slot a name's slot may be. Past it (more names
/// than a thread's requests have), names in the home slot take turns.
const PROBES: usize = 8;

/// Longer values are copied as before rather than kept.
const MAX_KEPT_LEN: usize = 2048;

/// A field name (by address) and the last text this thread made of it.
type Slot = Option<(usize, Arc<str>)>;

thread_local! {
    static LAST: RefCell<[Slot; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

/// `value` as an attribute value of the field `name`, sharing the text
/// with the last value of that field on this thread when they are equal.
pub(crate) fn shared(name: &'static str, value: &str) -> Value {
    if value.len() > MAX_KEPT_LEN {
        return Value::from(value.to_owned());
    }
    let text = LAST
        .try_with(|last| {
            let mut last = last.borrow_mut();
            let slot = slot_of(&last[..], name);
            match &last[slot] {
                Some((_, kept)) if **kept == *value => kept.clone(),
                _ => last[slot].insert((name_key(name), Arc::from(value))).1.clone(),
            }
        })
        // The thread is ending: no cache, a copy.
        .unwrap_or_else(|_| Arc::from(value));
    Value::String(StringValue::from(text))
}

fn name_key(name: &'static str) -> usize {
    name.as_ptr().addr()
}

fn home_of(name: &'static str) -> usize {
    let address = name_key(name);
    // Names are laid out byte by byte in read-only data: mix the low bits.
    (address ^ (address >> 6) ^ (address >> 12)) % SLOTS
}

/// The slot of `name`: its own, or the first free one near home, or home.
fn slot_of(slots: &[Slot], name: &'static str) -> usize {
    let (home, key) = (home_of(name), name_key(name));
    (0..PROBES)
        .map(|step| (home + step) % SLOTS)
        .find(|&slot| slots[slot].as_ref().is_none_or(|(owner, _)| *owner == key))
        .unwrap_or(home)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many holders the text kept for `name` has (the slot included).
    fn holders(name: &'static str) -> usize {
        LAST.with(|last| {
            let last = last.borrow();
            let slot = slot_of(&last[..], name);
            last[slot]
                .as_ref()
                .filter(|(owner, _)| *owner == name_key(name))
                .map_or(0, |(_, kept)| Arc::strong_count(kept))
        })
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
    fn names_with_one_home_slot_each_keep_their_own_text() {
        // Names whose home slot is the same, as the linker may lay them out.
        let names: Vec<&'static str> = (0..)
            .map(|i| &*format!("field.{i}").leak())
            .filter(|name| home_of(name) == home_of("db.query.text"))
            .take(3)
            .collect();
        for _ in 0..2 {
            let first: Vec<Value> = names.iter().map(|name| shared(name, &format!("{name} text"))).collect();
            let again: Vec<Value> = names.iter().map(|name| shared(name, &format!("{name} text"))).collect();
            for (a, b) in first.iter().zip(&again) {
                let (Value::String(a), Value::String(b)) = (a, b) else { unreachable!() };
                assert!(std::ptr::eq(a.as_str(), b.as_str()), "{a} is shared, not made again");
            }
        }
    }

    #[test]
    fn more_names_than_slots_take_turns_and_keep_their_values() {
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
