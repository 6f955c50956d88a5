//! The Payments pages: the list (a search box and every filter, three orders and keyset
//! pages, all held in the URL so a view can be shared, back/forward work and the page works
//! without the wasm), its CSV export, and a payment's page with its timeline and, for a
//! pending payment and a role that may, cancellation with a reason (confirmed first).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    api::{cancel_payment, get_payment, list_payments},
    Check, Payment, PaymentDetail, PaymentList, PaymentQuery, PaymentRow, PaymentSort,
    TimelineEntry, MAX_REASON,
};
use crate::{
    auth::{Me, Permission},
    components::{
        change::{Change, ChangeOutcome, Changes, ConfirmChange},
        format_time,
        list::{CheckFilter, FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
        ByPath, StatusBadge,
    },
    domain::{ComplianceStatus, Currency, PaymentStatus},
    error::AppError,
};

#[component]
pub fn PaymentsPage() -> impl IntoView {
    let export = use_context::<Me>().is_some_and(|m| m.can(Permission::ExportCsv));
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(PaymentQuery::from_params));
    view! {
        <Title text="Payments · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Payments"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Every payment on the network; find one by its reference, idempotency key or SWIFT message id."
            </p>
        </header>
        <Filters query/>
        <ListRows
            query
            fetch=list_payments
            table=move |list, query| view! { <PaymentTable list query export/> }
            reset_label="Show all payments"
        />
    }
}

#[component]
fn Filters(query: Memo<PaymentQuery>) -> impl IntoView {
    let statuses = || {
        PaymentStatus::ALL
            .map(|s| (s.as_str(), s.as_str()))
            .to_vec()
    };
    let currencies = || Currency::ALL.map(|c| (c.code(), c.code())).to_vec();
    let compliance = || {
        ComplianceStatus::ALL
            .map(|c| (c.as_str(), c.as_str()))
            .to_vec()
    };
    let sorts = || PaymentSort::ALL.map(|s| (s.as_str(), s.label())).to_vec();
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/payments" label="Filter payments">
                <TextFilter name="q" label="Reference, key or SWIFT id" value=q.q placeholder="DT20261130…"/>
                <CheckFilter name="status" label="Status" options=statuses() value=q.status/>
                <SelectFilter name="currency" label="Currency" any="Any currency" options=currencies() value=q.currency/>
                <TextFilter name="bank" label="Bank (sender or receiver)" value=q.bank placeholder="BIC or part of a name"/>
                <TextFilter name="from" label="Created from (UTC)" value=q.from kind="datetime-local"/>
                <TextFilter name="to" label="Created before (UTC)" value=q.to kind="datetime-local"/>
                <TextFilter name="min_amount" label="Minimum amount" value=q.min_amount kind="text"/>
                <TextFilter name="max_amount" label="Maximum amount" value=q.max_amount kind="text"/>
                <TextFilter name="min_risk" label="Minimum risk score" value=q.min_risk kind="number"/>
                <SelectFilter name="compliance" label="Compliance" any="Any result" options=compliance() value=q.compliance/>
                <SelectFilter name="sort" label="Sort" options=sorts() value=q.sort/>
                // Filters the page's own links set (a bank's or a batch's payments) stay on.
                {q.account.map(|v| view! { <input type="hidden" name="account" value=v/> })}
                {q.batch.map(|v| view! { <input type="hidden" name="batch" value=v/> })}
            </FilterForm>
        }
    }
}

#[component]
fn PaymentTable(list: PaymentList, query: PaymentQuery, export: bool) -> impl IntoView {
    let PaymentList { page, total } = list;
    let columns = vec![
        "Created",
        "Reference",
        "Status",
        "Amount",
        "Sender",
        "Receiver",
        "Risk",
        "Compliance",
    ];
    let narrowed = [&query.account, &query.batch]
        .into_iter()
        .any(Option::is_some);
    view! {
        <p class="mb-2 text-sm" role="status">
            {total.describe("payment", "payments")}
            {narrowed.then_some(" (of one account or batch)")}
        </p>
        <ListTable
            label="Payments"
            columns
            empty="No payments match these filters."
            is_empty=page.rows.is_empty()
            pages=query.pages(page.next)
            export=export.then(|| query.download("/downloads/payments.csv"))
        >
            {page.rows.into_iter().map(|p| view! { <PaymentLine p/> }).collect_view()}
        </ListTable>
    }
}

#[component]
fn PaymentLine(p: PaymentRow) -> impl IntoView {
    let money = p.money();
    view! {
        <tr>
            <td class="whitespace-nowrap">{format_time(Some(p.created_at))}</td>
            <td><a class="link" href=format!("/payments/{}", p.id)>{p.payment_reference}</a></td>
            <td><StatusBadge status=p.status/></td>
            <td class="text-right tabular-nums whitespace-nowrap">{money}</td>
            <td><a class="link" href=format!("/banks/{}", p.sender_bank_id)>{p.sender_bic}</a></td>
            <td><a class="link" href=format!("/banks/{}", p.receiver_bank_id)>{p.receiver_bic}</a></td>
            <td class="text-right tabular-nums">{p.risk_score.map(|r| r.to_string()).unwrap_or_else(|| "—".into())}</td>
            <td>{p.compliance_status.map(|c| c.as_str()).unwrap_or("—")}</td>
        </tr>
    }
}

