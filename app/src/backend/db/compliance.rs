//! Compliance's SQL: the compliance list (`ComplianceList` for `db::list`), what a case shows,
//! and the statements of a claim, a decision and a second reviewer's approval.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    auth::Permission,
    backend::db::{
        list::{self, csv_time, from_micros, time_and_id, CsvExport, KeysetList},
        payments::{parse_bank, push_bank, BankRef},
    },
    compliance::{
        CaseCheck, ComplianceQuery, ComplianceRow, ComplianceSort, EarlierCheck, CHECK_TYPES,
    },
    components::list::time_range,
    domain::{ComplianceStatus, PaymentStatus},
    error::FieldErrors,
};

/// The compliance list (`db::list`): every check with its payment, seven filters, three
/// orders.
pub struct ComplianceList;

/// Which checks `requires_review` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Awaiting {
    /// Needs a review and has no decision yet (the queue).
    Yes,
    /// Every other check.
    No,
    /// Every check.
    #[default]
    Any,
}

impl Awaiting {
    fn parse(v: &str) -> Result<Awaiting, String> {
        match v {
            "true" => Ok(Awaiting::Yes),
            "false" => Ok(Awaiting::No),
            "any" => Ok(Awaiting::Any),
            _ => Err(format!("unknown value {v:?} (true, false or any)")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Awaiting::Yes => "true",
            Awaiting::No => "false",
            Awaiting::Any => "any",
        }
    }
}

/// The compliance list's filters, checked; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComplianceFilter {
    pub awaiting: Awaiting,
    /// Any of these (none: any type).
    pub check_types: Vec<&'static str>,
    /// Any of these (none: any status).
    pub statuses: Vec<ComplianceStatus>,
    pub min_risk: Option<i16>,
    pub matched_list: Option<String>,
    pub bank: Option<BankRef>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sort: ComplianceSort,
}

/// Where the next page starts: the last row's start time or risk score, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKey {
    Oldest(DateTime<Utc>, Uuid),
    Newest(DateTime<Utc>, Uuid),
    /// The risk score (-1 for none) and the id.
    Riskiest(i16, Uuid),
}

/// The longest list name or bank text taken.
const MAX_TEXT: usize = 100;

/// A check without a risk score sorts as this (below every score).
const NO_RISK: i16 = -1;

impl KeysetList for ComplianceList {
    type Query = ComplianceQuery;
    type Filter = ComplianceFilter;
    type Key = CheckKey;
    type Row = ComplianceRow;

    const PERMISSION: Permission = Permission::ComplianceView;
    const SELECT: &'static str = "SELECT c.id, c.check_type, c.status, c.risk_score, \
         c.matched_lists, c.requires_review, c.reviewed_at, c.started_at, \
         extract(epoch FROM now() - c.started_at)::bigint AS age_seconds, \
         p.id AS payment_id, p.payment_reference, p.status AS payment_status, p.amount, \
         p.currency, p.sender_bank_id, sb.bic_code AS sender_bic, p.receiver_bank_id, \
         rb.bic_code AS receiver_bic, \
         EXISTS (SELECT 1 FROM deltran.compliance_approvals a \
                 WHERE a.check_id = c.id AND a.status = 'pending') AS pending_approval, \
         (SELECT u.username FROM deltran.compliance_claims cl \
          JOIN deltran.users u ON u.id = cl.claimed_by \
          WHERE cl.check_id = c.id AND cl.expires_at > now()) AS claimed_by \
         FROM deltran.compliance_checks c \
         JOIN deltran.payments p ON p.id = c.payment_id \
         JOIN deltran.banks sb ON sb.id = p.sender_bank_id \
         JOIN deltran.banks rb ON rb.id = p.receiver_bank_id \
         WHERE true";

