"""API: the OpenAPI document and its browsable page (see issue 7)."""
from . import bp


@bp.get("/docs")
def docs():
    return "API documentation: /api/v1/openapi.json"
