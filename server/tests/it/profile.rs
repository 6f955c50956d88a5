//! The profile: own password, two-factor enrolment, own sessions.

use app::{backend::totp, profile::TwoFactorSetup};

use crate::common::{test_config, TestApp, TestDb, DEMO_PASSWORD};

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
