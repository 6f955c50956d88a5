//! Controls through the REST API, the page's server functions, the CLI and the jobs, on real
//! Postgres and Redis: a freeze's row, Redis hash, TTL and audit row; bad orders refused
//! whole; Redis stopped during a freeze (the action stands, reconcile writes the copy once
//! Redis is back); keys deleted or altered by hand, repaired and reported; four eyes on a
//! block (one's own request refused and audited, a second request refused, approval sets the
//! block); an expired control lifted by the job; a viewer who sees and cannot act.

use std::{collections::HashMap, process::Stdio, time::Duration};

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::{
    api::token,
    common::{
        api_get, binary, page_html, redis_prefix_of, redis_url, signed_in, test_config, TestApp,
        TestDb, DEMO_PASSWORD,
    },
    lists::ListArea,
};

/// The controls' history, for the list contract (`crate::lists`).
const HISTORY: ListArea = ListArea {
    function: "/api/controls/list_control_history",
    rows: "/page/rows",
    next: "/page/next",
    from: "FROM deltran.audit_log WHERE resource_type = 'control'",
    id: "id",
    args_in: Some("query"),
    page: "/controls/history",
    label: "History of controls",
};
const NEWEST: &str = "\"timestamp\" DESC, id DESC";

async fn post(app: &TestApp, bearer: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn bearer(app: &TestApp, username: &str) -> String {
    token(app, username).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A bank without any control in the demo data: the last by BIC that nothing names.
async fn free_bank(pool: &PgPool) -> String {
    sqlx::query_scalar(
        "SELECT b.id::text FROM deltran.banks b WHERE NOT EXISTS (SELECT 1 FROM \
         deltran.rate_limits r WHERE r.entity_id = b.id::text) AND NOT EXISTS (SELECT 1 FROM \
         deltran.control_requests q WHERE q.entity_id = b.id::text) ORDER BY b.bic_code LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn hash(url: &str, key: &str) -> (HashMap<String, String>, i64) {
    let mut redis = server::db::redis(url).unwrap();
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(key)
        .query_async(&mut redis)
        .await
        .unwrap();
    (fields, ttl)
}

async fn audit_rows(pool: &PgPool, action: &str, resource: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = $1 AND resource_type = 'control' \
         AND resource_id = $2",
    )
    .bind(action)
    .bind(resource)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn active(pool: &PgPool, entity_id: &str, kind: &str) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM deltran.rate_limits WHERE entity_id = $1 \
         AND limit_type = $2 AND is_active)",
    )
    .bind(entity_id)
    .bind(kind)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_freeze_writes_the_row_the_redis_hash_with_its_ttl_and_the_audit_row() {
    let t = TestDb::seeded(200).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let operator = bearer(&app, "operator").await;
    let bank = free_bank(&t.pool).await;
    let until = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();

    let (status, body) = post(
        &app,
        &operator,
        "/api/v1/controls",
        json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze",
                "reason": "Suspicious outbound burst", "expires_at": until }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({ "outcome": "applied", "redis": "written" }));
    assert!(active(&t.pool, &bank, "freeze").await);
    let resource = format!("bank:{bank}");
    assert_eq!(audit_rows(&t.pool, "control.freeze", &resource).await, 1);

    let key = format!("{}control:bank:{bank}", app.redis_prefix);
    let (fields, ttl) = hash(&redis_url(), &key).await;
    assert_eq!(fields["action"], "freeze");
    assert_eq!(fields["reason"], "Suspicious outbound burst");
    assert_eq!(fields["set_by"], "operator");
    assert!(!fields["expires_at"].is_empty());
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");

    // The overview reads the copy live and finds it in sync.
    let (status, overview) = api_get(&app, &operator, "/api/v1/controls".into()).await;
    assert_eq!(status, 200);
    let mine = overview["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entity"]["entity_id"] == bank.as_str())
        .expect("the freeze is listed");
    assert_eq!(mine["redis"], "in_sync");

    // A second freeze changes nothing; a throttle beside it stays under the freeze in Redis.
    let again = json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze",
                        "reason": "Suspicious outbound burst" });
    assert_eq!(
        post(&app, &operator, "/api/v1/controls", again).await.0,
        409
    );
    let throttle = json!({ "entity_type": "bank", "entity_id": bank, "action": "throttle",
                           "reason": "Slow it down as well", "limit_value": 10, "window_seconds": 60 });
    assert_eq!(
        post(&app, &operator, "/api/v1/controls", throttle).await.0,
        201
    );
    assert_eq!(hash(&redis_url(), &key).await.0["action"], "freeze");

    // Unfreezing leaves the throttle, whose copy replaces the freeze's (no TTL: no expiry).
    let unfreeze = json!({ "entity_type": "bank", "entity_id": bank, "action": "unfreeze",
                           "reason": "Burst explained by the bank" });
    assert_eq!(
        post(&app, &operator, "/api/v1/controls", unfreeze).await.0,
        201
    );
    assert!(!active(&t.pool, &bank, "freeze").await);
    let (fields, ttl) = hash(&redis_url(), &key).await;
    assert_eq!(fields["action"], "throttle");
    assert_eq!(fields["limit_value"], "10");
    assert_eq!(ttl, -1);
    assert_eq!(audit_rows(&t.pool, "control.unfreeze", &resource).await, 1);

    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