/// Cancelling a payment, once its reason is typed.
#[derive(Debug, Clone, PartialEq)]
struct CancelOp {
    id: String,
    reference: String,
    reason: String,
}

impl Change for CancelOp {
    fn question(&self) -> String {
        format!(
            "Cancel payment {}? Its reserved funds are released; this cannot be undone.",
            self.reference
        )
    }

    async fn run(self) -> Result<String, AppError> {
        cancel_payment(self.id, self.reason).await?;
        Ok(format!("Payment {} cancelled.", self.reference))
    }
}

#[component]
pub fn PaymentPage() -> impl IntoView {
    let changes = Changes::<CancelOp>::default();
    let reload = changes.version;
    view! {
        <Title text="Payment · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/payments">"← Payments"</a></p>
        <ChangeOutcome changes/>
        <ConfirmChange changes/>
        <ByPath param="id" fetch=get_payment reload show=move |detail| view! { <PaymentView detail changes/> }/>
    }
}

#[component]
fn PaymentView(detail: PaymentDetail, changes: Changes<CancelOp>) -> impl IntoView {
    let PaymentDetail {
        payment: p,
        checks,
        timeline,
        ledger_state,
        ledger_available,
    } = detail;
    let may_cancel = use_context::<Me>().is_some_and(|m| m.can(Permission::PaymentsCancel));
    let status = p.status;
    let cancellable = may_cancel && status == PaymentStatus::Pending;
    let (id, reference) = (p.id.to_string(), p.payment_reference.clone());
    view! {
        <header class="mb-4 flex flex-wrap items-center gap-3">
            <h1 class="text-2xl font-semibold">{format!("Payment {}", p.payment_reference)}</h1>
            <StatusBadge status=p.status/>
            <span class="text-lg tabular-nums">{p.money()}</span>
        </header>
        {cancellable.then(|| view! { <CancelForm id reference changes/> })}
        <Fields p/>
        <Checks checks/>
        <Timeline timeline/>
        <LedgerState state=ledger_state available=ledger_available status/>
    }
}

/// The payment as the ledger has it, beside Postgres' status.
#[component]
fn LedgerState(
    state: Option<crate::ledger::PaymentState>,
    available: bool,
    status: PaymentStatus,
) -> impl IntoView {
    let text = match (&state, available) {
        (_, false) => {
            "The ledger cannot be read just now: its events are missing from the timeline."
                .to_string()
        }
        (None, true) => "The ledger holds no events of this payment.".to_string(),
        (Some(s), true) if s.status == status.as_str() => {
            format!(
                "The ledger agrees: {} after {} events (the last, {}).",
                s.status, s.events, s.last_seq
            )
        }
        (Some(s), true) => format!(
            "The ledger differs: it has the payment {} (after {} events), Postgres has it {}.",
            s.status,
            s.events,
            status.as_str()
        ),
    };
    view! {
        <section class="card mb-4" aria-label="Ledger state">
            <h2 class="mb-2 font-semibold">"Ledger"</h2>
            <p class="text-sm">{text}</p>
        </section>
    }
}

/// A line of a payment's fields: its label, its text, and a link with the link's text.
type Field = (&'static str, String, Option<(String, &'static str)>);

