//! Who may do what: the permission matrix as one table (docs/permissions.md is generated from
//! it), shared by the server (which enforces it) and the browser (which only hides what a role
//! cannot use).

pub mod api;
pub mod login;

use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// Everything the console lets someone do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Permission {
    DashboardView,
    BanksView,
    PaymentsView,
    PaymentsCancel,
    SettlementsView,
    ComplianceView,
    ComplianceReview,
    ControlsView,
    ControlsApply,
    ControlsApprove,
    AuditView,
    AuditVerify,
    AuditExport,
    LedgerView,
    UsersView,
    UsersManage,
    SessionsManage,
    SystemView,
    ExportCsv,
    /// Own profile, password, 2FA and sessions.
    SelfService,
}

impl Permission {
    pub const ALL: [Permission; 20] = [
        Permission::DashboardView,
        Permission::BanksView,
        Permission::PaymentsView,
        Permission::PaymentsCancel,
        Permission::SettlementsView,
        Permission::ComplianceView,
        Permission::ComplianceReview,
        Permission::ControlsView,
        Permission::ControlsApply,
        Permission::ControlsApprove,
        Permission::AuditView,
        Permission::AuditVerify,
        Permission::AuditExport,
        Permission::LedgerView,
        Permission::UsersView,
        Permission::UsersManage,
        Permission::SessionsManage,
        Permission::SystemView,
        Permission::ExportCsv,
        Permission::SelfService,
    ];

    /// The name used in the spec, the API (`GET /api/v1/me`) and audit rows.
    pub fn name(self) -> &'static str {
        match self {
            Permission::DashboardView => "dashboard.view",
            Permission::BanksView => "banks.view",
            Permission::PaymentsView => "payments.view",
            Permission::PaymentsCancel => "payments.cancel",
            Permission::SettlementsView => "settlements.view",
            Permission::ComplianceView => "compliance.view",
            Permission::ComplianceReview => "compliance.review",
            Permission::ControlsView => "controls.view",
            Permission::ControlsApply => "controls.apply",
            Permission::ControlsApprove => "controls.approve",
            Permission::AuditView => "audit.view",
            Permission::AuditVerify => "audit.verify",
            Permission::AuditExport => "audit.export",
            Permission::LedgerView => "ledger.view",
            Permission::UsersView => "users.view",
            Permission::UsersManage => "users.manage",
            Permission::SessionsManage => "sessions.manage",
            Permission::SystemView => "system.view",
            Permission::ExportCsv => "export.csv",
            Permission::SelfService => "self",
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Role {
    /// The permission matrix. The only place roles meet permissions.
    pub fn can(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Operator => !matches!(
                permission,
                AuditView | AuditVerify | AuditExport | UsersView | UsersManage | SessionsManage
            ),
            Role::Auditor => matches!(
                permission,
                DashboardView
                    | BanksView
                    | PaymentsView
                    | SettlementsView
                    | ComplianceView
                    | ControlsView
                    | AuditView
                    | AuditVerify
                    | AuditExport
                    | LedgerView
                    | UsersView
                    | ExportCsv
                    | SelfService
            ),
            Role::Viewer => matches!(
                permission,
                DashboardView
                    | BanksView
                    | PaymentsView
                    | SettlementsView
                    | ControlsView
                    | LedgerView
                    | SelfService
            ),
        }
    }

    pub fn permissions(self) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.can(*p))
            .collect()
    }
}

/// What a server function takes, declared once next to it with `guard!`: the server's
/// second lock (`server_fn_guard`, before arguments are parsed), the function's own first line
/// (`backend::auth::require_for`), `deltran-console routes` and the role × route test all read
/// this one declaration.
pub trait Guarded {
    const PERMISSION: Permission;
}

/// A server function's URL and who may call it (`None`: anyone, to sign in or find out who
/// is signed in), registered by `guard!`.
#[derive(Debug, Clone, Copy)]
pub struct ServerFnAccess {
    pub path: &'static str,
    pub access: Option<Permission>,
}

#[cfg(feature = "ssr")]
inventory::collect!(ServerFnAccess);

/// Every server function with who may call it, by URL; one missing here is refused outright.
#[cfg(feature = "ssr")]
pub fn server_fns() -> Vec<ServerFnAccess> {
    let mut all: Vec<ServerFnAccess> = inventory::iter::<ServerFnAccess>().copied().collect();
    all.sort_by_key(|f| f.path);
    all
}

/// Declares who may call a server function, by the type `#[server]` generates for it:
/// `guard!(ListUsers, UsersView);` above `pub async fn list_users`, or
/// `guard!(Login, public);` for the few anyone may call.
#[macro_export]
macro_rules! guard {
    ($server_fn:ident, public) => {
        $crate::guard!(@register $server_fn, None);
    };
    ($server_fn:ident, $permission:ident) => {
        impl $crate::auth::Guarded for $server_fn {
            const PERMISSION: $crate::auth::Permission = $crate::auth::Permission::$permission;
        }
        $crate::guard!(@register $server_fn, Some($crate::auth::Permission::$permission));
    };
    (@register $server_fn:ident, $access:expr) => {
        #[cfg(feature = "ssr")]
        inventory::submit! {
            $crate::auth::ServerFnAccess {
                path: <$server_fn as leptos::server_fn::ServerFn>::PATH,
                access: $access,
            }
        }
    };
}

/// The signed-in user, as the browser sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Me {
    pub username: String,
    pub role: Role,
    /// What the user may do now (an admin without 2FA: only self-service).
    pub permissions: Vec<Permission>,
    /// An admin who must set up two-factor authentication before anything else.
    pub needs_two_factor: bool,
}

impl Me {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

#[cfg(test)]
mod tests {
    use super::{Permission::*, *};

    #[test]
    fn the_matrix_matches_the_spec() {
        let count = |r: Role| r.permissions().len();
        assert_eq!(count(Role::Admin), 20);
        assert_eq!(count(Role::Operator), 14);
        assert_eq!(count(Role::Auditor), 13);
        assert_eq!(count(Role::Viewer), 7);
        assert!(Role::Operator.can(ControlsApprove) && !Role::Operator.can(AuditView));
        assert!(Role::Auditor.can(AuditExport) && !Role::Auditor.can(PaymentsCancel));
        assert!(!Role::Auditor.can(SystemView) && Role::Operator.can(SystemView));
        assert!(!Role::Viewer.can(ComplianceView) && !Role::Viewer.can(ExportCsv));
        for r in Role::ALL {
            assert!(r.can(SelfService) && r.can(DashboardView) && r.can(LedgerView));
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Permission::ALL.iter().map(|p| p.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
    }
}
