//! Payments' SQL: the Payments list (`PaymentList` for `db::list`), a payment with what it
//! names and the sources of its timeline, and the statements of a cancellation.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    auth::Permission,
    backend::db::list::{
        self, csv_time, CsvExport, KeysetList, TimeOrAmountColumns, TimeOrAmountKey,
    },
    components::list::time_range,
    domain::{Bic, ComplianceStatus, Currency, PaymentStatus},
    error::{uuid_of, FieldErrors},
    payments::{Check, Payment, PaymentQuery, PaymentRow, PaymentSort},
};

/// The Payments list (`db::list`): every payment, twelve filters, three orders.
pub struct PaymentList;

/// A bank as the `bank` filter names it.
#[derive(Debug, Clone, PartialEq)]
pub enum BankRef {
    Id(Uuid),
    Bic(String),
    /// Part of the name, any case.
    Name(String),
}

/// A batch as the `batch` filter names it.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchRef {
    Id(Uuid),
    Reference(String),
}

/// The Payments list's filters, checked; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaymentFilter {
    /// A prefix of the reference, idempotency key or SWIFT message id.
    pub q: Option<String>,
    /// Any of these (none: any status).
    pub statuses: Vec<PaymentStatus>,
    pub currency: Option<Currency>,
    pub bank: Option<BankRef>,
    pub account: Option<Uuid>,
    pub batch: Option<BatchRef>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub min_amount: Option<Decimal>,
    pub max_amount: Option<Decimal>,
    pub min_risk: Option<i16>,
    pub compliance: Option<ComplianceStatus>,
    pub sort: PaymentSort,
}

/// The Payments list's columns for its orders.
const ORDER_COLUMNS: TimeOrAmountColumns = ("p.created_at", "p.amount", "p.id");

/// The longest search text taken (references and keys are shorter).
const MAX_Q: usize = 140;

/// `text` as a LIKE pattern for "starts with": its wildcards taken literally.
fn prefix_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Reads the `bank` filter: a bank's id, its BIC (exactly, any case) or part of its name.
pub fn parse_bank(b: &str) -> Result<BankRef, String> {
    if let Ok(id) = Uuid::parse_str(b) {
        Ok(BankRef::Id(id))
    } else if let Ok(bic) = b.parse::<Bic>() {
        Ok(BankRef::Bic(bic.as_str().to_string()))
    } else if b.chars().count() <= MAX_Q {
        Ok(BankRef::Name(b.to_lowercase()))
    } else {
        Err(format!("at most {MAX_Q} characters"))
    }
}

/// Appends ` AND <the payment p's sender or receiver is the bank>`.
pub fn push_bank(bank: &BankRef, q: &mut QueryBuilder<Postgres>) {
    match bank {
        BankRef::Id(id) => {
            q.push(" AND (p.sender_bank_id = ")
                .push_bind(*id)
                .push(" OR p.receiver_bank_id = ")
                .push_bind(*id)
                .push(")");
        }
        // Either bank is one of those named (the banks table is small).
        BankRef::Bic(bic) => {
            q.push(
                " AND EXISTS (SELECT 1 FROM deltran.banks b \
                     WHERE b.id IN (p.sender_bank_id, p.receiver_bank_id) AND b.bic_code = ",
            )
            .push_bind(bic.clone())
            .push(")");
        }
        BankRef::Name(name) => {
            q.push(
                " AND EXISTS (SELECT 1 FROM deltran.banks b \
                     WHERE b.id IN (p.sender_bank_id, p.receiver_bank_id) \
                     AND strpos(lower(b.name), ",
            )
            .push_bind(name.clone())
            .push(") > 0)");
        }
    }
}

fn amount(v: &str) -> Result<Decimal, String> {
    v.parse::<Decimal>()
        .ok()
        .filter(|a| !a.is_sign_negative() && a.scale() <= 2)
        .filter(|a| *a <= crate::domain::Amount::max_value())
        .ok_or_else(|| "an amount like 1000 or 1000.50".into())
}

impl KeysetList for PaymentList {
    type Query = PaymentQuery;
    type Filter = PaymentFilter;
    type Key = TimeOrAmountKey;
    type Row = PaymentRow;

