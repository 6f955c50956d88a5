//! The Compliance pages: the review queue (checks awaiting a decision, oldest first with their
//! age; or every check), its filters and orders held in the URL, its CSV export; and a check's
//! case page with the check, its payment and parties, the payment's other checks and the
//! sender bank's earlier checks, where a reviewer claims the case, decides it, and a second
//! reviewer approves or rejects a pass of a sanctions or PEP hit.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    age,
    api::{approve_case, claim_case, get_case, list_compliance, reject_case, review_case},
    check_name, Case, CaseCheck, ComplianceList, ComplianceQuery, ComplianceRow, ComplianceSort,
    EarlierCheck, ReviewResult, CHECK_TYPES, CLAIM_MINUTES, MAX_NOTE,
};
use crate::{
    auth::{Me, Permission},
    components::{
        change::{Change, ChangeOutcome, Changes, ConfirmChange},
        format_time,
        list::{CheckFilter, FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
        ByPath, StatusBadge,
    },
    domain::ComplianceStatus,
    error::AppError,
    payments::{Check, Payment},
};

#[component]
pub fn CompliancePage() -> impl IntoView {
    let export = use_context::<Me>().is_some_and(|m| m.can(Permission::ExportCsv));
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(ComplianceQuery::from_params).queue_by_default());
    view! {
        <Title text="Compliance · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Compliance review"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Screening hits waiting for a reviewer's decision, oldest first; open a case to claim and decide it."
            </p>
        </header>
        <Filters query/>
        <ListRows
            query
            fetch=list_compliance
            table=move |list, query| view! { <QueueTable list query export/> }
            reset_label="Show the review queue"
        />
    }
}

#[component]
fn Filters(query: Memo<ComplianceQuery>) -> impl IntoView {
    let types = || CHECK_TYPES.map(|t| (t, check_name(t))).to_vec();
    let statuses = || {
        ComplianceStatus::ALL
            .map(|s| (s.as_str(), s.as_str()))
            .to_vec()
    };
    let shows = || vec![("true", "Awaiting review"), ("any", "All checks")];
    let sorts = || {
        ComplianceSort::ALL
            .map(|s| (s.as_str(), s.label()))
            .to_vec()
    };
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/compliance" label="Filter compliance checks">
                <SelectFilter name="requires_review" label="Show" options=shows() value=q.requires_review/>
                <CheckFilter name="check_type" label="Check type" options=types() value=q.check_type/>
                <CheckFilter name="status" label="Status" options=statuses() value=q.status/>
                <TextFilter name="min_risk" label="Minimum risk score" value=q.min_risk kind="number"/>
                <TextFilter name="matched_list" label="Matched list" value=q.matched_list placeholder="OFAC-SDN"/>
                <TextFilter name="bank" label="Bank (sender or receiver)" value=q.bank placeholder="BIC or part of a name"/>
                <TextFilter name="from" label="Started from (UTC)" value=q.from kind="datetime-local"/>
                <TextFilter name="to" label="Started before (UTC)" value=q.to kind="datetime-local"/>
                <SelectFilter name="sort" label="Sort" options=sorts() value=q.sort/>
            </FilterForm>
        }
    }
}

#[component]
fn QueueTable(list: ComplianceList, query: ComplianceQuery, export: bool) -> impl IntoView {
    let ComplianceList { page, total } = list;
    let columns = vec![
        "Check",
        "Age",
        "Status",
        "Risk",
        "Matched lists",
        "Payment",
        "Amount",
        "Sender",
        "Receiver",
        "Review",
    ];
    view! {
        <p class="mb-2 text-sm" role="status">{total.describe("check", "checks")}</p>
        <ListTable
            label="Compliance checks"
            columns
            empty="No compliance checks match these filters."
            is_empty=page.rows.is_empty()
            pages=query.pages(page.next)
            export=export.then(|| query.download("/downloads/compliance.csv"))
        >
            {page.rows.into_iter().map(|c| view! { <QueueLine c/> }).collect_view()}
        </ListTable>
    }
}

