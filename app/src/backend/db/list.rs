//! The one keyset-list engine. An area's list says, by implementing `KeysetList` (and
//! `CsvExport`), how its URL is checked, what it selects, its orders and cursors and its CSV
//! cells; `page`, `fetch` and `export` do the rest the same way for every list: every refused
//! value reported at once, pages by keyset (never OFFSET: page 10 000 costs what page 1
//! does), the export's audit row committed before the first byte, and the CSV streamed in
//! keyset batches at constant memory.
//!
//! Adding a list is its SQL, its columns and its view: see docs/lists.md.

use std::future::Future;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{postgres::PgRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

pub use crate::components::list::{Page, TimeOrAmount, Total};
use crate::{
    auth::Permission,
    backend::audit::{
        self,
        export::{csv_record, formula_safe},
        Actor, AuditEvent,
    },
    error::{AppError, FieldErrors},
};

/// An area's list.
pub trait KeysetList: 'static {
    /// The URL state the page, its server function, the REST API and the download share.
    type Query: Sync;
    /// The checked filters and order.
    type Filter: Clone + Send + Sync + 'static;
    /// Where a page starts: the order's keys of the last row shown.
    type Key: Send + Sync + 'static;
    type Row: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin + 'static;

    /// What reading the list takes (its server function, REST route and download check it
    /// first).
    const PERMISSION: Permission;
    /// `SELECT <the row's columns> FROM … WHERE <what every row of the list satisfies>`;
    /// conditions are appended to it with ` AND …`.
    const SELECT: &'static str;

    /// The checked filters and order of `query`; each refused value goes into `refused`.
    fn filter(query: &Self::Query, refused: &mut FieldErrors) -> Self::Filter;
    /// The cursor text of `query` (`None`: the first page).
    fn after(query: &Self::Query) -> &Option<String>;
    /// Appends ` AND <condition>` for every filter that is set.
    fn push_conditions(filter: &Self::Filter, q: &mut QueryBuilder<Postgres>);
    /// `ORDER BY` of the filter's order. Its last key is unique, so the order is total and
    /// keyset paging neither repeats nor skips a row.
    fn order_by(filter: &Self::Filter) -> &'static str;
    /// The keys of `row` in the filter's order.
    fn key(row: &Self::Row, filter: &Self::Filter) -> Self::Key;
    /// The opaque text of a cursor, for URLs.
    fn encode(key: &Self::Key) -> String;
    /// Reads `encode`'s text for the filter's order; `None` for anything else, a cursor of
    /// another order or list included.
    fn decode(text: &str, filter: &Self::Filter) -> Option<Self::Key>;
    /// Appends ` AND <rows after key, in its order>`.
    fn push_after(key: &Self::Key, q: &mut QueryBuilder<Postgres>);
}

/// A list that downloads as CSV.
pub trait CsvExport: KeysetList {
    /// The action of the audit row every export writes (`users.export`).
    const EXPORT_ACTION: &'static str;
    /// The resource type of that row.
    const RESOURCE_TYPE: &'static str;
    /// The download's file name, before the time and `.csv`.
    const FILE_NAME: &'static str;
    const CSV_COLUMNS: &'static [&'static str];
    /// A row's cells, in `CSV_COLUMNS` order (made formula-safe by the engine).
    fn cells(row: &Self::Row) -> Vec<Option<String>>;
    /// The filter as audit metadata (strings only, as audit metadata must be).
    fn metadata(filter: &Self::Filter) -> serde_json::Value;
}

/// Checks `query`: its filters and, when they are all good, its cursor. Every refused value
/// is a field error named by its URL parameter, all of them at once.
pub fn parse<L: KeysetList>(query: &L::Query) -> Result<(L::Filter, Option<L::Key>), AppError> {
    let mut refused = FieldErrors::default();
    let filter = L::filter(query, &mut refused);
    // A cursor is read in the filter's order: only once that order is known to be right.
    let after = if refused.is_empty() {
        refused.check("after", L::after(query), |a| {
            L::decode(a, &filter)
                .ok_or_else(|| "not a page of this list; start again from the first page".into())
        })
    } else {
        None
    };
    refused.finish((filter, after))
}

