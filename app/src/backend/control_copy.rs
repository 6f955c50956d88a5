//! The Redis side of controls: the hash `{prefix}control:{entity_type}:{entity_id}` the
//! payment services read (the entity's most severe control in force, with a TTL that ends at
//! its expiry), the rate-limit counters `{prefix}ratelimit:{entity_type}:{entity_id}:{limit_type}`
//! they count in, and comparing what Redis holds with what Postgres says. Keys are found with
//! SCAN and read in pipelines, never with KEYS.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use redis::{AsyncCommands, RedisResult};

use super::{db::controls::ControlRow, redis_conn::Redis};
use crate::controls::CopyState;

/// A TTL this close to the one expected counts as the same (the copy is written a moment
/// after the commit, and read a moment after that).
const TTL_SLACK_SECONDS: i64 = 5;

/// The key of an entity's control.
pub fn key(prefix: &str, entity_type: &str, entity_id: &str) -> String {
    format!("{prefix}control:{entity_type}:{entity_id}")
}

/// The key of an entity's counter for `limit_type`.
pub fn counter_key(prefix: &str, entity_type: &str, entity_id: &str, limit_type: &str) -> String {
    format!("{prefix}ratelimit:{entity_type}:{entity_id}:{limit_type}")
}

/// What the hash of a control holds, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub fields: BTreeMap<String, String>,
    pub until: Option<DateTime<Utc>>,
}

