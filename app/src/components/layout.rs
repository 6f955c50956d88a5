//! The frame around every page: the navigation (only pages that exist), the header and the
//! light/dark theme switch.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::auth::{api::Logout, Me, Permission};

/// Pages in the navigation, in order, with the permission that shows each. A page is listed
/// here only once it works end to end.
const NAV: &[(&str, &str, Permission)] = &[
    ("Dashboard", "/", Permission::DashboardView),
    ("Payments", "/payments", Permission::PaymentsView),
    ("Banks", "/banks", Permission::BanksView),
    ("Settlements", "/settlements", Permission::SettlementsView),
    ("Compliance", "/compliance", Permission::ComplianceView),
    ("Controls", "/controls", Permission::ControlsView),
    ("Ledger", "/ledger", Permission::LedgerView),
    ("Audit log", "/audit", Permission::AuditView),
    ("Users", "/users", Permission::UsersView),
    ("Sessions", "/sessions", Permission::SessionsManage),
    ("System", "/system", Permission::SystemView),
    ("Profile", "/profile", Permission::SelfService),
];

#[component]
pub fn Layout(me: Me, children: Children) -> impl IntoView {
    let location = use_location();
    let logout = ServerAction::<Logout>::new();
    let nav: Vec<(&str, &str)> = NAV
        .iter()
        .filter(|(_, _, p)| me.can(*p))
        .map(|(name, href, _)| (*name, *href))
        .collect();
    let current = move |href: &'static str| {
        let path = location.pathname.get();
        if href == "/" {
            path == "/"
        } else {
            path.starts_with(href)
        }
    };
    view! {
        <div class="min-h-screen md:flex">
            <nav
                aria-label="Main"
                class="md:w-56 shrink-0 border-b md:border-b-0 md:border-r border-slate-200 dark:border-slate-800 bg-white dark:bg-slate-900 p-4"
            >
                <a href="/" class="block mb-6 font-bold text-lg tracking-tight">
                    "DelTran " <span class="text-sky-600">"Console"</span>
                </a>
                <ul class="flex md:flex-col gap-1">
                    {nav
                        .into_iter()
                        .map(|(name, href)| {
                            view! {
                                <li>
                                    <a
                                        href=href
                                        class="nav-link"
                                        aria-current=move || current(href).then_some("page")
                                    >
                                        {name}
                                    </a>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
            <div class="flex-1 min-w-0">
                <header class="flex justify-end items-center gap-3 px-6 py-3 border-b border-slate-200 dark:border-slate-800">
                    <ThemeToggle/>
                    <span class="text-sm" aria-label="Signed in as">
                        {me.username.clone()} <span class="badge bg-slate-200 dark:bg-slate-700">{me.role.as_str()}</span>
                    </span>
                    <ActionForm action=logout>
                        <button type="submit" class="chip">"Sign out"</button>
                    </ActionForm>
                </header>
                <main class="p-6 max-w-6xl">
                    {me.needs_two_factor.then(|| view! {
                        <p role="alert" class="mb-6 rounded border border-amber-300 bg-amber-50 p-4 text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
                            "Admins must use two-factor sign-in, and so must every session of an account that has it. Set it up below, or, if it is on already, sign out and sign in again with your one-time code, to open the rest of the console."
                        </p>
                    })}
                    {children()}
                </main>
            </div>
        </div>
    }
}

/// Switches between the light and the dark theme. The choice is kept in a `theme` cookie so
/// that the server renders the next page in it straight away.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    // The server rendered <html class="dark"> when the cookie said so; the first client
    // render must agree, so the state starts unknown and is read from the DOM after hydration.
    let dark = RwSignal::new(None::<bool>);
    Effect::new(move |_| {
        if dark.get_untracked().is_none() {
            dark.set(Some(document_is_dark()));
        }
    });
    let toggle = move |_| {
        let next = !dark.get_untracked().unwrap_or_else(document_is_dark);
        apply_theme(next);
        dark.set(Some(next));
    };
    view! {
        <button
            type="button"
            class="chip"
            aria-pressed=move || dark.get().unwrap_or(false).to_string()
            on:click=toggle
        >
            "Dark theme"
        </button>
    }
}

#[cfg(feature = "hydrate")]
fn document_is_dark() -> bool {
    document()
        .document_element()
        .map(|e| e.class_list().contains("dark"))
        .unwrap_or(false)
}

#[cfg(not(feature = "hydrate"))]
fn document_is_dark() -> bool {
    false
}

#[cfg(feature = "hydrate")]
fn apply_theme(dark: bool) {
    use wasm_bindgen::JsCast;
    if let Some(root) = document().document_element() {
        let _ = root.class_list().toggle_with_force("dark", dark);
    }
    let cookie = format!(
        "theme={}; path=/; max-age=31536000; samesite=lax",
        if dark { "dark" } else { "light" }
    );
    if let Ok(doc) = document().dyn_into::<web_sys::HtmlDocument>() {
        let _ = doc.set_cookie(&cookie);
    }
}

#[cfg(not(feature = "hydrate"))]
fn apply_theme(_dark: bool) {}
