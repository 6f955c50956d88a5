//! The OpenAPI 3.1 document, generated from the route table in `super::api`: each route's
//! parameters, request body and answers as its `Doc` declares them, the schemas of the
//! bodies derived (utoipa's `ToSchema`) from the very types the handlers serialise.

use axum::Json;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::{api, Access};

/// Adds a type's schema, and those of the types it holds, to the document's components.
type Register = fn(&mut Map<String, Value>);

fn register<T: ToSchema>(schemas: &mut Map<String, Value>) {
    let mut held = Vec::new();
    T::schemas(&mut held);
    for (name, schema) in held {
        schemas.insert(
            name,
            serde_json::to_value(schema).expect("a schema serialises"),
        );
    }
    let schema = serde_json::to_value(T::schema()).expect("a schema serialises");
    schemas.insert(T::name().into_owned(), schema);
}

fn reference<T: ToSchema>() -> Value {
    json!({ "$ref": format!("#/components/schemas/{}", T::name()) })
}

/// What the document says of a route beyond its method, path, permission and summary.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    params: Vec<Value>,
    body: Option<Value>,
    /// The success status and its content (`None`: no body).
    ok: Option<(u16, Option<Value>)>,
    /// A second success status with the same content (202 beside 201).
    also: Option<u16>,
    /// The error statuses of this route besides those every route has.
    errors: Vec<u16>,
    schemas: Vec<Register>,
}

impl Doc {
    pub fn new() -> Doc {
        Doc::default()
    }

    /// Query parameters (`query`), and path parameters (`path_id`).
    pub fn params(mut self, params: impl IntoIterator<Item = Value>) -> Doc {
        self.params.extend(params);
        self.errors.push(422);
        self
    }

    /// A JSON request body of type `T`.
    pub fn body<T: ToSchema>(mut self) -> Doc {
        self.body = Some(reference::<T>());
        self.schemas.push(register::<T>);
        self.errors.push(422);
        self
    }

    /// 200 with a `T`.
    pub fn json<T: ToSchema>(mut self) -> Doc {
        self.ok = Some((200, Some(json_content(reference::<T>()))));
        self.schemas.push(register::<T>);
        self
    }

    /// 201 with a `T`.
    pub fn created<T: ToSchema>(mut self) -> Doc {
        self.ok = Some((201, Some(json_content(reference::<T>()))));
        self.schemas.push(register::<T>);
        self
    }

    /// `status` answers the same content as the success status too (202 Accepted beside 201
    /// Created).
    pub fn also(mut self, status: u16) -> Doc {
        self.also = Some(status);
        self
    }

    /// 200 with a JSON array of `T`.
    pub fn list<T: ToSchema>(mut self) -> Doc {
        let items = json!({ "type": "array", "items": reference::<T>() });
        self.ok = Some((200, Some(json_content(items))));
        self.schemas.push(register::<T>);
        self
    }

    /// 200 with a page of `T`: `{items, next_cursor}`, as every list answers.
    pub fn page<T: ToSchema>(mut self) -> Doc {
        let page = json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": reference::<T>() },
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "`after` for the next page; null on the last page"
                }
            }
        });
        self.ok = Some((200, Some(json_content(page))));
        self.schemas.push(register::<T>);
        self
    }

    /// 200 with a file of one of `media_types`.
    pub fn file(mut self, media_types: &[&str]) -> Doc {
        let content: Map<String, Value> = media_types
            .iter()
            .map(|m| (m.to_string(), json!({ "schema": { "type": "string" } })))
            .collect();
        self.ok = Some((200, Some(Value::Object(content))));
        self
    }

    /// 200 with a JSON object of no declared shape (this document).
    pub fn json_any(mut self) -> Doc {
        self.ok = Some((200, Some(json_content(json!({ "type": "object" })))));
        self
    }

    /// 204, no body.
    pub fn no_content(mut self) -> Doc {
        self.ok = Some((204, None));
        self
    }

    /// More error statuses (404 for an id that names nothing, 409 for a conflict, …).
    pub fn errors(mut self, statuses: &[u16]) -> Doc {
        self.errors.extend(statuses);
        self
    }
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// A query parameter: never required (a list's filters are all optional), and a blank value
/// is no filter, as a GET form sends it for "any".
pub fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name, "in": "query", "required": false,
        "description": format!("{description} (blank: any)"),
        "schema": { "anyOf": [schema, { "type": "string", "pattern": "^\\s*$" }] }
    })
}

