//! Exports of a filtered range of the audit log, as CSV or JSON lines, streamed in keyset
//! batches (constant memory whatever the size), and evidence packs: one tar archive with the
//! export, the verification of the same range and a manifest of SHA-256 sums signed with the
//! anchor key. Every export writes its own `audit.export` row first.

use std::path::Path;

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;

pub use crate::backend::db::audit::AuditFilter;

use super::{
    anchor::{sign_hex, verify_hex, Anchor},
    verify::{verify, ChainRow, VerifyReport, BATCH},
    Actor, AuditEvent,
};

/// The action of the audit row every export writes.
pub const EXPORT_ACTION: &str = "audit.export";

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

impl ExportFormat {
    /// `csv` or `jsonl` (exactly), else `None`.
    pub fn parse(s: &str) -> Option<ExportFormat> {
        s.parse().ok()
    }

    /// `csv` or `jsonl`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// For a `Content-Type` header.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }
}

/// The CSV header; JSON lines use the same names as keys.
pub const COLUMNS: [&str; 19] = [
    "id",
    "event_id",
    "timestamp",
    "event_type",
    "severity",
    "actor_id",
    "actor_type",
    "actor_name",
    "action",
    "resource_type",
    "resource_id",
    "result",
    "error_message",
    "ip_address",
    "user_agent",
    "request_id",
    "metadata",
    "previous_hash",
    "event_hash",
];

/// Records who exports what (an `audit.export` row, committed), then returns the export as a
/// stream of chunks, oldest row first. The caller streams it to the client or a file.
pub async fn export(
    db: &PgPool,
    filter: &AuditFilter,
    format: ExportFormat,
    actor: Actor,
) -> sqlx::Result<impl Stream<Item = sqlx::Result<Bytes>> + Send + 'static> {
    super::record_alone(
        db,
        AuditEvent::new(actor, EXPORT_ACTION, "audit_log", None).metadata(serde_json::json!({
            "format": format.as_str(),
            "filter": filter_metadata(filter),
        })),
    )
    .await?;
    Ok(export_stream(db.clone(), filter.clone(), format))
}

/// The filter as audit metadata (strings only, as audit metadata must be).
fn filter_metadata(f: &AuditFilter) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in [
        ("actor", f.actor.clone()),
        ("action", f.action.clone()),
        ("resource_type", f.resource_type.clone()),
        ("resource_id", f.resource_id.clone()),
        ("result", f.result.clone()),
        ("from", f.from.map(|t| t.to_rfc3339())),
        ("to", f.to.map(|t| t.to_rfc3339())),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v.into());
        }
    }
    m.into()
}

/// The export without its audit row (for callers that record it themselves).
pub fn export_stream(
    db: PgPool,
    filter: AuditFilter,
    format: ExportFormat,
) -> impl Stream<Item = sqlx::Result<Bytes>> + Send + 'static {
    struct State {
        db: PgPool,
        filter: AuditFilter,
        last: i64,
        header: bool,
        done: bool,
    }
    let state = State {
        db,
        filter,
        last: 0,
        header: format == ExportFormat::Csv,
        done: false,
    };
    futures::stream::try_unfold(state, move |mut s| async move {
        if s.header {
            s.header = false;
            let mut out = String::new();
            csv_record(&mut out, COLUMNS.iter().map(|c| Some(*c)));
            return Ok(Some((Bytes::from(out), s)));
        }
        if s.done {
            return Ok(None);
        }
        let rows = crate::backend::db::audit::export_batch(&s.db, &s.filter, s.last, BATCH).await?;
        s.done = (rows.len() as i64) < BATCH;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        s.last = last.id;
        let mut out = String::with_capacity(rows.len() * 512);
        for r in &rows {
            render(&mut out, r, format);
        }
        Ok(Some((Bytes::from(out), s)))
    })
}

