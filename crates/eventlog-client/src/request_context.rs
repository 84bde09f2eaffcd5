//! The request an event is logged in: a domain event logged while a request is handled
//! (a failed login, a record changed) carries that request's client address, user agent,
//! session, correlation id and user unless it sets them itself. Without the address, a
//! failed login cannot count towards brute-force or credential-stuffing detection, and a
//! changed record does not say who changed it.
//!
//! The tower layer sets the context for each request's handler; code outside a request
//! (a job, a CLI) has none and logs events as they are.

use std::future::Future;

use tokio::task::futures::TaskLocalFuture;

use crate::Event;

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// What the request being handled says about its client and user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestContext {
    /// The client's address.
    pub ip_address: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The session the request belongs to.
    pub session_id: Option<String>,
    /// The id that joins the request's events.
    pub correlation_id: Option<String>,
    /// The signed-in user's id.
    pub user_id: Option<String>,
    /// The signed-in user's name.
    pub username: Option<String>,
    /// The signed-in user's role.
    pub user_role: Option<String>,
    /// The signed-in user's tenant.
    pub tenant_id: Option<String>,
}

impl RequestContext {
    /// Runs `future` (a request's handler) with this context: events logged in it, on its
    /// task, are filled in from it.
    pub fn scope<F: Future>(self, future: F) -> TaskLocalFuture<RequestContext, F> {
        CURRENT.scope(self, future)
    }

    /// The context of the request being handled on this task, if any.
    pub fn current() -> Option<RequestContext> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Fills the fields `event` leaves empty from the current request. The user and their
    /// tenant are taken only for an event that names no user of its own (a login names
    /// the one trying; an event about another user is not filed under this one's tenant).
    pub(crate) fn fill(event: &mut Event) {
        let _ = CURRENT.try_with(|ctx| {
            let fill = |field: &mut Option<String>, value: &Option<String>| {
                if field.is_none() {
                    field.clone_from(value);
                }
            };
            fill(&mut event.ip_address, &ctx.ip_address);
            fill(&mut event.user_agent, &ctx.user_agent);
            fill(&mut event.session_id, &ctx.session_id);
            fill(&mut event.correlation_id, &ctx.correlation_id);
            if event.user_id.is_none() && event.username.is_none() {
                fill(&mut event.user_id, &ctx.user_id);
                fill(&mut event.username, &ctx.username);
                fill(&mut event.user_role, &ctx.user_role);
                fill(&mut event.tenant_id, &ctx.tenant_id);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> RequestContext {
        RequestContext {
            ip_address: Some("203.0.113.9".into()),
            user_agent: Some("Mozilla/5.0".into()),
            correlation_id: Some("req-1".into()),
            user_id: Some("7".into()),
            username: Some("budi".into()),
            ..RequestContext::default()
        }
    }

    #[tokio::test]
    async fn events_in_a_request_take_what_they_leave_empty() {
        let mut outside = Event::from_code("DATA-001");
        RequestContext::fill(&mut outside);
        assert_eq!(outside.ip_address, None);

        context()
            .scope(async {
                let mut crud = Event::from_code("DATA-001");
                RequestContext::fill(&mut crud);
                assert_eq!(crud.ip_address.as_deref(), Some("203.0.113.9"));
                assert_eq!(crud.correlation_id.as_deref(), Some("req-1"));
                assert_eq!(crud.user_id.as_deref(), Some("7"));

                // A failed login names who tried: the request's user (none, or another
                // one) is not put in its place; the address still is.
                let mut login = Event::from_code("AUTH-002");
                login.username = Some("guru01".into());
                login.ip_address = Some("10.0.0.1".into());
                RequestContext::fill(&mut login);
                assert_eq!(login.username.as_deref(), Some("guru01"));
                assert_eq!(login.user_id, None);
                assert_eq!(login.ip_address.as_deref(), Some("10.0.0.1"));
                assert_eq!(RequestContext::current(), Some(context()));
            })
            .await;
        assert_eq!(RequestContext::current(), None);
    }
}