    const PERMISSION: Permission = Permission::PaymentsView;
    const SELECT: &'static str = "SELECT p.id, p.payment_reference, p.created_at, p.status, \
         p.amount, p.currency, p.sender_bank_id, sb.bic_code AS sender_bic, \
         p.receiver_bank_id, rb.bic_code AS receiver_bic, p.risk_score, \
         c.status AS compliance_status \
         FROM deltran.payments p \
         JOIN deltran.banks sb ON sb.id = p.sender_bank_id \
         JOIN deltran.banks rb ON rb.id = p.receiver_bank_id \
         LEFT JOIN deltran.compliance_checks c ON c.id = p.compliance_check_id \
         WHERE true";

    fn filter(query: &PaymentQuery, refused: &mut FieldErrors) -> PaymentFilter {
        let (from, to) = time_range(refused, &query.from, &query.to);
        let min_amount = refused.check("min_amount", &query.min_amount, amount);
        let max_amount = refused.check("max_amount", &query.max_amount, amount);
        if let (Some(min), Some(max)) = (min_amount, max_amount) {
            if min > max {
                refused.refuse("max_amount", "must not be below the minimum amount");
            }
        }
        PaymentFilter {
            q: refused.check("q", &query.q, |q| {
                (q.chars().count() <= MAX_Q)
                    .then(|| q.to_string())
                    .ok_or_else(|| format!("at most {MAX_Q} characters"))
            }),
            statuses: refused
                .check("status", &query.status, |s| {
                    list::several(s, &PaymentStatus::ALL, PaymentStatus::as_str)
                })
                .unwrap_or_default(),
            currency: refused.check("currency", &query.currency, |c| {
                c.parse::<Currency>().map_err(|e| e.to_string())
            }),
            bank: refused.check("bank", &query.bank, parse_bank),
            account: refused.check("account", &query.account, |a| {
                uuid_of("settlement account", a)
            }),
            batch: refused.check("batch", &query.batch, |b| {
                Ok(match Uuid::parse_str(b) {
                    Ok(id) => BatchRef::Id(id),
                    Err(_) if b.len() <= MAX_Q => BatchRef::Reference(b.to_string()),
                    Err(_) => return Err("a batch id or reference".into()),
                })
            }),
            from,
            to,
            min_amount,
            max_amount,
            min_risk: refused.check("min_risk", &query.min_risk, |r| {
                r.parse::<i16>()
                    .ok()
                    .filter(|r| (0..=100).contains(r))
                    .ok_or_else(|| "a whole number from 0 to 100".into())
            }),
            compliance: refused.check("compliance", &query.compliance, |c| {
                c.parse::<ComplianceStatus>().map_err(|_| {
                    format!("unknown compliance status {c:?} (pending, pass, fail or review)")
                })
            }),
            sort: refused
                .check("sort", &query.sort, PaymentSort::parse)
                .unwrap_or_default(),
        }
    }

    fn after(query: &PaymentQuery) -> &Option<String> {
        &query.after
    }

    fn push_conditions(f: &PaymentFilter, q: &mut QueryBuilder<Postgres>) {
        if let Some(text) = &f.q {
            let pattern = prefix_pattern(text);
            q.push(" AND (p.payment_reference LIKE ")
                .push_bind(pattern.clone())
                .push(" OR p.idempotency_key LIKE ")
                .push_bind(pattern.clone())
                .push(" OR p.swift_message_id LIKE ")
                .push_bind(pattern)
                .push(")");
        }
        if !f.statuses.is_empty() {
            q.push(" AND p.status = ANY(")
                .push_bind(f.statuses.clone())
                .push(")");
        }
        if let Some(c) = f.currency {
            q.push(" AND p.currency = ").push_bind(c);
        }
        if let Some(bank) = &f.bank {
            push_bank(bank, q);
        }
        if let Some(account) = f.account {
            q.push(" AND (p.sender_account_id = ")
                .push_bind(account)
                .push(" OR p.receiver_account_id = ")
                .push_bind(account)
                .push(")");
        }
        match &f.batch {
            Some(BatchRef::Id(id)) => {
                q.push(" AND p.batch_id = ").push_bind(*id);
            }
            Some(BatchRef::Reference(r)) => {
                q.push(" AND p.batch_id = (SELECT id FROM deltran.settlement_batches WHERE batch_reference = ")
                    .push_bind(r.clone())
                    .push(")");
            }
            None => {}
        }
        if let Some(from) = f.from {
            q.push(" AND p.created_at >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            q.push(" AND p.created_at < ").push_bind(to);
        }
        if let Some(min) = f.min_amount {
            q.push(" AND p.amount >= ").push_bind(min);
        }
        if let Some(max) = f.max_amount {
            q.push(" AND p.amount <= ").push_bind(max);
        }
        if let Some(risk) = f.min_risk {
            q.push(" AND p.risk_score >= ").push_bind(risk);
        }
        if let Some(c) = f.compliance {
            q.push(" AND c.status = ").push_bind(c);
        }
    }

    fn order_by(filter: &PaymentFilter) -> &'static str {
        match filter.sort {
            PaymentSort::Newest => "p.created_at DESC, p.id DESC",
            PaymentSort::Oldest => "p.created_at ASC, p.id ASC",
            PaymentSort::Largest => "p.amount DESC, p.id DESC",
        }
    }

