//! The Settlements pages: the list of batches (filters, three orders, keyset pages in the URL,
//! the CSV), a batch's page with its netting, and a netting day.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use rust_decimal::Decimal;

use super::{
    api::{get_batch, get_netting_day, list_batches},
    BatchDetail, BatchPage, BatchQuery, BatchRow, BatchSort, Netting, NettingDay, Position,
};
use crate::{
    auth::{Me, Permission},
    components::{
        format_time,
        list::{CheckFilter, FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
        ByPath,
    },
    domain::{format_money, Currency, SettlementStatus},
};

#[component]
pub fn SettlementsPage() -> impl IntoView {
    let export = use_context::<Me>().is_some_and(|m| m.can(Permission::ExportCsv));
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(BatchQuery::from_params));
    view! {
        <Title text="Settlements · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Settlement batches"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Netting batches: what their payments add up to gross, and what moves after netting."
            </p>
        </header>
        <Filters query/>
        <ListRows
            query
            fetch=list_batches
            table=move |page, query| view! { <BatchTable page query export/> }
            reset_label="Show all batches"
        />
    }
}

#[component]
fn Filters(query: Memo<BatchQuery>) -> impl IntoView {
    let statuses = || {
        SettlementStatus::ALL
            .map(|s| (s.as_str(), s.as_str()))
            .to_vec()
    };
    let currencies = || Currency::ALL.map(|c| (c.code(), c.code())).to_vec();
    let sorts = || BatchSort::ALL.map(|s| (s.as_str(), s.label())).to_vec();
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/settlements" label="Filter batches">
                <CheckFilter name="status" label="Status" options=statuses() value=q.status/>
                <SelectFilter name="currency" label="Currency" any="Any currency" options=currencies() value=q.currency/>
                <TextFilter name="corridor" label="Corridor" value=q.corridor placeholder="USD-MULTI" kind="text"/>
                <TextFilter name="batch_type" label="Batch type" value=q.batch_type placeholder="multilateral_net" kind="text"/>
                <TextFilter name="from" label="Created from (UTC)" value=q.from kind="datetime-local"/>
                <TextFilter name="to" label="Created before (UTC)" value=q.to kind="datetime-local"/>
                <SelectFilter name="sort" label="Sort" options=sorts() value=q.sort/>
                {q.bank.map(|v| view! { <input type="hidden" name="bank" value=v/> })}
            </FilterForm>
        }
    }
}

#[component]
fn BatchTable(page: BatchPage, query: BatchQuery, export: bool) -> impl IntoView {
    let columns = vec![
        "Created",
        "Reference",
        "Status",
        "Corridor",
        "Type",
        "Payments",
        "Gross",
        "Net",
        "Netting day",
    ];
    view! {
        {query.bank.is_some().then_some(view! { <p class="mb-2 text-sm">"Batches with a payment of one bank."</p> })}
        <ListTable
            label="Settlement batches"
            columns
            empty="No batches match these filters."
            is_empty=page.rows.is_empty()
            pages=query.pages(page.next)
            export=export.then(|| query.download("/downloads/settlements.csv"))
        >
            {page.rows.into_iter().map(|b| view! { <BatchLine b/> }).collect_view()}
        </ListTable>
    }
}

#[component]
fn BatchLine(b: BatchRow) -> impl IntoView {
    let money = |v| format!("{} {}", format_money(v, b.currency), b.currency);
    let day = b.created_at.date_naive().to_string();
    view! {
        <tr>
            <td class="whitespace-nowrap">{format_time(Some(b.created_at))}</td>
            <td><a class="link" href=format!("/settlements/{}", b.id)>{b.batch_reference.clone()}</a></td>
            <td>{b.status.as_str()}</td>
            <td>{b.corridor_id.clone().unwrap_or_else(|| "—".into())}</td>
            <td>{b.batch_type.clone()}</td>
            <td class="text-right tabular-nums">{b.total_payments}</td>
            <td class="text-right tabular-nums whitespace-nowrap">{money(b.gross_amount)}</td>
            <td class="text-right tabular-nums whitespace-nowrap">{money(b.net_amount)}</td>
            <td><a class="link" href=format!("/settlements/days/{day}")>{day.clone()}</a></td>
        </tr>
    }
}

