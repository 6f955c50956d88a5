//! Changes a page asks to confirm before they run (revoke, deactivate, approve …): the
//! question, the run, the line that says what happened, and a version number that goes up
//! after each success so that the page's data reloads.

use std::future::Future;

use leptos::prelude::*;

use crate::error::AppError;

/// One kind of change a page offers.
pub trait Change: Clone + Send + Sync + 'static {
    /// The question asked before the change runs.
    fn question(&self) -> String;

    /// Runs the change; the message says what happened.
    fn run(self) -> impl Future<Output = Result<String, AppError>> + Send + 'static;
}

/// A page's confirm-then-run state.
pub struct Changes<C: Change> {
    /// The change waiting for "Confirm" or "Cancel".
    confirming: RwSignal<Option<C>>,
    run: Action<C, Result<String, AppError>>,
    /// Goes up after every change that succeeded; the page's resource depends on it.
    pub version: RwSignal<u32>,
}

impl<C: Change> Clone for Changes<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: Change> Copy for Changes<C> {}

impl<C: Change> Default for Changes<C> {
    fn default() -> Self {
        let version = RwSignal::new(0u32);
        Changes {
            confirming: RwSignal::new(None),
            run: Action::new(move |change: &C| {
                let change = change.clone();
                async move {
                    let result = change.run().await;
                    if result.is_ok() {
                        version.update(|v| *v += 1);
                    }
                    result
                }
            }),
            version,
        }
    }
}

impl<C: Change> Changes<C> {
    /// Asks to confirm `change` before it runs.
    pub fn ask(&self, change: C) {
        self.confirming.set(Some(change));
    }
}

/// What the last confirmed change came to, announced to screen readers.
#[component]
pub fn ChangeOutcome<C: Change>(changes: Changes<C>) -> impl IntoView {
    view! {
        <div role="status" class="mb-4">
            {move || match changes.run.value().get() {
                Some(Ok(message)) => {
                    view! { <p class="rounded bg-emerald-50 p-3 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-100">{message}</p> }.into_any()
                }
                Some(Err(e)) => {
                    let message = match &e {
                        AppError::Validation { field_errors } => field_errors
                            .iter()
                            .map(|(f, m)| format!("{f}: {m}"))
                            .collect::<Vec<_>>()
                            .join("; "),
                        other => other.to_string(),
                    };
                    view! { <p class="rounded bg-rose-50 p-3 text-rose-900 dark:bg-rose-950 dark:text-rose-100">{message}</p> }.into_any()
                }
                None => ().into_any(),
            }}
        </div>
    }
}

/// The "Confirm / Cancel" box of the change waiting for it, if any.
#[component]
pub fn ConfirmChange<C: Change>(changes: Changes<C>) -> impl IntoView {
    let Changes {
        confirming, run, ..
    } = changes;
    move || {
        confirming.get().map(|change| {
            let question = change.question();
            view! {
                <div role="alertdialog" aria-label="Confirm" class="card mb-4 border-amber-400">
                    <p class="mb-3">{question}</p>
                    <div class="flex gap-2">
                        <button
                            type="button"
                            class="btn-primary"
                            on:click=move |_| {
                                run.dispatch(change.clone());
                                confirming.set(None);
                            }
                        >
                            "Confirm"
                        </button>
                        <button type="button" class="chip" on:click=move |_| confirming.set(None)>
                            "Cancel"
                        </button>
                    </div>
                </div>
            }
        })
    }
}