async fn bad_orders_are_refused_whole_and_change_nothing() {
    let t = TestDb::seeded(200).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let operator = bearer(&app, "operator").await;
    let bank = free_bank(&t.pool).await;
    let controls_before: i64 = sqlx::query_scalar("SELECT count(*) FROM deltran.rate_limits")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let cases = [
        (
            json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze", "reason": "" }),
            vec!["reason"],
        ),
        (
            json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze", "reason": "too short" }),
            vec!["reason"],
        ),
        (
            json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze",
                    "reason": "A good long reason", "expires_at": past }),
            vec!["expires_at"],
        ),
        (
            json!({ "entity_type": "bank", "entity_id": bank, "action": "throttle", "reason": "A good long reason" }),
            vec!["limit_value", "window_seconds"],
        ),
        (
            json!({ "entity_type": "bank", "entity_id": uuid::Uuid::new_v4(), "action": "freeze",
                    "reason": "A good long reason" }),
            vec!["entity_id"],
        ),
        (
            json!({ "entity_type": "planet", "entity_id": "x", "action": "vaporise", "reason": "no" }),
            vec!["entity_type", "action", "reason"],
        ),
        (
            json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze",
                    "reason": "A good long reason", "limit_value": 5 }),
            vec!["limit_value"],
        ),
    ];
    for (body, fields) in cases {
        let (status, answer) = post(&app, &operator, "/api/v1/controls", body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let refused = &answer["error"]["fields"];
        for field in fields {
            assert!(refused.get(field).is_some(), "{body}: {answer}");
        }
    }
    let (status, _) = post(
        &app,
        &operator,
        "/api/v1/controls",
        json!({ "nonsense": true }),
    )
    .await;
    assert_eq!(status, 422);
    let controls_after: i64 = sqlx::query_scalar("SELECT count(*) FROM deltran.rate_limits")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(controls_after, controls_before);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE resource_type = 'control' AND actor_name = 'operator' \
         AND \"timestamp\" > now() - interval '1 minute'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(audited, 0);
    app.stop().await;
    t.drop_db().await;
}