    fn key(row: &PaymentRow, filter: &PaymentFilter) -> TimeOrAmountKey {
        TimeOrAmountKey::of(filter.sort, row.created_at, row.amount, row.id)
    }

    fn encode(key: &TimeOrAmountKey) -> String {
        key.encode()
    }

    fn decode(text: &str, filter: &PaymentFilter) -> Option<TimeOrAmountKey> {
        TimeOrAmountKey::decode(text, filter.sort)
    }

    fn push_after(key: &TimeOrAmountKey, q: &mut QueryBuilder<Postgres>) {
        key.push_after(q, ORDER_COLUMNS);
    }
}

impl CsvExport for PaymentList {
    const EXPORT_ACTION: &'static str = "payments.export";
    const RESOURCE_TYPE: &'static str = "payment";
    const FILE_NAME: &'static str = "payments";
    const CSV_COLUMNS: &'static [&'static str] = &[
        "created_at",
        "payment_reference",
        "status",
        "amount",
        "currency",
        "sender_bic",
        "receiver_bic",
        "risk_score",
        "compliance_status",
        "id",
    ];

    fn cells(r: &PaymentRow) -> Vec<Option<String>> {
        vec![
            Some(csv_time(r.created_at)),
            Some(r.payment_reference.clone()),
            Some(r.status.as_str().into()),
            Some(r.amount.to_string()),
            Some(r.currency.code().into()),
            Some(r.sender_bic.clone()),
            Some(r.receiver_bic.clone()),
            r.risk_score.map(|s| s.to_string()),
            r.compliance_status.map(|s| s.as_str().into()),
            Some(r.id.to_string()),
        ]
    }

    fn metadata(f: &PaymentFilter) -> serde_json::Value {
        list::metadata(&[
            ("q", f.q.clone()),
            (
                "status",
                list::several_text(&f.statuses, PaymentStatus::as_str),
            ),
            ("currency", f.currency.map(|c| c.code().into())),
            (
                "bank",
                f.bank.as_ref().map(|b| match b {
                    BankRef::Id(id) => id.to_string(),
                    BankRef::Bic(s) | BankRef::Name(s) => s.clone(),
                }),
            ),
            ("account", f.account.map(|a| a.to_string())),
            (
                "batch",
                f.batch.as_ref().map(|b| match b {
                    BatchRef::Id(id) => id.to_string(),
                    BatchRef::Reference(r) => r.clone(),
                }),
            ),
            ("from", f.from.map(csv_time)),
            ("to", f.to.map(csv_time)),
            ("min_amount", f.min_amount.map(|a| a.to_string())),
            ("max_amount", f.max_amount.map(|a| a.to_string())),
            ("min_risk", f.min_risk.map(|r| r.to_string())),
            ("compliance", f.compliance.map(|c| c.as_str().into())),
            ("sort", Some(f.sort.as_str().into())),
        ])
    }
}

