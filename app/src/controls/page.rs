//! The Controls pages: what is in force with its Redis copy read live, the requests waiting
//! for a second person, the rate limits with their live counters, the order form (also on a
//! bank's page, for the bank and its accounts), reconcile, and the history.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    api::{
        act_on_control, decide_control_request, get_controls, list_control_history,
        look_up_idempotency_key, reconcile_controls, reset_circuit,
    },
    Circuit, Control, ControlOrder, ControlRequest, ControlsOverview, CopyState, EntityType,
    HistoryList, HistoryQuery, HistoryRow, IdempotencyRecord, RateLimit, Verb, MAX_REASON,
};
use crate::{
    auth::{Me, Permission},
    components::{
        change::{Change, ChangeOutcome, Changes, ConfirmChange},
        format_time,
        list::{FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
        ErrorPanel, Loading,
    },
    error::AppError,
};

/// A change the Controls page (or a bank's page) confirms first.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlOp {
    Order {
        order: ControlOrder,
        label: String,
    },
    Decide {
        request: ControlRequest,
        approve: bool,
        note: String,
    },
    Reconcile,
    ResetCircuit {
        service: String,
        reason: String,
    },
}

impl Change for ControlOp {
    fn question(&self) -> String {
        match self {
            ControlOp::Order { order, label } => {
                let verb = order.action.parse::<Verb>().ok();
                let then = match verb {
                    Some(v) if v.needs_approval() => " It waits for another operator's approval.",
                    _ => " It takes effect at once.",
                };
                format!("{} {label}?{then}", capitalised(&order.action))
            }
            ControlOp::Decide {
                request, approve, ..
            } => format!(
                "{} the request to {} {}?",
                if *approve { "Approve" } else { "Reject" },
                request.verb,
                request.entity.label
            ),
            ControlOp::Reconcile => {
                "Compare every Redis copy with Postgres and repair what differs?".into()
            }
            ControlOp::ResetCircuit { service, .. } => format!(
                "Close the circuit of {service}? The service sends to its peer again at once."
            ),
        }
    }

