//! End-to-end tests of the Cruddur services live in `tests/`.
