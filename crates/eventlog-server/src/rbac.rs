//! Who may call what: the one access matrix, enforced for every route by [`enforce`].
//!
//! Every route of the API is listed in [`ACCESS_MATRIX`] with the roles allowed to call it
//! (or as public). A route missing from the table is refused for everyone, and the
//! `rbac` integration test fails naming it, so a new route cannot ship unguarded.
//! docs/security-access.md shows the same table for users.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eventlog_store::KeyRole;

use crate::auth::Caller;
use crate::limits::ClientIp;
use crate::{ApiError, AppState};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key.
    Public,
    /// Callers with one of these roles.
    Roles(&'static [KeyRole]),
}

/// One row of the matrix.
#[derive(Debug, Clone)]
pub struct Rule {
    /// HTTP method.
    pub method: Method,
    /// The route as registered (OpenAPI form, e.g. `/api/events/{event_id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

const fn rule(method: Method, path: &'static str, access: Access) -> Rule {
    Rule {
        method,
        path,
        access,
    }
}

use KeyRole::{Admin, Analyst, Auditor, Ingest, Publishable};

/// Send events (publishable keys from their browser origins; see routes/browser.rs).
const WRITERS: Access = Access::Roles(&[Admin, Ingest, Publishable]);
/// Read events (tenant-bound callers see only their tenant).
const READERS: Access = Access::Roles(&[Admin, Analyst, Auditor]);
/// Check the tamper-evident chain.
const AUDITORS: Access = Access::Roles(&[Admin, Auditor]);

/// Every route and who may call it. Add a row here with every new route.
pub const ACCESS_MATRIX: &[Rule] = &[
    rule(Method::POST, "/api/events", WRITERS),
    rule(Method::POST, "/api/events/batch", WRITERS),
    rule(Method::GET, "/api/events/recent", READERS),
    rule(Method::GET, "/api/events/stream", READERS),
    rule(Method::GET, "/api/events/{event_id}", READERS),
    rule(Method::GET, "/api/events/user-activity/{user_id}", READERS),
    // Exporting is audited (ADMIN-006) and tenant-bound keys export only their tenant.
    rule(Method::GET, "/api/events/export", READERS),
    // Prometheus scrape; without a key when `[metrics] public = true` (see enforce).
    rule(Method::GET, "/metrics", Access::Roles(&[Admin, Analyst])),
    rule(Method::GET, "/api/events/health", Access::Public),
    rule(
        Method::GET,
        "/api/catalog",
        Access::Roles(&[Admin, Analyst, Auditor, Ingest]),
    ),
    rule(Method::GET, "/api/openapi.json", Access::Public),
    rule(Method::GET, "/api/integrity/verify", AUDITORS),
    rule(Method::GET, "/api/events/analytics/summary", READERS),
    rule(Method::GET, "/api/events/analytics/critical", READERS),
    rule(Method::GET, "/api/events/analytics/users", READERS),
    rule(Method::GET, "/api/events/analytics/endpoints", READERS),
    rule(Method::GET, "/api/events/analytics/security", READERS),
    rule(Method::GET, "/api/events/analytics/models", READERS),
    rule(Method::GET, "/api/events/analytics/performance", READERS),
    rule(Method::GET, "/api/events/analytics/timeseries", READERS),
    rule(Method::GET, "/api/activities", READERS),
    rule(Method::GET, "/api/alerts", READERS),
    // Failed logins, attacks and offending IPs: admin only (seed 001's security view).
    rule(Method::GET, "/api/events/security", Access::Roles(&[Admin])),
];

/// Routes whose answers are figures of the whole server, every tenant together (ingest
/// counters, the whole chain): a tenant-bound credential is refused them, since it may
/// learn nothing of another tenant, not even how many events it sends.
pub const WHOLE_SERVER_ROUTES: &[&str] = &["/metrics", "/api/integrity/verify"];

/// The matrix as the Markdown table of docs/security-access.md (a test keeps the two equal).
pub fn matrix_markdown() -> String {
    let mut out = String::from("| Method | Route |");
    for role in KeyRole::ALL {
        out.push_str(&format!(" {} |", role.as_str()));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(KeyRole::ALL.len()));
    out.push('\n');
    for rule in ACCESS_MATRIX {
        out.push_str(&format!("| {} | `{}` |", rule.method, rule.path));
        for role in KeyRole::ALL {
            let cell = match rule.access {
                Access::Public => "public",
                Access::Roles(roles) if roles.contains(&role) => "yes",
                Access::Roles(_) => "",
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}

/// Only admins: the security page (seed 001's security view).
const ADMINS: Access = Access::Roles(&[Admin]);

/// Every dashboard page and who may open it (enforced by the dashboard's guard, which
/// refuses a page without a row). Pages are not API routes and not in OpenAPI. An `ingest`
/// key can open no page, so it cannot sign in.
pub const DASHBOARD_MATRIX: &[Rule] = &[
    rule(Method::GET, "/", READERS),
    rule(Method::GET, "/events", READERS),
    rule(Method::GET, "/events/{event_id}", READERS),
    rule(Method::GET, "/activities", READERS),
    rule(Method::GET, "/security", ADMINS),
    rule(Method::GET, "/users", READERS),
    rule(Method::GET, "/users/{user_id}", READERS),
    rule(Method::GET, "/alerts", READERS),
    rule(Method::GET, "/system", READERS),
    rule(Method::GET, "/live", READERS),
    rule(Method::GET, "/signin", Access::Public),
    rule(Method::POST, "/signin", Access::Public),
    rule(Method::POST, "/signout", READERS),
    rule(Method::POST, "/lang", Access::Public),
    rule(Method::GET, "/assets/{file}", Access::Public),
];

/// The dashboard matrix row for `method` on the page route `path`.
pub fn dashboard_access_for(method: &Method, path: &str) -> Option<Access> {
    DASHBOARD_MATRIX
        .iter()
        .find(|r| r.method == *method && r.path == path)
        .map(|r| r.access)
}

/// The matrix row for `method` on the registered route `path`.
pub fn access_for(method: &Method, path: &str) -> Option<Access> {
    ACCESS_MATRIX
        .iter()
        .find(|r| r.method == *method && r.path == path)
        .map(|r| r.access)
}

/// Axum's registered form (`/api/events/{event_id}`) is the OpenAPI form, so the matched
/// path is looked up as is.
pub(crate) async fn enforce(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(path) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    let method = if request.method() == Method::HEAD {
        Method::GET
    } else {
        request.method().clone()
    };
    let allowed = match access_for(&method, &path) {
        // The path is served for other methods only: the same 405 the router gives.
        None if ACCESS_MATRIX.iter().any(|r| r.path == path) => {
            return ApiError::method_not_allowed(
                "this route does not take that method; GET /api/openapi.json lists the methods",
            )
            .into_response()
        }
        None => {
            return ApiError::forbidden(format!(
                "{method} {path} is not in the access matrix, so nobody may call it"
            ))
            .into_response()
        }
        Some(Access::Public) => return next.run(request).await,
        Some(_) if path == "/metrics" && state.metrics_config.public => {
            return next.run(request).await
        }
        Some(Access::Roles(roles)) => roles,
    };
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::authenticate(&parts, &state).await {
        Ok(c) => c,
        Err(e) => {
            let ip = parts.extensions.get::<ClientIp>().map(|ClientIp(ip)| *ip);
            state.auth_failures.record(ip, &path, &e);
            return e.into_response();
        }
    };
    if let Err(e) =
        state
            .rate_limits
            .check_caller(&parts, &caller.name, caller.role == KeyRole::Publishable)
    {
        return e.into_response();
    }
    if !allowed.contains(&caller.role) {
        let roles: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        return ApiError::forbidden(format!(
            "`{}` has role {}; {method} {path} needs role {}",
            caller.name,
            caller.role.as_str(),
            roles.join(" or ")
        ))
        .into_response();
    }
    if let Some(tenant) = caller.tenant() {
        if WHOLE_SERVER_ROUTES.contains(&path.as_str()) {
            return ApiError::forbidden(format!(
                "`{}` is bound to tenant `{tenant}`; {method} {path} answers for every tenant \
                 together, so it needs a key that is not bound to a tenant",
                caller.name
            ))
            .into_response();
        }
    }
    parts.extensions.insert(caller);
    // Only an authorised caller gets its body read, and only for so long.
    match crate::limits::buffer_body(&state, parts, body).await {
        Ok(request) => next.run(request).await,
        Err(e) => {
            // An ingest request refused before its handler still counts as refused.
            if method == Method::POST
                && ["/api/events", "/api/events/batch"].contains(&path.as_str())
            {
                state.metrics.rejected(e.code());
            }
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_one_row() {
        for (i, a) in ACCESS_MATRIX.iter().enumerate() {
            for b in &ACCESS_MATRIX[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} is listed twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn the_documented_table_is_the_matrix() {
        let doc = include_str!("../../../docs/security-access.md");
        let table = doc
            .split("<!-- access-matrix:start -->\n")
            .nth(1)
            .and_then(|rest| rest.split("<!-- access-matrix:end -->").next())
            .expect("docs/security-access.md has the access-matrix markers");
        assert_eq!(
            table,
            matrix_markdown(),
            "docs/security-access.md's role x route table differs from ACCESS_MATRIX; \
             replace it with the expected table above"
        );
    }
}
