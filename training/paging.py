"""A page of a list: the numbers every pager shows (``templates/macros/pager.html``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    page: int = 1
    per_page: int = 50
    total: int = 0

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def window(self, size: int = 2) -> list[int | None]:
        """Page numbers to show: first, last and a window around the current
        page, with None where numbers are skipped."""
        shown = {1, self.pages} | set(range(max(1, self.page - size), min(self.pages, self.page + size) + 1))
        out: list[int | None] = []
        previous = 0
        for number in sorted(shown):
            if number - previous > 1:
                out.append(None)
            out.append(number)
            previous = number
        return out
