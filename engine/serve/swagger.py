"""A Swagger 2.0 spec generated from the REST route table (for bravado-based clients).

As BitMEX's own spec: GET parameters in the query, POST/PUT/DELETE parameters
as ``formData`` (so bravado sends form bodies, which the gateway parses and
signs over their raw bytes), operation ids ``Tag.operation``, and the three
API-key security definitions.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.serve.rest import API, ROUTES


def swagger_spec(host: str) -> dict[str, Any]:
    """The spec for a server reached at ``host`` (``127.0.0.1:PORT``)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        if route.permission == "admin" or not route.path:
            continue
        where = "query" if route.verb == "GET" else "formData"
        operation: dict[str, Any] = {
            "tags": [route.tag],
            "operationId": f"{route.tag}.{route.operation}",
            "summary": route.summary or f"{route.verb} {route.path}",
            "parameters": [
                {"name": p.name, "in": where, "required": p.required, "type": p.kind,
                 **({"format": "double"} if p.kind == "number" else {})}
                for p in route.params
            ],
            "responses": {"200": {"description": "Request was successful", "schema": (
                {"type": "array", "items": {"type": "object"}} if route.many else {"type": "object"})},
                          "400": {"description": "Parameter Error"}, "401": {"description": "Unauthorized"},
                          "403": {"description": "Access Denied"}, "404": {"description": "Not Found"}},
        }
        if route.permission:
            operation["security"] = [{"apiExpires": [], "apiKey": [], "apiSignature": []}]
        paths.setdefault(route.path, {})[route.verb.lower()] = operation
    return {
        "swagger": "2.0",
        "info": {"title": "perpspec BitMEX-compatible API", "version": "1.0.0"},
        "host": host,
        "basePath": API,
        "schemes": ["http"],
        "consumes": ["application/json", "application/x-www-form-urlencoded"],
        "produces": ["application/json"],
        "paths": paths,
        "securityDefinitions": {
            "apiExpires": {"type": "apiKey", "name": "api-expires", "in": "header"},
            "apiKey": {"type": "apiKey", "name": "api-key", "in": "header"},
            "apiSignature": {"type": "apiKey", "name": "api-signature", "in": "header"},
        },
    }
