//! System health: PostgreSQL's statistics (`db::system`) and Redis' `INFO`, slow log and a
//! sample of the keys under the console's prefix (SCAN, then `MEMORY USAGE` in a pipeline;
//! never KEYS). Redis not answering is part of the answer, not an error.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use redis::Value;

use super::{db::system as db, redis_conn::Redis, state::AppState};
use crate::{
    error::AppError,
    system::{
        ConsoleInstance, JobState, Namespace, PostgresHealth, RedisHealth, RedisInfo, SlowCommand,
        SystemHealth, NAMESPACE_SAMPLE,
    },
};

/// Everything the System page shows, read now.
pub async fn health(state: &AppState) -> Result<SystemHealth, AppError> {
    let (postgres, redis, instances, ledger) = futures::join!(
        postgres(state),
        redis(state),
        instances(state),
        super::ledger::queries::stats(state)
    );
    Ok(SystemHealth {
        read_at: Utc::now(),
        postgres: postgres?,
        redis,
        ledger: ledger.ok(),
        instances: instances?,
    })
}

/// The instances' heartbeats, their jobs read from the stored JSON.
async fn instances(state: &AppState) -> Result<Vec<ConsoleInstance>, AppError> {
    #[derive(serde::Deserialize)]
    struct Run {
        at: DateTime<Utc>,
        ok: bool,
        seconds: f64,
    }
    Ok(db::instances(&state.db)
        .await?
        .into_iter()
        .map(|r| {
            let runs: BTreeMap<String, Run> = serde_json::from_str(&r.jobs).unwrap_or_default();
            ConsoleInstance {
                this_one: r.id == state.instance.id,
                id: r.id,
                address: r.address,
                version: r.version,
                started_at: r.started_at,
                last_seen_at: r.last_seen_at,
                jobs: runs
                    .into_iter()
                    .map(|(name, run)| JobState {
                        name,
                        at: run.at,
                        ok: run.ok,
                        seconds: run.seconds,
                    })
                    .collect(),
            }
        })
        .collect())
}

async fn postgres(state: &AppState) -> Result<PostgresHealth, AppError> {
    let db = &state.db;
    let (server, connections, tables, indexes, long_queries, lock_waits, replicas) = futures::try_join!(
        db::server(db),
        db::connections(db),
        db::tables(db),
        db::indexes(db),
        db::long_queries(db),
        db::lock_waits(db),
        db::replicas(db),
    )?;
    Ok(PostgresHealth {
        version: server.version,
        started_at: server.started_at,
        in_recovery: server.in_recovery,
        replay_delay_seconds: server.replay_delay_seconds,
        database_bytes: server.database_bytes,
        max_connections: server.max_connections,
        cache_hit_percent: server.cache_hit_percent,
        connections,
        tables,
        indexes,
        long_queries,
        lock_waits,
        replicas,
    })
}

async fn redis(state: &AppState) -> RedisHealth {
    let mut conn = state.redis.clone();
    match redis_info(&mut conn, &state.config.redis_prefix).await {
        Ok(info) => RedisHealth {
            error: None,
            info: Some(info),
        },
        Err(err) => {
            tracing::warn!(error = %err, "Redis unavailable for the System page");
            RedisHealth {
                error: Some("Redis did not answer.".into()),
                info: None,
            }
        }
    }
}

async fn redis_info(conn: &mut Redis, prefix: &str) -> redis::RedisResult<RedisInfo> {
    let info: String = redis::cmd("INFO").query_async(conn).await?;
    let info = parse_info(&info);
    // SLOWLOG is an admin command: an ACL user without `+slowlog|get` reads the rest.
    let slowlog: Option<Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(10)
        .query_async(conn)
        .await
        .ok();
    let (namespaces, sampled_keys) = namespaces(conn, prefix).await?;
    let num = |k: &str| info.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let (hits, misses) = (num("keyspace_hits"), num("keyspace_misses"));
    let replicas = (0..)
        .map_while(|i| info.get(&format!("slave{i}")))
        .cloned()
        .collect();
    Ok(RedisInfo {
        version: info.get("redis_version").cloned().unwrap_or_default(),
        role: info.get("role").cloned().unwrap_or_default(),
        uptime_seconds: num("uptime_in_seconds"),
        connected_clients: num("connected_clients"),
        used_memory: num("used_memory"),
        used_memory_peak: num("used_memory_peak"),
        maxmemory: num("maxmemory"),
        maxmemory_policy: info.get("maxmemory_policy").cloned().unwrap_or_default(),
        ops_per_sec: num("instantaneous_ops_per_sec"),
        hit_percent: (hits + misses > 0)
            .then(|| (10_000.0 * hits as f64 / (hits + misses) as f64).round() / 100.0),
        replicas,
        slowlog: slowlog.as_ref().map(slow_commands),
        namespaces,
        sampled_keys,
    })
}

