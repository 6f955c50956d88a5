//! Test helpers: a fresh database per test, the application on port 0, the CLI binary.

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::Output,
    sync::{Arc, Mutex},
};

use app::backend::{
    config::{Config, DEMO_SECRET},
    crypto, totp,
};
use server::{db, startup::Application};
use sqlx::{postgres::PgPoolOptions, AssertSqlSafe, Executor, PgPool};

/// The server the tests create their databases on.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    /// An empty database, no schema.
    pub async fn empty() -> TestDb {
        let name = format!("deltran_test_{}", uuid::Uuid::new_v4().simple());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&with_database(&server_url(), "postgres"))
            .await
            .expect("Postgres must be reachable at DATABASE_URL for the integration tests");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        admin.close().await;
        let url = with_database(&server_url(), &name);
        let pool = db::pool(&url, 5).expect("pool");
        TestDb { name, url, pool }
    }

    /// A database with every migration applied.
    pub async fn migrated() -> TestDb {
        let t = TestDb::empty().await;
        db::migrate_up(&t.pool).await.expect("migrations apply");
        t
    }

    /// A migrated database with the demo data of `payments` payments (users admin,
    /// operator, auditor and viewer with `DEMO_PASSWORD`; the admin with 2FA on
    /// `TEST_TOTP_SECRET`, as admins must have it).
    pub async fn seeded(payments: u64) -> TestDb {
        let t = TestDb::migrated().await;
        let options = server::seed::SeedOptions {
            payments,
            anchor: chrono::Utc::now().date_naive(),
            password: DEMO_PASSWORD.into(),
            show_progress: false,
            admin_totp: Some(encrypted_test_secret()),
            ledger: None,
        };
        server::seed::seed_demo(&t.pool, &options)
            .await
            .expect("demo seed");
        t
    }

    /// Drops the database (call at the end of a test; a failed test leaves it for inspection).
    pub async fn drop_db(self) {
        self.pool.close().await;
        if let Ok(admin) = PgPoolOptions::new()
            .max_connections(1)
            .connect(&with_database(&server_url(), "postgres"))
            .await
        {
            let _ = admin
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .await;
        }
    }
}

/// The TOTP secret (base32) of every test user with 2FA: the seeded admin and the admins
/// tests create (`enrol_two_factor`).
pub const TEST_TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn test_secret() -> Vec<u8> {
    totp::base32_decode(TEST_TOTP_SECRET).unwrap()
}

/// `TEST_TOTP_SECRET` encrypted as the test configuration stores TOTP secrets.
pub fn encrypted_test_secret() -> Vec<u8> {
    crypto::encrypt(DEMO_SECRET, crypto::TOTP_PURPOSE, &test_secret())
}

/// Turns 2FA on for a user, with `TEST_TOTP_SECRET`.
pub async fn enrol_two_factor(pool: &PgPool, user_id: uuid::Uuid) {
    sqlx::query("UPDATE deltran.users SET totp_secret = $2, is_2fa_enabled = true WHERE id = $1")
        .bind(user_id)
        .bind(encrypted_test_secret())
        .execute(pool)
        .await
        .unwrap();
}

/// Configuration for an app under test: demo mode, port 0, this database.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::from_lookup(|k| match k {
        "DEMO_MODE" => Some("true".into()),
        _ => None,
    })
    .expect("demo configuration");
    config.database_url = database_url.to_string();
    config.redis_url = redis_url();
    config.bind = Some("127.0.0.1:0".parse().unwrap());
    // Every test signs in from 127.0.0.1; the per-address limit is tested on its own.
    config.login_max_failures_per_ip = 100_000;
    // Keys of its own: parallel tests never meet in Redis, and none writes the names the
    // console on this machine reads.
    config.redis_prefix = test_redis_prefix();
    config.data_dir =
        std::env::temp_dir().join(format!("deltran-test-{}", uuid::Uuid::new_v4().simple()));
    // An empty ledger of its own (a test that needs events appends them with `ledger_writer`).
    config.ledger_path = config.data_dir.join("ledger");
    config.ledger_reader_path = config.data_dir.join("ledger-reader");
    drop(ledger_writer(&config));
    config
}

/// The writer of the test app's ledger (created when missing); the app reads it through its
/// own secondary instance while the test holds this, as the console reads a live ledger.
pub fn ledger_writer(config: &Config) -> app::backend::ledger::Writer {
    app::backend::ledger::Writer::open(&config.ledger_path, &Default::default())
        .expect("a test ledger opens")
}

