//! Who made the request: the [`ExtractUser`] hook and the [`UserInfo`] it yields.

use http::{Extensions, HeaderMap};

/// The user a request acted as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user's id.
    pub id: String,
    /// The user's name.
    pub name: Option<String>,
    /// The user's role.
    pub role: Option<String>,
    /// The user's tenant.
    pub tenant: Option<String>,
}

/// Finds the user of a request from its headers (e.g. a verified JWT) or extensions (set
/// by an authentication layer outside this one). A handler that learns the user itself
/// (a login) can put a [`UserInfo`] into the *response* extensions; the layer reads it too.
pub trait ExtractUser: Send + Sync + 'static {
    /// The user, if known.
    fn extract(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<UserInfo>;
}

/// The default: a [`UserInfo`] in the request extensions, if any.
#[derive(Debug, Clone, Copy, Default)]
pub struct FromExtensions;

impl ExtractUser for FromExtensions {
    fn extract(&self, _headers: &HeaderMap, extensions: &Extensions) -> Option<UserInfo> {
        extensions.get::<UserInfo>().cloned()
    }
}

impl<F> ExtractUser for F
where
    F: Fn(&HeaderMap, &Extensions) -> Option<UserInfo> + Send + Sync + 'static,
{
    fn extract(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<UserInfo> {
        self(headers, extensions)
    }
}
