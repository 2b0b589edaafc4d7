//! The HTTP side of roles: the guards in front of every area, the login
//! form, logout, and `/` (the first page the caller may see).
//!
//! [`guard`] is the one place a route's role is enforced: the router
//! builder puts it in front of every route of an area (see
//! [`crate::area::Area`]), so a handler cannot forget it. Tokens and
//! sessions themselves are [`crate::auth`]'s.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use crate::auth::{Caller, SESSION_COOKIE, session_cookie};
use crate::config::Role;
use crate::error::{ApiError, code};
use crate::html;
use crate::state::AppState;

/// Lets the request through when the caller holds `role`. API routes
/// (`/api/…`) answer 401/403 as JSON; pages send an unknown caller to the
/// login form and show a 403 page to a known one without the role.
pub async fn guard(
    State((state, role)): State<(AppState, Role)>,
    mut req: Request,
    next: Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    match state.auth.caller(req.headers()) {
        Ok(caller) if caller.access.allows(role) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(caller) => {
            let e = ApiError::new(
                StatusCode::FORBIDDEN,
                code::FORBIDDEN,
                format!("this needs the {role} role (or admin); your token does not grant it"),
            );
            if api {
                e.into_response()
            } else {
                html::error_page(&state, Some(&caller), &e)
            }
        }
        Err(e) if api => e.into_response(),
        Err(_) => {
            let here = req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_string();
            Redirect::to(&format!("/login?next={}", html::query_value(&here))).into_response()
        }
    }
}

/// Lets the request through when the caller holds a consumer-scoped
/// token, and hands the handler that consumer: the self-service routes take
/// the consumer from the token, never from the request, so one consumer
/// cannot name another. Role tokens (admin included) are refused here:
/// they have the full routes.
pub async fn consumer_guard(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match state.auth.caller(req.headers()) {
        Ok(caller) if caller.consumer.is_some() => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(_) => ApiError::new(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "/api/self answers consumer-scoped tokens ([serve.consumer_tokens]); role tokens use /api/consumers",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Only local paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

fn form_value(body: &[u8], key: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `GET /login`: the login form.
#[utoipa::path(
    get,
    path = "/login",
    tags = ["pages", "public"],
    summary = "The login form.",
    security(()),
    params(("next" = Option<String>, Query, description = "A local path to go to after logging in.")),
    responses((status = 200, description = "An HTML page.", content_type = "text/html", body = String))
)]
pub async fn login_form(
    State(state): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let next = safe_next(form_value(query.unwrap_or_default().as_bytes(), "next").as_deref());
    login_page(&state, &next, None, StatusCode::OK)
}

fn login_page(state: &AppState, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        @if state.auth.is_open() {
            section class="card narrow" {
                h1 { "No login needed" }
                p { "This server runs without tokens (loopback only): everyone is admin." }
                p { a href=(next) { "Continue" } }
            }
        } @else {
            section class="card narrow" {
                h1 { "Log in" }
                @if let Some(e) = error {
                    p class="error" role="alert" { (e) }
                }
                form method="post" action="/login" class="login" {
                    label for="token" { "Token" }
                    input id="token" name="token" type="password" autocomplete="current-password" required autofocus;
                    input type="hidden" name="next" value=(next);
                    button type="submit" { "Log in" }
                }
                p class="muted" {
                    "Tokens are set per role in " code { "[serve] tokens" } ". "
                    "API clients send " code { "Authorization: Bearer <token>" } " instead."
                }
            }
        }
    };
    let mut res = html::page(state, None, "", "Log in", body);
    *res.status_mut() = status;
    res
}

/// `POST /login`: checks the token, sets the session cookie, and goes on
/// to `next`. The cookie is `Secure; HttpOnly; SameSite=Strict`.
#[utoipa::path(
    post,
    path = "/login",
    tags = ["pages", "public"],
    summary = "Checks a token and sets the session cookie (Secure; HttpOnly; SameSite=Strict).",
    security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`token` (required) and `next`."),
    responses(
        (status = 303, description = "Logged in: redirect to `next`, with `Set-Cookie`."),
        (status = 401, description = "An HTML page: the form again, saying the token is not valid.", content_type = "text/html", body = String),
    )
)]
pub async fn login(State(state): State<AppState>, body: Bytes) -> Response {
    let next = safe_next(form_value(&body, "next").as_deref());
    let token = form_value(&body, "token").unwrap_or_default();
    match state.auth.login(&token) {
        Some(id) => {
            let cookie = format!(
                "{SESSION_COOKIE}={id}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
                state.auth.session_secs()
            );
            let mut res = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        None => {
            // A little friction for guessing; tokens are long anyway.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            login_page(
                &state,
                &next,
                Some("That token is not valid."),
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

/// `POST /logout`: ends the session and clears the cookie.
#[utoipa::path(
    post,
    path = "/logout",
    tags = ["pages", "public"],
    summary = "Ends the session and clears the cookie.",
    security(()),
    responses((status = 303, description = "Redirect to the login form."))
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        state.auth.logout(id);
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "tollgate_session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        ),
    );
    res
}

/// `GET /`: the first page the caller may see, or the login form.
#[utoipa::path(
    get,
    path = "/",
    tags = ["pages", "public"],
    summary = "Redirects to the first page the caller may see, or to the login form.",
    security(()),
    responses((status = 303, description = "Redirect."))
)]
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.auth.caller(&headers) {
        Ok(caller) => match state.nav.iter().find(|l| caller.access.allows(l.role)) {
            Some(link) => Redirect::to(link.href).into_response(),
            None => html::error_page(
                &state,
                Some(&caller),
                &ApiError::new(
                    StatusCode::FORBIDDEN,
                    code::FORBIDDEN,
                    "your token grants no role with a page here",
                ),
            ),
        },
        Err(_) => Redirect::to("/login").into_response(),
    }
}

/// The page wrapper's view of the caller: for pages that every caller may
/// see (login, errors) the caller is looked up without being required.
pub fn optional_caller(state: &AppState, headers: &HeaderMap) -> Option<Caller> {
    state.auth.caller(headers).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/consumers?x=1")), "/consumers?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
