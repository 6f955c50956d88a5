//! The OpenAPI 3 document, generated from the route table in `super::api`.

use axum::Json;
use serde_json::{json, Map, Value};

use super::{api, Access};

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(build())
}

pub fn build() -> Value {
    let mut paths = Map::new();
    for route in api().routes {
        let mut op = json!({
            "summary": route.summary,
            "responses": {
                "200": { "description": "OK" },
                "400": { "$ref": "#/components/responses/Error" },
                "429": { "$ref": "#/components/responses/Error" },
                "503": { "$ref": "#/components/responses/Error" }
            }
        });
        if let Access::Requires(permission) = route.access {
            op["security"] = json!([{ "bearer": [] }]);
            op["x-permission"] = json!(permission.name());
            op["responses"]["401"] = json!({ "$ref": "#/components/responses/Error" });
            op["responses"]["403"] = json!({ "$ref": "#/components/responses/Error" });
        }
        let entry = paths
            .entry(format!("/api/v1{}", route.path))
            .or_insert_with(|| json!({}));
        entry[route.method.as_str().to_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "DelTran Console API", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "responses": { "Error": {
                "description": "An error",
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "properties": { "error": { "type": "object", "properties": {
                        "code": { "type": "string" },
                        "message": { "type": "string" },
                        "request_id": { "type": "string" }
                    }}}
                }}}
            }}
        }
    })
}
