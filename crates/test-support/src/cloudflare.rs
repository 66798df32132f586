//! A stateful local stand-in for the Cloudflare API-token endpoints
//! (`/user/tokens*` and `/accounts/{account_id}/tokens*`) and R2 temporary
//! credentials (`/accounts/{account_id}/r2/temp-access-credentials`),
//! following the published OpenAPI fragments in
//! `shared/reference/cloudflare-openapi/`.
//!
//! Start it with [`CloudflareStandin::start`] (blocking, for plain `#[test]`s)
//! or [`CloudflareStandin::start_async`], seed a parent token with
//! [`CloudflareHandle::add_user_token`]`(`[`TokenSpec::parent`]`(..))`, point
//! the client at [`CloudflareStandin::base_url`]
//! (`http://127.0.0.1:PORT/client/v4`) and inspect what happened afterwards.
//!
//! # Endpoints (under `/client/v4`)
//! `GET {tokens}/verify`, `GET {tokens}`, `POST {tokens}`, `GET {tokens}/{id}`,
//! `DELETE {tokens}/{id}`, `GET {tokens}/permission_groups`, where `{tokens}` is
//! `/user/tokens` or `/accounts/{account_id}/tokens`. Every answer is the
//! envelope `{success, errors: [{code, message}], messages, result,
//! result_info?}`. Token roll/update (`PUT`) is not implemented.
//!
//! `POST /accounts/{account_id}/r2/temp-access-credentials` mints R2
//! temporary credentials from a parent R2 token the stand-in knows; see the
//! `r2` module's documentation ([`TempCredentialRecord`]) for its rules. The
//! S3 stand-in learns them through
//! [`CloudflareHandle::on_temp_credentials_issued`].
//!
//! # Authorisation model
//! * Verify needs only a usable token of the right kind: a user token on
//!   `/user/tokens/verify`, a token of that very account on the account path.
//!   Anything else (unknown, deleted, expired, disabled, not yet valid, wrong
//!   kind) answers 401 code 1000 "Invalid API Token", like the real API does
//!   for an account token sent to the user path.
//! * Other user endpoints need a user token holding "API Tokens Write"
//!   (create/delete) or "API Tokens Read"/"Write" (list/get/permission groups).
//!   Resources of those policies are not checked.
//! * Account endpoints accept an account token of that account, or a user
//!   token whose granting policy has a top-level resource key
//!   `com.cloudflare.api.account.<id>` or `com.cloudflare.api.account.*`.
//!   The groups accepted are "Account API Tokens Write"/"Read" and also
//!   "API Tokens Write"/"Read".
//! * A `deny` policy naming the needed group wins over `allow`.
//! * A token may read/delete any live token of the same collection (itself
//!   included); tokens of another collection answer 404.
//! * A child's permissions are not limited to the parent's (as on Cloudflare,
//!   where "API Tokens Write" can grant anything the user can).
//!
//! # Error codes
//! | HTTP | code  | when |
//! |------|-------|------|
//! | 400  | 6003 (+ `error_chain` 6111) | `Authorization` missing or not `Bearer <token>` |
//! | 401  | 1000  | verify with an unusable token |
//! | 401  | 9109  | "Invalid access token": unusable token elsewhere |
//! | 403  | 9109  | "Unauthorized to access requested resource": wrong account |
//! | 403  | 10000 | "Authentication error": token lacks the API-tokens group |
//! | 400  | 6007  | malformed JSON body |
//! | 400  | 1001  | body or query fails validation (message names the field) |
//! | 400  | 1002  | token quota reached (message states the limit) |
//! | 400  | 7003  | malformed account or token identifier in the path |
//! | 404  | 1003  | token not found (or already deleted) |
//! | 400  | 10042 | R2 temporary credentials: the parent access key does not exist |
//! | 403  | 10043 | R2 temporary credentials: the parent lacks the permission on the bucket |
//! | 404  | 7000  | no such route |
//! | 405  | 7001  | method not allowed on the route |
//! | 429  | 971   | injected rate limit (`Retry-After`, `x-ratelimit-remaining: 0`) |
//! | 500  | 10001 | injected server error |
//!
//! # Admin API (plain JSON, not faulted, not logged)
//! `GET /__standin/health`, `GET /__standin/stats`, `GET /__standin/tokens`
//! (with values), `PUT /__standin/tokens/{id}` (`{status?, expires_on?}`),
//! `GET|DELETE /__standin/requests`, `GET|DELETE /__standin/bodies`,
//! `GET|PUT|DELETE /__standin/faults` (`{latency_ms, rate_limited,
//! retry_after_secs, server_errors, dropped, responses_lost}`, partial updates),
//! `PUT /__standin/quotas` (`{user?, account?}`), `POST /__standin/user-tokens`
//! and `POST /__standin/accounts/{id}/tokens` (`{name?, permission_groups?,
//! token_write? = true, expires_on?, not_before?, status?}` → `{id, value}`).
#![deny(missing_docs)]

mod admin;
mod api;
mod catalogue;
mod model;
mod r2;
mod server;
mod state;

pub use catalogue::{
    groups, permission_group, permission_group_id, permission_groups, PermissionGroup, SCOPE_ACCOUNT, SCOPE_R2_BUCKET,
    SCOPE_USER, SCOPE_ZONE,
};
pub use model::TempCredentialRecord;
pub use model::{
    format_time, policy, user_resource, CreatedToken, Faults, InjectedFault, LiveTokens, RecordedBody, RequestLogEntry,
    TokenOwner, TokenRecord, TokenSpec, TokenStatus, ACCOUNT_TOKEN_QUOTA, ALL_ACCOUNTS_RESOURCE, DEFAULT_ACCOUNT_ID,
    USER_ID, USER_TOKEN_QUOTA,
};
pub use r2::{MAX_TEMP_TTL_SECS, TEMP_PERMISSIONS};
pub use server::CloudflareStandin;
pub use state::CloudflareHandle;
