//! The web dashboard `eventlog serve` shows at `/` (docs/dashboard.md).
//!
//! Server-rendered HTML (askama templates in `templates/`), inline SVG charts drawn on the
//! server ([`svg`]), one small script and one stylesheet embedded in the binary, strings
//! from `locales/` ([`i18n`]). Every figure comes from the query layer
//! (`state.analytics`) or the store through the same calls the API handlers make; nothing
//! here counts on its own.
//!
//! Access: each page has a row in [`crate::rbac::DASHBOARD_MATRIX`]; [`guard`] resolves
//! the session cookie to a caller, redirects strangers to the sign-in form, answers 403 to a
//! role the page is not for, and refuses any path without a row. The navigation lists only
//! the pages the viewer may open.

mod i18n;
mod pages;
pub mod session;
mod svg;

use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use eventlog_store::KeyRole;

pub use i18n::Lang;
use session::{cookie, random_token, set_cookie, CSRF_COOKIE};

use crate::auth::Caller;
use crate::rbac::{dashboard_access_for, Access, DASHBOARD_MATRIX};
use crate::AppState;

/// Content-Security-Policy of every dashboard response: only this origin's script and
/// stylesheet (no inline script or style), no framing, no plugins, forms post here only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../../assets/dashboard.css");
const JS: &str = include_str!("../../assets/dashboard.js");
const FAVICON: &str = include_str!("../../assets/favicon.svg");

/// Every template's source, for the test proving each string it uses is in both locales.
#[cfg(test)]
const TEMPLATE_SOURCES: &[&str] = &[
    include_str!("../../templates/base.html"),
    include_str!("../../templates/signin.html"),
    include_str!("../../templates/error.html"),
    include_str!("../../templates/overview.html"),
    include_str!("../../templates/events.html"),
    include_str!("../../templates/event.html"),
    include_str!("../../templates/event_table.html"),
    include_str!("../../templates/activities.html"),
    include_str!("../../templates/security.html"),
    include_str!("../../templates/users.html"),
    include_str!("../../templates/user.html"),
    include_str!("../../templates/system.html"),
    include_str!("../../templates/alerts.html"),
    include_str!("../../templates/live.html"),
];

/// The navigation: (page path, locale key), in order.
const NAV: &[(&str, &str)] = &[
    ("/", "nav.overview"),
    ("/events", "nav.events"),
    ("/activities", "nav.activities"),
    ("/security", "nav.security"),
    ("/users", "nav.users"),
    ("/alerts", "nav.alerts"),
    ("/system", "nav.system"),
    ("/live", "nav.live"),
];

/// Who is looking, as the layout shows it.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Key (or token subject) name.
    pub name: String,
    /// Role.
    pub role: &'static str,
    /// Tenant the credential is bound to.
    pub tenant: Option<String>,
}

/// One navigation link.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Target.
    pub href: &'static str,
    /// Text.
    pub label: &'static str,
    /// Whether it is the current page.
    pub active: bool,
}

/// What every page's layout needs: language, CSRF token, viewer, navigation.
#[derive(Debug, Clone)]
pub struct PageCtx {
    /// Page language.
    pub lang: Lang,
    /// Token every form posts back.
    pub csrf: String,
    /// The signed-in viewer, if any.
    pub viewer: Option<Viewer>,
    /// Links to the pages the viewer may open.
    pub nav: Vec<NavItem>,
    /// Path and query of this request (where the language switch returns to).
    pub here: String,
}

impl PageCtx {
    /// The text for `key` in the page language.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The languages for the switcher: (code, name, current).
    pub fn langs(&self) -> Vec<(&'static str, &'static str, bool)> {
        Lang::ALL
            .iter()
            .map(|l| (l.code(), l.t("lang.name"), *l == self.lang))
            .collect()
    }
}

/// The dashboard routes, guarded and with security headers.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/events", get(pages::events))
        .route("/events/{event_id}", get(pages::event))
        .route("/activities", get(pages::activities))
        .route("/security", get(pages::security))
        .route("/users", get(pages::users))
        .route("/users/{user_id}", get(pages::user))
        .route("/alerts", get(pages::alerts))
        .route("/system", get(pages::system))
        .route("/live", get(pages::live))
        .route("/signin", get(pages::signin_form).post(pages::signin))
        .route("/signout", post(pages::signout))
        .route("/lang", post(pages::switch_language))
        .route("/assets/{file}", get(asset))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        // As on the API: the per-address budget (the sign-in form takes keys too), the
        // header limit and the time limit apply before the session is looked at.
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::limits::guard,
        ))
        .layer(axum::middleware::from_fn(security_headers))
}

