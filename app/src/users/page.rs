//! The Users page: for users.view the list (search, filters, sort and keyset pages, all held
//! in the URL so a view can be shared and back/forward work) with its CSV export, and for
//! users.manage the create form, the per-user actions (each confirmed before it runs) and the
//! pending role changes.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use super::{
    api::{
        activate_user, approve_role_change, change_role, deactivate_user, list_users,
        reject_role_change, reset_password, reset_two_factor, unlock_user, CreateUser,
    },
    RoleChangeOutcome, RoleChangeRequest, UserQuery, UserRow, UserSort, UserStatus, UsersOverview,
};
use crate::{
    auth::{Me, Permission},
    components::{
        change::{Change, ChangeOutcome, Changes, ConfirmChange},
        format_time,
        list::{FilterForm, ListQuery, ListRows, ListTable, SelectFilter, TextFilter},
    },
    domain::Role,
    error::AppError,
};

/// A change an admin has asked for and is asked to confirm.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    ChangeRole {
        user: String,
        id: Uuid,
        role: String,
        reason: String,
    },
    Deactivate {
        user: String,
        id: Uuid,
    },
    Activate {
        user: String,
        id: Uuid,
        again: Reauth,
    },
    Unlock {
        user: String,
        id: Uuid,
    },
    ResetPassword {
        user: String,
        id: Uuid,
        password: String,
        again: Reauth,
    },
    ResetTwoFactor {
        user: String,
        id: Uuid,
        again: Reauth,
    },
    Approve {
        user: String,
        id: Uuid,
    },
    Reject {
        user: String,
        id: Uuid,
    },
}

/// The caller's own password and one-time code, asked again for a change to another admin's
/// account (empty for other users: the server asks only for admins).
#[derive(Debug, Clone, Default, PartialEq)]
struct Reauth {
    password: String,
    code: String,
}

impl Reauth {
    fn args(self) -> (Option<String>, Option<String>) {
        let given = |s: String| (!s.trim().is_empty()).then_some(s);
        (given(self.password), given(self.code))
    }
}

impl Change for Op {
    fn question(&self) -> String {
        match self {
            Op::ChangeRole { user, role, .. } if role == "admin" => {
                format!("Request that {user} become admin? Another admin must approve it.")
            }
            Op::ChangeRole { user, role, .. } => {
                format!("Change {user}'s role to {role}? Their sessions will end.")
            }
            Op::Deactivate { user, .. } => {
                format!("Deactivate {user}? They are signed out everywhere.")
            }
            Op::Activate { user, .. } => format!("Reactivate {user}?"),
            Op::Unlock { user, .. } => format!("Unlock {user}'s sign-in?"),
            Op::ResetPassword { user, .. } => {
                format!("Set a new password for {user}? Their sessions will end.")
            }
            Op::ResetTwoFactor { user, .. } => {
                format!("Turn off two-factor sign-in for {user}? Their sessions will end.")
            }
            Op::Approve { user, .. } => format!("Approve the role change of {user}?"),
            Op::Reject { user, .. } => format!("Reject the role change of {user}?"),
        }
    }