/// A payment with the names of what it refers to, or `None`.
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as!(
        Payment,
        r#"SELECT p.id, p.payment_reference, p.status AS "status: PaymentStatus", p.amount,
                p.currency AS "currency: Currency",
                p.sender_bank_id, sb.bic_code AS sender_bic, sb.name AS sender_name,
                p.receiver_bank_id, rb.bic_code AS receiver_bic, rb.name AS receiver_name,
                p.sender_account_id, sa.account_number AS "sender_account_number?",
                p.receiver_account_id, ra.account_number AS "receiver_account_number?",
                p.batch_id, b.batch_reference AS "batch_reference?",
                p.compliance_check_id, p.risk_score, p.swift_message_type, p.swift_message_id,
                p.idempotency_key, p.remittance_info, p.created_at, p.updated_at,
                p.processed_at, p.settled_at, p.cancelled_at,
                cu.username AS "cancelled_by?", p.cancel_reason, p.failure_reason,
                p.metadata::text AS "metadata!"
         FROM deltran.payments p
         JOIN deltran.banks sb ON sb.id = p.sender_bank_id
         JOIN deltran.banks rb ON rb.id = p.receiver_bank_id
         LEFT JOIN deltran.bank_accounts sa ON sa.id = p.sender_account_id
         LEFT JOIN deltran.bank_accounts ra ON ra.id = p.receiver_account_id
         LEFT JOIN deltran.settlement_batches b ON b.id = p.batch_id
         LEFT JOIN deltran.users cu ON cu.id = p.cancelled_by
         WHERE p.id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// A payment's compliance checks, in the order they started.
pub async fn checks(db: &PgPool, payment_id: Uuid) -> sqlx::Result<Vec<Check>> {
    sqlx::query_as!(
        Check,
        r#"SELECT c.id, c.check_type, c.status AS "status: ComplianceStatus", c.risk_score,
                c.matched_lists, c.requires_review, u.username AS "reviewed_by?",
                c.reviewed_at, c.review_notes, c.started_at, c.completed_at
         FROM deltran.compliance_checks c
         LEFT JOIN deltran.users u ON u.id = c.reviewed_by
         WHERE c.payment_id = $1
         ORDER BY c.started_at, c.id"#,
        payment_id,
    )
    .fetch_all(db)
    .await
}

/// A movement of a payment on an account (`transaction_log`).
#[derive(Debug, Clone)]
pub struct Movement {
    pub at: DateTime<Utc>,
    pub transaction_type: String,
    pub account_number: String,
    pub currency: Currency,
    pub debit_amount: Decimal,
    pub credit_amount: Decimal,
    pub balance_after: Decimal,
    pub processed_by: Option<String>,
}

pub async fn movements(db: &PgPool, payment_id: Uuid) -> sqlx::Result<Vec<Movement>> {
    sqlx::query_as!(
        Movement,
        r#"SELECT t."timestamp" AS at, t.transaction_type, a.account_number,
                a.currency AS "currency: Currency", t.debit_amount, t.credit_amount,
                t.balance_after, u.username AS "processed_by?"
         FROM deltran.transaction_log t
         JOIN deltran.bank_accounts a ON a.id = t.account_id
         LEFT JOIN deltran.users u ON u.id = t.processed_by
         WHERE t.payment_id = $1
         ORDER BY t."timestamp", t.id"#,
        payment_id,
    )
    .fetch_all(db)
    .await
}

/// A control (freeze, throttle, block) on a bank or account of a payment.
#[derive(Debug, Clone)]
pub struct ControlSpan {
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    pub reason: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The controls on the payment's banks and accounts that were in force at some time between
/// its creation and `until` (its settlement, cancellation or failure; now while in flight). A
/// control that is no longer active counts as lifted at its last update.
pub async fn controls(
    db: &PgPool,
    p: &Payment,
    until: DateTime<Utc>,
) -> sqlx::Result<Vec<ControlSpan>> {
    let banks = [p.sender_bank_id.to_string(), p.receiver_bank_id.to_string()];
    let accounts: Vec<String> = [p.sender_account_id, p.receiver_account_id]
        .into_iter()
        .flatten()
        .map(|a| a.to_string())
        .collect();
    sqlx::query_as!(
        ControlSpan,
        r#"SELECT entity_type, entity_id, action_type::text AS "action!", reason,
                is_active, created_at, updated_at
         FROM deltran.rate_limits
         WHERE action_type IS NOT NULL
           AND ((entity_type = 'bank' AND entity_id = ANY($1))
                OR (entity_type = 'account' AND entity_id = ANY($2)))
           AND created_at <= $3 AND (is_active OR updated_at >= $4)
         ORDER BY created_at, id"#,
        &banks[..],
        &accounts[..],
        until,
        p.created_at,
    )
    .fetch_all(db)
    .await
}

/// The payment an idempotency key names.
#[derive(Debug, Clone)]
pub struct ByKey {
    pub id: Uuid,
    pub reference: String,
    pub status: String,
}

/// The payment whose idempotency key is `key`, if any.
pub async fn by_idempotency_key(db: &PgPool, key: &str) -> sqlx::Result<Option<ByKey>> {
    sqlx::query_as!(
        ByKey,
        r#"SELECT id, payment_reference AS reference, status::text AS "status!"
           FROM deltran.payments WHERE idempotency_key = $1"#,
        key
    )
    .fetch_optional(db)
    .await
}

/// An audit row that names a payment.
#[derive(Debug, Clone)]
pub struct AuditMention {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_name: String,
    pub action: String,
    pub result: String,
    pub metadata: String,
}

/// The audit rows whose resource is the payment or one of its compliance checks, oldest
/// first.
pub async fn audit_rows(db: &PgPool, payment_id: Uuid) -> sqlx::Result<Vec<AuditMention>> {
    sqlx::query_as!(
        AuditMention,
        // Two lookups on the resource index, one per kind (an OR of the two scans every
        // partition).
        r#"SELECT id AS "id!", "timestamp" AS "at!", actor_name AS "actor_name!",
                action AS "action!", result AS "result!", metadata::text AS "metadata!"
         FROM deltran.audit_log
         WHERE resource_type = 'payment' AND resource_id = $1::uuid::text
         UNION ALL
         SELECT a.id, a."timestamp", a.actor_name, a.action, a.result, a.metadata::text
         FROM deltran.compliance_checks c
         JOIN deltran.audit_log a
           ON a.resource_type = 'compliance_check' AND a.resource_id = c.id::text
         WHERE c.payment_id = $1
         ORDER BY 2, 1"#,
        payment_id,
    )
    .fetch_all(db)
    .await
}

/// What a cancellation changed: the account whose reserved funds it released, and how much.
#[derive(Debug, Clone)]
pub struct Cancelled {
    pub reference: String,
    pub sender_account_id: Option<Uuid>,
    pub amount: Decimal,
}

/// Marks the payment cancelled if it is still pending (the row lock makes a concurrent
/// cancellation wait, then find it no longer pending); `None` if it is not pending or absent.
pub async fn cancel(
    conn: &mut PgConnection,
    id: Uuid,
    by: Uuid,
    reason: &str,
) -> sqlx::Result<Option<Cancelled>> {
    sqlx::query_as!(
        Cancelled,
        "UPDATE deltran.payments \
         SET status = 'cancelled', cancelled_at = now(), cancelled_by = $2, cancel_reason = $3 \
         WHERE id = $1 AND status = 'pending' \
         RETURNING payment_reference AS reference, sender_account_id, amount",
        id,
        by,
        reason,
    )
    .fetch_optional(conn)
    .await
}

/// A payment's status, if it exists.
pub async fn status(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PaymentStatus>> {
    sqlx::query_scalar!(
        r#"SELECT status AS "status: PaymentStatus" FROM deltran.payments WHERE id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Moves up to `amount` of an account's reserved funds back to available (never below zero
/// reserved: balance = available + reserved stays true); returns what was released.
pub async fn release_reserved(
    conn: &mut PgConnection,
    account_id: Uuid,
    amount: Decimal,
) -> sqlx::Result<Decimal> {
    let released = sqlx::query_scalar!(
        r#"WITH a AS (SELECT id, LEAST(reserved_balance, $2) AS released
                     FROM deltran.bank_accounts WHERE id = $1 FOR UPDATE)
         UPDATE deltran.bank_accounts b
         SET reserved_balance = b.reserved_balance - a.released,
             available_balance = b.available_balance + a.released
         FROM a WHERE b.id = a.id
         RETURNING a.released AS "released!""#,
        account_id,
        amount,
    )
    .fetch_optional(conn)
    .await?;
    Ok(released.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_a_literal_prefix() {
        assert_eq!(prefix_pattern("DT2026"), "DT2026%");
        assert_eq!(prefix_pattern("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