/// Resolves the viewer, applies the page's row of the dashboard matrix and hands the page
/// its [`PageCtx`] (and the [`Caller`], for the same calls the API makes).
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = if request.method() == Method::HEAD {
        Method::GET
    } else {
        request.method().clone()
    };
    let headers = request.headers().clone();
    let lang = Lang::of_request(&headers);
    let session = state.sessions.get(&headers);
    let mut caller = None;
    if let Some(s) = &session {
        match Caller::verify_bearer(&s.bearer, &state).await {
            Ok(c) => caller = Some(c),
            // Revoked key or expired token: the session ends with it.
            Err(_) => state.sessions.close(&s.id),
        }
    }
    let session = session.filter(|_| caller.is_some());
    let pre_session_csrf = cookie(&headers, CSRF_COOKIE).filter(|c| c.len() == 64);
    let new_csrf = session.is_none() && pre_session_csrf.is_none();
    let csrf = match (&session, pre_session_csrf) {
        (Some(s), _) => s.csrf.clone(),
        (None, Some(c)) => c,
        (None, None) => random_token(),
    };
    let here = request
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let role = caller.as_ref().map(|c| c.role);
    let ctx = PageCtx {
        lang,
        csrf: csrf.clone(),
        viewer: caller.as_ref().map(|c| Viewer {
            name: c.name.clone(),
            role: c.role.as_str(),
            tenant: c.tenant_id.clone(),
        }),
        nav: NAV
            .iter()
            .filter(|(href, _)| role.is_some_and(|r| may_open(r, href)))
            .map(|(href, key)| NavItem {
                href,
                label: lang.t(key),
                active: **href == path || (path.starts_with(*href) && *href != "/"),
            })
            .collect(),
        here: here.clone(),
    };
    let access = dashboard_access_for(&method, &path);
    let denied = match (access, role) {
        // A form posted from another site, a sibling subdomain included (which could also
        // have planted the CSRF cookie): browsers say so in `Sec-Fetch-Site`, which proxies
        // leave alone. Clients that do not send it (scripts, old browsers) still need the
        // token.
        _ if method == Method::POST && cross_site(&headers) => Some(StatusCode::FORBIDDEN),
        // A page that exists, asked with another method.
        (None, _) if DASHBOARD_MATRIX.iter().any(|r| r.path == path) => {
            Some(StatusCode::METHOD_NOT_ALLOWED)
        }
        (None, _) => Some(StatusCode::FORBIDDEN),
        (Some(Access::Public), _) => None,
        (Some(Access::Roles(_)), None) if method == Method::GET => {
            return Redirect::to(&format!("/signin?next={}", urlencode(&here))).into_response()
        }
        (Some(Access::Roles(_)), None) => Some(StatusCode::UNAUTHORIZED),
        (Some(Access::Roles(roles)), Some(r)) if !roles.contains(&r) => Some(StatusCode::FORBIDDEN),
        _ => None,
    };
    let mut response = match denied {
        Some(StatusCode::METHOD_NOT_ALLOWED) => {
            pages::error_page(&ctx, StatusCode::METHOD_NOT_ALLOWED, ctx.t("error.method"))
        }
        Some(status) => pages::error_page(&ctx, status, ctx.t("error.forbidden")),
        None => {
            request.extensions_mut().insert(ctx);
            if let Some(c) = caller {
                request.extensions_mut().insert(c);
            }
            next.run(request).await
        }
    };
    // Only a page needs the token; an asset is cacheable (`public`), and a shared cache
    // must not hand one visitor's token to the next.
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if new_csrf && page {
        if let Ok(v) = HeaderValue::from_str(&set_cookie(
            CSRF_COOKIE,
            &csrf,
            None,
            secure(&state, &headers),
        )) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Whether the browser says the request comes from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.eq_ignore_ascii_case("cross-site") || v.eq_ignore_ascii_case("same-site")
        })
}

/// Whether `role` may open the page at `href`.
fn may_open(role: KeyRole, href: &str) -> bool {
    matches!(dashboard_access_for(&Method::GET, href), Some(Access::Roles(r)) if r.contains(&role))
}

/// Whether cookies must be `Secure`: configured so, or the request came over TLS through a
/// proxy that says so.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.dashboard.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Security headers on every dashboard response.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The embedded stylesheet, script and icon.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "dashboard.css" => (CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Renders a template into a response (a template error is a bug: 500, logged).
fn render(t: &impl askama::Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => crate::ApiError::internal(e).into_response(),
    }
}
