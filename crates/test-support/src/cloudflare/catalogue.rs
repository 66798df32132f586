//! The permission-group catalogue the stand-in knows about.

/// Scope of permission groups that act on an account.
pub const SCOPE_ACCOUNT: &str = "com.cloudflare.api.account";
/// Scope of permission groups that act on zones of an account.
pub const SCOPE_ZONE: &str = "com.cloudflare.api.account.zone";
/// Scope of permission groups that act on a single R2 bucket.
pub const SCOPE_R2_BUCKET: &str = "com.cloudflare.edge.r2.bucket";
/// Scope of permission groups that act on the user (e.g. managing user tokens).
pub const SCOPE_USER: &str = "com.cloudflare.api.user";

/// Well-known permission-group ids served by the stand-in.
///
/// Ids marked "seen" come from `shared/reference/facts.md` (observed on the real
/// API); ids marked "invented" are placeholders chosen for the stand-in, since the
/// real ones are not recorded anywhere we rely on. Clients must resolve ids at
/// run time through `permission_groups?name=`, so the exact values do not matter.
pub mod groups {
    /// "Zone Read" (seen), zone scope.
    pub const ZONE_READ: &str = "c8fed203ed3043cba015a93ad1616f1f";
    /// "DNS Read" (seen), zone scope.
    pub const DNS_READ: &str = "82e64a83756745bbbb1c9c2701bf816b";
    /// "DNS Write" (seen), zone scope.
    pub const DNS_WRITE: &str = "4755a26eedb94da69e1066d98aa820be";
    /// "Zone Settings Write" (seen), zone scope.
    pub const ZONE_SETTINGS_WRITE: &str = "e17beae8b8cb423a99571f9c20b2b9fc";
    /// "Workers Routes Write" (seen), zone scope.
    pub const WORKERS_ROUTES_WRITE: &str = "28f4b596e7d643029c524985477ae49a";
    /// "Workers Scripts Read" (2024 spec example), account scope.
    pub const WORKERS_SCRIPTS_READ: &str = "1a71c399035b4950a1bd1466bbe4f420";
    /// "Workers Scripts Write" (seen), account scope.
    pub const WORKERS_SCRIPTS_WRITE: &str = "e086da7e2179491d91ee5f35b3c14571";
    /// "Workers KV Storage Read" (2024 spec example), account scope.
    pub const WORKERS_KV_READ: &str = "8b47d2786a534c08a1f94ee8f9f599ef";
    /// "Workers KV Storage Write" (2024 spec example), account scope.
    pub const WORKERS_KV_WRITE: &str = "f7f0eda5697f475c90846e879bab8666";
    /// "Workers R2 Storage Bucket Item Read" (seen), bucket scope ("Object Read").
    pub const R2_BUCKET_ITEM_READ: &str = "6a018a9f2fc74eb6b293b0c548f38b39";
    /// "Workers R2 Storage Bucket Item Write" (seen), bucket scope ("Object Read & Write").
    pub const R2_BUCKET_ITEM_WRITE: &str = "2efd5506f9c8494dacb1fa10a3e7d5b6";
    /// "Workers R2 Storage Read" (seen), account scope ("Admin Read").
    pub const R2_STORAGE_READ: &str = "b4992e1108244f5d8bfbd5744320c2e1";
    /// "Workers R2 Storage Write" (seen), account scope ("Admin Read & Write").
    pub const R2_STORAGE_WRITE: &str = "bf7481a1826f439697cb59a20b22293e";
    /// "API Tokens Write" (invented id), user scope: create/delete/read user tokens.
    /// On account endpoints it is accepted like "Account API Tokens Write".
    pub const API_TOKENS_WRITE: &str = "686d18d5ac6c441c867cbf6771e58a0a";
    /// "API Tokens Read" (invented id), user scope: list/read user tokens and groups.
    pub const API_TOKENS_READ: &str = "0cc3a61731504c89b99ec1be78b77aa0";
    /// "Account API Tokens Write" (invented id), account scope.
    pub const ACCOUNT_API_TOKENS_WRITE: &str = "5bc3f8b21c554832afc660159ab75fa4";
    /// "Account API Tokens Read" (invented id), account scope.
    pub const ACCOUNT_API_TOKENS_READ: &str = "3d8a0b1e6c7f4a2b9e5d1c0f8a7b6c5d";
}

