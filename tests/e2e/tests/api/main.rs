//! The Cruddur HTTP contract (API.md) against the three services, each test
//! once on PostgreSQL and once on SQLite.

mod bad_input;
mod cross_service;
mod helpers;
mod messages;
mod routes;