/// The page of `query` (at most `limit` rows, clamped to 1..=1000).
pub async fn page<L: KeysetList>(
    db: &PgPool,
    query: &L::Query,
    limit: u32,
) -> Result<Page<L::Row>, AppError> {
    let (filter, after) = parse::<L>(query)?;
    let (rows, next) = fetch::<L>(db, &filter, after.as_ref(), limit).await?;
    Ok(Page {
        rows,
        next: next.map(|k| L::encode(&k)),
    })
}

/// The page of `query` as `page` reads it, and how many rows its filters match in all
/// (`total`), read side by side.
pub async fn page_with_total<L: KeysetList>(
    db: &PgPool,
    query: &L::Query,
    limit: u32,
) -> Result<(Page<L::Row>, Total), AppError> {
    let (filter, after) = parse::<L>(query)?;
    let ((rows, next), total) = futures::try_join!(
        fetch::<L>(db, &filter, after.as_ref(), limit),
        total::<L>(db, &filter)
    )?;
    let page = Page {
        rows,
        next: next.map(|k| L::encode(&k)),
    };
    Ok((page, total))
}

/// `page`, read where `state.read` sends `who`'s reads (the replica while it keeps up).
pub async fn read_page<L: KeysetList>(
    state: &crate::backend::state::AppState,
    who: Uuid,
    query: &L::Query,
    limit: u32,
) -> Result<Page<L::Row>, AppError> {
    state
        .read(
            Some(who),
            |db| async move { page::<L>(&db, query, limit).await },
        )
        .await
}

/// `page_with_total`, read where `state.read` sends `who`'s reads.
pub async fn read_page_with_total<L: KeysetList>(
    state: &crate::backend::state::AppState,
    who: Uuid,
    query: &L::Query,
    limit: u32,
) -> Result<(Page<L::Row>, Total), AppError> {
    state
        .read(Some(who), |db| async move {
            page_with_total::<L>(&db, query, limit).await
        })
        .await
}

/// Rows a count reads before it turns to an estimate.
const EXACT_UP_TO: u64 = 1000;

/// How many rows `filter` matches, at no more cost than reading a few pages: counted exactly
/// up to a thousand; beyond, the planner's estimate (to two significant digits, and never
/// below a thousand). An exact `count(*)` of a million rows would cost a hundred pages.
pub async fn total<L: KeysetList>(db: &PgPool, filter: &L::Filter) -> sqlx::Result<Total> {
    let mut q = QueryBuilder::new("SELECT count(*) FROM (");
    q.push(L::SELECT);
    L::push_conditions(filter, &mut q);
    q.push(format_args!(" LIMIT {}) counted", EXACT_UP_TO + 1));
    let counted: i64 = q.build_query_scalar().fetch_one(db).await?;
    if counted as u64 <= EXACT_UP_TO {
        return Ok(Total::Exactly(counted as u64));
    }
    let mut q = QueryBuilder::new("EXPLAIN (FORMAT JSON) ");
    q.push(L::SELECT);
    L::push_conditions(filter, &mut q);
    let plan: serde_json::Value = q.build_query_scalar().fetch_one(db).await?;
    let estimate = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0) as u64;
    Ok(Total::About(two_digits(estimate.max(EXACT_UP_TO + 1))))
}

/// `n` rounded to two significant digits (`987_654` → `990_000`).
fn two_digits(n: u64) -> u64 {
    match n.checked_ilog10() {
        Some(digits) if digits >= 2 => {
            let unit = 10u64.pow(digits - 1);
            (n + unit / 2) / unit * unit
        }
        _ => n,
    }
}

