//! Banks, called as a browser and an API client call them: every filter and order over keyset
//! pages, refused values, the CSV, and a bank's page against the database's own figures.

use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    api::token,
    common::{api_get, call, page_html, signed_in, test_config, TestApp, TestDb, DEMO_PASSWORD},
    lists::{Case, ListArea},
};

const BANKS: ListArea = ListArea {
    function: "/api/banks/list_banks",
    rows: "/rows",
    next: "/next",
    from: "FROM deltran.banks b WHERE true",
    id: "b.id",
    args_in: Some("query"),
    page: "/banks",
    label: "Banks",
};

const BY_NAME: &str = "b.name, b.id";

/// 130 more banks beside the seed's 24: two of each name (so the order needs its id), in DE
/// and FR, every risk rating and KYC status, every 9th inactive.
async fn more_banks(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO deltran.banks (bic_code, name, country_code, is_active, risk_rating, \
             kyc_status, kyc_verified_at) \
         SELECT 'T' || chr(65 + (i / 676) % 26) || chr(65 + (i / 26) % 26) || chr(65 + i % 26) \
                    || CASE WHEN i % 2 = 0 THEN 'DE' ELSE 'FR' END || 'X1', \
                'Test Bank ' || lpad((i / 2)::text, 3, '0'), \
                CASE WHEN i % 2 = 0 THEN 'DE' ELSE 'FR' END, i % 9 <> 0, \
                (ARRAY['low', 'medium', 'high', 'critical'])[1 + i % 4], \
                (ARRAY['pending', 'verified', 'rejected', 'expired'])[1 + i % 4], \
                CASE WHEN i % 4 IN (1, 3) THEN now() END \
         FROM generate_series(1, 130) AS i",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn every_filter_and_order_pages_each_matching_bank_exactly_once() {
    let t = TestDb::seeded(200).await;
    more_banks(&t.pool).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let cases: &[Case] = &[
        (&[], "true", BY_NAME),
        (&[("sort", "bic")], "true", "b.bic_code, b.id"),
        (
            &[("sort", "country")],
            "true",
            "b.country_code, b.name, b.id",
        ),
        // Part of a name or a BIC, any case, taken literally.
        (&[("q", "BANK 01")], "b.name ILIKE '%bank 01%'", BY_NAME),
        (&[("q", "dex1")], "b.bic_code ILIKE '%DEX1%'", BY_NAME),
        (&[("q", "%")], "false", BY_NAME),
        (&[("country", "de")], "b.country_code = 'DE'", BY_NAME),
        (&[("kyc", "expired")], "b.kyc_status = 'expired'", BY_NAME),
        (
            &[("risk", "critical"), ("sort", "bic")],
            "b.risk_rating = 'critical'",
            "b.bic_code, b.id",
        ),
        (&[("active", "false")], "NOT b.is_active", BY_NAME),
        (
            &[("active", "true"), ("country", "FR"), ("sort", "country")],
            "b.is_active AND b.country_code = 'FR'",
            "b.country_code, b.name, b.id",
        ),
    ];
    BANKS
        .pages_every_row_once(&app, &viewer, &t.pool, cases)
        .await;
    BANKS
        .refuses(
            &app,
            &viewer,
            &[
                (vec![("kyc", "approved")], "kyc"),
                (vec![("risk", "extreme")], "risk"),
                (vec![("active", "maybe")], "active"),
                (vec![("country", "DEU")], "country"),
                (vec![("sort", "size")], "sort"),
                (
                    vec![
                        ("sort", "bic"),
                        (
                            "after",
                            "n.Test Bank 001.00000000-0000-0000-0000-000000000000",
                        ),
                    ],
                    "after",
                ),
            ],
        )
        .await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    BANKS
        .page_links(
            &app,
            &auditor,
            "country=DE",
            Some("/downloads/banks.csv"),
            ("q=nosuchbank", "No banks match these filters."),
        )
        .await;
    BANKS
        .exports(
            &app,
            &auditor,
            &t.pool,
            (
                "/downloads/banks.csv?kyc=verified&sort=bic",
                "banks.export",
                "bic_code,name,country_code,is_active,risk_rating,kyc_status,kyc_verified_at,id",
            ),
            ("b.kyc_status = 'verified'", "b.bic_code, b.id"),
        )
        .await;
    t.drop_db().await;
}

