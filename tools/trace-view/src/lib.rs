//! A local trace view for development: receives OTLP/HTTP traces (protobuf
//! or JSON) on one port, keeps the latest ones in bounded memory, shows them
//! as a list and as waterfalls on another port, and prints a line for each
//! finished trace. No persistence, no auth: it binds to loopback by default.

pub mod config;
pub mod decode;
pub mod printer;
pub mod receiver;
pub mod server;
pub mod store;
pub mod trace;
pub mod ui;
pub mod view;

/// The store, shared by the receiver, the pages and the printer; each holds
/// the lock only to copy in or out.
pub type SharedStore = std::sync::Mutex<store::Store>;
