//! The contract every list keeps (`app::backend::db::list`), checked the same way for each
//! area: an area's tests describe it as a `ListArea` with its cases and call these. Called as
//! a browser calls the list: its server function, with a signed-in client.

use serde_json::Value;
use sqlx::PgPool;

use crate::common::{assert_field_error, audit_count, call, page_html, TestApp};

/// One list as the contract sees it.
pub struct ListArea {
    /// The server function answering one page.
    pub function: &'static str,
    /// Where its answer holds the rows and the next page's cursor (JSON pointers).
    pub rows: &'static str,
    pub next: &'static str,
    /// `FROM … WHERE <what every row of the list satisfies>` of the SQL the expected rows
    /// come from.
    pub from: &'static str,
    /// The id column in that SQL (the CSV's last column, too).
    pub id: &'static str,
    /// The server function's argument its values are fields of (`query[after]`), if any.
    pub args_in: Option<&'static str>,
    /// The page's path, and the `aria-label` of its table.
    pub page: &'static str,
    pub label: &'static str,
}

/// Arguments of the server function, the same rows in SQL (a condition), and their order in
/// SQL.
pub type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

/// A row's id as text, whatever its JSON type.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl ListArea {
    /// The form the server function takes for these URL values.
    fn form<'a>(&self, args: &[(&str, &'a str)]) -> Vec<(String, &'a str)> {
        args.iter()
            .map(|(k, v)| match self.args_in {
                Some(arg) => (format!("{arg}[{k}]"), *v),
                None => (k.to_string(), *v),
            })
            .collect()
    }

    /// One page with `args` (must answer 200): the rows' ids and the next cursor.
    pub async fn page(
        &self,
        app: &TestApp,
        client: &reqwest::Client,
        args: &[(&str, &str)],
    ) -> (Vec<String>, Option<String>) {
        let form = self.form(args);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let r = call(app, client, self.function, &form).await;
        assert_eq!(r.status(), 200, "{} {args:?}", self.function);
        let body: Value = r.json().await.unwrap();
        let ids = body
            .pointer(self.rows)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no {} in {body}", self.rows))
            .iter()
            .map(|row| id_text(&row["id"]))
            .collect();
        let next = body.pointer(self.next).and_then(Value::as_str);
        (ids, next.map(str::to_string))
    }

    /// Every page with `args`, following `next`: pages of 50, only the last one short.
    pub async fn walk(
        &self,
        app: &TestApp,
        client: &reqwest::Client,
        args: &[(&str, &str)],
    ) -> Vec<String> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut page_args = args.to_vec();
            if let Some(a) = &after {
                page_args.push(("after", a));
            }
            let (page, next) = self.page(app, client, &page_args).await;
            assert!(page.len() <= 50, "{args:?}: pages hold 50 rows");
            if next.is_some() {
                assert_eq!(page.len(), 50, "{args:?}: only the last page is short");
            }
            ids.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => return ids,
            }
        }
    }

    /// The ids the database gives for `condition` in `order`.
    pub async fn expected(&self, pool: &PgPool, condition: &str, order: &str) -> Vec<String> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {}::text {} AND {condition} ORDER BY {order}",
            self.id, self.from
        )))
        .fetch_all(pool)
        .await
        .unwrap()
    }

    /// For each case, the pages hold every matching row exactly once, in the SQL's order.
    pub async fn pages_every_row_once(
        &self,
        app: &TestApp,
        client: &reqwest::Client,
        pool: &PgPool,
        cases: &[Case<'_>],
    ) {
        for &(args, condition, order) in cases {
            let got = self.walk(app, client, args).await;
            let unique: std::collections::HashSet<_> = got.iter().collect();
            assert_eq!(unique.len(), got.len(), "{args:?}: a row twice");
            let expected = self.expected(pool, condition, order).await;
            assert_eq!(got, expected, "{args:?}");
        }
    }

    /// Each of `refused` is a field error naming its parameter; so are junk cursors.
    pub async fn refuses(
        &self,
        app: &TestApp,
        client: &reqwest::Client,
        refused: &[(Vec<(&str, &str)>, &str)],
    ) {
        let junk = [vec![("after", "garbage")], vec![("after", "x.1.2")]];
        let junk = junk.iter().map(|args| (args.clone(), "after"));
        for (args, field) in refused.iter().cloned().chain(junk) {
            let form = self.form(&args);
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            assert_field_error(app, client, self.function, &form, field).await;
        }
    }

    /// The download at `url` holds every row of `(condition, order)` in that order under the
    /// header `columns` (the id last), and writes one `action` audit row; returns the CSV.
    pub async fn exports(
        &self,
        app: &TestApp,
        client: &reqwest::Client,
        pool: &PgPool,
        (url, action, columns): (&str, &str, &str),
        (condition, order): (&str, &str),
    ) -> String {
        let before = audit_count(pool, action, None).await;
        let r = client.get(app.url(url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let disposition = r.headers()["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        let csv = r.text().await.unwrap();
        let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
        assert_eq!(lines[0], columns);
        let ids: Vec<String> = lines[1..]
            .iter()
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect();
        let expected = self.expected(pool, condition, order).await;
        assert_eq!(ids, expected, "{url}: every row, in order, no paging");
        assert_eq!(audit_count(pool, action, None).await, before + 1);
        csv
    }

    /// The page of `query` (a query string in the URL state's field order, with more than a
    /// page of rows) names its table, carries the view in its `download` link (when given)
    /// and its Next page link; the next page links back to the first; `(empty, text)`, a view
    /// with no rows, shows `text` and no Next link.
    pub async fn page_links(
        &self,
        app: &TestApp,
        client: &reqwest::Client,
        query: &str,
        download: Option<&str>,
        (empty, text): (&str, &str),
    ) {
        let at = |q: &str| format!("{}?{q}", self.page);
        let html = page_html(app, client, &at(query)).await;
        let escaped = query.replace('&', "&amp;");
        assert!(html.contains(&format!(r#"aria-label="{}""#, self.label)));
        if let Some(download) = download {
            let link = format!(r#"href="{download}?{escaped}""#);
            assert!(
                html.contains(&link),
                "the export link carries the view: {html}"
            );
        }
        let next = html
            .split(&format!(r#"href="{}?{escaped}&amp;after="#, self.page))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("a Next page link with the view and a cursor: {html}"));
        assert!(html.contains("Next page") && !html.contains("First page"));
        let second = page_html(app, client, &at(&format!("{query}&after={next}"))).await;
        assert!(second.contains("First page"), "{second}");
        assert!(second.contains(&format!(r#"href="{}?{escaped}""#, self.page)));
        let html = page_html(app, client, &at(empty)).await;
        assert!(html.contains(text), "{html}");
        assert!(!html.contains("Next page"));
    }
}
