//! On the local HA harness (`scripts/ha.sh`, run by `make test-ha` with DATABASE_URL on its
//! primary): the System page sees the streaming replica and its lag, and a replica knows it is
//! one and how far behind its replay is; reads go to the replica and fall back to the primary;
//! the console works through PgBouncer in transaction mode; it follows a Redis failover that
//! Sentinel carries out, without a restart. Ignored in the plain test run, which has no
//! harness.

use std::time::{Duration, Instant};

use server::db;

use crate::{
    api::token,
    common::{
        api_get, audit_count, page_html, signed_in, test_config, with_database, TestApp, TestDb,
        DEMO_PASSWORD,
    },
};

fn harness(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} (scripts/ha.sh up)"))
}

#[tokio::test]
#[ignore = "needs the HA harness: make test-ha"]
async fn the_console_works_through_pgbouncer_in_transaction_mode() {
    let t = TestDb::seeded(200).await;
    let mut config = test_config(&with_database(&harness("HA_PGBOUNCER_URL"), &t.name));
    config.database_direct_url = Some(t.url.clone());
    let app = TestApp::spawn(config).await;

    // Sign-ins: the browser's (server function, session row, audit row) and the API's.
    let logins = audit_count(&t.pool, "auth.login", None).await;
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    assert_eq!(audit_count(&t.pool, "auth.login", None).await, logins + 1);
    let bearer = token(&app, "operator").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // List pages and their REST twins, many at once: the statements sqlx prepares meet
    // PgBouncer's server connections in every order.
    let html = page_html(&app, &operator, "/payments?status=pending").await;
    assert!(html.contains("<tbody"), "the payments page renders");
    let lists = (0..24).map(|i| {
        let path = match i % 3 {
            0 => "/api/v1/payments?status=pending",
            1 => "/api/v1/banks",
            _ => "/api/v1/settlements",
        };
        api_get(&app, &bearer, path.to_string())
    });
    for (status, body) in futures::future::join_all(lists).await {
        assert_eq!(status, 200, "{body}");
    }
    // A write and its audit row, in one transaction.
    let (status, page) = api_get(
        &app,
        &bearer,
        "/api/v1/payments?status=pending&limit=1".into(),
    )
    .await;
    assert_eq!(status, 200);
    let payment = page["items"][0]["id"].as_str().unwrap().to_string();
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/payments/{payment}/cancel")))
        .bearer_auth(&bearer)
        .json(&serde_json::json!({ "reason": "Recalled by the sender" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cancelled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'payment.cancel' \
         AND resource_id = $1",
    )
    .bind(&payment)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(cancelled, 1, "the cancellation's audit row");
    let (status, health) = api_get(&app, &bearer, "/api/v1/system".into()).await;
    assert_eq!(status, 200, "{health}");
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
#[ignore = "needs the HA harness: make test-ha"]
async fn the_console_follows_a_redis_failover_without_a_restart_and_never_answers_500() {
    let t = TestDb::seeded(50).await;
    let mut config = test_config(&t.url);
    config.redis_url = harness("HA_REDIS_MASTER_URL");
    config.redis_sentinels = harness("HA_REDIS_SENTINELS")
        .split(',')
        .map(str::to_string)
        .collect();
    config.redis_master_name = harness("HA_REDIS_MASTER_NAME");
    let app = TestApp::spawn(config).await;
    let sign_in = || async {
        let r = reqwest::Client::new()
            .post(app.url("/api/v1/auth/token"))
            .json(&serde_json::json!({ "username": "operator", "password": DEMO_PASSWORD }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.headers().get("retry-after").cloned())
    };
    assert_eq!(sign_in().await.0, 200, "signs in before the failover");
    let browser = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let page = || async {
        let r = browser.get(app.url("/payments")).send().await.unwrap();
        r.status().as_u16()
    };
    assert_eq!(page().await, 200, "a page loads before the failover");

    // From just before the kill: the time measured includes asking a Sentinel who the master is.
    let killed_at = Instant::now();
    let killed = ha("redis-master-kill");
    let (mut signed_in_after, mut page_after) = (None, None);
    let mut seen = std::collections::BTreeMap::<u16, u32>::new();
    let mut trace = Vec::new();
    while killed_at.elapsed() < Duration::from_secs(20)
        && (signed_in_after.is_none() || page_after.is_none())
    {
        let (status, retry_after) = sign_in().await;
        *seen.entry(status).or_default() += 1;
        trace.push(format!(
            "{:.2}s sign-in {status}",
            killed_at.elapsed().as_secs_f64()
        ));
        match status {
            200 => {
                signed_in_after.get_or_insert(killed_at.elapsed());
            }
            503 => assert!(retry_after.is_some(), "a 503 says when to retry"),
            other => panic!("a sign-in during the failover answered {other}"),
        }
        let status = page().await;
        *seen.entry(status).or_default() += 1;
        trace.push(format!(
            "{:.2}s page {status}",
            killed_at.elapsed().as_secs_f64()
        ));
        match status {
            200 => {
                page_after.get_or_insert(killed_at.elapsed());
            }
            503 => {}
            other => panic!("a page load during the failover answered {other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (signed_in_after, page_after) = (
        signed_in_after.expect("sign-ins work again"),
        page_after.expect("page loads work again"),
    );
    println!(
        "redis failover ({} killed, -9): first successful sign-in {:.2} s after the kill, \
         first page load {:.2} s after it; statuses meanwhile {seen:?}: {}",
        killed.trim(),
        signed_in_after.as_secs_f64(),
        page_after.as_secs_f64(),
        trace.join(", "),
    );
    assert!(
        signed_in_after < Duration::from_secs(10),
        "{signed_in_after:?}"
    );
    assert!(page_after < Duration::from_secs(10), "{page_after:?}");
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("deltran_console_redis_reresolutions_total{outcome=\"moved\"}"),
        "the switch is counted"
    );
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
#[ignore = "needs the HA harness: make test-ha"]
async fn the_system_page_shows_the_streaming_replica_and_the_replica_its_replay_delay() {
    let replica_url = std::env::var("HA_REPLICA_URL").expect("HA_REPLICA_URL (scripts/ha.sh up)");
    let t = TestDb::seeded(100).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let bearer = token(&app, "operator").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, health) = api_get(&app, &bearer, "/api/v1/system".into()).await;
    assert_eq!(status, 200, "{health}");
    let pg = &health["postgres"];
    assert_eq!(
        pg["in_recovery"], false,
        "the console's database is the primary"
    );
    let replicas = pg["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    assert_eq!(replicas[0]["state"], "streaming");
    assert_eq!(replicas[0]["sync_state"], "async");
    assert!(replicas[0]["replay_lag_bytes"].as_i64().unwrap() >= 0);

    // The replica has the test's database, replayed, and says it is a replica.
    let replica = db::pool(&with_database(&replica_url, &t.name), 2).unwrap();
    let mut banks = 0i64;
    for _ in 0..100 {
        banks = sqlx::query_scalar("SELECT count(*) FROM deltran.banks")
            .fetch_one(&replica)
            .await
            .unwrap_or(0);
        if banks == 24 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(banks, 24, "the seed reached the replica");
    let server = app::backend::db::system::server(&replica).await.unwrap();
    assert!(server.in_recovery);
    assert!(server.replay_delay_seconds.is_some_and(|d| d >= 0.0));
    let write = sqlx::query("UPDATE deltran.banks SET name = name")
        .execute(&replica)
        .await;
    assert!(write.is_err(), "a replica refuses writes");
    replica.close().await;
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
#[ignore = "needs the HA harness: make test-ha"]
async fn lists_read_from_the_replica_and_a_writer_then_reads_their_own_write() {
    let replica_url = std::env::var("HA_REPLICA_URL").expect("HA_REPLICA_URL (scripts/ha.sh up)");
    let t = TestDb::seeded(300).await;
    let read_url = format!(
        "{}?application_name=deltran-read-test",
        with_database(&replica_url, &t.name)
    );
    let replica = db::pool(&with_database(&replica_url, &t.name), 2).unwrap();
    let mut config = test_config(&t.url);
    config.database_read_url = Some(read_url);
    let app = TestApp::spawn(config).await;
    let (operator, viewer) = (
        token(&app, "operator").await["access_token"]
            .as_str()
            .unwrap()
            .to_string(),
        token(&app, "viewer").await["access_token"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    // Once the watch has found the replica fit, a list is read there.
    let on_replica = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'deltran-read-test' \
             AND query LIKE '%FROM deltran.payments%'",
        )
        .fetch_one(&replica)
        .await
        .unwrap()
    };
    let mut served = false;
    for _ in 0..60 {
        let (status, _) = api_get(&app, &viewer, "/api/v1/payments?status=pending".into()).await;
        assert_eq!(status, 200);
        if on_replica().await > 0 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the list was read on the replica");

    // The replica goes away: the next reads are answered from the primary, without a failure;
    // back, it serves reads again.
    let stopped = std::time::Instant::now();
    ha("replica-stop");
    let mut first = None;
    for _ in 0..5 {
        let (status, body) = api_get(&app, &viewer, "/api/v1/payments?status=pending".into()).await;
        assert_eq!(status, 200, "{body}");
        first.get_or_insert(stopped.elapsed());
    }
    println!(
        "replica stopped: first read answered (by the primary) {:.2} s after the stop began",
        first.expect("five reads").as_secs_f64()
    );
    ha("replica-start");
    let mut back = false;
    for _ in 0..100 {
        let before = on_replica_count(&replica).await;
        let (status, _) = api_get(&app, &viewer, "/api/v1/payments?status=settled".into()).await;
        assert_eq!(status, 200);
        if before.is_some() && replica_saw(&replica, "status = ANY").await {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "reads return to the replica once it is back");

    // The operator cancels a payment; their next list shows it cancelled.
    let (status, page) = api_get(
        &app,
        &operator,
        "/api/v1/payments?status=pending&limit=1".into(),
    )
    .await;
    assert_eq!(status, 200);
    let payment = page["items"][0]["id"].as_str().unwrap().to_string();
    let reference = page["items"][0]["payment_reference"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/payments/{payment}/cancel")))
        .bearer_auth(&operator)
        .json(&serde_json::json!({ "reason": "Recalled by the sender" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, page) = api_get(
        &app,
        &operator,
        format!("/api/v1/payments?status=cancelled&q={reference}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    replica.close().await;
    app.stop().await;
    t.drop_db().await;
}

/// Runs `scripts/ha.sh <action>` (with the harness's DELTRAN_DATA and ports, from the
/// environment); returns what it printed.
fn ha(action: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/ha.sh");
    let out = std::process::Command::new("bash")
        .args([script, action])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ha.sh {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many of the read pool's connections the replica has (none while it is down).
async fn on_replica_count(replica: &sqlx::PgPool) -> Option<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'deltran-read-test'",
    )
    .fetch_one(replica)
    .await
    .ok()
}

/// Whether one of the read pool's connections on the replica last ran a statement with `text`.
async fn replica_saw(replica: &sqlx::PgPool, text: &str) -> bool {
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'deltran-read-test' \
         AND query LIKE '%' || $1 || '%' AND query LIKE '%FROM deltran.payments%'",
    )
    .bind(text)
    .fetch_one(replica)
    .await
    .is_ok_and(|n| n > 0)
}