/// A Redis server of this test's own, to stop and start again.
struct OwnRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/services.sh needs it too)");
        // Owned at once, so that the server is stopped however this ends.
        let redis = OwnRedis {
            port,
            child: Some(child),
        };
        for _ in 0..100 {
            let up = redis::Client::open(redis.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok();
            if up {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on {port} did not start");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn redis_stopped_during_a_freeze_the_freeze_stands_and_reconcile_writes_it_after() {
    let t = TestDb::seeded(200).await;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let mut config = test_config(&t.url);
    config.redis_url = redis.url();
    let app = TestApp::spawn(config).await;
    let operator = bearer(&app, "operator").await;
    let bank = free_bank(&t.pool).await;

    redis.stop();
    let (status, body) = post(
        &app,
        &operator,
        "/api/v1/controls",
        json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze",
                "reason": "Frozen while Redis is down" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["redis"], "pending", "{body}");
    assert!(active(&t.pool, &bank, "freeze").await, "Postgres committed");
    assert_eq!(
        audit_rows(&t.pool, "control.freeze", &format!("bank:{bank}")).await,
        1
    );
    // The page still answers, from Postgres, and says Redis cannot be read.
    let (status, overview) = api_get(&app, &operator, "/api/v1/controls".into()).await;
    assert_eq!(status, 200);
    assert_eq!(overview["redis_up"], false);

    let redis = OwnRedis::start(port);
    let key = format!("{}control:bank:{bank}", app.redis_prefix);
    assert!(
        hash(&redis.url(), &key).await.0.is_empty(),
        "nothing written yet"
    );
    let (status, report) = post(&app, &operator, "/api/v1/controls/reconcile", json!({})).await;
    assert_eq!(status, 200, "{report}");
    let repaired: Vec<&str> = report["repaired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    assert!(repaired.contains(&key.as_str()), "{report}");
    assert_eq!(hash(&redis.url(), &key).await.0["action"], "freeze");
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
async fn the_cli_restores_keys_deleted_or_altered_by_hand_and_reports_the_drift() {
    let t = TestDb::seeded(200).await;
    let mut cmd = binary(&t.url);
    let prefix = redis_prefix_of(&cmd);
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.args(["controls", "reconcile"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // The first run writes every seeded control's copy.
    let first = run(&mut cmd);
    assert!(first.contains("Repaired 3 Redis copies"), "{first}");
    let keys = crate::common::redis_keys(&format!("{prefix}control:*")).await;
    assert_eq!(keys.len(), 3, "{keys:?}");

    // By hand: one deleted, one altered, one stale key for an entity with no control.
    let mut redis = server::db::redis(&redis_url()).unwrap();
    let stale = format!("{prefix}control:bank:{}", uuid::Uuid::new_v4());
    let _: () = redis::pipe()
        .del(&keys[0])
        .hset(&keys[1], "reason", "edited by hand")
        .hset(&stale, "action", "block")
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut again = binary(&t.url);
    again.env("REDIS_PREFIX", &prefix);
    let second = run(&mut again);
    assert!(
        second.contains(&format!("repaired {} (missing)", keys[0])),
        "{second}"
    );
    assert!(
        second.contains(&format!(
            "repaired {} (different): reason is \"edited by hand\"",
            keys[1]
        )),
        "{second}"
    );
    assert!(
        second.contains(&format!("repaired {stale} (stale)")),
        "{second}"
    );
    assert!(hash(&redis_url(), &stale).await.0.is_empty());
    assert!(!hash(&redis_url(), &keys[0]).await.0.is_empty());
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'control.reconcile'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(audited, 2, "each run that repaired something is audited");

    // A third run finds everything in sync.
    let mut third = binary(&t.url);
    third.env("REDIS_PREFIX", &prefix);
    assert!(run(&mut third).contains("in sync"));
    crate::common::forget_redis_prefix(&prefix);
    t.drop_db().await;
}

#[tokio::test]
async fn a_block_takes_two_people_and_nobody_approves_their_own() {
    let t = TestDb::seeded(200).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let (operator, admin) = (bearer(&app, "operator").await, bearer(&app, "admin").await);
    let bank = free_bank(&t.pool).await;
    let block = json!({ "entity_type": "bank", "entity_id": bank, "action": "block",
                        "reason": "Confirmed sanctions match" });

    let (status, body) = post(&app, &operator, "/api/v1/controls", block.clone()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["outcome"], "pending_approval");
    let request = body["request_id"].as_str().unwrap().to_string();
    assert!(
        !active(&t.pool, &bank, "block").await,
        "nothing is blocked yet"
    );
    // One pending request per entity and action.
    let (status, body) = post(&app, &admin, "/api/v1/controls", block.clone()).await;
    assert_eq!(status, 409, "{body}");

    // The requester cannot approve it: 403, audited as denied, nothing changes.
    let note = json!({ "note": "Approving my own request" });
    let approve = format!("/api/v1/controls/requests/{request}/approve");
    assert_eq!(post(&app, &operator, &approve, note.clone()).await.0, 403);
    assert!(!active(&t.pool, &bank, "block").await);
    let denied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'control.block_approve' \
         AND result = 'denied' AND actor_name = 'operator'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(denied, 1);
    let pending: String =
        sqlx::query_scalar("SELECT status FROM deltran.control_requests WHERE id = $1::uuid")
            .bind(&request)
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(pending, "pending");

    // A short note is refused; someone else approves, and the block is in force everywhere.
    assert_eq!(
        post(&app, &admin, &approve, json!({ "note": "ok" }))
            .await
            .0,
        422
    );
    let (status, body) = post(
        &app,
        &admin,
        &approve,
        json!({ "note": "Match confirmed by compliance" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "status": "approved", "redis": "written" }));
    assert!(active(&t.pool, &bank, "block").await);
    let resource = format!("bank:{bank}");
    assert_eq!(audit_rows(&t.pool, "control.block", &resource).await, 1);
    let key = format!("{}control:bank:{bank}", app.redis_prefix);
    let (fields, _) = hash(&redis_url(), &key).await;
    assert_eq!(fields["action"], "block");
    assert_eq!(fields["set_by"], "operator", "the copy names who asked");
    // Decided, it is no longer pending.
    assert_eq!(post(&app, &admin, &approve, note.clone()).await.0, 404);

    // Lifting it takes two people as well; a rejection changes nothing.
    let unblock = json!({ "entity_type": "bank", "entity_id": bank, "action": "unblock",
                          "reason": "Sanctions match cleared" });
    let (status, body) = post(&app, &admin, "/api/v1/controls", unblock.clone()).await;
    assert_eq!(status, 202, "{body}");
    let lift = body["request_id"].as_str().unwrap().to_string();
    let reject = format!("/api/v1/controls/requests/{lift}/reject");
    let (status, body) = post(
        &app,
        &operator,
        &reject,
        json!({ "note": "Not cleared yet, wait" }),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("rejected")));
    assert!(active(&t.pool, &bank, "block").await);
    let (_, body) = post(&app, &admin, "/api/v1/controls", unblock).await;
    let lift = body["request_id"].as_str().unwrap().to_string();
    let approve = format!("/api/v1/controls/requests/{lift}/approve");
    assert_eq!(
        post(
            &app,
            &operator,
            &approve,
            json!({ "note": "Cleared by compliance" })
        )
        .await
        .0,
        200
    );
    assert!(!active(&t.pool, &bank, "block").await);
    assert!(hash(&redis_url(), &key).await.0.is_empty());
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
async fn the_job_lifts_an_expired_control_and_expires_old_requests_as_the_system() {
    let t = TestDb::seeded(200).await;
    let mut config = test_config(&t.url);
    config.control_reconcile = Duration::from_millis(200);
    let app = TestApp::spawn(config).await;
    let operator = bearer(&app, "operator").await;
    let bank = free_bank(&t.pool).await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, _) = post(
        &app,
        &operator,
        "/api/v1/controls",
        json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze",
                "reason": "Two seconds only", "expires_at": soon }),
    )
    .await;
    assert_eq!(status, 201);
    sqlx::query("UPDATE deltran.control_requests SET requested_at = now() - interval '2 days', expires_at = now() - interval '1 day'")
        .execute(&t.pool)
        .await
        .unwrap();
    let resource = format!("bank:{bank}");
    let mut lifted = false;
    for _ in 0..100 {
        if audit_rows(&t.pool, "control.expire", &resource).await == 1 {
            lifted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(lifted, "the job lifted the freeze");
    assert!(!active(&t.pool, &bank, "freeze").await);
    let actor: String = sqlx::query_scalar(
        "SELECT actor_type FROM deltran.audit_log WHERE action = 'control.expire' AND resource_id = $1",
    )
    .bind(&resource)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(actor, "system");
    let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM deltran.control_requests")
        .fetch_all(&t.pool)
        .await
        .unwrap();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| s == "expired"),
        "{statuses:?}"
    );
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
async fn a_viewer_sees_the_controls_and_no_buttons_and_the_server_refuses_anyway() {
    let t = TestDb::seeded(200).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let html = page_html(&app, &viewer, "/controls").await;
    assert!(html.contains("Controls in force"), "{html}");
    assert!(html.contains("Sanctions list match under investigation"));
    assert!(!html.contains("Set or lift a control"));
    assert!(!html.contains("Reconcile Redis"));
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let html = page_html(&app, &operator, "/controls").await;
    assert!(html.contains("Set or lift a control"));

    let bank = free_bank(&t.pool).await;
    let r = crate::common::call(
        &app,
        &viewer,
        "/api/controls/act_on_control",
        &[
            ("order[entity_type]", "bank"),
            ("order[entity_id]", &bank),
            ("order[action]", "freeze"),
            ("order[reason]", "A viewer trying to freeze"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let token = bearer(&app, "viewer").await;
    let (status, _) = post(
        &app,
        &token,
        "/api/v1/controls",
        json!({ "entity_type": "bank", "entity_id": bank, "action": "freeze", "reason": "A viewer trying" }),
    )
    .await;
    assert_eq!(status, 403);
    assert!(!active(&t.pool, &bank, "freeze").await);
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
async fn circuits_and_idempotency_keys_read_in_domain_terms_and_a_reset_is_audited() {
    let t = TestDb::seeded(200).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let (operator, viewer) = (bearer(&app, "operator").await, bearer(&app, "viewer").await);
    let (payment, key, status): (uuid::Uuid, String, String) = sqlx::query_as(
        "SELECT id, idempotency_key, status::text FROM deltran.payments \
         WHERE idempotency_key IS NOT NULL ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    let prefix = &app.redis_prefix;
    let mut redis = server::db::redis(&redis_url()).unwrap();
    let circuit = format!("{prefix}circuit:sanctions-screening");
    let _: () = redis::pipe()
        .hset_multiple(
            &circuit,
            &[
                ("state", "open"),
                ("failures", "7"),
                ("opened_at", "2026-12-01T10:00:00Z"),
            ],
        )
        .hset_multiple(
            format!("{prefix}idempotency:{key}"),
            &[
                ("payment_id", payment.to_string()),
                ("status", status.clone()),
            ],
        )
        .expire(format!("{prefix}idempotency:{key}"), 3600)
        .query_async(&mut redis)
        .await
        .unwrap();

    let (status_code, overview) = api_get(&app, &viewer, "/api/v1/controls".into()).await;
    assert_eq!(status_code, 200);
    assert_eq!(
        overview["circuits"],
        json!([{ "service": "sanctions-screening", "state": "open", "failures": 7,
                 "opened_at": "2026-12-01T10:00:00Z" }])
    );
    let (status_code, record) =
        api_get(&app, &viewer, format!("/api/v1/controls/idempotency/{key}")).await;
    assert_eq!(status_code, 200, "{record}");
    assert_eq!(record["redis_payment_id"], payment.to_string());
    assert_eq!(record["payment_id"], payment.to_string());
    assert_eq!(record["payment_status"], status.as_str());
    assert!(
        (3590..=3600).contains(&record["ttl"].as_i64().unwrap()),
        "{record}"
    );
    let (_, unknown) = api_get(
        &app,
        &viewer,
        "/api/v1/controls/idempotency/no-such-key".into(),
    )
    .await;
    assert_eq!(
        (
            unknown["redis_payment_id"].is_null(),
            unknown["payment_id"].is_null()
        ),
        (true, true)
    );
    // A service that writes the plain `id/status` string form is read too.
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}idempotency:string-form"))
        .arg(format!("{payment}/settled"))
        .query_async(&mut redis)
        .await
        .unwrap();
    let (_, plain) = api_get(
        &app,
        &viewer,
        "/api/v1/controls/idempotency/string-form".into(),
    )
    .await;
    assert_eq!(plain["redis_payment_id"], payment.to_string());
    assert_eq!(plain["redis_status"], "settled");
    assert!(
        plain["payment_id"].is_null(),
        "no payment has that key in Postgres"
    );

    let reset = "/api/v1/controls/circuits/sanctions-screening/reset";
    let why = json!({ "reason": "Screening service back after the incident" });
    assert_eq!(post(&app, &viewer, reset, why.clone()).await.0, 403);
    assert_eq!(
        post(&app, &operator, reset, json!({ "reason": "short" }))
            .await
            .0,
        422
    );
    assert_eq!(
        post(
            &app,
            &operator,
            "/api/v1/controls/circuits/no-such-service/reset",
            why.clone()
        )
        .await
        .0,
        404
    );
    let (fields, _) = hash(&redis_url(), &circuit).await;
    assert_eq!(fields["state"], "open", "nothing changed yet");
    let (status_code, _) = post(&app, &operator, reset, why).await;
    assert_eq!(status_code, 204);
    let (fields, _) = hash(&redis_url(), &circuit).await;
    assert_eq!(
        (fields["state"].as_str(), fields["failures"].as_str()),
        ("closed", "0")
    );
    assert!(!fields.contains_key("opened_at"));
    assert_eq!(
        audit_rows(
            &t.pool,
            "control.circuit_reset",
            "circuit:sanctions-screening"
        )
        .await,
        1
    );
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
async fn the_history_pages_every_control_action_once_and_refuses_bad_filters() {
    use app::backend::audit::{record_alone, Actor, AuditEvent};
    let t = TestDb::seeded(200).await;
    let bank = free_bank(&t.pool).await;
    let account = uuid::Uuid::new_v4().to_string();
    for i in 0..130 {
        let (action, resource) = match i % 3 {
            0 => ("control.freeze", format!("bank:{bank}")),
            1 => ("control.unfreeze", format!("bank:{bank}")),
            _ => ("control.throttle", format!("account:{account}")),
        };
        record_alone(
            &t.pool,
            AuditEvent::new(Actor::system("test"), action, "control", Some(resource))
                .metadata(json!({ "reason": format!("reason {i}") })),
        )
        .await
        .unwrap();
    }
    let app = TestApp::spawn(test_config(&t.url)).await;
    // The start-up reconcile writes the seeded controls' copies and audits that: wait for its
    // row, so that the history does not grow while it is walked.
    for _ in 0..100 {
        if crate::common::audit_count(&t.pool, "control.reconcile", None).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let bank_cond = format!("resource_id = 'bank:{bank}'");
    let cases: &[crate::lists::Case] = &[
        (&[], "true", NEWEST),
        (
            &[("entity_type", "account")],
            "resource_id LIKE 'account:%'",
            NEWEST,
        ),
        (
            &[("entity_type", "bank"), ("entity_id", &bank)],
            &bank_cond,
            NEWEST,
        ),
        (
            &[("action", "unfreeze")],
            "action = 'control.unfreeze'",
            NEWEST,
        ),
        (&[("action", "block")], "false", NEWEST),
        (
            &[("from", "2000-01-01T00:00"), ("to", "2100-01-01T00:00")],
            "true",
            NEWEST,
        ),
    ];
    HISTORY
        .pages_every_row_once(&app, &viewer, &t.pool, cases)
        .await;
    HISTORY
        .refuses(
            &app,
            &viewer,
            &[
                (vec![("entity_type", "planet")], "entity_type"),
                (vec![("entity_id", &bank)], "entity_type"),
                (vec![("action", "explode")], "action"),
                (vec![("to", "soon")], "to"),
            ],
        )
        .await;
    let html = page_html(&app, &viewer, "/controls/history?action=throttle").await;
    assert!(
        html.contains("History of controls") && html.contains("reason 128"),
        "{html}"
    );
    app.stop().await;
    t.drop_db().await;
}
