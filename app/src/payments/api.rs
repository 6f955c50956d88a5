//! The payment pages' server functions: reading needs payments.view, cancelling
//! payments.cancel. (The CSV is a plain download, served by the server crate.)

use leptos::prelude::*;

use super::{PaymentDetail, PaymentList, PaymentQuery};
use crate::error::AppError;

crate::guard!(ListPayments, PaymentsView);

/// One page of the payments matching the filters (`PaymentQuery`'s fields: an unknown value
/// or a cursor this list did not give is a field error naming the parameter), the next page's
/// cursor and how many match in all. Permission: payments.view.
#[server(prefix = "/api/payments", endpoint = "list_payments")]
pub async fn list_payments(
    #[server(default)] query: PaymentQuery,
) -> Result<PaymentList, AppError> {
    use crate::{
        backend::{auth::require_for, db::list, db::payments, state},
        components::list::PAGE_SIZE,
    };
    let me = require_for::<ListPayments>().await?;
    let state = state::current()?;
    let (page, total) =
        list::read_page_with_total::<payments::PaymentList>(&state, me.user_id, &query, PAGE_SIZE)
            .await?;
    Ok(PaymentList { page, total })
}

crate::guard!(GetPayment, PaymentsView);

/// A payment with its checks and its timeline; a malformed id is a field error, an unknown one
/// `NotFound`. Permission: payments.view.
#[server(prefix = "/api/payments", endpoint = "get_payment")]
pub async fn get_payment(id: String) -> Result<PaymentDetail, AppError> {
    use crate::backend::{auth::require_for, payments, state};
    require_for::<GetPayment>().await?;
    let id = crate::error::parse_id(&id, "payment")?;
    let state = state::current()?;
    payments::detail(&state, id).await
}

crate::guard!(CancelPayment, PaymentsCancel);

/// Cancels a pending payment with a reason (1–500 characters); `Conflict` when it is no longer
/// pending. Permission: payments.cancel.
#[server(prefix = "/api/payments", endpoint = "cancel_payment")]
pub async fn cancel_payment(id: String, reason: String) -> Result<(), AppError> {
    use crate::backend::{auth::require_for, payments, state};
    let me = require_for::<CancelPayment>().await?;
    let id = crate::error::parse_id(&id, "payment")?;
    let state = state::current()?;
    payments::cancel(&state.db, &me, id, &reason).await
}