fn decimal(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string: {v}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_banks_page_adds_up_to_the_databases_own_figures() {
    let t = TestDb::seeded(1500).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    // The seed froze bank 23 ("Sanctions list match") and throttles an account of bank 17.
    let frozen: String = sqlx::query_scalar(
        "SELECT entity_id FROM deltran.rate_limits WHERE entity_type = 'bank' AND action_type = 'freeze'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    let r = call(&app, &viewer, "/api/banks/get_bank", &[("id", &frozen)]).await;
    assert_eq!(r.status(), 200);
    let detail: Value = r.json().await.unwrap();
    let controls = detail["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 1);
    assert_eq!(controls[0]["action"], "freeze");

    // Totals per currency are the v_bank_balances view's; each account is balanced.
    let accounts = detail["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 10, "one per currency");
    for a in accounts {
        assert_eq!(
            decimal(&a["balance"]),
            decimal(&a["available_balance"]) + decimal(&a["reserved_balance"])
        );
    }
    let view: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT currency::text, account_count, total_balance::text FROM deltran.v_bank_balances \
         WHERE bank_id = $1::uuid ORDER BY currency::text",
    )
    .bind(&frozen)
    .fetch_all(&t.pool)
    .await
    .unwrap();
    let totals: Vec<(String, i64, String)> = detail["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["currency"].as_str().unwrap().to_string(),
                t["account_count"].as_i64().unwrap(),
                decimal(&t["total_balance"]).to_string(),
            )
        })
        .collect();
    let view: Vec<_> = view
        .into_iter()
        .map(|(c, n, b)| (c, n, b.parse::<Decimal>().unwrap().to_string()))
        .collect();
    let mut totals = totals;
    totals.sort();
    assert_eq!(totals, view, "(both by currency code)");
    let sum: Decimal = accounts.iter().map(|a| decimal(&a["balance"])).sum();
    let total: Decimal = detail["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| decimal(&t["total_balance"]))
        .sum();
    assert_eq!(sum, total, "the totals are the accounts summed");

    // The 30 days' volume is what the payments say.
    let sent: Option<String> = sqlx::query_scalar(
        "SELECT sum(amount)::text FROM deltran.payments WHERE sender_bank_id = $1::uuid \
         AND status = 'settled' AND created_at >= now() - interval '30 days' AND currency = 'USD'",
    )
    .bind(&frozen)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    let usd = detail["volume"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["currency"] == "USD");
    match (sent, usd) {
        (Some(sent), Some(usd)) => {
            assert_eq!(decimal(&usd["sent"]), sent.parse::<Decimal>().unwrap())
        }
        (None, usd) => assert!(usd.is_none_or(|u| decimal(&u["sent"]).is_zero())),
        (Some(sent), None) => panic!("{sent} sent in USD, not shown"),
    }

    let html = page_html(&app, &viewer, &format!("/banks/{frozen}")).await;
    assert!(html.contains(r#"aria-label="Accounts""#));
    assert!(html.contains("✓ holds"));
    assert!(html.contains(&format!(r#"href="/payments?bank={frozen}""#)));
    assert!(html.contains("Sanctions list match under investigation"));

    let r = call(&app, &viewer, "/api/banks/get_bank", &[("id", "DLTRUS33")]).await;
    assert_eq!(r.status(), 422, "a BIC is not an id");
    let r = call(
        &app,
        &viewer,
        "/api/banks/get_bank",
        &[("id", &uuid::Uuid::nil().to_string())],
    )
    .await;
    assert_eq!(r.status(), 404);

    // The REST API: the list and a bank's accounts.
    let bearer = token(&app, "viewer").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |path: String| api_get(&app, &bearer, path);
    let (status, body) = get("/api/v1/banks?country=DE&limit=1".into()).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert!(body["next_cursor"].is_string());
    let (status, body) = get(format!("/api/v1/banks/{frozen}/accounts")).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 10);
    assert_eq!(get("/api/v1/banks/x/accounts".into()).await.0, 422);
    assert_eq!(
        get(format!("/api/v1/banks/{}/accounts", uuid::Uuid::nil()))
            .await
            .0,
        404
    );
    assert_eq!(get("/api/v1/banks?kyc=maybe".into()).await.0, 422);
    t.drop_db().await;
}
