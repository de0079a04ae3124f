//! `herald connector-definition`: a Power Automate custom connector for Herald's `/v1` API —
//! `apiDefinition.swagger.json` (OpenAPI 2.0, the format Power Platform imports) and
//! `apiProperties.json` (the connection asks for an API token, sent as `X-Api-Key`).
//!
//! The definition is converted from the API's own OpenAPI 3.1 document (`GET /openapi.json`),
//! never written by hand, so its operations are exactly the API's. OpenAPI 3.1 says more than
//! 2.0 can: a nullable type becomes `x-nullable`, `const` an enum of one, a choice between
//! schemas (`oneOf`/`anyOf`) that 2.0 cannot state is left open (any JSON) with its description.
//! Power Automate's own hints are added: `x-ms-summary` (the label a flow shows), `x-ms-visibility`
//! (the main operations are `important`, optional headers `advanced`) and dynamic values for a
//! notification's id (picked from the list of notifications).

use crate::{fail, SetupError};
use serde_json::{json, Map, Value};

/// The connector's files.
#[derive(Debug)]
pub struct Connector {
    /// `apiDefinition.swagger.json`.
    pub definition: Value,
    /// `apiProperties.json`.
    pub properties: Value,
}

/// The operations a flow most often needs, shown first.
const IMPORTANT: &[&str] = &["createNotification", "getNotification"];
/// Where a notification's id can be picked from (the list's `items[].id`).
const LIST_NOTIFICATIONS: &str = "listNotifications";

/// The connector for `openapi` (the API's OpenAPI 3.1 document), served at `base_url`.
pub fn connector(openapi: &Value, base_url: &str, accent: &str) -> Result<Connector, SetupError> {
    let url = url::Url::parse(base_url)
        .map_err(|e| fail("public_url", format!("`{base_url}` is not a URL: {e}")))?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(fail("public_url", format!("`{base_url}` names no host"))),
    };
    let info = &openapi["info"];
    let mut paths = Map::new();
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, item) in openapi["paths"].as_object().into_iter().flatten() {
        if !path.starts_with("/v1/") && path != "/v1" {
            continue;
        }
        let mut out = Map::new();
        for (method, op) in item.as_object().into_iter().flatten() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let converted = operation(op, path, method)?;
            if !operation_ids.insert(converted["operationId"].as_str().unwrap_or("").to_owned()) {
                return Err(fail(
                    "openapi",
                    format!("{method} {path}: operationId repeated"),
                ));
            }
            out.insert(method.clone(), converted);
        }
        if !out.is_empty() {
            paths.insert(path.clone(), Value::Object(out));
        }
    }
    let mut definitions = Map::new();
    for (name, s) in openapi["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        definitions.insert(name.clone(), schema(s));
    }
    let definition = json!({
        "swagger": "2.0",
        "info": {
            "title": info["title"].as_str().unwrap_or("Herald"),
            "description": info["description"].as_str().unwrap_or(""),
            "version": info["version"].as_str().unwrap_or("1.0"),
        },
        "host": host,
        "basePath": "/",
        "schemes": [url.scheme()],
        "consumes": ["application/json"],
        "produces": ["application/json", "application/problem+json"],
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "api_key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        },
        "security": [{"api_key": []}],
        "x-ms-connector-metadata": [
            {"propertyName": "Website", "propertyValue": base_url},
            {"propertyName": "Categories", "propertyValue": "Communication;IT Operations"},
        ],
    });
    let properties = json!({
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "API token",
                        "description": "The secret of one of Herald's api_tokens (its scopes limit what the flow may do)",
                        "tooltip": "Sent in the X-Api-Key header",
                        "constraints": {"tabIndex": 2, "clearText": false, "required": "true"},
                    },
                },
            },
            "iconBrandColor": accent,
            "capabilities": [],
            "publisher": "Herald",
            "stackOwner": "Herald",
        },
    });
    Ok(Connector {
        definition,
        properties,
    })
}

