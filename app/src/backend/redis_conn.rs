//! The console's Redis connection: the server of `REDIS_URL`, or the master that the Sentinels
//! of `REDIS_SENTINELS` name for `REDIS_MASTER_NAME`, followed across failovers without a
//! restart.
//!
//! redis-rs's `ConnectionManager` keeps reconnecting to the address it was built with
//! (redis-rs issue #1438): after a failover it gets "connection refused" from a killed master,
//! or READONLY from a demoted one. So [`Redis`] asks the Sentinels again on those errors (and
//! a watch job asks every second) and, when the master moved, puts a manager for the new one
//! in place; the command that failed is sent once more, to the new master. Until Sentinel has
//! promoted a replica the error stands, and the request that needed Redis answers 503 with
//! `Retry-After` (`AppError::Unavailable`). Every holder of a clone follows the same switch:
//! the session store, the rate limits, the control copies, the anchor job.

use std::{
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType},
    Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult,
    ServerErrorKind, Value,
};

/// Times the master was asked of the Sentinels again after an error, by outcome: `moved` (a
/// new master is used), `unchanged` (the same one), `failed` (no Sentinel named a reachable
/// master); the watch's look-ups are counted only when the master moved.
pub const RERESOLUTIONS: &str = "deltran_console_redis_reresolutions_total";

/// The least time between two look-ups after errors: a burst of failing requests asks the
/// Sentinels once, not once each.
const MIN_LOOKUP_INTERVAL: Duration = Duration::from_millis(200);
/// The longest a look-up may take (every Sentinel asked, the master's role checked).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// A Redis connection that reconnects by itself and, behind Sentinel, follows the master.
/// Clones share one connection; use it wherever redis-rs takes an async connection.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    current: RwLock<Current>,
    sentinel: Option<Sentinel>,
}

#[derive(Clone)]
struct Current {
    manager: ConnectionManager,
    /// Where `manager` connects (`host:port`).
    addr: String,
    /// Bumped at each switch, so that concurrent failures switch once.
    generation: u64,
}

struct Sentinel {
    client: tokio::sync::Mutex<SentinelClient>,
    master_name: String,
    last_lookup: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("addr", &self.addr())
            .field("sentinel", &self.inner.sentinel.is_some())
            .finish()
    }
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
}

fn manager(client: redis::Client) -> RedisResult<Current> {
    let addr = client.get_connection_info().addr().to_string();
    Ok(Current {
        manager: ConnectionManager::new_lazy_with_config(client, manager_config())?,
        addr,
        generation: 0,
    })
}

/// Whether `err` may mean that the master is gone or no longer the master.
fn means_failover(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_timeout()
        || matches!(err.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly))
}

impl Redis {
    /// The server of `url`, connected on first use (so the console starts while Redis is down).
    pub fn direct(url: &str) -> RedisResult<Redis> {
        let current = manager(redis::Client::open(url)?)?;
        Ok(Redis {
            inner: Arc::new(Inner {
                current: RwLock::new(current),
                sentinel: None,
            }),
        })
    }

    /// The master the Sentinels at `sentinels` (`host:port` each) name for `master_name`, with
    /// the credentials, database and TLS of `url` (its address is not used). When no Sentinel
    /// names a reachable master yet, the console starts all the same (as it does while a
    /// plain Redis is down): every command fails, and asks the Sentinels again, until one does.
    pub async fn sentinel(
        sentinels: &[String],
        master_name: &str,
        url: &str,
    ) -> RedisResult<Redis> {
        let info = url.into_connection_info()?;
        let mut node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(info.redis_settings().clone());
        if let redis::ConnectionAddr::TcpTls { insecure, .. } = info.addr() {
            node = node.set_tls_mode(if *insecure {
                redis::TlsMode::Insecure
            } else {
                redis::TlsMode::Secure
            });
        }
        let nodes: Vec<String> = sentinels.iter().map(|s| format!("redis://{s}")).collect();
        let mut client =
            SentinelClient::build(nodes, master_name, Some(node), SentinelServerType::Master)?;
        let found = tokio::time::timeout(LOOKUP_TIMEOUT, client.async_get_client()).await;
        let current = match found {
            Ok(Ok(master)) => {
                let current = manager(master)?;
                tracing::info!(master = %current.addr, master_name, "redis master found through Sentinel");
                current
            }
            failed => {
                let why = match failed {
                    Ok(Err(err)) => err.to_string(),
                    _ => "no answer in time".to_string(),
                };
                tracing::warn!(%why, master_name, "no redis master found through Sentinel at start-up; asked again on use");
                // Port 1 refuses: the first command fails as a lost master does, and looks again.
                let mut nowhere = manager(redis::Client::open("redis://127.0.0.1:1")?)?;
                nowhere.addr = "(not found yet)".into();
                nowhere
            }
        };
        Ok(Redis {
            inner: Arc::new(Inner {
                current: RwLock::new(current),
                sentinel: Some(Sentinel {
                    client: tokio::sync::Mutex::new(client),
                    master_name: master_name.to_string(),
                    last_lookup: Mutex::new(None),
                }),
            }),
        })
    }

