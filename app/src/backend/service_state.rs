//! The rest of the payment services' Redis contract, in domain terms: their circuit breakers
//! (`{prefix}circuit:{service}`, a hash of `state`, `failures`, `opened_at`), which an
//! operator may reset to closed (with a reason, audited), and their idempotency keys
//! (`{prefix}idempotency:{key}`, the payment's id and status for 24 h), looked up beside the
//! payment Postgres holds under the same key. Read with SCAN and pipelines, never KEYS.

use std::collections::HashMap;

use redis::{AsyncCommands, RedisResult};
use serde_json::json;

use super::{
    audit::{self, AuditEvent, Severity},
    auth::Identity,
    control_copy,
    controls::reason,
    db::payments,
    redis_conn::Redis,
    state::AppState,
};
use crate::{
    controls::{Circuit, IdempotencyRecord},
    error::{AppError, FieldErrors},
};

fn circuit_key(prefix: &str, service: &str) -> String {
    format!("{prefix}circuit:{service}")
}

/// A service's name as its circuit key spells it: 1 to 64 of `a-z`, digits, `.`, `_`, `-`.
fn service_name(name: &str) -> Result<String, String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    ok.then(|| name.to_string())
        .ok_or_else(|| "1 to 64 of a-z, digits, '.', '_' or '-'".into())
}

/// Every circuit breaker under the prefix, by service name.
pub async fn circuits(redis: &mut Redis, prefix: &str) -> RedisResult<Vec<Circuit>> {
    let pattern = format!("{}*", circuit_key(&control_copy::glob_escape(prefix), ""));
    let keys = control_copy::scan_matching(redis, &pattern, usize::MAX).await?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for key in &keys {
        pipe.hgetall(key);
    }
    let hashes: Vec<HashMap<String, String>> = pipe.query_async(redis).await?;
    let start = circuit_key(prefix, "").len();
    Ok(keys
        .iter()
        .zip(hashes)
        .filter(|(_, h)| !h.is_empty())
        .map(|(key, mut h)| Circuit {
            service: key[start..].to_string(),
            state: h.remove("state").unwrap_or_default(),
            failures: h.get("failures").and_then(|f| f.parse().ok()),
            opened_at: h.remove("opened_at").filter(|t| !t.is_empty()),
        })
        .collect())
}

/// Closes `service`'s circuit (state closed, no failures, no opening time), with a reason of
/// 10 to 500 characters, audited. `NotFound` for a service with no circuit; Redis failing is
/// `Unavailable` and nothing is audited.
pub async fn reset_circuit(
    state: &AppState,
    me: &Identity,
    service: &str,
    why: &str,
) -> Result<(), AppError> {
    let mut refused = FieldErrors::default();
    let service = refused.parse("service", service, service_name);
    let why = refused.parse("reason", why, reason);
    let (Some(service), Some(why)) = refused.finish((service, why))? else {
        return Err(AppError::field("body", "incomplete reset"));
    };
    let key = circuit_key(&state.config.redis_prefix, &service);
    let mut redis = state.redis.clone();
    let before: HashMap<String, String> = redis.hgetall(&key).await?;
    if before.is_empty() {
        return Err(AppError::NotFound);
    }
    // The audit row is written first and committed only once Redis has taken the reset: a
    // reset Redis refused leaves no row, and the row never claims what did not happen.
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            me.actor(),
            "control.circuit_reset",
            "control",
            Some(format!("circuit:{service}")),
        )
        .severity(Severity::Warning)
        .metadata(json!({
            "reason": why,
            "state_before": before.get("state").cloned().unwrap_or_default(),
            "failures_before": before.get("failures").cloned().unwrap_or_default(),
        })),
    )
    .await?;
    let _: () = redis::pipe()
        .atomic()
        .hset_multiple(&key, &[("state", "closed"), ("failures", "0")])
        .ignore()
        .hdel(&key, "opened_at")
        .ignore()
        .query_async(&mut redis)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// What `key` names in Redis and in Postgres. A key of 1 to 200 characters.
pub async fn idempotency(state: &AppState, key: &str) -> Result<IdempotencyRecord, AppError> {
    let key = key.trim();
    if key.is_empty() || key.chars().count() > 200 {
        return Err(AppError::field("key", "1 to 200 characters"));
    }
    if key.contains('\0') {
        return Err(AppError::field("key", crate::error::NUL_REFUSED));
    }
    let redis_key = format!("{}idempotency:{key}", state.config.redis_prefix);
    let mut redis = state.redis.clone();
    let (kind, ttl): (String, i64) = redis::pipe()
        .cmd("TYPE")
        .arg(&redis_key)
        .ttl(&redis_key)
        .query_async(&mut redis)
        .await?;
    // The services write a hash (payment_id, status); a plain "id" or "id/status" string is
    // read too.
    let (redis_payment_id, redis_status) = match kind.as_str() {
        "hash" => {
            let mut h: HashMap<String, String> = redis.hgetall(&redis_key).await?;
            (h.remove("payment_id"), h.remove("status"))
        }
        "string" => {
            let v: String = redis.get(&redis_key).await?;
            match v.split_once('/') {
                Some((id, status)) => (Some(id.to_string()), Some(status.to_string())),
                None => (Some(v), None),
            }
        }
        _ => (None, None),
    };
    let payment = payments::by_idempotency_key(&state.db, key).await?;
    Ok(IdempotencyRecord {
        key: key.to_string(),
        redis_payment_id,
        redis_status,
        ttl: (ttl >= 0).then_some(ttl),
        payment_id: payment.as_ref().map(|p| p.id),
        payment_reference: payment.as_ref().map(|p| p.reference.clone()),
        payment_status: payment.map(|p| p.status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_what_a_key_may_hold() {
        assert!(service_name("sanctions-screening").is_ok());
        assert!(service_name("swift.gateway_2").is_ok());
        assert!(service_name("").is_err());
        assert!(service_name("a*b").is_err());
        assert!(service_name("Upper").is_err());
        assert!(service_name(&"a".repeat(65)).is_err());
    }
}
