"""The Simplified Chinese catalogue: complete, placeholders intact, the
committed .mo matching the .po, and the locale chosen the way users expect."""

from __future__ import annotations

import gettext
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.conftest import login

TRANSLATIONS = Path(__file__).resolve().parent.parent / "training" / "translations"
PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.mo"

# %(name)s / %(n)d, a literal %%, a bare %s, and {n}-style placeholders of the
# strings handed to JavaScript.
PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdifr]|%%|%[sdif]|\{[A-Za-z_][A-Za-z0-9_]*\}")


def _get(client, path, **headers):
    """GET with a fresh locale: the test app context is shared by every
    request of a test, and Flask-Babel caches the chosen locale on ``g``."""
    from flask import g

    g.pop("_flask_babel", None)
    return client.get(path, headers=headers)


def _catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="zh")


def _messages():
    return [m for m in _catalog() if m.id]


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def test_plural_forms_header_is_chinese():
    catalog = _catalog()
    assert catalog.num_plurals == 1
    assert catalog.plural_expr.replace(" ", "") in ("0", "(0)")


def test_every_message_is_translated_and_none_is_fuzzy():
    untranslated = [m.id for m in _messages() if not all(s and s.strip() for s in _strings(m))]
    fuzzy = [m.id for m in _messages() if m.fuzzy]
    assert not untranslated, f"{len(untranslated)} untranslated, e.g. {untranslated[:5]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy, e.g. {fuzzy[:5]}"
    assert not _catalog().fuzzy, "the catalogue header is marked fuzzy"


def test_translations_keep_the_placeholders_of_their_msgid():
    broken = []
    for m in _messages():
        if m.pluralizable:
            singular, plural = m.id
            # One Chinese form stands for both English forms: it carries the
            # placeholders of the plural (which include the count).
            expected = Counter(PLACEHOLDER.findall(plural))
            for s in _strings(m):
                if Counter(PLACEHOLDER.findall(s)) != expected:
                    broken.append((plural, s))
        else:
            expected = Counter(PLACEHOLDER.findall(m.id))
            if Counter(PLACEHOLDER.findall(m.string)) != expected:
                broken.append((m.id, m.string))
    assert not broken, broken[:10]


def test_translations_keep_leading_and_trailing_whitespace():
    broken = []
    for m in _messages():
        source = m.id[1] if m.pluralizable else m.id
        for s in _strings(m):
            if source.startswith("\n") != s.startswith("\n") or source.endswith("\n") != s.endswith("\n"):
                broken.append((source, s))
    assert not broken, broken[:10]


def test_compiled_mo_is_up_to_date_with_the_po(tmp_path):
    assert MO.exists(), "run: pybabel compile -d training/translations"
    fresh = tmp_path / "messages.mo"
    with fresh.open("wb") as handle:
        write_mo(handle, _catalog())
    with MO.open("rb") as committed, fresh.open("rb") as compiled:
        committed_catalog = gettext.GNUTranslations(committed)._catalog
        compiled_catalog = gettext.GNUTranslations(compiled)._catalog
    # The header (msgid "") carries dates only: compare the messages.
    committed_catalog.pop("", None)
    compiled_catalog.pop("", None)
    missing = sorted(str(k) for k in compiled_catalog.keys() - committed_catalog.keys())
    stale = sorted(
        str(k) for k in compiled_catalog if k in committed_catalog and committed_catalog[k] != compiled_catalog[k]
    )
    assert not missing and not stale and committed_catalog == compiled_catalog, (
        f"messages.mo is out of date (missing {missing[:5]}, changed {stale[:5]}): "
        "run pybabel compile -d training/translations"
    )


def test_stored_codes_have_chinese_labels(app):
    """Statuses, roles, levels and modes are stored as English codes; the
    templates that translate the code itself (``_(run.status)``) need a
    msgid per code, which training/labels.py provides."""
    from flask_babel import force_locale, gettext

    from training import labels

    with app.test_request_context("/"), force_locale("zh"):
        for code in labels.ALL_LABELS:
            if code == "api":  # a brand name, the same in Chinese
                continue
            assert gettext(code) != code, f"no Chinese label for {code!r}"
        assert gettext("open") == "开放报名"
        assert labels.label("waitlisted") == "候补中"
        assert labels.label("something-else") == "something-else"


def test_accept_language_zh_cn_shows_chinese(client):
    page = _get(client, "/", **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "验证证书" in page  # "Verify a certificate" in the navigation
    assert "Verify a certificate" not in page


def test_lang_parameter_overrides_accept_language(client):
    english = _get(client, "/?lang=en", **{"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "Verify a certificate" in english
    assert "验证证书" not in english
    chinese = _get(client, "/?lang=zh", **{"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "验证证书" in chinese


def test_login_page_in_chinese(client):
    page = _get(client, "/login", **{"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "忘记密码？" in page
    assert "Forgot your password?" not in page


def test_user_preferring_chinese_gets_chinese(client, factory):
    user = factory.trainee(locale="zh")
    login(client, user)
    page = _get(client, "/my/training", **{"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "我的培训" in page  # "My training"
    assert "Verify a certificate" not in page


def test_user_preferring_english_gets_english(client, factory):
    user = factory.trainee(locale="en")
    login(client, user)
    page = _get(client, "/my/training", **{"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "My training" in page
    assert "我的培训" not in page


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/trainers", "/verify"])
def test_public_pages_render_in_chinese(client, path):
    response = _get(client, path, **{"Accept-Language": "zh-CN"})
    assert response.status_code == 200
    assert "课程" in response.get_data(as_text=True)


def test_every_message_in_the_code_has_a_chinese_translation():
    """Extract the messages from the code as `make translations` does: none may be missing from the catalogue."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent
    po = root / "training/translations/zh/LC_MESSAGES/messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh)
    method_map = [("training/**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None}
    missing = []
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(root), method_map=method_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if not msgid:
            continue
        entry = catalog.get(msgid)
        translated = entry is not None and (entry.string if isinstance(entry.string, str) else entry.string[0])
        if not translated:
            missing.append(f"{filename}: {msgid}")
    assert not missing, "untranslated (run `make translations` and translate):\n" + "\n".join(sorted(set(missing)))
