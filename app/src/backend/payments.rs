//! The payments area's rules, shared by the payment page's server functions and the REST API:
//! a payment's story (one timeline merged from every source that knows something of it) and
//! its cancellation (only while pending, with a reason; the status, the release of its
//! reserved funds and the audit row commit together). SQL is `db::payments`'.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    audit::{self, AuditEvent, Severity},
    auth::Identity,
    db::payments::{self, AuditMention, ControlSpan, Movement},
    state::AppState,
};
use crate::{
    domain::{format_money, PaymentStatus},
    error::AppError,
    payments::{Check, Payment, PaymentDetail, Source, TimelineEntry, MAX_REASON},
};

/// A payment, its checks and its timeline (its ledger events included, when the ledger can
/// be read); `NotFound` for an id that names none.
pub async fn detail(state: &AppState, id: Uuid) -> Result<PaymentDetail, AppError> {
    let db = &state.db;
    let payment = payments::get(db, id).await?.ok_or(AppError::NotFound)?;
    let (checks, movements, controls, audit) = futures::try_join!(
        payments::checks(db, id),
        payments::movements(db, id),
        payments::controls(db, &payment, end_of_life(&payment).unwrap_or_else(Utc::now)),
        payments::audit_rows(db, id),
    )?;
    let ledger = super::ledger::queries::payment(state, id).await;
    let mut timeline = timeline(&payment, &checks, &movements, &controls, &audit);
    timeline.extend(ledger.events.iter().map(|e| TimelineEntry {
        at: e.time,
        source: Source::Ledger,
        what: format!("Ledger event {}: {}", e.seq, e.event_type),
        detail: Some(format!("SHA-256 {}", e.hash)),
        link: Some(format!("/ledger/events/{}", e.seq)),
    }));
    timeline.sort_by_key(|e| e.at);
    Ok(PaymentDetail {
        payment,
        checks,
        timeline,
        ledger_state: ledger.state,
        ledger_available: ledger.available,
    })
}

/// When a payment stopped being in flight: settled, cancelled or failed.
fn end_of_life(p: &Payment) -> Option<DateTime<Utc>> {
    match p.status {
        PaymentStatus::Settled => p.settled_at,
        PaymentStatus::Cancelled => p.cancelled_at,
        PaymentStatus::Failed => Some(p.updated_at),
        PaymentStatus::Pending | PaymentStatus::Processing => None,
    }
}

/// Everything the sources know of a payment, oldest first; entries of the same time keep the
/// sources' order (the payment, its movements, its checks, controls, the audit log). A new
/// source (the ledger's events, once it exists) is one more argument and one more `Source`.
pub fn timeline(
    p: &Payment,
    checks: &[Check],
    movements: &[Movement],
    controls: &[ControlSpan],
    audit: &[AuditMention],
) -> Vec<TimelineEntry> {
    let entry = |at, source, what: String, detail: Option<String>| TimelineEntry {
        at,
        source,
        what,
        detail,
        link: None,
    };
    let mut t = vec![entry(
        p.created_at,
        Source::Payment,
        format!("Created: {}", p.money()),
        Some(format!("From {} to {}", p.sender_bic, p.receiver_bic)),
    )];
    if let Some(at) = p.processed_at {
        t.push(entry(
            at,
            Source::Payment,
            "Processing started".into(),
            None,
        ));
    }
    if let Some(at) = p.settled_at {
        let batch = p.batch_reference.as_ref().map(|b| format!("In batch {b}"));
        t.push(entry(at, Source::Payment, "Settled".into(), batch));
    }
    if let Some(at) = p.cancelled_at {
        let by = p.cancelled_by.as_deref().map(|u| format!("by {u}: "));
        let reason = p.cancel_reason.as_deref().unwrap_or("no reason recorded");
        let detail = Some(format!("{}{reason}", by.unwrap_or_default()));
        t.push(entry(at, Source::Payment, "Cancelled".into(), detail));
    }
    if p.status == PaymentStatus::Failed {
        let why = p.failure_reason.clone();
        t.push(entry(p.updated_at, Source::Payment, "Failed".into(), why));
    }
    for m in movements {
        let (side, amount) = if m.debit_amount > Decimal::ZERO {
            ("Debit", m.debit_amount)
        } else {
            ("Credit", m.credit_amount)
        };
        let by = m.processed_by.as_deref().map(|u| format!(", by {u}"));
        t.push(entry(
            m.at,
            Source::Transactions,
            format!(
                "{side} {} {} on account {} ({})",
                format_money(amount, m.currency),
                m.currency,
                m.account_number,
                m.transaction_type
            ),
            Some(format!(
                "Balance after: {} {}{}",
                format_money(m.balance_after, m.currency),
                m.currency,
                by.unwrap_or_default()
            )),
        ));
    }
    for c in checks {
        let name = check_name(&c.check_type);
        t.push(entry(
            c.started_at,
            Source::Compliance,
            format!("{name} check started"),
            None,
        ));
        if let Some(at) = c.completed_at {
            let mut found = c
                .risk_score
                .map(|r| format!("Risk score {r}"))
                .into_iter()
                .collect::<Vec<_>>();
            if !c.matched_lists.is_empty() {
                found.push(format!("matched {}", c.matched_lists.join(", ")));
            }
            if c.requires_review {
                found.push("needs a review".into());
            }
            t.push(entry(
                at,
                Source::Compliance,
                format!("{name} check completed"),
                (!found.is_empty()).then(|| found.join("; ")),
            ));
        }
        if let (Some(at), Some(by)) = (c.reviewed_at, &c.reviewed_by) {
            t.push(entry(
                at,
                Source::Compliance,
                format!("{name} review: {} by {by}", c.status.as_str()),
                c.review_notes.clone(),
            ));
        }
    }
    for c in controls {
        let on = control_target(p, c);
        let mut detail = c.reason.clone().unwrap_or_default();
        if !c.is_active {
            detail = format!(
                "{detail} (lifted by {})",
                c.updated_at.format("%Y-%m-%d %H:%M UTC")
            );
        }
        t.push(entry(
            c.created_at.max(p.created_at),
            Source::Controls,
            format!("{} on {on} in force", capitalised(&c.action)),
            (!detail.trim().is_empty()).then(|| detail.trim().to_string()),
        ));
    }
    for a in audit {
        t.push(entry(
            a.at,
            Source::Audit,
            format!("{} by {} ({})", a.action, a.actor_name, a.result),
            (a.metadata != "{}").then(|| a.metadata.clone()),
        ));
    }
    t.sort_by_key(|e| e.at);
    t
}

