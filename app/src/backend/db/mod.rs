//! SQL, one module per area. Functions take a pool or a connection and return plain Rust
//! types; a mutation and its audit row share one transaction.

pub mod audit;
pub mod banks;
pub mod compliance;
pub mod controls;
pub mod dashboard;
pub mod ledger;
pub mod list;
pub mod logins;
pub mod payments;
pub mod sessions;
pub mod settlements;
pub mod system;
pub mod twofactor;
pub mod users;
