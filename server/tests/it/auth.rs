//! Signing in and out in the browser: sessions, brute-force limits, cross-site defences.

use server::seed::{seed_demo, SeedOptions};

use app::error::AppError;

use crate::common::{count, test_config, TestApp, TestDb, DEMO_PASSWORD};

/// The error a server function answered with.
fn error(body: &str) -> AppError {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an AppError ({e}): {body}"))
}

/// A username no other test uses, so the Redis failure counters of parallel tests never meet.
fn fresh_name() -> String {
    format!("nobody-{}", uuid::Uuid::new_v4().simple())
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("deltran_session="))
        .map(str::to_string)
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_server_functions_answer_401() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let page = |path: &str| {
        app.client
            .get(app.url(path))
            .header("accept", "text/html")
            .send()
    };
    let r = page("/").await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/login");
    let r = page("/?tab=1").await.unwrap();
    assert_eq!(r.headers()["location"], "/login?next=/%3Ftab%3D1");
    let r = app
        .client
        .post(app.url("/api/dashboard/get_summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let login = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("Username") && login.contains("Password") && login.contains("Sign in"));
    t.drop_db().await;
}

#[tokio::test]
async fn signing_in_rotates_the_session_and_signing_out_ends_it_on_the_server() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let client = app.new_client();
    // A visit before signing in may already carry a session id; it must not survive sign-in.
    let r = app.sign_in(&client, "operator", "wrong password!").await;
    let before = session_cookie(&r);
    let r = app.sign_in(&client, "operator", DEMO_PASSWORD).await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let cookie = session_cookie(&r).expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "loopback serves plain http: {cookie}"
    );
    assert_ne!(Some(cookie.clone()), before, "a new session id at sign-in");

    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("operator"));
    let (kind, rows): (String, i64) = sqlx::query_as(
        "SELECT min(kind), count(*) FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id \
         WHERE u.username = 'operator' AND revoked_at IS NULL",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), rows), ("browser", 1));

    // Replaying the old cookie after sign-out gets nothing.
    let value = cookie.split(';').next().unwrap().to_string();
    let r = client
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let revoked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.sessions WHERE revoke_reason = 'signed out'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(revoked, 1);
    let replay = reqwest::Client::new()
        .post(app.url("/api/dashboard/get_summary"))
        .header("cookie", value)
        .header("origin", app.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action || ':' || result FROM deltran.audit_log WHERE actor_name = 'operator' AND \"timestamp\" > now() - interval '1 minute' ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "auth.login:failure",
            "auth.login:success",
            "auth.logout:success"
        ]
    );
    t.drop_db().await;
}

#[tokio::test]
async fn every_kind_of_wrong_credential_gets_the_same_answer() {
    let t = TestDb::seeded(50).await;
    sqlx::query("UPDATE deltran.users SET is_active = false WHERE username = 'viewer'")
        .execute(&t.pool)
        .await
        .unwrap();
    let app = TestApp::spawn(test_config(&t.url)).await;
    let mut answers = Vec::new();
    for (user, password) in [
        (fresh_name(), DEMO_PASSWORD.to_string()),
        ("auditor".to_string(), "not the password".to_string()),
        ("viewer".to_string(), DEMO_PASSWORD.to_string()),
    ] {
        let r = app.sign_in(&app.new_client(), &user, &password).await;
        answers.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 401);
    assert_eq!(error(&answers[0].1), AppError::InvalidCredentials);
    assert_eq!(
        AppError::InvalidCredentials.to_string(),
        "Invalid username or password."
    );
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    t.drop_db().await;
}

#[tokio::test]
async fn five_failures_lock_the_account_for_everyone() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    // Start from clean counters for this username.
    let mut redis = app_redis().await;
    let _: () = redis::AsyncCommands::del(&mut redis, "deltran:login:fail:auditor")
        .await
        .unwrap();
    for i in 1..=5 {
        let r = app
            .sign_in(&app.new_client(), "auditor", "wrong password")
            .await;
        if i < 5 {
            assert_eq!(r.status(), 401, "attempt {i}");
        } else {
            assert_eq!(r.status(), 429, "the fifth failure locks");
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry > 800 && retry <= 900, "{retry}");
        }
    }
    let r = app
        .sign_in(&app.new_client(), "auditor", DEMO_PASSWORD)
        .await;
    assert_eq!(r.status(), 429, "even the right password waits");
    assert!(matches!(
        error(&r.text().await.unwrap()),
        AppError::TooManyRequests { .. }
    ));
    let locked: bool = sqlx::query_scalar(
        "SELECT locked_until > now() FROM deltran.users WHERE username = 'auditor'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert!(locked);
    let lockouts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deltran.audit_log WHERE action = 'auth.lockout'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(lockouts, 1);
    let ttl: i64 = redis::AsyncCommands::ttl(&mut redis, "deltran:login:fail:auditor")
        .await
        .unwrap();
    assert!(ttl > 800, "the counter lives for the lockout window: {ttl}");
    let _: () = redis::AsyncCommands::del(&mut redis, "deltran:login:fail:auditor")
        .await
        .unwrap();
    t.drop_db().await;
}

async fn app_redis() -> redis::aio::ConnectionManager {
    let client = redis::Client::open(crate::common::redis_url()).unwrap();
    redis::aio::ConnectionManager::new(client).await.unwrap()
}