#[component]
pub fn BatchPageView() -> impl IntoView {
    view! {
        <Title text="Settlement batch · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/settlements">"← Settlement batches"</a></p>
        <ByPath param="id" fetch=get_batch show=|detail| view! { <BatchView detail/> }/>
    }
}

#[component]
fn BatchView(detail: BatchDetail) -> impl IntoView {
    let BatchDetail {
        batch: b,
        positions,
        netting,
        discrepancies,
    } = detail;
    let money = |v| format!("{} {}", format_money(v, b.currency), b.currency);
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let day = b.created_at.date_naive().to_string();
    let fields: Vec<(&str, String)> = vec![
        ("Status", b.status.as_str().into()),
        ("Currency", b.currency.code().into()),
        ("Corridor", dash(b.corridor_id.clone())),
        ("Netting window", dash(b.netting_window_id.clone())),
        ("Type", b.batch_type.clone()),
        ("Payments (stored)", b.total_payments.to_string()),
        ("Gross amount (stored)", money(b.gross_amount)),
        ("Net amount (stored)", money(b.net_amount)),
        ("Created", format_time(Some(b.created_at))),
        ("Finalized", format_time(b.finalized_at)),
        ("Submitted", format_time(b.submitted_at)),
        ("Settled", format_time(b.settled_at)),
        ("Id", b.id.to_string()),
        ("Metadata", b.metadata.clone()),
    ];
    let payments_of = format!("/payments?batch={}", b.id);
    view! {
        <header class="mb-4">
            <h1 class="text-2xl font-semibold">{format!("Batch {}", b.batch_reference)}</h1>
            <nav aria-label="Related" class="mt-2 flex gap-4 text-sm">
                <a class="link" href=payments_of>"Its payments"</a>
                <a class="link" href=format!("/settlements/days/{day}")>{format!("The netting day {day}")}</a>
            </nav>
        </header>
        {(!discrepancies.is_empty()).then(|| view! {
            <div role="alert" class="card mb-4 border-rose-300 text-rose-900 dark:text-rose-100">
                <p class="mb-2 font-semibold">"This batch disagrees with its payments:"</p>
                <ul>{discrepancies.iter().map(|d| view! { <li>{d.describe()}</li> }).collect_view()}</ul>
            </div>
        })}
        <section class="card mb-4" aria-label="Batch fields">
            <dl class="grid gap-x-6 gap-y-2 sm:grid-cols-[12rem_1fr] text-sm">
                {fields.into_iter().map(|(k, v)| view! {
                    <dt class="font-medium text-slate-500 dark:text-slate-400">{k}</dt>
                    <dd class="break-all">{v}</dd>
                }).collect_view()}
            </dl>
        </section>
        <NettingSummary netting=netting.clone()/>
        <PositionTable label="Netting" positions scope=format!("batch={}", b.id) netting=vec![netting]/>
    }
}

#[component]
fn NettingSummary(netting: Netting) -> impl IntoView {
    let money = |v| format!("{} {}", format_money(v, netting.currency), netting.currency);
    let saving = netting
        .saving_percent
        .map(|s| format!("{s} %"))
        .unwrap_or_else(|| "—".into());
    let sums = if netting.balanced() {
        "✓ the net positions sum to zero".to_string()
    } else {
        format!("✗ the net positions sum to {}", money(netting.net_sum))
    };
    view! {
        <section class="card mb-4" aria-label="Netting summary">
            <dl class="grid gap-x-6 gap-y-2 sm:grid-cols-[12rem_1fr] text-sm">
                <dt class="font-medium">"Gross (its payments)"</dt><dd class="tabular-nums">{money(netting.gross)}</dd>
                <dt class="font-medium">"Net settled"</dt><dd class="tabular-nums">{money(netting.net_settled)}</dd>
                <dt class="font-medium">"Netting saving"</dt><dd class="tabular-nums" aria-label="Netting saving">{saving}</dd>
                <dt class="font-medium">"Check"</dt><dd>{sums}</dd>
            </dl>
        </section>
    }
}

