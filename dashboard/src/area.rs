//! An [`Area`]: one part of the dashboard (traffic, SQL, invoices), its
//! pages and API routes, the [`Role`] every one of them needs, its entries
//! in the navigation, and its part of the OpenAPI document.
//!
//! The type sits below the areas and the router so both can name it: each
//! area builds one, and [`crate::app::build`] puts a guard in front of it.

use axum::Router;

use crate::config::Role;
use crate::state::{AppState, NavLink};

/// One part of the dashboard, guarded by one role.
pub struct Area {
    /// A short name (`traffic`, `sql`, `invoices`), for messages.
    pub name: &'static str,
    /// The role every route of the area needs (`admin` always passes).
    pub role: Role,
    /// Navigation entries, in order.
    pub nav: Vec<NavLink>,
    /// The area's pages and API routes. Pages render with
    /// [`crate::html::page`]; API routes under `/api/` answer JSON and
    /// return [`crate::error::ApiError`] on failure.
    pub routes: Router<AppState>,
    /// The area's part of the OpenAPI document (its paths and the schemas
    /// they use), derived from its handlers and response types.
    pub openapi: utoipa::openapi::OpenApi,
    /// Routes for consumer-scoped tokens only ([`crate::login::consumer_guard`]),
    /// instead of a role.
    pub consumer_scoped: bool,
}

impl Area {
    /// An empty area needing `role`.
    pub fn new(name: &'static str, role: Role) -> Area {
        Area {
            name,
            role,
            nav: Vec::new(),
            routes: Router::new(),
            openapi: utoipa::openapi::OpenApi::default(),
            consumer_scoped: false,
        }
    }

    /// An area for consumer-scoped tokens only: each handler serves the
    /// token's own consumer. No navigation (it is an API for portals).
    pub fn consumer_scoped(name: &'static str) -> Area {
        Area {
            consumer_scoped: true,
            ..Area::new(name, Role::Admin)
        }
    }

    /// Adds a navigation link to one of the area's pages.
    pub fn nav(mut self, label: &'static str, href: &'static str) -> Area {
        self.nav.push(NavLink {
            label,
            href,
            role: self.role,
        });
        self
    }

    /// Sets the area's routes.
    pub fn routes(mut self, routes: Router<AppState>) -> Area {
        self.routes = routes;
        self
    }

    /// Adds the area's part of the OpenAPI document (a
    /// `#[derive(utoipa::OpenApi)]` over its handlers).
    pub fn openapi(mut self, doc: utoipa::openapi::OpenApi) -> Area {
        self.openapi.merge(doc);
        self
    }
}
