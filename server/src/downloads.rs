//! Downloads for the browser: files a page links to, authenticated by the browser session
//! (the REST API under /api/v1 takes bearer tokens only). Each route is declared once, with
//! its permissions and handler, in `ROUTES`; only a navigation from the console's own pages reaches a
//! handler, which checks the permission first (a denial is audited) and only then reads the
//! query; every download is itself audited.

use app::{
    audit::AuditQuery,
    auth::Permission,
    backend::{
        audit::{self, anchor::console_anchor, export, AuditEvent},
        auth::{authorize, session_identity, Identity},
        config::Secret,
        db::{
            banks::BankList,
            compliance::ComplianceList,
            list::{self, CsvExport, KeysetList},
            payments::PaymentList,
            sessions::SessionList,
            settlements::BatchList,
            users::UserList,
        },
        error::internal,
        ledger::queries,
        state::AppState,
    },
    error::AppError,
};
use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderMap, Uri},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, MethodRouter},
    Extension, Router,
};
use chrono::Utc;
use serde::{de::DeserializeOwned, Deserialize};
use tokio::io::AsyncReadExt;
use tower_sessions::Session;

/// A download: its path, what it takes (every one of these permissions), what it is and its
/// handler. The router, the matrix test and `deltran-console routes` read `ROUTES`.
pub struct Download {
    pub path: &'static str,
    pub permissions: &'static [Permission],
    pub summary: &'static str,
    handler: fn() -> MethodRouter,
}

/// Every download.
pub const ROUTES: &[Download] = &[
    Download {
        path: "/downloads/audit",
        permissions: &[Permission::AuditExport],
        summary: "The filtered audit rows as CSV or JSON lines (format=csv|jsonl)",
        handler: || get(audit_rows),
    },
    Download {
        path: "/downloads/audit-evidence",
        permissions: &[Permission::AuditExport],
        summary: "An evidence pack (tar): the filtered rows, their verification and a signed \
                  manifest",
        handler: || get(audit_evidence),
    },
    Download {
        path: "/downloads/users.csv",
        permissions: &[UserList::PERMISSION, Permission::ExportCsv],
        summary: "The Users list with the page's filters and sort (q, role, status, tfa, sort)",
        handler: || get(list_csv::<UserList>),
    },
    Download {
        path: "/downloads/sessions.csv",
        permissions: &[SessionList::PERMISSION, Permission::ExportCsv],
        summary: "The live sessions with the Sessions page's filters and sort (user, kind, sort)",
        handler: || get(list_csv::<SessionList>),
    },
    Download {
        path: "/downloads/payments.csv",
        permissions: &[PaymentList::PERMISSION, Permission::ExportCsv],
        summary: "The payments with the Payments page's filters and sort (the keys of \
                  GET /api/v1/payments)",
        handler: || get(list_csv::<PaymentList>),
    },
    Download {
        path: "/downloads/compliance.csv",
        permissions: &[ComplianceList::PERMISSION, Permission::ExportCsv],
        summary: "The compliance checks with the Compliance page's filters and sort \
                  (requires_review, check_type, status, min_risk, matched_list, bank, from, to, \
                  sort)",
        handler: || get(list_csv::<ComplianceList>),
    },
    Download {
        path: "/downloads/banks.csv",
        permissions: &[BankList::PERMISSION, Permission::ExportCsv],
        summary: "The banks with the Banks page's filters and sort (q, country, kyc, risk, \
                  active, sort)",
        handler: || get(list_csv::<BankList>),
    },
    Download {
        path: "/downloads/settlements.csv",
        permissions: &[BatchList::PERMISSION, Permission::ExportCsv],
        summary: "The settlement batches with the Settlements page's filters and sort (status, \
                  currency, corridor, batch_type, bank, from, to, sort)",
        handler: || get(list_csv::<BatchList>),
    },
    Download {
        path: "/downloads/ledger/events/{seq}/proof.json",
        permissions: &[Permission::LedgerView],
        summary: "A ledger event's inclusion proof, as GET /api/v1/ledger/events/{seq}/proof \
                  answers it, with the event itself (its canonical fields and hash)",
        handler: || get(ledger_proof),
    },
];

