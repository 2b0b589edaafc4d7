//! Checks a JSON body against the OpenAPI document's schema for its route,
//! method and status.
//!
//! A small walker rather than the `jsonschema` crate: the document is
//! OpenAPI (3.1 as utoipa writes it: a nullable field is a type array
//! `["number", "null"]` or a `oneOf` of `{"type": "null"}` and a `$ref`;
//! 3.0's `nullable: true` is read too), and its `$ref`s point into
//! `#/components` of the whole document. The walker knows exactly the
//! keywords the document uses and fails on any other, so a keyword it
//! would silently ignore cannot creep in.
//!
//! Objects are closed: a property that neither `properties` (its own or its
//! `allOf` parts') nor `additionalProperties` documents is an error, so a
//! field added to a response without documenting it fails the check. An
//! `additionalProperties` inside an `allOf` part covers the properties that
//! no part names (as JSON Schema's `unevaluatedProperties` would), which is
//! what the document means by it.

use serde_json::Value;

/// Keywords that only annotate: nothing to check.
const ANNOTATIONS: [&str; 7] = [
    "description",
    "example",
    "examples",
    "format",
    "default",
    "title",
    "pattern",
];

/// The errors of `body` against the schema the document gives for
/// `method` `template` answering `status` as `content_type`; empty when
/// it conforms. A status or content type the document does not list for
/// the route is an error too.
pub fn check(
    doc: &Value,
    method: &str,
    template: &str,
    status: u16,
    content_type: &str,
    body: &Value,
) -> Vec<String> {
    let op = &doc["paths"][template][method.to_lowercase()];
    if op.is_null() {
        return vec![format!("{method} {template} is not in the document")];
    }
    let Some(response) = op["responses"].get(status.to_string()) else {
        return vec![format!(
            "{method} {template} does not document status {status}"
        )];
    };
    let response = resolve(doc, response);
    let Some(schema) = response["content"][content_type].get("schema") else {
        return vec![format!(
            "{method} {template} {status} documents no {content_type} body"
        )];
    };
    let mut errors = Vec::new();
    validate(doc, schema, body, "$", &mut errors);
    errors
}

/// The property names `schema` documents, its `allOf` parts' included.
fn documented(doc: &Value, schema: &Value, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.extend(props.keys().cloned());
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        documented(doc, part, out);
    }
}

/// Follows `$ref`s to what they name.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            Some(target) => v = target,
            None => return &Value::Null,
        }
    }
    v
}

/// The `additionalProperties` of `schema` or of one of its `allOf` parts.
fn additional<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let schema = resolve(doc, schema);
    schema.get("additionalProperties").or_else(|| {
        schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|part| additional(doc, part))
    })
}

/// Adds to `errors` every way `value` (at `at`) breaks `schema`.
pub fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    walk(doc, schema, value, at, true, errors);
}

/// [`validate`]; `closed` is false for an `allOf` part, whose parent checks
/// for undocumented properties over all the parts together.
fn walk(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    closed: bool,
    errors: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            Some(target) => walk(doc, target, value, at, closed, errors),
            None => errors.push(format!("{at}: dangling {r}")),
        }
        return;
    }
    let Some(obj) = schema.as_object() else {
        errors.push(format!("{at}: schema is not an object: {schema}"));
        return;
    };
    for k in obj.keys() {
        let known = matches!(
            k.as_str(),
            "type"
                | "properties"
                | "required"
                | "items"
                | "nullable"
                | "enum"
                | "allOf"
                | "oneOf"
                | "additionalProperties"
                | "minimum"
                | "maximum"
        ) || ANNOTATIONS.contains(&k.as_str());
        if !known {
            errors.push(format!("{at}: the checker does not know keyword {k:?}"));
        }
    }
    if value.is_null() && obj.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        for s in all {
            walk(doc, s, value, at, false, errors);
        }
    }
    // Exactly one branch must hold, each checked as a whole schema.
    if let Some(branches) = obj.get("oneOf").and_then(Value::as_array) {
        let results: Vec<Vec<String>> = branches
            .iter()
            .map(|s| {
                let mut e = Vec::new();
                walk(doc, s, value, at, closed, &mut e);
                e
            })
            .collect();
        let held = results.iter().filter(|e| e.is_empty()).count();
        if held != 1 {
            errors.push(format!(
                "{at}: {value} matches {held} of the {} oneOf branches, not one: {results:?}",
                branches.len()
            ));
        }
    }
    if let Some(options) = obj.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    // One type, or (OpenAPI 3.1) a list of types the value may have.
    let types: Option<Vec<&str>> = match obj.get("type") {
        None => None,
        Some(Value::String(t)) => Some(vec![t.as_str()]),
        Some(Value::Array(ts)) if !ts.is_empty() && ts.iter().all(Value::is_string) => {
            Some(ts.iter().filter_map(Value::as_str).collect())
        }
        Some(t) => {
            errors.push(format!(
                "{at}: type {t} is neither a name nor a list of names"
            ));
            return;
        }
    };
    if let Some(types) = types {
        let mut ok = false;
        for t in &types {
            ok |= match *t {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                _ => {
                    errors.push(format!("{at}: unknown type {t:?}"));
                    true
                }
            };
        }
        if !ok {
            errors.push(format!(
                "{at}: {value} is not of type {}",
                types.join(" or ")
            ));
            return;
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errors.push(format!("{at}: {n} is below the minimum {min}"));
        }
        if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errors.push(format!("{at}: {n} is above the maximum {max}"));
        }
    }
    if let Some(fields) = value.as_object() {
        for name in obj
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !fields.contains_key(name) {
                errors.push(format!("{at}: missing required {name:?}"));
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (name, v) in fields {
            if let Some(s) = props.and_then(|p| p.get(name)) {
                validate(doc, s, v, &format!("{at}.{name}"), errors);
            }
        }
        if closed {
            // The properties no part documents: `additionalProperties` (of
            // the schema or of an `allOf` part) says what they may be.
            let mut known = Vec::new();
            documented(doc, schema, &mut known);
            let extra = additional(doc, schema);
            for (name, v) in fields.iter().filter(|(n, _)| !known.contains(n)) {
                let here = format!("{at}.{name}");
                match extra {
                    Some(Value::Bool(true)) => {}
                    Some(s @ Value::Object(_)) => validate(doc, s, v, &here, errors),
                    Some(_) => errors.push(format!("{here}: not a documented property")),
                    None if known.is_empty() => {}
                    None => errors.push(format!("{here}: not a documented property")),
                }
            }
        }
    }
    if let (Some(items), Some(list)) = (obj.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            validate(doc, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}
