//! DelTran Console: the Leptos application (pages, components and server functions) and,
//! behind the `ssr` feature, the server-only backend.

pub mod audit;
pub mod auth;
pub mod banks;
pub mod compliance;
pub mod components;
pub mod controls;
pub mod dashboard;
pub mod domain;
pub mod error;
pub mod ledger;
pub mod payments;
pub mod profile;
pub mod sessions;
pub mod settlements;
pub mod system;
pub mod users;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::{prelude::*, suspense::Unsuspend};
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Outlet, ParentRoute, Redirect, Route, Router, Routes},
    hooks::use_location,
    path, SsrMode,
};

use auth::{api::current_user, login::LoginPage};
use components::{Layout, Loading, NotFound};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let theme = theme_class();
    view! {
        <!DOCTYPE html>
        <html lang="en" class=theme>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="bg-slate-50 text-slate-900 dark:bg-slate-950 dark:text-slate-100">
                <App/>
            </body>
        </html>
    }
}

/// `dark` when the request's `theme` cookie asks for it.
fn theme_class() -> &'static str {
    #[cfg(feature = "ssr")]
    {
        let cookie = use_context::<axum::http::request::Parts>().and_then(|parts| {
            parts
                .headers
                .get(axum::http::header::COOKIE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').any(|c| c.trim() == "theme=dark"))
        });
        if cookie == Some(true) {
            return "dark";
        }
    }
    ""
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page as interactive once the wasm has taken over (browser tests wait for it).
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/deltran-console.css"/>
        <Title text="DelTran Console"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=SignedIn ssr=SsrMode::Async>
                    <Route path=path!("/") view=dashboard::page::DashboardPage ssr=SsrMode::Async/>
                    <Route path=path!("/payments") view=payments::page::PaymentsPage ssr=SsrMode::Async/>
                    <Route path=path!("/payments/:id") view=payments::page::PaymentPage ssr=SsrMode::Async/>
                    <Route path=path!("/banks") view=banks::page::BanksPage ssr=SsrMode::Async/>
                    <Route path=path!("/banks/:id") view=banks::page::BankPage ssr=SsrMode::Async/>
                    <Route path=path!("/settlements") view=settlements::page::SettlementsPage ssr=SsrMode::Async/>
                    <Route path=path!("/settlements/:id") view=settlements::page::BatchPageView ssr=SsrMode::Async/>
                    <Route path=path!("/settlements/days/:day") view=settlements::page::NettingDayPage ssr=SsrMode::Async/>
                    <Route path=path!("/compliance") view=compliance::page::CompliancePage ssr=SsrMode::Async/>
                    <Route path=path!("/compliance/:id") view=compliance::page::CasePage ssr=SsrMode::Async/>
                    <Route path=path!("/controls") view=controls::page::ControlsPage ssr=SsrMode::Async/>
                    <Route path=path!("/controls/history") view=controls::page::ControlHistoryPage ssr=SsrMode::Async/>
                    <Route path=path!("/ledger") view=ledger::page::LedgerPage ssr=SsrMode::Async/>
                    <Route path=path!("/ledger/events/:id") view=ledger::page::LedgerEventPage ssr=SsrMode::Async/>
                    <Route path=path!("/ledger/blocks") view=ledger::page::LedgerBlocksPage ssr=SsrMode::Async/>
                    <Route path=path!("/ledger/blocks/:id") view=ledger::page::LedgerBlockPage ssr=SsrMode::Async/>
                    <Route path=path!("/ledger/storage") view=ledger::page::LedgerStoragePage ssr=SsrMode::Async/>
                    <Route path=path!("/system") view=system::page::SystemPage ssr=SsrMode::Async/>
                    <Route path=path!("/audit") view=audit::page::AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("/audit/:id") view=audit::page::AuditEntryPage ssr=SsrMode::Async/>
                    <Route path=path!("/profile") view=profile::page::ProfilePage ssr=SsrMode::Async/>
                    <Route path=path!("/users") view=users::page::UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("/sessions") view=sessions::page::SessionsPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The frame of every page behind sign-in: without a session it redirects to /login (with
/// `next` set to come back), with one it shows the layout for that user. The server functions
/// each page calls check the permission themselves; this only decides what to show.
///
/// Built like leptos_router's `ProtectedParentRoute`: the user is read with `.get()` inside a
/// `Transition`, and the layout with the page is built once, when the user is known, outside
/// the transition's owner (`Unsuspend`). A `Suspend` awaiting the resource instead re-runs when
/// the resource turns ready; on the server that sometimes built the page twice (a second set of
/// resources), and the browser then failed to hydrate it.
#[component]
fn SignedIn() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    let location = use_location();
    let owner = Owner::current().expect("a reactive owner");
    let view = move || {
        let me = me.get();
        let owner = owner.clone();
        Unsuspend::new(move || match me {
            None => ().into_any(),
            Some(Err(e)) => view! { <p role="alert" class="m-6">{e.to_string()}</p> }.into_any(),
            // Admins must set up 2FA before anything else.
            Some(Ok(Some(me)))
                if me.needs_two_factor && location.pathname.get_untracked() != "/profile" =>
            {
                view! { <Redirect path="/profile"/> }.into_any()
            }
            Some(Ok(Some(me))) => owner.with(|| {
                provide_context(me.clone());
                view! { <Layout me><Outlet/></Layout> }.into_any()
            }),
            Some(Ok(None)) => {
                let mut here = location.pathname.get_untracked();
                let search = location.search.get_untracked();
                if !search.is_empty() {
                    here.push('?');
                    here.push_str(search.trim_start_matches('?'));
                }
                let next = if here == "/" {
                    String::new()
                } else {
                    format!("?next={}", urlencode(&here))
                };
                view! { <Redirect path=format!("/login{next}")/> }.into_any()
            }
        })
    };
    view! { <Transition fallback=|| view! { <Loading/> }>{view}</Transition> }
}

/// What [`urlencode`] leaves as it is: RFC 3986's unreserved characters and `/` (so that a
/// `next=/audit/12` stays readable); everything else is percent-encoded.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a query value (UTF-8, upper-case hex).
pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}

#[cfg(test)]
mod tests {
    #[test]
    fn urlencode_keeps_unreserved_characters_and_slashes() {
        assert_eq!(super::urlencode("/audit/12?x=1"), "/audit/12%3Fx%3D1");
        assert_eq!(super::urlencode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(super::urlencode("jane doe+ops@x"), "jane%20doe%2Bops%40x");
        assert_eq!(super::urlencode("é"), "%C3%A9");
    }
}