    fn filter(query: &ComplianceQuery, refused: &mut FieldErrors) -> ComplianceFilter {
        let (from, to) = time_range(refused, &query.from, &query.to);
        ComplianceFilter {
            awaiting: refused
                .check("requires_review", &query.requires_review, Awaiting::parse)
                .unwrap_or_default(),
            check_types: refused
                .check("check_type", &query.check_type, |t| {
                    list::several(t, &CHECK_TYPES, |t| t)
                })
                .unwrap_or_default(),
            statuses: refused
                .check("status", &query.status, |s| {
                    list::several(s, &ComplianceStatus::ALL, ComplianceStatus::as_str)
                })
                .unwrap_or_default(),
            min_risk: refused.check("min_risk", &query.min_risk, |r| {
                r.parse::<i16>()
                    .ok()
                    .filter(|r| (0..=100).contains(r))
                    .ok_or_else(|| "a whole number from 0 to 100".into())
            }),
            matched_list: refused.check("matched_list", &query.matched_list, |l| {
                (l.chars().count() <= MAX_TEXT)
                    .then(|| l.to_string())
                    .ok_or_else(|| format!("at most {MAX_TEXT} characters"))
            }),
            bank: refused.check("bank", &query.bank, parse_bank),
            from,
            to,
            sort: refused
                .check("sort", &query.sort, ComplianceSort::parse)
                .unwrap_or_default(),
        }
    }

    fn after(query: &ComplianceQuery) -> &Option<String> {
        &query.after
    }

    fn push_conditions(f: &ComplianceFilter, q: &mut QueryBuilder<Postgres>) {
        match f.awaiting {
            Awaiting::Yes => {
                q.push(" AND c.requires_review AND c.reviewed_at IS NULL");
            }
            Awaiting::No => {
                q.push(" AND NOT (c.requires_review AND c.reviewed_at IS NULL)");
            }
            Awaiting::Any => {}
        }
        if !f.check_types.is_empty() {
            let types: Vec<String> = f.check_types.iter().map(|t| t.to_string()).collect();
            q.push(" AND c.check_type = ANY(")
                .push_bind(types)
                .push(")");
        }
        if !f.statuses.is_empty() {
            q.push(" AND c.status = ANY(")
                .push_bind(f.statuses.clone())
                .push(")");
        }
        // As the riskiest order's indexes write it (a missing score, -1, is below any minimum).
        if let Some(risk) = f.min_risk {
            q.push(" AND coalesce(c.risk_score, -1) >= ")
                .push_bind(risk);
        }
        if let Some(l) = &f.matched_list {
            q.push(" AND c.matched_lists @> ")
                .push_bind(vec![l.clone()])
                .push("::text[]");
        }
        if let Some(bank) = &f.bank {
            push_bank(bank, q);
        }
        if let Some(from) = f.from {
            q.push(" AND c.started_at >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            q.push(" AND c.started_at < ").push_bind(to);
        }
    }

    fn order_by(filter: &ComplianceFilter) -> &'static str {
        match filter.sort {
            ComplianceSort::Oldest => "c.started_at ASC, c.id ASC",
            ComplianceSort::Newest => "c.started_at DESC, c.id DESC",
            ComplianceSort::Riskiest => "coalesce(c.risk_score, -1) DESC, c.id DESC",
        }
    }

    fn key(row: &ComplianceRow, filter: &ComplianceFilter) -> CheckKey {
        match filter.sort {
            ComplianceSort::Oldest => CheckKey::Oldest(row.started_at, row.id),
            ComplianceSort::Newest => CheckKey::Newest(row.started_at, row.id),
            ComplianceSort::Riskiest => {
                CheckKey::Riskiest(row.risk_score.unwrap_or(NO_RISK), row.id)
            }
        }
    }

    /// `co.<microseconds>.<id>`, `cn.<microseconds>.<id>` or `cr.<risk>.<id>`.
    fn encode(key: &CheckKey) -> String {
        match key {
            CheckKey::Oldest(at, id) => format!("co.{}.{id}", at.timestamp_micros()),
            CheckKey::Newest(at, id) => format!("cn.{}.{id}", at.timestamp_micros()),
            CheckKey::Riskiest(risk, id) => format!("cr.{risk}.{id}"),
        }
    }

