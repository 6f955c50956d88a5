//! The Sessions page: everyone's live sessions, with revocation (confirmed first).

use leptos::prelude::*;
use leptos_meta::Title;
use uuid::Uuid;

use super::{
    api::{list_sessions, revoke_session, revoke_user_sessions},
    SessionRow,
};
use crate::{
    components::{format_time, ErrorPanel, Loading},
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
    let version = RwSignal::new(0u32);
    let sessions = Resource::new(move || version.get(), |_| list_sessions());
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
        <Suspense fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move {
                    sessions.await.map(|rows| view! { <SessionTable rows confirming/> })
                })}
            </ErrorBoundary>
        </Suspense>
    }
}

#[component]
fn SessionTable(rows: Vec<SessionRow>, confirming: RwSignal<Option<Op>>) -> impl IntoView {
    let empty = rows.is_empty();
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
                    {empty.then(|| view! { <tr><td colspan="8">"No live sessions."</td></tr> })}
                    {rows
                        .into_iter()
                        .map(|s| {
                            let user = StoredValue::new(s.username.clone());
                            let (id, user_id) = (s.id, s.user_id);
                            view! {
                                <tr>
                                    <td>{s.username.clone()}</td>
                                    <td>{s.kind.clone()}</td>
                                    <td>{s.ip_address.clone().unwrap_or_else(|| "—".into())}</td>
                                    <td class="max-w-xs truncate" title=s.user_agent.clone()>{s.user_agent.clone().unwrap_or_else(|| "—".into())}</td>
                                    <td>{format_time(Some(s.created_at))}</td>
                                    <td>{format_time(Some(s.last_activity_at))}</td>
                                    <td>{format_time(Some(s.expires_at))}</td>
                                    <td class="flex flex-wrap gap-1">
                                        <button type="button" class="chip" on:click=move |_| confirming.set(Some(Op::One { user: user.get_value(), id }))>"Revoke"</button>
                                        <button type="button" class="chip" on:click=move |_| confirming.set(Some(Op::AllOf { user: user.get_value(), id: user_id }))>"Revoke all of this user's sessions"</button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}
