//! The profile page.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{
    api::{get_profile, BeginTwoFactor, ChangePassword, ConfirmTwoFactor, RevokeOwnSession},
    Profile,
};
use crate::{
    components::{ErrorPanel, FieldError, Loading},
    error::AppError,
};

#[component]
pub fn ProfilePage() -> impl IntoView {
    let revoke = ServerAction::<RevokeOwnSession>::new();
    let confirm = ServerAction::<ConfirmTwoFactor>::new();
    let profile = Resource::new(
        move || (revoke.version().get(), confirm.version().get()),
        |_| get_profile(),
    );
    view! {
        <Title text="Profile · DelTran Console"/>
        <h1 class="text-2xl font-semibold mb-6">"Profile"</h1>
        <Suspense fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move {
                    profile.await.map(|p| view! { <ProfileView p revoke confirm/> })
                })}
            </ErrorBoundary>
        </Suspense>
    }
}

#[component]
fn ProfileView(
    p: Profile,
    revoke: ServerAction<RevokeOwnSession>,
    confirm: ServerAction<ConfirmTwoFactor>,
) -> impl IntoView {
    view! {
        <section class="card mb-6" aria-labelledby="account-h">
            <h2 id="account-h" class="text-lg font-semibold mb-2">"Account"</h2>
            <dl class="grid grid-cols-[8rem_1fr] gap-1 text-sm">
                <dt class="text-slate-500">"Username"</dt><dd>{p.username.clone()}</dd>
                <dt class="text-slate-500">"E-mail"</dt><dd>{p.email.clone()}</dd>
                <dt class="text-slate-500">"Role"</dt><dd>{p.role.as_str()}</dd>
            </dl>
        </section>
        <PasswordForm/>
        <TwoFactor enabled=p.two_factor left=p.recovery_codes_left confirm/>
        <section class="card" aria-labelledby="sessions-h">
            <h2 id="sessions-h" class="text-lg font-semibold mb-2">"Your sessions"</h2>
            <table class="data-table" aria-label="Your sessions">
                <thead>
                    <tr>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"Address"</th>
                        <th scope="col">"Browser or client"</th>
                        <th scope="col">"Last active"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {p.sessions
                        .into_iter()
                        .map(|s| {
                            let id = s.id;
                            view! {
                                <tr>
                                    <td>{s.kind}</td>
                                    <td>{s.ip_address.unwrap_or_default()}</td>
                                    <td class="max-w-xs truncate">{s.user_agent.unwrap_or_default()}</td>
                                    <td>{s.last_activity_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
                                    <td>{s.expires_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
                                    <td class="text-right">
                                        {if s.current {
                                            view! { <span class="badge bg-sky-100 text-sky-900">"This session"</span> }.into_any()
                                        } else {
                                            view! {
                                                <button
                                                    type="button"
                                                    class="chip"
                                                    on:click=move |_| {
                                                        if confirm_dialog("End this session?") {
                                                            revoke.dispatch(RevokeOwnSession { id });
                                                        }
                                                    }
                                                >
                                                    "Revoke"
                                                </button>
                                            }
                                                .into_any()
                                        }}
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

#[component]
fn PasswordForm() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let result = change.value();
    let error = move |field: &'static str| {
        Signal::derive(move || match result.get() {
            Some(Err(AppError::Validation { field_errors })) => field_errors.get(field).cloned(),
            _ => None,
        })
    };
    view! {
        <section class="card mb-6" aria-labelledby="password-h">
            <h2 id="password-h" class="text-lg font-semibold mb-2">"Password"</h2>
            <ActionForm action=change attr:class="grid gap-3 max-w-sm">
                <div>
                    <label class="field-label" for="current">"Current password"</label>
                    <input class="field" id="current" name="current" type="password" autocomplete="current-password" required/>
                    <FieldError message=error("current")/>
                </div>
                <div>
                    <label class="field-label" for="new">"New password"</label>
                    <input class="field" id="new" name="new" type="password" autocomplete="new-password" required minlength="12"/>
                    <FieldError message=error("new")/>
                </div>
                <div>
                    <label class="field-label" for="repeat">"Repeat new password"</label>
                    <input class="field" id="repeat" name="repeat" type="password" autocomplete="new-password" required/>
                    <FieldError message=error("repeat")/>
                </div>
                <button type="submit" class="btn-primary">"Change password"</button>
                {move || match result.get() {
                    Some(Ok(())) => Some(view! { <p role="status" class="text-sm text-emerald-700">"Password changed. Your other sessions were ended."</p> }.into_any()),
                    Some(Err(AppError::Validation { .. })) | None => None,
                    Some(Err(e)) => Some(view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any()),
                }}
            </ActionForm>
        </section>
    }
}

#[component]
fn TwoFactor(enabled: bool, left: i64, confirm: ServerAction<ConfirmTwoFactor>) -> impl IntoView {
    let begin = ServerAction::<BeginTwoFactor>::new();
    let setup = begin.value();
    let codes = confirm.value();
    let code_error = Signal::derive(move || match codes.get() {
        Some(Err(AppError::Validation { field_errors })) => field_errors.get("code").cloned(),
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    });
    view! {
        <section class="card mb-6" aria-labelledby="twofactor-h">
            <h2 id="twofactor-h" class="text-lg font-semibold mb-2">"Two-factor sign-in"</h2>
            {move || match codes.get() {
                Some(Ok(list)) => view! {
                    <div role="status">
                        <p class="mb-2">"Two-factor sign-in is on. Keep these recovery codes somewhere safe; each works once, and they are not shown again."</p>
                        <ul aria-label="Recovery codes" class="grid grid-cols-2 gap-1 font-mono text-sm max-w-xs">
                            {list.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
                        </ul>
                        // A full load, so that the console opens with the admin's permissions.
                        {use_context::<crate::auth::Me>().filter(|me| me.needs_two_factor).map(|_| view! {
                            <a class="btn-primary inline-block mt-3" href="/" rel="external">"Continue to the console"</a>
                        })}
                    </div>
                }
                .into_any(),
                _ if enabled => view! {
                    <p>"Two-factor sign-in is on. " {left} " unused recovery codes left."</p>
                }
                .into_any(),
                _ => view! {
                    <p class="mb-3">"Sign-ins will also ask for a code from an authenticator app."</p>
                    {move || match setup.get() {
                        Some(Ok(s)) => view! {
                            <div class="grid gap-3 max-w-sm">
                                <div class="w-48 bg-white p-2" inner_html=s.qr_svg aria-label="QR code for your authenticator app" role="img"></div>
                                <p class="text-sm">"Or enter this key: " <code class="font-mono">{s.secret}</code></p>
                                <ActionForm action=confirm attr:class="grid gap-2">
                                    <label class="field-label" for="code">"One-time code"</label>
                                    <input class="field" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required/>
                                    <FieldError message=code_error/>
                                    <button type="submit" class="btn-primary">"Turn on"</button>
                                </ActionForm>
                            </div>
                        }
                        .into_any(),
                        Some(Err(e)) => view! { <p role="alert">{e.to_string()}</p> }.into_any(),
                        None => view! {
                            <button type="button" class="btn-primary" on:click=move |_| { begin.dispatch(BeginTwoFactor {}); }>
                                "Set up two-factor sign-in"
                            </button>
                        }
                        .into_any(),
                    }}
                }
                .into_any(),
            }}
        </section>
    }
}

/// Asks the browser to confirm; on the server (never clicked there) it is a no.
fn confirm_dialog(message: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        window().confirm_with_message(message).unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = message;
        false
    }
}
