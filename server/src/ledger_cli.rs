//! `deltran-console ledger …`: the writer side of the RocksDB ledger (append, seal, snapshot,
//! backup, restore) and its verification. Verification and `status` read through a secondary
//! instance, so they run while another process writes; the others open the ledger as its one
//! writer (RocksDB's lock refuses a second).

use std::{
    io::{BufRead, IsTerminal},
    path::{Path, PathBuf},
};

use anyhow::Context;
use app::backend::{
    config::{Config, Secret},
    ledger::{
        self,
        checkpoint::{self, Checkpoint},
        merkle, NewEvent, Settings, Writer,
    },
};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use uuid::Uuid;

/// Events appended per WriteBatch by `append`.
const APPEND_BATCH: usize = 10_000;

#[derive(Debug, Subcommand)]
pub enum LedgerAction {
    /// Append events given as JSON lines ({"payment_id", "event_type", "payload", "time"?}),
    /// from FILE or standard input; every line is checked before anything is written.
    Append {
        /// The JSON-lines file; standard input when left out.
        file: Option<PathBuf>,
        /// Seal the new events into blocks afterwards.
        #[arg(long)]
        seal: bool,
    },
    /// Seal every event not yet in a block into blocks (at most `block_events` each).
    Seal,
    /// Record a snapshot: the last sequence and a digest of every payment's state.
    Snapshot,
    /// Back the ledger up into DIR (RocksDB's backup engine), keeping the newest N; --list
    /// lists the backups there instead.
    Backup {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 7)]
        keep: usize,
        #[arg(long)]
        list: bool,
    },
    /// Restore a backup from DIR into an empty or new directory INTO.
    Restore {
        #[arg(long)]
        dir: PathBuf,
        /// The backup's id (`backup --list`); the newest when left out.
        #[arg(long)]
        id: Option<u32>,
        #[arg(long)]
        into: PathBuf,
    },
    /// Check the whole chain: every block's root from its events, every parent link back to
    /// genesis; exit 1 naming the first broken block and event.
    Verify,
    /// The ledger's head: events, blocks, what is not sealed yet, the last block's hash.
    Status,
    /// Check the ledger against Postgres: every payment's state, every settled payment's
    /// event, every event's payment, every batch's totals; exit 1 listing the differences.
    Reconcile,
}

/// One line of `append`'s input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    payment_id: Uuid,
    event_type: String,
    payload: serde_json::Value,
    time: Option<DateTime<Utc>>,
}

pub async fn run(config: Config, action: LedgerAction) -> anyhow::Result<()> {
    if let LedgerAction::Reconcile = action {
        return reconcile(config).await;
    }
    let settings = Settings::load(config.ledger_config.as_deref())?;
    let path = config.ledger_path.clone();
    let data_dir = config.data_dir.clone();
    let key = config.secret(Secret::AuditAnchor).to_string();
    let taken = tokio::task::spawn_blocking(move || {
        run_blocking(&path, &data_dir, &settings, &key, action)
    })
    .await
    .context("the ledger command stopped")??;
    if let Some(c) = taken {
        println!("checkpoint: {} blocks, chain root {}", c.size, c.root);
        match crate::db::redis_for(&config).await {
            Ok(mut redis) => checkpoint::copy_to_redis(&mut redis, &config.redis_prefix, &c).await,
            Err(e) => tracing::warn!(error = %e, "ledger checkpoint not copied to Redis"),
        }
    }
    Ok(())
}

/// Runs `action`; returns the checkpoint it took, when it sealed blocks (the caller copies
/// it to Redis).
fn run_blocking(
    path: &Path,
    data_dir: &Path,
    settings: &Settings,
    key: &str,
    action: LedgerAction,
) -> anyhow::Result<Option<Checkpoint>> {
    let writer = || -> anyhow::Result<Writer> {
        Writer::open(path, settings)
            .with_context(|| format!("opening the ledger {}", path.display()))
    };
    match action {
        LedgerAction::Append { file, seal } => {
            let events = read_events(file.as_deref())?;
            let mut w = writer()?;
            let progress = bar(events.len() as u64, "events");
            let (mut first, mut last) = (None, None);
            let mut events = events.into_iter().peekable();
            while events.peek().is_some() {
                let chunk: Vec<NewEvent> = events.by_ref().take(APPEND_BATCH).collect();
                let n = chunk.len() as u64;
                if let Some(range) = w.append(chunk)? {
                    first = first.or(Some(*range.start()));
                    last = Some(*range.end());
                }
                progress.inc(n);
            }
            progress.finish_and_clear();
            match (first, last) {
                (Some(f), Some(l)) => println!("appended events {f} to {l}"),
                _ => println!("nothing to append"),
            }
            if !seal {
                return Ok(None);
            }
            seal_and_checkpoint(&mut w, data_dir, key)
        }
        LedgerAction::Seal => seal_and_checkpoint(&mut writer()?, data_dir, key),
        LedgerAction::Snapshot => {
            let s = writer()?.snapshot(Utc::now())?;
            println!(
                "snapshot at event {}: {} blocks, {} payments, state digest {}",
                s.seq, s.blocks, s.payments, s.state_digest
            );
            Ok(None)
        }
        LedgerAction::Backup { dir, keep, list } => {
            if !list {
                let b = writer()?.backup(&dir, keep)?;
                println!(
                    "backup {} written and checked: {} files, {} bytes",
                    b.id, b.files, b.bytes
                );
            }
            for b in ledger::backups(&dir)? {
                println!(
                    "{:>4}  {}  {:>6} files  {:>12} bytes",
                    b.id, b.time, b.files, b.bytes
                );
            }
            Ok(None)
        }
        LedgerAction::Restore { dir, id, into } => {
            ledger::restore(&dir, id, &into)?;
            let report = read_only(&into, data_dir, settings, |v| v.verify(&mut |_, _| {}))?;
            anyhow::ensure!(
                report.ok(),
                "restored into {}, but it does not verify: {:?}",
                into.display(),
                report.first_broken
            );
            println!(
                "restored into {}: {} blocks and {} events verified",
                into.display(),
                report.blocks_checked,
                report.events_checked
            );
            Ok(None)
        }
        LedgerAction::Verify => {
            let progress = bar(0, "blocks");
            let report = read_only(path, data_dir, settings, |v| {
                v.verify(&mut |done, all| {
                    progress.set_length(all);
                    progress.set_position(done);
                })
            })?;
            progress.finish_and_clear();
            match &report.first_broken {
                None => {
                    println!(
                        "the ledger is intact: {} blocks and {} events checked",
                        report.blocks_checked, report.events_checked
                    );
                    Ok(None)
                }
                Some(b) => anyhow::bail!(
                    "the ledger is broken at {}{}: {} ({} blocks checked before it)",
                    b.block
                        .map_or("the events after the last block".into(), |n| format!(
                            "block {n}"
                        )),
                    b.seq.map(|s| format!(", event {s}")).unwrap_or_default(),
                    b.reason,
                    report.blocks_checked
                ),
            }
        }
        LedgerAction::Reconcile => unreachable!("run() handles it"),
        LedgerAction::Status => {
            let head = read_only(path, data_dir, settings, |v| v.head())?;
            println!(
                "{} events, {} blocks, {} not sealed yet",
                head.last_seq, head.blocks, head.unsealed
            );
            if let Some(b) = head.last_block {
                println!(
                    "last block {}: events {} to {}, hash {}",
                    b.number,
                    b.first_seq,
                    b.last_seq,
                    merkle::to_hex(&b.hash())
                );
            }
            Ok(None)
        }
    }
}

