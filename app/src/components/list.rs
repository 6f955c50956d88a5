//! What every filtered, keyset-paged list page shares: its URL's query string, the pager with
//! the CSV link, and the panel shown in place of the table when the server refuses a value.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

/// Rows per page of a list.
pub const PAGE_SIZE: u32 = 50;

/// One page of a list and the cursor of the next (`None` on the last page): what every list's
/// server function answers (`backend::db::list::page`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<R> {
    pub rows: Vec<R>,
    pub next: Option<String>,
}

/// `path` with `query` (a query string), or the bare path when the query is empty.
pub fn href(path: &str, query: &str) -> String {
    match query {
        "" => path.to_string(),
        qs => format!("{path}?{qs}"),
    }
}

/// Drops the pairs of a query string whose value is blank (what a GET form sends for "any").
fn without_blanks(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
}

/// The URL state of a list page: its filters, sort and cursor, as serde reads and writes
/// them from and to the query string (field names are the parameters; `None` and blank
/// values are left out). Everything a page, its pager and its download link need follows.
pub trait ListQuery: Clone + Default + Serialize + DeserializeOwned {
    /// The page's path (`/users`).
    const PATH: &'static str;

    /// The cursor of the page shown (`None`: the first page).
    fn after(&self) -> Option<&str>;

    /// The same filters and sort, on the page after `after` (`None`: the first page).
    fn at(&self, after: Option<String>) -> Self;

    /// Reads a query string (without `?`), blank values dropped; what cannot be read (a
    /// parameter given twice) is the unfiltered list.
    fn from_query(query: &str) -> Self {
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()
            .map(without_blanks)
            .and_then(|pairs| serde_urlencoded::to_string(pairs).ok())
            .and_then(|clean| serde_urlencoded::from_str(&clean).ok())
            .unwrap_or_default()
    }

    /// The page's URL state, from the router's query map.
    fn from_params(params: &leptos_router::params::ParamsMap) -> Self {
        Self::from_query(params.to_query_string().trim_start_matches('?'))
    }

    /// The query string (without `?`), blank values left out.
    fn to_query_string(&self) -> String {
        serde_urlencoded::to_string(self)
            .ok()
            .and_then(|qs| serde_urlencoded::from_str::<Vec<(String, String)>>(&qs).ok())
            .map(without_blanks)
            .and_then(|pairs| serde_urlencoded::to_string(pairs).ok())
            .unwrap_or_default()
    }

    /// This view's URL.
    fn href(&self) -> String {
        href(Self::PATH, &self.to_query_string())
    }

    /// The pager's links: the first page's (unless on it) and the next page's (if any).
    fn pages(&self, next: Option<String>) -> (Option<String>, Option<String>) {
        (
            self.after().map(|_| self.at(None).href()),
            next.map(|after| self.at(Some(after)).href()),
        )
    }

    /// A download at `path` of every row of this view (all pages).
    fn download(&self, path: &str) -> String {
        href(path, &self.at(None).to_query_string())
    }
}

/// A list's table: named for screen readers and tests (`label`), its column headers, the
/// rows (`children`) or, when there are none, the empty state, and the pager under it.
#[component]
pub fn ListTable(
    label: &'static str,
    columns: Vec<&'static str>,
    /// Shown in place of the rows when the page has none.
    empty: &'static str,
    is_empty: bool,
    /// The pager's links (`ListQuery::pages`).
    pages: (Option<String>, Option<String>),
    /// The CSV link (`ListQuery::download`), for a reader who may export.
    export: Option<String>,
    children: Children,
) -> impl IntoView {
    let width = columns.len();
    view! {
        <section class="card mb-6 overflow-x-auto">
            <table class="data-table" aria-label=label>
                <thead>
                    <tr>{columns.into_iter().map(|c| view! { <th scope="col">{c}</th> }).collect_view()}</tr>
                </thead>
                <tbody>
                    {is_empty.then(|| view! { <tr><td colspan=width>{empty}</td></tr> })}
                    {children()}
                </tbody>
            </table>
            <Pager first=pages.0 next=pages.1 export/>
        </section>
    }
}

/// Under a list: "First page" (when not on it), "Next page" (when there is one) and, for a role
/// that may export, the "Export CSV" link. Each is an `href`.
#[component]
pub fn Pager(first: Option<String>, next: Option<String>, export: Option<String>) -> impl IntoView {
    view! {
        <div class="mt-3 flex flex-wrap items-center gap-3">
            <nav aria-label="Pages" class="flex gap-3">
                {first.map(|href| view! { <a class="link" href=href>"First page"</a> })}
                {next.map(|href| view! { <a class="link" href=href>"Next page"</a> })}
            </nav>
            {export.map(|href| view! {
                <a class="chip ml-auto" href=href download="" rel="external">"Export CSV"</a>
            })}
        </div>
    }
}

/// Filter values the server refused (a hand-edited or outdated URL), with a link to the
/// unfiltered list.
#[component]
pub fn BadFilters(
    field_errors: BTreeMap<String, String>,
    /// The unfiltered list's path.
    reset: &'static str,
    /// The reset link's text.
    reset_label: &'static str,
) -> impl IntoView {
    view! {
        <div role="alert" class="card mb-6 border-rose-300 text-rose-900 dark:text-rose-100">
            <p class="mb-2">"These filters cannot be used:"</p>
            <ul class="mb-2">
                {field_errors.into_iter().map(|(f, m)| view! { <li>{format!("{f}: {m}")}</li> }).collect_view()}
            </ul>
            <a class="link" href=reset>{reset_label}</a>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
    struct Q {
        q: Option<String>,
        role: Option<String>,
        after: Option<String>,
    }

    impl ListQuery for Q {
        const PATH: &'static str = "/q";
        fn after(&self) -> Option<&str> {
            self.after.as_deref()
        }
        fn at(&self, after: Option<String>) -> Q {
            Q {
                after,
                ..self.clone()
            }
        }
    }

    #[test]
    fn query_strings_drop_blanks_and_encode_values() {
        let q = Q::from_query("role=%20&q=a%26b+c&after=u.x&unknown=1");
        assert_eq!(
            q,
            Q {
                q: Some("a&b c".into()),
                role: None,
                after: Some("u.x".into())
            }
        );
        assert_eq!(q.to_query_string(), "q=a%26b+c&after=u.x");
        assert_eq!(q.at(None).href(), "/q?q=a%26b+c");
        assert_eq!(Q::default().href(), "/q");
        assert_eq!(Q::from_query("q=a&q=b"), Q::default(), "given twice");
        let blank = Q {
            role: Some(" ".into()),
            ..Q::default()
        };
        assert_eq!(blank.to_query_string(), "");
        assert_eq!(
            q.pages(Some("u.y".into())),
            (
                Some("/q?q=a%26b+c".into()),
                Some("/q?q=a%26b+c&after=u.y".into())
            )
        );
    }
}
