//! The server: areas assembled into one router, and the listener.
//!
//! An [`Area`] is one part of the dashboard (traffic, SQL, invoices): its
//! pages and API routes, the [`crate::Role`] every one of them needs, its
//! entries in the navigation, and its part of the OpenAPI document.
//! [`build`] puts [`crate::login::guard`] in front of every route of an
//! area, so adding an area cannot add an unguarded route. The public routes
//! (health, metrics, login, assets, the OpenAPI document) are the only ones
//! without a role.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tollgate_aggregator::{AnalyticsConfig, SqlGate};
use tollgate_billing::{Billing, BillingConfig};

use crate::area::Area;
use crate::auth::Auth;
use crate::clock::{Clock, SystemClock};
use crate::config::ServeConfig;
use crate::error::{ApiError, ServeError, code};
use crate::state::{AppState, LakeCell, Limits, Shared};
use crate::{assets, html, login, openapi, ops};

/// The areas `tollgate serve` runs, in navigation order. A new area (the
/// finance pages: `invoices::area()`) is added here.
pub fn areas() -> Vec<Area> {
    vec![
        crate::traffic::area(),
        crate::invoices::area(),
        crate::sql::area(),
        crate::selfservice::area(),
    ]
}

/// Everything `tollgate serve` needs from `tollgate.toml` and the flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServeSettings {
    /// `[serve]`.
    pub serve: ServeConfig,
    /// `[lake] location`.
    pub lake: String,
    /// `[analytics]`: limits of every query the server runs.
    pub analytics: AnalyticsConfig,
    /// `[ingest] metrics_file`: passed on at `/metrics` when it exists.
    pub metrics_file: Option<String>,
    /// `[billing]`: plans and subscriptions for the month-to-date
    /// estimates and plans shown per consumer. Without it, or when its
    /// plans file does not exist, the pages show traffic only.
    pub billing: Option<BillingConfig>,
}

/// The plans and subscriptions of `config`, `None` when the plans file does
/// not exist (traffic only); invalid files stop the server with the reason.
fn load_billing(config: Option<&BillingConfig>) -> Result<Option<Arc<Billing>>, ServeError> {
    let Some(config) = config else {
        return Ok(None);
    };
    if !config.plans.exists() {
        tracing::info!(
            plans = %config.plans.display(),
            "no plans file: the dashboard shows traffic without month-to-date estimates"
        );
        return Ok(None);
    }
    tollgate_invoicing::load(config.clone())
        .map(|b| Some(Arc::new(b)))
        .map_err(|e| ServeError::Config(format!("[billing]: {e}")))
}

/// The router over `areas`, and the state it shares. `env` reads the
/// token variables; `clock` is "now".
pub fn build(
    settings: &ServeSettings,
    areas: Vec<Area>,
    env: &dyn Fn(&str) -> Option<String>,
    clock: Arc<dyn Clock>,
) -> Result<(Router, AppState), ServeError> {
    let auth = Auth::from_config(&settings.serve, env, clock.clone())?;
    let nav = areas.iter().flat_map(|a| a.nav.iter().cloned()).collect();
    let openapi = openapi::document(areas.iter().map(|a| &a.openapi));
    let billing = load_billing(settings.billing.as_ref())?;
    let state = AppState(Arc::new(Shared {
        billing,
        estimates: Default::default(),
        quotas: Default::default(),
        sql: SqlGate::new(&settings.analytics),
        lake: LakeCell::new(
            settings.lake.clone(),
            settings.analytics.clone(),
            Duration::from_secs(settings.serve.lake_refresh_secs.max(1)),
        ),
        auth,
        limits: Limits {
            max_range_days: settings.serve.max_range_days.max(1),
            max_minute_range_hours: settings.serve.max_minute_range_hours.max(1),
            sql_max_rows: settings.serve.sql_max_rows.max(1),
        },
        http: Default::default(),
        metrics_file: settings.metrics_file.as_ref().map(PathBuf::from),
        clock,
        nav,
        openapi,
        started: Instant::now(),
    }));

    let mut router = Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::login_form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/assets/{file}", get(assets::serve));
    for area in areas {
        router = if area.consumer_scoped {
            let guard = middleware::from_fn_with_state(state.clone(), login::consumer_guard);
            router.merge(area.routes.route_layer(guard))
        } else {
            let guard = middleware::from_fn_with_state((state.clone(), area.role), login::guard);
            router.merge(area.routes.route_layer(guard))
        };
    }
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(middleware::from_fn(common_headers))
        .with_state(state.clone());
    Ok((router, state))
}

