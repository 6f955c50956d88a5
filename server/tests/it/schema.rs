//! The schema: migrations, audit partitions, append-only tables and the audit chain.

use app::backend::{
    audit::{self, Actor, AuditEvent, AuditRow, GENESIS_HASH},
    context::RequestContext,
    jobs,
};
use chrono::{Datelike, Utc};
use serde_json::json;
use server::db;
use sqlx::AssertSqlSafe;

use crate::common::TestDb;

/// The values a `CHECK (column IN ('a', 'b', …))` constraint of `deltran.audit_log` allows.
async fn allowed_by(pool: &sqlx::PgPool, constraint: &str) -> Vec<String> {
    let definition: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1",
    )
    .bind(constraint)
    .fetch_one(pool)
    .await
    .unwrap();
    let mut values: Vec<String> = definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    values.sort();
    values
}

/// The console's pool plans each statement for the values it is given (a cached generic plan
/// cannot use the search box's prefix index for `LIKE $1`).
#[tokio::test]
async fn the_consoles_connections_plan_each_statement_for_its_values() {
    let t = TestDb::migrated().await;
    let pool = server::db::pool(&t.url, 1).unwrap();
    let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "force_custom_plan");
    pool.close().await;
    t.drop_db().await;
}

#[tokio::test]
async fn the_audit_vocabulary_is_the_constraints_vocabulary() {
    use app::backend::audit::{ActorKind, Outcome, Severity};
    use strum::VariantArray;
    let t = TestDb::migrated().await;
    fn names<T: Copy + Into<&'static str>>(all: &[T]) -> Vec<String> {
        let mut v: Vec<String> = all.iter().map(|x| (*x).into().to_string()).collect();
        v.sort();
        v
    }
    for (constraint, rust) in [
        ("audit_log_severity_check", names(Severity::VARIANTS)),
        ("audit_log_actor_type_check", names(ActorKind::VARIANTS)),
        ("audit_log_result_check", names(Outcome::VARIANTS)),
    ] {
        assert_eq!(allowed_by(&t.pool, constraint).await, rust, "{constraint}");
    }
    t.drop_db().await;
}

/// Everything a migration could change, as text: tables, columns, constraints, indexes,
/// triggers, functions and views of the deltran schema.
async fn catalog(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, '') \
           FROM information_schema.columns WHERE table_schema = 'deltran' \
         UNION ALL SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'deltran'::regnamespace \
         UNION ALL SELECT 'idx ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'deltran' \
         UNION ALL SELECT 'trg ' || tgrelid::regclass::text || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal \
         UNION ALL SELECT 'fn ' || p.oid::regprocedure::text || md5(p.prosrc) FROM pg_proc p WHERE pronamespace = 'deltran'::regnamespace \
         UNION ALL SELECT 'view ' || viewname || md5(definition) FROM pg_views WHERE schemaname = 'deltran' \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn migrations_applied_twice_change_nothing() {
    let t = TestDb::empty().await;
    let applied = db::migrate_up(&t.pool).await.unwrap();
    assert_eq!(applied, db::MIGRATOR.iter().count());
    let before = catalog(&t.pool).await;
    assert!(before
        .iter()
        .any(|l| l.starts_with("col payments.amount numeric")));
    assert_eq!(
        db::migrate_up(&t.pool).await.unwrap(),
        0,
        "nothing left to apply"
    );
    assert_eq!(catalog(&t.pool).await, before);
    let status = db::migrate_status(&t.pool).await.unwrap();
    assert!(status.iter().all(|(applied, _, _)| *applied));
    t.drop_db().await;
}

