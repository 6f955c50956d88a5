//! The command line, run as a user would: exit codes, messages, and what it leaves behind.

use sqlx::AssertSqlSafe;

use crate::common::{cli, count, text, TestDb};

#[tokio::test]
async fn bad_arguments_get_one_line_and_exit_code_2() {
    let t = TestDb::empty().await;
    for args in [
        &["seed", "--demo", "--payments", "lots"][..],
        &["migrate", "sideways"],
        &["no-such-command"],
        &["user", "create", "--username", "x"],
    ] {
        let out = cli(&t.url, args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{err}");
    }
    t.drop_db().await;
}

#[tokio::test]
async fn help_and_version_exit_0() {
    let out = cli("postgres://unused", &["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("migrate"));
    assert!(cli("postgres://unused", &["--version"], None)
        .status
        .success());
}

#[tokio::test]
async fn migrate_up_then_status() {
    let t = TestDb::empty().await;
    let out = cli(&t.url, &["migrate", "status"], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).lines().all(|l| l.starts_with("pending")));
    let out = cli(&t.url, &["migrate", "up"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli(&t.url, &["migrate", "status"], None);
    let stdout = text(&out.stdout);
    assert!(
        !stdout.is_empty() && stdout.lines().all(|l| l.starts_with("applied")),
        "{stdout}"
    );
    t.drop_db().await;
}

#[tokio::test]
async fn an_unreachable_database_is_one_clear_line() {
    let out = cli(
        "postgres://postgres@127.0.0.1:1/nowhere",
        &["migrate", "up"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach Postgres at postgres://postgres@127.0.0.1:1/nowhere"),
        "{err}"
    );
}

#[test]
fn permissions_prints_the_generated_matrix_without_any_configuration() {
    let out = cli("postgres://unused", &["permissions"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), server::permissions::matrix_markdown());
}

#[tokio::test]
async fn serve_refuses_missing_secrets_outside_demo_mode() {
    let out = cli("postgres://unused", &["serve"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("SESSION_SECRET must be set"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn serve_refuses_demo_mode_beyond_loopback() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_deltran-console"))
        .arg("serve")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("DEMO_MODE", "true")
        .env("BIND", "0.0.0.0:0")
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    for _ in 0..300 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if status.is_none() {
        child.kill().unwrap();
        let _ = child.wait();
    }
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let Some(status) = status else {
        panic!("serve started in demo mode on 0.0.0.0: {err}");
    };
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("DEMO_MODE is invalid"), "{err}");
}

#[tokio::test]
async fn user_create_validates_before_writing_anything() {
    let t = TestDb::migrated().await;
    let base = [
        "user",
        "create",
        "--username",
        "ops.anna",
        "--email",
        "anna@bank.example",
        "--role",
        "operator",
        "--password-stdin",
    ];

    let mut bad_email = base;
    bad_email[5] = "not-an-email";
    let out = cli(&t.url, &bad_email, Some("a long enough password\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--email"),
        "{}",
        text(&out.stderr)
    );

    let mut bad_role = base;
    bad_role[7] = "root";
    let out = cli(&t.url, &bad_role, Some("a long enough password\n"));
    assert!(
        text(&out.stderr).contains("--role"),
        "{}",
        text(&out.stderr)
    );

    let out = cli(&t.url, &base, Some("short\n"));
    assert!(
        text(&out.stderr).contains("at least 12 characters"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(count(&t.pool, "users").await, 0);
    assert_eq!(count(&t.pool, "audit_log").await, 0);

    let out = cli(&t.url, &base, Some("a long enough password\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("created user ops.anna"));
    let (role, hash): (String, String) = sqlx::query_as(
        "SELECT role::text, password_hash FROM deltran.users WHERE username = 'ops.anna'",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    assert_eq!(role, "operator");
    assert!(hash.starts_with("$argon2id$"));
    let action: String = sqlx::query_scalar("SELECT action FROM deltran.audit_log")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(
        action, "user.create",
        "the user and its audit row commit together"
    );

    let mut same_name = base;
    same_name[5] = "other@bank.example";
    let out = cli(&t.url, &same_name, Some("a long enough password\n"));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("--username: this username is taken"), "{err}");
    let mut same_email = base;
    same_email[3] = "ops.other";
    same_email[5] = "ANNA@bank.example";
    let out = cli(&t.url, &same_email, Some("a long enough password\n"));
    let err = text(&out.stderr);
    assert!(
        err.contains("--email: a user with this e-mail already exists"),
        "{err}"
    );
    assert_eq!(count(&t.pool, "users").await, 1);
    assert_eq!(count(&t.pool, "audit_log").await, 1);
    t.drop_db().await;
}

/// A fingerprint of every row of the tables that matter.
async fn fingerprint(pool: &sqlx::PgPool) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for table in [
        "banks",
        "bank_accounts",
        "users",
        "settlement_batches",
        "payments",
        "compliance_checks",
        "transaction_log",
        "rate_limits",
        "control_requests",
        "audit_log",
        "audit_head",
    ] {
        let (n, md5): (i64, Option<String>) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM deltran.{table} t"
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        out.push((table.to_string(), n, md5.unwrap_or_default()));
    }
    out
}

#[tokio::test]
async fn seed_is_deterministic_and_backup_restore_keeps_every_row() {
    let a = TestDb::migrated().await;
    let seed = [
        "seed",
        "--demo",
        "--payments",
        "3000",
        "--anchor-date",
        "2026-10-15",
    ];
    let out = cli(&a.url, &seed, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("seeded 24 banks, 240 accounts, 3000 payments"),
        "{stdout}"
    );
    assert!(stdout.contains("admin") && stdout.contains("viewer"));
    assert_eq!(count(&a.pool, "payments").await, 3000);
    assert!(count(&a.pool, "transaction_log").await > 4000);
    assert!(count(&a.pool, "audit_log").await > 360);

    // Seeding again changes nothing.
    let before = fingerprint(&a.pool).await;
    let out = cli(&a.url, &seed, None);
    assert!(text(&out.stdout).contains("already present"));
    assert_eq!(fingerprint(&a.pool).await, before);

    // The same arguments give the same business rows in another database.
    let b = TestDb::migrated().await;
    assert!(cli(&b.url, &seed, None).status.success());
    let fb = fingerprint(&b.pool).await;
    for (x, y) in before.iter().zip(&fb) {
        if !["users", "audit_log", "audit_head"].contains(&x.0.as_str()) {
            // Password hashes are salted, and audit rows hash them in; all else is equal.
            assert_eq!(x, y, "table {} differs between two seeds", x.0);
        }
    }

    let file = std::env::temp_dir().join(format!("deltran-test-{}.backup", a.name));
    let out = cli(&a.url, &["backup", "--out", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Into an empty database: every row comes back.
    let c = TestDb::empty().await;
    let out = cli(&c.url, &["restore", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fingerprint(&c.pool).await, before);

    // Not into a database with data, unless forced.
    let out = cli(&b.url, &["restore", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fingerprint(&b.pool).await,
        fb,
        "a refused restore changes nothing"
    );
    let out = cli(
        &b.url,
        &["restore", "--force", file.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fingerprint(&b.pool).await, before);

    // A damaged file is refused and changes nothing.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    let damaged = file.with_extension("damaged");
    std::fs::write(&damaged, bytes).unwrap();
    let d = TestDb::empty().await;
    let out = cli(&d.url, &["restore", damaged.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("damaged"),
        "{}",
        text(&out.stderr)
    );
    let schema: bool = sqlx::query_scalar("SELECT to_regnamespace('deltran') IS NOT NULL")
        .fetch_one(&d.pool)
        .await
        .unwrap();
    assert!(!schema, "nothing half-written");

    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&damaged);
    for t in [a, b, c, d] {
        t.drop_db().await;
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `deltran-console serve` in demo mode with `env` on a free port, its `DATA_DIR` in
/// `data_dir` with an empty ledger, and waits until `/readyz` answers; returns the child and
/// that answer (status and body).
async fn serve(
    database_url: &str,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, u16, String) {
    let port = free_port();
    drop(
        app::backend::ledger::Writer::open(&data_dir.join("ledger"), &Default::default()).unwrap(),
    );
    let mut child = crate::common::binary(database_url)
        .arg("serve")
        .env("DATA_DIR", data_dir)
        .env("DEMO_MODE", "true")
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/readyz");
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&url).await {
            return (child, r.status().as_u16(), r.text().await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not answer /readyz");
}

#[tokio::test]
async fn serve_answers_probes_and_stops_cleanly_on_sigterm() {
    let t = TestDb::migrated().await;
    let dir = std::env::temp_dir().join(format!("deltran-serve-{}", t.name));
    let (mut child, ready, _) = serve(&t.url, &dir, &[]).await;
    assert_eq!(ready, 200, "the server is ready");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (status, err)
    })
    .await
    .unwrap();
    assert!(
        status.0.success(),
        "exit status {:?}: {}",
        status.0,
        status.1
    );
    let first = status.1.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "LOG_FORMAT=json logs JSON lines: {first}"
    );
    assert!(status.1.contains("shutting down"), "{}", status.1);
    let _ = std::fs::remove_dir_all(&dir);
    t.drop_db().await;
}

/// Runs `program` with `args` in `dir` and asserts it succeeds.
fn run(dir: &std::path::Path, program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn serve_reaches_a_redis_that_wants_tls_and_a_password() {
    let t = TestDb::migrated().await;
    let dir = std::env::temp_dir().join(format!("deltran-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    // A private CA and a certificate for 127.0.0.1 that it signed.
    run(
        &dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=deltran test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    run(
        &dir,
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "redis.key",
            "-out",
            "redis.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(
        &dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "redis.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "redis.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let port = free_port().to_string();
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port,
            "--tls-cert-file",
            "redis.pem",
            "--tls-key-file",
            "redis.key",
            "--tls-ca-cert-file",
            "ca.pem",
            "--tls-auth-clients",
            "no",
            "--requirepass",
            "s3cret-pass",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    for (url, expected) in [
        (format!("rediss://:s3cret-pass@127.0.0.1:{port}"), 200),
        (format!("rediss://:wrong-pass@127.0.0.1:{port}"), 503),
        (format!("redis://:s3cret-pass@127.0.0.1:{port}"), 503),
    ] {
        let (mut child, status, body) =
            serve(&t.url, &dir, &[("REDIS_URL", &url), ("SSL_CERT_FILE", ca)]).await;
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(status, expected, "{url}: {body}");
        if expected == 503 {
            assert!(body.contains("redis"), "{body}");
        }
    }
    let _ = redis.kill();
    let _ = redis.wait();
    let _ = std::fs::remove_dir_all(&dir);
    t.drop_db().await;
}

#[tokio::test]
async fn routes_lists_every_route_with_its_permission() {
    let out = cli("postgres://unused", &["routes"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    for app::auth::ServerFnAccess { path, access } in app::auth::server_fns() {
        let line = listing
            .lines()
            .find(|l| l.contains(path))
            .unwrap_or_else(|| panic!("{path} missing"));
        if let Some(p) = access {
            assert!(line.ends_with(p.name()), "{line}");
        }
    }
    assert!(listing
        .lines()
        .any(|l| l.starts_with("GET     /api/v1/me") && l.ends_with("self")));
    for d in server::downloads::ROUTES {
        let last = d.permissions.last().expect("a download needs a permission");
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(&format!("GET     {} ", d.path)) && l.ends_with(last.name())),
            "{} missing: {listing}",
            d.path
        );
    }
}
