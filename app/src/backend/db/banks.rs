//! Banks' SQL: the Banks list (`BankList` for `db::list`) and what a bank's page shows.

use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    auth::Permission,
    backend::db::list::{self, csv_time, CsvExport, KeysetList},
    banks::{
        Account, ActiveControl, Bank, BankQuery, BankRow, BankSort, CurrencyTotal, Volume,
        KYC_STATUSES, RISK_RATINGS,
    },
    domain::Currency,
    error::FieldErrors,
};

/// The Banks list (`db::list`).
pub struct BankList;

/// The Banks list's filters, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BankFilter {
    /// Part of the name or BIC, lower case.
    pub q: Option<String>,
    pub country: Option<String>,
    pub kyc: Option<&'static str>,
    pub risk: Option<&'static str>,
    pub active: Option<bool>,
    pub sort: BankSort,
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankCursor {
    Name(String, Uuid),
    Bic(String, Uuid),
    Country(String, String, Uuid),
}

const MAX_Q: usize = 100;

/// `value` if it is one of `names`.
fn one_of<'a>(
    names: &'static [&'static str],
    what: &'a str,
) -> impl Fn(&str) -> Result<&'static str, String> + 'a {
    move |v| {
        names
            .iter()
            .find(|n| **n == v.to_ascii_lowercase())
            .copied()
            .ok_or_else(|| format!("unknown {what} {v:?} ({})", names.join(", ")))
    }
}

impl KeysetList for BankList {
    type Query = BankQuery;
    type Filter = BankFilter;
    type Key = BankCursor;
    type Row = BankRow;

    const PERMISSION: Permission = Permission::BanksView;
    const SELECT: &'static str = "SELECT b.id, b.bic_code, b.name, b.country_code, b.is_active, \
         b.risk_rating, b.kyc_status, b.kyc_verified_at FROM deltran.banks b WHERE true";

