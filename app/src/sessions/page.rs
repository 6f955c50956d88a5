//! The Sessions page: everyone's live sessions (filters by user and kind, two orders and
//! keyset pages, all held in the URL so a view can be shared and back/forward work), their CSV
//! export, and revocation (confirmed first).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::Form, hooks::use_query_map};
use uuid::Uuid;

use super::{
    api::{list_sessions, revoke_session, revoke_user_sessions},
    SessionKind, SessionList, SessionQuery, SessionRow, SessionSort,
};
use crate::{
    auth::{Me, Permission},
    components::{
        format_time,
        list::{BadFilters, ListQuery, Pager},
        ErrorPanel, Loading,
    },
    error::AppError,
};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    One { user: String, id: Uuid },
    AllOf { user: String, id: Uuid },
}

impl Op {
    fn question(&self) -> String {
        match self {
            Op::One { user, .. } => format!("Revoke this session of {user}?"),
            Op::AllOf { user, .. } => format!("Revoke all of {user}'s sessions?"),
        }
    }

    async fn run(self) -> Result<String, AppError> {
        Ok(match self {
            Op::One { user, id } => {
                revoke_session(id).await?;
                format!("Revoked a session of {user}.")
            }
            Op::AllOf { user, id } => {
                let n = revoke_user_sessions(id).await?;
                format!("Revoked {n} session(s) of {user}.")
            }
        })
    }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    let export = use_context::<Me>().is_some_and(|m| m.can(Permission::ExportCsv));
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(|p| SessionQuery::from_lookup(|k| p.get(k))));
    let version = RwSignal::new(0u32);
    // The page comes back with the query it answers, so its links always match its rows.
    let sessions = Resource::new(
        move || (query.get(), version.get()),
        |(q, _)| async move {
            let page = list_sessions(
                q.user.clone(),
                q.kind.clone(),
                q.sort.clone(),
                q.after.clone(),
            )
            .await?;
            Ok::<_, AppError>((q, page))
        },
    );
    let confirming = RwSignal::new(None::<Op>);
    let run = Action::new(move |op: &Op| {
        let op = op.clone();
        async move {
            let result = op.run().await;
            if result.is_ok() {
                version.update(|v| *v += 1);
            }
            result
        }
    });
    view! {
        <Title text="Sessions · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Sessions"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Live sign-in sessions of every user, in the browser and through the API."
            </p>
        </header>
        <div role="status" class="mb-4">
            {move || run.value().get().map(|r| match r {
                Ok(m) => view! { <p class="rounded bg-emerald-50 p-3 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-100">{m}</p> }.into_any(),
                Err(e) => view! { <p class="rounded bg-rose-50 p-3 text-rose-900 dark:bg-rose-950 dark:text-rose-100">{e.to_string()}</p> }.into_any(),
            })}
        </div>
        {move || confirming.get().map(|op| {
            let question = op.question();
            view! {
                <div role="alertdialog" aria-label="Confirm" class="card mb-4">
                    <p class="mb-3">{question}</p>
                    <div class="flex gap-2">
                        <button type="button" class="btn-primary" on:click=move |_| { run.dispatch(op.clone()); confirming.set(None); }>"Confirm"</button>
                        <button type="button" class="chip" on:click=move |_| confirming.set(None)>"Cancel"</button>
                    </div>
                </div>
            }
        })}
        <Filters query/>
        // A transition: while another page or filter loads, the current rows stay in place.
        <Transition fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok((query, list)) => {
                            Ok(view! { <SessionTable list query export confirming/> }.into_any())
                        }
                        Err(AppError::Validation { field_errors }) => Ok(view! {
                            <BadFilters field_errors reset="/sessions" reset_label="Show all sessions"/>
                        }
                        .into_any()),
                        Err(e) => Err(e),
                    }
                })}
            </ErrorBoundary>
        </Transition>
    }
}

/// User, kind and sort: a GET form, so applying them changes the URL (a new history entry,
/// back to the first page). Drawn anew whenever the URL changes, so back and forward show the
/// values in effect.
#[component]
fn Filters(query: Memo<SessionQuery>) -> impl IntoView {
    move || {
        let q = query.get();
        let sort = q
            .sort
            .as_deref()
            .and_then(SessionSort::parse)
            .unwrap_or_default();
        view! {
            <Form method="get" action="/sessions" attr:aria-label="Filter sessions" attr:class="card mb-6 flex flex-wrap gap-3 items-end">
                <div>
                    <label class="field-label" for="filter-user">"User"</label>
                    <input class="field" id="filter-user" name="user" type="search" placeholder="Part of a username" value=q.user.clone().unwrap_or_default()/>
                </div>
                <div>
                    <label class="field-label" for="filter-kind">"Kind"</label>
                    <select class="field" id="filter-kind" name="kind">
                        <option value="" selected=q.kind.is_none()>"Any kind"</option>
                        {SessionKind::ALL.into_iter().map(|k| view! { <option value=k.as_str() selected=q.kind.as_deref() == Some(k.as_str())>{k.as_str()}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label class="field-label" for="filter-sort">"Sort"</label>
                    <select class="field" id="filter-sort" name="sort">
                        {SessionSort::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=s == sort>{s.label()}</option> }).collect_view()}
                    </select>
                </div>
                <button type="submit" class="btn-primary">"Apply"</button>
                <a class="link" href="/sessions">"Clear filters"</a>
            </Form>
        }
    }
}

#[component]
fn SessionTable(
    list: SessionList,
    query: SessionQuery,
    export: bool,
    confirming: RwSignal<Option<Op>>,
) -> impl IntoView {
    let SessionList { sessions, next } = list;
    let empty = sessions.is_empty();
    let (first_page, next_page) = query.pages(next);
    let csv = export.then(|| query.download("/downloads/sessions.csv"));
    view! {
        <section class="card overflow-x-auto">
            <table class="data-table" aria-label="Sessions">
                <thead>
                    <tr>
                        <th scope="col">"User"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"Address"</th>
                        <th scope="col">"User agent"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last activity"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {empty.then(|| view! { <tr><td colspan="8">"No live sessions match these filters."</td></tr> })}
                    {sessions.into_iter().map(|s| view! { <SessionLine session=s confirming/> }).collect_view()}
                </tbody>
            </table>
            <Pager first=first_page next=next_page export=csv/>
        </section>
    }
}

#[component]
fn SessionLine(session: SessionRow, confirming: RwSignal<Option<Op>>) -> impl IntoView {
    let user = StoredValue::new(session.username.clone());
    let (id, user_id) = (session.id, session.user_id);
    view! {
        <tr>
            <td>{session.username.clone()}</td>
            <td>{session.kind.clone()}</td>
            <td>{session.ip_address.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="max-w-xs truncate" title=session.user_agent.clone()>{session.user_agent.clone().unwrap_or_else(|| "—".into())}</td>
            <td>{format_time(Some(session.created_at))}</td>
            <td>{format_time(Some(session.last_activity_at))}</td>
            <td>{format_time(Some(session.expires_at))}</td>
            <td class="flex flex-wrap gap-1">
                <button type="button" class="chip" on:click=move |_| confirming.set(Some(Op::One { user: user.get_value(), id }))>"Revoke"</button>
                <button type="button" class="chip" on:click=move |_| confirming.set(Some(Op::AllOf { user: user.get_value(), id: user_id }))>"Revoke all of this user's sessions"</button>
            </td>
        </tr>
    }
}
