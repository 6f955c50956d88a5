//! The sign-in page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::api::{Login, LoginOutcome};
use crate::error::AppError;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let next = move || use_query_map().with(|q| q.get("next")).unwrap_or_default();
    let result = login.value();
    let otp_required = move || {
        matches!(result.get(), Some(Ok(LoginOutcome::OtpRequired)))
            || matches!(result.get(), Some(Err(AppError::Validation { ref field_errors })) if field_errors.contains_key("otp"))
    };
    let error = move || match result.get() {
        Some(Err(AppError::Validation { .. })) | Some(Ok(_)) | None => None,
        Some(Err(e)) => Some(e.to_string()),
    };
    view! {
        <Title text="Sign in · DelTran Console"/>
        <main class="min-h-screen flex items-center justify-center p-6">
            <div class="card w-full max-w-sm">
                <h1 class="text-xl font-semibold mb-1">"Sign in"</h1>
                <p class="text-sm text-slate-500 dark:text-slate-400 mb-4">"DelTran Console"</p>
                <ActionForm action=login attr:class="space-y-4">
                    <div>
                        <label class="field-label" for="username">"Username"</label>
                        <input class="field" id="username" name="username" autocomplete="username" required autofocus/>
                    </div>
                    <div>
                        <label class="field-label" for="password">"Password"</label>
                        <input class="field" id="password" name="password" type="password" autocomplete="current-password" required/>
                    </div>
                    <Show when=otp_required>
                        <div>
                            <label class="field-label" for="otp">"One-time code"</label>
                            <input class="field" id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" required/>
                            <p class="text-xs text-slate-500 mt-1">"The 6-digit code from your authenticator app, or a recovery code."</p>
                        </div>
                    </Show>
                    <input type="hidden" name="next" value=next/>
                    {move || error().map(|e| view! { <p role="alert" class="text-sm text-rose-700 dark:text-rose-300">{e}</p> })}
                    <button type="submit" class="btn-primary w-full" disabled=move || login.pending().get()>
                        "Sign in"
                    </button>
                </ActionForm>
            </div>
        </main>
    }
}