fn render(out: &mut String, r: &ChainRow, format: ExportFormat) {
    let id = r.id.to_string();
    let event_id = r.event_id.to_string();
    let ts = r.timestamp.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let actor_id = r.actor_id.map(|u| u.to_string());
    let values: [Option<&str>; 19] = [
        Some(&id),
        Some(&event_id),
        Some(&ts),
        r.event_type.as_deref(),
        r.severity.as_deref(),
        actor_id.as_deref(),
        r.actor_type.as_deref(),
        r.actor_name.as_deref(),
        r.action.as_deref(),
        r.resource_type.as_deref(),
        r.resource_id.as_deref(),
        r.result.as_deref(),
        r.error_message.as_deref(),
        r.ip_address.as_deref(),
        r.user_agent.as_deref(),
        r.request_id.as_deref(),
        r.metadata.as_deref(),
        r.previous_hash.as_deref(),
        Some(&r.event_hash),
    ];
    match format {
        // User agents and failed sign-ins' usernames are anyone's text: in a spreadsheet they
        // must stay text. The JSON lines keep every value exact.
        ExportFormat::Csv => {
            let cells: Vec<Option<String>> = values
                .iter()
                .map(|v| v.map(|s| formula_safe(s.to_string())))
                .collect();
            csv_record(out, cells.iter().map(|c| c.as_deref()))
        }
        ExportFormat::Jsonl => {
            let mut m = serde_json::Map::new();
            for (k, v) in COLUMNS.iter().zip(values) {
                let v = match (*k, v) {
                    ("id", _) => r.id.into(),
                    // The stored jsonb, as an object rather than a string.
                    ("metadata", Some(text)) => {
                        serde_json::from_str(text).unwrap_or_else(|_| text.into())
                    }
                    (_, Some(s)) => s.into(),
                    (_, None) => serde_json::Value::Null,
                };
                m.insert((*k).into(), v);
            }
            out.push_str(&serde_json::Value::Object(m).to_string());
            out.push('\n');
        }
    }
}

/// One CSV record (RFC 4180): fields quoted when they need it, NULL as an empty field.
pub fn csv_record<'a>(out: &mut String, fields: impl Iterator<Item = Option<&'a str>>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = f.unwrap_or("");
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
}

/// A cell a spreadsheet will show as text, never run as a formula (CSV injection): one that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`. Every CSV
/// the console writes goes through it; the audit log's JSON lines keep their values exact.
pub fn formula_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// What an evidence pack holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceManifest {
    pub format: String,
    pub created_at: DateTime<Utc>,
    pub filter: AuditFilter,
    /// `sha256sum` lines: `<hex>  <file name>`, one per file in the pack.
    pub sha256sums: String,
    /// HMAC-SHA256 (hex) of `sha256sums` under the anchor key.
    pub signature: String,
}

impl EvidenceManifest {
    /// Whether `signature` is the anchor key's over `sha256sums` (compared in constant time).
    pub fn verify_signature(&self, key: &str) -> bool {
        verify_hex(key.as_bytes(), self.sha256sums.as_bytes(), &self.signature)
    }
}

/// Writes an evidence pack to `out` (a tar archive): `audit-export.jsonl` (the filtered
/// rows, with an `audit.export` row recorded for `actor`), `verification.json` (the chain
/// checked over the filter's time range, against `anchor` if given) and `manifest.json`
/// (SHA-256 of both, signed with `key`). The export goes through a temporary file next to
/// `out`, so memory stays constant; the files are written and synced off the async threads.
pub async fn write_evidence_pack(
    db: &PgPool,
    filter: &AuditFilter,
    anchor: Option<&Anchor>,
    key: &str,
    actor: Actor,
    out: &Path,
) -> anyhow::Result<EvidenceManifest> {
    let tmp = out.with_extension("export.tmp");
    let result = async {
        let mut stream = Box::pin(export(db, filter, ExportFormat::Jsonl, actor).await?);
        let mut file = tokio::io::BufWriter::new(
            tokio::fs::File::create(&tmp)
                .await
                .with_context(|| format!("cannot write {}", tmp.display()))?,
        );
        let mut export_hash = Sha256::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            export_hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        file.into_inner().sync_all().await?;

        let range = filter.time_range();
        let report: VerifyReport = verify(db, range, anchor, |_, _| {}).await?;
        let verification = serde_json::to_vec_pretty(&report)?;

        let sums = format!(
            "{}  audit-export.jsonl\n{}  verification.json\n",
            hex::encode(export_hash.finalize()),
            hex::encode(Sha256::digest(&verification)),
        );
        let manifest = EvidenceManifest {
            format: "deltran-evidence-v1".into(),
            created_at: Utc::now(),
            filter: filter.clone(),
            signature: sign_hex(key.as_bytes(), sums.as_bytes()),
            sha256sums: sums,
        };
        let manifest_json = serde_json::to_vec_pretty(&manifest)?;
        let mtime = manifest.created_at.timestamp().max(0) as u64;
        let (out, tmp) = (out.to_path_buf(), tmp.clone());
        tokio::task::spawn_blocking(move || {
            write_pack(&out, mtime, &tmp, &verification, &manifest_json)
                .with_context(|| format!("cannot write {}", out.display()))
        })
        .await??;
        anyhow::Ok(manifest)
    }
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(out).await;
    }
    result
}