    fn decode(text: &str, filter: &ComplianceFilter) -> Option<CheckKey> {
        let (kind, rest) = text.split_once('.')?;
        let (first, id) = time_and_id(rest)?;
        match (kind, filter.sort) {
            ("co", ComplianceSort::Oldest) => Some(CheckKey::Oldest(from_micros(first)?, id)),
            ("cn", ComplianceSort::Newest) => Some(CheckKey::Newest(from_micros(first)?, id)),
            ("cr", ComplianceSort::Riskiest) => {
                let risk = first.parse::<i16>().ok()?;
                (NO_RISK..=100)
                    .contains(&risk)
                    .then_some(CheckKey::Riskiest(risk, id))
            }
            _ => None,
        }
    }

    fn push_after(key: &CheckKey, q: &mut QueryBuilder<Postgres>) {
        match key {
            CheckKey::Oldest(at, id) => {
                q.push(" AND (c.started_at, c.id) > (")
                    .push_bind(*at)
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
            CheckKey::Newest(at, id) => {
                q.push(" AND (c.started_at, c.id) < (")
                    .push_bind(*at)
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
            CheckKey::Riskiest(risk, id) => {
                q.push(" AND (coalesce(c.risk_score, -1), c.id) < (")
                    .push_bind(*risk)
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
        }
    }
}

impl CsvExport for ComplianceList {
    const EXPORT_ACTION: &'static str = "compliance.export";
    const RESOURCE_TYPE: &'static str = "compliance_check";
    const FILE_NAME: &'static str = "compliance";
    const CSV_COLUMNS: &'static [&'static str] = &[
        "started_at",
        "check_type",
        "status",
        "risk_score",
        "matched_lists",
        "requires_review",
        "reviewed_at",
        "pending_approval",
        "payment_reference",
        "payment_status",
        "amount",
        "currency",
        "sender_bic",
        "receiver_bic",
        "id",
    ];

    fn cells(r: &ComplianceRow) -> Vec<Option<String>> {
        vec![
            Some(csv_time(r.started_at)),
            Some(r.check_type.clone()),
            Some(r.status.as_str().into()),
            r.risk_score.map(|s| s.to_string()),
            Some(r.matched_lists.join(";")),
            Some(r.requires_review.to_string()),
            r.reviewed_at.map(csv_time),
            Some(r.pending_approval.to_string()),
            Some(r.payment_reference.clone()),
            Some(r.payment_status.as_str().into()),
            Some(r.amount.to_string()),
            Some(r.currency.code().into()),
            Some(r.sender_bic.clone()),
            Some(r.receiver_bic.clone()),
            Some(r.id.to_string()),
        ]
    }

    fn metadata(f: &ComplianceFilter) -> serde_json::Value {
        list::metadata(&[
            ("requires_review", Some(f.awaiting.as_str().into())),
            ("check_type", list::several_text(&f.check_types, |t| t)),
            (
                "status",
                list::several_text(&f.statuses, ComplianceStatus::as_str),
            ),
            ("min_risk", f.min_risk.map(|r| r.to_string())),
            ("matched_list", f.matched_list.clone()),
            (
                "bank",
                f.bank.as_ref().map(|b| match b {
                    BankRef::Id(id) => id.to_string(),
                    BankRef::Bic(s) | BankRef::Name(s) => s.clone(),
                }),
            ),
            ("from", f.from.map(csv_time)),
            ("to", f.to.map(csv_time)),
            ("sort", Some(f.sort.as_str().into())),
        ])
    }
}

/// A check as its case shows it, or `None`.
pub async fn check(db: &PgPool, id: Uuid) -> sqlx::Result<Option<CaseCheck>> {
    sqlx::query_as!(
        CaseCheck,
        r#"SELECT c.id, c.payment_id, c.check_type, c.status AS "status: ComplianceStatus",
                c.risk_score, c.flags::text AS "flags!", c.matched_lists, c.requires_review,
                u.username AS "reviewed_by?", c.reviewed_at, c.review_notes, c.started_at,
                c.completed_at
         FROM deltran.compliance_checks c
         LEFT JOIN deltran.users u ON u.id = c.reviewed_by
         WHERE c.id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// The last 20 checks of payments the bank sent that started before `before`, newest first.
pub async fn sender_history(
    db: &PgPool,
    bank_id: Uuid,
    before: DateTime<Utc>,
) -> sqlx::Result<Vec<EarlierCheck>> {
    sqlx::query_as!(
        EarlierCheck,
        // A check starts once its payment exists: `p.created_at <= before` lets the sender
        // index stop early.
        r#"SELECT c.id, c.check_type, c.status AS "status: ComplianceStatus", c.risk_score,
                c.matched_lists, c.started_at, p.id AS payment_id, p.payment_reference
         FROM deltran.payments p
         JOIN deltran.compliance_checks c ON c.payment_id = p.id
         WHERE p.sender_bank_id = $1 AND p.created_at <= $2 AND c.started_at < $2
         ORDER BY c.started_at DESC, c.id DESC
         LIMIT 20"#,
        bank_id,
        before,
    )
    .fetch_all(db)
    .await
}

/// A live claim: who holds it (id and username), since and until when.
#[derive(Debug, Clone)]
pub struct LiveClaim {
    pub claimed_by: Uuid,
    pub username: String,
    pub claimed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The live (unexpired) claim on a check, if any.
pub async fn live_claim(
    conn: &mut PgConnection,
    check_id: Uuid,
) -> sqlx::Result<Option<LiveClaim>> {
    sqlx::query_as!(
        LiveClaim,
        "SELECT cl.claimed_by, u.username, cl.claimed_at, cl.expires_at
         FROM deltran.compliance_claims cl
         JOIN deltran.users u ON u.id = cl.claimed_by
         WHERE cl.check_id = $1 AND cl.expires_at > now()",
        check_id,
    )
    .fetch_optional(conn)
    .await
}

/// A pass waiting for a second reviewer.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub id: Uuid,
    pub requested_by: Uuid,
    pub username: String,
    pub requested_at: DateTime<Utc>,
    pub note: String,
}

/// The pending approval of a check, if any; `lock` takes its row lock too.
pub async fn pending_approval(
    conn: &mut PgConnection,
    check_id: Uuid,
    lock: bool,
) -> sqlx::Result<Option<Waiting>> {
    if lock {
        sqlx::query_as!(
            Waiting,
            "SELECT a.id, a.requested_by, u.username, a.requested_at, a.note
             FROM deltran.compliance_approvals a
             JOIN deltran.users u ON u.id = a.requested_by
             WHERE a.check_id = $1 AND a.status = 'pending'
             FOR UPDATE OF a",
            check_id,
        )
        .fetch_optional(conn)
        .await
    } else {
        sqlx::query_as!(
            Waiting,
            "SELECT a.id, a.requested_by, u.username, a.requested_at, a.note
             FROM deltran.compliance_approvals a
             JOIN deltran.users u ON u.id = a.requested_by
             WHERE a.check_id = $1 AND a.status = 'pending'",
            check_id,
        )
        .fetch_optional(conn)
        .await
    }
}

/// A check locked for a change, with what its audit rows name.
#[derive(Debug, Clone)]
pub struct Locked {
    pub check_type: String,
    /// Needs a review and has no decision yet.
    pub awaiting: bool,
    pub payment_id: Uuid,
    pub payment_reference: String,
}

/// Locks a check's row (a concurrent change waits for this transaction); `None` if absent.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Locked>> {
    sqlx::query_as!(
        Locked,
        r#"SELECT c.check_type, (c.requires_review AND c.reviewed_at IS NULL) AS "awaiting!",
                c.payment_id, p.payment_reference
         FROM deltran.compliance_checks c
         JOIN deltran.payments p ON p.id = c.payment_id
         WHERE c.id = $1
         FOR UPDATE OF c"#,
        id,
    )
    .fetch_optional(conn)
    .await
}

/// Claims a check for `minutes` for `by`, or renews `by`'s claim (keeping when it began),
/// unless someone else holds a live claim: then `None`.
pub async fn claim(
    conn: &mut PgConnection,
    check_id: Uuid,
    by: Uuid,
    minutes: i32,
) -> sqlx::Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    let row = sqlx::query!(
        "INSERT INTO deltran.compliance_claims AS cl (check_id, claimed_by, claimed_at, expires_at)
         VALUES ($1, $2, now(), now() + make_interval(mins => $3))
         ON CONFLICT (check_id) DO UPDATE
         SET claimed_by = EXCLUDED.claimed_by,
             claimed_at = CASE WHEN cl.claimed_by = EXCLUDED.claimed_by AND cl.expires_at > now()
                               THEN cl.claimed_at ELSE EXCLUDED.claimed_at END,
             expires_at = EXCLUDED.expires_at
         WHERE cl.expires_at <= now() OR cl.claimed_by = EXCLUDED.claimed_by
         RETURNING claimed_at, expires_at",
        check_id,
        by,
        minutes,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.claimed_at, r.expires_at)))
}