#[tokio::test]
async fn sign_in_fails_closed_without_redis() {
    let t = TestDb::seeded(50).await;
    let mut config = test_config(&t.url);
    config.redis_url = "redis://127.0.0.1:1".into();
    let app = TestApp::spawn(config).await;
    let r = app.sign_in(&app.client, "admin", DEMO_PASSWORD).await;
    assert_eq!(r.status(), 503);
    assert_eq!(error(&r.text().await.unwrap()), AppError::Unavailable);
    assert_eq!(count(&t.pool, "sessions").await, 0, "no session was opened");
    t.drop_db().await;
}

#[tokio::test]
async fn a_revoked_session_stops_working_at_once_and_cross_site_posts_are_refused() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let client = app.new_client();
    app.sign_in(&client, "admin", DEMO_PASSWORD).await;
    let r = client
        .post(app.url("/api/dashboard/get_summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let forged = client
        .post(app.url("/api/dashboard/get_summary"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    sqlx::query("UPDATE deltran.sessions SET revoked_at = now(), revoke_reason = 'test'")
        .execute(&t.pool)
        .await
        .unwrap();
    let r = client
        .post(app.url("/api/dashboard/get_summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    t.drop_db().await;
}

#[tokio::test]
async fn an_admin_with_two_factor_needs_the_one_time_code_once() {
    use app::backend::{config::DEMO_SECRET, crypto, totp};
    let t = TestDb::migrated().await;
    let secret = totp::generate_secret();
    let options = SeedOptions {
        payments: 10,
        anchor: chrono::Utc::now().date_naive(),
        password: DEMO_PASSWORD.into(),
        show_progress: false,
        admin_totp: Some(crypto::encrypt(DEMO_SECRET, crypto::TOTP_PURPOSE, &secret)),
    };
    seed_demo(&t.pool, &options).await.unwrap();
    let app = TestApp::spawn(test_config(&t.url)).await;
    let client = app.new_client();

    let r = app.post_login(&client, "admin", DEMO_PASSWORD, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "\"OtpRequired\"",
        "password alone is not enough"
    );
    assert_eq!(count(&t.pool, "sessions").await, 0);

    let code = totp::code_at(&secret, chrono::Utc::now().timestamp());
    let login = |client: &reqwest::Client, code: &str| {
        client
            .post(app.url("/api/auth/login"))
            .form(&[
                ("username", "admin"),
                ("password", DEMO_PASSWORD),
                ("otp", code),
            ])
            .send()
    };
    let r = login(&client, "000000").await.unwrap();
    assert_eq!(r.status(), 401, "a wrong code is a wrong credential");
    let r = login(&client, &code).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        client
            .post(app.url("/api/dashboard/get_summary"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let r = login(&app.new_client(), &code).await.unwrap();
    assert_eq!(r.status(), 401, "the same code never works twice");

    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&serde_json::json!({ "username": "admin", "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "the API asks for the code too");
    t.drop_db().await;
}

#[tokio::test]
async fn an_admin_without_two_factor_may_only_set_it_up() {
    use app::{auth::Me, backend::totp, profile::TwoFactorSetup};
    let t = TestDb::seeded(20).await;
    sqlx::query(
        "UPDATE deltran.users SET is_2fa_enabled = false, totp_secret = NULL WHERE username = 'admin'",
    )
    .execute(&t.pool)
    .await
    .unwrap();
    let app = TestApp::spawn(test_config(&t.url)).await;
    let client = app.new_client();
    let r = app.sign_in(&client, "admin", DEMO_PASSWORD).await;
    assert!(r.status().is_success() || r.status().is_redirection());
    let call = |path: &str| client.post(app.url(path)).send();

    // Signed in, but only the profile is open; the refusal says why and is audited.
    let me: Option<Me> = call("/api/auth/current_user")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = me.expect("signed in");
    assert!(me.needs_two_factor);
    assert_eq!(me.permissions, vec![app::auth::Permission::SelfService]);
    let r = call("/api/dashboard/get_summary").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error(&r.text().await.unwrap()), AppError::TwoFactorRequired);
    let reason: String = sqlx::query_scalar(
        "SELECT error_message FROM deltran.audit_log WHERE action = 'access.denied' \
         AND actor_name = 'admin' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(reason, "admin has not set up two-factor authentication");
    assert_eq!(
        call("/api/profile/get_profile").await.unwrap().status(),
        200
    );

    // The API likewise: a token, but nothing beyond the caller's own identity.
    let token = crate::api::token(&app, "admin").await;
    let bearer = token["access_token"].as_str().unwrap();
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/audit"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "two_factor_required");

    // Enrolling opens the console in the same session.
    let setup: TwoFactorSetup = call("/api/profile/begin_two_factor")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = totp::base32_decode(&setup.secret).unwrap();
    let r = client
        .post(app.url("/api/profile/confirm_two_factor"))
        .form(&[(
            "code",
            totp::code_at(&secret, chrono::Utc::now().timestamp()),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        call("/api/dashboard/get_summary").await.unwrap().status(),
        200
    );
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/audit"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    t.drop_db().await;
}

#[tokio::test]
async fn repeated_denials_write_a_bounded_number_of_audit_rows() {
    use app::backend::denials::ROWS_PER_MINUTE;
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = crate::common::signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let tries = ROWS_PER_MINUTE + 15;
    for _ in 0..tries {
        let r = crate::common::call(&app, &viewer, "/api/users/deactivate_user", &[]).await;
        assert_eq!(r.status(), 403, "every denial is still refused");
    }
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'access.denied' \
         AND actor_name = 'viewer' AND resource_id = 'users.manage'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(rows, i64::from(ROWS_PER_MINUTE), "{tries} denials");
    t.drop_db().await;
}
