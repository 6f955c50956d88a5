//! The audit log page (`/audit`) and a row's detail (`/audit/:id`). The URL holds the
//! filters and the page's cursor, so every view can be shared and reloaded.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

use super::{
    api::{get_audit_row, list_audit, start_verification, verification_progress},
    AuditPage as Page, AuditQuery, AuditRow, VerifyProgress, RESULTS,
};
use crate::{
    auth::{Me, Permission},
    components::{
        list::{FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
        ErrorPanel, Loading,
    },
    error::AppError,
};

/// A time as the audit log shows it: UTC, to the second.
fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let me = use_context::<Me>();
    let can = move |p: Permission| me.as_ref().is_some_and(|m| m.can(p));
    if !can(Permission::AuditView) {
        // The server functions refuse anyway; this only spares the empty frame.
        return view! {
            <Title text="Audit log · DelTran Console"/>
            <h1 class="text-2xl font-semibold mb-4">"Audit log"</h1>
            <p role="alert" class="rounded border border-rose-300 bg-rose-50 p-4 text-rose-900 dark:border-rose-800 dark:bg-rose-950 dark:text-rose-100">
                {AppError::Forbidden.to_string()}
            </p>
        }
        .into_any();
    }
    let (can_verify, can_export) = (can(Permission::AuditVerify), can(Permission::AuditExport));
    let query_map = use_query_map();
    let query = Memo::new(move |_| query_map.with(AuditQuery::from_params));
    view! {
        <Title text="Audit log · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Audit log"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Every change and every refused access, newest first, in one hash chain."
            </p>
        </header>
        <Filters query/>
        <div class="grid gap-4 md:grid-cols-2 mb-6">
            {can_verify.then(|| view! { <VerifyPanel query/> })}
            {can_export.then(|| view! { <ExportLinks query/> })}
        </div>
        <ListRows
            query
            fetch=list_audit
            table=move |page, query| view! { <AuditTable page query/> }
            reset_label="Show the whole log"
        />
    }
    .into_any()
}

#[component]
fn Filters(query: Memo<AuditQuery>) -> impl IntoView {
    let results = || RESULTS.map(|r| (r, r)).to_vec();
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/audit" label="Filter the audit log">
                <TextFilter name="actor" label="Actor" value=q.actor placeholder="username or user id"/>
                <TextFilter name="action" label="Action" value=q.action placeholder="e.g. user.create"/>
                <TextFilter name="resource_type" label="Resource type" value=q.resource_type placeholder="e.g. user"/>
                <TextFilter name="resource_id" label="Resource id" value=q.resource_id/>
                <SelectFilter name="result" label="Result" any="Any" options=results() value=q.result/>
                <TextFilter name="from" label="From (UTC)" value=q.from kind="datetime-local"/>
                <TextFilter name="to" label="To (UTC)" value=q.to kind="datetime-local"/>
            </FilterForm>
        }
    }
}

#[component]
fn AuditTable(page: Page, query: AuditQuery) -> impl IntoView {
    view! {
        <ListTable
            label="Audit log"
            columns=vec!["Row", "Time", "Actor", "Action", "Resource", "Result"]
            empty="No audit rows match these filters."
            is_empty=page.rows.is_empty()
            pages=query.pages(page.next)
            export=None
        >
            {page.rows.into_iter().map(|r| view! { <AuditTableRow row=r/> }).collect_view()}
        </ListTable>
    }
}

#[component]
fn AuditTableRow(row: AuditRow) -> impl IntoView {
    let actor_href = AuditQuery {
        actor: Some(row.actor_name.clone()),
        ..Default::default()
    }
    .href();
    let resource = match &row.resource_id {
        Some(id) => format!("{} {id}", row.resource_type),
        None => row.resource_type.clone(),
    };
    view! {
        <tr>
            <td><a class="link" href=format!("/audit/{}", row.id) aria-label=format!("Row {}", row.id)>{row.id}</a></td>
            <td class="whitespace-nowrap">{format_time(row.timestamp)}</td>
            <td><a class="link" href=actor_href>{row.actor_name.clone()}</a></td>
            <td>{row.action.clone()}</td>
            <td class="max-w-xs truncate" title=resource.clone()>{resource.clone()}</td>
            <td><ResultBadge result=row.result.clone()/></td>
        </tr>
    }
}