fn operation(op: &Value, path: &str, method: &str) -> Result<Value, SetupError> {
    let id = op["operationId"]
        .as_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or_else(|| {
            fail(
                "openapi",
                format!("{method} {path} has no operationId of letters and digits"),
            )
        })?;
    let summary = op["summary"]
        .as_str()
        .or_else(|| op["description"].as_str())
        .unwrap_or(id)
        .lines()
        .next()
        .unwrap_or(id)
        .trim()
        .trim_end_matches('.')
        .chars()
        .take(80)
        .collect::<String>();
    let mut out = Map::new();
    out.insert("operationId".into(), json!(id));
    out.insert("summary".into(), json!(summary));
    if let Some(d) = op["description"].as_str() {
        out.insert("description".into(), json!(d));
    }
    if let Some(tags) = op.get("tags") {
        out.insert("tags".into(), tags.clone());
    }
    if IMPORTANT.contains(&id) {
        out.insert("x-ms-visibility".into(), json!("important"));
    }
    let mut params = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        params.push(parameter(p, path));
    }
    let mut consumes = Vec::new();
    if let Some(body) = op["requestBody"].as_object() {
        let content = body
            .get("content")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        consumes = content.keys().cloned().collect();
        let s = content
            .values()
            .next()
            .map(|c| schema(&c["schema"]))
            .unwrap_or_else(|| json!({}));
        let mut b = json!({
            "name": "body",
            "in": "body",
            "required": body.get("required").and_then(Value::as_bool).unwrap_or(false),
            "schema": s,
            "x-ms-summary": "Body",
        });
        if let Some(d) = body.get("description") {
            b["description"] = d.clone();
        }
        params.push(b);
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    if !consumes.is_empty() {
        out.insert("consumes".into(), json!(consumes));
    }
    let mut responses = Map::new();
    for (code, r) in op["responses"].as_object().into_iter().flatten() {
        let mut resp = Map::new();
        let description = r["description"].as_str().filter(|d| !d.is_empty());
        resp.insert("description".into(), json!(description.unwrap_or(code)));
        if let Some((_, c)) = r["content"].as_object().and_then(|c| c.iter().next()) {
            if c.get("schema").is_some() {
                resp.insert("schema".into(), schema(&c["schema"]));
            }
        }
        responses.insert(code.clone(), Value::Object(resp));
    }
    if responses.is_empty() {
        responses.insert("default".into(), json!({"description": "The answer"}));
    }
    out.insert("responses".into(), Value::Object(responses));
    Ok(Value::Object(out))
}