impl Copy {
    /// The copy of `control`: `action`, `reason`, `expires_at` (RFC 3339, empty for none) and
    /// `set_by` (the contract's fields), with `control_id`, `since` and, for a throttle,
    /// `limit_value` and `window_seconds`.
    pub fn of(control: &ControlRow) -> Copy {
        let mut fields = BTreeMap::from([
            ("action".to_string(), control.kind.clone()),
            (
                "reason".to_string(),
                control.reason.clone().unwrap_or_default(),
            ),
            (
                "expires_at".to_string(),
                control.until.map(rfc3339).unwrap_or_default(),
            ),
            (
                "set_by".to_string(),
                control.set_by.clone().unwrap_or_default(),
            ),
            ("control_id".to_string(), control.id.to_string()),
            ("since".to_string(), rfc3339(control.since)),
        ]);
        if control.kind == "throttle" {
            fields.insert("limit_value".into(), control.limit_value.to_string());
            fields.insert("window_seconds".into(), control.window_seconds.to_string());
        }
        Copy {
            fields,
            until: control.until,
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What Redis holds under a key: its fields (empty: no key) and its TTL in seconds (`None`:
/// no expiry, or no key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    pub fields: HashMap<String, String>,
    pub ttl: Option<i64>,
}

/// How `held` compares with `wanted` (`None`: no control in force), and what differs.
pub fn compare(wanted: Option<&Copy>, held: &Held, now: DateTime<Utc>) -> (CopyState, String) {
    match (wanted, held.fields.is_empty()) {
        (None, true) => (CopyState::InSync, String::new()),
        (None, false) => (
            CopyState::Stale,
            "a key for an entity with no control in force".into(),
        ),
        (Some(_), true) => (CopyState::Missing, "no key".into()),
        (Some(want), false) => {
            let mut differs: Vec<String> = want
                .fields
                .iter()
                .filter(|(k, v)| held.fields.get(*k) != Some(*v))
                .map(|(k, v)| {
                    let got = held.fields.get(k).map(String::as_str).unwrap_or("nothing");
                    format!("{k} is {got:?}, not {v:?}")
                })
                .collect();
            differs.extend(
                held.fields
                    .keys()
                    .filter(|k| !want.fields.contains_key(*k))
                    .map(|k| format!("{k} should not be there")),
            );
            match (want.until, held.ttl) {
                (None, Some(ttl)) => differs.push(format!("a TTL of {ttl}s, not none")),
                (Some(until), ttl) => {
                    let expected = (until - now).num_seconds();
                    if ttl.is_none_or(|t| (t - expected).abs() > TTL_SLACK_SECONDS) {
                        let got = ttl.map_or("none".to_string(), |t| format!("{t}s"));
                        differs.push(format!("a TTL of {got}, not {expected}s"));
                    }
                }
                (None, None) => {}
            }
            if differs.is_empty() {
                (CopyState::InSync, String::new())
            } else {
                (CopyState::Different, differs.join("; "))
            }
        }
    }
}

/// Makes `key` hold `copy` (or removes it), in one MULTI: nothing of the old hash survives,
/// and its TTL ends at the control's expiry.
pub async fn write(redis: &mut Redis, key: &str, copy: Option<&Copy>) -> RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.atomic().del(key).ignore();
    if let Some(copy) = copy {
        let fields: Vec<(&String, &String)> = copy.fields.iter().collect();
        pipe.hset_multiple(key, &fields).ignore();
        if let Some(until) = copy.until {
            pipe.expire_at(key, until.timestamp()).ignore();
        }
    }
    pipe.query_async::<()>(redis).await
}

/// What Redis holds under each of `keys`, in their order (two pipelined round trips).
pub async fn read(redis: &mut Redis, keys: &[String]) -> RedisResult<Vec<Held>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut hashes = redis::pipe();
    let mut ttls = redis::pipe();
    for key in keys {
        hashes.hgetall(key);
        ttls.ttl(key);
    }
    let fields: Vec<HashMap<String, String>> = hashes.query_async(redis).await?;
    let ttls: Vec<i64> = ttls.query_async(redis).await?;
    Ok(fields
        .into_iter()
        .zip(ttls)
        .map(|(fields, ttl)| Held {
            fields,
            // -1: no expiry; -2: no key.
            ttl: (ttl >= 0).then_some(ttl),
        })
        .collect())
}

/// Every control key under `prefix`.
pub async fn scan(redis: &mut Redis, prefix: &str) -> RedisResult<Vec<String>> {
    scan_matching(
        redis,
        &format!("{}control:*", glob_escape(prefix)),
        usize::MAX,
    )
    .await
}

/// The keys matching `pattern`, at most about `at_most` of them (SCAN stops after the batch
/// that reaches it), sorted (SCAN in batches of 500, never KEYS).
pub async fn scan_matching(
    redis: &mut Redis,
    pattern: &str,
    at_most: usize,
) -> RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(redis)
            .await?;
        keys.extend(batch);
        if next == 0 || keys.len() >= at_most {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// `prefix` with the characters a MATCH pattern gives meaning to escaped.
pub fn glob_escape(prefix: &str) -> String {
    prefix
        .chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// The counters of `keys` now and the seconds left in their windows (`None` for no key).
pub async fn counters(
    redis: &mut Redis,
    keys: &[String],
) -> RedisResult<Vec<(Option<i64>, Option<i64>)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let counts: Vec<Option<i64>> = redis.mget(keys).await?;
    let mut ttls = redis::pipe();
    for key in keys {
        ttls.ttl(key);
    }
    let ttls: Vec<i64> = ttls.query_async(redis).await?;
    Ok(counts
        .into_iter()
        .zip(ttls)
        .map(|(count, ttl)| (count, (ttl >= 0).then_some(ttl)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn row(kind: &str, until: Option<DateTime<Utc>>) -> ControlRow {
        ControlRow {
            id: Uuid::nil(),
            entity_type: "bank".into(),
            entity_id: "b".into(),
            kind: kind.into(),
            reason: Some("Sanctions list match".into()),
            set_by: Some("operator".into()),
            since: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            until,
            limit_value: 30,
            window_seconds: 60,
            label: None,
            bank_id: None,
        }
    }

    fn held(copy: &Copy, ttl: Option<i64>) -> Held {
        Held {
            fields: copy.fields.clone().into_iter().collect(),
            ttl,
        }
    }

    #[test]
    fn the_copy_has_the_contracts_fields_and_a_throttle_its_limit() {
        let freeze = Copy::of(&row("freeze", None));
        for field in ["action", "reason", "expires_at", "set_by"] {
            assert!(freeze.fields.contains_key(field), "{field}");
        }
        assert!(!freeze.fields.contains_key("limit_value"));
        let throttle = Copy::of(&row("throttle", None));
        assert_eq!(throttle.fields["limit_value"], "30");
        assert_eq!(throttle.fields["window_seconds"], "60");
    }

    #[test]
    fn compare_tells_missing_stale_different_and_in_sync() {
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let until = now + chrono::Duration::hours(1);
        let copy = Copy::of(&row("freeze", Some(until)));
        assert_eq!(
            compare(Some(&copy), &Held::default(), now).0,
            CopyState::Missing
        );
        assert_eq!(compare(None, &held(&copy, None), now).0, CopyState::Stale);
        assert_eq!(compare(None, &Held::default(), now).0, CopyState::InSync);
        assert_eq!(
            compare(Some(&copy), &held(&copy, Some(3600)), now).0,
            CopyState::InSync
        );
        assert_eq!(
            compare(Some(&copy), &held(&copy, Some(3597)), now).0,
            CopyState::InSync
        );

        let (state, detail) = compare(Some(&copy), &held(&copy, None), now);
        assert_eq!(state, CopyState::Different);
        assert!(detail.contains("TTL of none"), "{detail}");

        let mut altered = held(&copy, Some(3600));
        altered.fields.insert("action".into(), "throttle".into());
        let (state, detail) = compare(Some(&copy), &altered, now);
        assert_eq!(state, CopyState::Different);
        assert!(detail.contains("action is \"throttle\""), "{detail}");

        let forever = Copy::of(&row("freeze", None));
        assert_eq!(
            compare(Some(&forever), &held(&forever, Some(10)), now).0,
            CopyState::Different
        );
    }

    #[test]
    fn scan_patterns_escape_the_prefix() {
        assert_eq!(glob_escape("deltran:"), "deltran:");
        assert_eq!(glob_escape("a*b?[c]"), "a\\*b\\?\\[c\\]");
        assert_eq!(key("deltran:", "bank", "x"), "deltran:control:bank:x");
        assert_eq!(
            counter_key("deltran:", "account", "x", "throttle"),
            "deltran:ratelimit:account:x:throttle"
        );
    }
}
