//! `deltran-console backup` and `restore`: every row of the `deltran` schema, in one
//! consistent snapshot, to one file; and back into a database.
//!
//! The file is `DELTRAN-BACKUP 1\n`, a one-line JSON manifest (schema version, tables in
//! restore order with their columns, row counts, byte lengths and SHA-256), then each table's
//! data in Postgres' binary COPY format, back to back. The schema itself comes from the
//! migrations compiled into the binary, so a backup restores only into the same schema version.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::Path,
};

use anyhow::{bail, ensure, Context};
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
// Table, column and sequence names in dynamic SQL come from the catalog (`pg_class`,
// `pg_attribute`); a backup's manifest must name exactly those before any is used.
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use crate::db::{self, MIGRATOR};

const MAGIC: &str = "DELTRAN-BACKUP 1";
/// Tables that hold bookkeeping the migrations create, replaced rather than appended to.
const SINGLETONS: [&str; 1] = ["audit_head"];

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub migrations: Vec<i64>,
    pub tables: Vec<TableEntry>,
    /// The first and last month with audit rows, so their partitions exist before the rows.
    pub audit_months: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

fn progress(len: u64, show: bool, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// The schema's tables (partitions excluded: rows go through their parent) ordered so that
/// every table comes after the tables its non-deferrable foreign keys point to.
async fn tables_in_restore_order(
    conn: &mut PgConnection,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         WHERE c.relnamespace = 'deltran'::regnamespace AND c.relkind IN ('r', 'p') \
           AND NOT c.relispartition ORDER BY c.relname",
    )
    .fetch_all(&mut *conn)
    .await?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c \
         WHERE c.contype = 'f' AND NOT c.condeferrable AND c.conrelid <> c.confrelid \
           AND c.connamespace = 'deltran'::regnamespace",
    )
    .fetch_all(&mut *conn)
    .await?;
    let bare = |q: &str| q.trim_start_matches("deltran.").to_string();
    let edges: Vec<(String, String)> = edges
        .into_iter()
        .map(|(a, b)| (bare(&a), bare(&b)))
        .collect();
    let mut ordered: Vec<String> = Vec::new();
    while ordered.len() < tables.len() {
        let next = tables.iter().find(|t| {
            !ordered.contains(t)
                && edges
                    .iter()
                    .filter(|(from, _)| from == *t)
                    .all(|(_, to)| ordered.contains(to))
        });
        match next {
            Some(t) => ordered.push(t.clone()),
            None => bail!("the foreign keys of the deltran schema form a cycle"),
        }
    }
    let mut out = Vec::new();
    for t in ordered {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_attribute a \
             WHERE a.attrelid = ('deltran.' || quote_ident($1))::regclass \
               AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        )
        .bind(&t)
        .fetch_all(&mut *conn)
        .await?;
        out.push((t, columns));
    }
    Ok(out)
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a backup of every table to `out` (via a temporary file renamed at the end, so a
/// failed backup leaves no file). Returns a one-line summary.
pub async fn backup(db: &PgPool, out: &Path, show_progress: bool) -> anyhow::Result<String> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let migrations = db::applied_versions(db).await?;
    ensure!(
        !migrations.is_empty(),
        "the database has no schema: nothing to back up"
    );
    let tables = tables_in_restore_order(&mut tx).await?;
    let audit_months: Option<(chrono::NaiveDate, chrono::NaiveDate)> = sqlx::query_as(
        "SELECT date_trunc('month', min(\"timestamp\") AT TIME ZONE 'UTC')::date, \
                date_trunc('month', max(\"timestamp\") AT TIME ZONE 'UTC')::date \
         FROM deltran.audit_log HAVING count(*) > 0",
    )
    .fetch_optional(&mut *tx)
    .await?;

    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut data = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut entries = Vec::new();
    let pb = progress(0, show_progress, "backup");
    for (name, columns) in tables {
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM deltran.\"{name}\""
        )))
        .fetch_one(&mut *tx)
        .await?;
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        // A query rather than the table: partitioned tables cannot be copied from directly.
        let statement = format!(
            "COPY (SELECT {} FROM deltran.\"{name}\") TO STDOUT (FORMAT binary)",
            column_list(&columns)
        );
        let mut stream = tx.copy_out_raw(&statement).await?;
        while let Some(chunk) = stream.try_next().await? {
            hasher.update(&chunk);
            data.write_all(&chunk)?;
            bytes += chunk.len() as u64;
            pb.inc(chunk.len() as u64);
        }
        drop(stream);
        entries.push(TableEntry {
            name,
            columns,
            rows: rows as u64,
            bytes,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    tx.commit().await?;
    pb.finish_and_clear();

    let manifest = Manifest {
        created_at: chrono::Utc::now(),
        migrations,
        tables: entries,
        audit_months,
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    writeln!(file, "{MAGIC}")?;
    writeln!(file, "{}", serde_json::to_string(&manifest)?)?;
    data.flush()?;
    let mut reader = data.reopen()?;
    std::io::copy(&mut reader, &mut file)?;
    file.as_file().sync_all()?;
    file.persist(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
    Ok(format!(
        "backed up {rows} rows from {} tables to {}",
        manifest.tables.len(),
        out.display()
    ))
}

/// Reads a backup's manifest, leaving the reader at the first table's data.
pub fn read_manifest(reader: &mut impl BufRead) -> anyhow::Result<Manifest> {
    let mut magic = String::new();
    reader.read_line(&mut magic)?;
    ensure!(
        magic.trim_end() == MAGIC,
        "not a DelTran Console backup file"
    );
    let mut line = String::new();
    reader.read_line(&mut line)?;
    serde_json::from_str(&line).context("the backup's manifest is damaged")
}

/// Restores `file` in one transaction: into an empty database, or with `force` in place of
/// what is there. Nothing changes unless every table loads and every checksum matches.
pub async fn restore(
    db: &PgPool,
    file: &Path,
    force: bool,
    show_progress: bool,
) -> anyhow::Result<String> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let manifest = read_manifest(&mut reader)?;
    let ours: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    ensure!(
        manifest.migrations == ours,
        "the backup has schema version {:?}, this binary has {:?}: restore it with the matching release",
        manifest.migrations.last(),
        ours.last()
    );

    let mut tx = db.begin().await?;
    let has_schema: bool = sqlx::query_scalar("SELECT to_regnamespace('deltran') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await?;
    if has_schema {
        let tables = tables_in_restore_order(&mut tx).await?;
        let mut not_empty = Vec::new();
        for (name, _) in &tables {
            if SINGLETONS.contains(&name.as_str()) {
                continue;
            }
            let any: bool = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM deltran.\"{name}\")"
            )))
            .fetch_one(&mut *tx)
            .await?;
            if any {
                not_empty.push(name.clone());
            }
        }
        if !not_empty.is_empty() {
            ensure!(
                force,
                "the database is not empty ({} hold rows): pass --force to replace its contents",
                not_empty.join(", ")
            );
            sqlx::query("DROP SCHEMA deltran CASCADE")
                .execute(&mut *tx)
                .await?;
            sqlx::query("DROP TABLE IF EXISTS public._sqlx_migrations")
                .execute(&mut *tx)
                .await?;
        }
    }
    MIGRATOR
        .run(&mut *tx)
        .await
        .context("creating the schema")?;
    let schema = tables_in_restore_order(&mut tx).await?;
    let same_tables = schema.len() == manifest.tables.len()
        && manifest.tables.iter().all(|t| {
            schema
                .iter()
                .any(|(name, columns)| *name == t.name && *columns == t.columns)
        });
    ensure!(
        same_tables,
        "the backup's tables do not match the schema: nothing restored"
    );
    sqlx::query("SET CONSTRAINTS ALL DEFERRED")
        .execute(&mut *tx)
        .await?;
    if let Some((first, last)) = manifest.audit_months {
        let months = (last.signed_duration_since(first).num_days() / 28 + 2) as i32;
        sqlx::query("SELECT deltran.ensure_audit_partitions($1, $2)")
            .bind(first)
            .bind(months)
            .execute(&mut *tx)
            .await?;
    }

    let total: u64 = manifest.tables.iter().map(|t| t.bytes).sum();
    let pb = progress(total, show_progress, "restore");
    let mut buf = vec![0u8; 1 << 20];
    for t in &manifest.tables {
        if SINGLETONS.contains(&t.name.as_str()) {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM deltran.\"{}\"", t.name)))
                .execute(&mut *tx)
                .await?;
        }
        let statement = format!(
            "COPY deltran.\"{}\" ({}) FROM STDIN (FORMAT binary)",
            t.name,
            column_list(&t.columns)
        );
        let mut copy = tx.copy_in_raw(&statement).await?;
        let mut hasher = Sha256::new();
        let mut left = t.bytes;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            reader
                .read_exact(&mut buf[..want])
                .with_context(|| format!("the backup ends inside table {}", t.name))?;
            hasher.update(&buf[..want]);
            copy.send(&buf[..want]).await?;
            left -= want as u64;
            pb.inc(want as u64);
        }
        if hex::encode(hasher.finalize()) != t.sha256 {
            copy.abort("checksum mismatch").await.ok();
            bail!(
                "table {} is damaged in the backup (checksum mismatch): nothing restored",
                t.name
            );
        }
        let rows = copy.finish().await?;
        ensure!(
            rows == t.rows,
            "table {}: expected {} rows, loaded {rows}",
            t.name,
            t.rows
        );
    }
    // Sequences continue after the restored ids.
    let owned: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT s.oid::regclass::text, t.oid::regclass::text, a.attname::text \
         FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' \
         JOIN pg_class t ON t.oid = d.refobjid \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE s.relkind = 'S' AND s.relnamespace = 'deltran'::regnamespace",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (seq, table, column) in owned {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT setval('{seq}', coalesce((SELECT max(\"{column}\") FROM {table}), 0) + 1, false)"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    pb.finish_and_clear();
    let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
    Ok(format!(
        "restored {rows} rows into {} tables from {} (taken {})",
        manifest.tables.len(),
        file.display(),
        manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    ))
}