#[component]
fn QueueLine(c: ComplianceRow) -> impl IntoView {
    let money = c.money();
    let review = if c.pending_approval {
        "pass pending approval".to_string()
    } else if let Some(by) = &c.claimed_by {
        format!("being reviewed by {by}")
    } else if c.requires_review && c.reviewed_at.is_none() {
        "awaiting review".into()
    } else {
        "—".into()
    };
    let case = format!(
        "{} check of {}",
        check_name(&c.check_type),
        c.payment_reference
    );
    view! {
        <tr>
            <td><a class="link" href=format!("/compliance/{}", c.id) aria-label=case>{check_name(&c.check_type)}</a></td>
            <td class="whitespace-nowrap" title=format_time(Some(c.started_at))>{age(c.age_seconds)}</td>
            <td>{c.status.as_str()}</td>
            <td class="text-right tabular-nums">{c.risk_score.map(|r| r.to_string()).unwrap_or_else(|| "—".into())}</td>
            <td>{lists(&c.matched_lists)}</td>
            <td><a class="link" href=format!("/payments/{}", c.payment_id)>{c.payment_reference}</a></td>
            <td class="text-right tabular-nums whitespace-nowrap">{money}</td>
            <td><a class="link" href=format!("/banks/{}", c.sender_bank_id)>{c.sender_bic}</a></td>
            <td><a class="link" href=format!("/banks/{}", c.receiver_bank_id)>{c.receiver_bic}</a></td>
            <td>{review}</td>
        </tr>
    }
}

fn lists(l: &[String]) -> String {
    if l.is_empty() {
        "—".into()
    } else {
        l.join(", ")
    }
}

/// A change of a case, once its fields are filled in.
#[derive(Debug, Clone, PartialEq)]
enum CaseOp {
    Claim {
        id: String,
    },
    Decide {
        id: String,
        decision: String,
        note: String,
    },
    Approve {
        id: String,
        note: String,
    },
    Reject {
        id: String,
        note: String,
    },
}

impl Change for CaseOp {
    fn question(&self) -> String {
        match self {
            CaseOp::Claim { .. } => format!(
                "Claim this case? Nobody else can decide it for {CLAIM_MINUTES} minutes unless you do."
            ),
            CaseOp::Decide { decision, .. } if decision == "fail" => {
                "Fail this check? A payment that has not settled is stopped (failed) and its reserved funds released.".into()
            }
            CaseOp::Decide { .. } => "Pass this check? The payment goes on as it is.".into(),
            CaseOp::Approve { .. } => "Approve this pass? The check passes.".into(),
            CaseOp::Reject { .. } => {
                "Reject this pass? The check goes back to the queue, undecided.".into()
            }
        }
    }

    async fn run(self) -> Result<String, AppError> {
        match self {
            CaseOp::Claim { id } => {
                let claim = claim_case(id).await?;
                Ok(format!(
                    "You hold this case until {}.",
                    format_time(Some(claim.expires_at))
                ))
            }
            CaseOp::Decide { id, decision, note } => {
                let outcome = review_case(id, decision, note).await?;
                Ok(match outcome.outcome {
                    ReviewResult::PendingApproval => {
                        "Pass recorded; it waits for a second reviewer's approval.".into()
                    }
                    ReviewResult::Decided => format!(
                        "Check decided: {}. The payment is {}.",
                        outcome.check_status.as_str(),
                        outcome.payment_status.as_str()
                    ),
                })
            }
            CaseOp::Approve { id, note } => {
                approve_case(id, note).await?;
                Ok("Pass approved; the check passed.".into())
            }
            CaseOp::Reject { id, note } => {
                reject_case(id, note).await?;
                Ok("Pass rejected; the check is back in the queue.".into())
            }
        }
    }
}