/// The `{id}` of a path: a UUID.
pub fn path_id(what: &str) -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": format!("The {what}'s id"),
        "schema": { "type": "string", "format": "uuid" }
    })
}

/// Text of at most `max` characters.
pub fn text(max: usize) -> Value {
    json!({ "type": "string", "maxLength": max })
}

/// One of `values`.
pub fn one_of(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

/// Some of `values`, comma-separated (`status=pending,failed`).
pub fn some_of(values: &[&str]) -> Value {
    json!({ "type": "array", "items": { "type": "string", "enum": values }, "uniqueItems": true })
}

/// A query parameter of several values, written comma-separated.
pub fn query_list(name: &str, description: &str, values: &[&str]) -> Value {
    json!({
        "name": name, "in": "query", "required": false, "description": description,
        "schema": some_of(values), "style": "form", "explode": false
    })
}

/// A time in UTC (RFC 3339).
pub fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

/// An amount: digits with at most two decimals.
pub fn amount() -> Value {
    json!({ "type": "string", "pattern": "^[0-9]{1,18}(\\.[0-9]{1,2})?$" })
}

pub fn integer(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// The `limit` and `after` of every list.
pub fn paging() -> [Value; 2] {
    [
        query(
            "limit",
            "Rows per page (default 50, audit 100)",
            integer(1, 500),
        ),
        query(
            "after",
            "The `next_cursor` of the previous page (with the same filters and sort)",
            text(300),
        ),
    ]
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(build())
}

pub fn build() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for route in api().routes {
        let doc = route.doc;
        let mut responses = Map::new();
        let (status, content) = doc
            .ok
            .clone()
            .unwrap_or((200, Some(json_content(json!({})))));
        let mut ok = json!({ "description": "OK" });
        if let Some(content) = content {
            ok["content"] = content;
        }
        if let Some(also) = doc.also {
            responses.insert(also.to_string(), ok.clone());
        }
        responses.insert(status.to_string(), ok);
        let mut errors = vec![429, 503];
        errors.extend(&doc.errors);
        if let Access::Requires(_) = route.access {
            errors.extend([401, 403]);
        }
        for status in errors {
            responses.insert(
                status.to_string(),
                json!({ "$ref": "#/components/responses/Error" }),
            );
        }
        let mut op = json!({
            "summary": route.summary,
            "operationId": operation_id(route.method.as_str(), route.path),
            "parameters": doc.params,
            "responses": responses,
        });
        if let Some(body) = &doc.body {
            op["requestBody"] = json!({ "required": true, "content": json_content(body.clone()) });
        }
        if let Access::Requires(permission) = route.access {
            op["security"] = json!([{ "bearer": [] }]);
            op["x-permission"] = json!(permission.name());
        }
        for register in &doc.schemas {
            register(&mut schemas);
        }
        let entry = paths
            .entry(format!("/api/v1{}", route.path))
            .or_insert_with(|| json!({}));
        entry[route.method.as_str().to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "DelTran Console API", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "responses": { "Error": {
                "description": "An error, in the API's one shape",
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message", "request_id"],
                        "properties": {
                            "code": { "type": "string" },
                            "message": { "type": "string" },
                            "request_id": { "type": "string" },
                            "fields": {
                                "type": "object",
                                "additionalProperties": { "type": "string" },
                                "description": "What is wrong with each refused field (422)"
                            }
                        }
                    }}
                }}}
            }}
        }
    })
}

/// `get_payments_id_cancel` for `POST /payments/{id}/cancel`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(['{', '}']).replace(['.', '-'], "_"))
        .collect();
    format!("{}_{}", method.to_lowercase(), words.join("_"))
}
