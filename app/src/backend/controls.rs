//! The controls area's rules, shared by the Controls page, a bank's page, the REST API, the
//! CLI and the jobs: an order is checked whole (every refused field at once, the entity must
//! exist); freeze, unfreeze, throttle and unthrottle commit with their audit row and then
//! write the Redis copy; a block and an unblock are requests that someone else approves or
//! rejects (nobody their own: 403, audited), and approval sets or lifts the block in the same
//! transaction as its audit row. Postgres is the record: when Redis fails after the commit
//! the action stands, the copy is "pending", and `reconcile` (at start-up, every
//! `CONTROL_RECONCILE_SECONDS`, from the page, `deltran-console controls reconcile`) writes
//! every copy Postgres implies and removes the ones it does not. SQL is `db::controls`', the
//! Redis side `control_copy`'s.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{
    audit::{self, Actor, AuditEvent, Outcome, Severity},
    auth::Identity,
    control_copy::{self, Copy, Held},
    db::controls::{self as db, ControlRow, NewControl, NewRequest},
    error::violated_constraint,
    state::AppState,
};
use crate::{
    components::list::parse_time,
    controls::{
        Control, ControlKind, ControlOrder, ControlOutcome, ControlRequest, ControlsOverview,
        CopyState, CopyWrite, Drift, Entity, EntityType, RateLimit, ReconcileReport, Verb,
        MAX_REASON, MIN_REASON,
    },
    error::{uuid_of, AppError, FieldErrors},
};

/// A throttle's limit: payments per window.
const MAX_LIMIT: i64 = 1_000_000_000;
/// A throttle's longest window: 31 days.
const MAX_WINDOW: i64 = 31 * 24 * 3600;

/// An order, checked.
#[derive(Debug, Clone)]
pub struct Checked {
    pub entity: Entity,
    pub verb: Verb,
    pub reason: String,
    pub until: Option<DateTime<Utc>>,
    pub limit_value: i64,
    pub window_seconds: i32,
}

/// A reason or a note: 10 to 500 characters once trimmed.
pub fn reason(text: &str) -> Result<String, String> {
    let text = text.trim();
    match text.chars().count() {
        n if n < MIN_REASON => Err(format!("at least {MIN_REASON} characters: say why")),
        n if n > MAX_REASON => Err(format!("at most {MAX_REASON} characters")),
        _ => Ok(text.to_string()),
    }
}

/// An API client's identifier: 1 to 100 of letters, digits and `.`, `_`, `:`, `-`.
fn api_client_id(id: &str) -> Result<String, String> {
    let ok = (1..=100).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    ok.then(|| id.to_string())
        .ok_or_else(|| "1 to 100 letters, digits, '.', '_', ':' or '-'".into())
}

/// A throttle's number (`field`, named `what` in messages): required and from 1 to `max` for a
/// throttle, refused for any other action.
fn throttle_number(
    refused: &mut FieldErrors,
    (field, what): (&str, &str),
    value: Option<i64>,
    verb: Option<Verb>,
    max: i64,
) -> Option<i64> {
    match (verb, value) {
        (Some(Verb::Throttle), None) => {
            refused.refuse(field, format!("a throttle needs {what}"));
            None
        }
        (Some(Verb::Throttle), Some(n)) if !(1..=max).contains(&n) => {
            refused.refuse(field, format!("between 1 and {max}"));
            None
        }
        (Some(Verb::Throttle), n) => n,
        (Some(_), Some(_)) => {
            refused.refuse(field, format!("only a throttle takes {what}"));
            None
        }
        (_, _) => None,
    }
}

