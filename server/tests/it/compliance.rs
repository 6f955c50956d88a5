//! Compliance review, called as a browser and as an API client call it: the queue (only
//! undecided review checks, oldest first) and every filter and order over keyset pages, refused
//! values, the CSV; deciding a case (a fail stops a pending payment and releases its funds, one
//! audit row or none), claims (another reviewer refused, expiry, renewal), the second reviewer
//! a sanctions pass waits for, and the roles that may only read.

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

/// The compliance list, for the list contract (`crate::lists`).
const COMPLIANCE: ListArea = ListArea {
    function: "/api/compliance/list_compliance",
    rows: "/page/rows",
    next: "/page/next",
    from: "FROM deltran.compliance_checks c JOIN deltran.payments p ON p.id = c.payment_id \
           WHERE true",
    id: "c.id",
    args_in: Some("query"),
    page: "/compliance",
    label: "Compliance checks",
};

const OLDEST: &str = "c.started_at ASC, c.id ASC";
const NEWEST: &str = "c.started_at DESC, c.id DESC";
const RISKIEST: &str = "coalesce(c.risk_score, -1) DESC, c.id DESC";
const AWAITING: &str = "c.requires_review AND c.reviewed_at IS NULL";

type OwnedCase<'a> = (Vec<(&'a str, &'a str)>, String, &'a str);

async fn text(pool: &PgPool, sql: &str) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A check awaiting review of `kind` whose payment is `status` (pending ones with their funds
/// reserved): its id, its payment's id.
async fn awaiting(pool: &PgPool, kind: &str, status: &str) -> (String, String) {
    sqlx::query_as(
        "SELECT c.id::text, p.id::text FROM deltran.compliance_checks c \
         JOIN deltran.payments p ON p.id = c.payment_id \
         JOIN deltran.bank_accounts a ON a.id = p.sender_account_id \
         WHERE c.requires_review AND c.reviewed_at IS NULL AND c.check_type = $1 \
           AND p.status::text = $2 AND a.reserved_balance >= p.amount \
         ORDER BY c.started_at LIMIT 1",
    )
    .bind(kind)
    .bind(status)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("an awaiting {kind} check of a {status} payment: {e}"))
}

