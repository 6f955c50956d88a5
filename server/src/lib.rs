//! The axum side of DelTran Console: the command line, the application (router, middleware,
//! REST API, downloads, probes) and the operational commands (migrations, demo seed, backup
//! and restore).

pub mod api;
pub mod audit_cli;
pub mod backup;
pub mod cli;
pub mod db;
pub mod downloads;
pub mod errors;
pub mod ledger_cli;
pub mod metrics;
pub mod middleware;
pub mod permissions;
pub mod probes;
pub mod seed;
pub mod startup;
pub mod telemetry;
pub mod users;