pub fn router() -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, d| {
            router.route(d.path, (d.handler)())
        })
        .route_layer(middleware::from_fn(same_origin_only))
}

/// Whether a GET comes from the console's own pages (or the address bar): `Sec-Fetch-Site`
/// is `same-origin` or `none`; a browser that sends no `Sec-Fetch-Site` must name this host in
/// `Origin` or `Referer`.
fn from_own_pages(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        Some(b"same-origin" | b"none") => true,
        Some(_) => false,
        None => crate::middleware::from_this_host(headers),
    }
}

/// Refuses a download another site started (a link or an image on it): downloads write audit
/// rows and build evidence packs, which no cross-site navigation may cause. Nothing is audited
/// for the refusal, so it cannot be used to flood the audit log either.
async fn same_origin_only(request: Request, next: Next) -> Response {
    if from_own_pages(request.headers()) {
        return next.run(request).await;
    }
    tracing::warn!(
        path = %request.uri().path(),
        sec_fetch_site = ?request.headers().get("sec-fetch-site"),
        "cross-site download refused"
    );
    DownloadError(AppError::Forbidden).into_response()
}

/// A download's error: the status and the message, as plain text.
pub struct DownloadError(AppError);

impl<E: Into<AppError>> From<E> for DownloadError {
    fn from(e: E) -> Self {
        DownloadError(e.into())
    }
}

impl IntoResponse for DownloadError {
    fn into_response(self) -> Response {
        crate::errors::respond(&self.0, crate::errors::Reader::Text)
    }
}

type DownloadResult = Result<Response, DownloadError>;

/// The first line of every download: the signed-in user, if their role has `permission`.
async fn require(
    state: &AppState,
    session: &Session,
    permission: Permission,
) -> Result<Identity, AppError> {
    let identity = session_identity(state, session)
        .await?
        .ok_or(AppError::Unauthorized)?;
    authorize(&state.db, identity, permission).await
}

fn attachment(content_type: &str, name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    #[serde(flatten)]
    query: AuditQuery,
    format: Option<String>,
}

/// Permission: audit.export.
async fn audit_rows(
    Extension(state): Extension<AppState>,
    session: Session,
    uri: Uri,
) -> DownloadResult {
    let me = require(&state, &session, Permission::AuditExport).await?;
    let q = list_query::<ExportQuery>(&uri)?;
    let filter = q.query.filter()?;
    let format = export::ExportFormat::parse(q.format.as_deref().unwrap_or("csv"))
        .ok_or_else(|| AppError::field("format", "csv or jsonl"))?;
    Ok(export_response(&state, &filter, format, &me).await?)
}

/// The audited export of `filter` as a download (also what `GET /api/v1/audit/export` sends).
pub async fn export_response(
    state: &AppState,
    filter: &app::audit::AuditFilter,
    format: export::ExportFormat,
    me: &Identity,
) -> Result<Response, AppError> {
    let stream = export::export(&state.db, filter, format, me.actor()).await?;
    let extension = match format {
        export::ExportFormat::Csv => "csv",
        export::ExportFormat::Jsonl => "jsonl",
    };
    let name = format!("audit-{}.{extension}", Utc::now().format("%Y%m%dT%H%M%SZ"));
    Ok(attachment(
        format.content_type(),
        &name,
        Body::from_stream(stream),
    ))
}

/// Permission: audit.export. The pack is built in a temporary file (constant memory), then
/// streamed.
async fn audit_evidence(
    Extension(state): Extension<AppState>,
    session: Session,
    uri: Uri,
) -> DownloadResult {
    let me = require(&state, &session, Permission::AuditExport).await?;
    let filter = list_query::<AuditQuery>(&uri)?.filter()?;
    let anchor = console_anchor(&state).await?;
    let dir = tempfile::tempdir().map_err(internal)?;
    let out = dir.path().join("evidence.tar");
    export::write_evidence_pack(
        &state.db,
        &filter,
        anchor.as_ref(),
        state.config.secret(Secret::AuditAnchor),
        me.actor(),
        &out,
    )
    .await
    .map_err(|e| internal(format!("evidence pack: {e:#}")))?;
    // Open, then let the directory go: the open file lives until the stream ends.
    let file = tokio::fs::File::open(&out).await.map_err(internal)?;
    drop(dir);
    let name = format!("audit-evidence-{}.tar", Utc::now().format("%Y%m%dT%H%M%SZ"));
    Ok(attachment("application/x-tar", &name, file_body(file)))
}

