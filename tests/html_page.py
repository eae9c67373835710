"""A parsed HTML page (html.parser): its tables, images, links, scripts and sections."""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    tables: list = field(default_factory=list)     # [header cells, body rows of cells]
    images: list = field(default_factory=list)     # src of every <img>
    resources: list = field(default_factory=list)  # (tag, attribute, value) naming a URL
    tags: dict = field(default_factory=dict)       # tag -> count
    sections: list = field(default_factory=list)   # text of each <section>

    def table(self, *first_headers: str) -> tuple[list, list]:
        """The (header, body) of the one table whose header starts with ``first_headers``."""
        found = [t for t in self.tables if tuple(t[0][:len(first_headers)]) == first_headers]
        assert len(found) == 1, f"{len(found)} tables start with {first_headers}"
        return found[0]


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._row = self._cell = self._section = None

    def handle_starttag(self, tag, attrs):
        self.page.tags[tag] = self.page.tags.get(tag, 0) + 1
        attrs = dict(attrs)
        for name in ("src", "href", "data", "action", "srcset", "poster"):
            if name in attrs:
                self.page.resources.append((tag, name, attrs[name]))
        if tag == "img":
            self.page.images.append(attrs.get("src", ""))
        elif tag == "table":
            self.page.tables.append([[], []])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "section":
            self._section = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            header, body = self.page.tables[-1]
            if header:
                body.append(self._row)
            else:
                header.extend(self._row)
            self._row = None
        elif tag == "section" and self._section is not None:
            self.page.sections.append("".join(self._section))
            self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._section is not None:
            self._section.append(data)


def parse(text: str) -> Page:
    parser = _Parser()
    parser.feed(text)
    parser.close()
    return parser.page
