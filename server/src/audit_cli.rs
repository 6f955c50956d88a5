//! `deltran-console audit …`: verify the hash chain, anchor it, list partitions, detach old
//! ones, export a range and build an evidence pack. The hidden `generate` and `bench`
//! commands serve `scripts/bench-audit.sh`.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    time::Instant,
};

use anyhow::Context;
use app::backend::{
    audit::{
        self, anchor, export,
        export::{AuditFilter, ExportFormat},
        partitions, verify, Actor, AuditEvent, AuditRow, GENESIS_HASH,
    },
    config::{Config, Secret},
    context::RequestContext,
    db::{
        audit::{self as audit_db, AuditLog},
        list,
    },
};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use crate::db;

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check the hash chain (and the highest signed anchor kept); exit 1 at the first broken row.
    Verify {
        /// Only rows from this time on (RFC 3339, or YYYY-MM-DD for midnight UTC).
        #[arg(long, value_parser = parse_time)]
        from: Option<DateTime<Utc>>,
        /// Only rows before this time.
        #[arg(long, value_parser = parse_time)]
        to: Option<DateTime<Utc>>,
    },
    /// Sign the chain's head now (anchor file under DATA_DIR/audit-anchors, copy in Redis);
    /// refused (exit 1, a critical audit row) when the chain lost rows an anchor signed.
    Anchor,
    /// List the audit partitions with their bounds, row estimates and sizes.
    Partitions,
    /// Detach (never drop) the monthly partitions older than N months; each detach is audited.
    Detach {
        #[arg(long, value_name = "MONTHS")]
        older_than: u32,
    },
    /// Write the filtered rows as CSV or JSON lines (to stdout unless --out).
    Export {
        #[arg(long, value_enum)]
        format: FormatArg,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Write an evidence pack (tar): the export, its verification, a signed manifest.
    Evidence {
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Append N synthetic rows forming a valid chain (benchmarks only).
    #[command(hide = true)]
    Generate {
        #[arg(long)]
        rows: u64,
        /// The rows are spread evenly over this many days, ending now.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Measure verification, the list query and paging (benchmarks only).
    #[command(hide = true)]
    Bench {
        #[arg(long, default_value_t = 50)]
        samples: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Actor name, or actor id (UUID).
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    action: Option<String>,
    #[arg(long)]
    resource_type: Option<String>,
    #[arg(long)]
    resource_id: Option<String>,
    #[arg(long, value_parser = ["success", "failure", "denied"])]
    result: Option<String>,
    #[arg(long, value_parser = parse_time)]
    from: Option<DateTime<Utc>>,
    #[arg(long, value_parser = parse_time)]
    to: Option<DateTime<Utc>>,
}

impl From<FilterArgs> for AuditFilter {
    fn from(a: FilterArgs) -> Self {
        AuditFilter {
            actor: a.actor,
            action: a.action,
            resource_type: a.resource_type,
            resource_id: a.resource_id,
            result: a.result,
            from: a.from,
            to: a.to,
        }
    }
}

/// RFC 3339, or a date meaning its midnight UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(format!(
        "{s:?} is not a time (use RFC 3339, e.g. 2026-11-30T10:00:00Z, or YYYY-MM-DD)"
    ))
}

/// Who the CLI acts as in audit rows.
fn cli_actor() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Actor::system(&format!("cli:{user}"))
}

