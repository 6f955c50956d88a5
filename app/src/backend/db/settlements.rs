//! Settlement batches' SQL: the Settlements list (`BatchList` for `db::list`), a batch, the
//! batches of a netting day, and the net positions of the banks in a set of batches.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    auth::Permission,
    backend::db::list::{
        self, csv_time, CsvExport, KeysetList, TimeOrAmountColumns, TimeOrAmountKey,
    },
    components::list::time_range,
    domain::{Currency, SettlementStatus},
    error::{uuid_of, FieldErrors},
    settlements::{Batch, BatchQuery, BatchRow, BatchSort, Position},
};

/// The Settlements list (`db::list`).
pub struct BatchList;

/// The Settlements list's filters, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchFilter {
    pub statuses: Vec<SettlementStatus>,
    pub currency: Option<Currency>,
    pub corridor: Option<String>,
    pub batch_type: Option<String>,
    pub bank: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sort: BatchSort,
}

/// The Settlements list's columns for its orders.
const ORDER_COLUMNS: TimeOrAmountColumns = ("s.created_at", "s.gross_amount", "s.id");

const MAX_TEXT: usize = 100;

fn text(v: &str) -> Result<String, String> {
    (v.chars().count() <= MAX_TEXT)
        .then(|| v.to_string())
        .ok_or_else(|| format!("at most {MAX_TEXT} characters"))
}

impl KeysetList for BatchList {
    type Query = BatchQuery;
    type Filter = BatchFilter;
    type Key = TimeOrAmountKey;
    type Row = BatchRow;

    const PERMISSION: Permission = Permission::SettlementsView;
    const SELECT: &'static str = "SELECT s.id, s.batch_reference, s.corridor_id, \
         s.netting_window_id, s.batch_type, s.status, s.currency, s.total_payments, \
         s.gross_amount, s.net_amount, s.created_at, s.settled_at \
         FROM deltran.settlement_batches s WHERE true";

    fn filter(query: &BatchQuery, refused: &mut FieldErrors) -> BatchFilter {
        let (from, to) = time_range(refused, &query.from, &query.to);
        BatchFilter {
            statuses: refused
                .check("status", &query.status, |s| {
                    list::several(s, &SettlementStatus::ALL, SettlementStatus::as_str)
                })
                .unwrap_or_default(),
            currency: refused.check("currency", &query.currency, |c| {
                c.parse::<Currency>().map_err(|e| e.to_string())
            }),
            corridor: refused.check("corridor", &query.corridor, text),
            batch_type: refused.check("batch_type", &query.batch_type, text),
            bank: refused.check("bank", &query.bank, |b| uuid_of("bank", b)),
            from,
            to,
            sort: refused
                .check("sort", &query.sort, BatchSort::parse)
                .unwrap_or_default(),
        }
    }

    fn after(query: &BatchQuery) -> &Option<String> {
        &query.after
    }

    fn push_conditions(f: &BatchFilter, q: &mut QueryBuilder<Postgres>) {
        if !f.statuses.is_empty() {
            q.push(" AND s.status = ANY(")
                .push_bind(f.statuses.clone())
                .push(")");
        }
        if let Some(c) = f.currency {
            q.push(" AND s.currency = ").push_bind(c);
        }
        if let Some(c) = &f.corridor {
            q.push(" AND s.corridor_id = ").push_bind(c.clone());
        }
        if let Some(t) = &f.batch_type {
            q.push(" AND s.batch_type = ").push_bind(t.clone());
        }
        if let Some(bank) = f.bank {
            q.push(
                " AND EXISTS (SELECT 1 FROM deltran.payments p WHERE p.batch_id = s.id \
                 AND (p.sender_bank_id = ",
            )
            .push_bind(bank)
            .push(" OR p.receiver_bank_id = ")
            .push_bind(bank)
            .push("))");
        }
        if let Some(from) = f.from {
            q.push(" AND s.created_at >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            q.push(" AND s.created_at < ").push_bind(to);
        }
    }

    fn order_by(f: &BatchFilter) -> &'static str {
        match f.sort {
            BatchSort::Newest => "s.created_at DESC, s.id DESC",
            BatchSort::Oldest => "s.created_at ASC, s.id ASC",
            BatchSort::Largest => "s.gross_amount DESC, s.id DESC",
        }
    }

    fn key(r: &BatchRow, f: &BatchFilter) -> TimeOrAmountKey {
        TimeOrAmountKey::of(f.sort, r.created_at, r.gross_amount, r.id)
    }

