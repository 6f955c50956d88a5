//! The Banks pages: the list (search, filters, three orders, keyset pages in the URL, the
//! CSV) and a bank's page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    api::{get_bank, list_banks},
    Account, ActiveControl, BankDetail, BankPage, BankQuery, BankRow, BankSort, CurrencyTotal,
    Volume, KYC_STATUSES, RISK_RATINGS,
};
use crate::{
    auth::{Me, Permission},
    components::{
        change::{ChangeOutcome, Changes, ConfirmChange},
        format_time,
        list::{FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
        ByPath,
    },
    controls::{
        page::{ControlOp, OrderFields, OrderForm},
        EntityType,
    },
    domain::format_money,
};

#[component]
pub fn BanksPage() -> impl IntoView {
    let export = use_context::<Me>().is_some_and(|m| m.can(Permission::ExportCsv));
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(BankQuery::from_params));
    view! {
        <Title text="Banks · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Banks"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "The participant banks, their KYC and risk, and their settlement accounts."
            </p>
        </header>
        <Filters query/>
        <ListRows
            query
            fetch=list_banks
            table=move |page, query| view! { <BankTable page query export/> }
            reset_label="Show all banks"
        />
    }
}

#[component]
fn Filters(query: Memo<BankQuery>) -> impl IntoView {
    let pairs = |names: [&'static str; 4]| names.map(|n| (n, n)).to_vec();
    let sorts = || BankSort::ALL.map(|s| (s.as_str(), s.label())).to_vec();
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/banks" label="Filter banks">
                <TextFilter name="q" label="Name or BIC" value=q.q placeholder="Part of a name or BIC"/>
                <TextFilter name="country" label="Country" value=q.country placeholder="DE" kind="text"/>
                <SelectFilter name="kyc" label="KYC" any="Any KYC status" options=pairs(KYC_STATUSES) value=q.kyc/>
                <SelectFilter name="risk" label="Risk rating" any="Any rating" options=pairs(RISK_RATINGS) value=q.risk/>
                <SelectFilter name="active" label="Active" any="Active or not" options=vec![("true", "active"), ("false", "inactive")] value=q.active/>
                <SelectFilter name="sort" label="Sort" options=sorts() value=q.sort/>
            </FilterForm>
        }
    }
}

#[component]
fn BankTable(page: BankPage, query: BankQuery, export: bool) -> impl IntoView {
    let columns = vec![
        "BIC",
        "Name",
        "Country",
        "Active",
        "Risk",
        "KYC",
        "KYC verified",
    ];
    view! {
        <ListTable
            label="Banks"
            columns
            empty="No banks match these filters."
            is_empty=page.rows.is_empty()
            pages=query.pages(page.next)
            export=export.then(|| query.download("/downloads/banks.csv"))
        >
            {page.rows.into_iter().map(|b| view! { <BankLine b/> }).collect_view()}
        </ListTable>
    }
}

#[component]
fn BankLine(b: BankRow) -> impl IntoView {
    view! {
        <tr>
            <td><a class="link" href=format!("/banks/{}", b.id)>{b.bic_code}</a></td>
            <td>{b.name}</td>
            <td>{b.country_code}</td>
            <td>{if b.is_active { "yes" } else { "no" }}</td>
            <td>{b.risk_rating}</td>
            <td>{b.kyc_status}</td>
            <td class="whitespace-nowrap">{format_time(b.kyc_verified_at)}</td>
        </tr>
    }
}

#[component]
pub fn BankPage() -> impl IntoView {
    let changes = Changes::<ControlOp>::default();
    let reload = changes.version;
    view! {
        <Title text="Bank · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/banks">"← Banks"</a></p>
        <ChangeOutcome changes/>
        <ConfirmChange changes/>
        <ByPath param="id" fetch=get_bank reload show=move |detail| view! { <BankView detail changes/> }/>
    }
}

#[component]
fn BankView(detail: BankDetail, changes: Changes<ControlOp>) -> impl IntoView {
    let BankDetail {
        bank: b,
        accounts,
        totals,
        volume,
        controls,
    } = detail;
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let fields: Vec<(&str, String)> = vec![
        ("BIC", b.bic_code.clone()),
        ("Country", b.country_code.clone()),
        ("Active", if b.is_active { "yes" } else { "no" }.into()),
        ("Risk rating", b.risk_rating.clone()),
        ("KYC status", b.kyc_status.clone()),
        ("KYC verified", format_time(b.kyc_verified_at)),
        ("Contact", dash(b.contact_name.clone())),
        ("E-mail", dash(b.contact_email.clone())),
        ("Phone", dash(b.contact_phone.clone())),
        ("Member since", format_time(Some(b.created_at))),
        ("Last updated", format_time(Some(b.updated_at))),
        ("Id", b.id.to_string()),
        ("Metadata", b.metadata.clone()),
    ];
    view! {
        <header class="mb-4">
            <h1 class="text-2xl font-semibold">{b.name.clone()}</h1>
            <nav aria-label="Related" class="mt-2 flex gap-4 text-sm">
                <a class="link" href=format!("/payments?bank={}", b.id)>"Its payments"</a>
                <a class="link" href=format!("/settlements?bank={}", b.id)>"Its settlement batches"</a>
            </nav>
        </header>
        <section class="card mb-4" aria-label="Bank fields">
            <dl class="grid gap-x-6 gap-y-2 sm:grid-cols-[12rem_1fr] text-sm">
                {fields.into_iter().map(|(k, v)| view! {
                    <dt class="font-medium text-slate-500 dark:text-slate-400">{k}</dt>
                    <dd class="break-all">{v}</dd>
                }).collect_view()}
            </dl>
        </section>
        <Controls controls/>
        {use_context::<Me>().is_some_and(|m| m.can(Permission::ControlsApply)).then(|| {
            let mut targets = vec![(EntityType::Bank, b.id.to_string(), format!("{} {}", b.bic_code, b.name))];
            targets.extend(accounts.iter().map(|a| {
                (EntityType::Account, a.id.to_string(), format!("{} {}", a.account_number, a.currency))
            }));
            view! { <OrderForm form=OrderFields::default() changes targets=Some(targets)/> }
        })}
        <Accounts accounts/>
        <Totals totals/>
        <VolumeTable volume/>
    }
}

