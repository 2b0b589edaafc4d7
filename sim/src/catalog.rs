//! The catalogue: the simulated APIs, their routes, and the word lists
//! lines are written from. Constant data, the bottom layer.

/// One route of the simulated APIs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteSpec {
    /// The API (service) it belongs to.
    pub api: &'static str,
    /// Route name, as Kong, APISIX, Envoy and Traefik log it.
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path template; `{id}` is filled with `id_prefix` and a number.
    pub template: &'static str,
    /// Prefix of generated ids, e.g. `ord_`.
    pub id_prefix: &'static str,
    /// Relative popularity among all routes.
    pub weight: f64,
    /// Median upstream time of a successful call, milliseconds.
    pub median_ms: f64,
    /// Log-normal sigma of the upstream time: the spread of the body.
    pub sigma: f64,
    /// Median request body, bytes; 0 for no body.
    pub request_body: f64,
    /// Median response body of a success, bytes; 0 for none (204).
    pub response_body: f64,
    /// The success status.
    pub ok: u16,
    /// The query string the route takes: see [`QueryKind`].
    pub query: QueryKind,
}

/// The query strings a route is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// None.
    None,
    /// `limit=…&page=…`, most of the time.
    Paged,
    /// `q=<word>`.
    Search,
    /// `from=<country>&to=<country>`.
    Countries,
}

/// The APIs, in the order consumers' favourites are assigned.
pub const APIS: [&str; 5] = ["orders", "payments", "catalog", "accounts", "shipping"];

// One row of the ROUTES table: positional arguments keep each route on
// one readable line.
#[allow(clippy::too_many_arguments)]
const fn route(
    api: &'static str,
    name: &'static str,
    method: &'static str,
    template: &'static str,
    id_prefix: &'static str,
    weight: f64,
    median_ms: f64,
    sigma: f64,
    bodies: (f64, f64),
    ok: u16,
    query: QueryKind,
) -> RouteSpec {
    RouteSpec {
        api,
        name,
        method,
        template,
        id_prefix,
        weight,
        median_ms,
        sigma,
        request_body: bodies.0,
        response_body: bodies.1,
        ok,
        query,
    }
}

use QueryKind as Q;

