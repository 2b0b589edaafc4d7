//! Analyst SQL over the Postgres wire protocol (`[serve] pg_listen`,
//! `tollgate serve --pg-listen`): psql, psycopg, Grafana, Metabase and
//! DBeaver connect to the lake as to a read-only PostgreSQL database.
//!
//! Built on the `pgwire` crate (the protocol: startup, cleartext
//! authentication, simple and extended queries, TLS) rather than on
//! `datafusion-postgres`: that crate runs its own DataFusion session with
//! DataFusion's default features (every one Tollgate turns off, against
//! the first-build and binary-size budget) and its own statement
//! handling, where Tollgate needs every statement to pass through the one
//! [`SqlGate`](tollgate_aggregator::SqlGate) the SQL console uses. So a
//! statement from psql meets exactly the console's refusals, memory
//! share, time limit, result cap and concurrency slots, and is counted in
//! the same `/metrics`.
//!
//! - **Authentication**: the password is a dashboard token (`[serve]
//!   tokens`) holding the `analyst` or `admin` role; the user name is not
//!   checked (say `analyst`). A `viewer` or `finance` token, a consumer
//!   token or a wrong token is refused. The password crosses the
//!   connection as sent (cleartext authentication: only a hash of each
//!   token is kept, so no challenge scheme can be answered), so off
//!   loopback configure TLS (`pg_tls_cert`, `pg_tls_key`) and connect
//!   with `sslmode=require` or stricter. With no tokens configured, the
//!   server runs open on loopback only, as the dashboard does.
//! - **Statements**: see [`query`].
//! - **Catalog**: see [`catalog`]. `\dt`, `\d events` and
//!   `information_schema` answer.
//! - **Types**: see [`types`].

pub mod catalog;
pub mod query;
pub mod types;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::process_socket;
use pgwire::tokio::tokio_rustls::rustls;
use tokio::sync::Semaphore;
use tollgate_aggregator::{AnalyticsError, Described, Extras, ResultLimit, Setup};

use crate::config::Role;
use crate::error::ServeError;
use crate::state::AppState;
use query::Kind;

/// The PostgreSQL version the server reports (`server_version`): the
/// catalog queries of psql and of drivers are chosen by it, and the
/// catalog ([`catalog`]) answers those of this version.
pub const SERVER_VERSION: &str = "15.0";

/// Serves the Postgres protocol on `listener` until `stop` changes.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let handlers = Arc::new(Handlers::new(state));
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, addr)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%addr, max_connections, "postgres connection refused: serve.pg_max_connections reached");
                        continue;
                    };
                    let handlers = handlers.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        if let Err(e) = process_socket(socket, tls, handlers).await {
                            tracing::debug!(%addr, "postgres connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("postgres listener: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    tracing::info!("postgres listener stopped");
}

/// The TLS acceptor for a PEM certificate chain and private key.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &Path, e: &dyn fmt::Display| {
        ServeError::Config(format!("serve.pg_tls: {}: {e}", what.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, &e))?;
    if certs.is_empty() {
        return Err(bad(cert, &"no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(cert, &e))?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|e| bad(cert, &e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The protocol handlers of every connection.
pub struct Handlers {
    backend: Arc<Backend>,
    startup: Arc<CleartextPasswordAuthStartupHandler<Tokens, DefaultServerParameterProvider>>,
}

impl Handlers {
    fn new(state: AppState) -> Handlers {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = SERVER_VERSION.to_string();
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        parameters.time_zone = "UTC".to_string();
        Handlers {
            backend: Arc::new(Backend {
                parser: Arc::new(Statements {
                    state: state.clone(),
                }),
            }),
            startup: Arc::new(CleartextPasswordAuthStartupHandler::new(
                Tokens(state),
                parameters,
            )),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.backend.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.backend.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }
}

/// Passwords are dashboard tokens (see the module).
struct Tokens(AppState);

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

#[async_trait]
impl AuthSource for Tokens {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        // Only hashes of tokens are kept; `verify_password` checks them.
        Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "FATAL".into(),
            "28000".into(),
            "password lookup is not supported; send a token as the password".into(),
        ))))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented: &[u8],
    ) -> PgWireResult<Option<()>> {
        let auth = &self.0.auth;
        if auth.is_open() {
            return Ok(None);
        }
        let user = login.user().unwrap_or_default().to_string();
        let token = std::str::from_utf8(presented).unwrap_or_default();
        let access = auth.check_token(token);
        if access.is_empty() {
            tracing::info!(user, "postgres login refused: unknown token");
            return Err(PgWireError::InvalidPassword(user));
        }
        if !access.allows(Role::Analyst) {
            let held: Vec<&str> = access.roles().iter().map(|r| r.name()).collect();
            tracing::info!(user, roles = ?held, "postgres login refused: no analyst role");
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                format!(
                    "this token grants {}; the Postgres protocol serves analyst SQL and needs an analyst or admin token",
                    held.join(", ")
                ),
            ))));
        }
        Ok(None)
    }
}

