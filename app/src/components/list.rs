//! What every filtered, keyset-paged list page shares: its URL's query string, the pager with
//! the CSV link, and the panel shown in place of the table when the server refuses a value.

use std::collections::BTreeMap;

use leptos::prelude::*;

/// Rows per page of a list.
pub const PAGE_SIZE: u32 = 50;

/// One page of a list and the cursor of the next (`None` on the last page): what every list's
/// server function answers (`backend::db::list::page`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<R> {
    pub rows: Vec<R>,
    pub next: Option<String>,
}

/// The query string (without `?`) of a list's URL: the pairs in the order given, blank values
/// left out, values percent-encoded.
pub fn query_string(pairs: &[(&str, &Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| format!("{k}={}", crate::urlencode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `path` with `query` (a `query_string`), or the bare path when the query is empty.
pub fn href(path: &str, query: &str) -> String {
    match query {
        "" => path.to_string(),
        qs => format!("{path}?{qs}"),
    }
}

/// The URL state of a list page: its filters, sort and cursor. Everything a page, its pager
/// and its download link need follows from these four.
pub trait ListQuery: Clone {
    /// The page's path (`/users`).
    const PATH: &'static str;

    /// The query string (without `?`), blank values left out.
    fn to_query_string(&self) -> String;

    /// The cursor of the page shown (`None`: the first page).
    fn after(&self) -> Option<&str>;

    /// The same filters and sort, on the page after `after` (`None`: the first page).
    fn at(&self, after: Option<String>) -> Self;

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

    #[test]
    fn query_strings_drop_blanks_and_encode_values() {
        let (a, blank, none) = (Some("a&b c".to_string()), Some(" ".to_string()), None);
        let qs = query_string(&[("q", &a), ("role", &blank), ("tfa", &none)]);
        assert_eq!(qs, "q=a%26b%20c");
        assert_eq!(href("/users", &qs), "/users?q=a%26b%20c");
        assert_eq!(href("/users", ""), "/users");
    }
}
