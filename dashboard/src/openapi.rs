//! The OpenAPI document at `/api/openapi.json`, derived with `utoipa` from
//! the handlers' `#[utoipa::path]` attributes, the parameter structs
//! (`IntoParams`) and the response types (`ToSchema`): the public routes
//! here, each area's part from the area (`Area::openapi` in `area`, which `app`
//! passes them in; this module does not import `app`).
//! The router tests check that it lists every route the server answers and
//! that real responses match it.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::state::AppState;

/// The public routes, the shared schemas, the tags and the two ways to
/// authenticate.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate dashboard and API",
        description = "Traffic from the hourly rollups (minute buckets from raw events), consumers, routes and read-only SQL over the Tollgate lake. Every route but the public ones needs a role: viewer (traffic), finance (invoices), analyst (SQL) or admin (all); the self-service routes need a consumer-scoped token. Send `Authorization: Bearer <token>` or the session cookie the login form sets. Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code. Times are UTC; `to` is exclusive."
    ),
    paths(
        crate::login::home,
        crate::login::login_form,
        crate::login::login,
        crate::login::logout,
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
        serve,
        crate::assets::serve
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Auth),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "public", description = "No role needed."),
        (name = "traffic", description = "Role viewer."),
        (name = "invoices", description = "Role finance."),
        (name = "sql", description = "Role analyst."),
        (name = "self-service", description = "A consumer-scoped token ([serve.consumer_tokens]); the consumer comes from the token."),
        (name = "pages", description = "Server-rendered HTML pages."),
    )
)]
struct Base;

/// Adds the security schemes the `security` requirements name.
struct Auth;

impl Modify for Auth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from [serve] tokens (a role) or [serve.consumer_tokens] (one consumer).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "tollgate_session",
                "Set by POST /login.",
            ))),
        );
    }
}

/// The whole document: the public part and the areas' `parts`, as JSON
/// text.
pub fn document<'a>(parts: impl IntoIterator<Item = &'a utoipa::openapi::OpenApi>) -> String {
    let mut doc = Base::openapi();
    for part in parts {
        doc.merge(part.clone());
    }
    // Serializing the document's own types cannot fail.
    doc.to_pretty_json().unwrap_or_default()
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "public",
    summary = "This document.",
    security(()),
    responses((status = 200, description = "OpenAPI document.", body = Object))
)]
pub async fn serve(State(state): State<AppState>) -> Response {
    let mut res = state.openapi.clone().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
