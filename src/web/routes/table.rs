//! The route table as data: each route is declared once, through [`Routes`], and that
//! one declaration both mounts it on actix and lists it ([`Endpoint`]) for whoever
//! needs to know what the server answers without starting it (the security loop's
//! authentication-surface check probes every route that is not public).
//!
//! This is the one place that talks to actix's routing: a route registered any other
//! way would be invisible to that check (a test enforces it).

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, Route, guard, web};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: probes, assets and the ways in (sign-in, setup and invitation links,
    /// password reset), which authenticate by what they are sent, if at all.
    Public,
    /// Only someone who has said who they are: a session for the dashboard, an API key
    /// under `/api/`. The handler's guard (`Authorized`, `Caller`, `SignedIn`) decides.
    SignedIn,
    /// A process on this server talking to it directly (loopback, not relayed by a
    /// proxy), or else an API key: the Prometheus scrape (`/metrics`).
    LocalOrSignedIn,
}

/// Which requests of a method a route takes, when several share a method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accepts {
    Any,
    /// Only `Content-Type: application/json` (the scripted variants of the sign-in forms).
    Json,
}

/// One declared route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub method: Method,
    /// actix's pattern, e.g. `/api/v1/keys/{id}`.
    pub path: &'static str,
    pub accepts: Accepts,
    pub access: Access,
}

/// Where declarations go: always into the list, and onto actix too when mounting.
pub struct Routes {
    declared: Vec<Endpoint>,
    /// The actix routes of each path, in the order the paths were first declared, so
    /// that routes sharing a path share one resource (and an unserved method gets 405).
    mounting: Option<Vec<(&'static str, Vec<Route>)>>,
}

// By hand: actix's routes are not Debug.
impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("declared", &self.declared)
            .finish_non_exhaustive()
    }
}

impl Routes {
    /// Declarations that are only listed.
    pub fn listing() -> Self {
        Self {
            declared: Vec::new(),
            mounting: None,
        }
    }

    /// Declarations that are listed and mounted by [`Routes::mount_on`].
    pub fn mounting() -> Self {
        Self {
            declared: Vec::new(),
            mounting: Some(Vec::new()),
        }
    }

    pub fn get<F, Args>(&mut self, path: &'static str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, Accepts::Any, access, handler);
    }

    pub fn post<F, Args>(&mut self, path: &'static str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, Accepts::Any, access, handler);
    }

    /// A `POST` taking JSON only; declare it before the path's other `POST`.
    pub fn post_json<F, Args>(&mut self, path: &'static str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, Accepts::Json, access, handler);
    }

    pub fn put<F, Args>(&mut self, path: &'static str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PUT, path, Accepts::Any, access, handler);
    }

    pub fn patch<F, Args>(&mut self, path: &'static str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PATCH, path, Accepts::Any, access, handler);
    }

    pub fn delete<F, Args>(&mut self, path: &'static str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, Accepts::Any, access, handler);
    }

    fn add<F, Args>(
        &mut self,
        method: Method,
        path: &'static str,
        accepts: Accepts,
        access: Access,
        handler: F,
    ) where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if let Some(resources) = &mut self.mounting {
            let mut route = web::method(method.clone()).to(handler);
            if accepts == Accepts::Json {
                route = route.guard(guard::fn_guard(is_json));
            }
            match resources.iter_mut().find(|(p, _)| *p == path) {
                Some((_, routes)) => routes.push(route),
                None => resources.push((path, vec![route])),
            }
        }
        self.declared.push(Endpoint {
            method,
            path,
            accepts,
            access,
        });
    }

    /// Everything declared, in order.
    pub fn into_endpoints(self) -> Vec<Endpoint> {
        self.declared
    }

    /// Registers everything declared with actix (nothing, for a listing).
    pub fn mount_on(self, cfg: &mut web::ServiceConfig) {
        for (path, routes) in self.mounting.into_iter().flatten() {
            let resource = routes
                .into_iter()
                .fold(web::resource(path), |resource, route| resource.route(route));
            cfg.service(resource);
        }
    }
}

fn is_json(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}
