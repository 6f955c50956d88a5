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
        change::{Change, ChangeOutcome, Changes, ConfirmChange},
        format_time,
        list::{BadFilters, ListQuery, ListTable},
        ErrorPanel, Loading,
    },
    error::AppError,
};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    One { user: String, id: Uuid },
    AllOf { user: String, id: Uuid },
}

impl Change for Op {
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
    let query = Memo::new(move |_| params.with(SessionQuery::from_params));
    let changes = Changes::<Op>::default();
    let version = changes.version;
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
    view! {
        <Title text="Sessions · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Sessions"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Live sign-in sessions of every user, in the browser and through the API."
            </p>
        </header>
        <ChangeOutcome changes/>
        <ConfirmChange changes/>
        <Filters query/>
        // A transition: while another page or filter loads, the current rows stay in place.
        <Transition fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok((query, list)) => {
                            Ok(view! { <SessionTable list query export changes/> }.into_any())
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
    changes: Changes<Op>,
) -> impl IntoView {
    let SessionList {
        rows: sessions,
        next,
    } = list;
    let columns = vec![
        "User",
        "Kind",
        "Address",
        "User agent",
        "Created",
        "Last activity",
        "Expires",
        "Actions",
    ];
    view! {
        <ListTable
            label="Sessions"
            columns
            empty="No live sessions match these filters."
            is_empty=sessions.is_empty()
            pages=query.pages(next)
            export=export.then(|| query.download("/downloads/sessions.csv"))
        >
            {sessions.into_iter().map(|s| view! { <SessionLine session=s changes/> }).collect_view()}
        </ListTable>
    }
}

#[component]
fn SessionLine(session: SessionRow, changes: Changes<Op>) -> impl IntoView {
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
                <button type="button" class="chip" on:click=move |_| changes.ask(Op::One { user: user.get_value(), id })>"Revoke"</button>
                <button type="button" class="chip" on:click=move |_| changes.ask(Op::AllOf { user: user.get_value(), id: user_id })>"Revoke all of this user's sessions"</button>
            </td>
        </tr>
    }
}
