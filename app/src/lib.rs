//! DelTran Console: the Leptos application (pages, components and server functions) and,
//! behind the `ssr` feature, the server-only backend.

pub mod components;
pub mod dashboard;
pub mod domain;
pub mod error;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use components::{Layout, NotFound};

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
    view! {
        <Stylesheet id="leptos" href="/pkg/deltran-console.css"/>
        <Title text="DelTran Console"/>
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=dashboard::page::DashboardPage/>
                </Routes>
            </Layout>
        </Router>
    }
}

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
