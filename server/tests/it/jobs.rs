//! Background jobs start and stop with the application: nothing a test app started goes on
//! writing after it stopped (into the next test's Redis keys, files or databases).

use std::{path::Path, time::Duration};

use app::backend::audit::anchor;

use crate::common::{redis_keys, test_config, TestApp, TestDb};

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