pub async fn run(config: &Config, action: AuditAction) -> anyhow::Result<()> {
    let pool = db::connect(config).await?;
    match action {
        AuditAction::Verify { from, to } => {
            let range = match (from, to) {
                (None, None) => None,
                (f, t) => {
                    let f = f.unwrap_or_else(|| parse_time("0001-01-01").expect("a date"));
                    let t = t.unwrap_or_else(|| parse_time("9999-12-31").expect("a date"));
                    anyhow::ensure!(f < t, "--from must be before --to");
                    Some((f, t))
                }
            };
            // The files only: the Redis copy is not evidence.
            let anchor =
                anchor::highest_anchor(&config.data_dir, config.secret(Secret::AuditAnchor))?;
            let pb = if std::io::stderr().is_terminal() {
                let pb = ProgressBar::new(0);
                pb.set_style(
                    ProgressStyle::with_template("verifying [{bar:40}] {pos}/{len} rows ({eta})")
                        .expect("a valid template"),
                );
                pb
            } else {
                ProgressBar::hidden()
            };
            let report = verify::verify(&pool, range, anchor.as_ref(), |done, total| {
                pb.set_length(total);
                pb.set_position(done);
            })
            .await?;
            pb.finish_and_clear();
            match (&report.first_broken, &anchor, range) {
                (None, Some(a), None) => println!(
                    "intact: {} rows, head matches anchor of {}",
                    report.checked,
                    a.created_at.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                (None, None, None) => println!(
                    "intact: {} rows (no anchor file in {} to compare the head with)",
                    report.checked,
                    anchor::anchor_dir(&config.data_dir).display()
                ),
                (None, _, Some((f, t))) => println!(
                    "intact: {} rows from {} to {}, linked to the row before them",
                    report.checked,
                    f.format("%Y-%m-%dT%H:%M:%SZ"),
                    t.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                (Some(b), _, _) => anyhow::bail!(
                    "audit chain broken at row {} ({}): {}; {} rows intact before it{}",
                    b.id,
                    b.timestamp
                        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                        .unwrap_or_else(|| "missing".into()),
                    b.reason,
                    report.checked,
                    match &anchor {
                        Some(a) if b.reason == verify::reason::HEAD_BEHIND_ANCHOR => format!(
                            "; the chain was truncated: the anchor of {} signed {} rows",
                            a.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                            a.last_id
                        ),
                        _ => String::new(),
                    }
                ),
            }
        }
        AuditAction::Anchor => {
            let mut redis = db::redis(&config.redis_url)?;
            match anchor::anchor_now(
                &pool,
                Some((&mut redis, &config.redis_prefix)),
                &config.data_dir,
                config.secret(Secret::AuditAnchor),
            )
            .await?
            {
                Some(a) => println!(
                    "anchored row {} ({}…) at {} in {}",
                    a.last_id,
                    &a.last_hash[..16],
                    a.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    anchor::anchor_dir(&config.data_dir).display()
                ),
                None => println!("the audit log is empty: nothing to anchor"),
            }
        }
        AuditAction::Partitions => {
            println!(
                "{:32} {:>12} {:>10}  bounds",
                "partition", "rows (est.)", "size"
            );
            for p in partitions::list_partitions(&pool).await? {
                println!(
                    "{:32} {:>12} {:>10}  {}",
                    p.name,
                    p.row_estimate.max(0),
                    human_bytes(p.total_bytes),
                    p.bounds
                );
            }
        }
        AuditAction::Detach { older_than } => {
            let done =
                partitions::detach_partitions_older_than(&pool, older_than, cli_actor()).await?;
            if done.is_empty() {
                println!("no partition older than {older_than} months");
            }
            for d in done {
                println!(
                    "detached {} ({} rows); the table stays, outside the audit log",
                    d.name, d.rows
                );
            }
        }
        AuditAction::Export {
            format,
            out,
            filter,
        } => {
            let format = match format {
                FormatArg::Csv => ExportFormat::Csv,
                FormatArg::Jsonl => ExportFormat::Jsonl,
            };
            let filter: AuditFilter = filter.into();
            // Open the destination before recording the export.
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut stream = Box::pin(export::export(&pool, &filter, format, cli_actor()).await?);
            while let Some(chunk) = stream.next().await {
                sink.write_all(&chunk?)?;
            }
            sink.flush()?;
        }
        AuditAction::Evidence { out, filter } => {
            let anchor =
                anchor::highest_anchor(&config.data_dir, config.secret(Secret::AuditAnchor))?;
            let manifest = export::write_evidence_pack(
                &pool,
                &filter.into(),
                anchor.as_ref(),
                config.secret(Secret::AuditAnchor),
                cli_actor(),
                &out,
            )
            .await?;
            println!(
                "wrote {}\n{}",
                out.display(),
                manifest.sha256sums.trim_end()
            );
        }
        AuditAction::Generate { rows, days } => generate(&pool, rows, days).await?,
        AuditAction::Bench { samples } => bench(&pool, samples).await?,
    }
    Ok(())
}

fn human_bytes(n: i64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n} B"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_dates() {
        assert_eq!(
            parse_time("2026-11-30").unwrap(),
            parse_time("2026-11-30T00:00:00Z").unwrap()
        );
        assert!(parse_time("yesterday").is_err());
    }
}
