//! The audit page's server functions and downloads, called as the browser calls them (with
//! the session cookie): filtered keyset paging, a row's detail, verification with progress,
//! and the audited CSV / JSON lines / evidence pack downloads.

use std::time::Duration;

use app::audit::{AuditPage, AuditRow, VerifyProgress};
use sqlx::{AssertSqlSafe, Executor};

use crate::common::{
    assert_field_error, audit_count, call, count, signed_in, test_config, TestApp, TestDb,
    DEMO_PASSWORD,
};
use crate::lists::{Case, ListArea};

/// The audit log's list, for the list contract (`crate::lists`).
const AUDIT: ListArea = ListArea {
    function: "/api/audit/list_audit",
    rows: "/rows",
    next: "/next",
    from: "FROM deltran.audit_log WHERE true",
    id: "id",
    args_in: Some("query"),
    page: "/audit",
    label: "Audit log",
};

#[tokio::test]
async fn the_list_keeps_the_list_contract() {
    let t = TestDb::seeded(200).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let newest = "\"timestamp\" DESC, id DESC";
    let cases: [Case; 3] = [
        (&[("result", "success")], "result = 'success'", newest),
        (
            &[("actor", "operator"), ("from", "2000-01-01T00:00")],
            "actor_name = 'operator'",
            newest,
        ),
        (&[("action", "no.such.action")], "false", newest),
    ];
    let successes = AUDIT.expected(&t.pool, cases[0].1, newest).await;
    assert!(successes.len() > 100, "the first case spans pages");
    AUDIT
        .pages_every_row_once(&app, &auditor, &t.pool, &cases)
        .await;
    let refused = [
        (vec![("result", "ok")], "result"),
        (vec![("from", "yesterday")], "from"),
        (
            vec![("from", "2026-12-01T00:00"), ("to", "2026-11-01T00:00")],
            "to",
        ),
    ];
    AUDIT.refuses(&app, &auditor, &refused).await;
    t.drop_db().await;
}

/// One page of the audit log, as the page asks for it.
async fn list(app: &TestApp, client: &reqwest::Client, form: &[(&str, &str)]) -> AuditPage {
    let r = call(app, client, "/api/audit/list_audit", form).await;
    assert!(r.status().is_success(), "{form:?}: {}", r.status());
    r.json().await.unwrap()
}