/// The rows matching `filter` in its order after `after` (exclusive), at most `limit`
/// (clamped to 1..=1000), and the key to continue from (`None` after the last row).
pub async fn fetch<L: KeysetList>(
    db: &PgPool,
    filter: &L::Filter,
    after: Option<&L::Key>,
    limit: u32,
) -> sqlx::Result<(Vec<L::Row>, Option<L::Key>)> {
    let limit = limit.clamp(1, 1000) as usize;
    let mut q = QueryBuilder::new(L::SELECT);
    L::push_conditions(filter, &mut q);
    if let Some(key) = after {
        L::push_after(key, &mut q);
    }
    // A literal limit (a clamped integer), so the planner sees it as the raw SQL would.
    q.push(format_args!(
        " ORDER BY {} LIMIT {}",
        L::order_by(filter),
        limit + 1
    ));
    let mut rows: Vec<L::Row> = q.build_query_as().fetch_all(db).await?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| L::key(r, filter))
    } else {
        None
    };
    Ok((rows, next))
}

/// Rows per query of an export.
const EXPORT_BATCH: u32 = 1000;

/// Records who exports what (the list's export row, committed), then returns every row
/// matching `filter`, in its order, as CSV chunks read in keyset batches. The caller
/// streams it to the client.
pub async fn export<L: CsvExport>(
    db: &PgPool,
    filter: &L::Filter,
    actor: Actor,
) -> sqlx::Result<impl Stream<Item = sqlx::Result<Bytes>> + Send + 'static> {
    audit::record_alone(
        db,
        AuditEvent::new(actor, L::EXPORT_ACTION, L::RESOURCE_TYPE, None).metadata(json!({
            "format": "csv",
            "filter": L::metadata(filter),
        })),
    )
    .await?;
    let (db, filter) = (db.clone(), filter.clone());
    let batch = move |after: Option<L::Key>| {
        let (db, filter) = (db.clone(), filter.clone());
        async move { fetch::<L>(&db, &filter, after.as_ref(), EXPORT_BATCH).await }
    };
    Ok(csv_stream(L::CSV_COLUMNS, batch, L::cells))
}

/// Where the next page of a `TimeOrAmount` list starts: the last row's creation time or
/// amount, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeOrAmountKey {
    Newest(DateTime<Utc>, Uuid),
    Oldest(DateTime<Utc>, Uuid),
    Largest(Decimal, Uuid),
}

