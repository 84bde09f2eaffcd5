//! Which requests are recorded: the [`RouteFilter`] hook and its default, include and
//! exclude lists of route templates (`/api/students/{id}`; a trailing `*` matches a prefix).

use http::Method;

/// Decides whether a request to `route` (the matched template) is recorded.
pub trait RouteFilter: Send + Sync + 'static {
    /// Whether to record it.
    fn should_record(&self, method: &Method, route: &str) -> bool;
}

/// Records routes matching `include` (all when empty) unless they match `exclude`.
#[derive(Debug, Clone, Default)]
pub struct IncludeExclude {
    /// Patterns to record; empty records everything.
    pub include: Vec<String>,
    /// Patterns never recorded (e.g. `/health`, `/metrics`).
    pub exclude: Vec<String>,
}

fn matches(pattern: &str, route: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => route.starts_with(prefix),
        None => pattern == route,
    }
}

impl RouteFilter for IncludeExclude {
    fn should_record(&self, _method: &Method, route: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| matches(p, route)))
            && !self.exclude.iter().any(|p| matches(p, route))
    }
}

impl<F> RouteFilter for F
where
    F: Fn(&Method, &str) -> bool + Send + Sync + 'static,
{
    fn should_record(&self, method: &Method, route: &str) -> bool {
        self(method, route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_and_exclude_by_template_or_prefix() {
        let f = IncludeExclude {
            include: vec!["/api/*".into()],
            exclude: vec!["/api/health".into()],
        };
        assert!(f.should_record(&Method::GET, "/api/students/{id}"));
        assert!(!f.should_record(&Method::GET, "/api/health"));
        assert!(!f.should_record(&Method::GET, "/static/app.js"));
    }
}
