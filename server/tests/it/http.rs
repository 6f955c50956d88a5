//! The running application over HTTP: probes, pages, server functions, error pages.

use crate::common::{audit_count, signed_in, test_config, TestApp, TestDb, DEMO_PASSWORD};

#[tokio::test]
async fn probes_report_what_is_down() {
    let t = TestDb::migrated().await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");

    let mut config = test_config(&t.url);
    config.redis_url = "redis://127.0.0.1:1".into();
    let no_redis = TestApp::spawn(config).await;
    let r = no_redis
        .client
        .get(no_redis.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!(["redis"]));

    let no_pg = TestApp::spawn(test_config("postgres://postgres@127.0.0.1:1/none")).await;
    let r = no_pg.client.get(no_pg.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!(["postgres"]));
    assert_eq!(
        no_pg
            .client
            .get(no_pg.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A server function and a page with an id in its path count under their routes.
    let r = app
        .client
        .post(app.url("/api/auth/current_user"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    app.client.get(app.url("/audit/12")).send().await.unwrap();
    app.client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();

    // Responses by route, method and status class, their latency, the pool, and the jobs
    // (the daily job's first run starts with the app; its end is waited for).
    let has = |text: &str, start: &str, labels: &[&str]| {
        text.lines()
            .any(|l| l.starts_with(start) && labels.iter().all(|x| l.contains(x)))
    };
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let job = ["job=\"audit_partitions\"", "result=\"ok\""];
        if has(&metrics, "deltran_console_job_runs_total{", &job) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let healthz = ["route=\"/healthz\"", "method=\"GET\"", "class=\"2xx\""];
    let r = "deltran_console_http_responses_total{";
    assert!(has(&metrics, r, &healthz), "{metrics}");
    assert!(
        has(&metrics, r, &["route=\"/readyz\"", "class=\"5xx\""]),
        "{metrics}"
    );
    let server_fn = ["route=\"/api/auth/current_user\"", "method=\"POST\""];
    assert!(has(&metrics, r, &server_fn), "{metrics}");
    assert!(!metrics.contains("/audit/12"), "{metrics}");
    assert!(!metrics.contains("/no/such/page"), "{metrics}");
    let d = "deltran_console_http_request_duration_seconds_bucket{";
    assert!(has(&metrics, d, &[healthz[0], "le=\"0.005\""]), "{metrics}");
    let primary = ["pool=\"primary\""];
    for gauge in [
        "deltran_console_db_pool_connections{",
        "deltran_console_db_pool_idle{",
        "deltran_console_db_pool_max_connections{",
    ] {
        assert!(has(&metrics, gauge, &primary), "{metrics}");
    }
    let job = ["job=\"audit_partitions\"", "result=\"ok\""];
    assert!(
        has(&metrics, "deltran_console_job_runs_total{", &job),
        "{metrics}"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn the_dashboard_renders_figures_from_the_database() {
    let t = TestDb::seeded(400).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let r = app.sign_in(&app.client, "viewer", DEMO_PASSWORD).await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let html = r.text().await.unwrap();
    assert!(html.contains("Payments today"), "{html}");
    assert!(html.contains("Open compliance reviews"));
    assert!(
        html.contains("Daily volume in USD"),
        "the chart shows the largest currency first"
    );

    let today: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.payments WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    let r = app
        .client
        .post(app.url("/api/dashboard/get_summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let summary: app::dashboard::DashboardSummary = r.json().await.unwrap();
    assert_eq!(summary.today_total(), today);
    assert_eq!(summary.active_banks, 23);
    assert_eq!(summary.volume_days, 30);
    assert!(summary.volume.iter().all(|v| v.days.len() == 30));
    t.drop_db().await;
}

#[tokio::test]
async fn errors_never_show_internals() {
    let t = TestDb::migrated().await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let r = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Page not found"));

    // With Postgres gone, a server function answers with a message, not the driver's error.
    let down = TestApp::spawn(test_config("postgres://postgres@127.0.0.1:1/none")).await;
    let r = down.sign_in(&down.client, "viewer", DEMO_PASSWORD).await;
    assert_eq!(r.status(), 503, "sign-in is unavailable without Postgres");
    let body = r.text().await.unwrap();
    assert!(body.contains("Unavailable"), "{body}");
    assert!(
        !body.to_lowercase().contains("connection refused"),
        "{body}"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_anything_reads_them() {
    let t = TestDb::migrated().await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let nobody = format!("nobody-{}", uuid::Uuid::new_v4().simple());
    let huge = "x".repeat(1 << 20);
    let r = app.post_login(&app.client, &nobody, &huge, None).await;
    assert_eq!(r.status(), 413, "a 1 MiB sign-in");
    assert_eq!(
        audit_count(&t.pool, "auth.login", None).await,
        0,
        "the sign-in never ran"
    );
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&serde_json::json!({ "username": "viewer", "password": huge }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "a 1 MiB REST call");
    // A small body still gets through.
    let r = app
        .post_login(&app.client, &nobody, "wrong password", None)
        .await;
    assert_eq!(r.status(), 401);
    t.drop_db().await;
}

#[tokio::test]
async fn slow_requests_time_out_but_downloads_stream_on() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let mut config = test_config(&t.url);
    config.request_timeout = std::time::Duration::from_millis(1);
    config.redis_prefix = app.redis_prefix.clone();
    let hasty = TestApp::spawn(config).await;

    // A sign-in hashes a password: far longer than a millisecond.
    let r = hasty
        .post_login(&hasty.new_client(), "viewer", DEMO_PASSWORD, None)
        .await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));

    // The session (same Redis, same database) downloads from the hasty app in full.
    let r = auditor
        .get(hasty.url("/downloads/audit?format=csv"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("audit.export"));
    t.drop_db().await;
}

#[tokio::test]
async fn the_server_chooses_the_request_id_and_keeps_a_sane_client_id_beside_it() {
    let t = TestDb::migrated().await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let nobody = format!("nobody-{}", uuid::Uuid::new_v4().simple());
    let login = |client_id: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("x-request-id", client_id)
            .form(&[
                ("username", nobody.as_str()),
                ("password", "wrong password"),
            ])
            .send()
    };
    let r = login("client-chosen-1").await.unwrap();
    assert_eq!(r.status(), 401);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, "client-chosen-1");
    uuid::Uuid::parse_str(&id).expect("the server's own id");
    let r = login("not sane: spaces").await.unwrap();
    assert_eq!(r.status(), 401);

    let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT request_id, metadata->>'client_request_id' FROM deltran.audit_log \
         WHERE action = 'auth.login' ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], (Some(id), Some("client-chosen-1".into())));
    assert!(rows[1].0.is_some() && rows[1].1.is_none(), "{rows:?}");
    // What is hashed is what is stored.
    let report = app::backend::audit::verify::verify(&t.pool, None, None, |_, _| {})
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    t.drop_db().await;
}

#[tokio::test]
async fn metrics_answer_this_machine_or_the_metrics_token_only() {
    let t = TestDb::migrated().await;
    let mut config = test_config(&t.url);
    config.metrics_token = Some("metrics-token-for-the-test".into());
    let app = TestApp::spawn(config).await;
    let get = |bearer: Option<&'static str>| {
        // As a proxy on this machine relays a request from elsewhere.
        let mut req = app
            .client
            .get(app.url("/metrics"))
            .header("x-forwarded-for", "203.0.113.9");
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(get(Some("wrong-token")).await.unwrap().status(), 401);
    let r = get(Some("metrics-token-for-the-test")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("deltran_console_http_responses_total{"));
    // Straight from this machine, no token needed.
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    t.drop_db().await;
}
