//! The written contract (docs/SCHEMA.md) names every field and reject code
//! the code has, so the doc cannot silently fall behind the schema.

use tollgate_schemas::RejectReason;
use tollgate_schemas::arrow::event_schema;

fn schema_doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SCHEMA.md");
    std::fs::read_to_string(path).expect("docs/SCHEMA.md exists")
}

#[test]
fn every_field_is_documented_with_its_type() {
    let doc = schema_doc();
    for field in event_schema().fields() {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", field.name())))
            .unwrap_or_else(|| panic!("docs/SCHEMA.md has no row for `{}`", field.name()));
        let nullable = if field.is_nullable() {
            "| yes |"
        } else {
            "| no |"
        };
        assert!(
            row.contains(nullable),
            "nullability of {} wrong in doc: {row}",
            field.name()
        );
    }
}

#[test]
fn every_reject_reason_is_documented() {
    let doc = schema_doc();
    use RejectReason::*;
    for r in [
        InvalidUtf8,
        Empty,
        NotJson,
        UnknownFormat,
        UnsupportedFormat,
        MissingField,
        WrongType,
        InvalidValue,
        Oversized,
        FutureTimestamp,
        TooOld,
    ] {
        assert!(
            doc.contains(&format!("| `{}` |", r.code())),
            "{} undocumented",
            r.code()
        );
    }
}