/// A `TimeOrAmount` list's columns: creation time, amount, id (`p.created_at`, …).
pub type TimeOrAmountColumns = (&'static str, &'static str, &'static str);

impl TimeOrAmountKey {
    /// The key of a row in `sort`'s order.
    pub fn of(sort: TimeOrAmount, created: DateTime<Utc>, amount: Decimal, id: Uuid) -> Self {
        match sort {
            TimeOrAmount::Newest => TimeOrAmountKey::Newest(created, id),
            TimeOrAmount::Oldest => TimeOrAmountKey::Oldest(created, id),
            TimeOrAmount::Largest => TimeOrAmountKey::Largest(amount, id),
        }
    }

    /// `n.<microseconds>.<id>`, `o.<microseconds>.<id>` or `l.<amount>.<id>`.
    pub fn encode(&self) -> String {
        match self {
            TimeOrAmountKey::Newest(at, id) => format!("n.{}.{id}", at.timestamp_micros()),
            TimeOrAmountKey::Oldest(at, id) => format!("o.{}.{id}", at.timestamp_micros()),
            TimeOrAmountKey::Largest(amount, id) => format!("l.{amount}.{id}"),
        }
    }

    /// Reads `encode`'s text for `sort`; `None` for anything else (another order's cursor).
    pub fn decode(text: &str, sort: TimeOrAmount) -> Option<Self> {
        let (kind, rest) = text.split_once('.')?;
        let at_id = || {
            let (micros, id) = time_and_id(rest)?;
            Some((from_micros(micros)?, id))
        };
        match (kind, sort) {
            ("n", TimeOrAmount::Newest) => at_id().map(|(at, id)| TimeOrAmountKey::Newest(at, id)),
            ("o", TimeOrAmount::Oldest) => at_id().map(|(at, id)| TimeOrAmountKey::Oldest(at, id)),
            ("l", TimeOrAmount::Largest) => {
                // The amount has a point of its own; the id has none.
                let (amount, id) = rest.rsplit_once('.')?;
                let id = Uuid::parse_str(id).ok()?;
                Some(TimeOrAmountKey::Largest(amount.parse().ok()?, id))
            }
            _ => None,
        }
    }

    /// Appends ` AND <rows after this key>` over `columns`.
    pub fn push_after(
        &self,
        q: &mut QueryBuilder<Postgres>,
        (created, amount, id): TimeOrAmountColumns,
    ) {
        let row = match self {
            TimeOrAmountKey::Newest(at, row) => {
                q.push(format_args!(" AND ({created}, {id}) < ("))
                    .push_bind(*at);
                row
            }
            TimeOrAmountKey::Oldest(at, row) => {
                q.push(format_args!(" AND ({created}, {id}) > ("))
                    .push_bind(*at);
                row
            }
            TimeOrAmountKey::Largest(value, row) => {
                q.push(format_args!(" AND ({amount}, {id}) < ("))
                    .push_bind(*value);
                row
            }
        };
        q.push(", ").push_bind(*row).push(")");
    }
}

/// A list parameter of several values, comma-separated (`status=pending,failed`), each one of
/// `all` by its name (`name`); duplicates count once. A refusal names the values there are.
pub fn several<T: Copy + PartialEq>(
    text: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<Vec<T>, String> {
    let mut chosen = Vec::new();
    for given in text.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        let Some(value) = all.iter().copied().find(|v| name(*v) == given) else {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            return Err(format!("unknown value {given:?} ({})", names.join(", ")));
        };
        if !chosen.contains(&value) {
            chosen.push(value);
        }
    }
    Ok(chosen)
}

/// The values of `several` as the parameter writes them, for audit metadata; `None` for none.
pub fn several_text<T: Copy>(values: &[T], name: impl Fn(T) -> &'static str) -> Option<String> {
    let names: Vec<&str> = values.iter().map(|v| name(*v)).collect();
    (!names.is_empty()).then(|| names.join(","))
}

/// A time in a CSV cell: RFC 3339, whole seconds, UTC.
pub fn csv_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Audit metadata of a filter: the given `(name, value)` pairs, unset ones left out.
pub fn metadata(pairs: &[(&str, Option<String>)]) -> serde_json::Value {
    pairs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v.into())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A URL value, trimmed; `None` when missing or blank (what a GET form sends for "any").
pub fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Splits a cursor's `<time>.<id>` part into the time's text and the id.
pub fn time_and_id(rest: &str) -> Option<(&str, Uuid)> {
    let (time, id) = rest.split_once('.')?;
    Some((time, Uuid::parse_str(id).ok()?))
}

/// A time written as microseconds since the epoch (`DateTime::timestamp_micros`).
pub fn from_micros(micros: &str) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros.parse().ok()?)
}