async fn balances(pool: &PgPool, payment: &str) -> (String, String, String) {
    sqlx::query_as(
        "SELECT a.balance::text, a.available_balance::text, a.reserved_balance::text \
         FROM deltran.bank_accounts a JOIN deltran.payments p ON p.sender_account_id = a.id \
         WHERE p.id = $1::uuid",
    )
    .bind(payment)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The check's status, reviewer, note and whether it awaits review.
async fn check_state(pool: &PgPool, id: &str) -> (String, Option<String>, Option<String>, bool) {
    sqlx::query_as(
        "SELECT c.status::text, u.username, c.review_notes, \
                (c.requires_review AND c.reviewed_at IS NULL) \
         FROM deltran.compliance_checks c LEFT JOIN deltran.users u ON u.id = c.reviewed_by \
         WHERE c.id = $1::uuid",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn payment_status(pool: &PgPool, id: &str) -> String {
    text(
        pool,
        &format!("SELECT status::text FROM deltran.payments WHERE id = '{id}'"),
    )
    .await
}

async fn last_audit_id(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT max(id) FROM deltran.audit_log")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The audit rows written after `since`: `action result`.
async fn written_since(pool: &PgPool, since: i64) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT action || ' ' || result FROM deltran.audit_log WHERE id > $1 ORDER BY id",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// POST `path` of the REST API with a bearer token and a JSON body: the status and the body.
async fn api_post(app: &TestApp, bearer: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn bearer(app: &TestApp, user: &str) -> String {
    token(app, user).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_queue_holds_only_undecided_reviews_oldest_first_and_every_filter_pages_once() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let pool = &t.pool;

    // The queue: every undecided review check, oldest first, with its age; one of each kind
    // at least (the seed's newest payments).
    let (queue, _) = COMPLIANCE
        .page(&app, &auditor, &[("requires_review", "true")])
        .await;
    let expected = COMPLIANCE.expected(pool, AWAITING, OLDEST).await;
    assert!(queue.len() >= 10, "{queue:?}");
    assert_eq!(queue, expected[..expected.len().min(50)]);
    let r = call(
        &app,
        &auditor,
        COMPLIANCE.function,
        &[("query[requires_review]", "true")],
    )
    .await;
    let body: Value = r.json().await.unwrap();
    let rows = body["page"]["rows"].as_array().unwrap();
    let ages: Vec<i64> = rows
        .iter()
        .map(|r| r["age_seconds"].as_i64().unwrap())
        .collect();
    assert!(
        ages.windows(2).all(|w| w[0] >= w[1]),
        "oldest first: {ages:?}"
    );
    assert!(rows.iter().all(|r| r["reviewed_at"].is_null()));
    let mut kinds: Vec<&str> = rows
        .iter()
        .map(|r| r["check_type"].as_str().unwrap())
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds, ["aml", "kyc", "pep", "sanctions", "travel_rule"]);

    let bank_id = text(
        pool,
        "SELECT p.sender_bank_id::text FROM deltran.compliance_checks c \
         JOIN deltran.payments p ON p.id = c.payment_id ORDER BY c.started_at LIMIT 1",
    )
    .await;
    let bic = text(
        pool,
        &format!("SELECT bic_code FROM deltran.banks WHERE id = '{bank_id}'"),
    )
    .await;
    let day = text(
        pool,
        "SELECT to_char(max(started_at) - interval '3 days', 'YYYY-MM-DD') \
         FROM deltran.compliance_checks",
    )
    .await;
    let (from, to) = (format!("{day}T00:00"), format!("{day}T12:00:00Z"));
    let bank_cond = format!("(p.sender_bank_id = '{bank_id}' OR p.receiver_bank_id = '{bank_id}')");
    let time_cond = format!("c.started_at >= '{day}T00:00Z' AND c.started_at < '{day}T12:00Z'");
    let cases: Vec<OwnedCase> = vec![
        (vec![], "true".into(), OLDEST),
        (vec![("requires_review", "any")], "true".into(), OLDEST),
        (vec![("requires_review", "true")], AWAITING.into(), OLDEST),
        (
            vec![("requires_review", "false"), ("sort", "newest")],
            format!("NOT ({AWAITING})"),
            NEWEST,
        ),
        (vec![("sort", "newest")], "true".into(), NEWEST),
        (vec![("sort", "riskiest")], "true".into(), RISKIEST),
        (
            vec![("requires_review", "true"), ("sort", "riskiest")],
            AWAITING.into(),
            RISKIEST,
        ),
        (
            vec![("check_type", "sanctions,pep")],
            "c.check_type IN ('sanctions', 'pep')".into(),
            OLDEST,
        ),
        (
            vec![("status", "review,fail")],
            "c.status IN ('review', 'fail')".into(),
            OLDEST,
        ),
        (
            vec![("min_risk", "60"), ("sort", "riskiest")],
            "c.risk_score >= 60".into(),
            RISKIEST,
        ),
        (
            vec![("matched_list", "OFAC-SDN")],
            "'OFAC-SDN' = ANY(c.matched_lists)".into(),
            OLDEST,
        ),
        (vec![("bank", &bank_id)], bank_cond.clone(), OLDEST),
        (
            vec![("bank", &bic), ("sort", "newest")],
            bank_cond.clone(),
            NEWEST,
        ),
        (
            vec![("from", &from), ("to", &to)],
            time_cond.clone(),
            OLDEST,
        ),
        (
            vec![
                ("requires_review", "true"),
                ("check_type", "sanctions"),
                ("min_risk", "1"),
            ],
            format!("{AWAITING} AND c.check_type = 'sanctions' AND c.risk_score >= 1"),
            OLDEST,
        ),
        // Blank values are no filter (what the GET form sends for "Any").
        (
            vec![("check_type", ""), ("status", " ")],
            "true".into(),
            OLDEST,
        ),
    ];
    let cases: Vec<Case> = cases
        .iter()
        .map(|(args, condition, order)| (&args[..], condition.as_str(), *order))
        .collect();
    COMPLIANCE
        .pages_every_row_once(&app, &auditor, pool, &cases)
        .await;
    t.drop_db().await;
}

#[tokio::test]
async fn refused_values_name_their_field_the_page_links_its_view_and_the_csv_is_audited() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let long = "L".repeat(101);
    COMPLIANCE
        .refuses(
            &app,
            &auditor,
            &[
                (vec![("requires_review", "maybe")], "requires_review"),
                (vec![("check_type", "sanctions,fraud")], "check_type"),
                (vec![("status", "ok")], "status"),
                (vec![("min_risk", "101")], "min_risk"),
                (vec![("matched_list", long.as_str())], "matched_list"),
                (vec![("from", "yesterday")], "from"),
                (
                    vec![("from", "2026-11-02T00:00"), ("to", "2026-11-01T00:00")],
                    "to",
                ),
                (vec![("sort", "largest")], "sort"),
                // A cursor of another order, and one of the Payments list.
                (
                    vec![
                        ("sort", "newest"),
                        ("after", "co.1.00000000-0000-0000-0000-000000000000"),
                    ],
                    "after",
                ),
                (
                    vec![("after", "o.1.00000000-0000-0000-0000-000000000000")],
                    "after",
                ),
            ],
        )
        .await;

    // The REST API: the same query, `requires_review=true` the queue, every refusal named.
    let bearer = bearer(&app, "auditor").await;
    let (status, body) = api_get(
        &app,
        &bearer,
        "/api/v1/compliance?requires_review=true&limit=500".into(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, COMPLIANCE.expected(&t.pool, AWAITING, OLDEST).await);
    let (status, body) = api_get(
        &app,
        &bearer,
        "/api/v1/compliance?check_type=fraud&min_risk=x&requires_review=yes".into(),
    )
    .await;
    assert_eq!(status, 422);
    let named: Vec<&str> = body["error"]["fields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(named, ["check_type", "min_risk", "requires_review"]);
    let (status, _) = api_get(&app, &bearer, "/api/v1/compliance/nope".into()).await;
    assert_eq!(status, 422);
    let (status, _) = api_get(
        &app,
        &bearer,
        format!("/api/v1/compliance/{}", uuid::Uuid::nil()),
    )
    .await;
    assert_eq!(status, 404);

    COMPLIANCE
        .page_links(
            &app,
            &auditor,
            "requires_review=any&sort=newest",
            Some("/downloads/compliance.csv"),
            (
                "matched_list=NOSUCHLIST",
                "No compliance checks match these filters.",
            ),
        )
        .await;
    // The page shows the queue when the URL says nothing.
    let html = page_html(&app, &auditor, "/compliance").await;
    assert!(html.contains(r#"<option value="true" selected"#), "{html}");
    let csv = COMPLIANCE
        .exports(
            &app,
            &auditor,
            &t.pool,
            (
                "/downloads/compliance.csv?requires_review=true&sort=oldest",
                "compliance.export",
                "started_at,check_type,status,risk_score,matched_lists,requires_review,\
                 reviewed_at,pending_approval,payment_reference,payment_status,amount,currency,\
                 sender_bic,receiver_bic,id",
            ),
            (AWAITING, OLDEST),
        )
        .await;
    assert!(csv.lines().count() > 10);
    t.drop_db().await;
}

#[tokio::test]
async fn a_fail_stops_a_pending_payment_releases_its_funds_and_writes_one_audit_row() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pool = &t.pool;
    let (check, payment) = awaiting(pool, "aml", "pending").await;
    let amount: String = text(
        pool,
        &format!("SELECT amount::text FROM deltran.payments WHERE id = '{payment}'"),
    )
    .await;
    let before = balances(pool, &payment).await;
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let admin = bearer(&app, "admin").await;

    // Two reviewers deciding at once, without claims: one decision, one audit row.
    let note = "Structuring confirmed with the sender bank's compliance desk";
    let form = [("id", check.as_str()), ("decision", "fail"), ("note", note)];
    let path = format!("/api/v1/compliance/{check}/review");
    let page = call(&app, &operator, "/api/compliance/review_case", &form);
    let api = api_post(
        &app,
        &admin,
        &path,
        json!({ "decision": "fail", "note": "Second opinion: structuring pattern confirmed" }),
    );
    let (page, (api_status, api_body)) = tokio::join!(page, api);
    let page_status = page.status().as_u16();
    let page_body: Value = page.json().await.unwrap_or(Value::Null);
    let mut statuses = [page_status, api_status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{page_body} {api_body}");
    let outcome = if page_status == 200 {
        page_body
    } else {
        api_body
    };
    assert_eq!(
        outcome,
        json!({ "outcome": "decided", "check_status": "fail", "payment_status": "failed" })
    );
    let uid = uuid::Uuid::parse_str(&check).unwrap();
    assert_eq!(audit_count(pool, "compliance.review", Some(uid)).await, 1);
    let (status, by, notes, waiting) = check_state(pool, &check).await;
    assert_eq!(status, "fail");
    assert!(by.is_some() && !waiting);
    assert!(notes.unwrap().contains("tructuring"));
    let (failure,): (String,) = sqlx::query_as(
        "SELECT failure_reason FROM deltran.payments WHERE id = $1::uuid AND status = 'failed'",
    )
    .bind(&payment)
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(failure.contains(&check), "names the check: {failure}");
    let (requires_review, completed): (bool, bool) = sqlx::query_as(
        "SELECT requires_review, completed_at IS NOT NULL FROM deltran.compliance_checks \
         WHERE id = $1::uuid",
    )
    .bind(&check)
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(!requires_review && completed);

    // The reserved funds came back once.
    let after = balances(pool, &payment).await;
    let n = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    assert_eq!(n(&after.0), n(&before.0));
    assert_eq!(n(&after.1), n(&before.1) + n(&amount));
    assert_eq!(n(&after.2), n(&before.2) - n(&amount));

    // The audit row says what was decided, on what.
    let metadata: Value = sqlx::query_scalar(
        "SELECT metadata FROM deltran.audit_log WHERE action = 'compliance.review' \
         AND resource_id = $1",
    )
    .bind(&check)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(metadata["decision"], "fail");
    assert_eq!(metadata["check_type"], "aml");
    assert!(metadata["payment_reference"]
        .as_str()
        .unwrap()
        .starts_with("DT"));
    assert!(metadata["note"].as_str().unwrap().contains("tructuring"));
    assert_eq!(metadata["released"], amount);

    // Decided: a second decision is refused and writes nothing; the case leaves the queue.
    let since = last_audit_id(pool).await;
    let r = call(
        &app,
        &operator,
        "/api/compliance/review_case",
        &[
            ("id", &check),
            ("decision", "pass"),
            ("note", "Changed my mind after all"),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(written_since(pool, since).await, Vec::<String>::new());
    assert!(!COMPLIANCE
        .expected(pool, AWAITING, OLDEST)
        .await
        .contains(&check));
    assert_eq!(balances(pool, &payment).await, after);

    // A pass of a non-sanctions, non-PEP check decides at once and leaves the payment be.
    let (kyc, kyc_payment) = awaiting(pool, "kyc", "pending").await;
    let (status, body) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{kyc}/review"),
        json!({ "decision": "pass", "note": "KYC refresh received from the bank today" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "decided");
    assert_eq!(check_state(pool, &kyc).await.0, "pass");
    assert_eq!(payment_status(pool, &kyc_payment).await, "pending");
    t.drop_db().await;
}

#[tokio::test]
async fn a_fail_of_a_processing_payment_releases_its_reservation_too() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pool = &t.pool;
    // A payment the engine has taken up: still in flight, its funds still reserved.
    let (check, payment) = awaiting(pool, "kyc", "pending").await;
    sqlx::query(
        "UPDATE deltran.payments SET status = 'processing', processed_at = now() WHERE id = $1::uuid",
    )
    .bind(&payment)
    .execute(pool)
    .await
    .unwrap();
    let amount: String = text(
        pool,
        &format!("SELECT amount::text FROM deltran.payments WHERE id = '{payment}'"),
    )
    .await;
    let before = balances(pool, &payment).await;
    let operator = bearer(&app, "operator").await;
    let (status, body) = api_post(
        &app,
        &operator,
        &format!("/api/v1/compliance/{check}/review"),
        json!({ "decision": "fail", "note": "Beneficiary owner could not be identified" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payment_status"], "failed");
    let after = balances(pool, &payment).await;
    let n = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    assert_eq!(n(&after.1), n(&before.1) + n(&amount));
    assert_eq!(n(&after.2), n(&before.2) - n(&amount));
    assert_eq!(n(&after.0), n(&after.1) + n(&after.2));
    t.drop_db().await;
}

#[tokio::test]
async fn a_bad_note_or_decision_is_refused_by_name_and_nothing_is_written() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pool = &t.pool;
    let (check, payment) = awaiting(pool, "travel_rule", "pending").await;
    let before = balances(pool, &payment).await;
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let since = last_audit_id(pool).await;
    let long = "x".repeat(2001);
    for (decision, note, fields) in [
        ("fail", "", &["note"][..]),
        ("fail", "   too short   ", &["note"]),
        ("fail", long.as_str(), &["note"]),
        ("fail", "a note with a \0 in it", &["note"]),
        ("maybe", "A perfectly good note", &["decision"]),
        ("", "short", &["decision", "note"]),
    ] {
        let r = call(
            &app,
            &operator,
            "/api/compliance/review_case",
            &[("id", &check), ("decision", decision), ("note", note)],
        )
        .await;
        assert_eq!(r.status(), 422, "{decision:?} {:?}", note.len());
        let app::error::AppError::Validation { field_errors } = error(&r.text().await.unwrap())
        else {
            panic!("not a validation error");
        };
        let named: Vec<&str> = field_errors.keys().map(String::as_str).collect();
        assert_eq!(named, fields);
    }
    let admin = bearer(&app, "admin").await;
    let (status, body) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/review"),
        json!({ "decision": "fail", "note": "short" }),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["error"]["fields"]["note"].is_string(), "{body}");
    let (status, body) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/review"),
        json!({ "note": "no decision given at all" }),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["error"]["fields"]["body"].is_string(), "{body}");

    // Nothing changed: the check waits, the payment and its funds are as they were, and the
    // only audit rows are the sign-ins.
    assert_eq!(
        check_state(pool, &check).await,
        ("review".into(), None, None, true)
    );
    assert_eq!(payment_status(pool, &payment).await, "pending");
    assert_eq!(balances(pool, &payment).await, before);
    assert!(written_since(pool, since)
        .await
        .iter()
        .all(|r| r == "auth.login success" || r == "token.issue success"));
    t.drop_db().await;
}

#[tokio::test]
async fn a_claimed_case_refuses_another_reviewer_and_the_claim_renews_and_expires() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pool = &t.pool;
    let (check, payment) = awaiting(pool, "aml", "pending").await;
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let admin = bearer(&app, "admin").await;
    let uid = uuid::Uuid::parse_str(&check).unwrap();

    let r = call(
        &app,
        &operator,
        "/api/compliance/claim_case",
        &[("id", &check)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let claim: Value = r.json().await.unwrap();
    assert_eq!(claim["claimed_by"], "operator");
    let minutes: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - now())::float8 / 60 \
         FROM deltran.compliance_claims WHERE check_id = $1::uuid",
    )
    .bind(&check)
    .fetch_one(pool)
    .await
    .unwrap();
    assert!((14.0..=15.0).contains(&minutes), "{minutes}");
    assert_eq!(audit_count(pool, "compliance.claim", Some(uid)).await, 1);

    // Another reviewer sees who holds it and may neither claim nor decide it.
    let (status, body) = api_get(&app, &admin, format!("/api/v1/compliance/{check}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["claim"]["claimed_by"], "operator");
    assert_eq!(body["claim"]["mine"], false);
    assert_eq!(body["payment"]["id"], payment.as_str());
    let (status, body) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/claim"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("operator"),
        "{body}"
    );
    let since = last_audit_id(pool).await;
    let (status, body) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/review"),
        json!({ "decision": "fail", "note": "Taking over this one without asking" }),
    )
    .await;
    assert_eq!(status, 409);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("being reviewed by operator"));
    assert!(written_since(pool, since).await.is_empty());
    assert!(check_state(pool, &check).await.3);

    // Claiming again renews it: the same start, a later end.
    let first: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT claimed_at, expires_at FROM deltran.compliance_claims WHERE check_id = $1::uuid",
    )
    .bind(&check)
    .fetch_one(pool)
    .await
    .unwrap();
    let r = call(
        &app,
        &operator,
        "/api/compliance/claim_case",
        &[("id", &check)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let renewed: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT claimed_at, expires_at FROM deltran.compliance_claims \
             WHERE check_id = $1::uuid",
    )
    .bind(&check)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(renewed.0, first.0);
    assert!(renewed.1 > first.1);
    assert_eq!(audit_count(pool, "compliance.claim", Some(uid)).await, 2);

    // Once it expires, another reviewer takes it, and the first is refused in turn.
    sqlx::query(
        "UPDATE deltran.compliance_claims SET claimed_at = now() - interval '20 minutes', \
         expires_at = now() - interval '5 minutes' WHERE check_id = $1::uuid",
    )
    .bind(&check)
    .execute(pool)
    .await
    .unwrap();
    let (status, body) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/claim"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["claimed_by"], "admin");
    let r = call(
        &app,
        &operator,
        "/api/compliance/review_case",
        &[
            ("id", &check),
            ("decision", "pass"),
            ("note", "Looks fine to me after all"),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert!(error(&r.text().await.unwrap())
        .to_string()
        .contains("admin"));
    let html = page_html(&app, &operator, &format!("/compliance/{check}")).await;
    assert!(html.contains("Being reviewed by admin since"), "{html}");
    assert!(!html.contains("Record decision"));

    // The holder decides; the claim ends with the decision.
    let (status, _) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/review"),
        json!({ "decision": "pass", "note": "Pattern explained by payroll run" }),
    )
    .await;
    assert_eq!(status, 200);
    let claims: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.compliance_claims WHERE check_id = $1::uuid",
    )
    .bind(&check)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(claims, 0);
    t.drop_db().await;
}

#[tokio::test]
async fn a_sanctions_pass_waits_for_a_second_reviewer_who_is_not_the_first() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pool = &t.pool;
    let (check, payment) = awaiting(pool, "sanctions", "pending").await;
    let before = balances(pool, &payment).await;
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let admin = bearer(&app, "admin").await;
    let uid = uuid::Uuid::parse_str(&check).unwrap();
    let pass = |note: &'static str| {
        let (app, operator, check) = (&app, &operator, check.clone());
        async move {
            call(
                app,
                operator,
                "/api/compliance/review_case",
                &[("id", &check), ("decision", "pass"), ("note", note)],
            )
            .await
        }
    };

    let r = pass("False positive: different date of birth").await;
    assert_eq!(r.status(), 200);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(
        outcome,
        json!({ "outcome": "pending_approval", "check_status": "review", "payment_status": "pending" })
    );
    assert_eq!(
        check_state(pool, &check).await,
        ("review".into(), None, None, true)
    );
    let html = page_html(&app, &operator, &format!("/compliance/{check}")).await;
    assert!(html.contains("Pass pending approval"), "{html}");
    assert!(html.contains("Your own decision needs a second reviewer."));
    // While it waits, nobody decides it again.
    assert_eq!(pass("Passing it twice over").await.status(), 409);

    // The first reviewer approving their own: 403, audited as denied, nothing changes.
    let since = last_audit_id(pool).await;
    let r = call(
        &app,
        &operator,
        "/api/compliance/approve_case",
        &[("id", &check), ("note", "Approving my own pass")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        written_since(pool, since).await,
        ["compliance.approve denied"]
    );
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.compliance_approvals \
         WHERE check_id = $1::uuid AND status = 'pending'",
    )
    .bind(&check)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(pending, 1);
    assert_eq!(check_state(pool, &check).await.0, "review");

    // Another reviewer rejects it: the check is undecided again, back in the queue.
    let (status, body) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/reject"),
        json!({ "note": "short" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["fields"]["note"].is_string()),
        (422, true)
    );
    let (status, _) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/reject"),
        json!({ "note": "Date of birth is not on file; ask the bank first" }),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(audit_count(pool, "compliance.reject", Some(uid)).await, 1);
    assert!(COMPLIANCE
        .expected(pool, AWAITING, OLDEST)
        .await
        .contains(&check));

    // Passed again, and approved by another reviewer: the check passes, reviewed by the first;
    // the payment stays as it was.
    assert_eq!(
        pass("Bank confirmed the date of birth; not the listed person")
            .await
            .status(),
        200
    );
    let (status, _) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/approve"),
        json!({ "note": "Agreed: documents match, not the listed party" }),
    )
    .await;
    assert_eq!(status, 204);
    let (status, by, note, waiting) = check_state(pool, &check).await;
    assert_eq!(
        (status.as_str(), by.as_deref(), waiting),
        ("pass", Some("operator"), false)
    );
    assert!(note.unwrap().contains("Bank confirmed"));
    assert_eq!(payment_status(pool, &payment).await, "pending");
    assert_eq!(balances(pool, &payment).await, before);
    let approved: (String, String) = sqlx::query_as(
        "SELECT a.status, u.username FROM deltran.compliance_approvals a \
         JOIN deltran.users u ON u.id = a.decided_by \
         WHERE a.check_id = $1::uuid ORDER BY a.requested_at DESC LIMIT 1",
    )
    .bind(&check)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(approved, ("approved".into(), "admin".into()));
    assert_eq!(audit_count(pool, "compliance.approve", Some(uid)).await, 2);
    let (status, _) = api_post(
        &app,
        &admin,
        &format!("/api/v1/compliance/{check}/approve"),
        json!({ "note": "Approving it once more" }),
    )
    .await;
    assert_eq!(status, 409);
    t.drop_db().await;
}

#[tokio::test]
async fn readers_without_compliance_review_are_refused_every_change() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pool = &t.pool;
    let (check, _) = awaiting(pool, "pep", "pending").await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    // The auditor reads the queue and the case, with no buttons.
    let html = page_html(&app, &auditor, &format!("/compliance/{check}")).await;
    assert!(html.contains("PEP check of DT"), "{html}");
    assert!(html.contains(r#"aria-label="Earlier checks of the sender bank""#));
    assert!(!html.contains("Claim this case") && !html.contains("Record decision"));
    for (function, form) in [
        ("/api/compliance/claim_case", vec![("id", check.as_str())]),
        (
            "/api/compliance/review_case",
            vec![
                ("id", check.as_str()),
                ("decision", "fail"),
                ("note", "Not mine to decide"),
            ],
        ),
        (
            "/api/compliance/approve_case",
            vec![("id", check.as_str()), ("note", "Not mine to approve")],
        ),
        (
            "/api/compliance/reject_case",
            vec![("id", check.as_str()), ("note", "Not mine to reject")],
        ),
    ] {
        assert_eq!(
            call(&app, &auditor, function, &form).await.status(),
            403,
            "{function}"
        );
    }
    let bearer = bearer(&app, "auditor").await;
    for action in ["claim", "review", "approve", "reject"] {
        let (status, _) = api_post(
            &app,
            &bearer,
            &format!("/api/v1/compliance/{check}/{action}"),
            json!({ "decision": "fail", "note": "Not mine to decide" }),
        )
        .await;
        assert_eq!(status, 403, "{action}");
    }
    // A viewer may not even read it.
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let r = call(&app, &viewer, COMPLIANCE.function, &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        check_state(pool, &check).await,
        ("review".into(), None, None, true)
    );
    t.drop_db().await;
}
