//! The profile: own password, two-factor enrolment, own sessions.

use app::{backend::totp, domain::Role, profile::TwoFactorSetup};

use crate::{
    common::{
        assert_field_error, call, enrol_two_factor, signed_in, test_config, TestApp, TestDb,
        DEMO_PASSWORD,
    },
    users::{fresh, make_user},
};

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let (laptop, phone) = (app.new_client(), app.new_client());
    app.sign_in(&laptop, "operator", DEMO_PASSWORD).await;
    app.sign_in(&phone, "operator", DEMO_PASSWORD).await;

    let change = |current: &str, new: &str, repeat: &str| {
        laptop
            .post(app.url("/api/profile/change_password"))
            .form(&[("current", current), ("new", new), ("repeat", repeat)])
            .send()
    };
    let r = change(
        "wrong current password",
        "a brand new password",
        "a brand new password",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("current"));
    let r = change(DEMO_PASSWORD, "short", "short").await.unwrap();
    assert_eq!(r.status(), 422);
    let r = change(
        DEMO_PASSWORD,
        "a brand new password",
        "a brand new password",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);

    let summary = |c: &reqwest::Client| c.post(app.url("/api/dashboard/get_summary")).send();
    assert_eq!(
        summary(&laptop).await.unwrap().status(),
        200,
        "this session goes on"
    );
    assert_eq!(
        summary(&phone).await.unwrap().status(),
        401,
        "the other one ended"
    );
    let r = app
        .sign_in(&app.new_client(), "operator", DEMO_PASSWORD)
        .await;
    assert_eq!(r.status(), 401, "the old password is gone");
    let r = app
        .sign_in(&app.new_client(), "operator", "a brand new password")
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    t.drop_db().await;
}

#[tokio::test]
async fn enrolling_an_authenticator_turns_two_factor_on() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let client = app.new_client();
    app.sign_in(&client, "viewer", DEMO_PASSWORD).await;
    let setup: TwoFactorSetup = client
        .post(app.url("/api/profile/begin_two_factor"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(setup.qr_svg.contains("<svg"));
    let secret = totp::base32_decode(&setup.secret).unwrap();
    let confirm = |code: String| {
        client
            .post(app.url("/api/profile/confirm_two_factor"))
            .form(&[("code", code)])
            .send()
    };
    assert_eq!(confirm("123456".into()).await.unwrap().status(), 422);
    let codes: Vec<String> = confirm(totp::code_at(&secret, chrono::Utc::now().timestamp()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);

    // From now on the password alone is not enough; a recovery code works once.
    let r = app
        .post_login(&app.new_client(), "viewer", DEMO_PASSWORD, None)
        .await;
    assert_eq!(r.text().await.unwrap(), "\"OtpRequired\"");
    let with_code = |code: String| {
        app.new_client()
            .post(app.url("/api/auth/login"))
            .form(&[
                ("username", "viewer".to_string()),
                ("password", DEMO_PASSWORD.to_string()),
                ("otp", code),
            ])
            .send()
    };
    assert!(with_code(codes[0].clone())
        .await
        .unwrap()
        .status()
        .is_success());
    assert_eq!(
        with_code(codes[0].clone()).await.unwrap().status(),
        401,
        "single use"
    );
    let enrolled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'user.2fa_enrol'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(enrolled, 1);
    t.drop_db().await;
}

#[tokio::test]
async fn one_can_end_ones_own_other_sessions_but_not_someone_elses() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let (a, b, other) = (app.new_client(), app.new_client(), app.new_client());
    app.sign_in(&a, "auditor", DEMO_PASSWORD).await;
    app.sign_in(&b, "auditor", DEMO_PASSWORD).await;
    app.sign_in(&other, "viewer", DEMO_PASSWORD).await;
    let profile: app::profile::Profile = a
        .post(app.url("/api/profile/get_profile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile.sessions.len(), 2);
    let theirs = profile.sessions.iter().find(|s| !s.current).unwrap().id;
    let r = other
        .post(app.url("/api/profile/revoke_own_session"))
        .form(&[("id", theirs.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "not the viewer's session");
    let r = a
        .post(app.url("/api/profile/revoke_own_session"))
        .form(&[("id", theirs.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        b.post(app.url("/api/dashboard/get_summary"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    t.drop_db().await;
}

/// A password change with `current` as the current password.
async fn guess(app: &TestApp, client: &reqwest::Client, current: &str) -> reqwest::Response {
    let new = "the thief's password";
    call(
        app,
        client,
        "/api/profile/change_password",
        &[("current", current), ("new", new), ("repeat", new)],
    )
    .await
}

#[tokio::test]
async fn wrong_current_passwords_count_like_failed_sign_ins_and_lock_out() {
    let t = TestDb::seeded(50).await;
    let config = test_config(&t.url);
    let limit = config.login_max_failures;
    let app = TestApp::spawn(config).await;
    let name = fresh("guesser");
    make_user(&t.pool, &name, Role::Viewer, "the real password 1").await;
    // A stolen session guessing the password it does not know.
    let stolen = signed_in(&app, &name, "the real password 1").await;
    for _ in 1..limit {
        assert_eq!(guess(&app, &stolen, "guess number n").await.status(), 422);
    }
    let r = guess(&app, &stolen, "the last guess").await;
    assert_eq!(r.status(), 429, "the limit is reached");
    let r = guess(&app, &stolen, "the real password 1").await;
    assert_eq!(
        r.status(),
        429,
        "even the right one, until the lockout ends"
    );
    assert!(r.headers().contains_key("retry-after"));
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = 'auth.login' \
         AND result = 'failure' AND actor_name = $1",
    )
    .bind(&name)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(failures, i64::from(limit));
    let r = app
        .sign_in(&app.new_client(), &name, "the real password 1")
        .await;
    assert_eq!(r.status(), 429, "the account is locked for sign-in too");
    t.drop_db().await;
}

#[tokio::test]
async fn enrolling_another_authenticator_takes_a_code_of_the_current_one() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let name = fresh("reenrol");
    let id = make_user(&t.pool, &name, Role::Operator, "reenrol password 1").await;
    enrol_two_factor(&t.pool, id).await;
    let client = signed_in(&app, &name, "reenrol password 1").await;
    let setup: TwoFactorSetup = call(&app, &client, "/api/profile/begin_two_factor", &[])
        .await
        .json()
        .await
        .unwrap();
    let new_secret = totp::base32_decode(&setup.secret).unwrap();
    let new_code = totp::code_at(&new_secret, chrono::Utc::now().timestamp());
    // A session alone (a stolen cookie) cannot move the second factor to another device.
    assert_field_error(
        &app,
        &client,
        "/api/profile/confirm_two_factor",
        &[("code", new_code.as_str())],
        "current",
    )
    .await;
    assert_field_error(
        &app,
        &client,
        "/api/profile/confirm_two_factor",
        &[("code", new_code.as_str()), ("current", "000000")],
        "current",
    )
    .await;
    let secret_of = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT totp_secret FROM deltran.users WHERE id = $1")
            .bind(id)
            .fetch_one(&t.pool)
            .await
            .unwrap()
    };
    let before = secret_of().await;
    let current = app.one_time_code(&name).await;
    let r = call(
        &app,
        &client,
        "/api/profile/confirm_two_factor",
        &[("code", new_code.as_str()), ("current", current.as_str())],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_ne!(secret_of().await, before, "the new authenticator's secret");
    t.drop_db().await;
}