#[component]
fn Accounts(accounts: Vec<Account>) -> impl IntoView {
    view! {
        <section class="card mb-4 overflow-x-auto">
            <h2 class="mb-2 font-semibold">"Accounts"</h2>
            <table class="data-table" aria-label="Accounts">
                <thead><tr>
                    <th scope="col">"Number"</th><th scope="col">"Currency"</th><th scope="col">"Balance"</th>
                    <th scope="col">"Available"</th><th scope="col">"Reserved"</th>
                    <th scope="col">"Balance = available + reserved"</th>
                    <th scope="col">"Active"</th><th scope="col">"Opened"</th><th scope="col">"Closed"</th>
                </tr></thead>
                <tbody>
                    {accounts.is_empty().then(|| view! { <tr><td colspan="9">"No accounts."</td></tr> })}
                    {accounts.into_iter().map(|a| {
                        let money = |v| format_money(v, a.currency);
                        let checked = if a.balanced() { "✓ holds" } else { "✗ broken" };
                        view! {
                            <tr>
                                <td><a class="link" href=format!("/payments?account={}", a.id)>{a.account_number.clone()}</a></td>
                                <td>{a.currency.code()}</td>
                                <td class="text-right tabular-nums">{money(a.balance)}</td>
                                <td class="text-right tabular-nums">{money(a.available_balance)}</td>
                                <td class="text-right tabular-nums">{money(a.reserved_balance)}</td>
                                <td>{checked}</td>
                                <td>{if a.is_active { "yes" } else { "no" }}</td>
                                <td class="whitespace-nowrap">{format_time(Some(a.opened_at))}</td>
                                <td class="whitespace-nowrap">{format_time(a.closed_at)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn Totals(totals: Vec<CurrencyTotal>) -> impl IntoView {
    view! {
        <section class="card mb-4 overflow-x-auto">
            <h2 class="mb-2 font-semibold">"Totals per currency"</h2>
            <table class="data-table" aria-label="Totals per currency">
                <thead><tr>
                    <th scope="col">"Currency"</th><th scope="col">"Accounts"</th><th scope="col">"Balance"</th>
                    <th scope="col">"Available"</th><th scope="col">"Reserved"</th>
                </tr></thead>
                <tbody>
                    {totals.into_iter().map(|t| {
                        let money = |v| format_money(v, t.currency);
                        view! {
                            <tr>
                                <td>{t.currency.code()}</td>
                                <td class="tabular-nums">{t.account_count}</td>
                                <td class="text-right tabular-nums">{money(t.total_balance)}</td>
                                <td class="text-right tabular-nums">{money(t.total_available)}</td>
                                <td class="text-right tabular-nums">{money(t.total_reserved)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn VolumeTable(volume: Vec<Volume>) -> impl IntoView {
    view! {
        <section class="card mb-4 overflow-x-auto">
            <h2 class="mb-2 font-semibold">"Settled volume, last 30 days"</h2>
            <table class="data-table" aria-label="Volume over 30 days">
                <thead><tr>
                    <th scope="col">"Currency"</th><th scope="col">"Sent"</th><th scope="col">"Payments sent"</th>
                    <th scope="col">"Received"</th><th scope="col">"Payments received"</th>
                </tr></thead>
                <tbody>
                    {volume.is_empty().then(|| view! { <tr><td colspan="5">"No settled payments in the last 30 days."</td></tr> })}
                    {volume.into_iter().map(|v| {
                        let money = |x| format_money(x, v.currency);
                        view! {
                            <tr>
                                <td>{v.currency.code()}</td>
                                <td class="text-right tabular-nums">{money(v.sent)}</td>
                                <td class="tabular-nums">{v.sent_count}</td>
                                <td class="text-right tabular-nums">{money(v.received)}</td>
                                <td class="tabular-nums">{v.received_count}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn Controls(controls: Vec<ActiveControl>) -> impl IntoView {
    view! {
        <section class="card mb-4 overflow-x-auto">
            <h2 class="mb-2 font-semibold">"Active controls"</h2>
            <table class="data-table" aria-label="Active controls">
                <thead><tr>
                    <th scope="col">"On"</th><th scope="col">"Control"</th><th scope="col">"Limit"</th>
                    <th scope="col">"Reason"</th><th scope="col">"Since"</th><th scope="col">"Expires"</th>
                </tr></thead>
                <tbody>
                    {controls.is_empty().then(|| view! { <tr><td colspan="6">"No controls in force."</td></tr> })}
                    {controls.into_iter().map(|c| {
                        let on = match &c.account_number {
                            Some(n) => format!("account {n}"),
                            None => "the bank".into(),
                        };
                        let limit = if c.action == "throttle" {
                            format!("{} per {} s", c.limit_value, c.window_seconds)
                        } else {
                            "—".into()
                        };
                        view! {
                            <tr>
                                <td>{on}</td>
                                <td>{c.action}</td>
                                <td>{limit}</td>
                                <td>{c.reason.unwrap_or_else(|| "—".into())}</td>
                                <td class="whitespace-nowrap">{format_time(Some(c.created_at))}</td>
                                <td class="whitespace-nowrap">{format_time(c.expires_at)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
