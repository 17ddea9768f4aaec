"""The per-process LRU behind the run calendars, the e-mails' run texts and the kept verification pages."""

from training.lru import LRU


def test_keeps_the_most_recently_used_and_drops_the_oldest():
    kept: LRU[str] = LRU(2)
    kept.put("a", "A")
    kept.put("b", "B")
    assert kept.get("a") == "A"  # "a" is now the most recent: "b" goes first
    kept.put("c", "C")
    assert kept.get("b") is None and kept.get("a") == "A" and kept.get("c") == "C" and len(kept) == 2


def test_a_new_size_applies_from_the_next_put_and_zero_keeps_nothing():
    kept: LRU[int] = LRU(3)
    for n in range(3):
        kept.put(n, n)
    kept.put(3, 3, size=1)
    assert len(kept) == 1 and kept.get(3) == 3
    kept.put(4, 4, size=0)
    assert len(kept) == 0 and kept.get(4) is None
    kept.put(5, 5, size=2)
    kept.clear()
    assert len(kept) == 0
