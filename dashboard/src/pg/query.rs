//! What a Postgres client sends, sorted into what Tollgate runs and what
//! it only acknowledges.
//!
//! - A query (`SELECT`, `WITH`, `EXPLAIN`, `SHOW TABLES`, …) runs through
//!   the analyst [`SqlGate`](tollgate_aggregator::SqlGate): the same
//!   refusals, memory share, time limit and concurrency slots as the SQL
//!   console. Before that, the spellings of PostgreSQL's catalog queries
//!   that DataFusion does not parse the same way are rewritten
//!   ([`rewrite`]).
//! - `BEGIN`, `COMMIT`, `ROLLBACK`: acknowledged. Every statement only
//!   reads, so a transaction changes nothing (drivers such as psycopg
//!   open one before their first query).
//! - `SET …`: acknowledged and ignored. A client cannot change a session
//!   setting, so it cannot lift a limit either (`SET
//!   datafusion.execution…` is ignored the same way).
//! - `SHOW name`: the server parameters clients ask for.
//! - Everything else (`INSERT`, `CREATE`, `DROP`, `COPY`, …) goes to the
//!   gate too, which refuses it with SQLSTATE 25006
//!   (`read_only_sql_transaction`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType as SqlType, Expr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Statement, Value, visit_expressions_mut, visit_relations_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// One statement, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Run through the analyst gate, as this SQL.
    Query(String),
    /// `BEGIN`/`START TRANSACTION`: acknowledged.
    Begin,
    /// `COMMIT`/`END`: acknowledged.
    Commit,
    /// `ROLLBACK`/`ABORT`: acknowledged.
    Rollback,
    /// `SET …`: acknowledged, ignored.
    Set,
    /// `SHOW name` of a server parameter.
    Show(String),
    /// `DISCARD …` and `DEALLOCATE …`: acknowledged (this server keeps no
    /// session state beyond the protocol's own prepared statements).
    Ack(&'static str),
}

/// Splits `sql` into statements and classifies each. Text that does not
/// parse as PostgreSQL is handed whole to the gate, whose parser says
/// what is wrong with it.
pub fn classify(sql: &str) -> Vec<Kind> {
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(statements) if !statements.is_empty() => {
            statements.into_iter().map(classify_one).collect()
        }
        _ => vec![Kind::Query(sql.to_string())],
    }
}

fn classify_one(mut s: Statement) -> Kind {
    match &s {
        Statement::StartTransaction { .. } => Kind::Begin,
        Statement::Commit { .. } => Kind::Commit,
        Statement::Rollback { .. } => Kind::Rollback,
        Statement::Set(_) => Kind::Set,
        Statement::ShowVariable { variable } => Kind::Show(
            variable
                .iter()
                .map(|i| i.value.to_lowercase())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Statement::Discard { .. } => Kind::Ack("DISCARD ALL"),
        Statement::Deallocate { .. } => Kind::Ack("DEALLOCATE"),
        _ => {
            rewrite(&mut s);
            Kind::Query(s.to_string())
        }
    }
}

/// The catalog tables clients may name without `pg_catalog.`.
const CATALOG_TABLES: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_am",
    "pg_database",
    "pg_roles",
    "pg_tablespace",
    "pg_collation",
    "pg_index",
    "pg_attrdef",
    "pg_constraint",
    "pg_inherits",
    "pg_description",
    "pg_trigger",
    "pg_policy",
    "pg_rewrite",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_foreign_table",
    "pg_partitioned_table",
    "pg_proc",
    "pg_extension",
    "pg_enum",
    "pg_matviews",
    "pg_views",
];

