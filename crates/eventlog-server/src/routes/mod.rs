//! The HTTP API. Every route is registered through `utoipa_axum`, so the router and the
//! OpenAPI document are built from the same list and cannot disagree.

mod alerts;
mod analytics;
mod export;
pub(crate) mod ingest;
mod integrity;
pub(crate) mod query;
mod security;
mod stream;
pub(crate) mod system;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::DefaultBodyLimit;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "eventlog",
        description = "Central event log and audit trail: send events, query them, watch the system. \
            Every route but `GET /api/events/health` and this document needs `Authorization: Bearer KEY`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Send events"),
        (name = "query", description = "Read events"),
        (name = "analytics", description = "Numbers from the rollups, the activities feed, alerts"),
        (name = "system", description = "Health, catalog, API description"),
        (name = "integrity", description = "Tamper evidence: verify the hash chain and signed checkpoints")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key")
                    .build(),
            ),
        );
    }
}

fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ingest::post_event))
        .routes(routes!(ingest::post_batch))
        .routes(routes!(query::recent))
        .routes(routes!(stream::stream))
        .routes(routes!(query::get_event))
        .routes(routes!(query::user_activity))
        .routes(routes!(export::export))
        .routes(routes!(security::security))
        .routes(routes!(analytics::summary))
        .routes(routes!(analytics::critical))
        .routes(routes!(analytics::users))
        .routes(routes!(analytics::endpoints))
        .routes(routes!(analytics::security))
        .routes(routes!(analytics::models))
        .routes(routes!(analytics::performance))
        .routes(routes!(analytics::timeseries))
        .routes(routes!(analytics::activities))
        .routes(routes!(alerts::alerts))
        .routes(routes!(system::health))
        .routes(routes!(system::catalog))
        .routes(routes!(system::openapi_json))
        .routes(routes!(system::metrics))
        .routes(routes!(integrity::verify_chain))
}

/// Longest window a `hours=` may ask for (a leap year), on every route and page.
pub(crate) const MAX_HOURS: i64 = 24 * 366;

/// The OpenAPI document of every route [`app`] serves.
pub fn openapi() -> OpenApiDoc {
    router().split_for_parts().1
}

/// The whole API as a router over `state`.
pub fn app(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let (router, _) = router().split_for_parts();
    router
        .fallback(|| async {
            ApiError::not_found("no such route; GET /api/openapi.json lists them")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::method_not_allowed(
                "this route does not take that method; GET /api/openapi.json lists the methods",
            )
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::rbac::enforce,
        ))
        // Outside the access check: oversized headers, floods from one address and slow
        // handlers are stopped before any key is looked up.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::guard,
        ))
        // The dashboard's pages have their own guard (rbac::DASHBOARD_MATRIX).
        .merge(crate::dashboard::router(state.clone()))
        .layer(axum::middleware::from_fn(crate::limits::refuse_nul))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(crate::browser::cors(state.browser_origins.clone()))
        .with_state(state)
}

/// Turns a rejected path parameter (not UTF-8 once percent-decoded) into a 400 naming it.
pub(crate) fn path_error(field: &str, rejection: PathRejection) -> ApiError {
    ApiError::bad_request(
        "invalid_path",
        format!(
            "`{field}` in the path is not valid: {}",
            rejection.body_text()
        ),
    )
    .field(field)
}

/// Turns a query-string rejection into a 400 that names the parameter.
pub(crate) fn query_error(rejection: QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    let mut err = ApiError::bad_request("invalid_query", format!("invalid query string: {detail}"));
    if let Some(rest) = detail.strip_prefix("unknown field `") {
        err = err.field(rest.split('`').next().unwrap_or_default());
    } else if let Some(rest) = detail.strip_prefix("duplicate field `") {
        let field = rest.split('`').next().unwrap_or_default();
        err = ApiError::bad_request(
            "invalid_query",
            format!("`{field}` is given more than once; give it once"),
        )
        .field(field);
    } else if let Some((field, _)) = detail.split_once(':') {
        if !field.contains(' ') {
            err = err.field(field);
        }
    }
    err
}