/// A file as a streamed body.
fn file_body(file: tokio::fs::File) -> Body {
    let chunks = futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 64 * 1024];
        let n = file.read(&mut buf).await?;
        buf.truncate(n);
        Ok::<_, std::io::Error>((n > 0).then(|| (bytes::Bytes::from(buf), file)))
    });
    Body::from_stream(chunks)
}

/// A download's query, read from the URL only once the caller is known to be allowed, so an
/// anonymous caller learns nothing from a malformed query string.
fn list_query<T: DeserializeOwned>(uri: &Uri) -> Result<T, AppError> {
    app::components::list::parse_query(uri.query().unwrap_or_default())
        .map_err(|e| AppError::field("query", e))
}

/// A list's CSV, streamed as `<stem>-<time>.csv` and never cached.
fn csv_download(
    stem: &str,
    stream: impl futures::Stream<Item = sqlx::Result<bytes::Bytes>> + Send + 'static,
) -> Response {
    let name = format!("{stem}-{}.csv", Utc::now().format("%Y%m%dT%H%M%SZ"));
    let mut response = attachment("text/csv; charset=utf-8", &name, Body::from_stream(stream));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// Every row of a list matching its page's filters (no paging), in its order, as CSV; the
/// list's export row is written first, and cells a spreadsheet would run as formulas are made
/// text. Permission: the list's own (`KeysetList::PERMISSION`), and export.csv (the spec's
/// permission for any list's CSV).
async fn list_csv<L: CsvExport>(
    Extension(state): Extension<AppState>,
    session: Session,
    uri: Uri,
) -> DownloadResult
where
    L::Query: DeserializeOwned,
{
    let me = require(&state, &session, L::PERMISSION).await?;
    let me = authorize(&state.db, me, Permission::ExportCsv).await?;
    let (filter, _) = list::parse::<L>(&list_query::<L::Query>(&uri)?)?;
    let stream = list::export::<L>(&state.db, &filter, me.actor()).await?;
    Ok(csv_download(L::FILE_NAME, stream))
}

/// Permission: ledger.view. The proof of api.md and the event it proves, as one JSON file;
/// the download is audited (`ledger.proof_export`).
async fn ledger_proof(
    Extension(state): Extension<AppState>,
    session: Session,
    axum::extract::Path(seq): axum::extract::Path<String>,
) -> DownloadResult {
    let me = require(&state, &session, Permission::LedgerView).await?;
    let seq = queries::parse_number(&seq, "sequence")?;
    let proof = queries::proof(&state, seq).await?;
    let event = queries::event(&state, seq).await?.event;
    audit::record_alone(
        &state.db,
        AuditEvent::new(
            me.actor(),
            "ledger.proof_export",
            "ledger_event",
            Some(seq.to_string()),
        ),
    )
    .await?;
    let body = serde_json::to_vec_pretty(&serde_json::json!({ "proof": proof, "event": event }))
        .map_err(internal)?;
    Ok(attachment(
        "application/json",
        &format!("ledger-event-{seq}-proof.json"),
        Body::from(body),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::headers;

    #[test]
    fn only_the_consoles_own_pages_start_a_download() {
        assert!(from_own_pages(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(from_own_pages(&headers(&[("sec-fetch-site", "none")])));
        assert!(!from_own_pages(&headers(&[(
            "sec-fetch-site",
            "same-site"
        )])));
        assert!(!from_own_pages(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("host", "a.example"),
            ("referer", "https://a.example/audit"),
        ])));
        assert!(from_own_pages(&headers(&[
            ("host", "a.example"),
            ("referer", "https://a.example/audit"),
        ])));
        assert!(!from_own_pages(&headers(&[("host", "a.example")])));
    }
}
