//! Configuration from the environment (and `.env`). Every variable is documented in
//! `.env.example`; outside demo mode missing or default secrets are refused by name.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use ipnet::IpNet;

/// The secret shipped in `.env.example` and used in demo mode; refused outside it.
pub const DEMO_SECRET: &str = "demo-only-secret-change-me-0123456789abcdef";

/// The secrets the console keys things with: one table, so that reading, validating and
/// using them cannot drift apart (a secret missing from a second list once went unchecked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// Keys the Redis names of browser sessions (`backend::session_store`).
    Session,
    /// Signs API access tokens (HS256).
    Jwt,
    /// Signs the audit-chain anchors and evidence packs.
    AuditAnchor,
    /// Encrypts users' TOTP secrets at rest (its own key, so rotating the others keeps 2FA).
    TotpEncryption,
}

impl Secret {
    pub const ALL: [Secret; 4] = [
        Secret::Session,
        Secret::Jwt,
        Secret::AuditAnchor,
        Secret::TotpEncryption,
    ];

    /// The environment variable holding it.
    pub const fn var(self) -> &'static str {
        match self {
            Secret::Session => "SESSION_SECRET",
            Secret::Jwt => "JWT_SECRET",
            Secret::AuditAnchor => "AUDIT_ANCHOR_KEY",
            Secret::TotpEncryption => "TOTP_ENCRYPTION_KEY",
        }
    }
}

/// The values of every `Secret`; an unset one holds `DEMO_SECRET` and is remembered as unset.
#[derive(Clone)]
pub struct Secrets {
    values: [String; Secret::ALL.len()],
    unset: [bool; Secret::ALL.len()],
}

impl Secrets {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Secrets {
        let read = Secret::ALL.map(|s| get(s.var()));
        Secrets {
            unset: std::array::from_fn(|i| read[i].is_none()),
            values: read.map(|v| v.unwrap_or_else(|| DEMO_SECRET.to_string())),
        }
    }

    pub fn get(&self, secret: Secret) -> &str {
        &self.values[secret as usize]
    }

    /// Refuses a secret that is unset, the demo value, shorter than 32 characters, or equal
    /// to another one (one leaked value must not open two locks).
    fn validate(&self) -> Result<(), ConfigError> {
        for secret in Secret::ALL {
            let (name, value) = (secret.var(), self.get(secret));
            if self.unset[secret as usize] {
                return Err(ConfigError::Missing(name));
            }
            if value == DEMO_SECRET {
                return Err(ConfigError::DemoSecret(name));
            }
            if value.len() < 32 {
                return Err(ConfigError::TooShort(name));
            }
            if let Some(other) = Secret::ALL[..secret as usize]
                .iter()
                .find(|o| self.get(**o) == value)
            {
                return Err(ConfigError::Reused(other.var(), name));
            }
        }
        Ok(())
    }
}

