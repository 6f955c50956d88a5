//! The Ledger pages: events (filters, keyset pages in the URL), an event with its block and
//! its proof (verified on the server, downloadable), blocks and a block's page, and the
//! storage page (RocksDB's figures with a chart, snapshots, the verification of the chain).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    api::{
        get_ledger_block, get_ledger_event, get_ledger_storage, list_ledger_blocks,
        list_ledger_events, reconcile_ledger, verify_ledger,
    },
    BlockDetail, BlockPage, BlockQuery, EventDetail, EventPage, EventQuery, InclusionProof,
    LedgerBlock, LedgerEvent, LedgerStorage, LedgerVerification, Reconciliation, StorageStats,
};
use crate::{
    components::{
        format_time,
        list::{FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
        ByPath,
    },
    system::format_bytes,
};

/// The three views of the ledger, as tabs.
#[component]
fn LedgerNav(current: &'static str) -> impl IntoView {
    let tabs = [
        ("Events", "/ledger"),
        ("Blocks", "/ledger/blocks"),
        ("Storage", "/ledger/storage"),
    ];
    view! {
        <nav aria-label="Ledger" class="mb-6 flex gap-2">
            {tabs.into_iter().map(|(name, href)| view! {
                <a class="chip" href=href aria-current=(name == current).then_some("page")>{name}</a>
            }).collect_view()}
        </nav>
    }
}

fn short(hash: &str) -> String {
    format!("{}…", &hash[..hash.len().min(12)])
}

#[component]
pub fn LedgerPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(EventQuery::from_params));
    view! {
        <Title text="Ledger · DelTran Console"/>
        <header class="mb-4">
            <h1 class="text-2xl font-semibold">"Ledger"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "The append-only record of every payment's events, sealed into hash-chained blocks: each event can be proven."
            </p>
        </header>
        <LedgerNav current="Events"/>
        <Filters query/>
        <ListRows
            query
            fetch=list_ledger_events
            table=move |page, query| view! { <EventTable page query/> }
            reset_label="Show all events"
        />
    }
}

#[component]
fn Filters(query: Memo<EventQuery>) -> impl IntoView {
    let types = || {
        [
            "created",
            "screened",
            "processing",
            "settled",
            "failed",
            "cancelled",
        ]
        .map(|t| (t, t))
        .to_vec()
    };
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/ledger" label="Filter ledger events">
                <TextFilter name="payment_id" label="Payment id" value=q.payment_id kind="text"/>
                <SelectFilter name="event_type" label="Event type" any="Any type" options=types() value=q.event_type/>
                <TextFilter name="from" label="From (UTC)" value=q.from kind="datetime-local"/>
                <TextFilter name="to" label="Before (UTC)" value=q.to kind="datetime-local"/>
                <SelectFilter name="sort" label="Sort" options=vec![("newest", "Newest first"), ("oldest", "Oldest first")] value=q.sort/>
            </FilterForm>
        }
    }
}

#[component]
fn EventTable(page: EventPage, query: EventQuery) -> impl IntoView {
    view! {
        <ListTable
            label="Ledger events"
            columns=vec!["Sequence", "Time", "Type", "Payment", "Hash"]
            empty="No ledger events match these filters."
            is_empty=page.rows.is_empty()
            pages=query.pages(page.next)
            export=None
        >
            {page.rows.into_iter().map(|e| view! { <EventLine e/> }).collect_view()}
        </ListTable>
    }
}

#[component]
fn EventLine(e: LedgerEvent) -> impl IntoView {
    view! {
        <tr>
            <td class="tabular-nums"><a class="link" href=format!("/ledger/events/{}", e.seq)>{e.seq}</a></td>
            <td class="whitespace-nowrap">{format_time(Some(e.time))}</td>
            <td>{e.event_type.clone()}</td>
            <td><a class="link font-mono text-xs" href=format!("/payments/{}", e.payment_id)>{e.payment_id.to_string()}</a></td>
            <td class="font-mono text-xs" title=e.hash.clone()>{short(&e.hash)}</td>
        </tr>
    }
}

#[component]
pub fn LedgerEventPage() -> impl IntoView {
    view! {
        <Title text="Ledger event · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/ledger">"← Ledger events"</a></p>
        <ByPath param="id" fetch=get_ledger_event show=|detail| view! { <EventView detail/> }/>
    }
}

