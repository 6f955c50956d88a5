//! The permission matrix, enforced: every REST route (from the API's own route table) and every
//! server function (from Leptos' registry of them) called as anonymous and as each role, with
//! exactly the outcome `Role::can` gives (the table in docs/permissions.md). A route or server
//! function added without a permission makes this fail.

use app::{auth::server_fns, domain::Role};
use reqwest::Method;
use server::api::{api, Access};

use crate::{
    api::token,
    common::{test_config, TestApp, TestDb, DEMO_PASSWORD},
};

/// Allowed means: neither 401 nor 403 (the call may still fail on its empty input, with a 4xx).
/// A 5xx is never an answer the matrix accepts, allowed or not.
fn allowed(status: reqwest::StatusCode, what: &str) -> bool {
    assert!(
        !status.is_server_error(),
        "{what}: {status}, a server error is neither allowed nor refused"
    );
    status != 401 && status != 403
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_matrix_says() {
    let t = TestDb::seeded(50).await;
    let config = test_config(&t.url);
    // Event 1, sealed: the proof routes have something to prove.
    let mut ledger = crate::common::ledger_writer(&config);
    ledger
        .append(vec![app::backend::ledger::NewEvent {
            payment_id: uuid::Uuid::new_v4(),
            event_type: "created".into(),
            payload: b"{}".to_vec(),
            time: chrono::Utc::now(),
        }])
        .unwrap();
    ledger.seal(chrono::Utc::now()).unwrap();
    drop(ledger);
    let app = TestApp::spawn(config).await;
    let mut tokens = Vec::new();
    let mut browsers = Vec::new();
    for role in Role::ALL {
        tokens.push((
            role,
            token(&app, role.as_str()).await["access_token"]
                .as_str()
                .unwrap()
                .to_string(),
        ));
        let client = app.new_client();
        app.sign_in(&client, role.as_str(), DEMO_PASSWORD).await;
        browsers.push((role, client));
    }
    let anonymous = app.new_client();
    let mut checked = 0;

    for route in api().routes {
        // Path parameters get a well-formed id that names nothing.
        let path = route
            .path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{seq}", "1")
            .replace("{number}", "1");
        let url = app.url(&format!("/api/v1{path}"));
        let call = |client: &reqwest::Client, bearer: Option<&str>| {
            let mut req = client.request(
                Method::from_bytes(route.method.as_str().as_bytes()).unwrap(),
                &url,
            );
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            if route.method != reqwest::Method::GET {
                req = req.json(&serde_json::json!({}));
            }
            req.send()
        };
        let plain = reqwest::Client::new();
        let anon = call(&plain, None).await.unwrap().status();
        match route.access {
            Access::Public => assert!(
                allowed(anon, &format!("{} {} anonymous", route.method, route.path)),
                "{} {} is public: {anon}",
                route.method,
                route.path
            ),
            Access::Requires(p) => {
                assert_eq!(anon, 401, "{} {} anonymous", route.method, route.path);
                for (role, bearer) in &tokens {
                    if route.path == "/auth/revoke" {
                        continue; // would end the session the rest of the test uses
                    }
                    let status = call(&plain, Some(bearer)).await.unwrap().status();
                    assert_eq!(
                        allowed(
                            status,
                            &format!("{} {} as {role}", route.method, route.path)
                        ),
                        role.can(p),
                        "{} {} as {role}: {status}",
                        route.method,
                        route.path
                    );
                    if !role.can(p) {
                        assert_eq!(status, 403);
                    }
                }
            }
        }
        checked += 1;
    }

    let registered: Vec<(String, String)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (path.to_string(), method.to_string()))
        .collect();
    assert!(!registered.is_empty());
    for (path, method) in &registered {
        let Some(access) = server_fns()
            .into_iter()
            .find(|f| f.path == path)
            .map(|f| f.access)
        else {
            panic!("server function {path} has no guard!");
        };
        if path == "/api/auth/logout" || path == "/api/auth/login" {
            continue; // would sign the browsers out / in; covered in auth.rs
        }
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let anon = anonymous
            .request(m.clone(), app.url(path))
            .send()
            .await
            .unwrap()
            .status();
        match access {
            None => assert!(
                allowed(anon, &format!("{path} anonymous")),
                "{path} is open to anyone: {anon}"
            ),
            Some(p) => {
                assert_eq!(anon, 401, "{path} anonymous");
                for (role, client) in &browsers {
                    let status = client
                        .request(m.clone(), app.url(path))
                        .send()
                        .await
                        .unwrap()
                        .status();
                    assert_eq!(
                        allowed(status, &format!("{path} as {role}")),
                        role.can(p),
                        "{path} as {role}: {status}"
                    );
                }
            }
        }
        checked += 1;
    }
    for download in server::downloads::ROUTES {
        let path = &download.path.replace("{seq}", "1");
        let anon = anonymous.get(app.url(path)).send().await.unwrap().status();
        assert_eq!(anon, 401, "{path} anonymous");
        for (role, client) in &browsers {
            let status = client.get(app.url(path)).send().await.unwrap().status();
            let may = download.permissions.iter().all(|p| role.can(*p));
            assert_eq!(status.is_success(), may, "{path} as {role}: {status}");
            if !may {
                assert_eq!(status, 403, "{path} as {role}");
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        api().routes.len() + registered.len() - 2 + server::downloads::ROUTES.len(),
        "every route was called"
    );
    assert_eq!(
        server_fns().len(),
        registered.len(),
        "one guard! per registered function"
    );
    t.drop_db().await;
}