/// Reads one variable of the process environment; empty counts as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub database_read_url: Option<String>,
    /// A direct connection to the primary, bypassing a pooler such as PgBouncer in transaction
    /// mode (`DATABASE_DIRECT_URL`): migrations take a session-level lock and use it. Unset:
    /// `database_url` is direct already.
    pub database_direct_url: Option<String>,
    pub redis_url: String,
    /// Sentinels (`host:port`) that name the Redis master (`REDIS_SENTINELS`); empty: the
    /// server of `redis_url` is used as it is.
    pub redis_sentinels: Vec<String>,
    /// The master's name at the Sentinels (`REDIS_MASTER_NAME`, default `deltran`).
    pub redis_master_name: String,
    pub ledger_path: PathBuf,
    pub ledger_config: Option<PathBuf>,
    /// The console's own directory for its secondary instance of the ledger (its logs); each
    /// console process needs its own.
    pub ledger_reader_path: PathBuf,
    pub data_dir: PathBuf,
    pub secrets: Secrets,
    /// `None`: the address cargo-leptos gives (`LEPTOS_SITE_ADDR`), else 127.0.0.1:3000.
    pub bind: Option<SocketAddr>,
    pub demo_mode: bool,
    pub demo_password: Option<String>,
    pub demo_totp_secret: Option<String>,
    pub log_format: LogFormat,
    pub db_max_connections: u32,
    /// How many months of audit partitions exist ahead of the current one.
    pub audit_partitions_ahead: u32,
    /// How often `serve` signs an audit anchor (the first one at start-up).
    pub audit_anchor_interval: Duration,
    pub shutdown_grace: Duration,
    /// A browser session ends after this much inactivity.
    pub session_idle: Duration,
    /// A browser session ends this long after sign-in, active or not.
    pub session_absolute: Duration,
    /// Secure (and `__Host-`) session cookies; off only in demo mode unless set.
    pub cookie_secure: bool,
    /// Failed sign-ins of one username before it is locked (see `db::logins::LockoutRule`).
    pub login_max_failures: u32,
    /// Sign-in attempts from one client address, across usernames, before it is refused.
    pub login_max_failures_per_ip: u32,
    /// The window failures are counted in, and the longest lock.
    pub login_lockout: Duration,
    /// The first lock after `login_max_failures`; each further failure doubles it.
    pub login_backoff: Duration,
    /// Every Redis key the console writes starts with this (default `deltran:`, the
    /// contract's names); tests give each app its own.
    pub redis_prefix: String,
    /// How long a block or unblock request waits for a second person before it expires
    /// (`CONTROL_REQUEST_HOURS`, default 24).
    pub control_request_hours: i32,
    /// How often expired controls are lifted and the Redis copies reconciled
    /// (`CONTROL_RECONCILE_SECONDS`, default 60).
    pub control_reconcile: Duration,
    /// How often this instance writes its heartbeat (`HEARTBEAT_SECONDS`, default 15).
    pub heartbeat: Duration,
    /// A read replica further behind than this is skipped (`READ_MAX_LAG`, seconds, default 5).
    pub read_max_lag: Duration,
    /// After asking for a change, a user's reads go to the primary for this long
    /// (`READ_PIN_SECONDS`, default 10).
    pub read_pin: Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see `backend::context`).
    pub trusted_proxies: Vec<IpNet>,

    // Limits at the edge (docs/decisions.md).
    /// Longest a request may take to produce its response; streaming downloads are exempt.
    pub request_timeout: Duration,
    /// Password hashes (sign-ins, password changes) running at once; more wait, then get 503.
    pub password_hash_concurrency: usize,
    /// A bearer token that opens `/metrics` to scrapers beyond this machine.
    pub metrics_token: Option<String>,
    /// An API session (its chain of refresh tokens) ends this long after the first token,
    /// however often it is refreshed.
    pub api_session_absolute: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &redact_url(&self.redis_url))
            .field("ledger_path", &self.ledger_path)
            .field("ledger_reader_path", &self.ledger_reader_path)
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("demo_mode", &self.demo_mode)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}

/// `<data_dir>/ledger-reader/<process id>`: a process id is unique among running processes,
/// which is all a secondary instance's directory must be.
pub fn default_reader_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir
        .join("ledger-reader")
        .join(std::process::id().to_string())
}

