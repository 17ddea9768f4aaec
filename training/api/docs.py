"""API: the OpenAPI document and its browsable page.

The document is data (training/api/openapi.py); the page is rendered on the
server from the same data, with no script, so it cannot disagree with it.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from . import bp
from .openapi import build_document

METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/openapi.json")
def openapi():
    return build_document(request.script_root + "/api/v1")


@bp.get("/docs")
def docs():
    document = build_document(request.script_root + "/api/v1")
    operations = []
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "anchor": f"{method}-{_slug(path)}",
                    "op": operation,
                    "parameters": shared + operation.get("parameters", []),
                    "body": _body_schema(operation),
                    "responses": [
                        (status, _response(document, response)) for status, response in operation["responses"].items()
                    ],
                }
            )
    tags = [(tag["name"], [o for o in operations if o["op"]["tags"][0] == tag["name"]]) for tag in document["tags"]]
    schemas = [(name, _properties(schema)) for name, schema in document["components"]["schemas"].items()]
    return render_template(
        "api/docs.html", document=document, tags=[t for t in tags if t[1]], schemas=schemas, describe=describe
    )


def _slug(path: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in path).strip("-")


def _body_schema(operation: dict) -> dict | None:
    body = operation.get("requestBody")
    if not body:
        return None
    schema = body["content"].get("application/json", {}).get("schema")
    return {"schema": schema, "required": body.get("required", False)}


def _response(document: dict, response: dict) -> dict:
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content: dict[str, Any] = response.get("content", {})
    first: tuple[str | None, Any] = next(iter(content.items()), (None, {}))
    media, schema = first
    return {
        "description": response.get("description", ""),
        "media": media,
        "schema": (schema or {}).get("schema"),
        "headers": list(response.get("headers", {})),
    }


def describe(schema: dict | None) -> dict:
    """A schema as a short type for a person: {"text": ..., "ref": schema name or None}."""
    if not schema:
        return {"text": "any", "ref": None}
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return {"text": name, "ref": name}
    if "allOf" in schema:
        parts = [describe(s) for s in schema["allOf"]]
        named = next((p["ref"] for p in parts if p["ref"]), None)
        return {"text": " + ".join(p["text"] for p in parts), "ref": named}
    if "const" in schema:
        return {"text": f'"{schema["const"]}"', "ref": None}
    kind = schema.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " | ".join(kinds)
    if "array" in kinds and "items" in schema:
        inner = describe(schema["items"])
        return {"text": f"array of {inner['text']}", "ref": inner["ref"]}
    if schema.get("format"):
        text += f" ({schema['format']})"
    if schema.get("enum"):
        text += ": " + ", ".join(str(v) for v in schema["enum"])
    limits = []
    for key, label in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("maxLength", "max length ")):
        if key in schema:
            limits.append(f"{label}{schema[key]}")
    if schema.get("pattern"):
        limits.append(f"pattern {schema['pattern']}")
    if limits:
        text += " [" + ", ".join(limits) + "]"
    return {"text": text, "ref": None}


def _properties(schema: dict) -> dict:
    """The rows of a schema's table: property, type, required, description."""
    parts = schema.get("allOf", [schema])
    rows, refs = [], []
    for part in parts:
        if "$ref" in part:
            refs.append(part["$ref"].rsplit("/", 1)[-1])
            continue
        required = set(part.get("required", []))
        for name, prop in part.get("properties", {}).items():
            rows.append(
                {
                    "name": name,
                    "type": describe(prop),
                    "required": name in required,
                    "description": prop.get("description", ""),
                }
            )
    return {
        "rows": rows,
        "includes": refs,
        "description": schema.get("description", ""),
        "type": None if rows or refs else describe(schema),
    }
