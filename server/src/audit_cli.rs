//! `deltran-console audit …`: verify the hash chain, anchor it, list partitions, detach old
//! ones, export a range and build an evidence pack. (The benchmarks' synthetic rows and
//! measurements are another binary's, `deltran-bench`.)

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
};

use anyhow::Context;
use app::backend::{
    audit::{
        anchor, export,
        export::{AuditFilter, ExportFormat},
        partitions, verify, Actor,
    },
    config::{Config, Secret},
};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

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
            let mut redis = db::redis_for(config).await?;
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