/// Runs statements for every connection.
pub struct Backend {
    parser: Arc<Statements>,
}

/// A statement of the extended protocol, parsed and described.
#[derive(Debug, Clone)]
pub struct Prepared {
    kind: Kind,
    /// Columns and parameter types of a query.
    described: Option<Described>,
}

/// Parses and describes statements of the extended protocol.
pub struct Statements {
    state: AppState,
}

/// The session setup every statement gets: the `pg_catalog`.
fn setup() -> Setup {
    Arc::new(|ctx| Box::pin(catalog::install(ctx)))
}

#[async_trait]
impl QueryParser for Statements {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut kinds = query::classify(sql);
        if kinds.len() != 1 {
            return Err(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement".into(),
            ));
        }
        let kind = kinds.remove(0);
        let described = match &kind {
            Kind::Query(sql) => {
                let lake = self.state.lake.get().await.map_err(pg_error)?;
                Some(
                    self.state
                        .sql
                        .describe(&lake, sql, Some(setup()))
                        .await
                        .map_err(pg_error)?,
                )
            }
            _ => None,
        };
        Ok(Some(Prepared { kind, described }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.described.as_ref().map_or_else(Vec::new, |d| {
            d.params
                .iter()
                .map(|p| p.as_ref().map_or(Type::UNKNOWN, types::pg_type_of))
                .collect()
        }))
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = column_format.cloned().unwrap_or(Format::UnifiedText);
        Ok(match (&stmt.kind, &stmt.described) {
            (Kind::Query(_), Some(d)) => types::fields(&d.schema, &format),
            (Kind::Show(name), _) => vec![show_field(name, format.format_for(0))],
            _ => Vec::new(),
        })
    }
}