    async fn run(self) -> Result<String, AppError> {
        Ok(match self {
            Op::ChangeRole {
                user,
                id,
                role,
                reason,
            } => match change_role(id, role.clone(), reason).await? {
                RoleChangeOutcome::Changed => format!("{user} is now {role}."),
                RoleChangeOutcome::Pending => {
                    format!("Request filed: {user} becomes {role} once another admin approves.")
                }
            },
            Op::Deactivate { user, id } => {
                deactivate_user(id).await?;
                format!("{user} is deactivated and signed out.")
            }
            Op::Activate { user, id, again } => {
                let (own_password, own_code) = again.args();
                activate_user(id, own_password, own_code).await?;
                format!("{user} is active again.")
            }
            Op::Unlock { user, id } => {
                unlock_user(id).await?;
                format!("{user} is unlocked.")
            }
            Op::ResetPassword {
                user,
                id,
                password,
                again,
            } => {
                let (own_password, own_code) = again.args();
                reset_password(id, password, own_password, own_code).await?;
                format!("{user}'s password is reset.")
            }
            Op::ResetTwoFactor { user, id, again } => {
                let (own_password, own_code) = again.args();
                reset_two_factor(id, own_password, own_code).await?;
                format!("{user}'s two-factor sign-in is off and their sessions ended.")
            }
            Op::Approve { user, id } => {
                approve_role_change(id).await?;
                format!("Approved: {user}'s new role is in effect.")
            }
            Op::Reject { user, id } => {
                reject_role_change(id).await?;
                format!("Rejected the role change of {user}.")
            }
        })
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let me = use_context::<Me>();
    let read = me.as_ref().is_some_and(|m| m.can(Permission::UsersView));
    let manage = me.as_ref().is_some_and(|m| m.can(Permission::UsersManage));
    let export = me.as_ref().is_some_and(|m| m.can(Permission::ExportCsv));
    let my_name = me.map(|m| m.username).unwrap_or_default();
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(UserQuery::from_params));
    let changes = Changes::<Op>::default();
    let version = changes.version;
    let create = ServerAction::<CreateUser>::new();
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            version.update(|v| *v += 1);
        }
    });
    let my_name = StoredValue::new(my_name);
    view! {
        <Title text="Users · DelTran Console"/>
        <header class="mb-6">
            <h1 class="text-2xl font-semibold">"Users"</h1>
            <p class="text-sm text-slate-500 dark:text-slate-400">
                "Console users, their roles and sign-in state. Raising a user to admin takes a second admin's approval."
            </p>
        </header>
        <ChangeOutcome changes/>
        <ConfirmChange changes/>
        <Show when=move || read>
            <Filters query/>
        </Show>
        <ListRows
            query
            fetch=list_users
            table=move |overview, query| view! {
                <Overview overview query manage export my_name=my_name.get_value() changes/>
            }
            reset_label="Show all users"
            reload=version
        />
        <Show when=move || manage>
            <CreateForm create/>
        </Show>
    }
}

#[component]
fn Filters(query: Memo<UserQuery>) -> impl IntoView {
    let roles = || Role::ALL.map(|r| (r.as_str(), r.as_str())).to_vec();
    let statuses = || UserStatus::ALL.map(|s| (s.as_str(), s.as_str())).to_vec();
    let sorts = || UserSort::ALL.map(|s| (s.as_str(), s.label())).to_vec();
    move || {
        let q = query.get();
        view! {
            <FilterForm action="/users" label="Filter users">
                <TextFilter name="q" label="Search" value=q.q placeholder="Username or e-mail"/>
                <SelectFilter name="role" label="Role" any="Any role" options=roles() value=q.role/>
                <SelectFilter name="status" label="Status" any="Any status" options=statuses() value=q.status/>
                <SelectFilter name="tfa" label="2FA" any="Either" options=vec![("on", "on"), ("off", "off")] value=q.tfa/>
                <SelectFilter name="sort" label="Sort" options=sorts() value=q.sort/>
            </FilterForm>
        }
    }
}

#[component]
fn Overview(
    overview: UsersOverview,
    query: UserQuery,
    manage: bool,
    export: bool,
    my_name: String,
    changes: Changes<Op>,
) -> impl IntoView {
    let UsersOverview {
        users,
        next,
        pending,
    } = overview;
    let mut columns = vec![
        "Username",
        "E-mail",
        "Role",
        "Active",
        "2FA",
        "Last sign-in",
        "Locked until",
        "Created",
    ];
    if manage {
        columns.push("Actions");
    }
    let is_empty = users.is_empty();
    let lines = users
        .into_iter()
        .map(|u| {
            let own = u.username == my_name;
            view! { <UserLine user=u manage own changes/> }
        })
        .collect_view();
    view! {
        <ListTable
            label="Users"
            columns
            empty="No users match these filters."
            is_empty
            pages=query.pages(next)
            export=export.then(|| query.download("/downloads/users.csv"))
        >
            {lines}
        </ListTable>
        <PendingRequests pending manage my_name changes/>
    }
}