#[component]
pub fn CasePage() -> impl IntoView {
    let changes = Changes::<CaseOp>::default();
    let reload = changes.version;
    view! {
        <Title text="Compliance case · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/compliance">"← Compliance review"</a></p>
        <ChangeOutcome changes/>
        <ConfirmChange changes/>
        <ByPath param="id" fetch=get_case reload show=move |case| view! { <CaseView case changes/> }/>
    }
}

#[component]
fn CaseView(case: Case, changes: Changes<CaseOp>) -> impl IntoView {
    let Case {
        check,
        payment,
        other_checks,
        sender_history,
        claim,
        pending_approval,
    } = case;
    let reviewer = use_context::<Me>().is_some_and(|m| m.can(Permission::ComplianceReview));
    let awaiting = check.awaiting();
    let id = check.id.to_string();
    let held_by_other = claim.as_ref().filter(|c| !c.mine).map(|c| {
        format!(
            "Being reviewed by {} since {} (until {}).",
            c.claimed_by,
            format_time(Some(c.claimed_at)),
            format_time(Some(c.expires_at))
        )
    });
    let mine = claim.as_ref().filter(|c| c.mine).map(|c| {
        format!(
            "You are reviewing this case until {}.",
            format_time(Some(c.expires_at))
        )
    });
    let may_act = reviewer && awaiting && held_by_other.is_none();
    let can_decide = may_act && pending_approval.is_none();
    let claim_label = if mine.is_some() {
        "Renew claim"
    } else {
        "Claim this case"
    };
    let claim_id = id.clone();
    view! {
        <header class="mb-4 flex flex-wrap items-center gap-3">
            <h1 class="text-2xl font-semibold">{format!("{} check of {}", check_name(&check.check_type), payment.payment_reference)}</h1>
            <span class="badge bg-slate-200 dark:bg-slate-700">{check.status.as_str()}</span>
        </header>
        <section class="card mb-4" aria-label="Review">
            <h2 class="mb-2 font-semibold">"Review"</h2>
            <p class="mb-2 text-sm">
                {if !awaiting {
                    "This check has a decision; nothing is waiting for a reviewer.".to_string()
                } else {
                    held_by_other
                        .clone()
                        .or(mine.clone())
                        .unwrap_or_else(|| "Nobody is reviewing this case.".into())
                }}
            </p>
            {may_act.then(|| view! {
                <button type="button" class="chip mb-3" on:click=move |_| changes.ask(CaseOp::Claim { id: claim_id.clone() })>
                    {claim_label}
                </button>
            })}
            {pending_approval.map(|a| {
                let waiting = format!(
                    "Pass pending approval: {} passed it at {}: {}",
                    a.requested_by,
                    format_time(Some(a.requested_at)),
                    a.note
                );
                view! {
                    <p class="mb-2 rounded bg-amber-50 p-3 text-amber-900 dark:bg-amber-950 dark:text-amber-100">{waiting}</p>
                    {(reviewer && awaiting).then(|| view! { <ApprovalForm id=id.clone() own=a.mine blocked=held_by_other.is_some() changes/> })}
                }
            })}
            {can_decide.then(|| view! { <DecisionForm id=id.clone() changes/> })}
        </section>
        <CheckFields check/>
        <PaymentFields payment/>
        <OtherChecks checks=other_checks/>
        <SenderHistory rows=sender_history/>
    }
}