    fn encode(key: &TimeOrAmountKey) -> String {
        key.encode()
    }

    fn decode(text: &str, f: &BatchFilter) -> Option<TimeOrAmountKey> {
        TimeOrAmountKey::decode(text, f.sort)
    }

    fn push_after(key: &TimeOrAmountKey, q: &mut QueryBuilder<Postgres>) {
        key.push_after(q, ORDER_COLUMNS);
    }
}

impl CsvExport for BatchList {
    const EXPORT_ACTION: &'static str = "settlements.export";
    const RESOURCE_TYPE: &'static str = "settlement_batch";
    const FILE_NAME: &'static str = "settlements";
    const CSV_COLUMNS: &'static [&'static str] = &[
        "created_at",
        "batch_reference",
        "status",
        "currency",
        "corridor_id",
        "batch_type",
        "total_payments",
        "gross_amount",
        "net_amount",
        "settled_at",
        "id",
    ];

    fn cells(r: &BatchRow) -> Vec<Option<String>> {
        vec![
            Some(csv_time(r.created_at)),
            Some(r.batch_reference.clone()),
            Some(r.status.as_str().into()),
            Some(r.currency.code().into()),
            r.corridor_id.clone(),
            Some(r.batch_type.clone()),
            Some(r.total_payments.to_string()),
            Some(r.gross_amount.to_string()),
            Some(r.net_amount.to_string()),
            r.settled_at.map(csv_time),
            Some(r.id.to_string()),
        ]
    }

    fn metadata(f: &BatchFilter) -> serde_json::Value {
        list::metadata(&[
            (
                "status",
                list::several_text(&f.statuses, SettlementStatus::as_str),
            ),
            ("currency", f.currency.map(|c| c.code().into())),
            ("corridor", f.corridor.clone()),
            ("batch_type", f.batch_type.clone()),
            ("bank", f.bank.map(|b| b.to_string())),
            ("from", f.from.map(csv_time)),
            ("to", f.to.map(csv_time)),
            ("sort", Some(f.sort.as_str().into())),
        ])
    }
}

/// A batch with the number of payments that name it, or `None`.
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Batch>> {
    sqlx::query_as!(
        Batch,
        r#"SELECT s.id, s.batch_reference, s.corridor_id, s.netting_window_id, s.batch_type,
                s.status AS "status: SettlementStatus", s.currency AS "currency: Currency",
                s.total_payments, s.gross_amount, s.net_amount, s.metadata::text AS "metadata!",
                s.created_at, s.updated_at, s.finalized_at, s.submitted_at, s.settled_at,
                (SELECT count(*) FROM deltran.payments p WHERE p.batch_id = s.id)
                    AS "payment_count!"
         FROM deltran.settlement_batches s WHERE s.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// The ids of the batches created on `day` (UTC).
pub async fn of_day(db: &PgPool, day: NaiveDate) -> sqlx::Result<Vec<Uuid>> {
    let start = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    sqlx::query_scalar!(
        "SELECT id FROM deltran.settlement_batches \
         WHERE created_at >= $1 AND created_at < $1 + interval '1 day' ORDER BY id",
        start
    )
    .fetch_all(db)
    .await
}

/// Every bank's sends and receives, per currency, over the payments of `batches`: by
/// currency, then largest net position first.
pub async fn positions(db: &PgPool, batches: &[Uuid]) -> sqlx::Result<Vec<Position>> {
    sqlx::query_as!(
        Position,
        r#"WITH legs AS (
             SELECT sender_bank_id AS bank_id, currency, 1 AS sent_n, amount AS sent,
                    0 AS received_n, 0::numeric AS received
             FROM deltran.payments WHERE batch_id = ANY($1)
             UNION ALL
             SELECT receiver_bank_id, currency, 0, 0::numeric, 1, amount
             FROM deltran.payments WHERE batch_id = ANY($1))
         SELECT b.id AS "bank_id!", b.bic_code AS "bic_code!", b.name AS "name!",
                l.currency AS "currency!: Currency",
                sum(l.sent_n)::bigint AS "payments_sent!", sum(l.sent) AS "sent!",
                sum(l.received_n)::bigint AS "payments_received!", sum(l.received) AS "received!"
         FROM legs l JOIN deltran.banks b ON b.id = l.bank_id
         GROUP BY b.id, b.bic_code, b.name, l.currency
         ORDER BY l.currency, sum(l.received) - sum(l.sent) DESC, b.bic_code"#,
        batches
    )
    .fetch_all(db)
    .await
}