async fn reconcile(config: Config) -> anyhow::Result<()> {
    let state = crate::cli::command_state(config, "deltran-console ledger reconcile").await?;
    let result = app::backend::ledger::reconcile::reconcile(&state).await;
    let _ = std::fs::remove_dir_all(state.ledger.secondary_path());
    let r = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    for d in &r.listed {
        let what = match (d.payment_id, d.batch_id) {
            (Some(p), _) => format!("payment {p}"),
            (None, Some(b)) => format!("batch {b}"),
            (None, None) => "the ledger".into(),
        };
        println!("{:?}: {what}: {}", d.kind, d.detail);
    }
    anyhow::ensure!(
        r.differences == 0,
        "{} difference(s) between the ledger and Postgres ({} listed above)",
        r.differences,
        r.listed.len()
    );
    println!(
        "the ledger agrees with Postgres: {} payments, {} batches, {} events",
        r.payments_checked, r.batches_checked, r.events_in_ledger
    );
    Ok(())
}

/// Seals what is not sealed; when that made blocks, signs the chain tree (a checkpoint).
fn seal_and_checkpoint(
    w: &mut Writer,
    data_dir: &Path,
    key: &str,
) -> anyhow::Result<Option<Checkpoint>> {
    let sealed = w.seal(Utc::now())?;
    print_sealed(&sealed);
    if sealed.is_empty() {
        return Ok(None);
    }
    Ok(checkpoint::take(w, data_dir, key)?)
}

/// Runs `read` on the ledger at `path` through a secondary instance of this process's own,
/// so that it works while a writer has the ledger open.
fn read_only<T>(
    path: &Path,
    data_dir: &Path,
    settings: &Settings,
    read: impl FnOnce(&ledger::View) -> Result<T, ledger::LedgerError>,
) -> anyhow::Result<T> {
    let secondary = data_dir.join(format!("ledger-cli-{}", std::process::id()));
    let reader = ledger::Reader::new(path.to_path_buf(), secondary.clone(), settings.clone());
    let result = reader.with_view(read);
    drop(reader);
    let _ = std::fs::remove_dir_all(&secondary);
    Ok(result?)
}

fn read_events(file: Option<&Path>) -> anyhow::Result<Vec<NewEvent>> {
    let input: Box<dyn BufRead> = match file {
        Some(f) => Box::new(std::io::BufReader::new(
            std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let now = Utc::now();
    let mut events = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.context("reading the events")?;
        if line.trim().is_empty() {
            continue;
        }
        let l: Line =
            serde_json::from_str(&line).map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
        anyhow::ensure!(
            ledger::format::valid_event_type(&l.event_type),
            "line {}: event_type {:?} must be 1-32 of a-z, 0-9 and _, starting with a letter",
            n + 1,
            l.event_type
        );
        anyhow::ensure!(
            l.payload.is_object(),
            "line {}: payload must be a JSON object",
            n + 1
        );
        events.push(NewEvent {
            payment_id: l.payment_id,
            event_type: l.event_type,
            payload: serde_json::to_vec(&l.payload).expect("a JSON value serializes"),
            time: l.time.unwrap_or(now),
        });
    }
    Ok(events)
}

fn print_sealed(blocks: &[ledger::format::Block]) {
    match (blocks.first(), blocks.last()) {
        (Some(f), Some(l)) => println!(
            "sealed {} block(s), {} to {}: events {} to {}; last hash {}",
            blocks.len(),
            f.number,
            l.number,
            f.first_seq,
            l.last_seq,
            merkle::to_hex(&l.hash())
        ),
        _ => println!("nothing to seal"),
    }
}

/// A progress bar on a terminal, nothing elsewhere.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!("[{{bar:40}}] {{pos}}/{{len}} {unit} ({{eta}})"))
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb
}
