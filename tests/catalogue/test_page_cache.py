"""The catalogue cache: served again while fresh, dropped on change, never used for
pages carrying a message; signed-in visitors get a copy of their own kind, never the
anonymous one."""

from tests.conftest import login
from training.catalogue import services
from training.extensions import db


def test_anonymous_catalogue_is_cached_and_dropped_on_change(app, client, factory):
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60
    course = factory.course(title="PLC fundamentals")
    first = client.get("/?q=PLC")
    assert first.headers["X-Page-Cache"] == "miss" and b"PLC fundamentals" in first.data
    second = client.get("/?q=PLC")
    assert second.headers["X-Page-Cache"] == "hit" and second.data == first.data
    assert "default-src 'self'" in second.headers["Content-Security-Policy"]
    # Another language or query is another page.
    assert client.get("/?q=PLC&lang=zh").headers["X-Page-Cache"] == "miss"
    # A committed change to the catalogue drops the cached pages at once.
    services.update_course(factory.admin(), course, {"title": "PLC fundamentals, 2nd edition"})
    third = client.get("/?q=PLC")
    assert third.headers["X-Page-Cache"] == "miss" and b"2nd edition" in third.data


def test_flash_messages_bypass_the_cache_and_signed_in_visitors_never_get_the_anonymous_copy(app, client, factory):
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 60
    factory.course()
    client.get("/")
    assert client.get("/").headers["X-Page-Cache"] == "hit"
    with client.session_transaction() as sess:
        sess["_flashes"] = [("info", "You are logged out.")]
    response = client.get("/")
    assert "X-Page-Cache" not in response.headers and b"You are logged out." in response.data
    login(client, factory.trainee(name="Wei Zhang"))
    signed_in = client.get("/")
    assert (
        signed_in.headers["X-Page-Cache"] == "miss"
        and b"Wei Zhang" in signed_in.data
        and b"/login" not in signed_in.data
    )
    with client.session_transaction() as sess:
        sess["_flashes"] = [("info", "Welcome back.")]
    response = client.get("/")
    assert "X-Page-Cache" not in response.headers and b"Welcome back." in response.data
    assert client.get("/").headers["X-Page-Cache"] == "hit"
    db.session.rollback()


def test_the_caches_keep_their_memory_bound_whatever_clients_ask(app):
    """Every distinct query string is a new key: thousands of them fill the cache's byte
    budget, never the worker's memory."""
    from training.pagecache import PageCache

    cache = PageCache(max_entries=1000, max_bytes=100_000)
    page = b"x" * 9_000
    for i in range(500):
        cache.put(("catalogue.index", "en", "", "", f"/?q={i}"), page, 60, 1)
        assert cache.size <= 100_000
    assert cache.get(("catalogue.index", "en", "", "", "/?q=499"), 1) == page
    cache.put("huge", b"y" * 30_000, 60, 1)  # over a quarter of the budget: not kept
    assert cache.get("huge", 1) is None and cache.size <= 100_000
    before = cache.size
    cache.put(("catalogue.index", "en", "", "", "/?q=499"), b"z", 60, 1)  # replaced, not counted twice
    assert cache.size == before - 9_000 + 1
    cache.clear()
    assert cache.size == 0


def test_a_flood_of_one_off_keys_does_not_push_out_the_page_everyone_asks_for():
    """Full caches make room from the least recently used end: a page read between the
    one-off keys stays, and expired bodies go before live ones."""
    from training.pagecache import PageCache

    cache = PageCache(max_entries=20, max_bytes=100_000)
    cache.put("popular", b"p" * 1_000, 60, 1)
    cache.put("expired", b"e" * 1_000, -1, 1)
    for i in range(200):
        cache.put(f"/?utm={i}", b"x" * 3_000, 60, 1)
        assert cache.get("popular", 1) == b"p" * 1_000
        assert len(cache._entries) <= 20 and cache.size <= 100_000
    assert "expired" not in cache._entries
    assert cache.get("/?utm=0", 1) is None  # an old one-off key made room
    assert cache.get("/?utm=199", 1) == b"x" * 3_000
    assert cache.size == sum(len(body) for _expires, body, _version in cache._entries.values())
