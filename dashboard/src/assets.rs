//! The stylesheet, script and icon, compiled into the binary: the
//! dashboard loads nothing from anywhere else (it runs in closed networks).

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// `(name, content type, bytes)` of every asset.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../assets/favicon.svg"),
    ),
];

/// `GET /assets/{file}`.
#[utoipa::path(
    get,
    path = "/assets/{file}",
    tag = "public",
    summary = "The dashboard's stylesheet, script and icon (nothing is loaded from elsewhere).",
    security(()),
    params(("file" = String, Path, description = "app.css, app.js or favicon.svg.")),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/css"),
            (String = "text/javascript"),
            (String = "image/svg+xml"),
        )),
        (status = 404, description = "No such asset (not_found).", body = crate::error::ErrorBody),
    )
)]
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, kind, body)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return ApiError::not_found(format!("no asset {file:?}")).into_response();
    };
    let mut res = (*body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Assets change only with the binary; an hour of caching is plenty.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}
