//! Payments, called as a browser and as an API client call them: every filter and order over
//! keyset pages (each row once, in the SQL's order), the search box, refused values, the
//! count, the CSV, a payment's page and timeline, and cancellation (a race of two, a settled
//! payment, a missing reason: one audit row or none, and funds released exactly once).

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::{
    api::token,
    common::{
        api_get, audit_count, call, error, page_html, signed_in, test_config, TestApp, TestDb,
        DEMO_PASSWORD,
    },
    lists::{Case, ListArea},
};

/// The Payments list, for the list contract (`crate::lists`).
const PAYMENTS: ListArea = ListArea {
    function: "/api/payments/list_payments",
    rows: "/page/rows",
    next: "/page/next",
    from: "FROM deltran.payments p \
           LEFT JOIN deltran.compliance_checks c ON c.id = p.compliance_check_id WHERE true",
    id: "p.id",
    args_in: Some("query"),
    page: "/payments",
    label: "Payments",
};

/// A `Case` whose condition was written at run time (it names seeded ids).
type OwnedCase<'a> = (Vec<(&'a str, &'a str)>, String, &'a str);

const NEWEST: &str = "p.created_at DESC, p.id DESC";
const OLDEST: &str = "p.created_at ASC, p.id ASC";
const LARGEST: &str = "p.amount DESC, p.id DESC";