    fn filter(query: &BankQuery, refused: &mut FieldErrors) -> BankFilter {
        BankFilter {
            q: refused.check("q", &query.q, |q| {
                (q.chars().count() <= MAX_Q)
                    .then(|| q.to_lowercase())
                    .ok_or_else(|| format!("at most {MAX_Q} characters"))
            }),
            country: refused.check("country", &query.country, |c| {
                let c = c.to_ascii_uppercase();
                (c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()))
                    .then_some(c)
                    .ok_or_else(|| "a two-letter country code (ISO 3166), like DE".into())
            }),
            kyc: refused.check("kyc", &query.kyc, one_of(&KYC_STATUSES, "KYC status")),
            risk: refused.check("risk", &query.risk, one_of(&RISK_RATINGS, "risk rating")),
            active: refused.check("active", &query.active, |a| match a {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err("true or false".into()),
            }),
            sort: refused
                .check("sort", &query.sort, |s| {
                    s.parse::<BankSort>()
                        .map_err(|_| format!("unknown sort {s:?} (name, bic or country)"))
                })
                .unwrap_or_default(),
        }
    }

    fn after(query: &BankQuery) -> &Option<String> {
        &query.after
    }

    fn push_conditions(f: &BankFilter, q: &mut QueryBuilder<Postgres>) {
        if let Some(text) = &f.q {
            // strpos, not LIKE: the text is taken literally.
            q.push(" AND (strpos(lower(b.name), ")
                .push_bind(text.clone())
                .push(") > 0 OR strpos(lower(b.bic_code), ")
                .push_bind(text.clone())
                .push(") > 0)");
        }
        if let Some(c) = &f.country {
            q.push(" AND b.country_code = ").push_bind(c.clone());
        }
        if let Some(k) = f.kyc {
            q.push(" AND b.kyc_status = ").push_bind(k);
        }
        if let Some(r) = f.risk {
            q.push(" AND b.risk_rating = ").push_bind(r);
        }
        if let Some(a) = f.active {
            q.push(" AND b.is_active = ").push_bind(a);
        }
    }

    fn order_by(f: &BankFilter) -> &'static str {
        match f.sort {
            BankSort::Name => "b.name, b.id",
            BankSort::Bic => "b.bic_code, b.id",
            BankSort::Country => "b.country_code, b.name, b.id",
        }
    }

    fn key(r: &BankRow, f: &BankFilter) -> BankCursor {
        match f.sort {
            BankSort::Name => BankCursor::Name(r.name.clone(), r.id),
            BankSort::Bic => BankCursor::Bic(r.bic_code.clone(), r.id),
            BankSort::Country => BankCursor::Country(r.country_code.clone(), r.name.clone(), r.id),
        }
    }

    /// `n.<name>.<id>`, `b.<bic>.<id>` or `c.<country>.<name>.<id>` (a name may hold dots;
    /// an id never does).
    fn encode(key: &BankCursor) -> String {
        match key {
            BankCursor::Name(name, id) => format!("n.{name}.{id}"),
            BankCursor::Bic(bic, id) => format!("b.{bic}.{id}"),
            BankCursor::Country(c, name, id) => format!("c.{c}.{name}.{id}"),
        }
    }

    fn decode(text: &str, f: &BankFilter) -> Option<BankCursor> {
        let (kind, rest) = text.split_once('.')?;
        let (rest, id) = rest.rsplit_once('.')?;
        let id = Uuid::parse_str(id).ok()?;
        match (kind, f.sort) {
            ("n", BankSort::Name) => Some(BankCursor::Name(rest.into(), id)),
            ("b", BankSort::Bic) => Some(BankCursor::Bic(rest.into(), id)),
            ("c", BankSort::Country) => {
                let (country, name) = rest.split_once('.')?;
                Some(BankCursor::Country(country.into(), name.into(), id))
            }
            _ => None,
        }
    }

    fn push_after(key: &BankCursor, q: &mut QueryBuilder<Postgres>) {
        match key {
            BankCursor::Name(name, id) => {
                q.push(" AND (b.name, b.id) > (")
                    .push_bind(name.clone())
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
            BankCursor::Bic(bic, id) => {
                q.push(" AND (b.bic_code, b.id) > (")
                    .push_bind(bic.clone())
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
            BankCursor::Country(c, name, id) => {
                q.push(" AND (b.country_code, b.name, b.id) > (")
                    .push_bind(c.clone())
                    .push(", ")
                    .push_bind(name.clone())
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
        }
    }
}

impl CsvExport for BankList {
    const EXPORT_ACTION: &'static str = "banks.export";
    const RESOURCE_TYPE: &'static str = "bank";
    const FILE_NAME: &'static str = "banks";
    const CSV_COLUMNS: &'static [&'static str] = &[
        "bic_code",
        "name",
        "country_code",
        "is_active",
        "risk_rating",
        "kyc_status",
        "kyc_verified_at",
        "id",
    ];

    fn cells(r: &BankRow) -> Vec<Option<String>> {
        vec![
            Some(r.bic_code.clone()),
            Some(r.name.clone()),
            Some(r.country_code.clone()),
            Some(r.is_active.to_string()),
            Some(r.risk_rating.clone()),
            Some(r.kyc_status.clone()),
            r.kyc_verified_at.map(csv_time),
            Some(r.id.to_string()),
        ]
    }

    fn metadata(f: &BankFilter) -> serde_json::Value {
        list::metadata(&[
            ("q", f.q.clone()),
            ("country", f.country.clone()),
            ("kyc", f.kyc.map(str::to_string)),
            ("risk", f.risk.map(str::to_string)),
            ("active", f.active.map(|a| a.to_string())),
            ("sort", Some(f.sort.as_str().into())),
        ])
    }
}

pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Bank>> {
    sqlx::query_as!(
        Bank,
        r#"SELECT id, bic_code, name, country_code, is_active, risk_rating, kyc_status,
                kyc_verified_at, contact_name, contact_email, contact_phone,
                metadata::text AS "metadata!", created_at, updated_at
         FROM deltran.banks WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// A bank's accounts, by currency then number.
pub async fn accounts(db: &PgPool, bank_id: Uuid) -> sqlx::Result<Vec<Account>> {
    sqlx::query_as!(
        Account,
        r#"SELECT id, account_number, currency AS "currency: Currency", balance,
                available_balance, reserved_balance, is_active, opened_at, closed_at
         FROM deltran.bank_accounts WHERE bank_id = $1
         ORDER BY currency, account_number"#,
        bank_id
    )
    .fetch_all(db)
    .await
}

/// A bank's balances per currency (`v_bank_balances`).
pub async fn totals(db: &PgPool, bank_id: Uuid) -> sqlx::Result<Vec<CurrencyTotal>> {
    sqlx::query_as!(
        CurrencyTotal,
        r#"SELECT currency AS "currency!: Currency", account_count AS "account_count!",
                total_balance AS "total_balance!", total_available AS "total_available!",
                total_reserved AS "total_reserved!"
         FROM deltran.v_bank_balances WHERE bank_id = $1 ORDER BY currency"#,
        bank_id
    )
    .fetch_all(db)
    .await
}

/// What the bank sent and received per currency: payments created in the last 30 days that
/// settled.
pub async fn volume(db: &PgPool, bank_id: Uuid) -> sqlx::Result<Vec<Volume>> {
    sqlx::query_as!(
        Volume,
        r#"SELECT currency AS "currency!: Currency",
                count(*) FILTER (WHERE sender_bank_id = $1) AS "sent_count!",
                coalesce(sum(amount) FILTER (WHERE sender_bank_id = $1), 0) AS "sent!",
                count(*) FILTER (WHERE receiver_bank_id = $1) AS "received_count!",
                coalesce(sum(amount) FILTER (WHERE receiver_bank_id = $1), 0) AS "received!"
         FROM deltran.payments
         WHERE (sender_bank_id = $1 OR receiver_bank_id = $1)
           AND created_at >= now() - interval '30 days' AND status = 'settled'
         GROUP BY currency ORDER BY currency"#,
        bank_id
    )
    .fetch_all(db)
    .await
}

/// The controls in force on the bank or one of its accounts, newest first.
pub async fn controls(db: &PgPool, bank_id: Uuid) -> sqlx::Result<Vec<ActiveControl>> {
    sqlx::query_as!(
        ActiveControl,
        r#"SELECT r.id, r.entity_type, a.account_number AS "account_number?",
                r.action_type::text AS "action!", r.limit_value, r.window_seconds,
                r.reason, r.action_expires_at AS expires_at, r.created_at
         FROM deltran.rate_limits r
         LEFT JOIN deltran.bank_accounts a
                ON r.entity_type = 'account' AND a.id::text = r.entity_id
         WHERE r.is_active AND r.action_type IS NOT NULL
           AND ((r.entity_type = 'bank' AND r.entity_id = $1::uuid::text)
                OR (r.entity_type = 'account' AND a.bank_id = $1))
           AND (r.action_expires_at IS NULL OR r.action_expires_at > now())
         ORDER BY r.created_at DESC, r.id"#,
        bank_id
    )
    .fetch_all(db)
    .await
}