/// Every bank's sends, receives and net position, with the total row of each currency; from
/// each bank's row, the payments behind it (the Payments list with `scope`'s filters and the
/// row's bank and currency).
#[component]
fn PositionTable(
    label: &'static str,
    positions: Vec<Position>,
    scope: String,
    netting: Vec<Netting>,
) -> impl IntoView {
    let columns = [
        "Bank",
        "Currency",
        "Sent",
        "Payments sent",
        "Received",
        "Payments received",
        "Net position",
        "",
    ];
    let totals = netting.into_iter().map(|n| {
        let money = |v| format_money(v, n.currency);
        view! {
            <tr class="font-semibold">
                <td>"All banks"</td>
                <td>{n.currency.code()}</td>
                <td class="text-right tabular-nums">{money(n.gross)}</td>
                <td></td>
                <td class="text-right tabular-nums">{money(n.gross)}</td>
                <td></td>
                <td class="text-right tabular-nums">{money(n.net_sum)}</td>
                <td></td>
            </tr>
        }
    });
    view! {
        <section class="card mb-4 overflow-x-auto">
            <h2 class="mb-2 font-semibold">{label}</h2>
            <table class="data-table" aria-label=label>
                <thead><tr>{columns.map(|c| view! { <th scope="col">{c}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {positions.is_empty().then(|| view! { <tr><td colspan="8">"No payments."</td></tr> })}
                    {positions.into_iter().map(|p| {
                        let money = |v| format_money(v, p.currency);
                        let net = p.net();
                        let behind = format!("/payments?{scope}&bank={}&currency={}", p.bank_id, p.currency);
                        let tone = if net < Decimal::ZERO { "text-rose-700 dark:text-rose-300" } else { "text-emerald-700 dark:text-emerald-300" };
                        view! {
                            <tr>
                                <td><a class="link" href=format!("/banks/{}", p.bank_id)>{format!("{} · {}", p.bic_code, p.name)}</a></td>
                                <td>{p.currency.code()}</td>
                                <td class="text-right tabular-nums">{money(p.sent)}</td>
                                <td class="text-right tabular-nums">{p.payments_sent}</td>
                                <td class="text-right tabular-nums">{money(p.received)}</td>
                                <td class="text-right tabular-nums">{p.payments_received}</td>
                                <td class=format!("text-right tabular-nums {tone}")>{money(net)}</td>
                                <td><a class="link" href=behind>"payments"</a></td>
                            </tr>
                        }
                    }).collect_view()}
                    {totals.collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
pub fn NettingDayPage() -> impl IntoView {
    view! {
        <Title text="Netting day · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/settlements">"← Settlement batches"</a></p>
        <ByPath param="day" fetch=get_netting_day show=|day| view! { <DayView day/> }/>
    }
}

#[component]
fn DayView(day: NettingDay) -> impl IntoView {
    let NettingDay {
        day,
        batches,
        positions,
        netting,
    } = day;
    let unbalanced: Vec<Currency> = netting
        .iter()
        .filter(|n| !n.balanced())
        .map(|n| n.currency)
        .collect();
    let from = day.format("%Y-%m-%dT00:00").to_string();
    let to = (day + chrono::Duration::days(1))
        .format("%Y-%m-%dT00:00")
        .to_string();
    let scope = format!("from={from}&to={to}");
    view! {
        <header class="mb-4">
            <h1 class="text-2xl font-semibold">{format!("Netting day {day}")}</h1>
            <p class="text-sm">
                {format!("Net positions per bank and currency over the {batches} batch(es) created that day (UTC). ")}
                <a class="link" href=format!("/settlements?{scope}")>"The batches"</a>
            </p>
        </header>
        {(!unbalanced.is_empty()).then(|| view! {
            <div role="alert" class="card mb-4 border-rose-300">
                {format!("The net positions do not sum to zero in: {}", unbalanced.iter().map(|c| c.code()).collect::<Vec<_>>().join(", "))}
            </div>
        })}
        <PositionTable label="Net positions" positions scope netting/>
    }
}