/// Checks every field of `order` (all refusals at once), then that its entity exists.
pub async fn check(state: &AppState, order: &ControlOrder) -> Result<Checked, AppError> {
    let mut refused = FieldErrors::default();
    let entity_type = refused.parse("entity_type", order.entity_type.trim(), |t| {
        t.parse::<EntityType>()
            .map_err(|_| "one of account, bank, user, api_client".into())
    });
    let verb = refused.parse("action", order.action.trim(), |a| {
        a.parse::<Verb>()
            .map_err(|_| "one of freeze, unfreeze, throttle, unthrottle, block, unblock".into())
    });
    let entity_id = match entity_type {
        Some(EntityType::ApiClient) => {
            refused.parse("entity_id", order.entity_id.trim(), api_client_id)
        }
        Some(t) => refused.parse("entity_id", &order.entity_id, |id| {
            uuid_of(t.as_str(), id).map(|id| id.to_string())
        }),
        None => None,
    };
    let reason = refused.parse("reason", &order.reason, reason);
    let now = Utc::now();
    let until = refused.check("expires_at", &order.expires_at, |t| {
        let t = parse_time(t)?;
        (t > now)
            .then_some(t)
            .ok_or_else(|| "must be in the future".to_string())
    });
    let sets = verb.is_some_and(|v| !v.lifts());
    if until.is_some() && !sets {
        refused.refuse("expires_at", "only a freeze, a throttle or a block expires");
    }
    let limit_value = throttle_number(
        &mut refused,
        ("limit_value", "a limit"),
        order.limit_value,
        verb,
        MAX_LIMIT,
    );
    let window_seconds = throttle_number(
        &mut refused,
        ("window_seconds", "a window"),
        order.window_seconds,
        verb,
        MAX_WINDOW,
    );
    let (entity_type, entity_id, verb, reason) =
        refused.finish((entity_type, entity_id, verb, reason))?;
    // Whatever is `None` here was refused above, so `finish` has answered already.
    let (Some(entity_type), Some(entity_id), Some(verb), Some(reason)) =
        (entity_type, entity_id, verb, reason)
    else {
        return Err(AppError::field("body", "incomplete order"));
    };
    let entity = match entity_type {
        EntityType::ApiClient => Entity {
            label: format!("API client {entity_id}"),
            entity_type,
            entity_id,
            bank_id: None,
        },
        t => {
            let Some((label, bank_id)) = db::entity(&state.db, t, &entity_id).await? else {
                return Err(AppError::field(
                    "entity_id",
                    format!("no {} has this id", t.as_str().replace('_', " ")),
                ));
            };
            Entity {
                entity_type,
                entity_id,
                label,
                bank_id,
            }
        }
    };
    Ok(Checked {
        entity,
        verb,
        reason,
        until,
        limit_value: limit_value.unwrap_or(1),
        window_seconds: window_seconds.unwrap_or(1) as i32,
    })
}

/// The resource id of a control's audit rows: `{entity_type}:{entity_id}`.
fn resource(entity: &Entity) -> String {
    format!("{}:{}", entity.entity_type.as_str(), entity.entity_id)
}

/// An audit row about a control.
fn event(actor: Actor, action: &str, entity: &Entity) -> AuditEvent {
    AuditEvent::new(
        actor,
        &format!("control.{action}"),
        "control",
        Some(resource(entity)),
    )
}

/// Carries out `order` for `me` (whose controls.apply the caller checked): at once, or as a
/// request for a second person. `Conflict` when it changes nothing (already frozen, not
/// blocked, a request already waiting).
pub async fn act(
    state: &AppState,
    me: &Identity,
    order: &ControlOrder,
) -> Result<(ControlOutcome, Checked), AppError> {
    let c = check(state, order).await?;
    let outcome = if c.verb.needs_approval() {
        ControlOutcome::PendingApproval {
            request_id: request(state, me, &c).await?,
        }
    } else {
        apply(state, me, &c).await?;
        ControlOutcome::Applied {
            redis: sync(state, c.entity.entity_type, &c.entity.entity_id).await,
        }
    };
    Ok((outcome, c))
}

