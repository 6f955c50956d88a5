//! The command line of `deltran-console` (`--help` lists it; the README describes it): every
//! command answers bad input with one clear line and a non-zero exit, and writes nothing
//! half-way.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use app::backend::{
    config::{Config, Secret},
    crypto,
};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::{audit_cli, backup, db, ledger_cli, seed, startup, telemetry, users};

#[derive(Debug, Parser)]
#[command(
    name = "deltran-console",
    version,
    about = "DelTran Console: the admin console of the DelTran payment network"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the console: pages, server functions, REST API, /healthz, /readyz, /metrics (the default).
    Serve,
    /// Apply or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Load deterministic demo data (needs DEMO_PASSWORD for the demo users).
    Seed {
        /// Required: the only kind of seed there is.
        #[arg(long)]
        demo: bool,
        /// How many payments to generate.
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(0..=50_000_000))]
        payments: u64,
        /// The day the demo data ends on (UTC); defaults to today.
        #[arg(long, value_name = "YYYY-MM-DD")]
        anchor_date: Option<NaiveDate>,
    },
    /// Manage console users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Write every row of the console's schema to a backup file.
    Backup {
        /// Where to write; defaults to deltran-<timestamp>.backup in the current directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The audit trail: verify, anchor, partitions, detach, export, evidence.
    Audit {
        #[command(subcommand)]
        action: audit_cli::AuditAction,
    },
    /// The RocksDB ledger: append, seal, snapshot, backup, restore, verify, status.
    Ledger {
        #[command(subcommand)]
        action: ledger_cli::LedgerAction,
    },
    /// Controls: reconcile their Redis copies with Postgres.
    Controls {
        #[command(subcommand)]
        action: ControlsAction,
    },
    /// List every REST route and server function with the permission it requires.
    Routes,
    /// Print the permission matrix (roles × permissions) as Markdown, as docs/permissions.md
    /// holds it.
    Permissions {
        /// Rewrite the generated table in this file instead of printing it.
        #[arg(long, value_name = "FILE")]
        update: Option<PathBuf>,
    },
    /// Restore a backup into an empty database (or replace everything with --force).
    Restore {
        file: PathBuf,
        /// Replace the existing data.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations.
    Up,
    /// List applied and pending migrations.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user; the password is prompted for, or read from stdin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// admin, operator, auditor or viewer.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ControlsAction {
    /// Lift the expired controls, then write every Redis copy Postgres implies and remove the
    /// keys it does not (a key deleted or altered by hand included); prints what was repaired.
    Reconcile,
}

/// The state a command that acts as the console does (`controls reconcile`, `ledger
/// reconcile`) runs with: the pools, Redis, the ledger's reader; no background jobs.
pub async fn command_state(
    config: Config,
    name: &str,
) -> anyhow::Result<app::backend::state::AppState> {
    use std::sync::Arc;
    let ledger = app::backend::ledger::Reader::new(
        config.ledger_path.clone(),
        config
            .data_dir
            .join(format!("ledger-cli-{}", std::process::id())),
        app::backend::ledger::Settings::load(config.ledger_config.as_deref())?,
    );
    Ok(app::backend::state::AppState {
        db: db::connect(&config).await?,
        redis: db::redis_for(&config).await?,
        config: Arc::new(config),
        verify_jobs: Default::default(),
        background: Default::default(),
        instance: Arc::new(app::backend::state::Instance::new(name)),
        reads: Default::default(),
        ledger: Arc::new(ledger),
    })
}

/// Parses the command line and runs it; the exit code says whether it worked.
pub async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let rendered = err.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli.command.unwrap_or(Command::Serve)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    // Documentation only: no configuration, no connections.
    if let Command::Permissions { update } = &command {
        return crate::permissions::run(update.as_deref());
    }
    let config = Config::from_env()?;
    telemetry::init(&config.log_format);
    match command {
        Command::Serve => {
            config.validate_secrets()?;
            config.check_demo_mode(startup::listen_addr(&config)?)?;
            tracing::info!(?config, "starting");
            let app = startup::Application::build(config).await?;
            tracing::info!("listening on http://{}", app.local_addr());
            app.run_until(startup::shutdown_signal()).await
        }
        Command::Migrate { action } => {
            let pool = db::connect_direct(&config).await?;
            match action {
                MigrateAction::Up => {
                    let applied = db::migrate_up(&pool).await?;
                    println!("{applied} migration(s) applied; the schema is up to date");
                }
                MigrateAction::Status => {
                    for (applied, version, description) in db::migrate_status(&pool).await? {
                        let state = if applied { "applied" } else { "pending" };
                        println!("{state:8} {version} {description}");
                    }
                }
            }
            Ok(())
        }
        Command::Seed {
            demo,
            payments,
            anchor_date,
        } => {
            anyhow::ensure!(demo, "only demo data can be seeded: pass --demo");
            let password = config
                .demo_password
                .clone()
                .context("DEMO_PASSWORD must be set: it becomes the demo users' password")?;
            let pool = db::connect(&config).await?;
            let anchor = anchor_date.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let admin_totp = match &config.demo_totp_secret {
                Some(b32) => {
                    let secret = app::backend::totp::base32_decode(b32)
                        .context("DEMO_TOTP_SECRET is not base32")?;
                    Some(crypto::encrypt(
                        config.secret(Secret::TotpEncryption),
                        crypto::TOTP_PURPOSE,
                        &secret,
                    ))
                }
                None => None,
            };
            let options = seed::SeedOptions {
                payments,
                anchor,
                password,
                show_progress: true,
                admin_totp,
                ledger: Some(seed::LedgerSeed {
                    path: config.ledger_path.clone(),
                    settings: app::backend::ledger::Settings::load(
                        config.ledger_config.as_deref(),
                    )?,
                    data_dir: config.data_dir.clone(),
                    key: config.secret(Secret::AuditAnchor).to_string(),
                }),
            };
            let report = seed::seed_demo(&pool, &options).await?;
            if !report.skipped {
                let mut redis = db::redis_for(&config).await?;
                let keys = seed::seed_redis(&pool, &mut redis, &config.redis_prefix).await?;
                if let Some(c) = app::backend::ledger::checkpoint::latest(&config.data_dir) {
                    app::backend::ledger::checkpoint::copy_to_redis(
                        &mut redis,
                        &config.redis_prefix,
                        &c,
                    )
                    .await;
                }
                println!("wrote {keys} Redis keys (rate-limit counters, idempotency keys, circuit breakers)");
            }
            println!("{report}");
            Ok(())
        }
        Command::User {
            action:
                UserAction::Create {
                    username,
                    email,
                    role,
                    password_stdin,
                },
        } => {
            let password = users::read_password(password_stdin)?;
            let pool = db::connect(&config).await?;
            let id = users::create(&pool, &username, &email, &role, &password).await?;
            println!("created user {username} ({id})");
            Ok(())
        }
        Command::Backup { out } => {
            let pool = db::connect(&config).await?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "deltran-{}.backup",
                    chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
                ))
            });
            let summary = backup::backup(&pool, &out, true).await?;
            println!("{summary}");
            Ok(())
        }
        Command::Audit { action } => audit_cli::run(&config, action).await,
        Command::Ledger { action } => ledger_cli::run(config, action).await,
        Command::Controls {
            action: ControlsAction::Reconcile,
        } => {
            let state = command_state(config, "deltran-console controls reconcile").await?;
            let (controls, requests) = app::backend::controls::expire(&state).await?;
            if controls + requests > 0 {
                println!("lifted {controls} expired control(s), expired {requests} request(s)");
            }
            let actor = app::backend::audit::Actor::system("deltran-console controls reconcile");
            let report = app::backend::controls::reconcile(&state, actor)
                .await
                .context("Redis or Postgres did not answer")?;
            for drift in &report.repaired {
                println!(
                    "repaired {} ({}): {}",
                    drift.key,
                    drift.state.label(),
                    drift.detail
                );
            }
            println!("{}", report.describe());
            Ok(())
        }
        Command::Routes => {
            for route in crate::api::api().routes {
                let access = match route.access {
                    crate::api::Access::Public => "public".to_string(),
                    crate::api::Access::Requires(p) => p.name().to_string(),
                };
                println!(
                    "{:7} /api/v1{:32} {access}",
                    route.method.as_str(),
                    route.path
                );
            }
            for d in crate::downloads::ROUTES {
                let names: Vec<_> = d.permissions.iter().map(|p| p.name()).collect();
                println!("GET     {:40} {}", d.path, names.join(" + "));
            }
            for f in app::auth::server_fns() {
                let (path, access) = (f.path, f.access);
                let access =
                    access.map_or("public (signs in or tells who is signed in)", |p| p.name());
                println!("POST    {path:40} {access}");
            }
            Ok(())
        }
        Command::Permissions { .. } => unreachable!("handled before the configuration"),
        Command::Restore { file, force } => {
            let pool = db::connect_direct(&config).await?;
            let summary = backup::restore(&pool, &file, force, true).await?;
            println!("{summary}");
            Ok(())
        }
    }
}
