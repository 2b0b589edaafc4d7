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
    ArrayElemTypeDef, BinaryOperator, DataType as SqlType, Expr, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, Statement, Value, VisitMut, VisitorMut, visit_expressions_mut,
    visit_relations_mut,
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
/// - unnamed select items that would share a name (`SELECT NULL, NULL`,
///   which PostgreSQL allows) get distinct aliases;
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
    let _ = s.visit(&mut UniqueNames);
    let _ = visit_expressions_mut(s, |e| {
        let replacement = match e {
            Expr::Collate { expr, .. } => Some((**expr).clone()),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::PGCustomBinaryOperator(parts),
                right,
            } => builtin_operator(parts.last().map(String::as_str).unwrap_or("")).map(|op| {
                Expr::BinaryOp {
                    left: left.clone(),
                    op,
                    right: right.clone(),
                }
            }),
            Expr::Cast {
                expr, data_type, ..
            } => cast_replacement(expr, data_type),
            Expr::Subquery(q) => catalog_lookup(q),
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
        if name.0.len() == 2
            && part_is(&name.0[0], "pg_catalog")
            && let ObjectNamePart::Identifier(id) = &name.0[1]
            && !CATALOG_TABLES.contains(&id.value.as_str())
        {
            // A function of the catalog in FROM (`generate_series`).
            name.0.remove(0);
        } else if name.0.len() == 1
            && let ObjectNamePart::Identifier(id) = &name.0[0]
            && CATALOG_TABLES.contains(&id.value.as_str())
        {
            name.0
                .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `(SELECT x FROM pg_catalog.t WHERE …)` in a select list is a
/// correlated lookup PostgreSQL allows as long as it finds at most one
/// row. DataFusion wants it aggregated and cannot decorrelate every shape
/// psql writes, so:
///
/// - over a catalog table that never has rows here (defaults,
///   collations, constraints, …) it is NULL, which is its exact answer;
/// - over another catalog table it becomes `(SELECT min(x) …)`, the same
///   answer for zero or one row.
///
/// An analyst's own subquery (not over `pg_catalog`) is left alone.
fn catalog_lookup(q: &mut datafusion::sql::sqlparser::ast::Query) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem, SetExpr, TableFactor};
    let SetExpr::Select(select) = q.body.as_mut() else {
        return None;
    };
    let catalog_tables: Vec<String> = select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .filter_map(|r| match r {
            TableFactor::Table { name, .. }
                if name.0.len() == 2 && part_is(&name.0[0], "pg_catalog") =>
            {
                match &name.0[1] {
                    ObjectNamePart::Identifier(id) => Some(id.value.clone()),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if catalog_tables.is_empty() || select.projection.len() != 1 || grouped {
        return None;
    }
    let expr = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    let aggregated = matches!(expr, Expr::Function(f) if part_is_any(&f.name, "min")
        || part_is_any(&f.name, "max") || part_is_any(&f.name, "count"));
    let only_inner_joins = select.from.iter().all(|t| {
        t.joins.iter().all(|j| {
            matches!(
                j.join_operator,
                datafusion::sql::sqlparser::ast::JoinOperator::Inner(_)
                    | datafusion::sql::sqlparser::ast::JoinOperator::Join(_)
            )
        })
    });
    if !aggregated
        && only_inner_joins
        && catalog_tables
            .iter()
            .any(|t| super::catalog::always_empty(t))
    {
        return Some(Expr::Value(Value::Null.into()));
    }
    if !aggregated
        && let Ok(wrapped) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&format!("min({expr})"))
            .and_then(|mut p| p.parse_expr())
    {
        *expr = wrapped;
    }
    None
}

/// Aliases repeated unnamed select items of every query (see [`rewrite`]).
struct UniqueNames;

impl VisitorMut for UniqueNames {
    type Break = ();

    fn post_visit_query(
        &mut self,
        q: &mut datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<()> {
        unique_names(&mut q.body);
        ControlFlow::Continue(())
    }
}

fn unique_names(set: &mut datafusion::sql::sqlparser::ast::SetExpr) {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
    match set {
        SetExpr::Select(select) => {
            if reads_nothing(select) {
                // No row comes out, so what the items would compute does
                // not matter; subqueries DataFusion cannot plan go.
                for item in select.projection.iter_mut() {
                    if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } =
                        item
                        && has_subquery(e)
                    {
                        *e = Expr::Value(Value::Null.into());
                    }
                }
            }
            let mut seen = std::collections::HashSet::new();
            for (i, item) in select.projection.iter_mut().enumerate() {
                let name = match item {
                    SelectItem::UnnamedExpr(Expr::Identifier(id)) => id.value.clone(),
                    SelectItem::UnnamedExpr(Expr::CompoundIdentifier(ids)) => {
                        ids.last().map(|id| id.value.clone()).unwrap_or_default()
                    }
                    SelectItem::UnnamedExpr(e) => e.to_string(),
                    SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                    _ => continue,
                };
                if !seen.insert(name.clone())
                    && let SelectItem::UnnamedExpr(e) = item
                {
                    *item = SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: Ident::with_quote('"', format!("{name}_{}", i + 1)),
                    };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            unique_names(left);
            unique_names(right);
        }
        _ => {}
    }
}

/// Whether a select reads an always-empty catalog table in a way that
/// leaves it no row: as the first table of a join chain, or joined in
/// with an inner join; and it has no aggregate that would answer a row
/// over nothing (a GROUP BY, or an aggregate such as `count(*)` at the
/// top of a select item).
fn reads_nothing(select: &datafusion::sql::sqlparser::ast::Select) -> bool {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, JoinOperator, SelectItem, TableFactor};
    let empty = |r: &TableFactor| {
        matches!(r, TableFactor::Table { name, .. }
            if name.0.len() == 2 && part_is(&name.0[0], "pg_catalog")
                && matches!(&name.0[1], ObjectNamePart::Identifier(id)
                    if super::catalog::always_empty(&id.value)))
    };
    let none_out = select.from.iter().any(|t| {
        empty(&t.relation)
            || t.joins.iter().any(|j| {
                empty(&j.relation)
                    && matches!(
                        j.join_operator,
                        JoinOperator::Inner(_) | JoinOperator::Join(_)
                    )
            })
    });
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    let aggregate_at_top = select.projection.iter().any(|item| match item {
        SelectItem::UnnamedExpr(Expr::Function(f))
        | SelectItem::ExprWithAlias {
            expr: Expr::Function(f),
            ..
        } => {
            f.filter.is_some()
                || !f.within_group.is_empty()
                || AGGREGATES.iter().any(|a| part_is_any(&f.name, a))
        }
        _ => false,
    });
    none_out && !grouped && !aggregate_at_top
}

/// Aggregate functions catalog queries use (a select over nothing still
/// answers one row with them).
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
];

/// Whether an expression holds a subquery.
fn has_subquery(e: &Expr) -> bool {
    use datafusion::sql::sqlparser::ast::visit_expressions;
    visit_expressions(e, |x| {
        if matches!(
            x,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
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
    if let SqlType::Array(ArrayElemTypeDef::SquareBracket(element, _)) = data_type {
        // `x::pg_catalog.int2[]`: the element type as below.
        let Expr::Cast {
            data_type: element, ..
        } = cast_replacement(&Expr::Value(Value::Null.into()), element)?
        else {
            return None;
        };
        return Some(Expr::Cast {
            kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
            expr: Box::new(expr.clone()),
            data_type: SqlType::Array(ArrayElemTypeDef::SquareBracket(Box::new(element), None)),
            array: false,
            format: None,
        });
    }
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

    fn query_of(sql: &str) -> String {
        match one(sql) {
            Kind::Query(q) => q,
            other => panic!("{sql} is {other:?}"),
        }
    }

    #[test]
    fn lookups_in_empty_catalog_tables_are_null_and_others_are_aggregated() {
        // psql's \d column query: a default (pg_attrdef, always empty here)
        // is NULL, exactly what PostgreSQL answers without one.
        let sql = query_of(
            "SELECT a.attname, (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) \
             FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND a.atthasdef) \
             FROM pg_catalog.pg_attribute a",
        );
        assert!(!sql.contains("pg_attrdef"), "{sql}");
        // A lookup in a table with rows keeps its meaning for one row.
        let sql = query_of(
            "SELECT c.relname, (SELECT n.nspname FROM pg_catalog.pg_namespace n \
             WHERE n.oid = c.relnamespace) FROM pg_catalog.pg_class c",
        );
        assert!(sql.contains("SELECT min(n.nspname)"), "{sql}");
        // An analyst's own subquery is left to DataFusion's rules.
        let sql = query_of("SELECT (SELECT consumer FROM events LIMIT 1)");
        assert!(sql.contains("SELECT consumer FROM events"), "{sql}");
    }

    #[test]
    fn a_select_over_an_empty_catalog_table_drops_its_subqueries_but_not_its_counts() {
        let sql = query_of(
            "SELECT p.pubname, (SELECT string_agg(attname, ',') FROM pg_catalog.pg_attribute) \
             FROM pg_catalog.pg_publication p",
        );
        assert!(!sql.contains("string_agg"), "{sql}");
        // count(*) over nothing is one row of 0: kept as written.
        let sql = query_of("SELECT count(*), (SELECT 1) FROM pg_catalog.pg_publication p");
        assert!(sql.contains("(SELECT 1)"), "{sql}");
    }

    #[test]
    fn repeated_unnamed_items_get_distinct_names() {
        let sql = query_of("SELECT NULL, NULL, 1 AS x UNION SELECT NULL, NULL, 2");
        assert_eq!(sql.matches("\"NULL_2\"").count(), 2, "{sql}");
    }
}
