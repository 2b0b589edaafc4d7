//! The traffic area (role viewer): Overview, Consumers, Routes, and the
//! JSON API behind them.

pub mod api;
pub mod data;
pub mod pages;

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;

use crate::area::Area;
use crate::config::Role;
use crate::state::AppState;

/// The area's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(
    pages::overview,
    pages::consumers,
    pages::consumer,
    pages::routes,
    api::traffic,
    api::top,
    api::consumers,
    api::consumer,
    api::routes,
    api::alerts
))]
struct Doc;

/// The area: pages and API routes, all needing `viewer`.
pub fn area() -> Area {
    let routes = Router::<AppState>::new()
        .route("/overview", get(pages::overview))
        .route("/consumers", get(pages::consumers))
        .route("/consumers/{consumer}", get(pages::consumer))
        .route("/routes", get(pages::routes))
        .route("/api/traffic", get(api::traffic))
        .route("/api/top", get(api::top))
        .route("/api/consumers", get(api::consumers))
        .route("/api/consumers/{consumer}", get(api::consumer))
        .route("/api/routes", get(api::routes))
        .route("/api/alerts", get(api::alerts));
    Area::new("traffic", Role::Viewer)
        .nav("Overview", "/overview")
        .nav("Consumers", "/consumers")
        .nav("Routes", "/routes")
        .routes(routes)
        .openapi(Doc::openapi())
}