async fn text(pool: &PgPool, sql: &str) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_filter_and_order_pages_each_matching_payment_exactly_once() {
    let t = TestDb::seeded(1500).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let pool = &t.pool;

    // Values the seed made: a bank, a part of its name, an account, a batch, a reference.
    let (bank_id, bic) = (
        text(
            pool,
            "SELECT id::text FROM deltran.banks ORDER BY bic_code LIMIT 1",
        )
        .await,
        text(
            pool,
            "SELECT bic_code FROM deltran.banks ORDER BY bic_code LIMIT 1",
        )
        .await,
    );
    let name_part = text(
        pool,
        "SELECT lower(substr(name, 2, 5)) FROM deltran.banks ORDER BY bic_code LIMIT 1",
    )
    .await;
    let account = text(
        pool,
        "SELECT sender_account_id::text FROM deltran.payments ORDER BY created_at LIMIT 1",
    )
    .await;
    let (batch_id, batch_ref) = (
        text(pool, "SELECT id::text FROM deltran.settlement_batches WHERE total_payments > 0 ORDER BY batch_reference LIMIT 1").await,
        text(pool, "SELECT batch_reference FROM deltran.settlement_batches WHERE total_payments > 0 ORDER BY batch_reference LIMIT 1").await,
    );
    let day = text(
        pool,
        "SELECT to_char(max(created_at) - interval '3 days', 'YYYY-MM-DD') FROM deltran.payments",
    )
    .await;
    let (from, to) = (format!("{day}T00:00"), format!("{day}T12:00:00Z"));

    let name_upper = name_part.to_uppercase();
    let bank_cond = format!("(p.sender_bank_id = '{bank_id}' OR p.receiver_bank_id = '{bank_id}')");
    let name_cond = format!(
        "EXISTS (SELECT 1 FROM deltran.banks b WHERE b.id IN (p.sender_bank_id, p.receiver_bank_id) \
         AND b.name ILIKE '%{name_part}%')"
    );
    let account_cond = format!("'{account}' IN (p.sender_account_id, p.receiver_account_id)");
    let batch_cond = format!("p.batch_id = '{batch_id}'");
    let time_cond = format!("p.created_at >= '{day}T00:00Z' AND p.created_at < '{day}T12:00Z'");
    let cases: Vec<OwnedCase> = vec![
        (vec![], "true".into(), NEWEST),
        (vec![("sort", "newest")], "true".into(), NEWEST),
        (vec![("sort", "oldest")], "true".into(), OLDEST),
        (vec![("sort", "largest")], "true".into(), LARGEST),
        (
            vec![("status", "pending")],
            "p.status = 'pending'".into(),
            NEWEST,
        ),
        (
            vec![("status", "pending,failed"), ("sort", "largest")],
            "p.status IN ('pending', 'failed')".into(),
            LARGEST,
        ),
        (
            vec![("currency", "EUR")],
            "p.currency = 'EUR'".into(),
            NEWEST,
        ),
        (vec![("bank", &bank_id)], bank_cond.clone(), NEWEST),
        (
            vec![("bank", &bic), ("sort", "oldest")],
            bank_cond.clone(),
            OLDEST,
        ),
        (vec![("bank", &name_upper)], name_cond, NEWEST),
        (vec![("account", &account)], account_cond, NEWEST),
        (vec![("batch", &batch_id)], batch_cond.clone(), NEWEST),
        (
            vec![("batch", &batch_ref), ("sort", "largest")],
            batch_cond,
            LARGEST,
        ),
        (
            vec![("from", &from), ("to", &to)],
            time_cond.clone(),
            NEWEST,
        ),
        (
            vec![
                ("bank", &bic),
                ("from", &from),
                ("to", &to),
                ("sort", "oldest"),
            ],
            format!("{bank_cond} AND {time_cond}"),
            OLDEST,
        ),
        (
            vec![
                ("min_amount", "1000"),
                ("max_amount", "50000.50"),
                ("sort", "largest"),
            ],
            "p.amount >= 1000 AND p.amount <= 50000.50".into(),
            LARGEST,
        ),
        (
            vec![("min_risk", "60")],
            "p.risk_score >= 60".into(),
            NEWEST,
        ),
        (
            vec![("compliance", "review")],
            "c.status = 'review'".into(),
            NEWEST,
        ),
        // The search box: the start of a reference, a whole idempotency key, a SWIFT id.
        (vec![("q", "DT")], "true".into(), NEWEST),
        (vec![("q", "%")], "false".into(), NEWEST),
        // Blank values are no filter (what the GET form sends for "Any").
        (
            vec![("currency", ""), ("status", " ")],
            "true".into(),
            NEWEST,
        ),
    ];
    let cases: Vec<Case> = cases
        .iter()
        .map(|(args, condition, order)| (&args[..], condition.as_str(), *order))
        .collect();
    PAYMENTS
        .pages_every_row_once(&app, &viewer, pool, &cases)
        .await;

    // The search box finds one payment by each of its three names.
    let (id, reference, key, swift): (String, String, String, String) = sqlx::query_as(
        "SELECT id::text, payment_reference, idempotency_key, swift_message_id \
         FROM deltran.payments ORDER BY created_at DESC LIMIT 1 OFFSET 7",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    for q in [reference.as_str(), &key, &swift, &key[..8]] {
        let (ids, _) = PAYMENTS.page(&app, &viewer, &[("q", q)]).await;
        assert_eq!(ids, std::slice::from_ref(&id), "q={q}");
    }
    let prefix = &reference[..reference.len() - 2];
    let (ids, _) = PAYMENTS.page(&app, &viewer, &[("q", prefix)]).await;
    let expected = PAYMENTS
        .expected(
            pool,
            &format!("p.payment_reference LIKE '{prefix}%'"),
            NEWEST,
        )
        .await;
    assert_eq!(
        ids,
        expected[..expected.len().min(50)],
        "a reference's start"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn refused_values_name_their_field_and_the_count_is_exact_or_estimated() {
    let t = TestDb::seeded(1500).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    PAYMENTS
        .refuses(
            &app,
            &viewer,
            &[
                (vec![("status", "pending,paid")], "status"),
                (vec![("currency", "XXX")], "currency"),
                (vec![("account", "12")], "account"),
                (vec![("from", "yesterday")], "from"),
                (
                    vec![("from", "2026-11-02T00:00"), ("to", "2026-11-01T00:00")],
                    "to",
                ),
                (vec![("min_amount", "-1")], "min_amount"),
                (
                    vec![("min_amount", "10"), ("max_amount", "5")],
                    "max_amount",
                ),
                (vec![("min_amount", "1.005")], "min_amount"),
                (vec![("min_risk", "101")], "min_risk"),
                (vec![("compliance", "ok")], "compliance"),
                (vec![("sort", "cheapest")], "sort"),
                // A cursor of another order.
                (
                    vec![
                        ("sort", "largest"),
                        ("after", "n.1.00000000-0000-0000-0000-000000000000"),
                    ],
                    "after",
                ),
            ],
        )
        .await;

    let total = |args: Vec<(&'static str, &'static str)>| {
        let (app, viewer) = (&app, &viewer);
        async move {
            let form: Vec<(String, &str)> = args
                .iter()
                .map(|(k, v)| (format!("query[{k}]"), *v))
                .collect();
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let r = call(app, viewer, "/api/payments/list_payments", &form).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["total"].clone()
        }
    };
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deltran.payments WHERE status = 'pending'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert!(pending < 1000);
    assert_eq!(
        total(vec![("status", "pending")]).await,
        json!({ "Exactly": pending })
    );
    let about = total(vec![]).await;
    let estimate = about["About"].as_u64().unwrap_or_else(|| panic!("{about}"));
    assert!(
        (1000..=3000).contains(&estimate),
        "an estimate near 1500: {estimate}"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn the_page_links_its_view_and_the_csv_holds_every_filtered_row_audited() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    PAYMENTS
        .page_links(
            &app,
            &auditor,
            "status=settled&sort=largest",
            Some("/downloads/payments.csv"),
            ("q=NOSUCHREFERENCE", "No payments match these filters."),
        )
        .await;
    let html = page_html(&app, &auditor, "/payments?status=pending&status=processing").await;
    assert!(
        html.contains(r#"value="pending" checked"#),
        "both boxes stay ticked"
    );
    assert!(html.contains(r#"value="processing" checked"#));
    let csv = PAYMENTS
        .exports(
            &app,
            &auditor,
            &t.pool,
            (
                "/downloads/payments.csv?status=settled&currency=USD&sort=oldest",
                "payments.export",
                "created_at,payment_reference,status,amount,currency,sender_bic,receiver_bic,\
                 risk_score,compliance_status,id",
            ),
            ("p.status = 'settled' AND p.currency = 'USD'", OLDEST),
        )
        .await;
    assert!(csv.lines().count() > 10);
    // A viewer reads the list but may not export it.
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let r = viewer
        .get(app.url("/downloads/payments.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let html = page_html(&app, &viewer, "/payments").await;
    assert!(!html.contains("Export CSV"));
    t.drop_db().await;
}

/// A pending payment of the seed with funds reserved on its sender's account.
async fn pending_payment(pool: &PgPool) -> (String, String, String) {
    sqlx::query_as(
        "SELECT p.id::text, p.sender_account_id::text, p.amount::text FROM deltran.payments p \
         JOIN deltran.bank_accounts a ON a.id = p.sender_account_id \
         WHERE p.status = 'pending' AND a.reserved_balance >= p.amount \
         ORDER BY p.created_at DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn account_balances(pool: &PgPool, account: &str) -> (String, String, String) {
    sqlx::query_as(
        "SELECT balance::text, available_balance::text, reserved_balance::text \
         FROM deltran.bank_accounts WHERE id = $1::uuid",
    )
    .bind(account)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_payments_page_tells_its_whole_story_from_every_source() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    // A settled payment that went through a review: created, checks, review, movements.
    let id = text(
        &t.pool,
        "SELECT p.id::text FROM deltran.payments p JOIN deltran.compliance_checks c ON c.payment_id = p.id \
         WHERE p.status = 'settled' AND c.reviewed_at IS NOT NULL ORDER BY p.created_at LIMIT 1",
    )
    .await;
    let r = call(&app, &viewer, "/api/payments/get_payment", &[("id", &id)]).await;
    assert_eq!(r.status(), 200);
    let detail: Value = r.json().await.unwrap();
    let timeline = detail["timeline"].as_array().unwrap();
    let sources: Vec<&str> = timeline
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    for source in ["payment", "transactions", "compliance", "audit"] {
        assert!(sources.contains(&source), "{source} in {sources:?}");
    }
    let times: Vec<&str> = timeline.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
    assert_eq!(
        timeline[0]["what"].as_str().unwrap().split(':').next(),
        Some("Created")
    );
    let movements: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.transaction_log WHERE payment_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        sources.iter().filter(|s| **s == "transactions").count() as i64,
        movements
    );
    assert_eq!(movements, 2, "a debit and a credit");

    let html = page_html(&app, &viewer, &format!("/payments/{id}")).await;
    assert!(html.contains(detail["payment"]["payment_reference"].as_str().unwrap()));
    assert!(html.contains(r#"aria-label="Timeline""#));
    assert!(!html.contains("Cancel payment"), "a viewer has no Cancel");

    // A malformed id is a field error; an unknown one is not found.
    let r = call(&app, &viewer, "/api/payments/get_payment", &[("id", "12")]).await;
    assert_eq!(r.status(), 422);
    let r = call(
        &app,
        &viewer,
        "/api/payments/get_payment",
        &[("id", &uuid::Uuid::nil().to_string())],
    )
    .await;
    assert_eq!(r.status(), 404);
    t.drop_db().await;
}

#[tokio::test]
async fn two_operators_cancelling_at_once_make_one_cancellation_and_one_audit_row() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let (id, account, amount) = pending_payment(&t.pool).await;
    let before = account_balances(&t.pool, &account).await;
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let api_token = token(&app, "operator").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let form = [("id", id.as_str()), ("reason", "Customer asked")];
    let page = call(&app, &operator, "/api/payments/cancel_payment", &form);
    let api = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/payments/{id}/cancel")))
        .bearer_auth(&api_token)
        .json(&json!({ "reason": "Duplicate of another instruction" }))
        .send();
    let (page, api) = tokio::join!(page, api);
    let mut statuses = [page.status().as_u16(), api.unwrap().status().as_u16()];
    statuses.sort();
    assert!(
        statuses == [200, 409] || statuses == [204, 409],
        "{statuses:?}"
    );
    let uid = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(audit_count(&t.pool, "payment.cancel", Some(uid)).await, 1);
    let (status, reason): (String, String) = sqlx::query_as(
        "SELECT status::text, cancel_reason FROM deltran.payments WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(status, "cancelled");
    assert!(["Customer asked", "Duplicate of another instruction"].contains(&reason.as_str()));

    // The reserved funds came back once: balance unchanged, available up and reserved down by
    // the amount, and balance = available + reserved still.
    let after = account_balances(&t.pool, &account).await;
    let n = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    let amount = n(&amount);
    assert_eq!(n(&after.0), n(&before.0));
    assert_eq!(n(&after.1), n(&before.1) + amount);
    assert_eq!(n(&after.2), n(&before.2) - amount);

    // The timeline shows it, and so does the audit log.
    let r = call(&app, &operator, "/api/payments/get_payment", &[("id", &id)]).await;
    let detail: Value = r.json().await.unwrap();
    assert!(detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["what"] == "Cancelled" && e["detail"].as_str().unwrap().contains(&reason)));
    t.drop_db().await;
}

#[tokio::test]
async fn refused_cancellations_write_nothing() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let settled = text(
        &t.pool,
        "SELECT id::text FROM deltran.payments WHERE status = 'settled' LIMIT 1",
    )
    .await;
    let (pending, account, _) = pending_payment(&t.pool).await;
    let before = account_balances(&t.pool, &account).await;
    let last_row: i64 = sqlx::query_scalar("SELECT max(id) FROM deltran.audit_log")
        .fetch_one(&t.pool)
        .await
        .unwrap();

    let r = call(
        &app,
        &operator,
        "/api/payments/cancel_payment",
        &[("id", &settled), ("reason", "Too late")],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert!(error(&r.text().await.unwrap())
        .to_string()
        .contains("no longer pending"));
    let long = "x".repeat(501);
    for reason in ["", "   ", long.as_str()] {
        let r = call(
            &app,
            &operator,
            "/api/payments/cancel_payment",
            &[("id", &pending), ("reason", reason)],
        )
        .await;
        assert_eq!(r.status(), 422, "reason {:?}", reason.len());
    }
    let r = call(
        &app,
        &operator,
        "/api/payments/cancel_payment",
        &[("id", "not-an-id"), ("reason", "x")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = call(
        &app,
        &operator,
        "/api/payments/cancel_payment",
        &[("id", &uuid::Uuid::nil().to_string()), ("reason", "x")],
    )
    .await;
    assert_eq!(r.status(), 404);
    // A viewer may not, whatever the page shows.
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let r = call(
        &app,
        &viewer,
        "/api/payments/cancel_payment",
        &[("id", &pending), ("reason", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);

    assert_eq!(
        text(
            &t.pool,
            &format!("SELECT status::text FROM deltran.payments WHERE id = '{pending}'")
        )
        .await,
        "pending"
    );
    assert_eq!(account_balances(&t.pool, &account).await, before);
    // Besides the viewer's sign-in, only its denial is recorded (denials are audited).
    let written: Vec<String> = sqlx::query_scalar(
        "SELECT action || ' ' || result FROM deltran.audit_log WHERE id > $1 ORDER BY id",
    )
    .bind(last_row)
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(written, ["auth.login success", "access.denied denied"]);
    t.drop_db().await;
}

#[tokio::test]
async fn the_rest_api_lists_reads_and_refuses_as_the_pages_do() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let bearer = token(&app, "viewer").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |path: String| api_get(&app, &bearer, path);
    // Pages of `limit`, following next_cursor, hold exactly the filtered rows in order.
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = "/api/v1/payments?status=settled&status=failed&limit=120".to_string();
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (status, body) = get(path).await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 120);
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match body["next_cursor"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    let expected = PAYMENTS
        .expected(&t.pool, "p.status IN ('settled', 'failed')", NEWEST)
        .await;
    assert_eq!(ids, expected);

    let (status, body) = get("/api/v1/payments?limit=501".into()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, body) = get("/api/v1/payments?currency=XXX&min_risk=x&q=a%00b".into()).await;
    assert_eq!(status, 422);
    let fields = body["error"]["fields"].as_object().unwrap();
    let named: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(
        named,
        ["currency", "min_risk", "q"],
        "every refused field, by name"
    );
    assert_eq!(fields["q"], "must not contain a NUL character");
    let (status, _) = get(format!("/api/v1/payments/{}", ids[0])).await;
    assert_eq!(status, 200);
    let (status, _) = get("/api/v1/payments/nope".into()).await;
    assert_eq!(status, 422);
    let (status, _) = get(format!("/api/v1/payments/{}", uuid::Uuid::nil())).await;
    assert_eq!(status, 404);
    // A body that is not JSON is a 422 in the API's shape, not a bare 415.
    let operator = token(&app, "operator").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/payments/{}/cancel", ids[0])))
        .bearer_auth(&operator)
        .body("reason=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation_failed");
    t.drop_db().await;
}