impl Backend {
    /// Runs one classified statement.
    async fn execute(
        &self,
        kind: &Kind,
        params: Vec<datafusion::common::ScalarValue>,
        format: Format,
    ) -> PgWireResult<Response> {
        Ok(match kind {
            Kind::Begin => Response::TransactionStart(Tag::new("BEGIN")),
            Kind::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
            Kind::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
            Kind::Set => Response::Execution(Tag::new("SET")),
            Kind::Ack(tag) => Response::Execution(Tag::new(tag)),
            Kind::Show(name) => {
                let value = show(name).ok_or_else(|| {
                    user_error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                let fields = Arc::new(vec![show_field(name, format.format_for(0))]);
                let mut encoder = pgwire::api::results::DataRowEncoder::new(fields.clone());
                encoder.encode_field(&value)?;
                let row = encoder.take_row();
                Response::Query(QueryResponse::new(fields, stream::iter([Ok(row)])))
            }
            Kind::Query(sql) => {
                let state = &self.parser.state;
                let lake = state.lake.get().await.map_err(pg_error)?;
                let extras = Extras {
                    params,
                    setup: Some(setup()),
                };
                let (fields, rows) = state
                    .sql
                    .run_with(&lake, sql, extras, ResultLimit::whole(), move |answer| {
                        let fields = Arc::new(types::fields(&answer.schema, &format));
                        let rows = types::encode(&answer.batches, fields.clone())
                            .map_err(|e| AnalyticsError::Query(e.to_string()))?;
                        Ok((fields, rows))
                    })
                    .await
                    .map_err(pg_error)?;
                Response::Query(QueryResponse::new(
                    fields,
                    stream::iter(rows.into_iter().map(Ok)),
                ))
            }
        })
    }
}

#[async_trait]
impl SimpleQueryHandler for Backend {
    async fn do_query<C>(&self, _client: &mut C, sql: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore,
        C::Error: fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let mut out = Vec::new();
        for kind in query::classify(sql) {
            match self.execute(&kind, Vec::new(), Format::UnifiedText).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    // Like PostgreSQL: the first error ends the string.
                    out.push(Response::Error(Box::new(error_info(e))));
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Backend {
    type Statement = Prepared;
    type QueryParser = Statements;

    fn query_parser(&self) -> Arc<Statements> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let stmt = &portal.statement;
        let implied = stmt
            .statement
            .described
            .as_ref()
            .map(|d| d.params.clone())
            .unwrap_or_default();
        let mut params = Vec::with_capacity(portal.parameter_len());
        for (i, raw) in portal.parameters.iter().enumerate() {
            let declared = stmt.parameter_types.get(i).cloned().flatten();
            params.push(types::parameter(
                raw.as_deref(),
                portal.parameter_format.is_binary(i),
                declared.as_ref(),
                implied.get(i).cloned().flatten().as_ref(),
            )?);
        }
        self.execute(
            &stmt.statement.kind,
            params,
            portal.result_column_format.clone(),
        )
        .await
    }
}

/// The one column of `SHOW name`.
fn show_field(name: &str, format: FieldFormat) -> FieldInfo {
    FieldInfo::new(name.to_string(), None, None, Type::TEXT, format)
}

/// The server parameters `SHOW` answers.
fn show(name: &str) -> Option<String> {
    Some(
        match name {
            "server_version" => SERVER_VERSION,
            "server_version_num" => "150000",
            "server_encoding" | "client_encoding" => "UTF8",
            "datestyle" => "ISO, MDY",
            "intervalstyle" => "postgres",
            "timezone" => "UTC",
            "integer_datetimes" | "standard_conforming_strings" => "on",
            "transaction_isolation" | "default_transaction_isolation" => "read committed",
            "transaction_read_only" | "default_transaction_read_only" => "on",
            "search_path" => "public",
            "max_identifier_length" => "63",
            "is_superuser" => "off",
            "application_name" => "",
            "lc_collate" | "lc_ctype" => "C.UTF-8",
            "extra_float_digits" => "1",
            _ => return None,
        }
        .to_string(),
    )
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

/// An analyst-SQL error as a Postgres error with the SQLSTATE a client
/// can act on.
fn pg_error(e: AnalyticsError) -> PgWireError {
    let code = match &e {
        AnalyticsError::Refused(_) => "25006",
        AnalyticsError::Timeout(_) => "57014",
        AnalyticsError::Memory(_) => "53200",
        AnalyticsError::ValueTooLarge(_) | AnalyticsError::ResultTooLarge(_) => "54000",
        AnalyticsError::Busy { .. } => "53300",
        AnalyticsError::Invalid(_) => "22023",
        AnalyticsError::Lake(_) => "58030",
        _ => "42000",
    };
    user_error(code, e.to_string())
}

/// The error response of a failed statement.
fn error_info(e: PgWireError) -> ErrorInfo {
    match e {
        PgWireError::UserError(info) => *info,
        other => ErrorInfo::new("ERROR".into(), "XX000".into(), other.to_string()),
    }
}

/// Refuses a listener that would be open to anyone (no tokens) on a
/// non-loopback address, and warns when tokens would cross a network in
/// clear.
pub fn check_listener(
    addrs: &[SocketAddr],
    open: bool,
    tls: bool,
    address: &str,
) -> Result<(), ServeError> {
    if open && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(ServeError::Config(format!(
            "no tokens are configured, so the Postgres listener would be open to anyone, and {address} is not a loopback address; \
             set [serve] tokens, or listen on 127.0.0.1"
        )));
    }
    if !tls && addrs.iter().any(|a| !a.ip().is_loopback()) {
        tracing::warn!(
            "the Postgres listener on {address} has no TLS: tokens (the passwords) cross the network in clear; set serve.pg_tls_cert and serve.pg_tls_key"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyst_errors_carry_the_sqlstate_clients_act_on() {
        let refused = error_info(pg_error(AnalyticsError::Refused(
            "`DROP TABLE events …` is not a query".into(),
        )));
        assert_eq!(refused.code, "25006");
        assert!(refused.message.contains("read-only"), "{}", refused.message);
        let memory = error_info(pg_error(AnalyticsError::Memory("sort".into())));
        assert_eq!(memory.code, "53200");
    }

    #[test]
    fn show_answers_the_parameters_drivers_ask_for() {
        assert_eq!(show("transaction_read_only").as_deref(), Some("on"));
        assert_eq!(show("server_version").as_deref(), Some(SERVER_VERSION));
        assert_eq!(show("work_mem"), None);
    }

    #[test]
    fn an_open_listener_stays_on_loopback() {
        let any: SocketAddr = "0.0.0.0:5433".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5433".parse().unwrap();
        assert!(check_listener(&[any], true, false, "0.0.0.0:5433").is_err());
        assert!(check_listener(&[local], true, false, "127.0.0.1:5433").is_ok());
        assert!(check_listener(&[any], false, true, "0.0.0.0:5433").is_ok());
    }
}
