//! Browser sessions: tower-sessions records kept in Redis under `deltran:console:session:{id}`,
//! expiring with the idle timeout. The record holds only the id of the `deltran.sessions` row;
//! who the user is and whether the session still counts is read from Postgres on each request,
//! so revocation, deactivation and role changes take effect at once.

use redis::{aio::ConnectionManager, AsyncCommands};
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, SessionStore},
};

const PREFIX: &str = "deltran:console:session:";

/// The session key holding the `deltran.sessions` row id.
pub const SESSION_ROW: &str = "sid";

#[derive(Clone)]
pub struct RedisSessionStore {
    redis: ConnectionManager,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisSessionStore")
    }
}

impl RedisSessionStore {
    pub fn new(redis: ConnectionManager) -> Self {
        RedisSessionStore { redis }
    }
}

fn key(id: &Id) -> String {
    format!("{PREFIX}{id}")
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
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
        let body = serde_json::to_string(&record)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        // Ids are random 128-bit numbers; on the unthinkable collision, draw again.
        loop {
            let created: bool = redis::cmd("SET")
                .arg(key(&record.id))
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
        let body = serde_json::to_string(&record)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        conn.set_ex::<_, _, ()>(key(&record.id), body, ttl_seconds(record))
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut conn = self.redis.clone();
        let body: Option<String> = conn.get(key(id)).await.map_err(backend)?;
        body.map(|b| {
            serde_json::from_str(&b).map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let mut conn = self.redis.clone();
        conn.del::<_, ()>(key(id)).await.map_err(backend)
    }
}
