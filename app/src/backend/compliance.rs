//! The compliance area's rules, shared by the case page's server functions and the REST API:
//! a case (everything a reviewer reads before deciding), claiming it (one reviewer at a time,
//! for `CLAIM_MINUTES`, renewable), deciding it (pass or fail with a note; a fail stops a
//! payment that has not settled) and the second reviewer a pass of a sanctions or PEP check
//! waits for. Each change and its audit row commit together. SQL is `db::compliance`'.

use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    audit::{self, AuditEvent, Outcome, Severity},
    auth::Identity,
    db::{
        compliance::{self, Locked},
        payments,
    },
};
use crate::{
    compliance::{
        check_name, Case, Claim, PendingApproval, ReviewOutcome, ReviewResult, CLAIM_MINUTES,
        FOUR_EYES_TYPES, MAX_NOTE, MIN_NOTE,
    },
    domain::{ComplianceStatus, PaymentStatus},
    error::{AppError, NUL_REFUSED},
};

/// The resource type of compliance audit rows.
const RESOURCE: &str = "compliance_check";

/// A case as `me` sees it; `NotFound` for an id that names no check.
pub async fn case(db: &PgPool, me: &Identity, id: Uuid) -> Result<Case, AppError> {
    let check = compliance::check(db, id).await?.ok_or(AppError::NotFound)?;
    let payment = payments::get(db, check.payment_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut conn = db.acquire().await?;
    let claim = compliance::live_claim(&mut conn, id).await?;
    let waiting = compliance::pending_approval(&mut conn, id, false).await?;
    drop(conn);
    let (checks, sender_history) = futures::try_join!(
        payments::checks(db, payment.id),
        compliance::sender_history(db, payment.sender_bank_id, check.started_at),
    )?;
    Ok(Case {
        other_checks: checks.into_iter().filter(|c| c.id != id).collect(),
        sender_history,
        claim: claim.map(|c| Claim {
            mine: c.claimed_by == me.user_id,
            claimed_by: c.username,
            claimed_at: c.claimed_at,
            expires_at: c.expires_at,
        }),
        pending_approval: waiting.map(|w| PendingApproval {
            id: w.id,
            mine: w.requested_by == me.user_id,
            requested_by: w.username,
            requested_at: w.requested_at,
            note: w.note,
        }),
        check,
        payment,
    })
}

/// A review note: trimmed, `MIN_NOTE` to `MAX_NOTE` characters, no NUL (a field error on
/// `note` otherwise).
pub fn parse_note(note: &str) -> Result<&str, AppError> {
    let note = note.trim();
    if note.contains('\0') {
        return Err(AppError::field("note", NUL_REFUSED));
    }
    let n = note.chars().count();
    if !(MIN_NOTE..=MAX_NOTE).contains(&n) {
        return Err(AppError::field(
            "note",
            format!("write a note of {MIN_NOTE} to {MAX_NOTE} characters"),
        ));
    }
    Ok(note)
}

/// A decision: `pass` or `fail` (a field error on `decision` otherwise).
pub fn parse_decision(decision: &str) -> Result<ComplianceStatus, AppError> {
    match decision.trim() {
        "pass" => Ok(ComplianceStatus::Pass),
        "fail" => Ok(ComplianceStatus::Fail),
        _ => Err(AppError::field("decision", "either pass or fail")),
    }
}

/// Locks the check; `NotFound` when there is none, `Conflict` when it has a decision already.
async fn lock_awaiting(conn: &mut PgConnection, id: Uuid) -> Result<Locked, AppError> {
    let locked = compliance::lock(conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !locked.awaiting {
        return Err(AppError::Conflict(
            "This check has a decision already (or needs none); nothing was changed.".into(),
        ));
    }
    Ok(locked)
}

/// `Conflict` naming who, when someone other than `me` holds a live claim on the check.
async fn refuse_others_claim(
    conn: &mut PgConnection,
    me: &Identity,
    id: Uuid,
) -> Result<(), AppError> {
    match compliance::live_claim(conn, id).await? {
        Some(c) if c.claimed_by != me.user_id => Err(AppError::Conflict(format!(
            "This case is being reviewed by {} since {}; nothing was changed.",
            c.username,
            c.claimed_at.format("%Y-%m-%d %H:%M UTC")
        ))),
        _ => Ok(()),
    }
}

/// Claims a case for `CLAIM_MINUTES`, or renews `me`'s claim. `Conflict` naming the holder when
/// someone else holds it, or when the check has a decision already; `NotFound` when there is
/// no such check. The claim and its `compliance.claim` audit row commit together.
pub async fn claim(db: &PgPool, me: &Identity, id: Uuid) -> Result<Claim, AppError> {
    let mut tx = db.begin().await?;
    let locked = lock_awaiting(&mut tx, id).await?;
    let renewed = compliance::live_claim(&mut tx, id)
        .await?
        .is_some_and(|c| c.claimed_by == me.user_id);
    let Some((claimed_at, expires_at)) =
        compliance::claim(&mut tx, id, me.user_id, CLAIM_MINUTES as i32).await?
    else {
        refuse_others_claim(&mut tx, me, id).await?;
        // The claim was refused, so someone held it; it cannot have expired in between.
        return Err(AppError::Conflict(
            "This case is being reviewed by someone else.".into(),
        ));
    };
    audit::record(
        &mut tx,
        AuditEvent::new(
            me.actor(),
            "compliance.claim",
            RESOURCE,
            Some(id.to_string()),
        )
        .metadata(json!({
            "check_type": locked.check_type,
            "payment_reference": locked.payment_reference,
            "renewed": renewed.to_string(),
            "expires_at": expires_at.to_rfc3339(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(Claim {
        claimed_by: me.username.clone(),
        claimed_at,
        expires_at,
        mine: true,
    })
}

/// Decides a check awaiting a review: `decision` is `pass` or `fail`, the note 10–2000
/// characters. A fail stops the payment if it has not settled (pending or processing →
/// failed; a pending payment's reserved funds are released as a cancellation releases them);
/// a pass leaves it as it is, except that a pass of a sanctions or PEP check waits for a
/// second reviewer (`PendingApproval`). The claim ends. `Conflict` when someone else holds the
/// case, a pass waits already, or the check has a decision; nothing is written then.
pub async fn review(
    db: &PgPool,
    me: &Identity,
    id: Uuid,
    decision: &str,
    note: &str,
) -> Result<ReviewOutcome, AppError> {
    // Both fields checked before anything is read or written, every refusal at once.
    let (decision, note) = match (parse_decision(decision), parse_note(note)) {
        (Ok(d), Ok(n)) => (d, n),
        (
            Err(AppError::Validation {
                field_errors: mut a,
            }),
            Err(AppError::Validation { field_errors: b }),
        ) => {
            a.extend(b);
            return Err(AppError::Validation { field_errors: a });
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let mut tx = db.begin().await?;
    let locked = lock_awaiting(&mut tx, id).await?;
    refuse_others_claim(&mut tx, me, id).await?;
    if compliance::pending_approval(&mut tx, id, true)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(
            "A pass of this check is waiting for a second reviewer; approve or reject it instead."
                .into(),
        ));
    }
    let mut metadata = json!({
        "decision": decision.as_str(),
        "note": note,
        "check_type": locked.check_type,
        "payment_reference": locked.payment_reference,
    });
    let outcome = if decision == ComplianceStatus::Pass
        && FOUR_EYES_TYPES.contains(&locked.check_type.as_str())
    {
        let approval = compliance::request_approval(&mut tx, id, me.user_id, note).await?;
        metadata["outcome"] = "pending_approval".into();
        metadata["approval_id"] = approval.to_string().into();
        let payment_status = payments::status(&mut tx, locked.payment_id)
            .await?
            .ok_or(AppError::NotFound)?;
        ReviewOutcome {
            outcome: ReviewResult::PendingApproval,
            check_status: compliance::status(&mut tx, id).await?,
            payment_status,
        }
    } else {
        if !compliance::decide(&mut tx, id, decision, me.user_id, note).await? {
            return Err(AppError::Conflict(
                "This check has a decision already.".into(),
            ));
        }
        metadata["outcome"] = "decided".into();
        let payment_status = if decision == ComplianceStatus::Fail {
            let reason = format!(
                "Failed compliance review: {} check {id}",
                check_name(&locked.check_type)
            );
            match compliance::stop_payment(&mut tx, locked.payment_id, &reason).await? {
                Some(stopped) => {
                    let released = match (stopped.previous, stopped.sender_account_id) {
                        // Pending and processing payments hold the sender's funds reserved.
                        (PaymentStatus::Pending | PaymentStatus::Processing, Some(account)) => {
                            payments::release_reserved(&mut tx, account, stopped.amount).await?
                        }
                        _ => Decimal::ZERO,
                    };
                    metadata["payment_status_before"] = stopped.previous.as_str().into();
                    metadata["released"] = released.to_string().into();
                    PaymentStatus::Failed
                }
                None => payments::status(&mut tx, locked.payment_id)
                    .await?
                    .ok_or(AppError::NotFound)?,
            }
        } else {
            payments::status(&mut tx, locked.payment_id)
                .await?
                .ok_or(AppError::NotFound)?
        };
        ReviewOutcome {
            outcome: ReviewResult::Decided,
            check_status: decision,
            payment_status,
        }
    };
    compliance::release(&mut tx, id).await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            me.actor(),
            "compliance.review",
            RESOURCE,
            Some(id.to_string()),
        )
        .severity(Severity::Notice)
        .metadata(metadata),
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// A second reviewer's answer to a pass waiting for approval: `approve` passes the check
/// (reviewed by the first reviewer, the payment unchanged); otherwise it is undecided again,
/// back in the queue. The note is 10–2000 characters. The first reviewer answering their own
/// pass is `Forbidden`, with an audit row of result `denied`, and changes nothing.
/// `Conflict` when no pass waits or someone else holds the case.
pub async fn answer(
    db: &PgPool,
    me: &Identity,
    id: Uuid,
    approve: bool,
    note: &str,
) -> Result<(), AppError> {
    let note = parse_note(note)?;
    let action = if approve {
        "compliance.approve"
    } else {
        "compliance.reject"
    };
    let mut tx = db.begin().await?;
    let locked = lock_awaiting(&mut tx, id).await?;
    let Some(waiting) = compliance::pending_approval(&mut tx, id, true).await? else {
        return Err(AppError::Conflict(
            "No pass of this check is waiting for approval.".into(),
        ));
    };
    let metadata = json!({
        "note": note,
        "check_type": locked.check_type,
        "payment_reference": locked.payment_reference,
        "approval_id": waiting.id.to_string(),
        "requested_by": waiting.username,
    });
    if waiting.requested_by == me.user_id {
        tx.rollback().await?;
        audit::record_alone(
            db,
            AuditEvent::new(me.actor(), action, RESOURCE, Some(id.to_string()))
                .outcome(
                    Outcome::Denied,
                    Some("a pass needs a second reviewer, not its own".into()),
                )
                .severity(Severity::Warning)
                .metadata(metadata),
        )
        .await?;
        return Err(AppError::Forbidden);
    }
    refuse_others_claim(&mut tx, me, id).await?;
    compliance::close_approval(&mut tx, waiting.id, approve, me.user_id, note).await?;
    if approve
        && !compliance::decide(
            &mut tx,
            id,
            ComplianceStatus::Pass,
            waiting.requested_by,
            &waiting.note,
        )
        .await?
    {
        return Err(AppError::Conflict(
            "This check has a decision already.".into(),
        ));
    }
    compliance::release(&mut tx, id).await?;
    audit::record(
        &mut tx,
        AuditEvent::new(me.actor(), action, RESOURCE, Some(id.to_string()))
            .severity(Severity::Notice)
            .metadata(metadata),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
