//! `deltran-bench payments`: the payments REST API and pages of a running console, each p50
//! beside the raw SQL of the same page run from here on the same database (the baseline),
//! as ratios. `scripts/bench-payments.sh` seeds the data, starts the console and adds the load
//! test.

use std::time::Instant;

use app::backend::db::{
    list::KeysetList,
    payments::{self as db, PaymentList},
};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use super::median;

/// The time of `f`, in milliseconds, `samples` times.
async fn times<F, Fut>(samples: usize, mut f: F) -> anyhow::Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    // Once unmeasured, so that neither side pays for a cold cache or a new connection.
    f().await?;
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f().await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ms)
}

/// GET `url` (with `bearer`, if any), which must answer 200; returns the body.
async fn get(http: &reqwest::Client, url: &str, bearer: Option<&str>) -> anyhow::Result<String> {
    let mut req = http.get(url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await?;
    anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
    Ok(r.text().await?)
}

/// The raw SQL of a Payments page: the list's columns and joins, `conditions`, the newest
/// first order and a page of 50 (and the one row that says whether there is a next page).
fn raw_page(conditions: &str) -> String {
    format!(
        "{} {conditions} ORDER BY p.created_at DESC, p.id DESC LIMIT 51",
        PaymentList::SELECT
    )
}

/// The rows of `sql` sent as text (the simple query protocol, as `psql` and `pgbench -M
/// simple` send it): parsed and planned each time, as the console's statements are planned for
/// their values.
async fn raw_rows(pool: &PgPool, sql: &str) -> anyhow::Result<usize> {
    Ok(sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .len())
}

pub async fn bench(pool: &PgPool, base: &str, samples: usize) -> anyhow::Result<()> {
    let samples = samples.max(1);
    let password = std::env::var("DEMO_PASSWORD").unwrap_or_else(|_| "demo-password-2026".into());
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({ "username": "viewer", "password": password }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let bearer = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // A browser's session: the console takes a sign-in only from its own pages (Origin).
    let mut own = reqwest::header::HeaderMap::new();
    own.insert(reqwest::header::ORIGIN, base.parse()?);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(own)
        .build()?;
    browser
        .post(format!("{base}/api/auth/login"))
        .form(&[("username", "viewer"), ("password", password.as_str())])
        .send()
        .await?
        .error_for_status()?;

    // What the cases filter by: a bank, a week, a reference, as the seed made them.
    let bic: String =
        sqlx::query_scalar("SELECT bic_code FROM deltran.banks ORDER BY bic_code LIMIT 1")
            .fetch_one(pool)
            .await?;
    let (reference, id): (String, Uuid) = sqlx::query_as(
        "SELECT payment_reference, id FROM deltran.payments WHERE status = 'settled' \
         ORDER BY created_at DESC OFFSET 5000 LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    let (from, to): (String, String) = sqlx::query_as(
        "SELECT to_char(max(created_at) - interval '14 days', 'YYYY-MM-DD\"T\"00:00'), \
                to_char(max(created_at) - interval '7 days', 'YYYY-MM-DD\"T\"00:00') \
         FROM deltran.payments",
    )
    .fetch_one(pool)
    .await?;
    let cases = [
        ("no filter", String::new(), raw_page("")),
        (
            "status",
            "status=settled".to_string(),
            raw_page("AND p.status = 'settled'"),
        ),
        (
            "bank + date range",
            format!("bank={bic}&from={from}&to={to}"),
            raw_page(&format!(
                "AND EXISTS (SELECT 1 FROM deltran.banks b WHERE b.id IN (p.sender_bank_id, \
                 p.receiver_bank_id) AND b.bic_code = '{bic}') \
                 AND p.created_at >= '{from}Z' AND p.created_at < '{to}Z'"
            )),
        ),
        (
            "q by reference",
            format!("q={reference}"),
            raw_page(&format!(
                "AND (p.payment_reference LIKE '{reference}%' OR p.idempotency_key LIKE \
                 '{reference}%' OR p.swift_message_id LIKE '{reference}%')"
            )),
        ),
    ];
    // What every API call costs before its own SQL: HTTP, the bearer token and its session
    // looked up in Postgres, the answer's JSON (GET /me does nothing else).
    let me_url = format!("{base}/api/v1/me");
    let floor = median(
        times(samples, || async {
            get(&http, &me_url, Some(&bearer)).await.map(drop)
        })
        .await?,
    );
    println!("payments: p50 over {samples} runs, pages of 50");
    println!("  every API call's floor (GET /api/v1/me): {floor:.2} ms");
    println!(
        "  {:<20} {:>10} {:>10} {:>8} {:>14} {:>10}",
        "case", "API ms", "raw SQL ms", "ratio", "API-floor/raw", "page ms"
    );
    for (name, query, sql) in &cases {
        let api_url = format!("{base}/api/v1/payments?{query}&limit=50");
        let page_url = format!("{base}/payments?{query}");
        let api = median(
            times(samples, || async {
                get(&http, &api_url, Some(&bearer)).await.map(drop)
            })
            .await?,
        );
        let raw = median(times(samples, || async { raw_rows(pool, sql).await.map(drop) }).await?);
        let page = median(
            times(samples, || async {
                get(&browser, &page_url, None).await.map(drop)
            })
            .await?,
        );
        println!(
            "  {name:<20} {api:>10.2} {raw:>10.2} {:>8.2} {:>14.2} {page:>10.2}",
            api / raw,
            (api - floor) / raw
        );
    }

    // Page 10 000 of a filter (row 500 000) against its page 1: walk there 500 rows at a time.
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let mut url = format!("{base}/api/v1/payments?status=settled&limit=500");
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let body: Value = serde_json::from_str(&get(&http, &url, Some(&bearer)).await?)?;
        match body["next_cursor"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => anyhow::bail!("fewer than 500 000 settled payments: seed more"),
        }
    }
    let deep = format!(
        "{base}/api/v1/payments?status=settled&limit=50&after={}",
        after.unwrap_or_default()
    );
    let first = format!("{base}/api/v1/payments?status=settled&limit=50");
    let p1 = median(
        times(samples, || async {
            get(&http, &first, Some(&bearer)).await.map(drop)
        })
        .await?,
    );
    let pn = median(
        times(samples, || async {
            get(&http, &deep, Some(&bearer)).await.map(drop)
        })
        .await?,
    );
    println!("paging: status=settled via the API, p50");
    println!("  page 1                 {p1:8.2} ms");
    println!("  page 10 000            {pn:8.2} ms");
    println!("  ratio                  {:8.2}  (must be <= 1.5)", pn / p1);

    // A payment with its timeline: the API against its five queries, one after the other.
    let url = format!("{base}/api/v1/payments/{id}");
    let api = median(
        times(samples, || async {
            get(&http, &url, Some(&bearer)).await.map(drop)
        })
        .await?,
    );
    let raw = median(
        times(samples, || async {
            let p = db::get(pool, id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("gone"))?;
            db::checks(pool, id).await?;
            db::movements(pool, id).await?;
            db::controls(pool, &p, p.settled_at.unwrap_or(p.updated_at)).await?;
            db::audit_rows(pool, id).await?;
            Ok(())
        })
        .await?,
    );
    let page_url = format!("{base}/payments/{id}");
    let page = median(
        times(samples, || async {
            get(&browser, &page_url, None).await.map(drop)
        })
        .await?,
    );
    println!("payment: one settled payment with its timeline, p50");
    println!("  GET /api/v1/payments/{{id}} {api:8.2} ms");
    println!("  its five queries, raw  {raw:8.2} ms");
    println!(
        "  ratio                  {:8.2}  (must be <= 1.5)",
        api / raw
    );
    println!("  the page /payments/{{id}} {page:7.2} ms");
    Ok(())
}
