//! The Sessions list, called as a browser calls it: filters, both orders and keyset pages of
//! live sessions only, refused values as field errors, the page's links, revocation, and the
//! audited CSV download.

use app::backend::passwords;
use sqlx::PgPool;

use crate::{
    common::{
        audit_count, call, page_html, signed_in, test_config, TestApp, TestDb, DEMO_PASSWORD,
    },
    lists::{Case, ListArea},
};

/// Adds users `sess-0`… `sess-4` and `n` sessions straight into the tables, sessions `i` of
/// user `sess-(i % 5)`: every 3rd an API session, every 7th revoked, every 11th expired, two at
/// a time with the same last activity (a minute apart per pair), created three an hour.
/// Session 1's user agent looks like a formula, session 2's holds a comma.
async fn bulk_sessions(pool: &PgPool, n: i32) {
    let hash = passwords::hash("bulk password".into()).await.unwrap();
    sqlx::query(
        "INSERT INTO deltran.users (username, email, password_hash, role) \
         SELECT 'sess-' || i, 'sess-' || i || '@example.com', $1, 'viewer' \
         FROM generate_series(0, 4) AS i",
    )
    .bind(hash)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO deltran.sessions (user_id, kind, refresh_token_hash, ip_address, \
             user_agent, created_at, last_activity_at, expires_at, revoked_at, revoke_reason) \
         SELECT u.id, CASE WHEN i % 3 = 0 THEN 'api' ELSE 'browser' END, \
                CASE WHEN i % 3 = 0 THEN md5('bulk-session-' || i) END, \
                ('10.0.0.' || i % 250)::inet, \
                CASE i WHEN 1 THEN '=1+1' WHEN 2 THEN 'Agent (X11, Linux)' ELSE 'agent ' || i END, \
                date_trunc('hour', now()) - interval '1 day' - make_interval(mins => i * 20), \
                date_trunc('minute', now()) - make_interval(mins => i / 2 + 1), \
                CASE WHEN i % 11 = 0 THEN now() - interval '1 minute' \
                     ELSE now() + interval '1 day' END, \
                CASE WHEN i % 7 = 0 THEN now() END, \
                CASE WHEN i % 7 = 0 THEN 'test' END \
         FROM generate_series(1, $1) AS i \
         JOIN deltran.users u ON u.username = 'sess-' || i % 5",
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

/// The Sessions list, for the list contract (`crate::lists`).
const SESSIONS: ListArea = ListArea {
    function: "/api/sessions/list_sessions",
    rows: "/rows",
    next: "/next",
    from: "FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id \
           WHERE s.revoked_at IS NULL AND s.expires_at > now()",
    id: "s.id",
    args_in: Some("query"),
    page: "/sessions",
    label: "Sessions",
};

const BY_ACTIVITY: &str = "s.last_activity_at DESC, s.id DESC";
const BY_CREATED: &str = "s.created_at DESC, s.id DESC";

#[tokio::test]
async fn the_list_filters_sorts_and_pages_every_live_session_exactly_once() {
    let t = TestDb::seeded(50).await;
    bulk_sessions(&t.pool, 160).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let live = SESSIONS.expected(&t.pool, "true", BY_ACTIVITY).await;
    // 160 bulk sessions less 22 revoked and 14 expired (2 both), and the admin's own.
    assert_eq!(live.len(), 160 - 22 - 14 + 2 + 1);

    // (arguments, the same condition in SQL, the order in SQL)
    let cases: &[Case] = &[
        (&[], "true", BY_ACTIVITY),
        (&[("sort", "last_activity")], "true", BY_ACTIVITY),
        (&[("sort", "created")], "true", BY_CREATED),
        (&[("kind", "api")], "s.kind = 'api'", BY_ACTIVITY),
        (
            &[("kind", "browser"), ("sort", "created")],
            "s.kind = 'browser'",
            BY_CREATED,
        ),
        // The user filter: part of the username, any case, taken literally.
        (&[("user", "SESS-3")], "u.username = 'sess-3'", BY_ACTIVITY),
        (&[("user", "Ess")], "u.username LIKE 'sess-%'", BY_ACTIVITY),
        (&[("user", "%")], "false", BY_ACTIVITY),
        (&[("user", "_")], "false", BY_ACTIVITY),
        (
            &[("user", "sess-1"), ("kind", "browser"), ("sort", "created")],
            "u.username = 'sess-1' AND s.kind = 'browser'",
            BY_CREATED,
        ),
        // Blank values are no filter (what the GET form sends for "Any").
        (&[("user", ""), ("kind", " ")], "true", BY_ACTIVITY),
    ];
    SESSIONS
        .pages_every_row_once(&app, &admin, &t.pool, cases)
        .await;
    let everyone = SESSIONS.walk(&app, &admin, &[("sort", "created")]).await;
    assert_eq!(
        everyone.len(),
        live.len(),
        "three pages hold every live session"
    );

    let (first, next) = SESSIONS.page(&app, &admin, &[]).await;
    assert_eq!(first.len(), 50);
    let admins: String = sqlx::query_scalar(
        "SELECT s.id::text FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id \
         WHERE u.username = 'admin'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(first[0], admins, "the newest activity first");
    assert!(next.is_some());
    let empty = SESSIONS
        .page(&app, &admin, &[("user", "nobody-has-this")])
        .await;
    assert!(empty.0.is_empty() && empty.1.is_none());

    // A revoked session leaves the list.
    let gone = first[1].clone();
    let r = call(
        &app,
        &admin,
        "/api/sessions/revoke_session",
        &[("session_id", gone.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(!SESSIONS.walk(&app, &admin, &[]).await.contains(&gone));
    t.drop_db().await;
}

#[tokio::test]
async fn unknown_filter_values_and_foreign_cursors_are_field_errors() {
    let t = TestDb::seeded(50).await;
    bulk_sessions(&t.pool, 80).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let by_activity = SESSIONS.page(&app, &admin, &[]).await.1.unwrap();
    let long = "x".repeat(101);
    let refused = [
        (vec![("kind", "pigeon")], "kind"),
        (vec![("sort", "age")], "sort"),
        (vec![("user", long.as_str())], "user"),
        // A Users cursor, and a cursor of the activity order under the created order.
        (vec![("after", "u.admin")], "after"),
        (
            vec![("sort", "created"), ("after", by_activity.as_str())],
            "after",
        ),
    ];
    SESSIONS.refuses(&app, &admin, &refused).await;

    // The page shows what is wrong instead of failing.
    let html = page_html(&app, &admin, "/sessions?kind=pigeon").await;
    assert!(html.contains("These filters cannot be used"), "{html}");
    assert!(html.contains("unknown kind"), "{html}");
    t.drop_db().await;
}

#[tokio::test]
async fn the_page_holds_filters_sort_and_cursor_in_its_links() {
    let t = TestDb::seeded(50).await;
    bulk_sessions(&t.pool, 160).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    SESSIONS
        .page_links(
            &app,
            &admin,
            "user=sess&sort=created",
            Some("/downloads/sessions.csv"),
            (
                "user=nobody-has-this",
                "No live sessions match these filters.",
            ),
        )
        .await;
    let html = page_html(&app, &admin, "/sessions?user=sess").await;
    assert!(html.contains(r#"aria-label="Filter sessions""#));
    assert!(html.contains("Revoke all of this user"));
    t.drop_db().await;
}

#[tokio::test]
async fn the_csv_export_streams_the_filtered_sessions_and_is_audited() {
    let t = TestDb::seeded(50).await;
    bulk_sessions(&t.pool, 160).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let exports = || audit_count(&t.pool, "sessions.export", None);

    let csv = SESSIONS
        .exports(
            &app,
            &admin,
            &t.pool,
            (
                "/downloads/sessions.csv?kind=browser&sort=created&user=",
                "sessions.export",
                "username,kind,address,user_agent,created_at,last_activity_at,expires_at,user_id,id",
            ),
            ("s.kind = 'browser'", BY_CREATED),
        )
        .await;
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert!(lines[1..]
        .iter()
        .all(|l| l.split(',').nth(1) == Some("browser")));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("sess-1,browser,10.0.0.1,'=1+1,")),
        "a formula is made text"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("sess-2,browser,10.0.0.2,\"Agent (X11, Linux)\",")),
        "a comma is quoted"
    );
    let (actor, resource_type, kind, sort, user): (String, String, String, String, Option<String>) =
        sqlx::query_as(
            "SELECT actor_name, resource_type, metadata->'filter'->>'kind', \
                    metadata->'filter'->>'sort', metadata->'filter'->>'user' \
             FROM deltran.audit_log WHERE action = 'sessions.export'",
        )
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(
        (
            actor.as_str(),
            resource_type.as_str(),
            kind.as_str(),
            sort.as_str(),
            user
        ),
        ("admin", "session", "browser", "created", None)
    );

    // The whole list.
    let r = admin
        .get(app.url("/downloads/sessions.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    let live = SESSIONS.expected(&t.pool, "true", BY_ACTIVITY).await;
    assert_eq!(csv.split_terminator("\r\n").count(), 1 + live.len());
    assert_eq!(exports().await, 2);

    // Refusals: no session, roles without sessions.manage (audited), a bad filter.
    let r = app
        .new_client()
        .get(app.url("/downloads/sessions.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let denied_before = audit_count(&t.pool, "access.denied", None).await;
    for role in ["viewer", "operator", "auditor"] {
        let client = signed_in(&app, role, DEMO_PASSWORD).await;
        let r = client
            .get(app.url("/downloads/sessions.csv?kind=api"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{role}");
        assert!(!r.text().await.unwrap().contains("sess-"));
    }
    assert_eq!(
        audit_count(&t.pool, "access.denied", None).await,
        denied_before + 3
    );
    let r = admin
        .get(app.url("/downloads/sessions.csv?kind=pigeon"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("kind: unknown kind"));
    assert_eq!(exports().await, 2, "refused exports write no export row");
    t.drop_db().await;
}
