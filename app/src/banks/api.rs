//! The bank pages' server functions, under banks.view. (The CSV is a plain download, served by
//! the server crate.)

use leptos::prelude::*;

use super::{BankDetail, BankPage, BankQuery};
use crate::error::AppError;

crate::guard!(ListBanks, BanksView);

/// One page of the banks matching the filters (`BankQuery`'s fields). Permission: banks.view.
#[server(prefix = "/api/banks", endpoint = "list_banks")]
pub async fn list_banks(#[server(default)] query: BankQuery) -> Result<BankPage, AppError> {
    use crate::{
        backend::{auth::require_for, db::banks::BankList, db::list, state},
        components::list::PAGE_SIZE,
    };
    let me = require_for::<ListBanks>().await?;
    let state = state::current()?;
    list::read_page::<BankList>(&state, me.user_id, &query, PAGE_SIZE).await
}

crate::guard!(GetBank, BanksView);

/// A bank's page; a malformed id is a field error, an unknown one `NotFound`. Permission:
/// banks.view.
#[server(prefix = "/api/banks", endpoint = "get_bank")]
pub async fn get_bank(id: String) -> Result<BankDetail, AppError> {
    use crate::backend::{auth::require_for, banks, state};
    require_for::<GetBank>().await?;
    let id = crate::error::parse_id(&id, "bank")?;
    let state = state::current()?;
    banks::detail(&state.db, id).await
}
