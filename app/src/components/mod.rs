//! Building blocks shared by the pages: the layout, loading and error states, the theme toggle,
//! the pieces of the list pages, times as tables show them.

pub mod change;
mod layout;
pub mod list;

pub use layout::{Layout, ThemeToggle};

use leptos::prelude::*;

use crate::{domain::PaymentStatus, error::AppError};

/// A time as the tables show it: UTC, to the minute.
pub fn format_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

#[component]
pub fn Loading() -> impl IntoView {
    view! {
        <p class="text-slate-500 dark:text-slate-400 animate-pulse" role="status">
            "Loading…"
        </p>
    }
}

/// Shows what went wrong in words a user can act on. Only `AppError` messages are shown;
/// anything else is reported as a generic failure, never with its details.
#[component]
pub fn ErrorPanel(errors: ArcRwSignal<Errors>) -> impl IntoView {
    let messages = move || {
        errors
            .get()
            .into_iter()
            .map(|(_, e)| match e.downcast_ref::<AppError>() {
                Some(app) => app.to_string(),
                None => "Something went wrong.".to_string(),
            })
            .collect::<Vec<_>>()
    };
    view! {
        <div role="alert" class="rounded border border-rose-300 bg-rose-50 p-4 text-rose-900 dark:border-rose-800 dark:bg-rose-950 dark:text-rose-100">
            <ul>{move || messages().into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
        </div>
    }
}

/// A field's validation message, announced to screen readers.
#[component]
pub fn FieldError(#[prop(into)] message: Signal<Option<String>>) -> impl IntoView {
    move || {
        message
            .get()
            .map(|m| view! { <p role="alert" class="mt-1 text-xs text-rose-700 dark:text-rose-300">{m}</p> })
    }
}

/// A page of one thing its path names (the route's `param`): what `fetch` answers for it,
/// drawn by `show`, fetched again whenever `reload` changes (a page's `Changes::version`); a
/// malformed or unknown name, in words.
#[component]
pub fn ByPath<T, F, Fut, G, V>(
    param: &'static str,
    fetch: F,
    show: G,
    #[prop(optional)] reload: Option<RwSignal<u32>>,
) -> impl IntoView
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    F: Fn(String) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
    G: Fn(T) -> V + Copy + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let params = leptos_router::hooks::use_params_map();
    let name = move || params.with(|p| p.get(param).unwrap_or_default());
    let item = Resource::new(
        move || (name(), reload.map(|v| v.get())),
        move |(name, _)| fetch(name),
    );
    view! {
        // A transition: after a change, the page stays in place while it reloads.
        <Transition fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move { item.await.map(show) })}
            </ErrorBoundary>
        </Transition>
    }
}

/// A payment's status as a coloured badge.
#[component]
pub fn StatusBadge(status: PaymentStatus) -> impl IntoView {
    let colour = match status {
        PaymentStatus::Pending => {
            "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100"
        }
        PaymentStatus::Processing => "bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-100",
        PaymentStatus::Settled => {
            "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100"
        }
        PaymentStatus::Failed => "bg-rose-100 text-rose-900 dark:bg-rose-900 dark:text-rose-100",
        PaymentStatus::Cancelled => {
            "bg-slate-200 text-slate-800 dark:bg-slate-700 dark:text-slate-100"
        }
    };
    view! { <span class=format!("badge {colour}")>{status.as_str()}</span> }
}

/// The page for a path that does not exist.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(axum::http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <leptos_meta::Title text="Not found · DelTran Console"/>
        <h1 class="text-2xl font-semibold mb-2">"Page not found"</h1>
        <p class="mb-4">"There is no page at this address."</p>
        <a class="link" href="/">"Back to the dashboard"</a>
    }
}