#[component]
fn ResultBadge(result: String) -> impl IntoView {
    let colour = match result.as_str() {
        "success" => "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100",
        "denied" => "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
        _ => "bg-rose-100 text-rose-900 dark:bg-rose-900 dark:text-rose-100",
    };
    view! { <span class=format!("badge {colour}")>{result}</span> }
}

/// Verifies the chain (or the time range of the filters) and shows the progress while it runs.
#[component]
fn VerifyPanel(query: Memo<AuditQuery>) -> impl IntoView {
    let job = RwSignal::new(None::<Uuid>);
    let tick = RwSignal::new(0u32);
    let start = Action::new(move |q: &AuditQuery| {
        let (from, to) = (q.from.clone(), q.to.clone());
        async move {
            let started = start_verification(from, to).await;
            if let Ok(id) = &started {
                job.set(Some(*id));
            }
            started
        }
    });
    let progress = LocalResource::new(move || {
        let job = job.get();
        tick.track();
        async move {
            match job {
                Some(job) => Some(verification_progress(job).await),
                None => None,
            }
        }
    });
    // Polls until the job has finished.
    Effect::new(move |_| {
        if let Some(Some(Ok(p))) = progress.get() {
            if !p.finished() {
                set_timeout(move || tick.update(|t| *t += 1), Duration::from_millis(250));
            }
        }
    });
    let scope = move || {
        query.with(|q| match (q.from.as_deref(), q.to.as_deref()) {
            (None, None) => "the whole chain".to_string(),
            (from, to) => format!(
                "the rows from {} to {} (the filters' time range)",
                from.unwrap_or("the start"),
                to.unwrap_or("now")
            ),
        })
    };
    view! {
        <section class="card" aria-label="Verification">
            <h2 class="font-semibold mb-2">"Verify the chain"</h2>
            <p class="text-sm mb-3">"Recomputes every hash of " {scope} " and compares the head with the latest signed anchor."</p>
            <button
                type="button"
                class="btn-primary"
                disabled=move || start.pending().get() || progress.get().flatten().is_some_and(|p| p.is_ok_and(|p| !p.finished()))
                on:click=move |_| { start.dispatch(query.get_untracked()); }
            >
                "Verify"
            </button>
            <div class="mt-3" role="status">
                {move || match start.value().get() {
                    Some(Err(e)) => Some(view! { <p class="text-rose-700 dark:text-rose-300">{e.to_string()}</p> }.into_any()),
                    _ => progress.get().flatten().map(|p| view! { <Progress progress=p/> }.into_any()),
                }}
            </div>
        </section>
    }
}

#[component]
fn Progress(progress: Result<VerifyProgress, AppError>) -> impl IntoView {
    match progress {
        Err(e) => view! { <p class="text-rose-700 dark:text-rose-300">{e.to_string()}</p> }.into_any(),
        Ok(VerifyProgress { error: Some(e), .. }) => {
            view! { <p class="text-rose-700 dark:text-rose-300">{e}</p> }.into_any()
        }
        Ok(VerifyProgress { report: Some(report), .. }) => {
            let broken = report.first_broken.clone();
            let colour = if report.ok { "text-emerald-800 dark:text-emerald-200" } else { "text-rose-700 dark:text-rose-300" };
            view! {
                <p class=format!("font-medium {colour}")>{report.summary()}</p>
                {broken.map(|b| view! { <a class="link" href=format!("/audit/{}", b.id)>{format!("Open row {}", b.id)}</a> })}
            }
            .into_any()
        }
        Ok(VerifyProgress { checked, total, .. }) => view! {
            <progress class="w-full" aria-label="Verification progress" max=total.max(1) value=checked></progress>
            <p class="text-sm">{format!("Checked {checked} of about {total} rows…")}</p>
        }
        .into_any(),
    }
}