/// Rewrites PostgreSQL spellings DataFusion reads differently:
///
/// - `x COLLATE "C"` and `COLLATE pg_catalog.default`: the collation is
///   dropped (DataFusion compares strings by bytes, which is `"C"`);
/// - `OPERATOR(pg_catalog.~)` and friends: the bare operator;
/// - `pg_catalog.f(…)`: `f(…)` (the catalog functions are registered
///   under their bare names);
/// - casts to `regclass` of a table name: that table's OID; casts to
///   `regtype`, `regproc`, `oid` and other OID aliases: `bigint`; to
///   `pg_catalog.text`, `name` or `"char"`: `text`;
/// - `ARRAY(SELECT …)`: NULL (psql lists storage options that way; the
///   lake has none);
/// - `pg_class` without `pg_catalog.`: qualified.
pub fn rewrite(s: &mut Statement) {
    let _ = visit_expressions_mut(s, |e| {
        let replacement = match e {
            Expr::Collate { expr, .. } => Some((**expr).clone()),
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::PGCustomBinaryOperator(parts) => {
                    builtin_operator(parts.last().map(String::as_str).unwrap_or("")).map(|op| {
                        Expr::BinaryOp {
                            left: left.clone(),
                            op,
                            right: right.clone(),
                        }
                    })
                }
                _ => None,
            },
            Expr::Cast {
                expr, data_type, ..
            } => cast_replacement(expr, data_type),
            Expr::Function(f) => {
                if f.name.0.len() == 2 && part_is(&f.name.0[0], "pg_catalog") {
                    f.name.0.remove(0);
                }
                if part_is_any(&f.name, "array") && matches!(f.args, FunctionArguments::Subquery(_))
                {
                    Some(Expr::Value(Value::Null.into()))
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(r) = replacement {
            *e = r;
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_relations_mut(s, |name| {
        if name.0.len() == 1
            && let ObjectNamePart::Identifier(id) = &name.0[0]
            && CATALOG_TABLES.contains(&id.value.as_str())
        {
            name.0
                .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
        }
        ControlFlow::<()>::Continue(())
    });
}

fn part_is(p: &ObjectNamePart, name: &str) -> bool {
    matches!(p, ObjectNamePart::Identifier(id) if id.value.eq_ignore_ascii_case(name))
}

fn part_is_any(n: &ObjectName, name: &str) -> bool {
    n.0.len() == 1 && part_is(&n.0[0], name)
}

/// The operator `OPERATOR(schema.op)` names.
fn builtin_operator(op: &str) -> Option<BinaryOperator> {
    Some(match op {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        ">" => BinaryOperator::Gt,
        "<=" => BinaryOperator::LtEq,
        ">=" => BinaryOperator::GtEq,
        _ => return None,
    })
}

/// What a cast to a PostgreSQL-only type becomes (see [`rewrite`]).
fn cast_replacement(expr: &Expr, data_type: &SqlType) -> Option<Expr> {
    let type_name = match data_type {
        SqlType::Custom(name, _) => match name.0.last() {
            Some(ObjectNamePart::Identifier(id)) => id.value.to_lowercase(),
            _ => return None,
        },
        SqlType::Regclass => "regclass".to_string(),
        _ => return None,
    };
    let cast_to = |ty: SqlType| Expr::Cast {
        kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
        expr: Box::new(expr.clone()),
        data_type: ty,
        array: false,
        format: None,
    };
    match type_name.as_str() {
        "regclass" => match expr {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(table) => {
                    let table = table
                        .rsplit('.')
                        .next()
                        .unwrap_or(table)
                        .replace('\'', "''");
                    let sql = format!(
                        "(SELECT oid FROM pg_catalog.pg_class WHERE relname = '{}')",
                        table.trim_matches('"')
                    );
                    Parser::new(&PostgreSqlDialect {})
                        .try_with_sql(&sql)
                        .and_then(|mut p| p.parse_expr())
                        .ok()
                }
                _ => Some(cast_to(SqlType::BigInt(None))),
            },
            _ => Some(cast_to(SqlType::BigInt(None))),
        },
        "regtype" | "regproc" | "regprocedure" | "regnamespace" | "regrole" | "regoper" | "oid"
        | "xid" | "cid" | "tid" => Some(cast_to(SqlType::BigInt(None))),
        "text" | "name" | "char" | "bpchar" | "varchar" => Some(cast_to(SqlType::Text)),
        "int2" => Some(cast_to(SqlType::SmallInt(None))),
        "int4" => Some(cast_to(SqlType::Int(None))),
        "int8" => Some(cast_to(SqlType::BigInt(None))),
        "bool" => Some(cast_to(SqlType::Boolean)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Kind {
        let mut k = classify(sql);
        assert_eq!(k.len(), 1, "{sql}");
        k.remove(0)
    }

    #[test]
    fn transactions_and_settings_are_acknowledged_not_run() {
        assert_eq!(one("BEGIN"), Kind::Begin);
        assert_eq!(one("start transaction read only"), Kind::Begin);
        assert_eq!(one("COMMIT"), Kind::Commit);
        assert_eq!(one("ROLLBACK"), Kind::Rollback);
        assert_eq!(one("SET datafusion.execution.batch_size = 1"), Kind::Set);
        assert_eq!(one("SET extra_float_digits = 3"), Kind::Set);
        assert_eq!(
            one("SHOW transaction_isolation"),
            Kind::Show("transaction_isolation".into())
        );
        assert_eq!(classify("BEGIN; SELECT 1").len(), 2);
    }

    #[test]
    fn writes_go_to_the_gate_which_refuses_them() {
        for sql in ["DROP TABLE events", "INSERT INTO t VALUES (1)"] {
            assert!(matches!(one(sql), Kind::Query(_)), "{sql}");
        }
    }

    #[test]
    fn psql_catalog_spellings_are_rewritten() {
        let Kind::Query(sql) = one(
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(events)$' \
             COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid)",
        ) else {
            panic!("not a query")
        };
        assert!(!sql.contains("COLLATE"), "{sql}");
        assert!(!sql.contains("OPERATOR"), "{sql}");
        assert!(sql.contains("c.relname ~ '^(events)$'"), "{sql}");
        assert!(sql.contains(" pg_table_is_visible(c.oid)"), "{sql}");

        let Kind::Query(sql) =
            one("SELECT 'events'::regclass, t.oid::regtype::pg_catalog.text FROM pg_type t")
        else {
            panic!("not a query")
        };
        assert!(sql.contains("relname = 'events'"), "{sql}");
        assert!(sql.contains("FROM pg_catalog.pg_type"), "{sql}");
        assert!(!sql.contains("regtype"), "{sql}");
    }
}
