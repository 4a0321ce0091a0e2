"""The counters' languages: Chinese (``zh_CN``, the default) and English (``en``).

Every text a clerk reads at the desk, bank and card-centre commands goes through
:func:`_` / :func:`ngettext`; the messages are English in the code and translated
by the gettext catalogue ``sscard`` shipped in ``terminal/locale`` (the ``.po``
source beside its compiled ``.mo``; ``scripts/build_locale.sh`` compiles it).
The service's problem titles are shown by their stable ``code``
(:func:`problem_title`, docs/api.md §Errors), with the service's own title as
the fallback for a code the catalogue does not know.

The language is chosen once per process: ``--lang`` (:func:`language_from_argv`),
else ``SSCARD_LANG``, else ``zh_CN``.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Sequence
from pathlib import Path

DOMAIN = "sscard"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
#: The gettext context of the service's problem codes (``msgctxt "problem"``).
PROBLEM_CONTEXT = "problem"

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def use(language: str) -> None:
    """Translate from now on into ``language`` (one of :data:`LANGUAGES`)."""
    global _translation, _language
    if language not in LANGUAGES:
        raise ValueError(f"--lang {language}: choose one of {', '.join(LANGUAGES)}")
    if language == "en":
        _translation = gettext.NullTranslations()
    else:
        _translation = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])
    _language = language


def language() -> str:
    """The language in use."""
    return _language


def _(message: str) -> str:
    """``message`` in the language in use."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural of a message for ``n``, in the language in use."""
    return _translation.ngettext(singular, plural, n)


def problem_title(code: str, fallback: str) -> str:
    """The title of the service's problem ``code`` in the language in use (English: the
    service's own ``fallback`` title; a code the catalogue lacks also gets the fallback)."""
    text = _translation.pgettext(PROBLEM_CONTEXT, code)
    return fallback if text == code else text


def language_from_argv(argv: Sequence[str], environ: os._Environ | dict | None = None) -> str:
    """``--lang X`` / ``--lang=X`` among the arguments, else ``SSCARD_LANG``, else zh_CN.

    Read before the parser is built, since the help texts are translated too.
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get("SSCARD_LANG") or DEFAULT_LANGUAGE
    items = list(argv)
    for i, item in enumerate(items):
        if item == "--":
            break
        if item == "--lang" and i + 1 < len(items):
            chosen = items[i + 1]
        elif item.startswith("--lang="):
            chosen = item.split("=", 1)[1]
    return chosen
