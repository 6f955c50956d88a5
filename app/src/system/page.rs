//! The System page: PostgreSQL and Redis as the console sees them, read again every five
//! seconds unless paused.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{
    api::get_system_health, format_bytes, ConsoleInstance, PostgresHealth, RedisHealth, RedisInfo,
    SystemHealth,
};
use crate::components::{format_time, ErrorPanel, Loading};

/// How often the page reads the figures again.
const REFRESH_MS: u64 = 5_000;

#[component]
pub fn SystemPage() -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let paused = RwSignal::new(false);
    let health = Resource::new(move || tick.get(), |_| get_system_health());
    // In the browser only: the server renders the first reading.
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                if !paused.get_untracked() {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_millis(REFRESH_MS),
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    });
    view! {
        <Title text="System · DelTran Console"/>
        <header class="mb-6 flex flex-wrap items-end justify-between gap-3">
            <div>
                <h1 class="text-2xl font-semibold">"System"</h1>
                <p class="text-sm text-slate-500 dark:text-slate-400">
                    "PostgreSQL and Redis as the console sees them, read again every five seconds."
                </p>
            </div>
            <button type="button" class="chip" aria-pressed=move || paused.get().to_string() on:click=move |_| paused.update(|p| *p = !*p)>
                {move || if paused.get() { "Resume refreshing" } else { "Pause refreshing" }}
            </button>
        </header>
        <Transition fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move { health.await.map(|h| view! { <Health h/> }) })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn Health(h: SystemHealth) -> impl IntoView {
    view! {
        <p class="mb-4 text-sm" role="status">{format!("Read at {}", h.read_at.format("%Y-%m-%d %H:%M:%S UTC"))}</p>
        <Postgres p=h.postgres/>
        <Redis r=h.redis/>
        <section class="card mb-6" aria-label="RocksDB">
            <h2 class="mb-3 text-lg font-semibold">"RocksDB ledger"</h2>
            {match h.ledger {
                Some(stats) => view! { <crate::ledger::page::Figures stats/> }.into_any(),
                None => view! {
                    <p role="alert" class="rounded bg-amber-50 p-3 text-amber-900 dark:bg-amber-950 dark:text-amber-100">
                        "The ledger cannot be read (missing or unreadable); the rest of the console works without it."
                    </p>
                }.into_any(),
            }}
        </section>
        <Instances instances=h.instances read_at=h.read_at/>
    }
}

/// A heartbeat older than this (three missed beats at the default 15 s) marks an instance
/// as gone quiet.
const QUIET_SECONDS: i64 = 45;

#[component]
fn Instances(
    instances: Vec<ConsoleInstance>,
    read_at: chrono::DateTime<chrono::Utc>,
) -> impl IntoView {
    let rows = instances
        .iter()
        .map(|i| {
            let quiet = (read_at - i.last_seen_at).num_seconds() > QUIET_SECONDS;
            let jobs: Vec<String> = i
                .jobs
                .iter()
                .map(|j| {
                    format!(
                        "{}: {} {}",
                        j.name,
                        if j.ok { "ok" } else { "failed" },
                        format_time(Some(j.at))
                    )
                })
                .collect();
            vec![
                format!(
                    "{}{}",
                    i.address,
                    if i.this_one { " (this one)" } else { "" }
                ),
                i.version.clone(),
                format_time(Some(i.started_at)),
                format!(
                    "{}{}",
                    format_time(Some(i.last_seen_at)),
                    if quiet { " (quiet)" } else { "" }
                ),
                jobs.join("; "),
            ]
        })
        .collect();
    view! {
        <section class="card mb-6" aria-label="Console instances">
            <h2 class="mb-3 text-lg font-semibold">"Console instances"</h2>
            {table("Console instances", &["Instance", "Version", "Started", "Last heartbeat", "Jobs' last runs"], rows, "No heartbeat yet.")}
        </section>
    }
}

