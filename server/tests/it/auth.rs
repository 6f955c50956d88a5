//! Signing in and out in the browser: sessions, brute-force limits, cross-site defences.

use server::seed::{seed_demo, SeedOptions};

use app::error::AppError;

use crate::common::{audit_count, count, signed_in, test_config, TestApp, TestDb, DEMO_PASSWORD};

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
    // Session fixation: an attacker signs in as themselves and plants that session's cookie
    // in the victim's browser. The victim's sign-in must not keep that id.
    let attacker = app.new_client();
    let r = app.sign_in(&attacker, "viewer", DEMO_PASSWORD).await;
    let planted = session_cookie(&r).expect("the attacker's session cookie");
    let planted = planted.split(';').next().unwrap().to_string();
    let client = reqwest::Client::builder()
        .default_headers(
            [
                (reqwest::header::ORIGIN, app.url("").parse().unwrap()),
                (reqwest::header::COOKIE, planted.parse().unwrap()),
            ]
            .into_iter()
            .collect(),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
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
    let value = cookie.split(';').next().unwrap().to_string();
    assert_ne!(value, planted, "a new session id at sign-in");
    let as_planted = attacker
        .post(app.url("/api/dashboard/get_summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_planted.status(),
        401,
        "the planted id is no session any more"
    );
    let client = reqwest::Client::builder()
        .default_headers(
            [
                (reqwest::header::ORIGIN, app.url("").parse().unwrap()),
                (reqwest::header::COOKIE, value.parse().unwrap()),
            ]
            .into_iter()
            .collect(),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

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
    assert_eq!(actions, ["auth.login:success", "auth.logout:success"]);
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

/// The lock a username is under, from the record of truth.
async fn locked_until(
    pool: &sqlx::PgPool,
    username: &str,
) -> Option<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar("SELECT locked_until FROM deltran.login_failures WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await
        .unwrap()
        .flatten()
}

/// The newest audit row's id (the demo seed writes a history of its own).
async fn last_audit_id(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM deltran.audit_log")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn five_failures_lock_the_username_until_a_backoff_that_hammering_does_not_renew() {
    let t = TestDb::seeded(50).await;
    let mut config = test_config(&t.url);
    config.login_backoff = std::time::Duration::from_secs(2);
    let app = TestApp::spawn(config).await;
    for i in 1..=5 {
        let r = app
            .sign_in(&app.new_client(), "auditor", "wrong password")
            .await;
        if i < 5 {
            assert_eq!(r.status(), 401, "attempt {i}");
        } else {
            assert_eq!(r.status(), 429, "the fifth failure locks");
            let retry = retry_after(&r);
            assert!((1..=2).contains(&retry), "for the first back-off: {retry}");
        }
    }
    let lock = locked_until(&t.pool, "auditor").await.expect("locked");
    for _ in 0..5 {
        let r = app
            .sign_in(&app.new_client(), "auditor", DEMO_PASSWORD)
            .await;
        assert_eq!(r.status(), 429, "even the right password waits");
        assert!(matches!(
            error(&r.text().await.unwrap()),
            AppError::TooManyRequests { .. }
        ));
    }
    assert_eq!(
        locked_until(&t.pool, "auditor").await,
        Some(lock),
        "attempts while locked are not counted and do not extend the lock"
    );
    let shown: bool = sqlx::query_scalar(
        "SELECT locked_until > now() FROM deltran.users WHERE username = 'auditor'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert!(shown, "the account shows the lock (Users page)");
    assert_eq!(audit_count(&t.pool, "auth.lockout", None).await, 1);

    // Deleting every Redis key of this app changes nothing: the lock lives in Postgres.
    let mut redis = server::db::redis(&crate::common::redis_url()).unwrap();
    let keys = crate::common::redis_keys(&format!("{}*", app.redis_prefix)).await;
    if !keys.is_empty() {
        let _: () = redis::AsyncCommands::del(&mut redis, keys).await.unwrap();
    }
    let r = app
        .sign_in(&app.new_client(), "auditor", DEMO_PASSWORD)
        .await;
    assert_eq!(r.status(), 429);

    // When the back-off ends, the right password gets in and the failures are forgotten.
    tokio::time::sleep((lock - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    signed_in(&app, "auditor", DEMO_PASSWORD).await;
    assert_eq!(locked_until(&t.pool, "auditor").await, None);
    assert_eq!(count(&t.pool, "login_failures").await, 0);
    t.drop_db().await;
}

#[tokio::test]
async fn a_hundred_parallel_wrong_sign_ins_check_at_most_five_passwords() {
    let t = TestDb::seeded(20).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let attempts = (0..100).map(|_| async {
        let client = app.new_client();
        app.post_login(&client, "operator", "wrong password", None)
            .await
            .status()
            .as_u16()
    });
    let before = last_audit_id(&t.pool).await;
    let statuses = futures::future::join_all(attempts).await;
    let checked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'auth.login' AND result = 'failure' \
         AND id > $1",
    )
    .bind(before)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(checked, 5, "passwords checked");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 4);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 96);
    t.drop_db().await;
}

#[tokio::test]
async fn unknown_usernames_lock_like_real_ones_and_malformed_ones_are_never_written() {
    let t = TestDb::seeded(20).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let before = last_audit_id(&t.pool).await;
    let nobody = fresh_name();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = app
            .sign_in(&app.new_client(), &nobody, "wrong password")
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);

    let hostile = "=HYPERLINK(\"https://evil.example\")";
    let r = app.sign_in(&app.new_client(), hostile, "x").await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        error(&r.text().await.unwrap()),
        AppError::InvalidCredentials
    );
    let written: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE actor_name LIKE '%HYPERLINK%' \
            OR metadata::text LIKE '%HYPERLINK%'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(written, 0, "the text is in no audit row");
    let counted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.login_failures WHERE username LIKE '%HYPERLINK%'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(counted, 0);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'auth.login' AND id > $1",
    )
    .bind(before)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        audited, 6,
        "every attempt checked, and the malformed one, is audited"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn one_address_is_limited_across_usernames_and_behind_a_trusted_proxy_each_client_counts() {
    let t = TestDb::seeded(20).await;
    let mut config = test_config(&t.url);
    config.login_max_failures_per_ip = 3;
    let app = TestApp::spawn(config.clone()).await;
    let attempt = |app: &TestApp, forwarded: &'static str| {
        let client = app.new_client();
        let name = fresh_name();
        let url = app.url("/api/auth/login");
        async move {
            client
                .post(url)
                .header("x-forwarded-for", forwarded)
                .form(&[("username", name.as_str()), ("password", "wrong password")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Without trusted proxies the header is the client's word and counts for nothing.
    let mut direct = Vec::new();
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        direct.push(attempt(&app, client).await);
    }
    assert_eq!(direct, [401, 401, 401, 429], "127.0.0.1 is over its limit");

    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.redis_prefix = crate::common::test_redis_prefix();
    let behind = TestApp::spawn(config).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(attempt(&behind, "198.51.100.7").await);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "the forwarded client is limited"
    );
    assert_eq!(
        attempt(&behind, "198.51.100.8").await,
        401,
        "its neighbour is not"
    );
    let ip: Option<String> = sqlx::query_scalar(
        "SELECT host(ip_address) FROM deltran.audit_log WHERE action = 'auth.login' \
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        ip.as_deref(),
        Some("198.51.100.8"),
        "audited with the real client"
    );
    t.drop_db().await;
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
        ledger: None,
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
    assert_eq!(reason, "the session was signed in without a second factor");
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
    // The token was taken with the password alone, perhaps by someone else: enrolment ends
    // its session instead of lending it the second factor.
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/audit"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let revoked: String =
        sqlx::query_scalar("SELECT revoke_reason FROM deltran.sessions WHERE kind = 'api'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(revoked, "2FA enrolled");
    t.drop_db().await;
}

#[tokio::test]
async fn a_session_without_a_second_factor_stays_self_service_once_the_account_has_2fa() {
    let t = TestDb::seeded(20).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    // Signed in with the password only, while the operator had no 2FA.
    let early = signed_in(&app, "operator", DEMO_PASSWORD).await;
    let summary =
        |client: &reqwest::Client| client.post(app.url("/api/dashboard/get_summary")).send();
    assert_eq!(summary(&early).await.unwrap().status(), 200);
    // 2FA turned on by any path (here: directly) must not make that session a full one.
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM deltran.users WHERE username = 'operator'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    crate::common::enrol_two_factor(&t.pool, id).await;
    let r = summary(&early).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error(&r.text().await.unwrap()), AppError::TwoFactorRequired);
    // A sign-in with the code is a full session.
    let full = signed_in(&app, "operator", DEMO_PASSWORD).await;
    assert_eq!(summary(&full).await.unwrap().status(), 200);
    t.drop_db().await;
}

#[tokio::test]
async fn redis_holds_no_session_id_a_reader_could_replay() {
    let t = TestDb::seeded(20).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let client = app.new_client();
    let r = app.sign_in(&client, "auditor", DEMO_PASSWORD).await;
    let cookie = session_cookie(&r).expect("a session cookie");
    let id = cookie["deltran_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let keys = crate::common::redis_keys(&format!("{}console:session:*", app.redis_prefix)).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let mut redis = server::db::redis(&crate::common::redis_url()).unwrap();
    let body: String = redis::AsyncCommands::get(&mut redis, &keys[0])
        .await
        .unwrap();
    assert!(
        !keys[0].contains(&id) && !body.contains(&id),
        "{} {body}",
        keys[0]
    );
    // What a reader of Redis could try: the key's name as a cookie.
    let name = keys[0].rsplit(':').next().unwrap();
    let replay = reqwest::Client::new()
        .post(app.url("/api/dashboard/get_summary"))
        .header("cookie", format!("deltran_session={name}"))
        .header("origin", app.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    assert_eq!(
        client
            .post(app.url("/api/dashboard/get_summary"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the real cookie works"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn outside_demo_mode_the_cookie_is_host_only_and_secure() {
    let t = TestDb::seeded(20).await;
    let mut config = test_config(&t.url);
    config.demo_mode = false;
    config.cookie_secure = app::backend::config::Config::from_lookup(|_| None)
        .unwrap()
        .cookie_secure;
    let app = TestApp::spawn(config).await;
    let r = app
        .sign_in(&app.new_client(), "viewer", DEMO_PASSWORD)
        .await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-deltran_session="))
        .unwrap_or_else(|| panic!("{:?}", r.headers()));
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    t.drop_db().await;
}

#[tokio::test]
async fn sign_in_needs_this_origin_even_without_a_cookie() {
    let t = TestDb::seeded(20).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let post = |origin: Option<&str>| {
        let mut r = reqwest::Client::new()
            .post(app.url("/api/auth/login"))
            .form(&[("username", "viewer"), ("password", DEMO_PASSWORD)]);
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        r.send()
    };
    assert_eq!(
        post(Some("https://evil.example")).await.unwrap().status(),
        403
    );
    assert_eq!(post(None).await.unwrap().status(), 403);
    assert_eq!(count(&t.pool, "sessions").await, 0);
    assert!(post(Some(&app.url("")))
        .await
        .unwrap()
        .status()
        .is_success());
    t.drop_db().await;
}

#[tokio::test]
async fn next_after_sign_in_never_leaves_the_site() {
    let t = TestDb::seeded(20).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    for (next, expected) in [
        ("/audit?result=denied", "/audit?result=denied"),
        ("/\t/evil.example", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
        ("//evil.example", "/"),
    ] {
        let r = app
            .new_client()
            .post(app.url("/api/auth/login"))
            .header("accept", "text/html")
            .form(&[
                ("username", "auditor"),
                ("password", DEMO_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{next:?}: {}", r.status());
        assert_eq!(r.headers()["location"], expected, "{next:?}");
    }
    t.drop_db().await;
}

#[tokio::test]
async fn an_access_token_naming_a_browser_session_is_refused() {
    let t = TestDb::seeded(20).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    signed_in(&app, "auditor", DEMO_PASSWORD).await;
    let (sid, user): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT id, user_id FROM deltran.sessions WHERE kind = 'browser'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    let now = chrono::Utc::now().timestamp();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "sub": user, "sid": sid, "role": "auditor", "iat": now, "exp": now + 600 }),
        &jsonwebtoken::EncodingKey::from_secret(app::backend::config::DEMO_SECRET.as_bytes())
            .unwrap(),
    )
    .unwrap();
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
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