/// One entry of the permission-group catalogue, as served by
/// `GET .../tokens/permission_groups` (`{id, name, scopes}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PermissionGroup {
    /// 32-hex-char public id.
    pub id: &'static str,
    /// Display name, e.g. `"Zone Read"`.
    pub name: &'static str,
    /// Scopes the group applies to, e.g. `["com.cloudflare.api.account.zone"]`.
    pub scopes: &'static [&'static str],
}

impl PermissionGroup {
    /// The group as the API serves it: `{"id", "name", "scopes"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "id": self.id, "name": self.name, "scopes": self.scopes })
    }

    /// Whether the group can be granted to account-owned tokens (anything not
    /// purely user-scoped).
    pub fn available_to_accounts(&self) -> bool {
        self.scopes.iter().any(|s| *s != SCOPE_USER)
    }
}

const fn group(id: &'static str, name: &'static str, scopes: &'static [&'static str]) -> PermissionGroup {
    PermissionGroup { id, name, scopes }
}

static CATALOGUE: &[PermissionGroup] = &[
    group(groups::ZONE_READ, "Zone Read", &[SCOPE_ZONE]),
    group(groups::DNS_READ, "DNS Read", &[SCOPE_ZONE]),
    group(groups::DNS_WRITE, "DNS Write", &[SCOPE_ZONE]),
    group(groups::ZONE_SETTINGS_WRITE, "Zone Settings Write", &[SCOPE_ZONE]),
    group(groups::WORKERS_ROUTES_WRITE, "Workers Routes Write", &[SCOPE_ZONE]),
    group(groups::WORKERS_SCRIPTS_READ, "Workers Scripts Read", &[SCOPE_ACCOUNT]),
    group(groups::WORKERS_SCRIPTS_WRITE, "Workers Scripts Write", &[SCOPE_ACCOUNT]),
    group(groups::WORKERS_KV_READ, "Workers KV Storage Read", &[SCOPE_ACCOUNT]),
    group(groups::WORKERS_KV_WRITE, "Workers KV Storage Write", &[SCOPE_ACCOUNT]),
    group(
        groups::R2_BUCKET_ITEM_READ,
        "Workers R2 Storage Bucket Item Read",
        &[SCOPE_R2_BUCKET],
    ),
    group(
        groups::R2_BUCKET_ITEM_WRITE,
        "Workers R2 Storage Bucket Item Write",
        &[SCOPE_R2_BUCKET],
    ),
    group(groups::R2_STORAGE_READ, "Workers R2 Storage Read", &[SCOPE_ACCOUNT]),
    group(groups::R2_STORAGE_WRITE, "Workers R2 Storage Write", &[SCOPE_ACCOUNT]),
    group(groups::API_TOKENS_WRITE, "API Tokens Write", &[SCOPE_USER]),
    group(groups::API_TOKENS_READ, "API Tokens Read", &[SCOPE_USER]),
    group(
        groups::ACCOUNT_API_TOKENS_WRITE,
        "Account API Tokens Write",
        &[SCOPE_ACCOUNT],
    ),
    group(
        groups::ACCOUNT_API_TOKENS_READ,
        "Account API Tokens Read",
        &[SCOPE_ACCOUNT],
    ),
];

/// The whole catalogue, in a stable order.
pub fn permission_groups() -> &'static [PermissionGroup] {
    CATALOGUE
}

/// Looks a group up by id.
pub fn permission_group(id: &str) -> Option<&'static PermissionGroup> {
    CATALOGUE.iter().find(|g| g.id == id)
}

/// Looks a group id up by exact name (e.g. `"DNS Write"`).
pub fn permission_group_id(name: &str) -> Option<&'static str> {
    CATALOGUE.iter().find(|g| g.name == name).map(|g| g.id)
}
