//! The running application over HTTP: probes, pages, server functions, error pages.

use crate::common::{test_config, TestApp, TestDb, DEMO_PASSWORD};

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

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("deltran_console_http_responses_total{class=\"2xx\"}"),
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