/// Hides the password of a connection URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{0} must be set (see .env.example)")]
    Missing(&'static str),
    #[error("{0} still has the demo value; set a secret of at least 32 random characters")]
    DemoSecret(&'static str),
    #[error("{0} is too short: use at least 32 random characters")]
    TooShort(&'static str),
    #[error("{1} has the same value as {0}; give each secret its own")]
    Reused(&'static str, &'static str),
    #[error("{name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

impl Config {
    /// Refuses to serve with missing, demo or short secrets, unless in demo mode. The other
    /// commands (migrate, seed, backup) need no secrets and do not call this.
    pub fn validate_secrets(&self) -> Result<(), ConfigError> {
        if self.demo_mode {
            return Ok(());
        }
        self.secrets.validate()
    }

    /// The URL for work that needs a session of its own on the primary (migrations):
    /// `DATABASE_DIRECT_URL`, else `DATABASE_URL`.
    pub fn direct_url(&self) -> &str {
        self.database_direct_url
            .as_deref()
            .unwrap_or(&self.database_url)
    }

    /// The value of one secret.
    pub fn secret(&self, secret: Secret) -> &str {
        self.secrets.get(secret)
    }

    /// Reads the process environment (after `.env`, which never overrides what is set).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_var)
    }

    /// Builds the configuration from any lookup, so tests need not touch the process env.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let demo_mode = parse_bool(&get, "DEMO_MODE")?.unwrap_or(false);
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "data".into()));
        let bind = get("BIND")
            .map(|b| {
                b.parse::<SocketAddr>().map_err(|e| ConfigError::Invalid {
                    name: "BIND",
                    why: e.to_string(),
                })
            })
            .transpose()?;
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "LOG_FORMAT",
                    why: format!("{other:?} is neither text nor json"),
                })
            }
        };
        Ok(Config {
            database_url: get("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/deltran".into()),
            database_read_url: get("DATABASE_READ_URL"),
            database_direct_url: get("DATABASE_DIRECT_URL"),
            redis_url: get("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            redis_sentinels: parse_addresses(&get, "REDIS_SENTINELS")?,
            redis_master_name: get("REDIS_MASTER_NAME").unwrap_or_else(|| "deltran".into()),
            ledger_path: get("LEDGER_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("ledger")),
            ledger_config: get("LEDGER_CONFIG").map(PathBuf::from),
            ledger_reader_path: get("LEDGER_READER_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| default_reader_path(&data_dir)),
            secrets: Secrets::from_lookup(&get),
            data_dir,
            bind,
            demo_mode,
            demo_password: get("DEMO_PASSWORD"),
            demo_totp_secret: get("DEMO_TOTP_SECRET"),
            log_format,
            db_max_connections: parse_num(&get, "DB_MAX_CONNECTIONS")?.unwrap_or(10),
            audit_partitions_ahead: parse_num(&get, "AUDIT_PARTITIONS_AHEAD")?.unwrap_or(3),
            audit_anchor_interval: Duration::from_secs(
                60 * parse_num::<u64>(&get, "AUDIT_ANCHOR_MINUTES")?
                    .unwrap_or(60)
                    .max(1),
            ),
            shutdown_grace: Duration::from_secs(
                parse_num(&get, "SHUTDOWN_GRACE_SECONDS")?.unwrap_or(20),
            ),
            session_idle: Duration::from_secs(
                60 * parse_num::<u64>(&get, "SESSION_IDLE_MINUTES")?.unwrap_or(15),
            ),
            session_absolute: Duration::from_secs(
                3600 * parse_num::<u64>(&get, "SESSION_ABSOLUTE_HOURS")?.unwrap_or(12),
            ),
            cookie_secure: parse_bool(&get, "COOKIE_SECURE")?.unwrap_or(!demo_mode),
            login_max_failures: parse_num(&get, "LOGIN_MAX_FAILURES")?.unwrap_or(5),
            login_max_failures_per_ip: parse_num(&get, "LOGIN_MAX_FAILURES_PER_IP")?.unwrap_or(50),
            login_lockout: Duration::from_secs(
                60 * parse_num::<u64>(&get, "LOGIN_LOCKOUT_MINUTES")?.unwrap_or(15),
            ),
            login_backoff: Duration::from_secs(
                parse_num(&get, "LOGIN_BACKOFF_SECONDS")?.unwrap_or(30),
            ),
            redis_prefix: get("REDIS_PREFIX").unwrap_or_else(|| "deltran:".into()),
            control_request_hours: parse_num(&get, "CONTROL_REQUEST_HOURS")?.unwrap_or(24),
            control_reconcile: Duration::from_secs(
                parse_num(&get, "CONTROL_RECONCILE_SECONDS")?.unwrap_or(60),
            ),
            heartbeat: Duration::from_secs(parse_num(&get, "HEARTBEAT_SECONDS")?.unwrap_or(15)),
            read_max_lag: Duration::from_secs(parse_num(&get, "READ_MAX_LAG")?.unwrap_or(5)),
            read_pin: Duration::from_secs(parse_num(&get, "READ_PIN_SECONDS")?.unwrap_or(10)),
            trusted_proxies: parse_networks(&get, "TRUSTED_PROXIES")?,

            // Limits at the edge (docs/decisions.md).
            request_timeout: Duration::from_secs(
                parse_num(&get, "REQUEST_TIMEOUT_SECONDS")?.unwrap_or(30),
            ),
            password_hash_concurrency: parse_num(&get, "PASSWORD_HASH_CONCURRENCY")?
                .unwrap_or_else(super::passwords::default_concurrency),
            metrics_token: get("METRICS_TOKEN"),
            api_session_absolute: Duration::from_secs(
                3600 * parse_num::<u64>(&get, "API_SESSION_ABSOLUTE_HOURS")?.unwrap_or(12),
            ),
        })
    }
}

impl Config {
    /// Demo mode accepts the published demo secrets, so `serve` refuses it unless the console
    /// listens on a loopback address only, and says loudly that it is on.
    pub fn check_demo_mode(&self, addr: SocketAddr) -> Result<(), ConfigError> {
        if !self.demo_mode {
            return Ok(());
        }
        if !addr.ip().to_canonical().is_loopback() {
            return Err(ConfigError::Invalid {
                name: "DEMO_MODE",
                why: format!(
                    "demo mode accepts the published demo secrets, so it may only listen on a \
                     loopback address, not {addr}; unset DEMO_MODE and set real secrets"
                ),
            });
        }
        tracing::warn!(
            "DEMO_MODE is on: the published demo secrets are accepted and no secret is checked; \
             never run it like this beyond this machine"
        );
        Ok(())
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<bool>, ConfigError> {
    get(name)
        .map(|v| match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::Invalid {
                name,
                why: format!("{v:?} is not true or false"),
            }),
        })
        .transpose()
}

/// A comma-separated list of addresses or networks (`10.0.0.1, 10.1.0.0/16, ::1`).
fn parse_networks(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Vec<IpNet>, ConfigError> {
    let Some(list) = get(name) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError::Invalid {
                    name,
                    why: format!("{s:?} is not an address or network"),
                })
        })
        .collect()
}