#[tokio::test]
async fn the_partition_job_creates_the_coming_months_and_far_rows_land_in_default() {
    let t = TestDb::migrated().await;
    let created = jobs::ensure_audit_partitions(&t.pool, 3).await.unwrap();
    assert_eq!(created, 4, "this month and three ahead");
    assert_eq!(
        jobs::ensure_audit_partitions(&t.pool, 3).await.unwrap(),
        0,
        "idempotent"
    );
    let today = Utc::now().date_naive();
    let mut month = jobs::month_start(today);
    for _ in 0..4 {
        let name = format!("deltran.audit_log_y{}m{:02}", month.year(), month.month());
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(&name)
            .fetch_one(&t.pool)
            .await
            .unwrap();
        assert!(exists, "{name} exists");
        month = jobs::month_start(month + chrono::Duration::days(32));
    }

    // A row written now goes to this month's partition; one dated years ahead to DEFAULT.
    let mut tx = t.pool.begin().await.unwrap();
    let row = audit::record(
        &mut tx,
        AuditEvent::new(Actor::system("test"), "test.now", "test", None),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let part: String =
        sqlx::query_scalar("SELECT tableoid::regclass::text FROM deltran.audit_log WHERE id = $1")
            .bind(row.id)
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!(
        part,
        format!("deltran.audit_log_y{}m{:02}", today.year(), today.month())
    );

    sqlx::query(
        "INSERT INTO deltran.audit_log (id, event_type, action, result, event_hash, \"timestamp\") \
         VALUES (999999, 'test', 'test.future', 'success', repeat('a', 64), '2035-06-01T00:00:00Z')",
    )
    .execute(&t.pool)
    .await
    .unwrap();
    let part: String = sqlx::query_scalar(
        "SELECT tableoid::regclass::text FROM deltran.audit_log WHERE id = 999999",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(part, "deltran.audit_log_default");
    // The job does not fail for a month whose rows already sit in DEFAULT.
    let created = jobs::ensure_audit_partitions_from(&t.pool, "2035-06-01".parse().unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(created, 0);
    t.drop_db().await;
}

#[tokio::test]
async fn append_only_tables_refuse_update_delete_and_truncate() {
    let t = TestDb::migrated().await;
    jobs::ensure_audit_partitions(&t.pool, 0).await.unwrap();
    let mut tx = t.pool.begin().await.unwrap();
    audit::record(
        &mut tx,
        AuditEvent::new(Actor::system("test"), "test.row", "test", None),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let partition = format!(
        "deltran.audit_log_y{}m{:02}",
        Utc::now().year(),
        Utc::now().month()
    );
    for statement in [
        "UPDATE deltran.audit_log SET actor_name = 'mallory'".to_string(),
        "DELETE FROM deltran.audit_log".to_string(),
        "TRUNCATE deltran.audit_log".to_string(),
        format!("UPDATE {partition} SET actor_name = 'mallory'"),
        format!("DELETE FROM {partition}"),
        format!("TRUNCATE {partition}"),
        "TRUNCATE deltran.transaction_log".to_string(),
    ] {
        let err = sqlx::query(AssertSqlSafe(statement.clone()))
            .execute(&t.pool)
            .await
            .expect_err(&statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deltran.audit_log")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);

    // transaction_log rows need a bank and an account; insert one movement.
    sqlx::query(
        "WITH b AS (INSERT INTO deltran.banks (bic_code, name, country_code) VALUES ('TESTDEFF', 'Test', 'DE') RETURNING id), \
              a AS (INSERT INTO deltran.bank_accounts (bank_id, account_number, currency) SELECT id, 'A1', 'EUR' FROM b RETURNING id) \
         INSERT INTO deltran.transaction_log (transaction_type, account_id, credit_amount, balance_after) \
         SELECT 'credit', id, 10, 10 FROM a",
    )
    .execute(&t.pool)
    .await
    .unwrap();
    for statement in [
        "UPDATE deltran.transaction_log SET balance_after = 0",
        "DELETE FROM deltran.transaction_log",
    ] {
        let err = sqlx::query(statement)
            .execute(&t.pool)
            .await
            .expect_err(statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    t.drop_db().await;
}

#[tokio::test]
async fn audit_rows_chain_and_their_hashes_recompute_from_what_postgres_returns() {
    let t = TestDb::migrated().await;
    jobs::ensure_audit_partitions(&t.pool, 0).await.unwrap();
    let ctx = RequestContext {
        request_id: "req-1".into(),
        ip: Some("2001:db8::1".parse().unwrap()),
        user_agent: Some("test-agent".into()),
        ..Default::default()
    };
    let mut conn = t.pool.acquire().await.unwrap();
    let meta = json!({"zeta": "ü\"\n", "a": [1, 2, {"nested": true}], "count": 12345678901i64, "none": null});
    for action in ["one.x", "two.y", "three.z"] {
        let ev = AuditEvent::new(
            Actor::user(uuid::Uuid::new_v4(), "alice"),
            action,
            "thing",
            Some("id-1".into()),
        )
        .metadata(meta.clone());
        audit::append(&mut conn, &ev, &ctx).await.unwrap();
    }
    drop(conn);
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT id, event_id, event_type, severity, actor_id, actor_type, actor_name, action, \
         resource_type, resource_id, result, error_message, host(ip_address) AS ip_address, user_agent, \
         request_id, metadata::text AS metadata, previous_hash, event_hash, \"timestamp\" \
         FROM deltran.audit_log ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "ids have no gaps"
    );
    assert_eq!(rows[0].previous_hash, GENESIS_HASH);
    for pair in rows.windows(2) {
        assert_eq!(pair[1].previous_hash, pair[0].event_hash);
    }
    for r in &rows {
        assert_eq!(r.compute_hash(), r.event_hash, "row {} recomputes", r.id);
    }
    let (last_id, last_hash): (i64, String) =
        sqlx::query_as("SELECT last_id, last_hash FROM deltran.audit_head")
            .fetch_one(&t.pool)
            .await
            .unwrap();
    assert_eq!((last_id, last_hash), (3, rows[2].event_hash.clone()));
    t.drop_db().await;
}

#[tokio::test]
async fn the_runtime_role_appends_audit_rows_but_cannot_rewrite_disable_or_drop_them() {
    use sqlx::{Connection, Executor};
    let t = TestDb::migrated().await;
    // A connection as the console serves in production: the runtime role, owner of nothing.
    let mut conn = sqlx::PgConnection::connect(&t.url).await.unwrap();
    conn.execute("SET ROLE deltran_runtime").await.unwrap();

    // The partition job works under it, and the partitions it creates are appendable only.
    let created: i32 = sqlx::query_scalar("SELECT deltran.ensure_audit_partitions($1, 2)")
        .bind(jobs::month_start(Utc::now().date_naive()))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(created, 2);
    let partition = format!(
        "deltran.audit_log_y{}m{:02}",
        Utc::now().year(),
        Utc::now().month()
    );
    let (select, insert, update, delete, truncate): (bool, bool, bool, bool, bool) =
        sqlx::query_as(
            "SELECT has_table_privilege($1, 'SELECT'), has_table_privilege($1, 'INSERT'), \
                    has_table_privilege($1, 'UPDATE'), has_table_privilege($1, 'DELETE'), \
                    has_table_privilege($1, 'TRUNCATE')",
        )
        .bind(&partition)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        (select, insert, update, delete, truncate),
        (true, true, false, false, false)
    );

    // The app's append works, and so do the ordinary tables.
    let mut tx = conn.begin().await.unwrap();
    let row = audit::append(
        &mut tx,
        &AuditEvent::new(Actor::system("test"), "test.runtime", "test", None),
        &RequestContext::default(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(row.id, 1);
    conn.execute("UPDATE deltran.users SET email = email WHERE false")
        .await
        .unwrap();
    conn.execute("DELETE FROM deltran.sessions WHERE false")
        .await
        .unwrap();
    // Sign-in attempts are reserved, counted and forgotten under it.
    let rule = app::backend::db::logins::LockoutRule {
        max_failures: 5,
        window: std::time::Duration::from_secs(60),
        backoff: std::time::Duration::from_secs(1),
    };
    let runtime = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|c, _| {
            Box::pin(async move { c.execute("SET ROLE deltran_runtime").await.map(drop) })
        })
        .connect(&t.url)
        .await
        .unwrap();
    app::backend::db::logins::reserve(&runtime, "someone", rule)
        .await
        .unwrap();
    app::backend::db::logins::clear(&mut runtime.acquire().await.unwrap(), "someone")
        .await
        .unwrap();

    for statement in [
        "UPDATE deltran.audit_log SET actor_name = 'mallory'".to_string(),
        "DELETE FROM deltran.audit_log".to_string(),
        format!("UPDATE {partition} SET actor_name = 'mallory'"),
        format!("DELETE FROM {partition}"),
        "UPDATE deltran.audit_log_default SET actor_name = 'mallory'".to_string(),
        "TRUNCATE deltran.audit_log".to_string(),
        format!("TRUNCATE {partition}"),
        "ALTER TABLE deltran.audit_log DISABLE TRIGGER audit_log_append_only".to_string(),
        format!("ALTER TABLE {partition} DISABLE TRIGGER ALL"),
        "DROP TABLE deltran.audit_log".to_string(),
        format!("DROP TABLE {partition}"),
        format!("ALTER TABLE deltran.audit_log DETACH PARTITION {partition}"),
        "DELETE FROM deltran.audit_head".to_string(),
        "UPDATE deltran.transaction_log SET balance_after = 0".to_string(),
        "CREATE TABLE deltran.mallory (x int)".to_string(),
        "CREATE OR REPLACE FUNCTION deltran.reject_mutation() RETURNS trigger \
         LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$"
            .to_string(),
    ] {
        let err = conn
            .execute(AssertSqlSafe(statement.clone()))
            .await
            .expect_err(&statement);
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.to_string());
        assert_eq!(
            code.as_deref(),
            Some("42501"),
            "{statement}: refused for want of privilege, not by a trigger: {err}"
        );
    }
    conn.close().await.unwrap();
    let (rows, triggers_on): (i64, bool) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM deltran.audit_log), \
                (SELECT tgenabled = 'O' FROM pg_trigger \
                 WHERE tgname = 'audit_log_append_only' AND tgrelid = 'deltran.audit_log'::regclass)",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!((rows, triggers_on), (1, true));
    t.drop_db().await;
}