#[component]
fn UserLine(user: UserRow, manage: bool, own: bool, changes: Changes<Op>) -> impl IntoView {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let actions = (manage && !own).then(|| view! { <UserActions user=user.clone() changes/> });
    let own_note =
        (manage && own).then(|| view! { <td class="text-sm text-slate-500">"(you)"</td> });
    view! {
        <tr>
            <td>{user.username.clone()}</td>
            <td>{user.email.clone()}</td>
            <td>{user.role.as_str()}</td>
            <td>{yes_no(user.is_active)}</td>
            <td>{yes_no(user.is_2fa_enabled)}</td>
            <td>{format_time(user.last_login_at)}</td>
            <td>{format_time(user.locked_until)}</td>
            <td>{format_time(Some(user.created_at))}</td>
            {actions}
            {own_note}
        </tr>
    }
}

/// One user's actions: each asks for confirmation, and runs only once confirmed.
#[component]
fn UserActions(user: UserRow, changes: Changes<Op>) -> impl IntoView {
    let name = user.username.clone();
    let id = user.id;
    let role = RwSignal::new(user.role.as_str().to_string());
    let reason = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let own_password = RwSignal::new(String::new());
    let own_code = RwSignal::new(String::new());
    let again = move || Reauth {
        password: own_password.get(),
        code: own_code.get(),
    };
    let n = StoredValue::new(name.clone());
    let ask = move |op: Op| changes.ask(op);
    // Another admin's password, two-factor or reactivation takes the caller's own password and
    // one-time code again.
    let target_admin = user.role == Role::Admin;
    let active = user.is_active;
    let locked = user.locked_until.is_some();
    let two_factor = user.is_2fa_enabled;
    view! {
        <td>
            <details>
                <summary class="cursor-pointer">"Manage " {name.clone()}</summary>
                <div class="space-y-2 mt-2 min-w-64">
                    <div class="flex flex-wrap gap-1 items-end">
                        <label class="text-sm">
                            "New role"
                            <select class="field" prop:value=move || role.get() on:change=move |ev| role.set(event_target_value(&ev))>
                                {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == user.role>{r.as_str()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label class="text-sm">
                            "Reason"
                            <input class="field" bind:value=reason/>
                        </label>
                        <button type="button" class="chip" on:click=move |_| ask(Op::ChangeRole { user: n.get_value(), id, role: role.get(), reason: reason.get() })>
                            "Change role"
                        </button>
                    </div>
                    {target_admin.then(|| view! {
                        <fieldset class="flex flex-wrap gap-1 items-end">
                            <legend class="text-sm">"An admin: confirm it is you"</legend>
                            <label class="text-sm">
                                "Your password"
                                <input class="field" type="password" autocomplete="current-password" bind:value=own_password/>
                            </label>
                            <label class="text-sm">
                                "Your one-time code"
                                <input class="field" inputmode="numeric" autocomplete="one-time-code" bind:value=own_code/>
                            </label>
                        </fieldset>
                    })}
                    <div class="flex flex-wrap gap-1">
                        {if active {
                            view! { <button type="button" class="chip" on:click=move |_| ask(Op::Deactivate { user: n.get_value(), id })>"Deactivate"</button> }.into_any()
                        } else {
                            view! { <button type="button" class="chip" on:click=move |_| ask(Op::Activate { user: n.get_value(), id, again: again() })>"Reactivate"</button> }.into_any()
                        }}
                        {locked.then(|| view! { <button type="button" class="chip" on:click=move |_| ask(Op::Unlock { user: n.get_value(), id })>"Unlock"</button> })}
                        {two_factor.then(|| view! { <button type="button" class="chip" on:click=move |_| ask(Op::ResetTwoFactor { user: n.get_value(), id, again: again() })>"Reset 2FA"</button> })}
                    </div>
                    <div class="flex flex-wrap gap-1 items-end">
                        <label class="text-sm">
                            "New password"
                            <input class="field" type="password" autocomplete="new-password" bind:value=password/>
                        </label>
                        <button type="button" class="chip" on:click=move |_| ask(Op::ResetPassword { user: n.get_value(), id, password: password.get(), again: again() })>
                            "Reset password"
                        </button>
                    </div>
                </div>
            </details>
        </td>
    }
}

#[component]
fn PendingRequests(
    pending: Vec<RoleChangeRequest>,
    manage: bool,
    my_name: String,
    changes: Changes<Op>,
) -> impl IntoView {
    let empty = pending.is_empty();
    view! {
        <section class="card mb-6 overflow-x-auto">
            <h2 class="text-lg font-semibold mb-3">"Pending role changes"</h2>
            <table class="data-table" aria-label="Pending role changes">
                <thead>
                    <tr>
                        <th scope="col">"User"</th>
                        <th scope="col">"From"</th>
                        <th scope="col">"To"</th>
                        <th scope="col">"Reason"</th>
                        <th scope="col">"Requested by"</th>
                        <th scope="col">"Requested"</th>
                        {manage.then(|| view! { <th scope="col">"Decision"</th> })}
                    </tr>
                </thead>
                <tbody>
                    {empty.then(|| view! { <tr><td colspan="7">"No pending role changes."</td></tr> })}
                    {pending
                        .into_iter()
                        .map(|r| {
                            let own = r.requested_by == my_name || r.username == my_name;
                            let user = StoredValue::new(r.username.clone());
                            let id = r.id;
                            let decision = manage.then(|| {
                                if own {
                                    view! { <td class="text-sm text-slate-500">"Awaiting another admin"</td> }.into_any()
                                } else {
                                    view! {
                                        <td class="flex gap-1">
                                            <button type="button" class="chip" on:click=move |_| changes.ask(Op::Approve { user: user.get_value(), id })>"Approve"</button>
                                            <button type="button" class="chip" on:click=move |_| changes.ask(Op::Reject { user: user.get_value(), id })>"Reject"</button>
                                        </td>
                                    }.into_any()
                                }
                            });
                            view! {
                                <tr>
                                    <td>{r.username.clone()}</td>
                                    <td>{r.from_role.as_str()}</td>
                                    <td>{r.to_role.as_str()}</td>
                                    <td>{r.reason.clone()}</td>
                                    <td>{r.requested_by.clone()}</td>
                                    <td>{format_time(Some(r.requested_at))}</td>
                                    {decision}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Creating a user; errors appear beside their fields.
#[component]
fn CreateForm(create: ServerAction<CreateUser>) -> impl IntoView {
    let value = create.value();
    let field_error = move |field: &'static str| {
        move || match value.get() {
            Some(Err(AppError::Validation { field_errors })) => field_errors.get(field).cloned(),
            _ => None,
        }
    };
    let other_error = move || match value.get() {
        Some(Err(AppError::Validation { .. })) | Some(Ok(_)) | None => None,
        Some(Err(e)) => Some(e.to_string()),
    };
    let created = move || matches!(value.get(), Some(Ok(_)));
    let field = move |id: &'static str, label: &'static str, kind: &'static str| {
        let error = field_error(id);
        let error_id = format!("{id}-error");
        view! {
            <div>
                <label class="field-label" for=format!("new-{id}")>{label}</label>
                <input
                    class="field"
                    id=format!("new-{id}")
                    name=id
                    type=kind
                    required
                    autocomplete="off"
                    aria-invalid=move || error().is_some().to_string()
                    aria-describedby=error_id.clone()
                />
                <p id=error_id class="text-sm text-rose-700 dark:text-rose-300">{error}</p>
            </div>
        }
    };
    let role_error = field_error("role");
    view! {
        <section class="card">
            <h2 class="text-lg font-semibold mb-3">"Create user"</h2>
            <ActionForm action=create attr:class="grid gap-3 sm:grid-cols-2" attr:aria-label="Create user">
                {field("username", "Username", "text")}
                {field("email", "E-mail", "email")}
                <div>
                    <label class="field-label" for="new-role">"Role"</label>
                    <select class="field" id="new-role" name="role">
                        // Admins are made by raising a user, which a second admin approves.
                        {Role::ALL.into_iter().filter(|r| *r != Role::Admin).map(|r| view! { <option value=r.as_str() selected=r == Role::Viewer>{r.as_str()}</option> }).collect_view()}
                    </select>
                    <p class="text-sm text-rose-700 dark:text-rose-300">{role_error}</p>
                </div>
                {field("password", "Password", "password")}
                <div class="sm:col-span-2 flex items-center gap-3">
                    <button type="submit" class="btn-primary" disabled=move || create.pending().get()>
                        "Create user"
                    </button>
                    <p role="status">
                        {move || created().then_some("User created.")}
                        {move || other_error().map(|e| view! { <span class="text-rose-700 dark:text-rose-300">{e}</span> })}
                    </p>
                </div>
            </ActionForm>
        </section>
    }
}