    /// Where commands go now (`host:port`).
    pub fn addr(&self) -> String {
        self.current().addr
    }

    /// Whether the master is found through Sentinel.
    pub fn is_sentinel(&self) -> bool {
        self.inner.sentinel.is_some()
    }

    fn current(&self) -> Current {
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks the Sentinels for the master after commands on `generation` failed (or, `watch`,
    /// on the watch's tick) and switches to it when it moved. Returns the manager to retry on
    /// when it is not the one that failed.
    async fn reresolve(&self, generation: u64, watch: bool) -> Option<ConnectionManager> {
        let sentinel = self.inner.sentinel.as_ref()?;
        let mut client = sentinel.client.lock().await;
        let now = self.current();
        if now.generation != generation {
            // Another caller switched while this one waited.
            return Some(now.manager);
        }
        if !watch {
            let mut last = sentinel
                .last_lookup
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < MIN_LOOKUP_INTERVAL) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let outcome = |o: &'static str| {
            if !watch || o == "moved" {
                metrics::counter!(RERESOLUTIONS, "outcome" => o).increment(1);
            }
        };
        let found = tokio::time::timeout(LOOKUP_TIMEOUT, client.async_get_client()).await;
        let master = match found {
            Ok(Ok(master)) => master,
            Ok(Err(err)) => {
                outcome("failed");
                if !watch {
                    tracing::warn!(error = %err, "no redis master found through Sentinel yet");
                }
                return None;
            }
            Err(_) => {
                outcome("failed");
                if !watch {
                    tracing::warn!("the Sentinels did not name a redis master in time");
                }
                return None;
            }
        };
        let addr = master.get_connection_info().addr().to_string();
        if addr == now.addr {
            outcome("unchanged");
            return None;
        }
        let mut next = match manager(master) {
            Ok(next) => next,
            Err(err) => {
                outcome("failed");
                tracing::warn!(error = %err, "cannot connect to the new redis master");
                return None;
            }
        };
        next.generation = now.generation + 1;
        outcome("moved");
        tracing::warn!(
            from = %now.addr,
            to = %next.addr,
            master_name = %sentinel.master_name,
            "redis master moved: following it"
        );
        let manager = next.manager.clone();
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = next;
        Some(manager)
    }
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let Current {
                mut manager,
                generation,
                ..
            } = self.current();
            match manager.req_packed_command(cmd).await {
                Err(err) if means_failover(&err) => match self.reresolve(generation, false).await {
                    // Sent again only to another server: the one that failed is gone or
                    // demoted, so what it did with the command no longer counts.
                    Some(mut next) => next.req_packed_command(cmd).await,
                    None => Err(err),
                },
                other => other,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let Current {
                mut manager,
                generation,
                ..
            } = self.current();
            match manager.req_packed_commands(pipeline, offset, count).await {
                Err(err) if means_failover(&err) => match self.reresolve(generation, false).await {
                    Some(mut next) => next.req_packed_commands(pipeline, offset, count).await,
                    None => Err(err),
                },
                other => other,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.current().manager.get_db()
    }
}

/// Behind Sentinel: asks every second until the application stops whether the master moved,
/// so that the console follows a failover (a `SENTINEL FAILOVER` too) before a request fails.
pub fn spawn_watch(state: &super::state::AppState) -> Option<tokio::task::JoinHandle<()>> {
    if !state.redis.is_sentinel() {
        return None;
    }
    let redis = state.redis.clone();
    let stop = state.background.clone();
    Some(state.background.clone().spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let check = async {
                tick.tick().await;
                let generation = redis.current().generation;
                redis.reresolve(generation, true).await;
            };
            tokio::select! {
                biased;
                _ = stop.stopping() => return,
                _ = check => {}
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_errors_are_told_from_others() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(means_failover(&refused));
        let readonly = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert!(means_failover(&readonly));
        let wrong_type = RedisError::from((ErrorKind::Client, "WRONGTYPE"));
        assert!(!means_failover(&wrong_type));
    }
}