/// A comma-separated list of `host:port` (`10.0.0.1:26379, sentinel-2:26379`).
fn parse_addresses(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Vec<String>, ConfigError> {
    let Some(list) = get(name) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(s.to_string())
            }
            _ => Err(ConfigError::Invalid {
                name,
                why: format!("{s:?} is not host:port"),
            }),
        })
        .collect()
}

fn parse_num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, ConfigError> {
    get(name)
        .map(|v| {
            v.parse::<T>().map_err(|_| ConfigError::Invalid {
                name,
                why: format!("{v:?} is not a number"),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let c = Config::from_lookup(|k| map.get(k).cloned())?;
        c.validate_secrets()?;
        Ok(c)
    }

    /// A distinct good value for each secret.
    fn good(secret: Secret) -> String {
        format!("{}-0123456789abcdef0123456789abcdef", secret.var())
    }

    fn all_good() -> Vec<(&'static str, String)> {
        Secret::ALL.map(|s| (s.var(), good(s))).to_vec()
    }

    fn with(vars: &[(&'static str, String)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        cfg(&pairs)
    }

    #[test]
    fn production_refuses_each_missing_secret_by_name() {
        assert_eq!(
            cfg(&[]).unwrap_err(),
            ConfigError::Missing("SESSION_SECRET")
        );
        for secret in Secret::ALL {
            let mut vars = all_good();
            vars.retain(|(k, _)| *k != secret.var());
            assert_eq!(with(&vars).unwrap_err(), ConfigError::Missing(secret.var()));
        }
        assert!(with(&all_good()).is_ok());
    }

    #[test]
    fn production_refuses_each_demo_short_or_reused_secret() {
        for secret in Secret::ALL {
            let set = |value: &str| {
                let mut vars = all_good();
                vars.iter_mut()
                    .filter(|(k, _)| *k == secret.var())
                    .for_each(|(_, v)| *v = value.to_string());
                with(&vars).unwrap_err()
            };
            assert_eq!(set(DEMO_SECRET), ConfigError::DemoSecret(secret.var()));
            assert_eq!(set("short"), ConfigError::TooShort(secret.var()));
        }
        let mut vars = all_good();
        vars[3].1 = vars[1].1.clone();
        assert_eq!(
            with(&vars).unwrap_err(),
            ConfigError::Reused("JWT_SECRET", "TOTP_ENCRYPTION_KEY")
        );
    }

    #[test]
    fn demo_mode_fills_in_secrets() {
        let c = cfg(&[("DEMO_MODE", "true")]).unwrap();
        assert_eq!(c.secret(Secret::Session), DEMO_SECRET);
        assert!(c.demo_mode);
        assert_eq!(c.ledger_path, PathBuf::from("data/ledger"));
    }

    #[test]
    fn bad_values_are_named() {
        let err = cfg(&[("DEMO_MODE", "1"), ("BIND", "nowhere")]).unwrap_err();
        assert!(err.to_string().starts_with("BIND is invalid"));
        let err = cfg(&[("DEMO_MODE", "maybe")]).unwrap_err();
        assert!(err.to_string().starts_with("DEMO_MODE is invalid"));
        let err = cfg(&[("DEMO_MODE", "1"), ("TRUSTED_PROXIES", "10.0.0.1, proxy")]).unwrap_err();
        assert!(
            err.to_string().starts_with("TRUSTED_PROXIES is invalid"),
            "{err}"
        );
    }

    #[test]
    fn sentinels_are_host_port_lists() {
        let c = cfg(&[
            ("DEMO_MODE", "1"),
            ("REDIS_SENTINELS", "10.0.0.1:26379, sentinel-2:26379,"),
        ])
        .unwrap();
        assert_eq!(c.redis_sentinels, ["10.0.0.1:26379", "sentinel-2:26379"]);
        assert_eq!(c.redis_master_name, "deltran");
        let err = cfg(&[("DEMO_MODE", "1"), ("REDIS_SENTINELS", "10.0.0.1")]).unwrap_err();
        assert!(
            err.to_string().starts_with("REDIS_SENTINELS is invalid"),
            "{err}"
        );
    }

    #[test]
    fn cookies_are_secure_except_in_demo_mode() {
        assert!(with(&all_good()).unwrap().cookie_secure);
        assert!(!cfg(&[("DEMO_MODE", "true")]).unwrap().cookie_secure);
        assert!(
            cfg(&[("DEMO_MODE", "true"), ("COOKIE_SECURE", "true")])
                .unwrap()
                .cookie_secure
        );
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks() {
        let c = cfg(&[
            ("DEMO_MODE", "1"),
            ("TRUSTED_PROXIES", "10.0.0.1, 10.1.0.0/16,::1"),
        ]);
        let nets: Vec<String> = c
            .unwrap()
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.1/32", "10.1.0.0/16", "::1/128"]);
    }

    #[test]
    fn demo_mode_listens_on_loopback_only() {
        let demo = cfg(&[("DEMO_MODE", "true")]).unwrap();
        for addr in ["127.0.0.1:3000", "[::1]:3000", "127.0.0.2:0"] {
            assert_eq!(
                demo.check_demo_mode(addr.parse().unwrap()),
                Ok(()),
                "{addr}"
            );
        }
        for addr in ["0.0.0.0:3000", "[::]:3000", "10.0.0.5:3000"] {
            let err = demo.check_demo_mode(addr.parse().unwrap()).unwrap_err();
            assert!(err.to_string().starts_with("DEMO_MODE is invalid"), "{err}");
        }
        let mut production = demo.clone();
        production.demo_mode = false;
        assert_eq!(
            production.check_demo_mode("0.0.0.0:3000".parse().unwrap()),
            Ok(())
        );
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