/// A 3.1 parameter (`schema` inside) as a 2.0 one (its type beside it).
fn parameter(p: &Value, path: &str) -> Value {
    let name = p["name"].as_str().unwrap_or("");
    let place = p["in"].as_str().unwrap_or("query");
    let s = schema(&p["schema"]);
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    out.insert("in".into(), json!(place));
    let required = place == "path" || p["required"].as_bool().unwrap_or(false);
    out.insert("required".into(), json!(required));
    if let Some(d) = p["description"].as_str() {
        out.insert("description".into(), json!(d));
    }
    let simple = ["string", "number", "integer", "boolean", "array"];
    match s["type"].as_str() {
        Some(t) if simple.contains(&t) => {
            for k in [
                "type",
                "format",
                "items",
                "enum",
                "default",
                "minimum",
                "maximum",
                "maxLength",
                "minLength",
                "pattern",
            ] {
                if let Some(v) = s.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            if t == "array" && s.get("items").and_then(|i| i.get("type")).is_none() {
                out.insert("items".into(), json!({"type": "string"}));
            }
        }
        _ => {
            out.insert("type".into(), json!("string"));
        }
    }
    out.insert("x-ms-summary".into(), json!(label(name)));
    if !required && place == "header" {
        out.insert("x-ms-visibility".into(), json!("advanced"));
    }
    if place == "path" && name == "id" && path.starts_with("/v1/notifications/") {
        out.insert(
            "x-ms-dynamic-values".into(),
            json!({
                "operationId": LIST_NOTIFICATIONS,
                "value-collection": "items",
                "value-path": "id",
                "value-title": "id",
            }),
        );
    }
    Value::Object(out)
}

/// A 3.1 schema as a 2.0 one.
fn schema(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        // `true` (anything) and other shorthands.
        return json!({});
    };
    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
        return json!({"$ref": r.replace("#/components/schemas/", "#/definitions/")});
    }
    let mut out = Map::new();
    let mut nullable = o.get("nullable").and_then(Value::as_bool) == Some(true);
    match o.get("type") {
        Some(Value::String(t)) if t == "null" => nullable = true,
        Some(Value::String(t)) => {
            out.insert("type".into(), json!(t));
        }
        Some(Value::Array(ts)) => {
            let kinds: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            nullable |= kinds.contains(&"null");
            let rest: Vec<&str> = kinds.into_iter().filter(|t| *t != "null").collect();
            if let [one] = rest.as_slice() {
                out.insert("type".into(), json!(one));
            }
        }
        _ => {}
    }
    for key in ["oneOf", "anyOf"] {
        let Some(choices) = o.get(key).and_then(Value::as_array) else {
            continue;
        };
        let real: Vec<&Value> = choices
            .iter()
            .filter(|c| {
                let is_null = c["type"] == "null";
                nullable |= is_null;
                !is_null
            })
            .collect();
        match real.as_slice() {
            [one] => {
                let inner = schema(one);
                if inner.get("$ref").is_some() {
                    out.insert("allOf".into(), json!([inner]));
                } else if let Some(m) = inner.as_object() {
                    for (k, v) in m {
                        out.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            many if !many.is_empty() => {
                // 2.0 cannot say "one of these": strings of several enums merge, the rest stays open.
                let enums: Option<Vec<Value>> = many
                    .iter()
                    .map(|c| c["enum"].as_array().cloned())
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.into_iter().flatten().collect());
                if let Some(all) = enums {
                    out.insert("type".into(), json!("string"));
                    out.insert("enum".into(), Value::Array(all));
                }
            }
            _ => {}
        }
    }
    for (k, val) in o {
        match k.as_str() {
            "title" | "description" | "format" | "default" | "multipleOf" | "maximum"
            | "minimum" | "maxLength" | "minLength" | "pattern" | "maxItems" | "minItems"
            | "uniqueItems" | "maxProperties" | "minProperties" | "enum" | "readOnly"
            | "example" => {
                out.insert(k.clone(), val.clone());
            }
            "exclusiveMinimum" | "exclusiveMaximum" if val.is_number() => {
                let bound = if k == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                out.insert(bound.into(), val.clone());
                out.insert(k.clone(), json!(true));
            }
            "const" => {
                out.insert("enum".into(), json!([val]));
            }
            "examples" => {
                if let Some(first) = val.as_array().and_then(|a| a.first()) {
                    out.insert("example".into(), first.clone());
                }
            }
            "items" => {
                let item = match val {
                    Value::Array(a) => a.first().map(schema).unwrap_or_else(|| json!({})),
                    other => schema(other),
                };
                out.insert("items".into(), item);
            }
            "allOf" => {
                let parts: Vec<Value> = val.as_array().into_iter().flatten().map(schema).collect();
                out.insert("allOf".into(), Value::Array(parts));
            }
            "properties" => {
                let mut props = Map::new();
                for (name, p) in val.as_object().into_iter().flatten() {
                    let mut c = schema(p);
                    if c.get("$ref").is_none() && c.get("allOf").is_none() {
                        c["x-ms-summary"] = json!(label(name));
                    }
                    props.insert(name.clone(), c);
                }
                out.insert("properties".into(), Value::Object(props));
            }
            "additionalProperties" => {
                let a = match val {
                    Value::Bool(b) => json!(b),
                    other => schema(other),
                };
                out.insert(k.clone(), a);
            }
            "required" if val.as_array().is_some_and(|a| !a.is_empty()) => {
                out.insert(k.clone(), val.clone());
            }
            _ => {}
        }
    }
    // A 2.0 enum lists values of the type; a null among them says nullable.
    if let Some(Value::Array(values)) = out.get_mut("enum") {
        if values.iter().any(Value::is_null) {
            nullable = true;
            values.retain(|v| !v.is_null());
        }
    }
    if out.get("items").is_some() && out.get("type").is_none() {
        out.insert("type".into(), json!("array"));
    }
    if out.get("properties").is_some() && out.get("type").is_none() {
        out.insert("type".into(), json!("object"));
    }
    if nullable {
        out.insert("x-nullable".into(), json!(true));
    }
    Value::Object(out)
}

/// `remindIfUnread` → "Remind if unread", `Idempotency-Key` → "Idempotency key".
fn label(name: &str) -> String {
    let mut words = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c == '-' || c == '_' {
            words.push(' ');
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            words.push(' ');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        words.push(c.to_ascii_lowercase());
    }
    let mut chars = words.chars();
    match chars.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label("remindIfUnread"), "Remind if unread");
        assert_eq!(label("Idempotency-Key"), "Idempotency key");
        assert_eq!(label("id"), "Id");
    }

    #[test]
    fn what_openapi_2_cannot_say_is_said_another_way() {
        let s = schema(&json!({
            "type": "object",
            "required": [],
            "properties": {
                "a": {"type": ["string", "null"], "examples": ["x"]},
                "b": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/B"}]},
                "c": {"const": "feed"},
                "d": {"type": "integer", "exclusiveMinimum": 0},
                "e": {"oneOf": [{"type": "string", "enum": ["x"]}, {"type": "string", "enum": ["y"]}]},
                "f": {"anyOf": [{"type": "string"}, {"type": "object"}], "description": "either"},
            },
        }));
        let p = &s["properties"];
        assert_eq!(s.get("required"), None);
        assert_eq!(p["a"]["type"], "string");
        assert_eq!(p["a"]["x-nullable"], true);
        assert_eq!(p["a"]["example"], "x");
        assert_eq!(p["b"]["allOf"][0]["$ref"], "#/definitions/B");
        assert_eq!(p["c"]["enum"], json!(["feed"]));
        assert_eq!(
            (
                p["d"]["minimum"].clone(),
                p["d"]["exclusiveMinimum"].clone()
            ),
            (json!(0), json!(true))
        );
        assert_eq!(p["e"]["enum"], json!(["x", "y"]));
        assert_eq!(p["f"].get("type"), None);
        assert_eq!(p["f"]["description"], "either");
        assert_eq!(p["f"]["x-ms-summary"], "F");
    }
}