/// "Sanctions", "AML", "Travel rule"…
fn check_name(check_type: &str) -> String {
    match check_type {
        "aml" => "AML".into(),
        "kyc" => "KYC".into(),
        "pep" => "PEP".into(),
        "travel_rule" => "Travel rule".into(),
        other => capitalised(other),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Which of the payment's banks or accounts a control is on, in words.
fn control_target(p: &Payment, c: &ControlSpan) -> String {
    let is = |id: Option<Uuid>| id.is_some_and(|id| id.to_string() == c.entity_id);
    match c.entity_type.as_str() {
        "bank" if is(Some(p.sender_bank_id)) => format!("the sender bank {}", p.sender_bic),
        "bank" => format!("the receiver bank {}", p.receiver_bic),
        "account" if is(p.sender_account_id) => format!(
            "the sender account {}",
            p.sender_account_number.as_deref().unwrap_or("?")
        ),
        _ => format!(
            "the receiver account {}",
            p.receiver_account_number.as_deref().unwrap_or("?")
        ),
    }
}

/// Cancels a pending payment: a reason of 1 to `MAX_REASON` characters is required; the
/// status, the release of the funds reserved on the sender's account and the
/// `payment.cancel` audit row commit together. `Conflict` when it is no longer pending (also
/// the loser of two concurrent cancellations), `NotFound` when there is no such payment;
/// either way nothing is written.
pub async fn cancel(db: &PgPool, me: &Identity, id: Uuid, reason: &str) -> Result<(), AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(AppError::field(
            "reason",
            format!("give a reason of 1 to {MAX_REASON} characters"),
        ));
    }
    if reason.contains('\0') {
        return Err(AppError::field("reason", crate::error::NUL_REFUSED));
    }
    let mut tx = db.begin().await?;
    let Some(cancelled) = payments::cancel(&mut tx, id, me.user_id, reason).await? else {
        return Err(match payments::status(&mut tx, id).await? {
            None => AppError::NotFound,
            Some(status) => AppError::Conflict(format!(
                "This payment is no longer pending (it is {status}); nothing was changed."
            )),
        });
    };
    let released = match cancelled.sender_account_id {
        Some(account) => payments::release_reserved(&mut tx, account, cancelled.amount).await?,
        None => Decimal::ZERO,
    };
    audit::record(
        &mut tx,
        AuditEvent::new(
            me.actor(),
            "payment.cancel",
            "payment",
            Some(id.to_string()),
        )
        .severity(Severity::Notice)
        .metadata(json!({
            "reference": cancelled.reference,
            "reason": reason,
            "released": released.to_string(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
