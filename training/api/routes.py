from . import bp


@bp.get("/docs")
def docs():
    return "docs"
