//! The part of PostgreSQL's system catalog that clients look up before
//! they query: `pg_catalog.pg_namespace`, `pg_class`, `pg_attribute`,
//! `pg_type` and the tables psql's `\d` joins, plus the catalog functions
//! (`pg_table_is_visible`, `format_type`, …) those queries call.
//!
//! It is built for each statement from the lake's tables as the analyst
//! session sees them (so a table the lake gains appears at once), in a
//! catalog list of the statement's own: the lake's shared session is
//! never changed. Tables that describe what Tollgate does not have
//! (indexes, triggers, policies, inheritance, publications) are present
//! and empty, so the clients' joins answer "none". `information_schema`
//! is DataFusion's own.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Int16Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider,
};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use super::types::{pg_type_of, sql_type_name};

/// OID of the `pg_catalog` namespace, as in PostgreSQL.
const PG_CATALOG_OID: i64 = 11;
/// OID of the `public` namespace, as in PostgreSQL.
const PUBLIC_OID: i64 = 2200;
/// OID of the `information_schema` namespace.
const INFORMATION_SCHEMA_OID: i64 = 13_000;
/// OIDs of the lake's tables start here (PostgreSQL's first user OID).
const FIRST_TABLE_OID: i64 = 16_384;
/// The owner every object reports.
const OWNER_OID: i64 = 10;
/// The name behind [`OWNER_OID`].
pub const OWNER: &str = "tollgate";
/// What `current_database()` and `pg_database` say.
pub const DATABASE: &str = "tollgate";

/// A table the lake offers, as the catalog lists it.
struct LakeTable {
    oid: i64,
    name: String,
    schema: SchemaRef,
}

/// Replaces `ctx`'s catalog list by one that holds the lake's `public`
/// schema (shared, read-only), DataFusion's `information_schema`, and a
/// fresh `pg_catalog`; registers the catalog functions.
pub async fn install(ctx: SessionContext) -> Result<SessionContext, DataFusionError> {
    let state = ctx.state();
    let catalog_name = state.config().options().catalog.default_catalog.clone();
    let schema_name = state.config().options().catalog.default_schema.clone();
    let lake_catalog = state
        .catalog_list()
        .catalog(&catalog_name)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {catalog_name}")))?;
    let public = lake_catalog
        .schema(&schema_name)
        .ok_or_else(|| DataFusionError::Plan(format!("no schema {schema_name}")))?;
    let mut names = public.table_names();
    names.sort();
    let mut tables = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        if let Some(t) = public.table(&name).await? {
            tables.push(LakeTable {
                oid: FIRST_TABLE_OID + i as i64,
                name,
                schema: t.schema(),
            });
        }
    }
    let catalog = MemoryCatalogProvider::new();
    catalog.register_schema(&schema_name, public)?;
    catalog.register_schema("pg_catalog", pg_catalog(&tables)?)?;
    let list = MemoryCatalogProviderList::new();
    list.register_catalog(catalog_name, Arc::new(catalog));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_catalog_list(Arc::new(list))
        .build();
    let ctx = SessionContext::new_with_state(state);
    for udf in functions() {
        ctx.register_udf(udf);
    }
    Ok(ctx)
}

/// A column of a catalog table, built row by row.
enum Col {
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(Vec<Option<f32>>),
    Bool(Vec<Option<bool>>),
    Text(Vec<Option<String>>),
    /// `text[]`: only ever NULL here (the tables with arrays are empty).
    TextList(usize),
}

/// One value of a catalog row.
#[derive(Clone)]
enum V {
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    B(bool),
    T(String),
    /// NULL of the column's type.
    Null,
}

fn t(s: &str) -> V {
    V::T(s.to_string())
}

/// A catalog table: column names and types (`i2`, `i4`, `oid`, `f4`,
/// `bool`, `text`), then rows.
struct Table {
    fields: Vec<Field>,
    cols: Vec<Col>,
}

impl Table {
    fn new(spec: &[(&str, &str)]) -> Table {
        let mut fields = Vec::new();
        let mut cols = Vec::new();
        for (name, ty) in spec {
            let (dt, col) = match *ty {
                "i2" => (DataType::Int16, Col::I16(Vec::new())),
                "i4" => (DataType::Int32, Col::I32(Vec::new())),
                "oid" | "i8" => (DataType::Int64, Col::I64(Vec::new())),
                "f4" => (DataType::Float32, Col::F32(Vec::new())),
                "bool" => (DataType::Boolean, Col::Bool(Vec::new())),
                "text[]" => (list_of_text(), Col::TextList(0)),
                _ => (DataType::Utf8, Col::Text(Vec::new())),
            };
            fields.push(Field::new(*name, dt, true));
            cols.push(col);
        }
        Table { fields, cols }
    }

