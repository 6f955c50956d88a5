//! The REST API's tokens: issue, refresh with rotation, reuse detection, revoke, `me`.

use serde_json::{json, Value};

use crate::common::{test_config, TestApp, TestDb, DEMO_PASSWORD};

/// `POST /api/v1/auth/token` for a demo user; returns the JSON answer.
pub async fn token(app: &TestApp, username: &str) -> Value {
    let otp = app.code_if_enrolled(username).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "username": username, "password": DEMO_PASSWORD, "otp": otp }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "token for {username}");
    r.json().await.unwrap()
}

async fn post(app: &TestApp, path: &str, body: Value, bearer: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(app.url(path)).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn tokens_rotate_and_a_reused_refresh_token_revokes_the_session() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pair = token(&app, "auditor").await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let access = pair["access_token"].as_str().unwrap();

    let me: Value = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "auditor");
    assert_eq!(me["role"], "auditor");
    assert!(me["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("AuditVerify")));

    let first = pair["refresh_token"].as_str().unwrap().to_string();
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({ "refresh_token": first }),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, first, "refresh rotates");

    // The first token again: someone else has it. The whole session ends.
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({ "refresh_token": first }),
        None,
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = post(
        &app,
        "/api/v1/auth/refresh",
        json!({ "refresh_token": second_refresh }),
        None,
    )
    .await;
    assert_eq!(r.status(), 401, "the rotated token died with its session");
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(second["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "access tokens of a revoked session stop at once"
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM deltran.audit_log WHERE action LIKE 'token.%' ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(actions, ["token.issue", "token.refresh", "token.reuse"]);
    t.drop_db().await;
}

#[tokio::test]
async fn revoke_ends_the_presented_session_and_errors_have_one_shape() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pair = token(&app, "viewer").await;
    let access = pair["access_token"].as_str().unwrap();
    let r = post(&app, "/api/v1/auth/revoke", json!({}), Some(access)).await;
    assert_eq!(r.status(), 204);
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["request_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));

    let r = post(
        &app,
        "/api/v1/auth/token",
        json!({ "username": "viewer", "password": "wrong" }),
        None,
    )
    .await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Invalid username or password.");

    let r = reqwest::Client::new()
        .get(app.url("/api/v1/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["paths"]["/api/v1/me"]["get"]["x-permission"], "self");
    the_document_describes_every_route(&doc);
    t.drop_db().await;
}

/// Every route of the table is in the document with its answers (a success with its content,
/// and the errors), and every schema it refers to is defined.
fn the_document_describes_every_route(doc: &Value) {
    for route in server::api::api().routes {
        let op =
            &doc["paths"][format!("/api/v1{}", route.path)][route.method.as_str().to_lowercase()];
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{} {}", route.method, route.path));
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{} {}: a success",
            route.method,
            route.path
        );
        assert!(responses.contains_key("503"));
        if route.path.contains("{id}") {
            assert!(
                responses.contains_key("404") && responses.contains_key("422"),
                "{}",
                route.path
            );
        }
    }
    let text = doc.to_string();
    for reference in text.split(r##""$ref":"#/components/"##).skip(1) {
        let path = reference.split('"').next().unwrap();
        let mut node = &doc["components"];
        for part in path.split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "{path} is referred to but not defined");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "PaymentRow",
        "PaymentDetail",
        "TimelineEntry",
        "BankRow",
        "Account",
        "BatchDetail",
        "AuditRow",
        "TokenPair",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
}

#[tokio::test]
async fn an_auditor_reads_verifies_and_exports_the_audit_log() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let bearer = token(&app, "auditor").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |path: &str| {
        reqwest::Client::new()
            .get(app.url(path))
            .bearer_auth(&bearer)
            .send()
    };

    let page: Value = get("/api/v1/audit?action=auth.login&limit=10")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert!(items.iter().all(|i| i["action"] == "auth.login"));
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = get(&format!(
        "/api/v1/audit?action=auth.login&limit=10&after={cursor}"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let first_of_next = next["items"][0]["id"].as_i64().unwrap();
    assert!(
        first_of_next < items[9]["id"].as_i64().unwrap(),
        "the next page continues, older"
    );
    let r = get("/api/v1/audit?result=maybe").await.unwrap();
    assert_eq!(r.status(), 422);

    let report: Value = get("/api/v1/audit/verify")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["checked"].as_i64().unwrap() > 300);
    assert!(report["first_broken"].is_null());

    let r = get("/api/v1/audit/export?format=csv&action=auth.login")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    let logins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deltran.audit_log WHERE action = 'auth.login'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(
        csv.trim_end().lines().count() as i64,
        logins + 1,
        "a header and every row"
    );
    let exports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deltran.audit_log WHERE action = 'audit.export'")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(exports, 1, "the export is itself audited");
    t.drop_db().await;
}

#[tokio::test]
async fn a_refresh_chain_ends_at_the_absolute_lifetime_from_the_first_token() {
    let t = TestDb::seeded(50).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let pair = token(&app, "auditor").await;
    let refresh = |token: String| {
        post(
            &app,
            "/api/v1/auth/refresh",
            json!({ "refresh_token": token }),
            None,
        )
    };
    let r = refresh(pair["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    // Neither the first token nor a refresh gives the session more than 12 hours in all.
    let span: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM deltran.sessions \
         WHERE kind = 'api'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert!(span <= 12.0 * 3600.0 + 1.0, "the session may last {span} s");

    // The chain began 13 hours ago, refreshed all along: it is over.
    sqlx::query(
        "UPDATE deltran.sessions SET created_at = now() - interval '13 hours' WHERE kind = 'api'",
    )
    .execute(&t.pool)
    .await
    .unwrap();
    let r = refresh(second["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(r.status(), 401);
    t.drop_db().await;
}