/// A list of labelled values.
#[component]
fn Fields(fields: Vec<(&'static str, String)>) -> impl IntoView {
    view! {
        <dl class="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-1 text-sm">
            {fields.into_iter().map(|(k, v)| view! {
                <dt class="text-slate-500 dark:text-slate-400">{k}</dt>
                <dd class="break-all">{v}</dd>
            }).collect_view()}
        </dl>
    }
}

#[component]
fn EventView(detail: EventDetail) -> impl IntoView {
    let EventDetail {
        event: e,
        block,
        proof,
        proof_verified,
        state,
    } = detail;
    let payload = serde_json::to_string_pretty(&e.payload).unwrap_or_default();
    let seq = e.seq;
    view! {
        <h1 class="text-2xl font-semibold mb-4">{format!("Event {} · {}", e.seq, e.event_type)}</h1>
        <section class="card mb-6" aria-label="Event">
            <Fields fields=vec![
                ("Time", format_time(Some(e.time))),
                ("Type", e.event_type.clone()),
                ("Hash (SHA-256)", e.hash.clone()),
            ]/>
            <p class="mt-2 text-sm">"Payment: "<a class="link font-mono" href=format!("/payments/{}", e.payment_id)>{e.payment_id.to_string()}</a></p>
            <h2 class="font-semibold mt-4 mb-1">"Payload"</h2>
            <pre class="text-xs overflow-x-auto bg-slate-50 dark:bg-slate-900 p-3 rounded">{payload}</pre>
        </section>
        {state.map(|s| view! {
            <section class="card mb-6" aria-label="Payment state">
                <h2 class="font-semibold mb-2">"The payment in the ledger"</h2>
                <Fields fields=vec![
                    ("Status", s.status.clone()),
                    ("Events", s.events.to_string()),
                    ("Last event", s.last_seq.to_string()),
                    ("Updated", format_time(Some(s.updated))),
                ]/>
                <a class="link text-sm" href=format!("/ledger?payment_id={}&sort=oldest", s.payment_id)>"All its events"</a>
            </section>
        })}
        <section class="card mb-6" aria-label="Proof">
            <h2 class="font-semibold mb-2">"Inclusion proof"</h2>
            {match (block, proof) {
                (Some(b), Some(p)) => view! { <ProofView block=b proof=p verified=proof_verified seq/> }.into_any(),
                _ => view! { <p role="status">"Not sealed into a block yet: the proof exists once the writer seals it."</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn ProofView(block: LedgerBlock, proof: InclusionProof, verified: bool, seq: u64) -> impl IntoView {
    let (badge, colour) = if verified {
        (
            "Proof verified",
            "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100",
        )
    } else {
        (
            "Proof does not verify",
            "bg-rose-100 text-rose-900 dark:bg-rose-900 dark:text-rose-100",
        )
    };
    view! {
        <p class="mb-3" role="status"><span class=format!("badge {colour}")>{badge}</span></p>
        <p class="text-sm mb-3">
            "Event " {seq} " is leaf " {proof.leaf_index} " of the " {proof.tree_size} " in "
            <a class="link" href=format!("/ledger/blocks/{}", block.number)>{format!("block {}", block.number)}</a>
            ", checked against the block's Merkle root on the server."
        </p>
        <Fields fields=vec![
            ("Leaf hash", proof.leaf_hash.clone()),
            ("Merkle root", proof.root.clone()),
            ("Block hash", proof.block_hash.clone()),
            ("Parent hash", proof.parent_hash.clone()),
        ]/>
        <h3 class="font-semibold mt-3 mb-1 text-sm">{format!("Audit path ({} hashes)", proof.audit_path.len())}</h3>
        <ol class="font-mono text-xs list-decimal ml-6">
            {proof.audit_path.iter().map(|h| view! { <li class="break-all">{h.clone()}</li> }).collect_view()}
        </ol>
        <p class="mt-3">
            <a class="chip" href=format!("/downloads/ledger/events/{seq}/proof.json") download="" rel="external">"Download proof (JSON)"</a>
        </p>
        <details class="mt-3 text-sm">
            <summary class="cursor-pointer">"How to check it offline"</summary>
            <p class="mt-2">
                "The proof is RFC 6962's: hash = leaf_hash; for each hash of audit_path, combine as SHA-256(0x01 ‖ left ‖ right), "
                "taking the path hash on the left when the current node is a right child (index odd, or the last node of its level), "
                "exactly as RFC 9162 §2.1.3.2 writes it; the result must equal root. The leaf hash is SHA-256(0x00 ‖ the event's canonical bytes). "
                "The block hash is SHA-256 of the block's canonical bytes, and each block names its parent's hash, back to block 0 whose parent is 32 zero bytes."
            </p>
        </details>
    }
}

#[component]
pub fn LedgerBlocksPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(BlockQuery::from_params));
    view! {
        <Title text="Ledger blocks · DelTran Console"/>
        <header class="mb-4"><h1 class="text-2xl font-semibold">"Ledger blocks"</h1></header>
        <LedgerNav current="Blocks"/>
        <ListRows
            query
            fetch=list_ledger_blocks
            table=move |page, query| view! { <BlockTable page query/> }
            reset_label="Show the newest blocks"
        />
    }
}

#[component]
fn BlockTable(page: BlockPage, query: BlockQuery) -> impl IntoView {
    view! {
        <ListTable
            label="Ledger blocks"
            columns=vec!["Block", "Sealed", "Events", "Sequences", "Hash"]
            empty="No blocks sealed yet."
            is_empty=page.rows.is_empty()
            pages=query.pages(page.next)
            export=None
        >
            {page.rows.into_iter().map(|b| view! {
                <tr>
                    <td class="tabular-nums"><a class="link" href=format!("/ledger/blocks/{}", b.number)>{b.number}</a></td>
                    <td class="whitespace-nowrap">{format_time(Some(b.time))}</td>
                    <td class="text-right tabular-nums">{b.events}</td>
                    <td class="tabular-nums">{format!("{} – {}", b.first_seq, b.last_seq)}</td>
                    <td class="font-mono text-xs" title=b.hash.clone()>{short(&b.hash)}</td>
                </tr>
            }).collect_view()}
        </ListTable>
    }
}

#[component]
pub fn LedgerBlockPage() -> impl IntoView {
    view! {
        <Title text="Ledger block · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/ledger/blocks">"← Ledger blocks"</a></p>
        <ByPath param="id" fetch=get_ledger_block show=|detail| view! { <BlockView detail/> }/>
    }
}

#[component]
fn BlockView(detail: BlockDetail) -> impl IntoView {
    let BlockDetail {
        block: b,
        events,
        next,
    } = detail;
    let shown = events.len() as u64;
    let parent = (b.number > 0).then(|| b.number - 1);
    view! {
        <h1 class="text-2xl font-semibold mb-4">{format!("Block {}", b.number)}</h1>
        <section class="card mb-6" aria-label="Block">
            <Fields fields=vec![
                ("Sealed", format_time(Some(b.time))),
                ("Events", format!("{} ({} – {})", b.events, b.first_seq, b.last_seq)),
                ("Merkle root", b.merkle_root.clone()),
                ("Hash", b.hash.clone()),
                ("Parent hash", b.parent_hash.clone()),
            ]/>
            <nav aria-label="Neighbouring blocks" class="mt-3 flex gap-3 text-sm">
                {parent.map(|p| view! { <a class="link" href=format!("/ledger/blocks/{p}")>{format!("← Block {p} (its parent)")}</a> })}
                {next.map(|n| view! { <a class="link" href=format!("/ledger/blocks/{n}")>{format!("Block {n} →")}</a> })}
            </nav>
        </section>
        <section class="card overflow-x-auto">
            <table class="data-table" aria-label="Events of the block">
                <thead><tr><th scope="col">"Sequence"</th><th scope="col">"Time"</th><th scope="col">"Type"</th><th scope="col">"Payment"</th><th scope="col">"Hash"</th></tr></thead>
                <tbody>{events.into_iter().map(|e| view! { <EventLine e/> }).collect_view()}</tbody>
            </table>
            {(shown < b.events).then(|| view! {
                <a class="link text-sm" href=format!("/ledger?sort=oldest&after={}", b.first_seq + shown - 1)>
                    {format!("The other {} events", b.events - shown)}
                </a>
            })}
        </section>
    }
}

#[component]
pub fn LedgerStoragePage() -> impl IntoView {
    let storage = Resource::new(|| (), |_| get_ledger_storage());
    view! {
        <Title text="Ledger storage · DelTran Console"/>
        <header class="mb-4"><h1 class="text-2xl font-semibold">"Ledger storage"</h1></header>
        <LedgerNav current="Storage"/>
        <VerifyPanel/>
        <ReconcilePanel/>
        <Transition fallback=|| view! { <crate::components::Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <crate::components::ErrorPanel errors/> }>
                {move || Suspend::new(async move { storage.await.map(|s| view! { <StorageView storage=s/> }) })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn StorageView(storage: LedgerStorage) -> impl IntoView {
    let LedgerStorage {
        head,
        stats,
        snapshots,
    } = storage;
    view! {
        <section class="card mb-6" aria-label="Head">
            <Fields fields=vec![
                ("Events", head.last_seq.to_string()),
                ("Blocks", head.blocks.to_string()),
                ("Not sealed yet", head.unsealed.to_string()),
                ("Last block hash", head.last_block_hash.unwrap_or_else(|| "—".into())),
            ]/>
        </section>
        <section class="card mb-6" aria-label="Storage figures">
            <Figures stats/>
        </section>
        <section class="card mb-6 overflow-x-auto">
            <table class="data-table" aria-label="Snapshots">
                <thead><tr><th scope="col">"Taken"</th><th scope="col">"At event"</th><th scope="col">"Blocks"</th><th scope="col">"Payments"</th><th scope="col">"State digest"</th></tr></thead>
                <tbody>
                    {snapshots.is_empty().then(|| view! { <tr><td colspan="5">"No snapshots taken yet."</td></tr> })}
                    {snapshots.into_iter().map(|s| view! {
                        <tr>
                            <td class="whitespace-nowrap">{format_time(Some(s.time))}</td>
                            <td class="tabular-nums">{s.seq}</td>
                            <td class="tabular-nums">{s.blocks}</td>
                            <td class="tabular-nums">{s.payments}</td>
                            <td class="font-mono text-xs" title=s.state_digest.clone()>{short(&s.state_digest)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// RocksDB's figures per column family, with bars of each family's share of the bytes on
/// disk (live SST files) and in memtables (also on the System page).
#[component]
pub fn Figures(stats: StorageStats) -> impl IntoView {
    let most = stats
        .families
        .iter()
        .map(|f| f.live_sst_bytes + f.memtable_bytes)
        .max()
        .unwrap_or(0)
        .max(1);
    let bytes = |b: u64| format_bytes(b as i64);
    view! {
        <div class="mb-6 overflow-x-auto">
            <table class="data-table" aria-label="Column families">
                <thead><tr>
                    <th scope="col">"Column family"</th><th scope="col">"Keys (estimate)"</th><th scope="col">"Live SST"</th>
                    <th scope="col">"Total SST"</th><th scope="col">"SST files"</th><th scope="col">"Memtables"</th>
                    <th scope="col">"Pending compaction"</th><th scope="col">"Compression"</th><th scope="col">"Share"</th>
                </tr></thead>
                <tbody>
                    {stats.families.iter().map(|f| {
                        let width = ((f.live_sst_bytes + f.memtable_bytes) as f64 / most as f64 * 100.0).round();
                        view! {
                            <tr>
                                <td>{f.name.clone()}</td>
                                <td class="text-right tabular-nums">{crate::domain::thousands(&f.estimated_keys.to_string())}</td>
                                <td class="text-right tabular-nums">{bytes(f.live_sst_bytes)}</td>
                                <td class="text-right tabular-nums">{bytes(f.total_sst_bytes)}</td>
                                <td class="text-right tabular-nums">{f.sst_files}</td>
                                <td class="text-right tabular-nums">{bytes(f.memtable_bytes)}</td>
                                <td class="text-right tabular-nums">{bytes(f.pending_compaction_bytes)}</td>
                                <td>{f.compression.clone()}</td>
                                <td class="w-40">
                                    <div class="h-3 rounded bg-sky-500" style=format!("width: {width}%") role="img"
                                        aria-label=format!("{}: {} on disk and in memory", f.name, bytes(f.live_sst_bytes + f.memtable_bytes))></div>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <p class="mt-3 text-sm">{format!(
                "Block cache (the console's reader): {} used of {}.",
                bytes(stats.block_cache_usage),
                bytes(stats.block_cache_capacity)
            )}</p>
        </div>
    }
}

#[component]
fn VerifyPanel() -> impl IntoView {
    let verify = Action::new(|_: &()| verify_ledger());
    view! {
        <section class="card mb-6" aria-label="Verification">
            <h2 class="font-semibold mb-2">"Verify the chain"</h2>
            <p class="text-sm mb-3">"Recomputes every block's Merkle root from its events and checks every parent link back to block 0."</p>
            <button type="button" class="btn-primary" disabled=move || verify.pending().get() on:click=move |_| { verify.dispatch(()); }>
                "Verify the ledger"
            </button>
            <div class="mt-3" role="status">
                {move || verify.pending().get().then(|| view! { <p class="animate-pulse">"Checking every block…"</p> })}
                {move || verify.value().get().map(|r| match r {
                    Ok(v) => view! { <Verdict v/> }.into_any(),
                    Err(e) => view! { <p class="text-rose-700 dark:text-rose-300">{e.to_string()}</p> }.into_any(),
                })}
            </div>
        </section>
    }
}

#[component]
fn Verdict(v: LedgerVerification) -> impl IntoView {
    if v.ok {
        return view! {
            <p class="font-medium text-emerald-800 dark:text-emerald-200">
                {format!("The ledger is intact: {} blocks and {} events checked.", v.blocks_checked, v.events_checked)}
            </p>
        }
        .into_any();
    }
    let place = match v.broken_block {
        Some(b) => format!("block {b}"),
        None => "the events after the last block".to_string(),
    };
    view! {
        <p class="font-medium text-rose-700 dark:text-rose-300">
            {format!("The ledger is broken at {place}: {}", v.reason.clone().unwrap_or_default())}
        </p>
        <p class="text-sm">
            {v.broken_block.map(|b| view! { <a class="link mr-3" href=format!("/ledger/blocks/{b}")>{format!("Open block {b}")}</a> })}
            {v.broken_seq.map(|s| view! { <a class="link" href=format!("/ledger/events/{s}")>{format!("Open event {s}")}</a> })}
        </p>
    }
    .into_any()
}

/// The ledger against Postgres, on demand.
#[component]
fn ReconcilePanel() -> impl IntoView {
    let check = Action::new(|_: &()| reconcile_ledger());
    view! {
        <section class="card mb-6" aria-label="Consistency with Postgres">
            <h2 class="font-semibold mb-2">"Check against Postgres"</h2>
            <p class="text-sm mb-3">
                "Every payment's ledger state against its status, every settled payment's event, every event's payment, every batch's totals."
            </p>
            <button type="button" class="btn-primary" disabled=move || check.pending().get() on:click=move |_| { check.dispatch(()); }>
                "Check against Postgres"
            </button>
            <div class="mt-3" role="status">
                {move || check.pending().get().then(|| view! { <p class="animate-pulse">"Comparing…"</p> })}
                {move || check.value().get().map(|r| match r {
                    Ok(r) => view! { <Differences r/> }.into_any(),
                    Err(e) => view! { <p class="text-rose-700 dark:text-rose-300">{e.to_string()}</p> }.into_any(),
                })}
            </div>
        </section>
    }
}

#[component]
fn Differences(r: Reconciliation) -> impl IntoView {
    let summary = format!(
        "{} payments, {} batches and {} ledger events compared: {}.",
        r.payments_checked,
        r.batches_checked,
        r.events_in_ledger,
        match r.differences {
            0 => "the ledger agrees with Postgres".to_string(),
            1 => "1 difference".to_string(),
            n => format!("{n} differences"),
        }
    );
    view! {
        <p class="font-medium">{summary}</p>
        {(!r.listed.is_empty()).then(|| view! {
            <table class="data-table mt-2" aria-label="Differences">
                <thead><tr><th scope="col">"What"</th><th scope="col">"Of"</th><th scope="col">"Detail"</th></tr></thead>
                <tbody>
                    {r.listed.into_iter().map(|d| {
                        let of = match (d.payment_id, d.batch_id) {
                            (Some(p), _) => view! { <a class="link font-mono text-xs" href=format!("/payments/{p}")>{p.to_string()}</a> }.into_any(),
                            (None, Some(b)) => view! { <a class="link font-mono text-xs" href=format!("/settlements/{b}")>{b.to_string()}</a> }.into_any(),
                            (None, None) => "—".into_any(),
                        };
                        view! { <tr><td>{format!("{:?}", d.kind)}</td><td>{of}</td><td>{d.detail}</td></tr> }
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}
