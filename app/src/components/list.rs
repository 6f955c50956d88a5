//! What every filtered, keyset-paged list page shares: its URL's query string, the pager with
//! the CSV link, and the panel shown in place of the table when the server refuses a value.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

use super::{ErrorPanel, Loading};
use crate::error::{AppError, FieldErrors};

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

/// Reads a query string (without `?`) into `T`: blank values dropped, and a parameter given
/// more than once (a group of checkboxes) read as its values joined by commas, the form a
/// list parameter such as `status=pending,failed` takes (any other parameter refuses it).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, String> {
    let pairs =
        serde_urlencoded::from_str::<Vec<(String, String)>>(query).map_err(|e| e.to_string())?;
    let mut merged: Vec<(String, String)> = Vec::new();
    for (key, value) in without_blanks(pairs) {
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => {
                values.push(',');
                values.push_str(&value);
            }
            None => merged.push((key, value)),
        }
    }
    let clean = serde_urlencoded::to_string(merged).map_err(|e| e.to_string())?;
    serde_urlencoded::from_str(&clean).map_err(|e| e.to_string())
}

/// A URL's time: RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` read as UTC (what a `datetime-local`
/// field sends).
pub fn parse_time(v: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
        .map(|t| t.and_utc())
        .ok_or_else(|| "a time like 2026-11-30T14:00 (UTC) or 2026-11-30T14:00:00Z".into())
}

/// The `from` (inclusive) and `to` (exclusive) parameters of a list, checked: each a time
/// (`parse_time`), and `to` after `from`.
pub fn time_range(
    refused: &mut FieldErrors,
    from: &Option<String>,
    to: &Option<String>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let from = refused.check("from", from, parse_time);
    let to = refused.check("to", to, parse_time);
    if let (Some(from), Some(to)) = (from, to) {
        if from >= to {
            refused.refuse("to", "must be after From");
        }
    }
    (from, to)
}

/// How many rows a list's filters match, as far as counting them is cheap: exact up to a
/// thousand, else the planner's estimate (`backend::db::list::total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Total {
    Exactly(u64),
    About(u64),
}

impl Total {
    /// "1 payment", "1,234 payments", "about 980,000 payments".
    pub fn describe(self, one: &str, many: &str) -> String {
        let grouped = |n: u64| crate::domain::thousands(&n.to_string());
        match self {
            Total::Exactly(1) => format!("1 {one}"),
            Total::Exactly(n) => format!("{} {many}", grouped(n)),
            Total::About(n) => format!("about {} {many}", grouped(n)),
        }
    }
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

    /// Reads a query string (without `?`) as `parse_query` does; what cannot be read is the
    /// unfiltered list.
    fn from_query(query: &str) -> Self {
        parse_query(query).unwrap_or_default()
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

/// A list page's rows: what `fetch` (the list's server function) answers for the URL's view,
/// drawn by `table` with the view it answers (so the pager's links always match the rows),
/// kept in place while the next view loads (a transition), and fetched again whenever
/// `reload` changes (a page's `Changes::version`). A refused value shows `BadFilters` with a
/// link to the unfiltered list, labelled `reset_label`.
#[component]
pub fn ListRows<Q, T, F, Fut, G, V>(
    query: Memo<Q>,
    fetch: F,
    table: G,
    reset_label: &'static str,
    #[prop(optional)] reload: Option<RwSignal<u32>>,
) -> impl IntoView
where
    Q: ListQuery + PartialEq + Send + Sync + 'static,
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    F: Fn(Q) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
    G: Fn(T, Q) -> V + Copy + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let rows = Resource::new(
        move || (query.get(), reload.map(|v| v.get())),
        move |(q, _)| async move { Ok::<_, AppError>((q.clone(), fetch(q).await?)) },
    );
    view! {
        <Transition fallback=|| view! { <Loading/> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors/> }>
                {move || Suspend::new(async move {
                    match rows.await {
                        Ok((query, answer)) => Ok(table(answer, query).into_any()),
                        Err(AppError::Validation { field_errors }) => Ok(view! {
                            <BadFilters field_errors reset=Q::PATH reset_label/>
                        }
                        .into_any()),
                        Err(e) => Err(e),
                    }
                })}
            </ErrorBoundary>
        </Transition>
    }
}

/// A list's filters: a GET form, so applying them changes the URL (a new history entry, back
/// to the first page) and works without the wasm too, with "Apply" and "Clear filters". Its
/// fields are `TextFilter`, `SelectFilter` and `CheckFilter`s; the page draws it anew when the
/// URL changes, so back and forward show the values in effect.
#[component]
pub fn FilterForm(
    /// The list's path.
    action: &'static str,
    /// The form's accessible name ("Filter payments").
    label: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <leptos_router::components::Form method="get" action=action attr:aria-label=label attr:class="card mb-6 flex flex-wrap gap-3 items-end">
            {children()}
            <button type="submit" class="btn-primary">"Apply"</button>
            <a class="link" href=action>"Clear filters"</a>
        </leptos_router::components::Form>
    }
}