    async fn run(self) -> Result<String, AppError> {
        match self {
            ControlOp::Order { order, .. } => act_on_control(order).await,
            ControlOp::Decide {
                request,
                approve,
                note,
            } => decide_control_request(request.id.to_string(), approve, note).await,
            ControlOp::Reconcile => Ok(reconcile_controls().await?.describe()),
            ControlOp::ResetCircuit { service, reason } => reset_circuit(service, reason).await,
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn may(permission: Permission) -> bool {
    use_context::<Me>().is_some_and(|m| m.can(permission))
}

#[component]
pub fn ControlsPage() -> impl IntoView {
    let changes = Changes::<ControlOp>::default();
    let version = changes.version;
    let overview = Resource::new(move || version.get(), |_| get_controls());
    let form = OrderFields::default();
    view! {
        <Title text="Controls · DelTran Console"/>
        <header class="mb-6 flex flex-wrap items-end justify-between gap-3">
            <div>
                <h1 class="text-2xl font-semibold">"Controls"</h1>
                <p class="text-sm text-slate-500 dark:text-slate-400">
                    "Freezes, throttles and blocks in force, in Postgres and in the Redis copy the payment services read."
                </p>
            </div>
            <div class="flex gap-3">
                <a class="link" href="/controls/history">"History of controls"</a>
                {may(Permission::ControlsApply).then(|| view! {
                    <button type="button" class="chip" on:click=move |_| changes.ask(ControlOp::Reconcile)>
                        "Reconcile Redis"
                    </button>
                })}
            </div>
        </header>
        <ChangeOutcome changes/>
        <ConfirmChange changes/>
        {may(Permission::ControlsApply).then(|| view! { <OrderForm form changes targets=None/> })}
        <Transition fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move {
                    overview.await.map(|o| view! { <Overview o changes form/> })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn Overview(o: ControlsOverview, changes: Changes<ControlOp>, form: OrderFields) -> impl IntoView {
    let ControlsOverview {
        controls,
        requests,
        rate_limits,
        circuits,
        redis_up,
    } = o;
    view! {
        {(!redis_up).then(|| view! {
            <p role="alert" class="mb-4 rounded bg-amber-50 p-3 text-amber-900 dark:bg-amber-950 dark:text-amber-100">
                "Redis is not answering: the copies cannot be read. Postgres' controls stand; reconcile writes the copies once Redis is back."
            </p>
        })}
        <InForce controls form/>
        <Requests requests changes/>
        <Limits rate_limits/>
        <Circuits circuits changes/>
        <IdempotencyLookup/>
    }
}

#[component]
fn Circuits(circuits: Vec<Circuit>, changes: Changes<ControlOp>) -> impl IntoView {
    let apply = may(Permission::ControlsApply);
    let mut columns = vec!["Service", "State", "Failures", "Opened at"];
    if apply {
        columns.push("Reset");
    }
    view! {
        <section class="mb-8">
            <h2 class="mb-2 text-lg font-semibold">"Circuit breakers"</h2>
            <ListTable label="Circuit breakers" columns empty="No circuit breakers in Redis." is_empty=circuits.is_empty() pages=(None, None) export=None>
                {circuits.into_iter().map(|c| {
                    let reason = RwSignal::new(String::new());
                    let service = StoredValue::new(c.service.clone());
                    let id = format!("circuit-reason-{}", c.service);
                    let closed = c.state == "closed";
                    view! {
                        <tr>
                            <td>{c.service.clone()}</td>
                            <td>{c.state.clone()}</td>
                            <td class="tabular-nums">{c.failures.map(|f| f.to_string()).unwrap_or_else(|| "—".into())}</td>
                            <td>{c.opened_at.clone().unwrap_or_else(|| "—".into())}</td>
                            {apply.then(|| if closed {
                                view! { <td class="text-sm text-slate-500">"closed"</td> }.into_any()
                            } else {
                                view! {
                                    <td class="min-w-64">
                                        <label class="field-label" for=id.clone()>{format!("Reason to close {}", c.service)}</label>
                                        <input class="field mb-2" id=id maxlength=MAX_REASON.to_string()
                                            prop:value=move || reason.get()
                                            on:input=move |ev| reason.set(event_target_value(&ev))/>
                                        <button type="button" class="chip" on:click=move |_| changes.ask(ControlOp::ResetCircuit {
                                            service: service.get_value(),
                                            reason: reason.get_untracked(),
                                        })>"Close circuit"</button>
                                    </td>
                                }.into_any()
                            })}
                        </tr>
                    }
                }).collect_view()}
            </ListTable>
        </section>
    }
}

/// Looks up an idempotency key in Redis and in Postgres.
#[component]
fn IdempotencyLookup() -> impl IntoView {
    let key = RwSignal::new(String::new());
    let lookup = Action::new(|key: &String| look_up_idempotency_key(key.clone()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        lookup.dispatch(key.get_untracked());
    };
    view! {
        <section class="mb-8">
            <h2 class="mb-2 text-lg font-semibold">"Idempotency keys"</h2>
            <form class="card mb-2 flex flex-wrap items-end gap-3" aria-label="Look up an idempotency key" on:submit=submit>
                <div class="min-w-72 grow">
                    <label class="field-label" for="idempotency-key">"Idempotency key"</label>
                    <input class="field" id="idempotency-key" required maxlength="200"
                        prop:value=move || key.get()
                        on:input=move |ev| key.set(event_target_value(&ev))/>
                </div>
                <button type="submit" class="btn-primary">"Look up"</button>
            </form>
            <div role="status">
                {move || lookup.value().get().map(|answer| match answer {
                    Ok(record) => view! { <IdempotencyAnswer record/> }.into_any(),
                    Err(e) => view! { <p class="text-rose-700 dark:text-rose-300">{e.to_string()}</p> }.into_any(),
                })}
            </div>
        </section>
    }
}

#[component]
fn IdempotencyAnswer(record: IdempotencyRecord) -> impl IntoView {
    let agrees = record.agrees();
    let redis = match (&record.redis_payment_id, record.ttl) {
        (Some(id), ttl) => format!(
            "Redis: payment {id}{}{}",
            record
                .redis_status
                .as_ref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default(),
            ttl.map(|t| format!(", forgotten in {t}s"))
                .unwrap_or_default()
        ),
        (None, _) => "Redis: no such key (never written, or its 24 hours are over).".into(),
    };
    let postgres = match (&record.payment_id, &record.payment_reference) {
        (Some(id), Some(reference)) => view! {
            <p>"Postgres: payment "<a class="link" href=format!("/payments/{id}")>{reference.clone()}</a>
               {format!(", {}", record.payment_status.clone().unwrap_or_default())}</p>
        }.into_any(),
        _ => view! { <p>"Postgres: no payment has this key."</p> }.into_any(),
    };
    view! {
        <div class="card text-sm">
            <p>{redis}</p>
            {postgres}
            {record.redis_payment_id.is_some().then(|| view! {
                <p class=if agrees { "text-emerald-700 dark:text-emerald-300" } else { "text-amber-700 dark:text-amber-300" }>
                    {if agrees { "Redis and Postgres agree." } else { "Redis and Postgres disagree." }}
                </p>
            })}
        </div>
    }
}

#[component]
fn InForce(controls: Vec<Control>, form: OrderFields) -> impl IntoView {
    let apply = may(Permission::ControlsApply);
    let mut columns = vec![
        "Entity",
        "Control",
        "Reason",
        "Set by",
        "Since",
        "Until",
        "Redis copy",
    ];
    if apply {
        columns.push("Lift");
    }
    view! {
        <section class="mb-8">
            <h2 class="mb-2 text-lg font-semibold">"In force"</h2>
            <ListTable label="Controls in force" columns empty="No controls are in force." is_empty=controls.is_empty() pages=(None, None) export=None>
                {controls.into_iter().map(|c| view! { <ControlLine c form apply/> }).collect_view()}
            </ListTable>
        </section>
    }
}

#[component]
fn ControlLine(c: Control, form: OrderFields, apply: bool) -> impl IntoView {
    let what = match (c.limit_value, c.window_seconds) {
        (Some(l), Some(w)) => format!("{} ({l} per {w}s)", c.kind),
        _ => c.kind.to_string(),
    };
    let copy = match (c.redis, c.redis_ttl) {
        (CopyState::InSync, Some(ttl)) => format!("in sync, TTL {ttl}s"),
        (CopyState::Missing, _) => "missing: pending, reconcile writes it".into(),
        (state, _) => state.label().into(),
    };
    let lift = Verb::lifting(c.kind);
    let entity = c.entity.clone();
    view! {
        <tr>
            <td><EntityName entity=c.entity.clone()/></td>
            <td>{what}</td>
            <td>{c.reason.clone().unwrap_or_default()}</td>
            <td>{c.set_by.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="whitespace-nowrap">{format_time(Some(c.since))}</td>
            <td class="whitespace-nowrap">{c.until.map(|t| format_time(Some(t))).unwrap_or_else(|| "until lifted".into())}</td>
            <td data-redis=format!("{:?}", c.redis)>{copy}</td>
            {apply.then(|| view! {
                <td>
                    <button
                        type="button"
                        class="chip"
                        on:click=move |_| form.prefill(entity.entity_type, &entity.entity_id, lift)
                    >
                        {format!("{}…", capitalised(lift.as_str()))}
                    </button>
                </td>
            })}
        </tr>
    }
}

#[component]
fn EntityName(entity: super::Entity) -> impl IntoView {
    let text = format!(
        "{} {}",
        entity.entity_type.as_str().replace('_', " "),
        entity.label
    );
    match entity.href() {
        Some(href) => view! { <a class="link" href=href>{text}</a> }.into_any(),
        None => view! { <span>{text}</span> }.into_any(),
    }
}

#[component]
fn Requests(requests: Vec<ControlRequest>, changes: Changes<ControlOp>) -> impl IntoView {
    let approve = may(Permission::ControlsApprove);
    let mut columns = vec![
        "Entity",
        "Request",
        "Reason",
        "Requested by",
        "At",
        "Expires",
    ];
    if approve {
        columns.push("Decision");
    }
    view! {
        <section class="mb-8">
            <h2 class="mb-2 text-lg font-semibold">"Waiting for approval"</h2>
            <ListTable label="Requests waiting for approval" columns empty="No requests are waiting." is_empty=requests.is_empty() pages=(None, None) export=None>
                {requests.into_iter().map(|r| view! { <RequestLine r changes approve/> }).collect_view()}
            </ListTable>
        </section>
    }
}

#[component]
fn RequestLine(r: ControlRequest, changes: Changes<ControlOp>, approve: bool) -> impl IntoView {
    let me = use_context::<Me>().map(|m| m.username).unwrap_or_default();
    let own = r.requested_by.as_deref() == Some(me.as_str());
    let note = RwSignal::new(String::new());
    let request = StoredValue::new(r.clone());
    let decide = move |approve: bool| {
        changes.ask(ControlOp::Decide {
            request: request.get_value(),
            approve,
            note: note.get_untracked(),
        })
    };
    let note_id = format!("note-{}", r.id);
    view! {
        <tr>
            <td><EntityName entity=r.entity.clone()/></td>
            <td>{r.verb.as_str()}{r.block_until.map(|t| format!(" until {}", format_time(Some(t))))}</td>
            <td>{r.reason.clone()}</td>
            <td>{r.requested_by.clone().unwrap_or_default()}</td>
            <td class="whitespace-nowrap">{format_time(Some(r.requested_at))}</td>
            <td class="whitespace-nowrap">{format_time(Some(r.expires_at))}</td>
            {approve.then(|| if own {
                view! {
                    <td>
                        <button type="button" class="chip" disabled title="Your own request: another operator must approve it">"Approve"</button>
                        <p class="text-xs text-slate-500">"Your own request: it needs a second approver."</p>
                    </td>
                }.into_any()
            } else {
                view! {
                    <td class="min-w-64">
                        <label class="field-label" for=note_id.clone()>{format!("Note on the request to {} {}", r.verb, r.entity.label)}</label>
                        <textarea
                            class="field mb-2"
                            id=note_id
                            maxlength=MAX_REASON.to_string()
                            prop:value=move || note.get()
                            on:input=move |ev| note.set(event_target_value(&ev))
                        ></textarea>
                        <div class="flex gap-2">
                            <button type="button" class="btn-primary" on:click=move |_| decide(true)>"Approve"</button>
                            <button type="button" class="chip" on:click=move |_| decide(false)>"Reject"</button>
                        </div>
                    </td>
                }.into_any()
            })}
        </tr>
    }
}

#[component]
fn Limits(rate_limits: Vec<RateLimit>) -> impl IntoView {
    let columns = vec!["Entity", "Limit", "Kind", "Count now", "Window left"];
    view! {
        <section class="mb-8">
            <h2 class="mb-2 text-lg font-semibold">"Rate limits"</h2>
            <ListTable label="Rate limits" columns empty="No rate limits are set." is_empty=rate_limits.is_empty() pages=(None, None) export=None>
                {rate_limits.into_iter().map(|l| view! {
                    <tr>
                        <td><EntityName entity=l.entity.clone()/></td>
                        <td>{format!("{}: {} per {}s", l.limit_type, l.limit_value, l.window_seconds)}</td>
                        <td>{if l.throttle { "throttle" } else { "standing" }}</td>
                        <td class="tabular-nums">{l.count.map(|c| format!("{c} / {}", l.limit_value)).unwrap_or_else(|| "—".into())}</td>
                        <td class="tabular-nums">{l.window_left.map(|s| format!("{s}s")).unwrap_or_else(|| "—".into())}</td>
                    </tr>
                }).collect_view()}
            </ListTable>
        </section>
    }
}

/// The order form's fields, so that a row's "Unfreeze…" can fill them in.
#[derive(Debug, Clone, Copy)]
pub struct OrderFields {
    target: RwSignal<String>,
    entity_type: RwSignal<String>,
    entity_id: RwSignal<String>,
    action: RwSignal<String>,
    reason: RwSignal<String>,
    expires_at: RwSignal<String>,
    limit_value: RwSignal<String>,
    window_seconds: RwSignal<String>,
}

impl Default for OrderFields {
    fn default() -> Self {
        OrderFields {
            target: RwSignal::new(String::new()),
            entity_type: RwSignal::new("bank".into()),
            entity_id: RwSignal::new(String::new()),
            action: RwSignal::new("freeze".into()),
            reason: RwSignal::new(String::new()),
            expires_at: RwSignal::new(String::new()),
            limit_value: RwSignal::new(String::new()),
            window_seconds: RwSignal::new("60".into()),
        }
    }
}

impl OrderFields {
    fn prefill(&self, entity_type: EntityType, entity_id: &str, verb: Verb) {
        self.entity_type.set(entity_type.as_str().into());
        self.entity_id.set(entity_id.into());
        self.target
            .set(format!("{}:{entity_id}", entity_type.as_str()));
        self.action.set(verb.as_str().into());
        if let Some(form) = document().get_element_by_id("control-reason") {
            use leptos::wasm_bindgen::JsCast;
            if let Ok(field) = form.dyn_into::<leptos::web_sys::HtmlElement>() {
                let _ = field.focus();
            }
        }
    }

    fn order(&self) -> ControlOrder {
        let number = |s: RwSignal<String>| s.get_untracked().trim().parse::<i64>().ok();
        let (entity_type, entity_id) = match self.target.get_untracked().split_once(':') {
            Some((t, id)) => (t.to_string(), id.to_string()),
            None => (
                self.entity_type.get_untracked(),
                self.entity_id.get_untracked(),
            ),
        };
        let throttle = self.action.get_untracked() == "throttle";
        ControlOrder {
            entity_type,
            entity_id,
            action: self.action.get_untracked(),
            reason: self.reason.get_untracked(),
            expires_at: Some(self.expires_at.get_untracked()).filter(|s| !s.trim().is_empty()),
            limit_value: throttle.then(|| number(self.limit_value)).flatten(),
            window_seconds: throttle.then(|| number(self.window_seconds)).flatten(),
        }
    }
}

/// Freeze, throttle, block (and lifting each): the entity (typed in, or one of `targets`:
/// `(type, id, label)`), the action, a reason, an optional expiry and a throttle's limit;
/// confirmed before it runs.
#[component]
pub fn OrderForm(
    form: OrderFields,
    changes: Changes<ControlOp>,
    targets: Option<Vec<(EntityType, String, String)>>,
) -> impl IntoView {
    let labels = StoredValue::new(targets.clone().unwrap_or_default());
    if let Some((t, id, _)) = targets.as_ref().and_then(|t| t.first()) {
        form.target.set(format!("{}:{id}", t.as_str()));
    }
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let order = form.order();
        let label = labels
            .get_value()
            .into_iter()
            .find(|(t, id, _)| t.as_str() == order.entity_type && *id == order.entity_id)
            .map(|(_, _, label)| label)
            .unwrap_or_else(|| {
                format!(
                    "{} {}",
                    order.entity_type.replace('_', " "),
                    order.entity_id
                )
            });
        changes.ask(ControlOp::Order { order, label });
    };
    let field =
        |label: &'static str, id: &'static str, signal: RwSignal<String>, kind: &'static str| {
            view! {
                <div>
                    <label class="field-label" for=id>{label}</label>
                    <input
                        class="field"
                        id=id
                        type=kind
                        prop:value=move || signal.get()
                        on:input=move |ev| signal.set(event_target_value(&ev))
                    />
                </div>
            }
        };
    let throttle = move || form.action.get() == "throttle";
    view! {
        <form class="card mb-6 flex flex-wrap items-end gap-3" aria-label="Set or lift a control" on:submit=submit>
            {match targets {
                Some(targets) => view! {
                    <div>
                        <label class="field-label" for="control-target">"Apply to"</label>
                        <select class="field" id="control-target" prop:value=move || form.target.get() on:change=move |ev| form.target.set(event_target_value(&ev))>
                            {targets.into_iter().map(|(t, id, label)| {
                                let value = format!("{}:{id}", t.as_str());
                                view! { <option value=value>{format!("{} {label}", t.as_str())}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                }.into_any(),
                None => view! {
                    <div>
                        <label class="field-label" for="control-entity-type">"Entity type"</label>
                        <select class="field" id="control-entity-type" prop:value=move || form.entity_type.get() on:change=move |ev| form.entity_type.set(event_target_value(&ev))>
                            {EntityType::ALL.map(|t| view! { <option value=t.as_str()>{t.as_str().replace('_', " ")}</option> }).collect_view()}
                        </select>
                    </div>
                    {field("Entity id", "control-entity-id", form.entity_id, "text")}
                }.into_any(),
            }}
            <div>
                <label class="field-label" for="control-action">"Action"</label>
                <select class="field" id="control-action" prop:value=move || form.action.get() on:change=move |ev| form.action.set(event_target_value(&ev))>
                    {Verb::ALL.map(|v| {
                        let label = if v.needs_approval() { format!("{v} (needs a second approver)") } else { v.to_string() };
                        view! { <option value=v.as_str()>{label}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="min-w-72 grow">
                <label class="field-label" for="control-reason">"Reason"</label>
                <input
                    class="field"
                    id="control-reason"
                    required
                    maxlength=MAX_REASON.to_string()
                    prop:value=move || form.reason.get()
                    on:input=move |ev| form.reason.set(event_target_value(&ev))
                />
            </div>
            {field("Expires (UTC, optional)", "control-expires", form.expires_at, "datetime-local")}
            <Show when=throttle>
                {field("Payments per window", "control-limit", form.limit_value, "number")}
                {field("Window (seconds)", "control-window", form.window_seconds, "number")}
            </Show>
            <button type="submit" class="btn-primary">"Submit"</button>
        </form>
    }
}

#[component]
pub fn ControlHistoryPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(HistoryQuery::from_params));
    view! {
        <Title text="History of controls · DelTran Console"/>
        <p class="mb-4"><a class="link" href="/controls">"← Controls"</a></p>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"History of controls"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Every freeze, throttle, block, request, expiry and repair, from the audit trail."
            </p>
        </header>
        <HistoryFilters query/>
        <ListRows
            query
            fetch=list_control_history
            table=move |list, query| view! { <HistoryTable list query/> }
            reset_label="Show the whole history"
        />
    }
}

#[component]
fn HistoryFilters(query: Memo<HistoryQuery>) -> impl IntoView {
    let types = || EntityType::ALL.map(|t| (t.as_str(), t.as_str())).to_vec();
    let actions = || crate::controls::HISTORY_ACTIONS.map(|a| (a, a)).to_vec();
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/controls/history" label="Filter the history">
                <SelectFilter name="entity_type" label="Entity type" any="Any type" options=types() value=q.entity_type/>
                <TextFilter name="entity_id" label="Entity id" value=q.entity_id placeholder="an id" kind="text"/>
                <SelectFilter name="action" label="Action" any="Any action" options=actions() value=q.action/>
                <TextFilter name="from" label="From (UTC)" value=q.from kind="datetime-local"/>
                <TextFilter name="to" label="Before (UTC)" value=q.to kind="datetime-local"/>
            </FilterForm>
        }
    }
}

#[component]
fn HistoryTable(list: HistoryList, query: HistoryQuery) -> impl IntoView {
    let HistoryList { page, total } = list;
    let columns = vec!["At", "Who", "Action", "Entity", "Result", "Reason"];
    view! {
        <p class="mb-2 text-sm">{total.describe("entry", "entries")}</p>
        <ListTable
            label="History of controls"
            columns
            empty="No control actions match these filters."
            is_empty=page.rows.is_empty()
            pages=query.pages(page.next)
            export=None
        >
            {page.rows.into_iter().map(|r: HistoryRow| view! {
                <tr>
                    <td class="whitespace-nowrap">{format_time(Some(r.at))}</td>
                    <td>{r.actor_name}</td>
                    <td>{r.action.trim_start_matches("control.").to_string()}</td>
                    <td>{r.resource_id.unwrap_or_default()}</td>
                    <td>{r.result}</td>
                    <td>{r.reason.unwrap_or_default()}</td>
                </tr>
            }).collect_view()}
        </ListTable>
    }
}
