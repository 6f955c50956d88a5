//! Building blocks shared by the pages: the layout, loading and error states, the theme toggle.

mod layout;

pub use layout::{Layout, ThemeToggle};

use leptos::prelude::*;

use crate::error::AppError;

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

/// The keyset pager under a list: "First page" when not on it, "Next page" when there is one.
#[component]
pub fn Pager(first: Option<String>, next: Option<String>) -> impl IntoView {
    view! {
        <nav aria-label="Pages" class="flex gap-2">
            {first.map(|href| view! { <a class="chip" href=href>"First page"</a> })}
            {next.map(|href| view! { <a class="chip" href=href>"Next page"</a> })}
        </nav>
    }
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