    /// Appends a row; values are matched to columns in order, and a value
    /// of the wrong kind for its column is stored as NULL.
    fn row(&mut self, values: Vec<V>) {
        debug_assert_eq!(values.len(), self.cols.len(), "{:?}", self.fields);
        for (col, v) in self.cols.iter_mut().zip(values) {
            match (col, v) {
                (Col::I16(c), V::I16(x)) => c.push(Some(x)),
                (Col::I32(c), V::I32(x)) => c.push(Some(x)),
                (Col::I64(c), V::I64(x)) => c.push(Some(x)),
                (Col::F32(c), V::F32(x)) => c.push(Some(x)),
                (Col::Bool(c), V::B(x)) => c.push(Some(x)),
                (Col::Text(c), V::T(x)) => c.push(Some(x)),
                (Col::I16(c), _) => c.push(None),
                (Col::I32(c), _) => c.push(None),
                (Col::I64(c), _) => c.push(None),
                (Col::F32(c), _) => c.push(None),
                (Col::Bool(c), _) => c.push(None),
                (Col::Text(c), _) => c.push(None),
                (Col::TextList(n), _) => *n += 1,
            }
        }
    }

    fn into_provider(self) -> DfResult<Arc<MemTable>> {
        let schema = Arc::new(Schema::new(self.fields));
        let arrays: Vec<ArrayRef> = self
            .cols
            .into_iter()
            .map(|c| -> ArrayRef {
                match c {
                    Col::I16(v) => Arc::new(Int16Array::from(v)),
                    Col::I32(v) => Arc::new(Int32Array::from(v)),
                    Col::I64(v) => Arc::new(Int64Array::from(v)),
                    Col::F32(v) => Arc::new(Float32Array::from(v)),
                    Col::Bool(v) => Arc::new(BooleanArray::from(v)),
                    Col::Text(v) => Arc::new(StringArray::from(v)),
                    Col::TextList(n) => arrow_array::new_null_array(&list_of_text(), n),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

fn list_of_text() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// The `pg_catalog` schema over `tables`.
fn pg_catalog(tables: &[LakeTable]) -> DfResult<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    let add = |name: &str, table: Table| -> DfResult<()> {
        schema.register_table(name.to_string(), table.into_provider()?)?;
        Ok(())
    };

    let mut ns = Table::new(&[
        ("oid", "oid"),
        ("nspname", "text"),
        ("nspowner", "oid"),
        ("nspacl", "text[]"),
    ]);
    for (oid, name) in [
        (PG_CATALOG_OID, "pg_catalog"),
        (PUBLIC_OID, "public"),
        (INFORMATION_SCHEMA_OID, "information_schema"),
    ] {
        ns.row(vec![V::I64(oid), t(name), V::I64(OWNER_OID), V::Null]);
    }
    add("pg_namespace", ns)?;

    let mut class = Table::new(&[
        ("oid", "oid"),
        ("relname", "text"),
        ("relnamespace", "oid"),
        ("reltype", "oid"),
        ("reloftype", "oid"),
        ("relowner", "oid"),
        ("relam", "oid"),
        ("relfilenode", "oid"),
        ("reltablespace", "oid"),
        ("relpages", "i4"),
        ("reltuples", "f4"),
        ("relallvisible", "i4"),
        ("reltoastrelid", "oid"),
        ("relhasindex", "bool"),
        ("relisshared", "bool"),
        ("relpersistence", "text"),
        ("relkind", "text"),
        ("relnatts", "i2"),
        ("relchecks", "i2"),
        ("relhasrules", "bool"),
        ("relhastriggers", "bool"),
        ("relhassubclass", "bool"),
        ("relrowsecurity", "bool"),
        ("relforcerowsecurity", "bool"),
        ("relispopulated", "bool"),
        ("relreplident", "text"),
        ("relispartition", "bool"),
        ("relrewrite", "oid"),
        ("relfrozenxid", "oid"),
        ("relminmxid", "oid"),
        ("relacl", "text[]"),
        ("reloptions", "text[]"),
        ("relpartbound", "text"),
    ]);
    for tb in tables {
        let natts = i16::try_from(tb.schema.fields().len()).unwrap_or(i16::MAX);
        class.row(vec![
            V::I64(tb.oid),
            V::T(tb.name.clone()),
            V::I64(PUBLIC_OID),
            V::I64(0),
            V::I64(0),
            V::I64(OWNER_OID),
            V::I64(HEAP_AM_OID),
            V::I64(0),
            V::I64(0),
            V::I32(0),
            V::F32(-1.0),
            V::I32(0),
            V::I64(0),
            V::B(false),
            V::B(false),
            t("p"),
            t("r"),
            V::I16(natts),
            V::I16(0),
            V::B(false),
            V::B(false),
            V::B(false),
            V::B(false),
            V::B(false),
            V::B(true),
            t("d"),
            V::B(false),
            V::I64(0),
            V::I64(0),
            V::I64(0),
            V::Null,
            V::Null,
            V::Null,
        ]);
    }
    add("pg_class", class)?;

    let mut attribute = Table::new(&[
        ("attrelid", "oid"),
        ("attname", "text"),
        ("atttypid", "oid"),
        ("attstattarget", "i4"),
        ("attlen", "i2"),
        ("attnum", "i2"),
        ("attndims", "i4"),
        ("attcacheoff", "i4"),
        ("atttypmod", "i4"),
        ("attbyval", "bool"),
        ("attalign", "text"),
        ("attstorage", "text"),
        ("attcompression", "text"),
        ("attnotnull", "bool"),
        ("atthasdef", "bool"),
        ("atthasmissing", "bool"),
        ("attidentity", "text"),
        ("attgenerated", "text"),
        ("attisdropped", "bool"),
        ("attislocal", "bool"),
        ("attinhcount", "i4"),
        ("attcollation", "oid"),
        ("attacl", "text[]"),
        ("attoptions", "text[]"),
        ("attfdwoptions", "text[]"),
        ("attmissingval", "text"),
    ]);
    for tb in tables {
        for (i, f) in tb.schema.fields().iter().enumerate() {
            let ty = pg_type_of(f.data_type());
            attribute.row(vec![
                V::I64(tb.oid),
                V::T(f.name().clone()),
                V::I64(i64::from(ty.oid())),
                V::I32(-1),
                V::I16(type_len(&ty)),
                V::I16(i16::try_from(i + 1).unwrap_or(i16::MAX)),
                V::I32(0),
                V::I32(-1),
                V::I32(-1),
                V::B(type_len(&ty) > 0),
                t("i"),
                t("p"),
                t(""),
                V::B(!f.is_nullable()),
                V::B(false),
                V::B(false),
                t(""),
                t(""),
                V::B(false),
                V::B(true),
                V::I32(0),
                V::I64(0),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
            ]);
        }
    }
    add("pg_attribute", attribute)?;

    let mut ty = Table::new(&[
        ("oid", "oid"),
        ("typname", "text"),
        ("typnamespace", "oid"),
        ("typowner", "oid"),
        ("typlen", "i2"),
        ("typbyval", "bool"),
        ("typtype", "text"),
        ("typcategory", "text"),
        ("typispreferred", "bool"),
        ("typisdefined", "bool"),
        ("typdelim", "text"),
        ("typrelid", "oid"),
        ("typelem", "oid"),
        ("typarray", "oid"),
        ("typinput", "text"),
        ("typoutput", "text"),
        ("typreceive", "text"),
        ("typsend", "text"),
        ("typnotnull", "bool"),
        ("typbasetype", "oid"),
        ("typtypmod", "i4"),
        ("typndims", "i4"),
        ("typcollation", "oid"),
        ("typdefault", "text"),
    ]);
    for pg in super::types::KNOWN {
        let name = pg.name().to_string();
        ty.row(vec![
            V::I64(i64::from(pg.oid())),
            V::T(name.clone()),
            V::I64(PG_CATALOG_OID),
            V::I64(OWNER_OID),
            V::I16(type_len(pg)),
            V::B(type_len(pg) > 0),
            t("b"),
            t(category(pg)),
            V::B(false),
            V::B(true),
            t(","),
            V::I64(0),
            V::I64(0),
            V::I64(0),
            V::T(format!("{name}in")),
            V::T(format!("{name}out")),
            V::T(format!("{name}recv")),
            V::T(format!("{name}send")),
            V::B(false),
            V::I64(0),
            V::I32(-1),
            V::I32(0),
            V::I64(0),
            V::Null,
        ]);
    }
    add("pg_type", ty)?;

    let mut am = Table::new(&[
        ("oid", "oid"),
        ("amname", "text"),
        ("amhandler", "text"),
        ("amtype", "text"),
    ]);
    am.row(vec![
        V::I64(HEAP_AM_OID),
        t("heap"),
        t("heap_tableam_handler"),
        t("t"),
    ]);
    add("pg_am", am)?;

    let mut database = Table::new(&[
        ("oid", "oid"),
        ("datname", "text"),
        ("datdba", "oid"),
        ("encoding", "i4"),
        ("datcollate", "text"),
        ("datctype", "text"),
        ("datistemplate", "bool"),
        ("datallowconn", "bool"),
        ("datconnlimit", "i4"),
        ("dattablespace", "oid"),
        ("datacl", "text[]"),
        ("datlocprovider", "text"),
        ("daticulocale", "text"),
        ("daticurules", "text"),
        ("datcollversion", "text"),
    ]);
    database.row(vec![
        V::I64(16_383),
        t(DATABASE),
        V::I64(OWNER_OID),
        V::I32(6),
        t("C.UTF-8"),
        t("C.UTF-8"),
        V::B(false),
        V::B(true),
        V::I32(-1),
        V::I64(1663),
        V::Null,
        t("c"),
        V::Null,
        V::Null,
        V::Null,
    ]);
    add("pg_database", database)?;

    let mut roles = Table::new(&[
        ("oid", "oid"),
        ("rolname", "text"),
        ("rolsuper", "bool"),
        ("rolinherit", "bool"),
        ("rolcreaterole", "bool"),
        ("rolcreatedb", "bool"),
        ("rolcanlogin", "bool"),
        ("rolreplication", "bool"),
        ("rolconnlimit", "i4"),
        ("rolvaliduntil", "text"),
        ("rolbypassrls", "bool"),
    ]);
    roles.row(vec![
        V::I64(OWNER_OID),
        t(OWNER),
        V::B(false),
        V::B(true),
        V::B(false),
        V::B(false),
        V::B(true),
        V::B(false),
        V::I32(-1),
        V::Null,
        V::B(false),
    ]);
    add("pg_roles", roles)?;

    let mut tablespace = Table::new(&[("oid", "oid"), ("spcname", "text"), ("spcowner", "oid")]);
    tablespace.row(vec![V::I64(1663), t("pg_default"), V::I64(OWNER_OID)]);
    add("pg_tablespace", tablespace)?;

    // What Tollgate's lake does not have: present, empty.
    for (name, spec) in EMPTY {
        add(name, Table::new(spec))?;
    }
    Ok(Arc::new(schema))
}

/// OID of the one access method, `heap`.
const HEAP_AM_OID: i64 = 2;

/// Whether `name` is a catalog table that never has rows here.
pub fn always_empty(name: &str) -> bool {
    EMPTY.iter().any(|(n, _)| *n == name)
}

/// Catalog tables with no rows, with the columns clients select
/// (collations too: every column compares by bytes, the default).
const EMPTY: &[(&str, &[(&str, &str)])] = &[
    (
        "pg_collation",
        &[
            ("oid", "oid"),
            ("collname", "text"),
            ("collnamespace", "oid"),
        ],
    ),
    (
        "pg_index",
        &[
            ("indexrelid", "oid"),
            ("indrelid", "oid"),
            ("indnatts", "i2"),
            ("indnkeyatts", "i2"),
            ("indisunique", "bool"),
            ("indisprimary", "bool"),
            ("indisexclusion", "bool"),
            ("indimmediate", "bool"),
            ("indisclustered", "bool"),
            ("indisvalid", "bool"),
            ("indisreplident", "bool"),
            ("indkey", "text"),
            ("indexprs", "text"),
            ("indpred", "text"),
        ],
    ),
    (
        "pg_attrdef",
        &[
            ("oid", "oid"),
            ("adrelid", "oid"),
            ("adnum", "i2"),
            ("adbin", "text"),
        ],
    ),
    (
        "pg_constraint",
        &[
            ("oid", "oid"),
            ("conname", "text"),
            ("connamespace", "oid"),
            ("contype", "text"),
            ("condeferrable", "bool"),
            ("condeferred", "bool"),
            ("convalidated", "bool"),
            ("conrelid", "oid"),
            ("contypid", "oid"),
            ("conindid", "oid"),
            ("conparentid", "oid"),
            ("confrelid", "oid"),
            ("conislocal", "bool"),
            ("coninhcount", "i4"),
            ("connoinherit", "bool"),
            ("conkey", "text"),
            ("confkey", "text"),
        ],
    ),
    (
        "pg_inherits",
        &[
            ("inhrelid", "oid"),
            ("inhparent", "oid"),
            ("inhseqno", "i4"),
            ("inhdetachpending", "bool"),
        ],
    ),
    (
        "pg_description",
        &[
            ("objoid", "oid"),
            ("classoid", "oid"),
            ("objsubid", "i4"),
            ("description", "text"),
        ],
    ),
    (
        "pg_trigger",
        &[
            ("oid", "oid"),
            ("tgrelid", "oid"),
            ("tgparentid", "oid"),
            ("tgname", "text"),
            ("tgfoid", "oid"),
            ("tgtype", "i2"),
            ("tgenabled", "text"),
            ("tgisinternal", "bool"),
        ],
    ),
    (
        "pg_policy",
        &[
            ("oid", "oid"),
            ("polname", "text"),
            ("polrelid", "oid"),
            ("polcmd", "text"),
            ("polpermissive", "bool"),
            ("polroles", "text"),
            ("polqual", "text"),
            ("polwithcheck", "text"),
        ],
    ),
    (
        "pg_rewrite",
        &[
            ("oid", "oid"),
            ("rulename", "text"),
            ("ev_class", "oid"),
            ("ev_type", "text"),
            ("ev_enabled", "text"),
            ("is_instead", "bool"),
        ],
    ),
    (
        "pg_statistic_ext",
        &[
            ("oid", "oid"),
            ("stxrelid", "oid"),
            ("stxname", "text"),
            ("stxnamespace", "oid"),
            ("stxowner", "oid"),
            ("stxstattarget", "i4"),
            ("stxkeys", "text"),
            ("stxkind", "text[]"),
            ("stxexprs", "text"),
        ],
    ),
    (
        "pg_publication",
        &[
            ("oid", "oid"),
            ("pubname", "text"),
            ("puballtables", "bool"),
        ],
    ),
    (
        "pg_publication_rel",
        &[
            ("oid", "oid"),
            ("prpubid", "oid"),
            ("prrelid", "oid"),
            ("prqual", "text"),
            ("prattrs", "text[]"),
        ],
    ),
    (
        "pg_publication_namespace",
        &[("oid", "oid"), ("pnpubid", "oid"), ("pnnspid", "oid")],
    ),
    (
        "pg_foreign_table",
        &[
            ("ftrelid", "oid"),
            ("ftserver", "oid"),
            ("ftoptions", "text"),
        ],
    ),
    (
        "pg_partitioned_table",
        &[
            ("partrelid", "oid"),
            ("partstrat", "text"),
            ("partnatts", "i2"),
        ],
    ),
    (
        "pg_proc",
        &[
            ("oid", "oid"),
            ("proname", "text"),
            ("pronamespace", "oid"),
            ("proowner", "oid"),
            ("prokind", "text"),
            ("prorettype", "oid"),
            ("proargtypes", "text"),
        ],
    ),
    (
        "pg_extension",
        &[
            ("oid", "oid"),
            ("extname", "text"),
            ("extowner", "oid"),
            ("extnamespace", "oid"),
            ("extversion", "text"),
        ],
    ),
    (
        "pg_enum",
        &[
            ("oid", "oid"),
            ("enumtypid", "oid"),
            ("enumsortorder", "f4"),
            ("enumlabel", "text"),
        ],
    ),
    (
        "pg_matviews",
        &[
            ("schemaname", "text"),
            ("matviewname", "text"),
            ("definition", "text"),
        ],
    ),
    (
        "pg_views",
        &[
            ("schemaname", "text"),
            ("viewname", "text"),
            ("definition", "text"),
        ],
    ),
];

/// `typlen` of a type: its width in bytes, or -1 when variable.
fn type_len(ty: &pgwire::api::Type) -> i16 {
    use pgwire::api::Type;
    match *ty {
        Type::BOOL | Type::CHAR => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::OID => 8,
        Type::NAME => 64,
        _ => -1,
    }
}

/// `typcategory` of a type.
fn category(ty: &pgwire::api::Type) -> &'static str {
    use pgwire::api::Type;
    match *ty {
        Type::BOOL => "B",
        Type::INT2 | Type::INT4 | Type::INT8 | Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => "N",
        Type::OID => "N",
        Type::DATE | Type::TIMESTAMP | Type::TIMESTAMPTZ => "D",
        Type::BYTEA => "U",
        _ => "S",
    }
}

/// The catalog functions clients call, each answering for a catalog with
/// one owner, every table visible and nothing but tables.
fn functions() -> Vec<ScalarUDF> {
    let text = |s: &str| ScalarValue::Utf8(Some(s.to_string()));
    let null_text = ScalarValue::Utf8(None);
    let mut out: Vec<ScalarUDF> = [
        ("pg_table_is_visible", ScalarValue::Boolean(Some(true))),
        ("pg_type_is_visible", ScalarValue::Boolean(Some(true))),
        ("pg_function_is_visible", ScalarValue::Boolean(Some(true))),
        ("has_table_privilege", ScalarValue::Boolean(Some(true))),
        ("has_schema_privilege", ScalarValue::Boolean(Some(true))),
        ("has_database_privilege", ScalarValue::Boolean(Some(true))),
        ("pg_is_in_recovery", ScalarValue::Boolean(Some(false))),
        ("pg_get_userbyid", text(OWNER)),
        ("pg_encoding_to_char", text("UTF8")),
        ("current_schema", text("public")),
        ("current_database", text(DATABASE)),
        ("current_user", text(OWNER)),
        ("session_user", text(OWNER)),
        ("version", text(&version())),
        ("pg_get_expr", null_text.clone()),
        ("pg_get_indexdef", null_text.clone()),
        ("pg_get_constraintdef", null_text.clone()),
        ("pg_get_viewdef", null_text.clone()),
        ("pg_get_partkeydef", null_text.clone()),
        ("pg_get_statisticsobjdef_columns", null_text.clone()),
        (
            "pg_relation_is_publishable",
            ScalarValue::Boolean(Some(false)),
        ),
        ("array_upper", ScalarValue::Int32(None)),
        ("pg_get_triggerdef", null_text.clone()),
        ("pg_get_ruledef", null_text.clone()),
        ("pg_get_function_result", null_text.clone()),
        ("pg_get_function_arguments", null_text.clone()),
        ("obj_description", null_text.clone()),
        ("col_description", null_text.clone()),
        ("shobj_description", null_text),
        ("pg_backend_pid", ScalarValue::Int32(Some(0))),
        ("pg_total_relation_size", ScalarValue::Int64(Some(0))),
        ("pg_relation_size", ScalarValue::Int64(Some(0))),
        ("pg_table_size", ScalarValue::Int64(Some(0))),
        // Sizes are not tracked per table (the lake's files are the size).
        ("pg_size_pretty", text("0 bytes")),
    ]
    .into_iter()
    .map(|(name, value)| ScalarUDF::new_from_impl(Constant::new(name, value)))
    .collect();
    out.push(ScalarUDF::new_from_impl(FormatType::new()));
    out
}

/// What `version()` answers: PostgreSQL-shaped (clients parse the first
/// two words), then what is really behind it.
pub fn version() -> String {
    format!(
        "PostgreSQL {} (Tollgate {}, Apache DataFusion; read-only analyst SQL)",
        super::SERVER_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// A function of any arguments that always answers one value.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: String,
    value: ScalarValue,
    signature: Signature,
}

impl Constant {
    fn new(name: &str, value: ScalarValue) -> Constant {
        Constant {
            name: name.to_string(),
            value,
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(self.value.data_type())
    }
    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// `format_type(type_oid, typmod)`: the SQL name of a type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatType {
    signature: Signature,
}

impl FormatType {
    fn new() -> FormatType {
        FormatType {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FormatType {
    fn name(&self) -> &str {
        "format_type"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(first) = args.args.first() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        };
        let oids = first.clone().into_array(args.number_rows)?;
        let oids = datafusion::arrow::compute::cast(&oids, &DataType::Int64)?;
        let oids = oids
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| DataFusionError::Internal("format_type: oid is not a number".into()))?;
        let names: StringArray = oids
            .iter()
            .map(|oid| oid.map(|o| sql_type_name(o).to_string()))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(names)))
    }
}
