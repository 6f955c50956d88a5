//! The Sessions page: everyone's live sessions (filters by user and kind, two orders and
//! keyset pages, all held in the URL so a view can be shared and back/forward work), their CSV
//! export, and revocation (confirmed first).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
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
        list::{FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
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
        <ListRows
            query
            fetch=list_sessions
            table=move |list, query| view! { <SessionTable list query export changes/> }
            reset_label="Show all sessions"
            reload=changes.version
        />
    }
}

#[component]
fn Filters(query: Memo<SessionQuery>) -> impl IntoView {
    let kinds = || SessionKind::ALL.map(|k| (k.as_str(), k.as_str())).to_vec();
    let sorts = || SessionSort::ALL.map(|s| (s.as_str(), s.label())).to_vec();
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/sessions" label="Filter sessions">
                <TextFilter name="user" label="User" value=q.user placeholder="Part of a username"/>
                <SelectFilter name="kind" label="Kind" any="Any kind" options=kinds() value=q.kind/>
                <SelectFilter name="sort" label="Sort" options=sorts() value=q.sort/>
            </FilterForm>
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
