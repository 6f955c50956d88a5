//! Background jobs start and stop with the application: nothing a test app started goes on
//! writing after it stopped (into the next test's Redis keys, files or databases).

use std::{path::Path, time::Duration};

use app::backend::audit::anchor;
use sqlx::Executor;

use crate::common::{call, redis_keys, signed_in, test_config, TestApp, TestDb, DEMO_PASSWORD};

fn anchor_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("anchor-"))
            .count()
    })
}

#[tokio::test]
async fn the_anchor_job_runs_while_the_app_runs_and_stops_with_it() {
    let t = TestDb::seeded(50).await;
    let mut config = test_config(&t.url);
    config.audit_anchor_interval = Duration::from_millis(50);
    let app = TestApp::spawn(config).await;
    let dir = anchor::anchor_dir(&app.data_dir);
    let prefix = app.redis_prefix.clone();
    let background = app.background.clone();

    // Running: one anchor at start-up, then one every interval.
    let mut waited = Duration::ZERO;
    while anchor_files(&dir) < 3 {
        assert!(
            waited < Duration::from_secs(20),
            "the anchor job writes anchors ({} so far)",
            anchor_files(&dir)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
        waited += Duration::from_millis(25);
    }
    assert!(
        background.running() >= 2,
        "the daily and the anchor job run"
    );
    assert_eq!(
        redis_keys(&format!("{prefix}audit:anchor")).await.len(),
        1,
        "the anchor's copy is in Redis"
    );

    // Stopped: run_until returns only after its jobs ended, and the app's files and keys go.
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the app stops within the grace");
    assert!(background.is_stopping());
    assert_eq!(background.running(), 0, "no job outlives the app");
    assert!(!dir.exists(), "the test app's data directory is removed");
    assert!(redis_keys(&format!("{prefix}*")).await.is_empty());

    // Twenty intervals later, nothing wrote a new anchor (it would recreate the directory) or
    // copied one to Redis.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!dir.exists(), "an anchor was written after the app stopped");
    assert!(
        redis_keys(&format!("{prefix}*")).await.is_empty(),
        "a key was written after the app stopped"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn a_verification_stuck_in_postgres_is_stopped_with_the_app_and_says_so() {
    let t = TestDb::seeded(50).await;
    let mut config = test_config(&t.url);
    config.shutdown_grace = Duration::from_secs(2);
    let mut app = TestApp::spawn(config).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let jobs_before = app.background.running();

    // Nobody reads the audit log while this transaction holds its lock: the job hangs.
    let mut lock = t.pool.begin().await.unwrap();
    lock.execute("LOCK TABLE deltran.audit_log IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let r = call(&app, &auditor, "/api/audit/start_verification", &[]).await;
    assert!(r.status().is_success(), "{}", r.status());
    let job: uuid::Uuid = r.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        app.background.running() > jobs_before,
        "the verification is one of the app's tasks"
    );

    // The job ends at once; the pool's close then waits for the connection of the dropped
    // query, which Postgres answers only after the lock: the grace bounds that wait.
    tokio::time::timeout(Duration::from_secs(10), app.shut_down())
        .await
        .expect("the app stops within its grace although its verification waits for Postgres");
    assert_eq!(app.background.running(), 0);
    let stored: String = redis::AsyncCommands::get(
        &mut server::db::redis(&crate::common::redis_url()).unwrap(),
        format!("{}audit:verify:{job}", app.redis_prefix),
    )
    .await
    .unwrap();
    let progress: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let error = progress["progress"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("console stopped"), "{stored}");

    lock.rollback().await.unwrap();
    drop(app);
    t.drop_db().await;
}

#[tokio::test]
async fn two_instances_on_one_database_run_each_job_once_per_period_and_share_sessions() {
    let t = TestDb::seeded(50).await;
    let mut config = test_config(&t.url);
    config.control_reconcile = Duration::from_secs(1);
    config.audit_anchor_interval = Duration::from_secs(1);
    // The same Redis keys (sessions), a data directory of its own.
    let mut second = config.clone();
    second.data_dir =
        std::env::temp_dir().join(format!("deltran-test-{}", uuid::Uuid::new_v4().simple()));
    let a = TestApp::spawn(config).await;
    let b = TestApp::spawn(second).await;
    let window = Duration::from_millis(5500);
    tokio::time::sleep(window).await;

    // Runs of each job on both instances together: one a period, not one per instance a period.
    let runs = |job: &str| {
        let count = |app: &TestApp| app.background.runs().get(job).map_or(0, |r| r.runs);
        (count(&a), count(&b))
    };
    for job in ["controls_reconcile", "controls_expire", "audit_anchor"] {
        let (on_a, on_b) = runs(job);
        let periods = window.as_secs_f64().ceil() as u64; // 1 s periods, the first at start-up
        assert!(
            (periods - 2..=periods + 1).contains(&(on_a + on_b)),
            "{job}: {on_a} runs on one instance and {on_b} on the other in {window:?} of 1 s periods"
        );
    }
    let (on_a, on_b) = runs("audit_partitions");
    assert_eq!(
        on_a + on_b,
        1,
        "the daily housekeeping ran once, on whichever instance claimed the day first"
    );
    let leases: Vec<(String, i64)> =
        sqlx::query_as("SELECT job, runs FROM deltran.job_leases ORDER BY job")
            .fetch_all(&t.pool)
            .await
            .unwrap();
    let jobs: Vec<&str> = leases.iter().map(|(job, _)| job.as_str()).collect();
    assert_eq!(jobs, ["audit_anchor", "controls", "housekeeping"]);

    // A session opened on one instance works on the other.
    let operator = signed_in(&a, "operator", DEMO_PASSWORD).await;
    for app in [&a, &b] {
        let r = operator.get(app.url("/payments")).send().await.unwrap();
        assert_eq!(r.status(), 200, "the session works on {}", app.addr);
    }
    b.stop().await;
    a.stop().await;
    t.drop_db().await;
}
