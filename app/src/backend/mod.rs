//! Server-only code: configuration, shared state, SQL, the audit trail and background jobs.
//! Compiled only with the `ssr` feature, so the browser build never sees sqlx, redis, rocksdb
//! or argon2. Nothing in here depends on Leptos types except `state::current`.

pub mod audit;
pub mod auth;
pub mod banks;
pub mod compliance;
pub mod config;
pub mod context;
pub mod control_copy;
pub mod controls;
pub mod crypto;
pub mod db;
pub mod denials;
pub mod error;
pub mod jobs;
pub mod ledger;
pub mod metrics;
pub mod passwords;
pub mod payments;
pub mod profile;
pub mod recovery;
pub mod redis_conn;
pub mod replica;
pub mod service_state;
pub mod session_store;
pub mod sessions;
pub mod settlements;
pub mod state;
pub mod system;
pub mod tokens;
pub mod totp;
pub mod users;