/// Ends any claim on a check.
pub async fn release(conn: &mut PgConnection, check_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM deltran.compliance_claims WHERE check_id = $1",
        check_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the decision on a check awaiting one (`pass` or `fail`, reviewed by `by`); false
/// when it was not awaiting one.
pub async fn decide(
    conn: &mut PgConnection,
    check_id: Uuid,
    status: ComplianceStatus,
    by: Uuid,
    note: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE deltran.compliance_checks
         SET status = $2::text::deltran.compliance_status, reviewed_by = $3, reviewed_at = now(),
             review_notes = $4, requires_review = false, completed_at = now()
         WHERE id = $1 AND requires_review AND reviewed_at IS NULL",
        check_id,
        status.as_str(),
        by,
        note,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What stopping a payment changed.
#[derive(Debug, Clone)]
pub struct Stopped {
    pub previous: PaymentStatus,
    pub sender_account_id: Option<Uuid>,
    pub amount: Decimal,
}

/// Marks the payment failed with `reason` if it has not settled (pending or processing);
/// `None` when it was in any other state.
pub async fn stop_payment(
    conn: &mut PgConnection,
    payment_id: Uuid,
    reason: &str,
) -> sqlx::Result<Option<Stopped>> {
    sqlx::query_as!(
        Stopped,
        r#"WITH old AS (SELECT id, status FROM deltran.payments WHERE id = $1 FOR UPDATE)
         UPDATE deltran.payments p SET status = 'failed', failure_reason = $2
         FROM old
         WHERE p.id = old.id AND old.status IN ('pending', 'processing')
         RETURNING old.status AS "previous: PaymentStatus", p.sender_account_id, p.amount"#,
        payment_id,
        reason,
    )
    .fetch_optional(conn)
    .await
}

/// Records a pass waiting for a second reviewer; returns its id.
pub async fn request_approval(
    conn: &mut PgConnection,
    check_id: Uuid,
    by: Uuid,
    note: &str,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "INSERT INTO deltran.compliance_approvals (check_id, requested_by, note)
         VALUES ($1, $2, $3) RETURNING id",
        check_id,
        by,
        note,
    )
    .fetch_one(conn)
    .await
}

/// Closes a pending approval as `approved` or `rejected` by `by` with `note`.
pub async fn close_approval(
    conn: &mut PgConnection,
    approval_id: Uuid,
    approved: bool,
    by: Uuid,
    note: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE deltran.compliance_approvals
         SET status = CASE WHEN $2 THEN 'approved' ELSE 'rejected' END,
             decided_by = $3, decided_at = now(), decision_note = $4
         WHERE id = $1 AND status = 'pending'",
        approval_id,
        approved,
        by,
        note,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The check's status.
pub async fn status(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<ComplianceStatus> {
    sqlx::query_scalar!(
        r#"SELECT status AS "status: ComplianceStatus" FROM deltran.compliance_checks WHERE id = $1"#,
        id
    )
    .fetch_one(conn)
    .await
}