/// A text parameter of a list: `<input name=name>` labelled `label`, showing `value`.
#[component]
pub fn TextFilter(
    name: &'static str,
    label: &'static str,
    value: Option<String>,
    #[prop(optional)] placeholder: &'static str,
    /// The input's type (`search` unless given: `datetime-local`, `number`, …).
    #[prop(default = "search")]
    kind: &'static str,
) -> impl IntoView {
    let id = format!("filter-{name}");
    view! {
        <div>
            <label class="field-label" for=id.clone()>{label}</label>
            <input class="field" id=id name=name type=kind placeholder=placeholder value=value.unwrap_or_default()/>
        </div>
    }
}

/// A parameter with a few values: a select of `options` (`(value, label)`), first "`any`"
/// (the blank value) unless `any` is empty, with `value` selected.
#[component]
pub fn SelectFilter(
    name: &'static str,
    label: &'static str,
    #[prop(optional)] any: &'static str,
    options: Vec<(&'static str, &'static str)>,
    value: Option<String>,
) -> impl IntoView {
    let id = format!("filter-{name}");
    let chosen = value.unwrap_or_default();
    view! {
        <div>
            <label class="field-label" for=id.clone()>{label}</label>
            <select class="field" id=id name=name>
                {(!any.is_empty()).then(|| view! { <option value="" selected=chosen.is_empty()>{any}</option> })}
                {options.into_iter().map(|(v, l)| view! { <option value=v selected=chosen == v>{l}</option> }).collect_view()}
            </select>
        </div>
    }
}

/// A list parameter that takes several values (`status=pending,failed`): a group of
/// checkboxes, one per `(value, label)`, ticked for the values in `value`.
#[component]
pub fn CheckFilter(
    name: &'static str,
    label: &'static str,
    options: Vec<(&'static str, &'static str)>,
    value: Option<String>,
) -> impl IntoView {
    let chosen: Vec<String> = value
        .unwrap_or_default()
        .split(',')
        .map(|v| v.trim().to_string())
        .collect();
    view! {
        <fieldset>
            <legend class="field-label">{label}</legend>
            <div class="flex flex-wrap gap-x-3 gap-y-1 py-2 text-sm">
                {options.into_iter().map(|(v, l)| view! {
                    <label class="inline-flex items-center gap-1">
                        <input type="checkbox" name=name value=v checked=chosen.iter().any(|c| c == v)/>
                        {l}
                    </label>
                }).collect_view()}
            </div>
        </fieldset>
    }
}

/// The orders of a list of amounts over time (payments, settlement batches); each ends with
/// the id, so it is total.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum TimeOrAmount {
    /// By creation time, newest first.
    #[default]
    Newest,
    /// By creation time, oldest first.
    Oldest,
    /// By amount, largest first (amounts of different currencies compared as numbers).
    Largest,
}

impl TimeOrAmount {
    pub const ALL: [TimeOrAmount; 3] = [
        TimeOrAmount::Newest,
        TimeOrAmount::Oldest,
        TimeOrAmount::Largest,
    ];

    /// The name in URLs.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What the sort selector shows.
    pub fn label(self) -> &'static str {
        match self {
            TimeOrAmount::Newest => "Newest first",
            TimeOrAmount::Oldest => "Oldest first",
            TimeOrAmount::Largest => "Largest amount first",
        }
    }

    /// Reads a URL's `sort` (refused: a field error naming the three).
    pub fn parse(s: &str) -> Result<TimeOrAmount, String> {
        s.parse()
            .map_err(|_| format!("unknown sort {s:?} (newest, oldest or largest)"))
    }
}

/// `impl ListQuery` for a URL state struct whose cursor is its `after: Option<String>` field:
/// `list_query!(PaymentQuery, "/payments");`.
#[macro_export]
macro_rules! list_query {
    ($query:ident, $path:literal) => {
        impl $crate::components::list::ListQuery for $query {
            const PATH: &'static str = $path;

            fn after(&self) -> Option<&str> {
                self.after.as_deref()
            }

            fn at(&self, after: Option<String>) -> Self {
                Self {
                    after,
                    ..self.clone()
                }
            }
        }
    };
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
    fn orders_round_trip_by_name() {
        for s in TimeOrAmount::ALL {
            assert_eq!(TimeOrAmount::parse(s.as_str()), Ok(s));
        }
        assert!(TimeOrAmount::parse("NEWEST").is_err());
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
        assert_eq!(
            Q::from_query("role=a&q=x&role=b&role=").role.as_deref(),
            Some("a,b"),
            "given twice: both values"
        );
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
