//! The integration tests: real Postgres and Redis (from DATABASE_URL and REDIS_URL, default
//! the local ones), each test with a database of its own, and the real binary for the CLI.

mod api;
mod audit;
mod audit_page;
mod auth;
mod banks;
mod cli;
mod common;
mod compliance;
mod controls;
mod ha;
mod http;
mod jobs;
mod ledger;
mod lists;
mod matrix;
mod payments;
mod profile;
mod schema;
mod sessions;
mod settlements;
mod system;
mod twofactor;
mod users;
