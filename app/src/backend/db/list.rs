//! What every filtered, keyset-paged list shares on the server: reading the URL's values,
//! cursors that carry a time and an id, the `after` field error, and the CSV export (its audit
//! row committed first, then every matching row streamed in keyset batches).

use std::future::Future;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use uuid::Uuid;

use crate::{
    backend::audit::export::{csv_record, formula_safe},
    error::AppError,
};

/// A URL value, trimmed; `None` when missing or blank (what a GET form sends for "any").
pub fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Splits a cursor's `<time>.<id>` part into the time's text and the id.
pub fn time_and_id(rest: &str) -> Option<(&str, Uuid)> {
    let (time, id) = rest.split_once('.')?;
    Some((time, Uuid::parse_str(id).ok()?))
}

/// A time written as microseconds since the epoch (`DateTime::timestamp_micros`).
pub fn from_micros(micros: &str) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros.parse().ok()?)
}

/// The cursor in the `after` value, read by `decode`; a value `decode` refuses (junk, or a
/// cursor of another list or order) is a field error on `after`.
pub fn cursor<C>(
    after: &Option<String>,
    decode: impl FnOnce(&str) -> Option<C>,
) -> Result<Option<C>, AppError> {
    given(after)
        .map(|a| {
            decode(a).ok_or_else(|| {
                AppError::field(
                    "after",
                    "not a page of this list; start again from the first page",
                )
            })
        })
        .transpose()
}

/// A CSV file as a stream of chunks: the `columns` header, then one chunk per batch that
/// `fetch` returns (a batch is rows and the cursor after them, `None` after the last), each row
/// made into cells by `cells`. Cells a spreadsheet would run as formulas are made text
/// (`formula_safe`). Memory stays constant whatever the number of rows.
pub fn csv_stream<R, C, F, Fut>(
    columns: &'static [&'static str],
    mut fetch: F,
    cells: fn(&R) -> Vec<Option<String>>,
) -> impl Stream<Item = sqlx::Result<Bytes>> + Send + 'static
where
    R: Send + 'static,
    C: Send + 'static,
    F: FnMut(Option<C>) -> Fut + Send + 'static,
    Fut: Future<Output = sqlx::Result<(Vec<R>, Option<C>)>> + Send + 'static,
{
    use futures::StreamExt;
    let mut header = String::new();
    csv_record(&mut header, columns.iter().map(|c| Some(*c)));
    let header = futures::stream::once(async move { Ok(Bytes::from(header)) });
    // The state is the next batch's start (`Some(None)`: the first), `None` once done.
    let rows = futures::stream::try_unfold(Some(None), move |start: Option<Option<C>>| {
        let batch = start.map(&mut fetch);
        async move {
            let Some(batch) = batch else {
                return Ok(None);
            };
            let (rows, next) = batch.await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let mut out = String::with_capacity(rows.len() * 160);
            for row in &rows {
                let row: Vec<_> = cells(row)
                    .into_iter()
                    .map(|c| c.map(formula_safe))
                    .collect();
                csv_record(&mut out, row.iter().map(|c| c.as_deref()));
            }
            Ok(Some((Bytes::from(out), next.map(Some))))
        }
    });
    header.chain(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_or_are_field_errors() {
        let id = Uuid::new_v4();
        assert_eq!(time_and_id(&format!("12.{id}")), Some(("12", id)));
        assert_eq!(time_and_id("12.x"), None);
        assert_eq!(from_micros("x"), None);
        let parse = |a: &str| a.strip_prefix("ok").map(str::to_string);
        assert_eq!(cursor(&Some(" ".into()), parse).unwrap(), None);
        assert_eq!(
            cursor(&Some("ok1".into()), parse).unwrap(),
            Some("1".into())
        );
        let Err(AppError::Validation { field_errors }) = cursor(&Some("no".into()), parse) else {
            panic!("junk passes");
        };
        assert!(field_errors.contains_key("after"));
    }

    #[tokio::test]
    async fn csv_streams_carry_the_header_and_every_batch_formula_safe() {
        use futures::TryStreamExt;
        let stream = csv_stream(
            &["name", "n"],
            |after: Option<u32>| async move {
                Ok(match after {
                    None => (vec![("=a".to_string(), 1)], Some(1)),
                    Some(1) => (vec![("b,c".to_string(), 2)], None),
                    Some(_) => unreachable!("no batch after the last"),
                })
            },
            |(name, n): &(String, i32)| vec![Some(name.clone()), Some(n.to_string())],
        );
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert_eq!(chunks.concat(), b"name,n\r\n'=a,1\r\n\"b,c\",2\r\n");
    }
}
