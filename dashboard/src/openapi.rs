//! The OpenAPI 3 document at `/api/openapi.json`: a hand-written base (the
//! public routes, shared schemas, parameters and responses, the two ways
//! to authenticate) plus each area's part (see [`crate::area::Area::openapi`]).
//! The router tests check that it lists every route the server answers.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::area::Area;
use crate::state::AppState;

/// The base document.
const BASE: &str = include_str!("openapi/base.json");

/// The whole document for `areas`, as JSON text.
pub fn document(areas: &[Area]) -> String {
    let mut doc: Value = serde_json::from_str(BASE).expect("openapi/base.json is JSON");
    if let Some(v) = doc.get_mut("info").and_then(|i| i.get_mut("version")) {
        *v = Value::String(env!("CARGO_PKG_VERSION").into());
    }
    for area in areas {
        if let Some(Value::Object(paths)) = doc.get_mut("paths") {
            paths.extend(area.openapi_paths.clone());
        }
        if let Some(Value::Object(schemas)) =
            doc.get_mut("components").and_then(|c| c.get_mut("schemas"))
        {
            schemas.extend(area.openapi_schemas.clone());
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// `GET /api/openapi.json`.
pub async fn serve(State(state): State<AppState>) -> Response {
    let mut res = state.openapi.clone().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
