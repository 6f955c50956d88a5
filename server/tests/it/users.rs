//! The Users and Sessions server functions, called as a browser calls them (form-encoded
//! POSTs with the session cookie): creation, four-eyes role changes, deactivation, unlocking,
//! and the audit row each leaves.

use app::{
    backend::{
        audit::Actor,
        db::users::{self, NewUser},
        passwords,
    },
    domain::Role,
    error::AppError,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::{count, enrol_two_factor, test_config, TestApp, TestDb, DEMO_PASSWORD};

/// A username no other test uses (the Redis failure counters are shared).
fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}

fn error(body: &str) -> AppError {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an AppError ({e}): {body}"))
}

async fn audit_count(pool: &PgPool, action: &str, resource_id: Option<Uuid>) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = $1 \
         AND ($2::text IS NULL OR resource_id = $2)",
    )
    .bind(action)
    .bind(resource_id.map(|u| u.to_string()))
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn signed_in(app: &TestApp, username: &str, password: &str) -> reqwest::Client {
    let client = app.new_client();
    let r = app.sign_in(&client, username, password).await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{username} signs in: {}",
        r.status()
    );
    client
}

/// Creates a user directly in the database (as the CLI would); admins get 2FA, as they must
/// have it (`TEST_TOTP_SECRET`).
async fn make_user(pool: &PgPool, username: &str, role: Role, password: &str) -> Uuid {
    let mut tx = pool.begin().await.unwrap();
    let id = users::create(
        &mut tx,
        &NewUser {
            username: username.into(),
            email: format!("{username}@example.com"),
            role,
            password_hash: passwords::hash(password.into()).await.unwrap(),
        },
        Actor::system("test"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    if role == Role::Admin {
        enrol_two_factor(pool, id).await;
    }
    id
}

#[tokio::test]
async fn an_admin_creates_users_and_a_duplicate_is_a_field_error_that_writes_nothing() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let name = fresh("newbie");
    let email = format!("{name}@example.com");
    let form = [
        ("username", name.as_str()),
        ("email", email.as_str()),
        ("role", "operator"),
        ("password", "a long enough password"),
    ];
    let r = call(&app, &admin, "/api/users/create_user", &form).await;
    assert_eq!(r.status(), 200);
    let id: Uuid = r.json().await.unwrap();
    let role: Role = sqlx::query_scalar("SELECT role FROM deltran.users WHERE id = $1")
        .bind(id)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(role, Role::Operator);
    assert_eq!(audit_count(&t.pool, "user.create", Some(id)).await, 1);
    // The new user can sign in.
    signed_in(&app, &name, "a long enough password").await;

    let users_before = count(&t.pool, "users").await;
    let audit_before = count(&t.pool, "audit_log").await;
    let other_email = format!("other-{name}@example.com");
    let r = call(
        &app,
        &admin,
        "/api/users/create_user",
        &[
            ("username", name.as_str()),
            ("email", other_email.as_str()),
            ("role", "viewer"),
            ("password", "a long enough password"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let AppError::Validation { field_errors } = error(&r.text().await.unwrap()) else {
        panic!("not a validation error");
    };
    assert!(field_errors.contains_key("username"), "{field_errors:?}");
    // A short password is a field error too.
    let r = call(
        &app,
        &admin,
        "/api/users/create_user",
        &[
            ("username", "someone-else"),
            ("email", "someone-else@example.com"),
            ("role", "viewer"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let AppError::Validation { field_errors } = error(&r.text().await.unwrap()) else {
        panic!("not a validation error");
    };
    assert!(field_errors.contains_key("password"), "{field_errors:?}");
    assert_eq!(count(&t.pool, "users").await, users_before);
    assert_eq!(count(&t.pool, "audit_log").await, audit_before);

    // The list has the new user.
    let r = call(&app, &admin, "/api/users/list_users", &[]).await;
    assert_eq!(r.status(), 200);
    let overview: app::users::UsersOverview = r.json().await.unwrap();
    assert!(overview
        .users
        .iter()
        .any(|u| u.id == id && u.email == email));
    t.drop_db().await;
}

#[tokio::test]
async fn an_auditor_lists_users_but_may_not_create_them() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let r = call(&app, &auditor, "/api/users/list_users", &[]).await;
    assert_eq!(r.status(), 200);
    let overview: app::users::UsersOverview = r.json().await.unwrap();
    assert!(overview.users.iter().any(|u| u.username == "admin"));
    let users_before = count(&t.pool, "users").await;
    let r = call(
        &app,
        &auditor,
        "/api/users/create_user",
        &[
            ("username", "sneaky"),
            ("email", "sneaky@example.com"),
            ("role", "admin"),
            ("password", "a long enough password"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(count(&t.pool, "users").await, users_before);
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let r = call(&app, &viewer, "/api/users/list_users", &[]).await;
    assert_eq!(r.status(), 403);
    let r = call(&app, &auditor, "/api/sessions/list_sessions", &[]).await;
    assert_eq!(r.status(), 403);
    t.drop_db().await;
}

#[tokio::test]
async fn raising_to_admin_waits_for_a_second_admin() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let second = fresh("admin2");
    make_user(&t.pool, &second, Role::Admin, "second admin password").await;
    let target_name = fresh("riser");
    let target = make_user(&t.pool, &target_name, Role::Operator, "riser password 1").await;
    let target_client = signed_in(&app, &target_name, "riser password 1").await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let admin2 = signed_in(&app, &second, "second admin password").await;
    let role_of = || async {
        sqlx::query_scalar::<_, Role>("SELECT role FROM deltran.users WHERE id = $1")
            .bind(target)
            .fetch_one(&t.pool)
            .await
            .unwrap()
    };

    let target_id = target.to_string();
    let r = call(
        &app,
        &admin,
        "/api/users/change_role",
        &[
            ("user_id", target_id.as_str()),
            ("role", "admin"),
            ("reason", "covers the night shift"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let outcome: app::users::RoleChangeOutcome = r.json().await.unwrap();
    assert_eq!(outcome, app::users::RoleChangeOutcome::Pending);
    assert_eq!(role_of().await, Role::Operator, "not in effect yet");
    assert_eq!(
        audit_count(&t.pool, "user.role_change_requested", Some(target)).await,
        1
    );
    let r = call(&app, &admin, "/api/users/list_users", &[]).await;
    let overview: app::users::UsersOverview = r.json().await.unwrap();
    let request = overview
        .pending
        .iter()
        .find(|p| p.user_id == target)
        .expect("the request is pending");
    assert_eq!(request.requested_by, "admin");
    let request_id = request.id.to_string();

    // The requester cannot approve their own request.
    let r = call(
        &app,
        &admin,
        "/api/users/approve_role_change",
        &[("request_id", request_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(role_of().await, Role::Operator);
    assert_eq!(
        audit_count(&t.pool, "user.role_change_approved", Some(target)).await,
        0
    );

    // Another admin can.
    let r = call(
        &app,
        &admin2,
        "/api/users/approve_role_change",
        &[("request_id", request_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(role_of().await, Role::Admin);
    assert_eq!(
        audit_count(&t.pool, "user.role_change_approved", Some(target)).await,
        1
    );
    assert_eq!(
        audit_count(&t.pool, "user.role_changed", Some(target)).await,
        1
    );
    let status: String =
        sqlx::query_scalar("SELECT status FROM deltran.role_change_requests WHERE id = $1::uuid")
            .bind(&request_id)
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(status, "approved");
    // The role change ended the user's session.
    let r = call(&app, &target_client, "/api/dashboard/get_summary", &[]).await;
    assert_eq!(r.status(), 401);

    // Lowering a role takes effect at once.
    let r = call(
        &app,
        &admin,
        "/api/users/change_role",
        &[
            ("user_id", target_id.as_str()),
            ("role", "viewer"),
            ("reason", "shift over"),
        ],
    )
    .await;
    let outcome: app::users::RoleChangeOutcome = r.json().await.unwrap();
    assert_eq!(outcome, app::users::RoleChangeOutcome::Changed);
    assert_eq!(role_of().await, Role::Viewer);
    assert_eq!(
        audit_count(&t.pool, "user.role_changed", Some(target)).await,
        2
    );
    t.drop_db().await;
}

#[tokio::test]
async fn deactivation_ends_the_users_live_session() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let name = fresh("leaver");
    let id = make_user(&t.pool, &name, Role::Operator, "leaver password 1").await;
    let leaver = signed_in(&app, &name, "leaver password 1").await;
    let r = call(&app, &leaver, "/api/dashboard/get_summary", &[]).await;
    assert_eq!(r.status(), 200);

    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    // The admin sees the session on the Sessions page.
    let r = call(&app, &admin, "/api/sessions/list_sessions", &[]).await;
    assert_eq!(r.status(), 200);
    let sessions: Vec<app::sessions::SessionRow> = r.json().await.unwrap();
    assert!(sessions
        .iter()
        .any(|s| s.user_id == id && s.kind == "browser"));

    let user_id = id.to_string();
    let r = call(
        &app,
        &admin,
        "/api/users/deactivate_user",
        &[("user_id", user_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = call(&app, &leaver, "/api/dashboard/get_summary", &[]).await;
    assert_eq!(r.status(), 401);
    let r = app
        .sign_in(&app.new_client(), &name, "leaver password 1")
        .await;
    assert_eq!(r.status(), 401, "an inactive user cannot sign in");
    assert_eq!(audit_count(&t.pool, "user.deactivate", Some(id)).await, 1);
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.sessions WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(live, 0);

    // An admin cannot deactivate themselves.
    let admin_id: Uuid =
        sqlx::query_scalar("SELECT id FROM deltran.users WHERE username = 'admin'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    let admin_id = admin_id.to_string();
    let r = call(
        &app,
        &admin,
        "/api/users/deactivate_user",
        &[("user_id", admin_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 409);

    let r = call(
        &app,
        &admin,
        "/api/users/activate_user",
        &[("user_id", user_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(audit_count(&t.pool, "user.activate", Some(id)).await, 1);
    signed_in(&app, &name, "leaver password 1").await;
    t.drop_db().await;
}

#[tokio::test]
async fn unlocking_clears_the_lockout_so_sign_in_works_again() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let name = fresh("locked");
    let id = make_user(&t.pool, &name, Role::Viewer, "locked password 1").await;
    for _ in 0..5 {
        app.sign_in(&app.new_client(), &name, "wrong password")
            .await;
    }
    let r = app
        .sign_in(&app.new_client(), &name, "locked password 1")
        .await;
    assert_eq!(r.status(), 429, "locked out");

    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let r = call(&app, &admin, "/api/users/list_users", &[]).await;
    let overview: app::users::UsersOverview = r.json().await.unwrap();
    let row = overview.users.iter().find(|u| u.id == id).unwrap();
    assert!(row.locked_until.is_some(), "the list shows the lockout");

    let user_id = id.to_string();
    let r = call(
        &app,
        &admin,
        "/api/users/unlock_user",
        &[("user_id", user_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (locked, failures): (bool, i32) = sqlx::query_as(
        "SELECT locked_until IS NOT NULL, failed_login_attempts FROM deltran.users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert!(!locked);
    assert_eq!(failures, 0);
    assert_eq!(audit_count(&t.pool, "user.unlock", Some(id)).await, 1);
    signed_in(&app, &name, "locked password 1").await;
    t.drop_db().await;
}

#[tokio::test]
async fn password_and_2fa_resets_and_session_revocation_are_audited() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let name = fresh("forgetful");
    let id = make_user(&t.pool, &name, Role::Viewer, "forgetful password").await;
    let user = signed_in(&app, &name, "forgetful password").await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let user_id = id.to_string();

    let r = call(
        &app,
        &admin,
        "/api/users/reset_password",
        &[("user_id", user_id.as_str()), ("password", "short")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = call(
        &app,
        &admin,
        "/api/users/reset_password",
        &[
            ("user_id", user_id.as_str()),
            ("password", "a brand new password"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        audit_count(&t.pool, "user.password_reset", Some(id)).await,
        1
    );
    let r = call(&app, &user, "/api/dashboard/get_summary", &[]).await;
    assert_eq!(r.status(), 401, "the reset ended their session");
    let r = app
        .sign_in(&app.new_client(), &name, "forgetful password")
        .await;
    assert_eq!(r.status(), 401);
    let user = signed_in(&app, &name, "a brand new password").await;

    let r = call(
        &app,
        &admin,
        "/api/users/reset_two_factor",
        &[("user_id", user_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(audit_count(&t.pool, "user.2fa_reset", Some(id)).await, 1);

    // Revoking one session through the Sessions page's function.
    let r = call(&app, &admin, "/api/sessions/list_sessions", &[]).await;
    let sessions: Vec<app::sessions::SessionRow> = r.json().await.unwrap();
    let session = sessions.iter().find(|s| s.user_id == id).unwrap();
    let session_id = session.id.to_string();
    let r = call(
        &app,
        &admin,
        "/api/sessions/revoke_session",
        &[("session_id", session_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        audit_count(&t.pool, "session.revoke", Some(session.id)).await,
        1
    );
    let r = call(&app, &user, "/api/dashboard/get_summary", &[]).await;
    assert_eq!(r.status(), 401);

    // And all of a user's sessions.
    let a = signed_in(&app, &name, "a brand new password").await;
    let b = signed_in(&app, &name, "a brand new password").await;
    let r = call(
        &app,
        &admin,
        "/api/sessions/revoke_user_sessions",
        &[("user_id", user_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    let n: u64 = r.json().await.unwrap();
    assert_eq!(n, 2);
    for c in [&a, &b] {
        assert_eq!(
            call(&app, c, "/api/dashboard/get_summary", &[])
                .await
                .status(),
            401
        );
    }
    assert_eq!(audit_count(&t.pool, "session.revoke", Some(id)).await, 1);
    t.drop_db().await;
}

#[tokio::test]
async fn the_pages_render_on_the_server_for_admins_and_refuse_viewers() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let page = |c: &reqwest::Client, path: &str| c.get(app.url(path)).send();
    let html = page(&admin, "/users").await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"aria-label="Users""#), "{html}");
    assert!(
        html.contains("Last sign-in") && html.contains(">operator<"),
        "users are listed"
    );
    assert!(html.contains("Create user"));
    assert!(
        html.contains(r#"href="/sessions""#),
        "admins see the Sessions link"
    );
    let html = page(&admin, "/sessions")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"aria-label="Sessions""#), "{html}");
    assert!(html.contains("Revoke all of this user"));

    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let html = page(&viewer, "/users").await.unwrap().text().await.unwrap();
    assert!(html.contains("You do not have permission"), "{html}");
    assert!(!html.contains(r#"aria-label="Users""#));
    assert!(
        !html.contains(r#"href="/users""#),
        "no Users link for viewers"
    );
    t.drop_db().await;
}