/// Downloads of the filtered rows (every download is itself audited).
#[component]
fn ExportLinks(query: Memo<AuditQuery>) -> impl IntoView {
    let href = move |path: &'static str, format: Option<&'static str>| {
        move || {
            let download = query.with(|q| q.download(path));
            match format {
                None => download,
                Some(f) if download.contains('?') => format!("{download}&format={f}"),
                Some(f) => format!("{download}?format={f}"),
            }
        }
    };
    view! {
        <section class="card" aria-label="Export">
            <h2 class="font-semibold mb-2">"Export"</h2>
            <p class="text-sm mb-3">"The rows matching the filters, oldest first. Each export is recorded in the log."</p>
            <div class="flex flex-wrap gap-2">
                <a class="chip" rel="external" download href=href("/downloads/audit", Some("csv"))>"Export CSV"</a>
                <a class="chip" rel="external" download href=href("/downloads/audit", Some("jsonl"))>"Export JSON lines"</a>
                <a class="chip" rel="external" download href=href("/downloads/audit-evidence", None)>"Evidence pack"</a>
            </div>
        </section>
    }
}

/// One row with everything it records.
#[component]
pub fn AuditEntryPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()));
    let row = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_audit_row(id).await,
            None => Err(AppError::NotFound),
        }
    });
    view! {
        <Title text="Audit row · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/audit">"← Audit log"</a></p>
        <Suspense fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move { row.await.map(|row| view! { <AuditEntry row/> }) })}
            </ErrorBoundary>
        </Suspense>
    }
}

#[component]
fn AuditEntry(row: AuditRow) -> impl IntoView {
    // Only to a page the reader may open.
    let me = use_context::<Me>();
    let link = row
        .resource_link()
        .filter(|(_, p)| me.as_ref().is_some_and(|me| me.can(*p)))
        .map(|(href, _)| href);
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let fields: Vec<(&str, String)> = vec![
        ("Time", format_time(row.timestamp)),
        ("Event id", row.event_id.to_string()),
        ("Event type", row.event_type.clone()),
        ("Severity", row.severity.clone()),
        ("Actor", format!("{} ({})", row.actor_name, row.actor_type)),
        ("Actor id", dash(row.actor_id.map(|id| id.to_string()))),
        ("Action", row.action.clone()),
        ("Resource type", row.resource_type.clone()),
        ("Resource id", dash(row.resource_id.clone())),
        ("Result", row.result.clone()),
        ("Error", dash(row.error_message.clone())),
        ("Client address", dash(row.ip_address.clone())),
        ("User agent", dash(row.user_agent.clone())),
        ("Request id", dash(row.request_id.clone())),
        ("Previous hash", row.previous_hash.clone()),
        ("Hash", row.event_hash.clone()),
    ];
    view! {
        <h1 class="text-2xl font-semibold mb-4">{format!("Audit row {}", row.id)}</h1>
        <section class="card mb-4">
            <dl class="grid gap-x-6 gap-y-2 sm:grid-cols-[12rem_1fr] text-sm">
                {fields.into_iter().map(|(k, v)| view! {
                    <dt class="font-medium text-slate-500 dark:text-slate-400">{k}</dt>
                    <dd class="break-all">{v}</dd>
                }).collect_view()}
            </dl>
            {link.map(|href| view! {
                <p class="mt-4"><a class="link" href=href>{format!("Open the {} page", row.resource_type.replace('_', " "))}</a></p>
            })}
        </section>
        <section class="card">
            <h2 class="font-semibold mb-2">"Metadata"</h2>
            <pre class="text-xs overflow-x-auto" aria-label="Metadata">{row.metadata_pretty()}</pre>
        </section>
    }
}
