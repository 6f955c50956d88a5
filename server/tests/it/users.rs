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

use crate::{
    common::{
        assert_field_error, audit_count, call, count, enrol_two_factor, error, page_html,
        signed_in, test_config, TestApp, TestDb, DEMO_PASSWORD,
    },
    lists::{Case, ListArea},
};

/// A username no other test uses (the Redis failure counters are shared).
pub fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// Creates a user directly in the database (as the CLI would); admins get 2FA, as they must
/// have it (`TEST_TOTP_SECRET`).
pub async fn make_user(pool: &PgPool, username: &str, role: Role, password: &str) -> Uuid {
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

    // Nobody starts as admin: that would skip the second admin's approval.
    let r = call(
        &app,
        &admin,
        "/api/users/create_user",
        &[
            ("username", "instant-admin"),
            ("email", "instant-admin@example.com"),
            ("role", "admin"),
            ("password", "a long enough password"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let AppError::Validation { field_errors } = error(&r.text().await.unwrap()) else {
        panic!("not a validation error");
    };
    assert!(
        field_errors["role"].contains("cannot start as admin"),
        "{field_errors:?}"
    );
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
    let list: app::sessions::SessionList = r.json().await.unwrap();
    assert!(list
        .rows
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
    let changed: bool = sqlx::query_scalar(
        "SELECT password_changed_at > now() - interval '1 minute' FROM deltran.users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert!(changed, "a reset is a password change, with its time");
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
    let r = call(&app, &user, "/api/dashboard/get_summary", &[]).await;
    assert_eq!(r.status(), 401, "the 2FA reset ended their session");
    assert_eq!(live_sessions(&t.pool, id).await, 0);
    let user = signed_in(&app, &name, "a brand new password").await;

    // Revoking one session through the Sessions page's function.
    let r = call(&app, &admin, "/api/sessions/list_sessions", &[]).await;
    let list: app::sessions::SessionList = r.json().await.unwrap();
    let session = list.rows.iter().find(|s| s.user_id == id).unwrap();
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

/// Live (unrevoked) sessions of a user.
async fn live_sessions(pool: &PgPool, user_id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM deltran.sessions WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn user_id_of(pool: &PgPool, username: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM deltran.users WHERE username = $1")
        .bind(username)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_cannot_reset_their_own_password_or_two_factor_from_the_users_page() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let me = user_id_of(&t.pool, "admin").await.to_string();
    let r = call(
        &app,
        &admin,
        "/api/users/reset_password",
        &[("user_id", me.as_str()), ("password", "a password I chose")],
    )
    .await;
    assert_eq!(
        r.status(),
        409,
        "self-service is Profile, with the current password"
    );
    let r = call(
        &app,
        &admin,
        "/api/users/reset_two_factor",
        &[("user_id", me.as_str())],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(audit_count(&t.pool, "user.password_reset", None).await, 0);
    assert_eq!(audit_count(&t.pool, "user.2fa_reset", None).await, 0);
    signed_in(&app, "admin", DEMO_PASSWORD).await;
    t.drop_db().await;
}

#[tokio::test]
async fn changes_to_another_admins_account_take_the_callers_password_and_code() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let (caller_name, target_name) = (fresh("admin-a"), fresh("admin-b"));
    let caller = make_user(&t.pool, &caller_name, Role::Admin, "caller password 1").await;
    let target = make_user(&t.pool, &target_name, Role::Admin, "target password 1").await;
    // Recovery codes count as the caller's second factor too; they spare waiting for the
    // next TOTP step between the calls below.
    let recovery = app::backend::recovery::recovery_codes();
    let mut tx = t.pool.begin().await.unwrap();
    app::backend::db::twofactor::store_recovery_codes(&mut tx, caller, &recovery)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let a = signed_in(&app, &caller_name, "caller password 1").await;
    let b = signed_in(&app, &target_name, "target password 1").await;
    let target_id = target.to_string();
    let target_password = || async {
        sqlx::query_scalar::<_, String>("SELECT password_hash FROM deltran.users WHERE id = $1")
            .bind(target)
            .fetch_one(&t.pool)
            .await
            .unwrap()
    };
    let before = target_password().await;

    // Without re-authentication: both fields are asked for, nothing changes.
    for (path, extra) in [
        (
            "/api/users/reset_password",
            Some(("password", "taken over 12345")),
        ),
        ("/api/users/reset_two_factor", None),
    ] {
        let mut form = vec![("user_id", target_id.as_str())];
        form.extend(extra);
        let r = call(&app, &a, path, &form).await;
        assert_eq!(r.status(), 422, "{path}");
        let AppError::Validation { field_errors } = error(&r.text().await.unwrap()) else {
            panic!("{path}: not a validation error");
        };
        assert!(
            field_errors.contains_key("own_password") && field_errors.contains_key("own_code"),
            "{path}: {field_errors:?}"
        );
    }
    // A wrong password of the caller's is refused and counted like a failed sign-in.
    assert_field_error(
        &app,
        &a,
        "/api/users/reset_password",
        &[
            ("user_id", target_id.as_str()),
            ("password", "taken over 12345"),
            ("own_password", "not my password"),
            ("own_code", &recovery[0]),
        ],
        "own_password",
    )
    .await;
    // And so is a wrong code.
    assert_field_error(
        &app,
        &a,
        "/api/users/reset_password",
        &[
            ("user_id", target_id.as_str()),
            ("password", "taken over 12345"),
            ("own_password", "caller password 1"),
            ("own_code", "000000"),
        ],
        "own_code",
    )
    .await;
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'auth.login' \
         AND result = 'failure' AND actor_id = $1",
    )
    .bind(caller)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(failures, 2);
    assert_eq!(target_password().await, before);
    assert_eq!(
        call(&app, &b, "/api/dashboard/get_summary", &[])
            .await
            .status(),
        200
    );

    // With the caller's password and a one-time code of theirs.
    let code = app.one_time_code(&caller_name).await;
    let r = call(
        &app,
        &a,
        "/api/users/reset_password",
        &[
            ("user_id", target_id.as_str()),
            ("password", "target password 2"),
            ("own_password", "caller password 1"),
            ("own_code", code.as_str()),
        ],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        call(&app, &b, "/api/dashboard/get_summary", &[])
            .await
            .status(),
        401
    );

    // A 2FA reset of an admin likewise, and it ends all of the admin's sessions.
    let b = signed_in(&app, &target_name, "target password 2").await;
    let r = call(
        &app,
        &a,
        "/api/users/reset_two_factor",
        &[
            ("user_id", target_id.as_str()),
            ("own_password", "caller password 1"),
            ("own_code", recovery[1].as_str()),
        ],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        call(&app, &b, "/api/dashboard/get_summary", &[])
            .await
            .status(),
        401
    );
    assert_eq!(live_sessions(&t.pool, target).await, 0);

    // Reactivating an admin too.
    let r = call(
        &app,
        &a,
        "/api/users/deactivate_user",
        &[("user_id", target_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = call(
        &app,
        &a,
        "/api/users/activate_user",
        &[("user_id", target_id.as_str())],
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = call(
        &app,
        &a,
        "/api/users/activate_user",
        &[
            ("user_id", target_id.as_str()),
            ("own_password", "caller password 1"),
            ("own_code", recovery[2].as_str()),
        ],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(audit_count(&t.pool, "user.activate", Some(target)).await, 1);
    t.drop_db().await;
}

/// A server-function call: who, which function, its form.
type Call<'a> = (&'a reqwest::Client, &'a str, Vec<(&'a str, String)>);

/// Sends two server-function calls at once while the admins' rows are held, so that both
/// are inside their transactions, waiting, before either goes on; returns both statuses.
async fn at_once(app: &TestApp, pool: &PgPool, calls: [Call<'_>; 2]) -> [u16; 2] {
    let mut hold = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM deltran.users WHERE role = 'admin' FOR UPDATE")
        .execute(&mut *hold)
        .await
        .unwrap();
    let sent = calls.map(|(client, path, form)| {
        let request = client.post(app.url(path)).form(&form);
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    });
    let mut waiting = 0;
    for _ in 0..200 {
        waiting = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waiting >= 2, "both calls wait for the admins' rows");
    hold.commit().await.unwrap();
    let [x, y] = sent;
    [x.await.unwrap(), y.await.unwrap()]
}

async fn active_admins(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT username FROM deltran.users WHERE role = 'admin' AND is_active ORDER BY username",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn two_admins_demoting_or_deactivating_each_other_at_once_leave_one_admin() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let second = fresh("admin2");
    let second_id = make_user(&t.pool, &second, Role::Admin, "second admin password").await;
    let admin_id = user_id_of(&t.pool, "admin").await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let admin2 = signed_in(&app, &second, "second admin password").await;
    let demote = |id: Uuid| {
        vec![
            ("user_id", id.to_string()),
            ("role", "operator".to_string()),
            ("reason", "rotation".to_string()),
        ]
    };
    let mut statuses = at_once(
        &app,
        &t.pool,
        [
            (&admin, "/api/users/change_role", demote(second_id)),
            (&admin2, "/api/users/change_role", demote(admin_id)),
        ],
    )
    .await;
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "one demotion waits and finds the last admin"
    );
    let left = active_admins(&t.pool).await;
    assert_eq!(left.len(), 1, "{left:?}");

    // Deactivation has the same guard.
    let (winner, winner_id) = if left[0] == "admin" {
        (admin, admin_id)
    } else {
        (admin2, second_id)
    };
    let third = fresh("admin3");
    let third_id = make_user(&t.pool, &third, Role::Admin, "third admin password").await;
    let admin3 = signed_in(&app, &third, "third admin password").await;
    let deactivate = |id: Uuid| vec![("user_id", id.to_string())];
    let mut statuses = at_once(
        &app,
        &t.pool,
        [
            (&winner, "/api/users/deactivate_user", deactivate(third_id)),
            (&admin3, "/api/users/deactivate_user", deactivate(winner_id)),
        ],
    )
    .await;
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "the last active admin cannot be deactivated"
    );
    assert_eq!(active_admins(&t.pool).await.len(), 1);
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
    let response = page(&viewer, "/users").await.unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let html = response.text().await.unwrap();
    assert!(html.contains("You do not have permission"), "{html}");
    // The denial the page's render met is audited with the request it came from.
    let (ip, rid, agent): (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT host(ip_address), request_id, user_agent FROM deltran.audit_log \
         WHERE action = 'access.denied' AND actor_name = 'viewer' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(rid.as_deref(), Some(request_id.as_str()));
    assert!(agent.is_none(), "reqwest sends no User-Agent by default");
    assert!(!html.contains(r#"aria-label="Users""#));
    assert!(
        !html.contains(r#"href="/users""#),
        "no Users link for viewers"
    );
    t.drop_db().await;
}

/// Adds `n` users `bulk-001`… straight into the table (one shared password hash, no audit
/// rows): roles in turn, every 5th inactive, every 7th locked out, every 3rd with 2FA, every
/// other one signed in (two at a time at the same minute), created three a day, and every
/// 10th with an e-mail at `Mixed.Example`.
async fn bulk_users(pool: &PgPool, n: i32) {
    let hash = passwords::hash("bulk password".into()).await.unwrap();
    sqlx::query(
        "INSERT INTO deltran.users (username, email, password_hash, role, is_active, \
             is_2fa_enabled, totp_secret, last_login_at, locked_until, created_at) \
         SELECT 'bulk-' || lpad(i::text, 3, '0'), \
                'bulk-' || lpad(i::text, 3, '0') \
                    || CASE WHEN i % 10 = 0 THEN '@Mixed.Example' ELSE '@example.com' END, \
                $1, (ARRAY['admin','operator','auditor','viewer'])[i % 4 + 1]::deltran.user_role, \
                i % 5 <> 0, i % 3 = 0, CASE WHEN i % 3 = 0 THEN '\\x00'::bytea END, \
                CASE WHEN i % 2 = 0 THEN date_trunc('minute', now()) - make_interval(mins => i / 4) END, \
                CASE WHEN i % 7 = 0 THEN now() + interval '1 hour' END, \
                date_trunc('day', now()) - make_interval(days => i / 3) \
         FROM generate_series(1, $2) AS i",
    )
    .bind(hash)
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

/// The Users list, for the list contract (`crate::lists`).
const USERS: ListArea = ListArea {
    function: "/api/users/list_users",
    rows: "/users",
    next: "/next",
    from: "FROM deltran.users WHERE true",
    id: "id",
    args_in: Some("query"),
    page: "/users",
    label: "Users",
};

#[tokio::test]
async fn the_list_filters_searches_sorts_and_pages_every_user_exactly_once() {
    let t = TestDb::seeded(50).await;
    bulk_users(&t.pool, 130).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let total = count(&t.pool, "users").await as usize;
    assert_eq!(total, 134);

    let by_username = "username";
    let by_sign_in = "last_login_at DESC NULLS LAST, id DESC";
    let by_created = "created_at DESC, id DESC";
    let active = "is_active AND NOT coalesce(locked_until > now(), false)";
    // (arguments, the same condition in SQL, the order in SQL)
    let cases: &[Case] = &[
        (&[], "true", by_username),
        (&[("sort", "username")], "true", by_username),
        (&[("sort", "last_sign_in")], "true", by_sign_in),
        (&[("sort", "created")], "true", by_created),
        (&[("role", "auditor")], "role = 'auditor'", by_username),
        (&[("status", "active")], active, by_username),
        (&[("status", "inactive")], "NOT is_active", by_username),
        (
            &[("status", "locked"), ("sort", "last_sign_in")],
            "is_active AND locked_until > now()",
            by_sign_in,
        ),
        (&[("tfa", "on")], "is_2fa_enabled", by_username),
        (
            &[("tfa", "off"), ("sort", "created")],
            "NOT is_2fa_enabled",
            by_created,
        ),
        // Search: any case, in the username or the e-mail, taken literally.
        (&[("q", "BULK-00")], "username LIKE 'bulk-00%'", by_username),
        (
            &[("q", "mixed.EX")],
            "email ILIKE '%mixed.example'",
            by_username,
        ),
        (&[("q", "%")], "false", by_username),
        (
            &[
                ("role", "viewer"),
                ("tfa", "on"),
                ("q", "bulk"),
                ("sort", "created"),
            ],
            "role = 'viewer' AND is_2fa_enabled AND username LIKE 'bulk%'",
            by_created,
        ),
        // Blank values are no filter (what the GET form sends for "Any").
        (
            &[("role", ""), ("status", " "), ("q", "")],
            "true",
            by_username,
        ),
    ];
    USERS
        .pages_every_row_once(&app, &auditor, &t.pool, cases)
        .await;
    let everyone = USERS
        .walk(&app, &auditor, &[("sort", "last_sign_in")])
        .await;
    assert_eq!(everyone.len(), total, "three pages hold every user");

    // The first page of the default order says where the second starts.
    let (first, next) = USERS.page(&app, &auditor, &[]).await;
    assert_eq!(first.len(), 50);
    assert_eq!(first[0], user_id_of(&t.pool, "admin").await.to_string());
    assert!(next.is_some());
    let empty = USERS
        .page(&app, &auditor, &[("q", "nobody-has-this")])
        .await;
    assert!(empty.0.is_empty() && empty.1.is_none());
    t.drop_db().await;
}

#[tokio::test]
async fn unknown_filter_values_and_foreign_cursors_are_field_errors() {
    let t = TestDb::seeded(50).await;
    bulk_users(&t.pool, 60).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let by_name = USERS.page(&app, &admin, &[]).await.1.unwrap();
    let long = "x".repeat(101);
    let refused = [
        (vec![("role", "superuser")], "role"),
        (vec![("status", "asleep")], "status"),
        (vec![("tfa", "maybe")], "tfa"),
        (vec![("sort", "age")], "sort"),
        (vec![("q", long.as_str())], "q"),
        // A cursor of the username order does not page the created order.
        (
            vec![("sort", "created"), ("after", by_name.as_str())],
            "after",
        ),
    ];
    USERS.refuses(&app, &admin, &refused).await;

    // The page shows what is wrong instead of failing.
    let html = page_html(&app, &admin, "/users?role=superuser").await;
    assert!(html.contains("These filters cannot be used"), "{html}");
    assert!(html.contains("unknown role"), "{html}");
    t.drop_db().await;
}

#[tokio::test]
async fn the_page_holds_filters_sort_and_cursor_in_its_links() {
    let t = TestDb::seeded(50).await;
    bulk_users(&t.pool, 130).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    USERS
        .page_links(
            &app,
            &admin,
            "sort=created",
            Some("/downloads/users.csv"),
            ("q=nobody-has-this", "No users match these filters."),
        )
        .await;
    let html = page_html(&app, &admin, "/users").await;
    assert!(html.contains(r#"aria-label="Filter users""#));
    t.drop_db().await;
}

#[tokio::test]
async fn the_csv_export_streams_the_filtered_users_and_is_audited() {
    let t = TestDb::seeded(50).await;
    bulk_users(&t.pool, 130).await;
    // A username and e-mail a spreadsheet would take for a formula.
    let minus = make_user(&t.pool, "-minus", Role::Auditor, "minus password 1").await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = signed_in(&app, "admin", DEMO_PASSWORD).await;
    let exports = || audit_count(&t.pool, "users.export", None);

    let csv = USERS
        .exports(
            &app,
            &admin,
            &t.pool,
            (
                "/downloads/users.csv?role=auditor&sort=created&status=",
                "users.export",
                "username,email,role,status,two_factor,last_sign_in,locked_until,created_at,id",
            ),
            ("role = 'auditor'", "created_at DESC, id DESC"),
        )
        .await;
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert!(lines[1..]
        .iter()
        .all(|l| l.split(',').nth(2) == Some("auditor")));
    let row = lines
        .iter()
        .find(|l| l.ends_with(&minus.to_string()))
        .unwrap();
    assert!(
        row.starts_with("'-minus,'-minus@example.com,auditor,active,off,,,"),
        "{row}"
    );
    let (actor, resource_type, role, sort): (String, String, String, String) = sqlx::query_as(
        "SELECT actor_name, resource_type, metadata->'filter'->>'role', metadata->'filter'->>'sort' \
         FROM deltran.audit_log WHERE action = 'users.export'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        (
            actor.as_str(),
            resource_type.as_str(),
            role.as_str(),
            sort.as_str()
        ),
        ("admin", "user", "auditor", "created")
    );

    // The whole list, and the auditor may export too.
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let r = auditor
        .get(app.url("/downloads/users.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 1 + 135);
    assert_eq!(exports().await, 2);

    // Refusals: no session, a role without users.view (audited), a bad filter.
    let r = app
        .new_client()
        .get(app.url("/downloads/users.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let denied_before = audit_count(&t.pool, "access.denied", None).await;
    for role in ["viewer", "operator"] {
        let client = signed_in(&app, role, DEMO_PASSWORD).await;
        let r = client
            .get(app.url("/downloads/users.csv?role=admin"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{role}");
        assert!(!r.text().await.unwrap().contains("bulk"));
    }
    assert_eq!(
        audit_count(&t.pool, "access.denied", None).await,
        denied_before + 2
    );
    let r = admin
        .get(app.url("/downloads/users.csv?role=superuser"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("role: unknown role"));
    assert_eq!(exports().await, 2, "refused exports write no export row");
    t.drop_db().await;
}

/// The REST API's user and session routes keep the pages' rules: every refused field at once,
/// no admin on one admin's word, nobody changing their own account, one audit row per change.
#[tokio::test]
async fn the_rest_api_manages_users_and_sessions_by_the_pages_rules() {
    use serde_json::{json, Value};
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let admin = crate::api::token(&app, "admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let send = |req: reqwest::RequestBuilder| async {
        let r = req.bearer_auth(&admin).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };

    let (status, body) = send(client.post(app.url("/api/v1/users")).json(&json!({
        "username": "X", "email": "nope", "role": "admin", "password": "short"
    })))
    .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["error"]["fields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["email", "password", "role", "username"],
        "every refused field"
    );
    let (status, body) = send(client.post(app.url("/api/v1/users")).json(&json!({
        "username": "api.made", "email": "api.made@example.com", "role": "viewer",
        "password": "a long enough passphrase 2026"
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(
        audit_count(&t.pool, "user.create", Some(id.parse().unwrap())).await,
        1
    );

    let (status, body) = send(client.get(app.url("/api/v1/users?q=api.made"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["id"], id.as_str());

    let patch = |body: Value| {
        client
            .patch(app.url(&format!("/api/v1/users/{id}")))
            .json(&body)
    };
    let (status, body) = send(patch(
        json!({ "role": "operator", "reason": "joins operations" }),
    ))
    .await;
    assert_eq!((status, body["role"].as_str()), (200, Some("Changed")));
    let (status, body) = send(patch(json!({ "role": "admin", "reason": "on call" }))).await;
    assert_eq!(
        (status, body["role"].as_str()),
        (200, Some("Pending")),
        "a second admin decides"
    );
    let (status, _) = send(patch(json!({ "role": "viewer", "is_active": false }))).await;
    assert_eq!(status, 422, "one change per request");
    let (status, _) = send(patch(json!({ "is_active": false }))).await;
    assert_eq!(status, 200);
    let me: String =
        sqlx::query_scalar("SELECT id::text FROM deltran.users WHERE username = 'admin'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    let (status, _) = send(
        client
            .patch(app.url(&format!("/api/v1/users/{me}")))
            .json(&json!({ "is_active": false })),
    )
    .await;
    assert_eq!(status, 409, "not one's own account");

    // Sessions: the list, and revoking one (then it is gone: 404).
    let viewer = crate::api::token(&app, "viewer").await;
    let (status, body) = send(client.get(app.url("/api/v1/sessions?user=viewer&kind=api"))).await;
    assert_eq!(status, 200);
    let session = body["items"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = send(client.delete(app.url(&format!("/api/v1/sessions/{session}")))).await;
    assert_eq!(status, 204);
    let (status, _) = send(client.delete(app.url(&format!("/api/v1/sessions/{session}")))).await;
    assert_eq!(status, 404);
    let r = client
        .get(app.url("/api/v1/me"))
        .bearer_auth(viewer["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the revoked session's token no longer works"
    );
    t.drop_db().await;
}