/// `INFO`'s `key:value` lines (section headers and blanks skipped).
fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `SLOWLOG GET`'s entries: id, time, microseconds, the command and its first arguments.
fn slow_commands(value: &Value) -> Vec<SlowCommand> {
    let Value::Array(entries) = value else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let Value::Array(fields) = entry else {
                return None;
            };
            let int = |i: usize| match fields.get(i) {
                Some(Value::Int(n)) => Some(*n),
                _ => None,
            };
            let words: Vec<String> = match fields.get(3) {
                Some(Value::Array(args)) => args
                    .iter()
                    .take(4)
                    .filter_map(|a| match a {
                        Value::BulkString(b) => {
                            Some(String::from_utf8_lossy(b).chars().take(60).collect())
                        }
                        Value::SimpleString(s) => Some(s.chars().take(60).collect()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Some(SlowCommand {
                id: int(0)?,
                at: DateTime::from_timestamp(int(1)?, 0)?,
                micros: int(2)?,
                command: words.join(" "),
            })
        })
        .collect()
}

/// Up to `NAMESPACE_SAMPLE` keys under `prefix`, grouped by the name segment after it, with
/// their `MEMORY USAGE` summed; how many keys were read.
async fn namespaces(conn: &mut Redis, prefix: &str) -> redis::RedisResult<(Vec<Namespace>, i64)> {
    let pattern = format!("{}*", super::control_copy::glob_escape(prefix));
    let mut keys = super::control_copy::scan_matching(conn, &pattern, NAMESPACE_SAMPLE).await?;
    keys.truncate(NAMESPACE_SAMPLE);
    let mut pipe = redis::pipe();
    for key in &keys {
        pipe.cmd("MEMORY").arg("USAGE").arg(key);
    }
    let sizes: Vec<Option<i64>> = if keys.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(conn).await?
    };
    let mut by_name: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (key, size) in keys.iter().zip(sizes) {
        let rest = &key[prefix.len()..];
        let name = rest.split(':').next().unwrap_or(rest).to_string();
        let entry = by_name.entry(name).or_default();
        entry.0 += 1;
        entry.1 += size.unwrap_or(0);
    }
    let namespaces = by_name
        .into_iter()
        .map(|(name, (keys, bytes))| Namespace { name, keys, bytes })
        .collect();
    Ok((namespaces, keys.len() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lines_are_read_and_headers_skipped() {
        let info = parse_info("# Server\r\nredis_version:7.0.15\r\nrole:master\r\n\r\nslave0:ip=10.0.0.2,port=6380,state=online,offset=42,lag=0\r\n");
        assert_eq!(info["redis_version"], "7.0.15");
        assert_eq!(info["role"], "master");
        assert!(info["slave0"].starts_with("ip=10.0.0.2"));
        assert!(!info.contains_key("# Server"));
    }

    #[test]
    fn slow_log_entries_name_their_command() {
        let entry = Value::Array(vec![
            Value::Int(7),
            Value::Int(1_790_000_000),
            Value::Int(15_000),
            Value::Array(vec![
                Value::BulkString(b"SCAN".to_vec()),
                Value::BulkString(b"0".to_vec()),
            ]),
            Value::BulkString(b"127.0.0.1:5000".to_vec()),
        ]);
        let slow = slow_commands(&Value::Array(vec![entry, Value::Int(3)]));
        assert_eq!(slow.len(), 1);
        assert_eq!((slow[0].id, slow[0].micros), (7, 15_000));
        assert_eq!(slow[0].command, "SCAN 0");
    }
}