fn figures(rows: Vec<(&'static str, String)>) -> impl IntoView {
    view! {
        <dl class="grid gap-x-6 gap-y-1 sm:grid-cols-[14rem_1fr] text-sm">
            {rows.into_iter().map(|(k, v)| view! {
                <dt class="font-medium text-slate-500 dark:text-slate-400">{k}</dt>
                <dd>{v}</dd>
            }).collect_view()}
        </dl>
    }
}

fn table(
    label: &'static str,
    columns: &[&'static str],
    rows: Vec<Vec<String>>,
    empty: &'static str,
) -> impl IntoView {
    let width = columns.len();
    view! {
        <div class="overflow-x-auto">
            <table class="data-table" aria-label=label>
                <thead><tr>{columns.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {rows.is_empty().then(|| view! { <tr><td colspan=width>{empty}</td></tr> })}
                    {rows.into_iter().map(|r| view! {
                        <tr>{r.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn seconds(s: f64) -> String {
    format!("{s:.1} s")
}

#[component]
fn Postgres(p: PostgresHealth) -> impl IntoView {
    let in_use: i64 = p.connections.iter().map(|c| c.count).sum();
    let mut facts = vec![
        ("Version", p.version.clone()),
        (
            "Role",
            if p.in_recovery {
                "replica (read only)"
            } else {
                "primary"
            }
            .into(),
        ),
        ("Up since", format_time(Some(p.started_at))),
        ("Database size", format_bytes(p.database_bytes)),
        (
            "Connections",
            format!("{in_use} of {} allowed", p.max_connections),
        ),
        (
            "Cache hit ratio",
            p.cache_hit_percent
                .map(|c| format!("{c:.2} %"))
                .unwrap_or_else(|| "—".into()),
        ),
    ];
    if let Some(delay) = p.replay_delay_seconds {
        facts.push(("Replay delay", seconds(delay)));
    }
    let connections = p
        .connections
        .iter()
        .map(|c| vec![c.state.clone(), c.count.to_string()])
        .collect();
    let tables = p
        .tables
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.row_estimate.to_string(),
                format_bytes(t.heap_bytes),
                format_bytes(t.index_bytes),
                format_bytes(t.toast_bytes),
                format_time(t.last_vacuum),
                format_time(t.last_analyze),
            ]
        })
        .collect();
    let indexes = p
        .indexes
        .iter()
        .map(|i| {
            vec![
                i.table.clone(),
                i.name.clone(),
                i.scans.to_string(),
                format_bytes(i.bytes),
                if i.unused {
                    "unused".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let long = p
        .long_queries
        .iter()
        .map(|q| {
            vec![
                q.pid.to_string(),
                seconds(q.seconds),
                q.state.clone(),
                q.user.clone().unwrap_or_default(),
                q.query.clone(),
            ]
        })
        .collect();
    let locks = p
        .lock_waits
        .iter()
        .map(|l| {
            let by: Vec<String> = l.blocked_by.iter().map(|b| b.to_string()).collect();
            vec![
                l.pid.to_string(),
                by.join(", "),
                seconds(l.seconds),
                l.query.clone(),
            ]
        })
        .collect();
    let replicas = p
        .replicas
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.address.clone().unwrap_or_default(),
                r.state.clone(),
                r.sync_state.clone(),
                r.replay_lag_bytes
                    .map(format_bytes)
                    .unwrap_or_else(|| "—".into()),
                r.replay_lag_seconds
                    .map(seconds)
                    .unwrap_or_else(|| "—".into()),
            ]
        })
        .collect();
    view! {
        <section class="card mb-6" aria-label="PostgreSQL">
            <h2 class="mb-3 text-lg font-semibold">"PostgreSQL"</h2>
            {figures(facts)}
            <h3 class="mt-4 mb-2 font-semibold">"Connections by state"</h3>
            {table("Connections by state", &["State", "Connections"], connections, "No connections.")}
            <h3 class="mt-4 mb-2 font-semibold">"Tables"</h3>
            {table("Tables", &["Table", "Rows (estimate)", "Heap", "Indexes", "TOAST", "Last vacuum", "Last analyze"], tables, "No tables.")}
            <h3 class="mt-4 mb-2 font-semibold">"Indexes"</h3>
            {table("Indexes", &["Table", "Index", "Scans", "Size", ""], indexes, "No indexes.")}
            <h3 class="mt-4 mb-2 font-semibold">"Queries running longer than 5 s"</h3>
            {table("Long queries", &["Pid", "Running", "State", "User", "Query"], long, "None.")}
            <h3 class="mt-4 mb-2 font-semibold">"Waiting for a lock"</h3>
            {table("Lock waits", &["Pid", "Blocked by", "Waiting", "Query"], locks, "Nobody is waiting.")}
            <h3 class="mt-4 mb-2 font-semibold">"Replication"</h3>
            {table("Replicas", &["Replica", "Address", "State", "Sync", "Replay lag", "Lag time"], replicas, "No streaming replicas.")}
        </section>
    }
}

#[component]
fn Redis(r: RedisHealth) -> impl IntoView {
    let body = match (r.info, r.error) {
        (Some(info), _) => view! { <RedisFigures info/> }.into_any(),
        (None, error) => view! {
            <p role="alert" class="rounded bg-amber-50 p-3 text-amber-900 dark:bg-amber-950 dark:text-amber-100">
                {error.unwrap_or_else(|| "Redis did not answer.".into())}
            </p>
        }.into_any(),
    };
    view! {
        <section class="card mb-6" aria-label="Redis">
            <h2 class="mb-3 text-lg font-semibold">"Redis"</h2>
            {body}
        </section>
    }
}

#[component]
fn RedisFigures(info: RedisInfo) -> impl IntoView {
    let facts = vec![
        ("Version", info.version.clone()),
        ("Role", info.role.clone()),
        ("Up for", format!("{} h", info.uptime_seconds / 3600)),
        ("Clients", info.connected_clients.to_string()),
        (
            "Memory",
            format!(
                "{} (peak {}, limit {}, policy {})",
                format_bytes(info.used_memory),
                format_bytes(info.used_memory_peak),
                if info.maxmemory == 0 {
                    "none".into()
                } else {
                    format_bytes(info.maxmemory)
                },
                info.maxmemory_policy
            ),
        ),
        ("Operations per second", info.ops_per_sec.to_string()),
        (
            "Hit ratio",
            info.hit_percent
                .map(|h| format!("{h:.2} %"))
                .unwrap_or_else(|| "—".into()),
        ),
    ];
    let replicas = info.replicas.iter().map(|r| vec![r.clone()]).collect();
    let slow = info.slowlog.as_ref().map(|log| {
        log.iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    format_time(Some(s.at)),
                    format!("{} µs", s.micros),
                    s.command.clone(),
                ]
            })
            .collect::<Vec<_>>()
    });
    let namespaces = info
        .namespaces
        .iter()
        .map(|n| vec![n.name.clone(), n.keys.to_string(), format_bytes(n.bytes)])
        .collect();
    view! {
        {figures(facts)}
        <h3 class="mt-4 mb-2 font-semibold">"Replicas"</h3>
        {table("Redis replicas", &["Replica"], replicas, "No replicas.")}
        <h3 class="mt-4 mb-2 font-semibold">"Slow log"</h3>
        {match slow {
            Some(rows) => table("Slow log", &["Id", "At", "Took", "Command"], rows, "Nothing slow.").into_any(),
            None => view! { <p class="text-sm">"The console's Redis user may not read the slow log (it needs +slowlog|get)."</p> }.into_any(),
        }}
        <h3 class="mt-4 mb-2 font-semibold">{format!("The console's keys ({} sampled)", info.sampled_keys)}</h3>
        {table("Key namespaces", &["Namespace", "Keys", "Memory"], namespaces, "No keys.")}
    }
}
