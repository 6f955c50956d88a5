//! Browser sessions: tower-sessions records kept in Redis, expiring with the idle timeout.
//! The record holds only the id of the `deltran.sessions` row; who the user is and whether the
//! session still counts is read from Postgres on each request, so revocation, deactivation
//! and role changes take effect at once.
//!
//! Redis is shared with the other DelTran services, so nothing in it may work as a cookie:
//! a record is stored under `{prefix}console:session:{HMAC-SHA256(SESSION_SECRET, id)}` and
//! its body leaves the id out. Reading every key gives no cookie to replay, and a key cannot
//! be forged for a chosen cookie without the secret.

use hmac::{Hmac, Mac};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tower_sessions::{
    cookie::time::OffsetDateTime,
    session::{Id, Record},
    session_store::{self, SessionStore},
};

use super::{config::Secret, redis_conn::Redis, state::AppState};

tokio::task_local! {
    /// Set when the store failed to reach Redis while a request ran inside [`watch_store`].
    static STORE_FAILED: std::cell::Cell<bool>;
}

/// Runs a request's `fut` and tells whether the store failed to reach Redis meanwhile.
/// tower-sessions answers a session it cannot save with a bare 500 (and saving loads the
/// record first when the handler did not); the server turns that into the 503 (with
/// `Retry-After`) that every other Redis failure gets, since Redis being away, as in a
/// failover, is a wait, not a fault.
pub async fn watch_store<F: std::future::Future>(fut: F) -> (F::Output, bool) {
    STORE_FAILED
        .scope(std::cell::Cell::new(false), async {
            let out = fut.await;
            (out, STORE_FAILED.with(std::cell::Cell::get))
        })
        .await
}

/// The session key holding the `deltran.sessions` row id.
pub const SESSION_ROW: &str = "sid";

#[derive(Clone)]
pub struct RedisSessionStore {
    redis: Redis,
    /// `{prefix}console:session:`
    namespace: String,
    /// HMAC keyed with `SESSION_SECRET`, ready to be cloned per key.
    mac: Hmac<Sha256>,
}

/// What is stored: the record without its id.
#[derive(Serialize, Deserialize)]
struct Stored {
    data: std::collections::HashMap<String, serde_json::Value>,
    expiry_date: OffsetDateTime,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisSessionStore")
    }
}

impl RedisSessionStore {
    pub fn new(state: &AppState) -> Self {
        RedisSessionStore {
            redis: state.redis.clone(),
            namespace: format!("{}console:session:", state.config.redis_prefix),
            mac: Hmac::new_from_slice(state.config.secret(Secret::Session).as_bytes())
                .expect("HMAC takes keys of any length"),
        }
    }

    /// The Redis key of a session id.
    pub fn key(&self, id: &Id) -> String {
        let mut mac = self.mac.clone();
        mac.update(id.to_string().as_bytes());
        format!(
            "{}{}",
            self.namespace,
            hex::encode(mac.finalize().into_bytes())
        )
    }
}

fn encode(record: &Record) -> session_store::Result<String> {
    let stored = Stored {
        data: record.data.clone(),
        expiry_date: record.expiry_date,
    };
    serde_json::to_string(&stored).map_err(|e| session_store::Error::Encode(e.to_string()))
}

fn backend(err: redis::RedisError) -> session_store::Error {
    let _ = STORE_FAILED.try_with(|failed| failed.set(true));
    session_store::Error::Backend(err.to_string())
}

fn ttl_seconds(record: &Record) -> u64 {
    let left = record.expiry_date - tower_sessions::cookie::time::OffsetDateTime::now_utc();
    left.whole_seconds().max(1) as u64
}

#[async_trait::async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut conn = self.redis.clone();
        let body = encode(record)?;
        // Ids are random 128-bit numbers; on the unthinkable collision, draw again.
        loop {
            let created: bool = redis::cmd("SET")
                .arg(self.key(&record.id))
                .arg(&body)
                .arg("NX")
                .arg("EX")
                .arg(ttl_seconds(record))
                .query_async::<Option<String>>(&mut conn)
                .await
                .map_err(backend)?
                .is_some();
            if created {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let mut conn = self.redis.clone();
        let body = encode(record)?;
        conn.set_ex::<_, _, ()>(self.key(&record.id), body, ttl_seconds(record))
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut conn = self.redis.clone();
        let body: Option<String> = conn.get(self.key(id)).await.map_err(backend)?;
        body.map(|b| {
            let stored: Stored = serde_json::from_str(&b)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?;
            Ok(Record {
                id: *id,
                data: stored.data,
                expiry_date: stored.expiry_date,
            })
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let mut conn = self.redis.clone();
        conn.del::<_, ()>(self.key(id)).await.map_err(backend)
    }
}