async fn apply(state: &AppState, me: &Identity, c: &Checked) -> Result<(), AppError> {
    let kind = c.verb.kind();
    let label = &c.entity.label;
    let mut tx = state.db.begin().await?;
    let id = if c.verb.lifts() {
        db::lift(&mut tx, c.entity.entity_type, &c.entity.entity_id, kind)
            .await?
            .ok_or_else(|| {
                AppError::Conflict(format!(
                    "{label} has no {kind} in force; nothing was changed."
                ))
            })?
    } else {
        let new = NewControl {
            entity_type: c.entity.entity_type,
            entity_id: &c.entity.entity_id,
            kind,
            reason: &c.reason,
            until: c.until,
            limit_value: c.limit_value,
            window_seconds: c.window_seconds,
            set_by: me.user_id,
        };
        db::set(&mut tx, &new).await?.ok_or_else(|| {
            AppError::Conflict(format!(
                "{label} is already under a {kind}; nothing was changed."
            ))
        })?
    };
    let mut metadata = json!({
        "reason": c.reason,
        "control_id": id.to_string(),
        "entity": label,
    });
    if let Some(until) = c.until {
        metadata["expires_at"] = json!(until.to_rfc3339());
    }
    if c.verb == Verb::Throttle {
        metadata["limit_value"] = json!(c.limit_value.to_string());
        metadata["window_seconds"] = json!(c.window_seconds.to_string());
    }
    audit::record(
        &mut tx,
        event(me.actor(), c.verb.as_str(), &c.entity)
            .severity(Severity::Warning)
            .metadata(metadata),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn request(state: &AppState, me: &Identity, c: &Checked) -> Result<Uuid, AppError> {
    let (t, id, label) = (c.entity.entity_type, &c.entity.entity_id, &c.entity.label);
    let blocked = db::has(&state.db, t, id, ControlKind::Block).await?;
    match (c.verb, blocked) {
        (Verb::Block, true) => {
            return Err(AppError::Conflict(format!("{label} is already blocked.")))
        }
        (Verb::Unblock, false) => {
            return Err(AppError::Conflict(format!("{label} is not blocked.")))
        }
        _ => {}
    }
    let mut tx = state.db.begin().await?;
    let new = NewRequest {
        entity_type: t,
        entity_id: id,
        verb: c.verb,
        reason: &c.reason,
        block_until: c.until,
        requested_by: me.user_id,
        expires_after_hours: state.config.control_request_hours,
    };
    let request_id = match db::request(&mut tx, &new).await {
        Ok(request_id) => request_id,
        Err(e) if violated_constraint(&e) == Some("control_requests_one_pending_key") => {
            return Err(AppError::Conflict(format!(
                "A request to {} {label} is already waiting for approval.",
                c.verb
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let mut metadata = json!({
        "reason": c.reason,
        "request_id": request_id.to_string(),
        "entity": label,
    });
    if let Some(until) = c.until {
        metadata["expires_at"] = json!(until.to_rfc3339());
    }
    audit::record(
        &mut tx,
        event(me.actor(), &format!("{}_requested", c.verb), &c.entity)
            .severity(Severity::Notice)
            .metadata(metadata),
    )
    .await?;
    tx.commit().await?;
    Ok(request_id)
}

/// Approves or rejects someone else's pending block or unblock request, with a note (10–500
/// characters); approved, the block is set or lifted in the same transaction as the audit
/// row, then copied to Redis. `Forbidden` (and a denied audit row) for one's own request,
/// `NotFound` for a request that is not pending, `Conflict` when approving would change
/// nothing.
pub async fn decide(
    state: &AppState,
    me: &Identity,
    request_id: Uuid,
    approve: bool,
    note: &str,
) -> Result<Option<CopyWrite>, AppError> {
    let note = reason(note).map_err(|why| AppError::field("note", why))?;
    let mut tx = state.db.begin().await?;
    let request = db::lock_request(&mut tx, request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let entity = entity_of(
        &request.entity_type,
        &request.entity_id,
        request.label.clone(),
        request.bank_id,
    )?;
    let verb = verb_of(&request.operation);
    let verdict = if approve { "approve" } else { "reject" };
    if request.requested_by == me.user_id {
        tx.rollback().await?;
        audit::record_alone(
            &state.db,
            event(me.actor(), &format!("{verb}_{verdict}"), &entity)
                .severity(Severity::Warning)
                .outcome(
                    Outcome::Denied,
                    Some("four eyes: nobody decides their own request".into()),
                )
                .metadata(json!({ "request_id": request_id.to_string() })),
        )
        .await?;
        return Err(AppError::Forbidden);
    }
    let label = &entity.label;
    if approve {
        if verb == Verb::Block {
            let until = request
                .block_until
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            let new = NewControl {
                entity_type: entity.entity_type,
                entity_id: &entity.entity_id,
                kind: ControlKind::Block,
                reason: &request.reason,
                until,
                limit_value: 1,
                window_seconds: 1,
                set_by: request.requested_by,
            };
            db::set(&mut tx, &new)
                .await?
                .ok_or_else(|| AppError::Conflict(format!("{label} is already blocked.")))?;
        } else {
            db::lift(
                &mut tx,
                entity.entity_type,
                &entity.entity_id,
                ControlKind::Block,
            )
            .await?
            .ok_or_else(|| AppError::Conflict(format!("{label} is not blocked.")))?;
        }
    }
    let status = if approve { "approved" } else { "rejected" };
    db::decide(&mut tx, request_id, status, me.user_id, &note).await?;
    let action = if approve {
        verb.as_str().to_string()
    } else {
        "request_rejected".to_string()
    };
    audit::record(
        &mut tx,
        event(me.actor(), &action, &entity)
            .severity(if approve {
                Severity::Critical
            } else {
                Severity::Notice
            })
            .metadata(json!({
                "request_id": request_id.to_string(),
                "requested_by": request.requester.clone().unwrap_or_default(),
                "reason": request.reason,
                "note": note,
                "entity": label,
            })),
    )
    .await?;
    tx.commit().await?;
    if approve {
        Ok(Some(
            sync(state, entity.entity_type, &entity.entity_id).await,
        ))
    } else {
        Ok(None)
    }
}

/// `block` for a request that applies, `unblock` for one that lifts.
fn verb_of(operation: &str) -> Verb {
    if operation == "lift" {
        Verb::Unblock
    } else {
        Verb::Block
    }
}

fn entity_of(
    entity_type: &str,
    entity_id: &str,
    label: Option<String>,
    bank_id: Option<Uuid>,
) -> Result<Entity, AppError> {
    let entity_type = entity_type.parse::<EntityType>().map_err(|_| {
        super::error::internal(format!("entity type {entity_type:?} in the database"))
    })?;
    Ok(Entity {
        label: label.unwrap_or_else(|| match entity_type {
            EntityType::ApiClient => format!("API client {entity_id}"),
            t => format!("{t} {entity_id}"),
        }),
        entity_type,
        entity_id: entity_id.to_string(),
        bank_id,
    })
}

fn kind_of(kind: &str) -> Result<ControlKind, AppError> {
    kind.parse()
        .map_err(|_| super::error::internal(format!("control kind {kind:?} in the database")))
}

/// The entity's most severe control in force, as Redis should hold it, keyed by Redis key.
fn wanted(prefix: &str, rows: &[ControlRow]) -> BTreeMap<String, Copy> {
    let mut wanted = BTreeMap::new();
    // `in_force` lists each entity's controls most severe first: the first one wins.
    for row in rows {
        wanted
            .entry(control_copy::key(prefix, &row.entity_type, &row.entity_id))
            .or_insert_with(|| Copy::of(row));
    }
    wanted
}

/// Makes the entity's Redis copy what Postgres says now; `Pending` when Redis failed (the
/// action stands; reconcile repairs it).
pub async fn sync(state: &AppState, entity_type: EntityType, entity_id: &str) -> CopyWrite {
    let result = async {
        let rows = db::in_force(&state.db, Some((entity_type, entity_id))).await?;
        let key = control_copy::key(&state.config.redis_prefix, entity_type.as_str(), entity_id);
        let mut redis = state.redis.clone();
        control_copy::write(&mut redis, &key, rows.first().map(Copy::of).as_ref()).await?;
        Ok::<_, AppError>(())
    }
    .await;
    match result {
        Ok(()) => CopyWrite::Written,
        Err(err) => {
            tracing::warn!(error = %err, entity_type = entity_type.as_str(), entity_id,
                "control committed; its Redis copy is pending until reconcile");
            CopyWrite::Pending
        }
    }
}

/// What the Controls page shows: the controls in force with their Redis copies read live,
/// the pending requests and the rate limits with their live counters. When Redis does not
/// answer, the page still shows Postgres' side (`redis_up` false, copies `Unknown`).
pub async fn overview(state: &AppState) -> Result<ControlsOverview, AppError> {
    let (rows, requests, limits) = futures::try_join!(
        db::in_force(&state.db, None),
        db::pending_requests(&state.db),
        db::rate_limits(&state.db),
    )?;
    let prefix = &state.config.redis_prefix;
    let wanted = wanted(prefix, &rows);
    let keys: Vec<String> = wanted.keys().cloned().collect();
    let counter_keys: Vec<String> = limits
        .iter()
        .map(|l| control_copy::counter_key(prefix, &l.entity_type, &l.entity_id, &l.limit_type))
        .collect();
    let mut redis = state.redis.clone();
    let live = async {
        let held = control_copy::read(&mut redis, &keys).await?;
        let counters = control_copy::counters(&mut redis, &counter_keys).await?;
        let circuits = super::service_state::circuits(&mut redis, prefix).await?;
        Ok::<_, redis::RedisError>((held, counters, circuits))
    }
    .await;
    let redis_up = live.is_ok();
    let (held, counters, circuits) = live.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "Redis unavailable: the Controls page shows Postgres only");
        (Vec::new(), Vec::new(), Vec::new())
    });
    let held: BTreeMap<&String, &Held> = keys.iter().zip(held.iter()).collect();
    let now = Utc::now();
    let mut controls = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = control_copy::key(prefix, &row.entity_type, &row.entity_id);
        let copy = Copy::of(row);
        let (redis, redis_ttl) = match held.get(&key) {
            None => (CopyState::Unknown, None),
            Some(_) if wanted.get(&key) != Some(&copy) => (CopyState::Covered, None),
            Some(h) => (control_copy::compare(Some(&copy), h, now).0, h.ttl),
        };
        controls.push(Control {
            id: row.id,
            entity: entity_of(
                &row.entity_type,
                &row.entity_id,
                row.label.clone(),
                row.bank_id,
            )?,
            kind: kind_of(&row.kind)?,
            reason: row.reason.clone(),
            set_by: row.set_by.clone(),
            since: row.since,
            until: row.until,
            limit_value: (row.kind == "throttle").then_some(row.limit_value),
            window_seconds: (row.kind == "throttle").then_some(row.window_seconds),
            redis,
            redis_ttl,
        });
    }
    let requests = requests
        .into_iter()
        .map(|r| {
            Ok(ControlRequest {
                id: r.id,
                entity: entity_of(&r.entity_type, &r.entity_id, r.label, r.bank_id)?,
                verb: verb_of(&r.operation),
                reason: r.reason,
                requested_by: r.requester,
                requested_by_id: r.requested_by,
                requested_at: r.requested_at,
                expires_at: r.expires_at,
                block_until: r
                    .block_until
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&Utc)),
            })
        })
        .collect::<Result<_, AppError>>()?;
    let mut counters = counters.into_iter();
    let rate_limits = limits
        .into_iter()
        .map(|l| {
            let (count, window_left) = counters.next().unwrap_or_default();
            Ok(RateLimit {
                id: l.id,
                entity: entity_of(&l.entity_type, &l.entity_id, l.label, l.bank_id)?,
                limit_type: l.limit_type,
                limit_value: l.limit_value,
                window_seconds: l.window_seconds,
                throttle: l.throttle,
                count,
                window_left,
            })
        })
        .collect::<Result<_, AppError>>()?;
    Ok(ControlsOverview {
        controls,
        requests,
        rate_limits,
        circuits,
        redis_up,
    })
}

/// Compares every Redis copy with Postgres and repairs what differs: writes the missing and
/// the altered copies, removes the keys of entities with no control in force. A run that
/// repaired something leaves an audit row naming each key (`actor`: who asked, or the job).
/// `Unavailable` when Redis does not answer.
pub async fn reconcile(state: &AppState, actor: Actor) -> Result<ReconcileReport, AppError> {
    let prefix = &state.config.redis_prefix;
    let rows = db::in_force(&state.db, None).await?;
    let wanted = wanted(prefix, &rows);
    let mut redis = state.redis.clone();
    let found = control_copy::scan(&mut redis, prefix).await?;
    let mut keys: Vec<String> = wanted
        .keys()
        .cloned()
        .chain(found.iter().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    let held = control_copy::read(&mut redis, &keys).await?;
    let now = Utc::now();
    let mut repaired = Vec::new();
    for (key, held) in keys.iter().zip(&held) {
        let want = wanted.get(key);
        let (state, detail) = control_copy::compare(want, held, now);
        if state == CopyState::InSync {
            continue;
        }
        control_copy::write(&mut redis, key, want).await?;
        repaired.push(Drift {
            key: key.clone(),
            state,
            detail,
        });
    }
    if !repaired.is_empty() {
        let metadata: serde_json::Map<String, serde_json::Value> = repaired
            .iter()
            .map(|d| {
                (
                    d.key.clone(),
                    json!(format!("{}: {}", d.state.label(), d.detail)),
                )
            })
            .collect();
        tracing::warn!(repaired = repaired.len(), "Redis control copies repaired");
        audit::record_alone(
            &state.db,
            AuditEvent::new(actor, "control.reconcile", "control", None)
                .severity(Severity::Warning)
                .metadata(serde_json::Value::Object(metadata)),
        )
        .await?;
    }
    Ok(ReconcileReport {
        entities: wanted.len() as i64,
        keys: found.len() as i64,
        repaired,
    })
}

/// Lifts the controls whose expiry has passed and expires the requests nobody decided in
/// time, audited as the system, in one transaction; then brings the lifted entities' Redis
/// copies up to date. How many of each.
pub async fn expire(state: &AppState) -> Result<(usize, usize), AppError> {
    let mut tx = state.db.begin().await?;
    let lifted = db::lift_expired(&mut tx).await?;
    let requests = db::expire_requests(&mut tx).await?;
    let system = || Actor::system("controls");
    for c in &lifted {
        let entity = entity_of(&c.entity_type, &c.entity_id, None, None)?;
        audit::record(
            &mut tx,
            event(system(), "expire", &entity)
                .severity(Severity::Notice)
                .metadata(json!({
                    "control_id": c.id.to_string(),
                    "kind": c.kind,
                    "expired_at": c.until.map(|t| t.to_rfc3339()).unwrap_or_default(),
                })),
        )
        .await?;
    }
    for r in &requests {
        let entity = entity_of(&r.entity_type, &r.entity_id, None, None)?;
        audit::record(
            &mut tx,
            event(system(), "request_expired", &entity)
                .severity(Severity::Notice)
                .metadata(json!({
                    "request_id": r.id.to_string(),
                    "operation": verb_of(&r.operation).as_str(),
                })),
        )
        .await?;
    }
    tx.commit().await?;
    for c in &lifted {
        if let Ok(t) = c.entity_type.parse() {
            sync(state, t, &c.entity_id).await;
        }
    }
    Ok((lifted.len(), requests.len()))
}
