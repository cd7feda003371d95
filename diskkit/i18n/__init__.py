"""Messages in the user's language: English in the code, translations in catalogues.

``tr(message, **values)`` looks the English ``message`` (with ``{placeholders}``) up in the
active language's catalogue and fills in ``values``; a message without a translation stays
English, so a missing entry never breaks a command. The language is ``--lang``, else the
``DISKKIT_LANG`` variable, else the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``; on Windows
the user's display language).

Catalogues: one package per language (``diskkit/i18n/zh_CN/``) holding one module per area
(``ramos.py``, ``doctor.py``, ...), each with a ``MESSAGES`` dict from the English text to
the translation. Areas add their own module; the package gathers them all.
"""

from __future__ import annotations

import importlib
import os
import sys

LANGUAGES = ("en", "zh-CN")
_active: str | None = None
_catalogue: dict[str, str] | None = None


def normalize(name: str | None) -> str | None:
    """``zh_CN.UTF-8``, ``zh-cn``, ``zh_SG`` -> ``zh-CN``; ``C``, ``en_US`` -> ``en``; '' -> None."""
    if not name:
        return None
    base = name.split(".")[0].split("@")[0].replace("_", "-").lower()
    if base in ("zh", "zh-cn", "zh-sg", "zh-hans", "zh-hans-cn"):
        return "zh-CN"
    return "en"


def _windows_language() -> str | None:
    try:
        import ctypes

        langid = ctypes.windll.kernel32.GetUserDefaultUILanguage()
    except (AttributeError, OSError):
        return None
    return "zh-CN" if langid in (0x0804, 0x1004) else "en"  # Simplified Chinese: PRC, Singapore


def detect(environ=os.environ, platform: str = sys.platform) -> str:
    """The language the user reads, from the environment and the locale."""
    for var in ("DISKKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        found = normalize(environ.get(var))
        if found:
            return found
    if platform == "win32":
        return _windows_language() or "en"
    return "en"


def from_argv(argv: list[str]) -> str | None:
    """The ``--lang`` value in a command line, read before the parser is built (so even the
    parser's own messages about bad values are in that language)."""
    for i, word in enumerate(argv):
        if word == "--":
            break
        if word == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith("--lang="):
            return word.split("=", 1)[1]
    return None


def set_language(lang: str | None = None) -> str:
    """Make ``lang`` (or the detected language when None) the active one; return it."""
    global _active, _catalogue
    _active = normalize(lang) if lang else detect()
    _catalogue = None
    return _active


def language() -> str:
    return _active or set_language()


def catalogue(lang: str) -> dict[str, str]:
    """Every message translated to ``lang``, gathered from its package's modules."""
    if lang == "en":
        return {}
    import pkgutil

    package = importlib.import_module(f"{__name__}.{lang.replace('-', '_')}")
    merged: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        merged.update(importlib.import_module(f"{package.__name__}.{info.name}").MESSAGES)
    return merged


def tr(message: str, /, **values) -> str:
    """``message`` in the active language, with ``values`` filled in."""
    global _catalogue
    lang = language()
    if lang != "en":
        if _catalogue is None:
            _catalogue = catalogue(lang)
        message = _catalogue.get(message, message)
    return message.format(**values) if values else message