/// The 25 routes of the 5 simulated APIs. Latencies follow what such calls
/// cost: a cached product read is fast, a card payment, a password check
/// and a carrier's rate quote are slow, and a shipping label is a big PDF.
#[rustfmt::skip]
pub const ROUTES: [RouteSpec; 25] = [
    route("orders", "orders-list", "GET", "/v1/orders", "", 8.0, 45.0, 0.6, (0.0, 6000.0), 200, Q::Paged),
    route("orders", "orders-create", "POST", "/v1/orders", "", 4.0, 120.0, 0.5, (900.0, 1400.0), 201, Q::None),
    route("orders", "orders-get", "GET", "/v1/orders/{id}", "ord_", 10.0, 25.0, 0.5, (0.0, 1800.0), 200, Q::None),
    route("orders", "orders-update", "PATCH", "/v1/orders/{id}", "ord_", 2.0, 60.0, 0.5, (300.0, 1800.0), 200, Q::None),
    route("orders", "orders-cancel", "DELETE", "/v1/orders/{id}", "ord_", 0.5, 70.0, 0.5, (0.0, 0.0), 204, Q::None),
    route("orders", "orders-items", "GET", "/v1/orders/{id}/items", "ord_", 3.0, 35.0, 0.5, (0.0, 3500.0), 200, Q::Paged),
    route("payments", "payments-create", "POST", "/v1/payments", "", 3.0, 350.0, 0.7, (600.0, 900.0), 201, Q::None),
    route("payments", "payments-get", "GET", "/v1/payments/{id}", "pay_", 4.0, 30.0, 0.5, (0.0, 1100.0), 200, Q::None),
    route("payments", "payments-list", "GET", "/v1/payments", "", 2.0, 80.0, 0.6, (0.0, 9000.0), 200, Q::Paged),
    route("payments", "payments-refund", "POST", "/v1/payments/{id}/refunds", "pay_", 0.4, 400.0, 0.7, (200.0, 700.0), 201, Q::None),
    route("catalog", "products-list", "GET", "/v1/products", "", 12.0, 40.0, 0.6, (0.0, 14000.0), 200, Q::Paged),
    route("catalog", "products-get", "GET", "/v1/products/{id}", "prd_", 16.0, 12.0, 0.6, (0.0, 2600.0), 200, Q::None),
    route("catalog", "products-reviews", "GET", "/v1/products/{id}/reviews", "prd_", 4.0, 55.0, 0.6, (0.0, 7000.0), 200, Q::Paged),
    route("catalog", "categories-list", "GET", "/v1/categories", "", 3.0, 8.0, 0.5, (0.0, 2200.0), 200, Q::None),
    route("catalog", "search", "GET", "/v1/search", "", 9.0, 90.0, 0.8, (0.0, 11000.0), 200, Q::Search),
    route("accounts", "users-get", "GET", "/v1/users/{id}", "usr_", 6.0, 15.0, 0.5, (0.0, 900.0), 200, Q::None),
    route("accounts", "users-update", "PUT", "/v1/users/{id}", "usr_", 1.0, 45.0, 0.5, (500.0, 900.0), 200, Q::None),
    route("accounts", "users-create", "POST", "/v1/users", "", 0.6, 110.0, 0.5, (450.0, 900.0), 201, Q::None),
    route("accounts", "users-addresses", "GET", "/v1/users/{id}/addresses", "usr_", 2.0, 20.0, 0.5, (0.0, 1300.0), 200, Q::None),
    route("accounts", "sessions-create", "POST", "/v1/sessions", "", 5.0, 180.0, 0.4, (250.0, 600.0), 201, Q::None),
    route("shipping", "shipments-create", "POST", "/v1/shipments", "", 1.5, 200.0, 0.6, (1100.0, 1300.0), 201, Q::None),
    route("shipping", "shipments-get", "GET", "/v1/shipments/{id}", "shp_", 3.0, 30.0, 0.5, (0.0, 1500.0), 200, Q::None),
    route("shipping", "shipments-tracking", "GET", "/v1/shipments/{id}/tracking", "shp_", 5.0, 140.0, 0.9, (0.0, 2400.0), 200, Q::None),
    route("shipping", "rates-quote", "GET", "/v1/rates", "", 2.0, 250.0, 0.8, (0.0, 1800.0), 200, Q::Countries),
    route("shipping", "labels-create", "POST", "/v1/labels", "", 0.8, 600.0, 0.6, (700.0, 45000.0), 201, Q::None),
];

pub(crate) const SEARCH_WORDS: [&str; 12] = [
    "shoes",
    "laptop",
    "coffee",
    "desk",
    "lamp",
    "camera",
    "backpack",
    "tent",
    "phone+case",
    "headphones",
    "caf%C3%A9",
    "running+shoes",
];
pub(crate) const COUNTRIES: [&str; 8] = ["DE", "US", "FR", "GB", "NL", "JP", "BR", "CA"];
pub(crate) const USER_AGENTS: [&str; 8] = [
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "Go-http-client/2.0",
    "axios/1.7.2",
    "curl/8.5.0",
    "Java-http-client/21.0.3",
    "node-fetch/3.3.2",
    "Dart/3.4 (dart:io)",
];
pub(crate) const NAMES: [&str; 24] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "cyberdyne",
    "soylent",
    "tyrell",
    "aperture",
    "massive",
    "vandelay",
    "pied-piper",
    "gringotts",
    "oscorp",
    "monarch",
    "nakatomi",
    "dunder",
    "sirius",
    "weyland",
    "blue-sun",
    "virtucon",
];
pub(crate) const SUFFIXES: [&str; 6] = ["corp", "labs", "shop", "mobile", "systems", "retail"];
pub(crate) const HOST: &str = "api.example.com";