/// A CSV file as a stream of chunks: the `columns` header, then one chunk per batch that
/// `fetch` returns (a batch is rows and the cursor after them, `None` after the last), each row
/// made into cells by `cells`. Cells a spreadsheet would run as formulas are made text
/// (`formula_safe`). Memory stays constant whatever the number of rows.
pub fn csv_stream<R, C, F, Fut>(
    columns: &'static [&'static str],
    mut fetch: F,
    cells: fn(&R) -> Vec<Option<String>>,
) -> impl Stream<Item = sqlx::Result<Bytes>> + Send + 'static
where
    R: Send + 'static,
    C: Send + 'static,
    F: FnMut(Option<C>) -> Fut + Send + 'static,
    Fut: Future<Output = sqlx::Result<(Vec<R>, Option<C>)>> + Send + 'static,
{
    use futures::StreamExt;
    let mut header = String::new();
    csv_record(&mut header, columns.iter().map(|c| Some(*c)));
    let header = futures::stream::once(async move { Ok(Bytes::from(header)) });
    // The state is the next batch's start (`Some(None)`: the first), `None` once done.
    let rows = futures::stream::try_unfold(Some(None), move |start: Option<Option<C>>| {
        let batch = start.map(&mut fetch);
        async move {
            let Some(batch) = batch else {
                return Ok(None);
            };
            let (rows, next) = batch.await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let mut out = String::with_capacity(rows.len() * 160);
            for row in &rows {
                let row: Vec<_> = cells(row)
                    .into_iter()
                    .map(|c| c.map(formula_safe))
                    .collect();
                csv_record(&mut out, row.iter().map(|c| c.as_deref()));
            }
            Ok(Some((Bytes::from(out), next.map(Some))))
        }
    });
    header.chain(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_keep_two_digits() {
        assert_eq!(two_digits(987_654), 990_000);
        assert_eq!(two_digits(1_001), 1_000);
        assert_eq!(two_digits(1_051), 1_100);
        assert_eq!(two_digits(42), 42);
    }

    #[test]
    fn time_or_amount_keys_belong_to_their_order() {
        let id = Uuid::new_v4();
        let big = TimeOrAmountKey::Largest("1234.50".parse().unwrap(), id);
        assert_eq!(
            TimeOrAmountKey::decode(&big.encode(), TimeOrAmount::Largest),
            Some(big.clone())
        );
        assert_eq!(
            TimeOrAmountKey::decode(&big.encode(), TimeOrAmount::Newest),
            None
        );
        let at = DateTime::from_timestamp_micros(1_790_000_000_000_001).unwrap();
        let new = TimeOrAmountKey::Newest(at, id);
        assert_eq!(
            TimeOrAmountKey::decode(&new.encode(), TimeOrAmount::Newest),
            Some(new.clone())
        );
        assert_eq!(
            TimeOrAmountKey::decode(&new.encode(), TimeOrAmount::Oldest),
            None
        );
        assert_eq!(
            TimeOrAmountKey::decode("l.x.y", TimeOrAmount::Largest),
            None
        );
    }

    #[test]
    fn several_values_are_named_and_counted_once() {
        use crate::domain::PaymentStatus as S;
        let name = |s: S| s.as_str();
        assert_eq!(
            several("settled, failed,settled,", &S::ALL, name),
            Ok(vec![S::Settled, S::Failed])
        );
        let refused = several("settled,paid", &S::ALL, name).unwrap_err();
        assert!(
            refused.contains("\"paid\"") && refused.contains("pending, processing"),
            "{refused}"
        );
        assert_eq!(
            several_text(&[S::Pending, S::Failed], name).as_deref(),
            Some("pending,failed")
        );
        assert_eq!(several_text::<S>(&[], name), None);
    }

    #[test]
    fn cursor_parts_parse() {
        let id = Uuid::new_v4();
        assert_eq!(time_and_id(&format!("12.{id}")), Some(("12", id)));
        assert_eq!(time_and_id("12.x"), None);
        assert_eq!(from_micros("x"), None);
    }

    #[tokio::test]
    async fn csv_streams_carry_the_header_and_every_batch_formula_safe() {
        use futures::TryStreamExt;
        let stream = csv_stream(
            &["name", "n"],
            |after: Option<u32>| async move {
                Ok(match after {
                    None => (vec![("=a".to_string(), 1)], Some(1)),
                    Some(1) => (vec![("b,c".to_string(), 2)], None),
                    Some(_) => unreachable!("no batch after the last"),
                })
            },
            |(name, n): &(String, i32)| vec![Some(name.clone()), Some(n.to_string())],
        );
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert_eq!(chunks.concat(), b"name,n\r\n'=a,1\r\n\"b,c\",2\r\n");
    }
}
