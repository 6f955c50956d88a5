//! Settlement batches: every filter and order over keyset pages, the CSV, and the netting of
//! every seeded batch (positions that sum to zero, the stored net amount the positions give,
//! and the one batch the seed made inconsistent, flagged).

use rust_decimal::Decimal;
use serde_json::Value;

use crate::{
    api::token,
    common::{api_get, call, page_html, signed_in, test_config, TestApp, TestDb, DEMO_PASSWORD},
    lists::{Case, ListArea},
};

const BATCHES: ListArea = ListArea {
    function: "/api/settlements/list_batches",
    rows: "/rows",
    next: "/next",
    from: "FROM deltran.settlement_batches s WHERE true",
    id: "s.id",
    args_in: Some("query"),
    page: "/settlements",
    label: "Settlement batches",
};

const NEWEST: &str = "s.created_at DESC, s.id DESC";

fn decimal(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string: {v}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_filter_and_order_pages_each_matching_batch_exactly_once() {
    let t = TestDb::seeded(600).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;
    let bank: String =
        sqlx::query_scalar("SELECT id::text FROM deltran.banks ORDER BY bic_code LIMIT 1")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    let bank_cond = format!(
        "EXISTS (SELECT 1 FROM deltran.payments p WHERE p.batch_id = s.id \
         AND '{bank}' IN (p.sender_bank_id, p.receiver_bank_id))"
    );
    let cases: &[Case] = &[
        (&[], "true", NEWEST),
        (&[("sort", "oldest")], "true", "s.created_at ASC, s.id ASC"),
        (
            &[("sort", "largest")],
            "true",
            "s.gross_amount DESC, s.id DESC",
        ),
        (&[("status", "draft")], "s.status = 'draft'", NEWEST),
        (
            &[("status", "draft,settled"), ("currency", "JPY")],
            "s.currency = 'JPY'",
            NEWEST,
        ),
        (
            &[("corridor", "EUR-MULTI")],
            "s.corridor_id = 'EUR-MULTI'",
            NEWEST,
        ),
        (&[("batch_type", "gross")], "false", NEWEST),
        (
            &[("batch_type", "multilateral_net"), ("currency", "GBP")],
            "s.currency = 'GBP'",
            NEWEST,
        ),
        (&[("bank", &bank)], &bank_cond, NEWEST),
        (
            &[("from", "2026-10-01T00:00"), ("to", "2026-11-01T00:00")],
            "s.created_at >= '2026-10-01Z' AND s.created_at < '2026-11-01Z'",
            NEWEST,
        ),
    ];
    BATCHES
        .pages_every_row_once(&app, &viewer, &t.pool, cases)
        .await;
    BATCHES
        .refuses(
            &app,
            &viewer,
            &[
                (vec![("status", "open")], "status"),
                (vec![("currency", "usd1")], "currency"),
                (vec![("bank", "DLTRUS33")], "bank"),
                (vec![("to", "soon")], "to"),
                (vec![("sort", "net")], "sort"),
            ],
        )
        .await;
    let auditor = signed_in(&app, "auditor", DEMO_PASSWORD).await;
    BATCHES
        .exports(
            &app,
            &auditor,
            &t.pool,
            (
                "/downloads/settlements.csv?currency=EUR",
                "settlements.export",
                "created_at,batch_reference,status,currency,corridor_id,batch_type,total_payments,\
                 gross_amount,net_amount,settled_at,id",
            ),
            ("s.currency = 'EUR'", NEWEST),
        )
        .await;
    t.drop_db().await;
}

#[tokio::test]
async fn every_seeded_batch_nets_to_zero_and_only_the_inconsistent_one_is_flagged() {
    let t = TestDb::seeded(2000).await;
    let app = TestApp::spawn(test_config(&t.url)).await;
    let viewer = signed_in(&app, "viewer", DEMO_PASSWORD).await;

    // Straight from the tables: in every batch the positions sum to zero, and (but for the one
    // the seed made wrong) the stored net is the sum of the positive positions.
    let wrong: Vec<(String, String)> = sqlx::query_as(
        "WITH legs AS (SELECT batch_id, sender_bank_id AS bank, -amount AS net FROM deltran.payments \
                       WHERE batch_id IS NOT NULL \
                       UNION ALL SELECT batch_id, receiver_bank_id, amount FROM deltran.payments \
                       WHERE batch_id IS NOT NULL), \
              pos AS (SELECT batch_id, bank, sum(net) AS net FROM legs GROUP BY 1, 2), \
              nets AS (SELECT batch_id, sum(net) AS total, sum(net) FILTER (WHERE net > 0) AS settled \
                       FROM pos GROUP BY 1) \
         SELECT s.id::text, s.batch_reference FROM deltran.settlement_batches s \
         LEFT JOIN nets n ON n.batch_id = s.id \
         WHERE coalesce(n.total, 0) <> 0 OR s.net_amount <> coalesce(n.settled, 0) \
         ORDER BY s.batch_reference",
    )
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        wrong.len(),
        1,
        "one deliberately inconsistent batch: {wrong:?}"
    );
    let (wrong_id, wrong_ref) = &wrong[0];
    assert!(wrong_ref.ends_with("-USD"), "{wrong_ref}");

    let detail = |id: String| {
        let (app, viewer) = (&app, &viewer);
        async move {
            let r = call(app, viewer, "/api/settlements/get_batch", &[("id", &id)]).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let flagged = detail(wrong_id.clone()).await;
    let found: Vec<&Value> = flagged["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].get("NetAmount").is_some());
    let html = page_html(&app, &viewer, &format!("/settlements/{wrong_id}")).await;
    assert!(html.contains("This batch disagrees with its payments"));

    // A settled batch with payments: balanced, stored figures as computed, a saving shown, and
    // each bank's row leads to its payments in the batch.
    let id: String = sqlx::query_scalar(
        "SELECT id::text FROM deltran.settlement_batches WHERE status = 'settled' AND total_payments > 5 \
         AND id <> $1::uuid ORDER BY gross_amount DESC LIMIT 1",
    )
    .bind(wrong_id)
    .fetch_one(&t.pool)
    .await
    .unwrap();
    let ok = detail(id.clone()).await;
    assert_eq!(ok["discrepancies"], serde_json::json!([]));
    let netting = &ok["netting"];
    assert!(decimal(&netting["net_sum"]).is_zero());
    assert_eq!(
        decimal(&netting["gross"]),
        decimal(&ok["batch"]["gross_amount"])
    );
    assert_eq!(
        decimal(&netting["net_settled"]),
        decimal(&ok["batch"]["net_amount"])
    );
    let positions = ok["positions"].as_array().unwrap();
    let net: Decimal = positions
        .iter()
        .map(|p| decimal(&p["received"]) - decimal(&p["sent"]))
        .sum();
    assert!(net.is_zero());
    let html = page_html(&app, &viewer, &format!("/settlements/{id}")).await;
    assert!(html.contains(r#"aria-label="Netting""#));
    assert!(html.contains("✓ the net positions sum to zero"));
    let bank = positions[0]["bank_id"].as_str().unwrap();
    assert!(html.contains(&format!(
        "/payments?batch={id}&amp;bank={bank}&amp;currency="
    )));

    // A netting day: per currency, the positions sum to zero.
    let day = ok["batch"]["created_at"].as_str().unwrap()[..10].to_string();
    let r = call(
        &app,
        &viewer,
        "/api/settlements/get_netting_day",
        &[("day", &day)],
    )
    .await;
    let day_view: Value = r.json().await.unwrap();
    assert_eq!(day_view["batches"], 10, "one batch per currency and day");
    for n in day_view["netting"].as_array().unwrap() {
        assert!(decimal(&n["net_sum"]).is_zero(), "{n}");
    }
    let r = call(
        &app,
        &viewer,
        "/api/settlements/get_netting_day",
        &[("day", "yesterday")],
    )
    .await;
    assert_eq!(r.status(), 422);

    // The REST API.
    let bearer = token(&app, "viewer").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |path: String| api_get(&app, &bearer, path);
    let (status, body) = get(format!("/api/v1/settlements/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["positions"], ok["positions"]);
    let (status, body) = get("/api/v1/settlements?status=settled&limit=3".into()).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 3);
    assert_eq!(get("/api/v1/settlements/nope".into()).await.0, 422);
    assert_eq!(
        get(format!("/api/v1/settlements/{}", uuid::Uuid::nil()))
            .await
            .0,
        404
    );
    t.drop_db().await;
}
