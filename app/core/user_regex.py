"""Regular expressions written by users run on RE2: matching time is linear in the text, so no
pattern can stall a worker (Python's `re` takes minutes on `(a+)+$` against 30 a's and a '!')."""

from __future__ import annotations

from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error comes back to the user instead
_OPTIONS.max_mem = 32 << 20


class UserRegexError(ValueError):
    pass


def compile_user_regex(pattern: str) -> Any:
    """Compile with RE2; unsupported syntax (backreferences, lookaround) is a clear error."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        msg = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise UserRegexError(f"invalid or unsupported regex ({msg}); patterns run on RE2, which has "
                             "no backreferences or lookaround") from None
