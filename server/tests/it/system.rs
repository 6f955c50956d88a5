//! The System page and `GET /api/v1/system` on the real servers: PostgreSQL's figures (the
//! schema's tables and indexes, a session waiting for a lock held by another), Redis' (role,
//! memory, the console's keys by namespace), and who may read them.

use std::time::Duration;

use serde_json::Value;

use crate::{
    api::token,
    common::{api_get, page_html, signed_in, test_config, TestApp, TestDb, DEMO_PASSWORD},
};

#[tokio::test]
async fn the_system_figures_are_the_servers_own_and_a_lock_wait_shows_who_blocks_it() {
    let t = TestDb::seeded(200).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    // A browser session, so that the console has a key of its own in Redis.
    let operator = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let bearer = token(&app, "operator").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // One transaction holds a bank's row; another waits for it.
    let mut holder = t.pool.begin().await.unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    sqlx::query("SELECT id FROM deltran.banks ORDER BY bic_code LIMIT 1 FOR UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let pool = t.pool.clone();
    let waiter = tokio::spawn(async move {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("SELECT id FROM deltran.banks ORDER BY bic_code LIMIT 1 FOR UPDATE")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
    });
    let mut seen: Option<Value> = None;
    for _ in 0..50 {
        let (status, health) = api_get(&app, &bearer, "/api/v1/system".into()).await;
        assert_eq!(status, 200, "{health}");
        if !health["postgres"]["lock_waits"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            seen = Some(health);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = seen.expect("the waiting session shows");
    let wait = &health["postgres"]["lock_waits"][0];
    assert_eq!(
        wait["blocked_by"],
        serde_json::json!([holder_pid]),
        "{wait}"
    );
    assert!(wait["query"].as_str().unwrap().contains("FOR UPDATE"));
    holder.rollback().await.unwrap();
    waiter.await.unwrap();

    let pg = &health["postgres"];
    let version: String = sqlx::query_scalar("SELECT current_setting('server_version')")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(pg["version"], version.as_str());
    assert_eq!(pg["in_recovery"], false);
    assert!(pg["max_connections"].as_i64().unwrap() > 0);
    let tables: Vec<&str> = pg["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for table in ["payments", "audit_log", "banks", "rate_limits"] {
        assert!(tables.contains(&table), "{table} in {tables:?}");
    }
    // The audit log's partitions count in it, not as tables of their own.
    assert!(
        !tables.iter().any(|t| t.starts_with("audit_log_y")),
        "{tables:?}"
    );
    let payments = pg["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "payments")
        .unwrap();
    assert!(payments["heap_bytes"].as_i64().unwrap() > 0);
    assert!(pg["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["name"] == "payments_pkey" && i["unused"] == false));

    let redis = &health["redis"]["info"];
    assert_eq!(redis["role"], "master");
    assert!(redis["used_memory"].as_i64().unwrap() > 0);
    let namespaces: Vec<&str> = redis["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert!(namespaces.contains(&"console"), "{namespaces:?}");
    // Only the console's own prefix is sampled.
    assert!(redis["sampled_keys"].as_i64().unwrap() < 100, "{redis}");

    let html = page_html(&app, &operator, "/system").await;
    assert!(
        html.contains("PostgreSQL") && html.contains("Key namespaces"),
        "{html}"
    );
    assert!(html.contains("payments"));
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
async fn readers_without_system_view_are_refused() {
    let t = TestDb::seeded(0).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    for role in ["auditor", "viewer"] {
        let bearer = token(&app, role).await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, _) = api_get(&app, &bearer, "/api/v1/system".into()).await;
        assert_eq!(status, 403, "{role}");
        let client = signed_in(&app, role, DEMO_PASSWORD).await;
        let r = crate::common::call(&app, &client, "/api/system/get_system_health", &[]).await;
        assert_eq!(r.status(), 403, "{role}");
        assert!(!page_html(&app, &client, "/")
            .await
            .contains("href=\"/system\""));
    }
    app.stop().await;
    t.drop_db().await;
}

#[tokio::test]
async fn each_instance_writes_a_heartbeat_with_its_jobs_last_runs() {
    let t = TestDb::seeded(0).await;
    let mut config = test_config(&t.url);
    config.heartbeat = Duration::from_millis(200);
    let app = TestApp::spawn(config.clone()).await;
    let other = TestApp::spawn(config).await;
    let bearer = token(&app, "operator").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seen = Value::Null;
    for _ in 0..50 {
        let (status, health) = api_get(&app, &bearer, "/api/v1/system".into()).await;
        assert_eq!(status, 200);
        let instances = health["instances"].as_array().unwrap().clone();
        let mine = instances.iter().find(|i| i["this_one"] == true).cloned();
        let ran = |i: &Value, job: &str| {
            i["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|j| j["name"] == job && j["ok"] == true)
        };
        // Jobs run once per period across the instances (their lease): each ran on one.
        let ran_somewhere = |job: &str| instances.iter().any(|i| ran(i, job));
        if instances.len() == 2
            && mine.is_some()
            && ran_somewhere("controls_reconcile")
            && ran_somewhere("audit_partitions")
        {
            seen = health;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let instances = seen["instances"]
        .as_array()
        .expect("both instances beat, with their jobs");
    let addresses: Vec<&str> = instances
        .iter()
        .map(|i| i["address"].as_str().unwrap())
        .collect();
    assert!(
        addresses.contains(&app.addr.to_string().as_str()),
        "{addresses:?}"
    );
    assert!(
        addresses.contains(&other.addr.to_string().as_str()),
        "{addresses:?}"
    );
    assert_eq!(
        instances.iter().filter(|i| i["this_one"] == true).count(),
        1
    );
    other.stop().await;
    app.stop().await;
    t.drop_db().await;
}
