//! `deltran-bench`: what `scripts/bench-audit.sh` needs and the console does not ship:
//! `generate` appends synthetic rows forming a valid audit chain, `audit` measures
//! verification, the list query and paging against raw baselines. Configured like
//! `deltran-console` (DATABASE_URL, `.env`); never part of the production binary.

use std::{io::IsTerminal, process::ExitCode, time::Instant};

use app::backend::{
    audit::{self, verify, Actor, AuditEvent, AuditRow, GENESIS_HASH},
    config::Config,
    context::RequestContext,
    db::audit::AuditFilter,
    db::audit::{self as audit_db, AuditLog},
    db::list,
};
use chrono::Utc;
use clap::{Parser, Subcommand};
use indicatif::ProgressBar;
use sqlx::PgPool;

#[derive(Debug, Parser)]
#[command(
    name = "deltran-bench",
    about = "DelTran Console benchmarks (scripts/bench-audit.sh)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Append N synthetic audit rows forming a valid chain.
    Generate {
        #[arg(long)]
        rows: u64,
        /// The rows are spread evenly over this many days, ending now.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Measure audit verification, the list query and paging.
    Audit {
        #[arg(long, default_value_t = 50)]
        samples: usize,
    },
    /// Measure the ledger against raw RocksDB (temporary directories; needs no database).
    Ledger {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 1000)]
        samples: usize,
    },
    /// Measure the payments API and pages of a running console (the demo viewer signs in,
    /// with DEMO_PASSWORD) against the raw SQL of the same pages.
    Payments {
        /// The console's address, e.g. http://127.0.0.1:3200.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 50)]
        samples: usize,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Command::Ledger { events, samples } = cli.command {
        return match ledger::bench(events, samples) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let run = async {
        let config = Config::from_env()?;
        server::telemetry::init(&config.log_format);
        let pool = server::db::connect(&config).await?;
        match cli.command {
            Command::Generate { rows, days } => generate(&pool, rows, days).await,
            Command::Audit { samples } => bench(&pool, samples).await,
            Command::Payments { url, samples } => payments::bench(&pool, &url, samples).await,
            Command::Ledger { .. } => unreachable!("run before connecting"),
        }
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Appends `rows` rows continuing the chain from `deltran.audit_head`, with COPY, in one
/// transaction; timestamps spread over `days` days ending now.
async fn generate(pool: &PgPool, rows: u64, days: u32) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let started = Instant::now();
    let now = Utc::now();
    let start = now - chrono::Duration::days(days as i64);
    app::backend::jobs::ensure_audit_partitions_from(
        pool,
        start.date_naive(),
        days as i32 / 28 + 3,
    )
    .await?;
    let step_us = (days as i64 * 86_400_000_000) / rows.max(1) as i64;
    let mut tx = pool.begin().await?;
    let (mut id, mut previous): (i64, String) =
        sqlx::query_as("SELECT last_id, last_hash FROM deltran.audit_head FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    if id == 0 {
        previous = GENESIS_HASH.to_string();
    }
    const ACTIONS: [(&str, &str); 8] = [
        ("auth.login", "session"),
        ("payment.cancel", "payment"),
        ("payment.retry", "payment"),
        ("bank.update", "bank"),
        ("control.freeze", "account"),
        ("compliance.review", "compliance_check"),
        ("user.update", "user"),
        ("settlement.submit", "settlement_batch"),
    ];
    let users: Vec<(uuid::Uuid, String)> = (0..50)
        .map(|i| {
            (
                uuid::Uuid::from_u128(0xA0D1_7000 + i),
                format!("user{i:02}"),
            )
        })
        .collect();
    let pb = if std::io::stderr().is_terminal() {
        ProgressBar::new(rows)
    } else {
        ProgressBar::hidden()
    };
    let mut done = 0u64;
    while done < rows {
        let n = (rows - done).min(100_000);
        let mut out = String::with_capacity(n as usize * 420);
        for k in 0..n {
            let i = done + k;
            id += 1;
            let (action, rtype) = ACTIONS[(i % 8) as usize];
            let (uid, uname) = &users[(i * 7 % 50) as usize];
            let result = match i % 50 {
                0 => audit::Outcome::Failure,
                1 => audit::Outcome::Denied,
                _ => audit::Outcome::Success,
            };
            let ev = AuditEvent::new(
                Actor::user(*uid, uname),
                action,
                rtype,
                Some(format!("r{}", i % 100_000)),
            )
            .outcome(result, None)
            .metadata(serde_json::json!({"n": i, "source": "bench"}));
            let ctx = RequestContext {
                request_id: format!("bench-{i}"),
                ip: Some(std::net::IpAddr::from([10, 0, (i % 250) as u8, 1])),
                user_agent: Some("bench/1.0".into()),
                ..Default::default()
            };
            let at = start + chrono::Duration::microseconds(step_us * i as i64);
            let row = AuditRow::build(id, &previous, &ev, &ctx, at);
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t\\N\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                row.id,
                row.event_id,
                row.event_type,
                row.severity,
                uid,
                row.actor_type,
                row.actor_name,
                row.action,
                row.resource_type,
                row.resource_id.as_deref().unwrap_or(""),
                row.result,
                row.ip_address.as_deref().unwrap_or(""),
                row.user_agent.as_deref().unwrap_or(""),
                row.request_id.as_deref().unwrap_or(""),
                row.metadata,
                row.previous_hash,
                row.event_hash,
                row.timestamp.format("%Y-%m-%d %H:%M:%S%.6f+00"),
            );
            previous = row.event_hash;
        }
        let mut copy = tx
            .copy_in_raw(
                "COPY deltran.audit_log (id, event_id, event_type, severity, actor_id, actor_type, \
                 actor_name, action, resource_type, resource_id, result, error_message, ip_address, \
                 user_agent, request_id, metadata, previous_hash, event_hash, \"timestamp\") FROM STDIN",
            )
            .await?;
        copy.send(out.as_bytes()).await?;
        copy.finish().await?;
        done += n;
        pb.set_position(done);
    }
    pb.finish_and_clear();
    sqlx::query("UPDATE deltran.audit_head SET last_id = $1, last_hash = $2, updated_at = now()")
        .bind(id)
        .bind(&previous)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE deltran.audit_log")
        .execute(pool)
        .await?;
    println!(
        "generated {rows} audit rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

mod ledger;
mod payments;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Prints the benchmark numbers: verification vs raw read + SHA-256; the list query vs its
/// raw SQL; page 10 000 vs page 1 of a filtered list.
async fn bench(pool: &PgPool, samples: usize) -> anyhow::Result<()> {
    let samples = samples.max(1);
    // Warm the cache once so that neither side pays for the first read from disk.
    verify::raw_read_and_hash(pool).await?;

    let t = Instant::now();
    let (rows, _) = verify::raw_read_and_hash(pool).await?;
    let raw_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = verify::verify(pool, None, None, |_, _| {}).await?;
    let verify_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(report.ok, "the benchmark chain does not verify: {report:?}");
    let raw_rate = rows as f64 / raw_s;
    let verify_rate = report.checked as f64 / verify_s;
    println!("verify: {} rows", report.checked);
    println!("  raw read + SHA-256     {raw_s:8.2} s  {raw_rate:10.0} rows/s");
    println!("  audit verify           {verify_s:8.2} s  {verify_rate:10.0} rows/s");
    println!(
        "  ratio verify / raw     {:8.2}  (throughput; must be >= 0.5)",
        verify_rate / raw_rate
    );

    // The list query (first page, no filter) against the same SQL sent by hand.
    let raw_sql = format!(
        "SELECT {} FROM deltran.audit_log WHERE true ORDER BY \"timestamp\" DESC, id DESC LIMIT 51",
        audit_db::ROW_COLUMNS
    );
    let filter = AuditFilter::default();
    let mut app_ms = Vec::new();
    let mut raw_ms = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        let (page, _) = list::fetch::<AuditLog>(pool, &filter, None, 50).await?;
        app_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(page.len() == 50);
        let t = Instant::now();
        let raw: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(&*raw_sql))
            .fetch_all(pool)
            .await?;
        raw_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(raw.len() == 51);
    }
    let (app_p50, raw_p50) = (median(app_ms), median(raw_ms));
    println!("list: first page of 50, p50 over {samples} runs");
    println!("  audit list             {app_p50:8.2} ms");
    println!("  raw SQL                {raw_p50:8.2} ms");
    println!(
        "  ratio list / raw       {:8.2}  (must be <= 1.5)",
        app_p50 / raw_p50
    );

    // Page 10 000 of a filter vs its page 1: walk there by cursor, then time both.
    let filter = AuditFilter {
        result: Some("success".into()),
        ..Default::default()
    };
    let per_page = 50u32;
    let mut cursor = None;
    let mut page_no = 1;
    while page_no < 10_000 {
        let (_, next) = list::fetch::<AuditLog>(pool, &filter, cursor.as_ref(), per_page).await?;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        page_no += 1;
    }
    let mut p1 = Vec::new();
    let mut pn = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        list::fetch::<AuditLog>(pool, &filter, None, per_page).await?;
        p1.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        list::fetch::<AuditLog>(pool, &filter, cursor.as_ref(), per_page).await?;
        pn.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (p1, pn) = (median(p1), median(pn));
    println!("paging: result=success, {per_page} per page, p50 over {samples} runs");
    println!("  page 1                 {p1:8.2} ms");
    println!("  page {page_no:<6}            {pn:8.2} ms");
    println!(
        "  ratio page {page_no} / page 1 {:6.2}  (keyset: about 1)",
        pn / p1
    );
    Ok(())
}
