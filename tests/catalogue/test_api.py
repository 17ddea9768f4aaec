"""GET /api/v1/courses with search and filters: the JSON contract."""

from tests.conftest import api


def test_api_search_and_filters(client, factory):
    course = factory.course(code="OPC-150", title="OPC UA 基础", level="intermediate", language="en+zh")
    factory.course(code="PLC-1", title="PLC")
    factory.run(course, mode="online", city="")
    body = api(client).get("/api/v1/courses?q=opc&level=intermediate&language=en%2Bzh&mode=online&open_only=true").json
    assert body["total"] == 1 and body["items"][0]["code"] == "OPC-150"
    assert body["items"][0]["upcoming_runs"][0]["seats_left"] == 10
    assert api(client).get("/api/v1/courses?q=基础").json["total"] == 1


def test_api_refuses_unknown_filter_values_with_422(client, factory):
    for query in (
        "level=guru",
        "mode=boat",
        "category=nope",
        "page=0",
        "per_page=1000",
        "open_only=maybe",
        "month=13-2026",
        "sort=upside",
    ):
        response = api(client).get(f"/api/v1/courses?{query}")
        assert response.status_code == 422, query
        assert response.json["error"]["code"] == "validation_failed"


def test_api_huge_page_is_an_empty_page(client, factory):
    factory.course()
    body = api(client).get("/api/v1/courses?page=100000").json
    assert body["items"] == [] and body["total"] == 1