/// The pack itself (blocking): a POSIX ustar archive of the export in `export`, then
/// `verification` and `manifest`, each a regular file (mode 0644, owner 0:0, `mtime`),
/// synced to disk before it returns.
fn write_pack(
    out: &Path,
    mtime: u64,
    export: &Path,
    verification: &[u8],
    manifest: &[u8],
) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(out)?));
    let mut append = |name: &str, size: u64, data: &mut dyn std::io::Read| {
        let mut header = tar::Header::new_ustar();
        header.set_path(name)?;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append(&header, data)
    };
    let mut export = std::fs::File::open(export)?;
    let export_len = export.metadata()?.len();
    append("audit-export.jsonl", export_len, &mut export)?;
    append(
        "verification.json",
        verification.len() as u64,
        &mut &*verification,
    )?;
    append("manifest.json", manifest.len() as u64, &mut &*manifest)?;
    // `into_inner` writes the two zero blocks that end the archive.
    tar.into_inner()?.into_inner()?.sync_all()
}

/// Collects a whole export in memory (tests and small ranges only).
pub async fn collect(stream: impl Stream<Item = sqlx::Result<Bytes>>) -> sqlx::Result<Vec<u8>> {
    stream
        .try_fold(Vec::new(), |mut acc, chunk| async move {
            acc.extend_from_slice(&chunk);
            Ok(acc)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut out = String::new();
        csv_record(
            &mut out,
            [Some("a"), None, Some("b,c"), Some("say \"hi\"")].into_iter(),
        );
        assert_eq!(out, "a,,\"b,c\",\"say \"\"hi\"\"\"\r\n");
    }

    #[test]
    fn formats_are_named_exactly() {
        assert_eq!(ExportFormat::parse("csv"), Some(ExportFormat::Csv));
        assert_eq!(ExportFormat::parse("jsonl"), Some(ExportFormat::Jsonl));
        assert_eq!(ExportFormat::parse("CSV"), None);
        assert_eq!(ExportFormat::parse("json"), None);
        assert_eq!(ExportFormat::Jsonl.as_str(), "jsonl");
        assert_eq!(super::super::Outcome::Denied.as_str(), "denied");
    }

    #[test]
    fn formulas_become_text() {
        assert_eq!(formula_safe("=1+2".into()), "'=1+2");
        assert_eq!(formula_safe("-x".into()), "'-x");
        assert_eq!(formula_safe("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(formula_safe("+1".into()), "'+1");
        assert_eq!(formula_safe("a=b".into()), "a=b");
        assert_eq!(formula_safe(String::new()), "");
    }

    #[test]
    fn packs_are_ustar_archives_of_the_three_files() {
        let dir = std::env::temp_dir().join(format!("deltran-pack-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let export = dir.join("export.tmp");
        std::fs::write(&export, b"{\"id\":1}\n").unwrap();
        let out = dir.join("pack.tar");
        write_pack(&out, 1_800_000_000, &export, b"{}", b"[1]").unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(bytes.len() % 512, 0);
        assert_eq!(&bytes[257..263], b"ustar\0");
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header().clone();
            assert_eq!(h.mode().unwrap(), 0o644);
            assert_eq!(h.mtime().unwrap(), 1_800_000_000);
            assert_eq!(h.uid().unwrap(), 0);
            let mut data = String::new();
            std::io::Read::read_to_string(&mut entry, &mut data).unwrap();
            seen.push((entry.path().unwrap().display().to_string(), data));
        }
        let names: Vec<(&str, &str)> = seen.iter().map(|(n, d)| (&n[..], &d[..])).collect();
        assert_eq!(
            names,
            [
                ("audit-export.jsonl", "{\"id\":1}\n"),
                ("verification.json", "{}"),
                ("manifest.json", "[1]")
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
