//! Who may do what: the permission matrix of domain.md §2 as one table, shared by the server
//! (which enforces it) and the browser (which only hides what a role cannot use).

pub mod api;
pub mod login;

use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// Everything the console lets someone do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// The permission matrix (domain.md §2). The only place roles meet permissions.
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

/// Who may call each server function, by URL: `None` for anyone (signing in, finding out who
/// one is), else the permission. The server refuses any server function missing from this
/// table before it runs, and each function checks its permission again on its first line.
pub const SERVER_FNS: &[(&str, Option<Permission>)] = &[
    ("/api/audit/list_audit", Some(Permission::AuditView)),
    ("/api/audit/get_audit_row", Some(Permission::AuditView)),
    (
        "/api/audit/start_verification",
        Some(Permission::AuditVerify),
    ),
    (
        "/api/audit/verification_progress",
        Some(Permission::AuditVerify),
    ),
    ("/api/auth/current_user", None),
    ("/api/auth/login", None),
    ("/api/auth/logout", Some(Permission::SelfService)),
    (
        "/api/dashboard/get_summary",
        Some(Permission::DashboardView),
    ),
    ("/api/profile/get_profile", Some(Permission::SelfService)),
    (
        "/api/profile/change_password",
        Some(Permission::SelfService),
    ),
    (
        "/api/profile/begin_two_factor",
        Some(Permission::SelfService),
    ),
    (
        "/api/profile/confirm_two_factor",
        Some(Permission::SelfService),
    ),
    (
        "/api/profile/revoke_own_session",
        Some(Permission::SelfService),
    ),
    ("/api/users/list_users", Some(Permission::UsersView)),
    ("/api/users/create_user", Some(Permission::UsersManage)),
    ("/api/users/change_role", Some(Permission::UsersManage)),
    (
        "/api/users/approve_role_change",
        Some(Permission::UsersManage),
    ),
    (
        "/api/users/reject_role_change",
        Some(Permission::UsersManage),
    ),
    ("/api/users/deactivate_user", Some(Permission::UsersManage)),
    ("/api/users/activate_user", Some(Permission::UsersManage)),
    ("/api/users/unlock_user", Some(Permission::UsersManage)),
    ("/api/users/reset_password", Some(Permission::UsersManage)),
    ("/api/users/reset_two_factor", Some(Permission::UsersManage)),
    (
        "/api/sessions/list_sessions",
        Some(Permission::SessionsManage),
    ),
    (
        "/api/sessions/revoke_session",
        Some(Permission::SessionsManage),
    ),
    (
        "/api/sessions/revoke_user_sessions",
        Some(Permission::SessionsManage),
    ),
];

/// The signed-in user, as the browser sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