/// Starts a verification and polls it to the end, as the page does.
async fn verify(app: &TestApp, client: &reqwest::Client, form: &[(&str, &str)]) -> VerifyProgress {
    let r = call(app, client, "/api/audit/start_verification", form).await;
    assert!(r.status().is_success(), "{}", r.status());
    let job: uuid::Uuid = r.json().await.unwrap();
    for _ in 0..600 {
        let job = job.to_string();
        let r = call(
            app,
            client,
            "/api/audit/verification_progress",
            &[("job", &job)],
        )
        .await;
        assert!(r.status().is_success(), "{}", r.status());
        let p: VerifyProgress = r.json().await.unwrap();
        if p.finished() {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the verification did not finish");
}

#[tokio::test]
async fn an_auditor_pages_through_a_filter_and_opens_a_row() {
    let t = TestDb::seeded(200).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;

    // No filters at all (what the page sends for /audit): the newest rows.
    let first = list(&app, &auditor, &[]).await;
    assert_eq!(first.rows.len(), 50);
    assert!(first.next.is_some());

    // Every row of the filter, page by page, exactly once, newest first.
    let action: String = sqlx::query_scalar(
        "SELECT action FROM deltran.audit_log GROUP BY action ORDER BY count(*) DESC LIMIT 1",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    let expected = audit_count(&t.pool, &action, None).await;
    assert!(expected > 50, "the seed has more than a page of {action}");
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut form = vec![("query[action]", action.as_str())];
        if let Some(a) = &after {
            form.push(("query[after]", a));
        }
        let page = list(&app, &auditor, &form).await;
        assert!(page.rows.len() <= 50);
        assert!(page.rows.iter().all(|r| r.action == action));
        seen.extend(page.rows.iter().map(|r| (r.timestamp, r.id)));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, expected);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );

    // A row's detail is the stored row.
    let id = seen[0].1.to_string();
    let r = call(&app, &auditor, "/api/audit/get_audit_row", &[("id", &id)]).await;
    let row: AuditRow = r.json().await.unwrap();
    assert_eq!(row.id, seen[0].1);
    assert_eq!(row.action, action);
    let r = call(
        &app,
        &auditor,
        "/api/audit/get_audit_row",
        &[("id", "999999999")],
    )
    .await;
    assert_eq!(r.status(), 404);

    // Bad filters are field errors.
    for (form, field) in [
        (vec![("query[result]", "ok")], "result"),
        (vec![("query[after]", "junk")], "after"),
        (
            vec![
                ("query[from]", "2026-12-01T00:00"),
                ("query[to]", "2026-11-01T00:00"),
            ],
            "to",
        ),
    ] {
        assert_field_error(&app, &auditor, "/api/audit/list_audit", &form, field).await;
    }

    // A viewer is refused, and the refusal is in the log for the auditor to find.
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    assert_eq!(
        call(&app, &viewer, "/api/audit/list_audit", &[])
            .await
            .status(),
        403
    );
    let denied = list(
        &app,
        &auditor,
        &[("query[result]", "denied"), ("query[actor]", "viewer")],
    )
    .await;
    assert_eq!(denied.rows[0].action, "access.denied");
    assert_eq!(denied.rows[0].resource_id.as_deref(), Some("audit.view"));
    t.drop_db().await;
}

#[tokio::test]
async fn verification_reports_progress_then_intact_or_the_first_broken_row() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;

    let done = verify(&app, &auditor, &[]).await;
    let report = done.report.expect("a report");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checked as i64, count(&t.pool, "audit_log").await);
    assert!(report.anchor.is_some(), "compared with the start-up anchor");
    assert!(
        report.summary().starts_with("Intact: "),
        "{}",
        report.summary()
    );

    // Someone with database access edits a row: the page names it.
    let mut conn = t.pool.acquire().await.unwrap();
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    conn.execute(AssertSqlSafe(
        "UPDATE deltran.audit_log SET actor_name = 'mallory' WHERE id = 7".to_string(),
    ))
    .await
    .unwrap();
    conn.execute("SET session_replication_role = origin")
        .await
        .unwrap();
    drop(conn);
    let report = verify(&app, &auditor, &[]).await.report.unwrap();
    assert!(!report.ok);
    let broken = report.first_broken.clone().unwrap();
    assert_eq!((broken.id, broken.reason.as_str()), (7, "hash mismatch"));
    assert_eq!(report.summary(), "Broken at row 7: hash mismatch.");

    // A bad range is a field error; another user cannot read the job.
    let r = call(
        &app,
        &auditor,
        "/api/audit/start_verification",
        &[("from", "soon")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = call(&app, &auditor, "/api/audit/start_verification", &[]).await;
    let job: uuid::Uuid = r.json().await.unwrap();
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let r = call(
        &app,
        &admin,
        "/api/audit/verification_progress",
        &[("job", &job.to_string())],
    )
    .await;
    assert_eq!(r.status(), 404);
    t.drop_db().await;
}

#[tokio::test]
async fn downloads_stream_the_filtered_rows_and_are_audited() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let logins = audit_count(&t.pool, "auth.login", None).await;
    assert!(logins > 0);

    let r = auditor
        .get(app.url("/downloads/audit?format=csv&action=auth.login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"audit-"));
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("id,"));
    assert_eq!(lines.count() as i64, logins);
    assert_eq!(audit_count(&t.pool, "audit.export", None).await, 1);

    let r = auditor
        .get(app.url("/downloads/audit?format=jsonl&result=denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    for line in body.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["result"], "denied");
    }

    let r = auditor
        .get(app.url("/downloads/audit-evidence?action=auth.login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-tar");
    let tar = r.bytes().await.unwrap();
    let names: Vec<&str> = ["audit-export.jsonl", "verification.json", "manifest.json"]
        .into_iter()
        .filter(|n| tar.windows(n.len()).any(|w| w == n.as_bytes()))
        .collect();
    assert_eq!(
        names.len(),
        3,
        "the pack holds the export, verification and manifest"
    );
    assert_eq!(audit_count(&t.pool, "audit.export", None).await, 3);

    // Bad input: a clear message, nothing exported, nothing recorded.
    let r = auditor
        .get(app.url("/downloads/audit?format=xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.text().await.unwrap(), "format: csv or jsonl");
    assert_eq!(audit_count(&t.pool, "audit.export", None).await, 3);
    t.drop_db().await;
}

#[tokio::test]
async fn verifications_run_one_per_user_and_two_at_once() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let other = crate::users::fresh("auditor2");
    crate::users::make_user(
        &t.pool,
        &other,
        app::domain::Role::Auditor,
        "second auditor password",
    )
    .await;
    let auditor2 = signed_in(&app, &other, "second auditor password").await;
    // Hold the audit log so that the verifications started below stay running.
    let mut hold = t.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE deltran.audit_log IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await
        .unwrap();
    const START: &str = "/api/audit/start_verification";
    let first = call(&app, &auditor, START, &[]).await;
    assert_eq!(first.status(), 200);
    let job: uuid::Uuid = first.json().await.unwrap();
    let again = call(&app, &auditor, START, &[]).await;
    assert_eq!(again.status(), 429, "one running verification per user");
    assert!(again.headers().contains_key("retry-after"));
    assert_eq!(call(&app, &admin, START, &[]).await.status(), 200);
    let third = call(&app, &auditor2, START, &[]).await;
    assert_eq!(third.status(), 429, "two run already");
    hold.rollback().await.unwrap();

    // Once the first has finished, its user may start another.
    for _ in 0..200 {
        let r = call(
            &app,
            &auditor,
            "/api/audit/verification_progress",
            &[("job", &job.to_string())],
        )
        .await;
        let p: VerifyProgress = r.json().await.unwrap();
        if p.finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(verify(&app, &auditor, &[]).await.report.unwrap().ok);
    t.drop_db().await;
}

#[tokio::test]
async fn downloads_refuse_other_sites_and_check_the_permission_before_the_query() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let exports = || audit_count(&t.pool, "audit.export", None);
    let before = exports().await;
    for path in ["/downloads/audit?format=csv", "/downloads/audit-evidence"] {
        for site in ["cross-site", "same-site"] {
            let r = auditor
                .get(app.url(path))
                .header("sec-fetch-site", site)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{path} from {site}");
        }
        // A browser without Sec-Fetch-Site, on another site's page.
        let r = auditor
            .get(app.url(path))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path} from evil.example");
    }
    assert_eq!(exports().await, before, "no refused download was exported");
    for site in ["same-origin", "none"] {
        let r = auditor
            .get(app.url("/downloads/audit?format=csv"))
            .header("sec-fetch-site", site)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{site}");
    }
    assert_eq!(exports().await, before + 2);

    // A malformed query tells an anonymous caller nothing: 401 comes first. (A repeated
    // parameter reads as its values joined by commas, which `format` refuses.)
    let anonymous = app.new_client();
    for path in [
        "/downloads/audit?format=csv&format=jsonl",
        "/downloads/audit-evidence?from=yesterday",
    ] {
        let r = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let r = auditor.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 422, "{path} as auditor");
    }
    t.drop_db().await;
}