/// A Redis key prefix no other test uses.
pub fn test_redis_prefix() -> String {
    format!("deltran-test-{}:", uuid::Uuid::new_v4().simple())
}

/// Removes every Redis key under `prefix` (a test's own, `test_redis_prefix`), without a
/// runtime: `Drop` calls it. The copy of the audit anchor has no TTL, so without this every
/// test application would leave one behind.
pub fn forget_redis_prefix(prefix: &str) {
    assert!(
        prefix.starts_with("deltran-test-"),
        "only a test's own keys are removed, not {prefix:?}"
    );
    let Ok(mut redis) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) else {
        return;
    };
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query::<(u64, Vec<String>)>(&mut redis)
        else {
            return;
        };
        if !keys.is_empty() {
            let _ = redis::cmd("DEL").arg(&keys).query::<i64>(&mut redis);
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// The `REDIS_PREFIX` a command made by [`binary`] runs with.
pub fn redis_prefix_of(cmd: &std::process::Command) -> String {
    cmd.get_envs()
        .find(|(k, _)| *k == "REDIS_PREFIX")
        .and_then(|(_, v)| v)
        .and_then(|v| v.to_str())
        .expect("binary() sets REDIS_PREFIX")
        .to_string()
}

/// The Redis keys matching `pattern`, by SCAN.
pub async fn redis_keys(pattern: &str) -> Vec<String> {
    let mut redis = db::redis(&redis_url()).expect("a Redis URL");
    let (mut cursor, mut keys) = (0u64, Vec::new());
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await
            .expect("Redis answers SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// A running application. `stop` stops it as SIGTERM does and waits until it has (background
/// jobs included); dropping it only signals the stop. Either way its Redis keys and (unless
/// the test failed) its data directory are removed.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The app's Redis key prefix (`test_redis_prefix`).
    pub redis_prefix: String,
    /// The app's `DATA_DIR` (audit anchors).
    pub data_dir: std::path::PathBuf,
    /// The app's background tasks, to watch them.
    pub background: app::backend::jobs::Background,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The app's database, to see who has 2FA.
    db: PgPool,
    /// The last TOTP step each user signed in with (a step is accepted once).
    steps: Arc<Mutex<HashMap<String, i64>>>,
}

impl TestApp {
    pub async fn spawn(config: Config) -> TestApp {
        let db = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy(&config.database_url)
            .expect("a database URL");
        let redis_prefix = config.redis_prefix.clone();
        let data_dir = config.data_dir.clone();
        let app = Application::build(config)
            .await
            .expect("application builds");
        let addr = app.local_addr();
        let background = app.state().background.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let client = client_for(addr);
        TestApp {
            addr,
            client,
            redis_prefix,
            data_dir,
            background,
            stop: Some(stop),
            running: Some(running),
            db,
            steps: Arc::default(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A new browser-like client (own cookie jar) for this app.
    pub fn new_client(&self) -> reqwest::Client {
        client_for(self.addr)
    }

    /// Signs `client` in through the login server function, with a one-time code of
    /// `TEST_TOTP_SECRET` when the account has 2FA; returns the response.
    pub async fn sign_in(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let code = self.code_if_enrolled(username).await;
        self.post_login(client, username, password, code.as_deref())
            .await
    }

    /// A fresh one-time code for `username` if the account has 2FA (`TEST_TOTP_SECRET`).
    pub async fn code_if_enrolled(&self, username: &str) -> Option<String> {
        let two_factor: bool =
            sqlx::query_scalar("SELECT is_2fa_enabled FROM deltran.users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.db)
                .await
                .ok()
                .flatten()
                .unwrap_or(false);
        match two_factor {
            true => Some(self.one_time_code(username).await),
            false => None,
        }
    }

    /// One POST to the login server function.
    pub async fn post_login(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
        otp: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![("username", username), ("password", password)];
        if let Some(otp) = otp {
            form.push(("otp", otp));
        }
        client
            .post(self.url("/api/auth/login"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// A code of `TEST_TOTP_SECRET` that `username` has not used yet: the current step or the
    /// next (both accepted), waiting for the clock when both are spent.
    pub async fn one_time_code(&self, username: &str) -> String {
        loop {
            let now = chrono::Utc::now().timestamp();
            let current = totp::step_at(now);
            let step = {
                let mut steps = self.steps.lock().unwrap();
                let next = steps
                    .get(username)
                    .map_or(current, |last| (last + 1).max(current));
                (next <= current + 1).then(|| {
                    steps.insert(username.to_string(), next);
                    next
                })
            };
            match step {
                Some(step) => return totp::code_at(&test_secret(), step * 30),
                None => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            }
        }
    }
}

/// A server function called as a browser calls it: a form-encoded POST with the cookies of
/// `client`.
pub async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}

/// A server function's error body.
pub fn error(body: &str) -> app::error::AppError {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an AppError ({e}): {body}"))
}

/// Calls the server function at `path` with `form` and asserts it refuses with 422 and a
/// field error on `field`.
pub async fn assert_field_error(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
    field: &str,
) {
    let r = call(app, client, path, form).await;
    assert_eq!(r.status(), 422, "{path} {form:?}");
    let app::error::AppError::Validation { field_errors } = error(&r.text().await.unwrap()) else {
        panic!("{path} {form:?}: not a validation error");
    };
    assert!(
        field_errors.contains_key(field),
        "{path} {form:?}: {field_errors:?}"
    );
}

/// A page's HTML as `client` gets it.
pub async fn page_html(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// GET `path` of the REST API with a bearer token: the status and the JSON body.
pub async fn api_get(app: &TestApp, bearer: &str, path: String) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(app.url(&path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Audit rows with `action` (and `resource_id`, when given).
pub async fn audit_count(pool: &PgPool, action: &str, resource_id: Option<uuid::Uuid>) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM deltran.audit_log WHERE action = $1 \
         AND ($2::text IS NULL OR resource_id = $2)",
    )
    .bind(action)
    .bind(resource_id.map(|u| u.to_string()))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A new browser-like client signed in as `username`; panics if the sign-in fails.
pub async fn signed_in(app: &TestApp, username: &str, password: &str) -> reqwest::Client {
    let client = app.new_client();
    let r = app.sign_in(&client, username, password).await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{username} signs in: {}",
        r.status()
    );
    client
}

/// The demo users' password (`seed --demo` in the tests).
pub const DEMO_PASSWORD: &str = "demo-password-2026";

/// A client that keeps cookies, does not follow redirects and sends this site's Origin, like a
/// browser on the console's own pages.
fn client_for(addr: SocketAddr) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ORIGIN,
        reqwest::header::HeaderValue::from_str(&format!("http://{addr}")).unwrap(),
    );
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl TestApp {
    /// Stops the app as SIGTERM does and waits until `run_until` returns: requests in flight
    /// finished, background jobs ended. Then `Drop` cleans up.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    /// `stop`, keeping what the app left (Redis keys, files) to look at until it is dropped.
    pub async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running
                .await
                .expect("the app's task does not panic")
                .expect("the app stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Apps in one test may share a prefix; the last one dropped leaves nothing behind.
        forget_redis_prefix(&self.redis_prefix);
        if !std::thread::panicking() && self.data_dir.starts_with(std::env::temp_dir()) {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// The real `deltran-console` binary against `database_url`, with an explicit environment:
/// what the caller's shell exports (secrets, DEMO_MODE) or a `.env` must not change what a
/// test sees, and its Redis keys are its own.
pub fn binary(database_url: &str) -> std::process::Command {
    program(env!("CARGO_BIN_EXE_deltran-console"), database_url)
}

/// The `deltran-bench` binary (benchmark data and measurements), set up like [`binary`].
pub fn bench_binary(database_url: &str) -> std::process::Command {
    program(env!("CARGO_BIN_EXE_deltran-bench"), database_url)
}

fn program(path: &str, database_url: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(path);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .env("REDIS_PREFIX", test_redis_prefix())
        .env("DEMO_PASSWORD", DEMO_PASSWORD)
        .current_dir(std::env::temp_dir());
    cmd
}

/// Runs the binary with `args` against `database_url`, feeding it `stdin`; then removes the
/// Redis keys it wrote.
pub fn cli(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = binary(database_url);
    let prefix = redis_prefix_of(&cmd);
    let mut child = cmd
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    forget_redis_prefix(&prefix);
    output
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Row count of a table in the deltran schema.
pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM deltran.{table}"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5432/x", "y"),
        "postgres://u@h:5432/y"
    );
    assert_eq!(
        with_database("postgres://u@h:5432/x?sslmode=disable", "y"),
        "postgres://u@h:5432/y?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "y"), "postgres://u@h/y");
}