#[component]
fn Fields(p: Payment) -> impl IntoView {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let time = |t| format_time(t);
    let payments_of = |query: String| Some((format!("/payments?{query}"), "its payments"));
    let bank = |id| Some((format!("/banks/{id}"), "the bank"));
    let fields: Vec<Field> = vec![
        ("Reference", p.payment_reference.clone(), None),
        ("Amount", p.money(), None),
        ("Status", p.status.as_str().into(), None),
        (
            "Sender bank",
            format!("{} · {}", p.sender_bic, p.sender_name),
            bank(p.sender_bank_id),
        ),
        (
            "Sender account",
            dash(p.sender_account_number.clone()),
            p.sender_account_id
                .and_then(|a| payments_of(format!("account={a}"))),
        ),
        (
            "Receiver bank",
            format!("{} · {}", p.receiver_bic, p.receiver_name),
            bank(p.receiver_bank_id),
        ),
        (
            "Receiver account",
            dash(p.receiver_account_number.clone()),
            p.receiver_account_id
                .and_then(|a| payments_of(format!("account={a}"))),
        ),
        (
            "Settlement batch",
            dash(p.batch_reference.clone()),
            p.batch_id
                .map(|b| (format!("/settlements/{b}"), "the batch")),
        ),
        (
            "Risk score",
            dash(p.risk_score.map(|r| r.to_string())),
            None,
        ),
        (
            "SWIFT message",
            dash(
                p.swift_message_type
                    .clone()
                    .map(|t| format!("{t} {}", p.swift_message_id.clone().unwrap_or_default())),
            ),
            None,
        ),
        ("Idempotency key", dash(p.idempotency_key.clone()), None),
        (
            "Remittance information",
            dash(p.remittance_info.clone()),
            None,
        ),
        ("Created", time(Some(p.created_at)), None),
        ("Processed", time(p.processed_at), None),
        ("Settled", time(p.settled_at), None),
        ("Cancelled", time(p.cancelled_at), None),
        ("Cancelled by", dash(p.cancelled_by.clone()), None),
        ("Cancellation reason", dash(p.cancel_reason.clone()), None),
        ("Failure reason", dash(p.failure_reason.clone()), None),
        ("Last updated", time(Some(p.updated_at)), None),
        ("Id", p.id.to_string(), None),
        ("Metadata", p.metadata.clone(), None),
    ];
    view! {
        <section class="card mb-4" aria-label="Payment fields">
            <dl class="grid gap-x-6 gap-y-2 sm:grid-cols-[14rem_1fr] text-sm">
                {fields.into_iter().map(|(k, v, link)| view! {
                    <dt class="font-medium text-slate-500 dark:text-slate-400">{k}</dt>
                    <dd class="break-all">
                        {v}
                        {link.map(|(href, text)| view! { " " <a class="link" href=href>{text}</a> })}
                    </dd>
                }).collect_view()}
            </dl>
        </section>
    }
}

#[component]
fn Checks(checks: Vec<Check>) -> impl IntoView {
    view! {
        <section class="card mb-4 overflow-x-auto">
            <h2 class="mb-2 font-semibold">"Compliance checks"</h2>
            <table class="data-table" aria-label="Compliance checks">
                <thead><tr>
                    <th scope="col">"Check"</th><th scope="col">"Result"</th><th scope="col">"Risk"</th>
                    <th scope="col">"Matched lists"</th><th scope="col">"Review"</th><th scope="col">"Completed"</th>
                </tr></thead>
                <tbody>
                    {checks.is_empty().then(|| view! { <tr><td colspan="6">"No compliance checks."</td></tr> })}
                    {checks.into_iter().map(|c| {
                        let review = match (&c.reviewed_by, c.requires_review) {
                            (Some(by), _) => format!("{by}: {}", c.review_notes.clone().unwrap_or_default()),
                            (None, true) => "waiting for review".into(),
                            (None, false) => "—".into(),
                        };
                        view! {
                            <tr>
                                <td>{c.check_type}</td>
                                <td>{c.status.as_str()}</td>
                                <td class="tabular-nums">{c.risk_score.map(|r| r.to_string()).unwrap_or_else(|| "—".into())}</td>
                                <td>{if c.matched_lists.is_empty() { "—".to_string() } else { c.matched_lists.join(", ") }}</td>
                                <td>{review}</td>
                                <td class="whitespace-nowrap">{format_time(c.completed_at)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn Timeline(timeline: Vec<TimelineEntry>) -> impl IntoView {
    view! {
        <section class="card mb-4">
            <h2 class="mb-2 font-semibold">"Timeline"</h2>
            <ol aria-label="Timeline" class="space-y-2 text-sm">
                {timeline.into_iter().map(|e| view! {
                    <li class="grid gap-x-3 sm:grid-cols-[11rem_8rem_1fr]">
                        <span class="whitespace-nowrap tabular-nums text-slate-500 dark:text-slate-400">
                            {e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()}
                        </span>
                        <span><span class="badge bg-slate-200 dark:bg-slate-700">{e.source.label()}</span></span>
                        <span>
                            {match e.link {
                                Some(href) => view! { <a class="link font-medium" href=href>{e.what}</a> }.into_any(),
                                None => view! { <span class="font-medium">{e.what}</span> }.into_any(),
                            }}
                            {e.detail.map(|d| view! { <span class="block break-all text-slate-600 dark:text-slate-300">{d}</span> })}
                        </span>
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}

/// The reason, then "Cancel payment", which asks to confirm.
#[component]
fn CancelForm(id: String, reference: String, changes: Changes<CancelOp>) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let (id, reference) = (StoredValue::new(id), StoredValue::new(reference));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        changes.ask(CancelOp {
            id: id.get_value(),
            reference: reference.get_value(),
            reason: reason.get_untracked(),
        });
    };
    view! {
        <form class="card mb-4" aria-label="Cancel this payment" on:submit=submit>
            <label class="field-label" for="cancel-reason">"Reason for cancelling"</label>
            <textarea
                class="field mb-2"
                id="cancel-reason"
                name="reason"
                required
                maxlength=MAX_REASON.to_string()
                prop:value=move || reason.get()
                on:input=move |ev| reason.set(event_target_value(&ev))
            ></textarea>
            <button type="submit" class="btn-primary">"Cancel payment"</button>
        </form>
    }
}