/// The note, the decision and "Record decision", which asks to confirm.
#[component]
fn DecisionForm(id: String, changes: Changes<CaseOp>) -> impl IntoView {
    let note = RwSignal::new(String::new());
    let decision = RwSignal::new("fail".to_string());
    let id = StoredValue::new(id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        changes.ask(CaseOp::Decide {
            id: id.get_value(),
            decision: decision.get_untracked(),
            note: note.get_untracked(),
        });
    };
    view! {
        <form aria-label="Decide this case" on:submit=submit>
            <label class="field-label" for="review-decision">"Decision"</label>
            <select
                class="field mb-2"
                id="review-decision"
                name="decision"
                on:change=move |ev| decision.set(event_target_value(&ev))
            >
                <option value="fail" selected=true>"Fail: stop the payment"</option>
                <option value="pass">"Pass: let the payment go on"</option>
            </select>
            <label class="field-label" for="review-note">"Review note"</label>
            <textarea
                class="field mb-2"
                id="review-note"
                name="note"
                required
                minlength="10"
                maxlength=MAX_NOTE.to_string()
                prop:value=move || note.get()
                on:input=move |ev| note.set(event_target_value(&ev))
            ></textarea>
            <button type="submit" class="btn-primary">"Record decision"</button>
        </form>
    }
}

/// A second reviewer's note with Approve and Reject; for the first reviewer, both disabled
/// with the reason.
#[component]
fn ApprovalForm(id: String, own: bool, blocked: bool, changes: Changes<CaseOp>) -> impl IntoView {
    let note = RwSignal::new(String::new());
    let id = StoredValue::new(id);
    let disabled = own || blocked;
    let why = if own {
        Some("Your own decision needs a second reviewer.")
    } else if blocked {
        Some("Someone else is reviewing this case.")
    } else {
        None
    };
    let ask = move |approve: bool| {
        let (id, note) = (id.get_value(), note.get_untracked());
        changes.ask(if approve {
            CaseOp::Approve { id, note }
        } else {
            CaseOp::Reject { id, note }
        });
    };
    view! {
        <form aria-label="Approve or reject this pass" on:submit=|ev| ev.prevent_default()>
            <label class="field-label" for="approval-note">"Approval note"</label>
            <textarea
                class="field mb-2"
                id="approval-note"
                name="note"
                disabled=disabled
                maxlength=MAX_NOTE.to_string()
                prop:value=move || note.get()
                on:input=move |ev| note.set(event_target_value(&ev))
            ></textarea>
            {why.map(|w| view! { <p id="approval-why" class="mb-2 text-sm">{w}</p> })}
            <div class="flex gap-2">
                <button type="button" class="btn-primary" disabled=disabled aria-describedby=why.map(|_| "approval-why") on:click=move |_| ask(true)>"Approve pass"</button>
                <button type="button" class="chip" disabled=disabled aria-describedby=why.map(|_| "approval-why") on:click=move |_| ask(false)>"Reject pass"</button>
            </div>
        </form>
    }
}

#[component]
fn CheckFields(check: CaseCheck) -> impl IntoView {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let fields: Vec<(&'static str, String)> = vec![
        ("Check type", check_name(&check.check_type).into()),
        ("Status", check.status.as_str().into()),
        ("Risk score", dash(check.risk_score.map(|r| r.to_string()))),
        ("Matched lists", lists(&check.matched_lists)),
        (
            "Needs a review",
            if check.requires_review { "yes" } else { "no" }.into(),
        ),
        ("Started", format_time(Some(check.started_at))),
        ("Completed", format_time(check.completed_at)),
        ("Reviewed by", dash(check.reviewed_by.clone())),
        ("Reviewed", format_time(check.reviewed_at)),
        ("Review note", dash(check.review_notes.clone())),
        ("Id", check.id.to_string()),
    ];
    view! {
        <section class="card mb-4" aria-label="Check">
            <h2 class="mb-2 font-semibold">"The check"</h2>
            <dl class="grid gap-x-6 gap-y-2 sm:grid-cols-[14rem_1fr] text-sm">
                {fields.into_iter().map(|(k, v)| view! {
                    <dt class="font-medium text-slate-500 dark:text-slate-400">{k}</dt>
                    <dd class="break-all">{v}</dd>
                }).collect_view()}
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Flags"</dt>
                <dd><pre class="whitespace-pre-wrap break-all text-xs" aria-label="Flags">{check.flags}</pre></dd>
            </dl>
        </section>
    }
}

