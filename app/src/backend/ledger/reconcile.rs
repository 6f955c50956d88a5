//! The ledger against Postgres: every payment's ledger state equals its Postgres status, every
//! settled payment has its `settled` event, every ledger event names a payment that exists,
//! and every batch's settled events add up to the batch's payment count and gross amount.
//! Each difference is listed with what it concerns, so that the page can link to it.

use std::collections::HashMap;
use std::str::FromStr;

use futures::TryStreamExt;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::format::PaymentState;
use super::view::{EventFilter, Order};
use super::LedgerError;
use crate::backend::{db::ledger as db, state::AppState};
use crate::error::AppError;
use crate::ledger::{Difference, DifferenceKind, Reconciliation};

/// Differences listed at most; the count covers them all.
pub const LISTED: usize = 200;

/// What the ledger says of the payments: their states, and each settled one's batch and amount.
struct LedgerSide {
    states: HashMap<Uuid, String>,
    settled: HashMap<Uuid, (Option<Uuid>, Option<Decimal>)>,
    events: u64,
}

fn read_ledger(v: &super::View) -> Result<LedgerSide, LedgerError> {
    let mut states = HashMap::new();
    for s in v.states() {
        let (id, PaymentState { status, .. }) = s?;
        states.insert(id, status);
    }
    let mut settled = HashMap::new();
    let filter = EventFilter {
        event_type: Some("settled".into()),
        ..Default::default()
    };
    let mut cursor = None;
    loop {
        let page = v.events(&filter, Order::Ascending, cursor, 10_000)?;
        for e in &page.items {
            let payload: serde_json::Value = serde_json::from_slice(&e.payload).unwrap_or_default();
            let batch = payload["batch_id"]
                .as_str()
                .and_then(|b| Uuid::parse_str(b).ok());
            let amount = payload["amount"]
                .as_str()
                .and_then(|a| Decimal::from_str(a).ok());
            settled.insert(e.payment_id, (batch, amount));
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(LedgerSide {
        events: v.head()?.last_seq,
        states,
        settled,
    })
}

/// Runs the check. Postgres is read on the primary (the ledger is read as of now, and a
/// replica's lag would show as differences).
pub async fn reconcile(state: &AppState) -> Result<Reconciliation, AppError> {
    let mut ledger = state.ledger.read(read_ledger).await?;
    let mut found = Vec::new();
    let mut total = 0u64;
    let mut note = |kind, payment_id, batch_id, detail: String| {
        total += 1;
        if found.len() < LISTED {
            found.push(Difference {
                kind,
                payment_id,
                batch_id,
                detail,
            });
        }
    };
    let mut payments = 0u64;
    let mut per_batch: HashMap<Uuid, (i64, Decimal)> = HashMap::new();
    let mut rows = db::payments(&state.db);
    while let Some(p) = rows.try_next().await? {
        payments += 1;
        match ledger.states.remove(&p.id) {
            None => note(
                DifferenceKind::MissingFromLedger,
                Some(p.id),
                None,
                format!(
                    "the payment is {} in Postgres and has no event in the ledger",
                    p.status
                ),
            ),
            Some(s) if s != p.status => note(
                DifferenceKind::StatusDiffers,
                Some(p.id),
                None,
                format!("the ledger has it {s}, Postgres {}", p.status),
            ),
            Some(_) => {}
        }
        let event = ledger.settled.remove(&p.id);
        if p.status == "settled" && event.is_none() {
            note(
                DifferenceKind::SettledWithoutEvent,
                Some(p.id),
                p.batch_id,
                "settled in Postgres, with no settled event in the ledger".into(),
            );
        }
        if let Some((Some(batch), amount)) = event {
            let entry = per_batch.entry(batch).or_default();
            entry.0 += 1;
            entry.1 += amount.unwrap_or_default();
        }
    }
    let mut unknown: Vec<Uuid> = ledger.states.into_keys().collect();
    unknown.sort();
    for id in unknown {
        note(
            DifferenceKind::UnknownPayment,
            Some(id),
            None,
            "the ledger has events of a payment Postgres does not know".into(),
        );
    }
    let batches = db::batches(&state.db).await?;
    for (id, reference, count, gross) in &batches {
        let (events, sum) = per_batch.remove(id).unwrap_or_default();
        if events != i64::from(*count) || sum != *gross {
            note(
                DifferenceKind::BatchTotal,
                None,
                Some(*id),
                format!(
                    "batch {reference}: the ledger settled {events} payments for {sum}, Postgres has {count} for {gross}"
                ),
            );
        }
    }
    Ok(Reconciliation {
        payments_checked: payments,
        events_in_ledger: ledger.events,
        batches_checked: batches.len() as u64,
        differences: total,
        listed: found,
    })
}