/// The router with the standard areas, the process environment and the
/// system clock: what `tollgate serve` runs, and what router tests drive.
pub fn router(settings: &ServeSettings) -> Result<Router, ServeError> {
    build(
        settings,
        areas(),
        &|v| std::env::var(v).ok(),
        Arc::new(SystemClock),
    )
    .map(|(r, _)| r)
}

async fn not_found(State(state): State<AppState>, req: Request) -> Response {
    let e = ApiError::not_found(format!("no page or API route at {}", req.uri().path()));
    if req.uri().path().starts_with("/api/") {
        e.into_response()
    } else {
        let caller = login::optional_caller(&state, req.headers());
        html::error_page(&state, caller.as_ref(), &e)
    }
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
    .into_response()
}

/// Middleware: times and counts every request by its route template.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    state.http.record(
        &route,
        &method,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}

async fn common_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// Refuses to serve without tokens on anything but loopback addresses.
fn check_open_address(addrs: &[SocketAddr], open: bool, address: &str) -> Result<(), ServeError> {
    if open && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(ServeError::Config(format!(
            "no tokens are configured, so the server would be open to anyone, and {address} is not a loopback address; \
             set [serve] tokens, or listen on 127.0.0.1"
        )));
    }
    Ok(())
}

/// Serves until `shutdown` completes, then finishes the requests in flight
/// and returns. Binds `[serve] address`; logs the address it listens on
/// (port 0 picks a free one) and whether it runs open.
pub async fn run(
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let address = settings.serve.address.clone();
    let (router, state) = build(
        &settings,
        areas(),
        &|v| std::env::var(v).ok(),
        Arc::new(SystemClock),
    )?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&address)
        .await
        .map_err(|e| ServeError::Config(format!("address {address:?} cannot be resolved: {e}")))?
        .collect();
    check_open_address(&addrs, state.auth.is_open(), &address)?;
    let listener = tokio::net::TcpListener::bind(addrs.as_slice())
        .await
        .map_err(|source| ServeError::Bind {
            address: address.clone(),
            source,
        })?;
    let local = listener.local_addr()?;
    if state.auth.is_open() {
        tracing::warn!(
            "no tokens configured ([serve] tokens): serving without authentication, every caller is admin; allowed because {local} is a loopback address"
        );
    } else if !local.ip().is_loopback() {
        tracing::warn!(
            "serving plain HTTP on {local}: tokens and session cookies cross the network in clear unless a TLS proxy is in front"
        );
    }
    tracing::info!(lake = %settings.lake, "listening on http://{local}");
    // One shutdown for both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    if let Some(pg_address) = &settings.serve.pg_listen {
        let pg = bind_pg(&settings.serve, pg_address, state.auth.is_open()).await?;
        let local = pg.0.local_addr()?;
        tracing::info!(tls = pg.1.is_some(), "postgres protocol on {local}");
        tokio::spawn(crate::pg::serve(
            state.clone(),
            pg.0,
            pg.1,
            settings.serve.pg_max_connections,
            stopped.clone(),
        ));
    }
    let mut http_stop = stopped;
    serve_on(listener, router, async move {
        let _ = http_stop.changed().await;
    })
    .await
}

/// Binds `[serve] pg_listen`, with its TLS acceptor when configured.
async fn bind_pg(
    serve: &crate::config::ServeConfig,
    address: &str,
    open: bool,
) -> Result<(tokio::net::TcpListener, Option<pgwire::tokio::TlsAcceptor>), ServeError> {
    let tls = match (&serve.pg_tls_cert, &serve.pg_tls_key) {
        (Some(cert), Some(key)) => Some(crate::pg::tls_acceptor(cert, key)?),
        (None, None) => None,
        _ => {
            return Err(ServeError::Config(
                "serve.pg_tls_cert and serve.pg_tls_key go together; set both or neither".into(),
            ));
        }
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(address)
        .await
        .map_err(|e| ServeError::Config(format!("pg_listen {address:?} cannot be resolved: {e}")))?
        .collect();
    crate::pg::check_listener(&addrs, open, tls.is_some(), address)?;
    let listener = tokio::net::TcpListener::bind(addrs.as_slice())
        .await
        .map_err(|source| ServeError::Bind {
            address: address.to_string(),
            source,
        })?;
    Ok((listener, tls))
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("server stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutdown requested: finishing requests in flight");
}

/// `tollgate serve`: a runtime, [`run`], and SIGINT/SIGTERM as shutdown.
pub fn run_blocking(settings: ServeSettings) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(settings, shutdown_signal()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_server_stays_on_loopback() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_open_address(&[lo, lo6], true, "localhost:8080").is_ok());
        let err = check_open_address(&[any], true, "0.0.0.0:8080").unwrap_err();
        assert!(err.to_string().contains("not a loopback address"), "{err}");
        assert!(check_open_address(&[any], false, "0.0.0.0:8080").is_ok());
    }
}