#[component]
fn PaymentFields(payment: Payment) -> impl IntoView {
    let p = payment;
    let money = p.money();
    view! {
        <section class="card mb-4" aria-label="Payment">
            <h2 class="mb-2 font-semibold">"The payment"</h2>
            <dl class="grid gap-x-6 gap-y-2 sm:grid-cols-[14rem_1fr] text-sm">
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Reference"</dt>
                <dd><a class="link" href=format!("/payments/{}", p.id)>{p.payment_reference.clone()}</a></dd>
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Status"</dt>
                <dd><StatusBadge status=p.status/></dd>
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Amount"</dt>
                <dd class="tabular-nums">{money}</dd>
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Sender bank"</dt>
                <dd><a class="link" href=format!("/banks/{}", p.sender_bank_id)>{format!("{} · {}", p.sender_bic, p.sender_name)}</a></dd>
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Receiver bank"</dt>
                <dd><a class="link" href=format!("/banks/{}", p.receiver_bank_id)>{format!("{} · {}", p.receiver_bic, p.receiver_name)}</a></dd>
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Remittance information"</dt>
                <dd>{p.remittance_info.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Created"</dt>
                <dd>{format_time(Some(p.created_at))}</dd>
                <dt class="font-medium text-slate-500 dark:text-slate-400">"Failure reason"</dt>
                <dd>{p.failure_reason.clone().unwrap_or_else(|| "—".into())}</dd>
            </dl>
        </section>
    }
}

#[component]
fn OtherChecks(checks: Vec<Check>) -> impl IntoView {
    view! {
        <section class="card mb-4 overflow-x-auto">
            <h2 class="mb-2 font-semibold">"The payment's other checks"</h2>
            <table class="data-table" aria-label="Other checks of this payment">
                <thead><tr>
                    <th scope="col">"Check"</th><th scope="col">"Result"</th><th scope="col">"Risk"</th>
                    <th scope="col">"Matched lists"</th><th scope="col">"Started"</th>
                </tr></thead>
                <tbody>
                    {checks.is_empty().then(|| view! { <tr><td colspan="5">"No other checks."</td></tr> })}
                    {checks.into_iter().map(|c| view! {
                        <tr>
                            <td><a class="link" href=format!("/compliance/{}", c.id)>{check_name(&c.check_type)}</a></td>
                            <td>{c.status.as_str()}</td>
                            <td class="tabular-nums">{c.risk_score.map(|r| r.to_string()).unwrap_or_else(|| "—".into())}</td>
                            <td>{lists(&c.matched_lists)}</td>
                            <td class="whitespace-nowrap">{format_time(Some(c.started_at))}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn SenderHistory(rows: Vec<EarlierCheck>) -> impl IntoView {
    view! {
        <section class="card mb-4 overflow-x-auto">
            <h2 class="mb-2 font-semibold">"Earlier checks of the sender bank (last 20)"</h2>
            <table class="data-table" aria-label="Earlier checks of the sender bank">
                <thead><tr>
                    <th scope="col">"Started"</th><th scope="col">"Check"</th><th scope="col">"Result"</th>
                    <th scope="col">"Risk"</th><th scope="col">"Matched lists"</th><th scope="col">"Payment"</th>
                </tr></thead>
                <tbody>
                    {rows.is_empty().then(|| view! { <tr><td colspan="6">"No earlier checks."</td></tr> })}
                    {rows.into_iter().map(|c| view! {
                        <tr>
                            <td class="whitespace-nowrap">{format_time(Some(c.started_at))}</td>
                            <td><a class="link" href=format!("/compliance/{}", c.id)>{check_name(&c.check_type)}</a></td>
                            <td>{c.status.as_str()}</td>
                            <td class="tabular-nums">{c.risk_score.map(|r| r.to_string()).unwrap_or_else(|| "—".into())}</td>
                            <td>{lists(&c.matched_lists)}</td>
                            <td><a class="link" href=format!("/payments/{}", c.payment_id)>{c.payment_reference}</a></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
