"""Keeping credentials out of memories.

A text to remember first goes through the provider-key redaction every journal write goes through
(:func:`cowork.providers.redaction.redact`: a key cowork knows becomes ``[redacted]``), then through
Yelp's ``detect-secrets`` (https://github.com/Yelp/detect-secrets) with its pattern plugins: AWS,
Azure, GitHub, GitLab, OpenAI, Slack, Stripe, npm, PyPI, JWTs, private keys, basic-auth URLs,
``password = "…"`` assignments and the like. A text one of them flags is refused. The entropy
plugins are left out: on prose they flag nearly every sentence (measured: 9 of 10 ordinary
memories), and commit hashes are worth remembering.
"""

from __future__ import annotations

import functools

from ..providers.redaction import redact


class MemoryRefused(ValueError):
    """A text that must not be remembered (it looks like a credential)."""


@functools.cache
def _plugins() -> tuple[dict[str, str], ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    names = sorted(c.__name__ for c in get_mapping_from_secret_type_to_class().values())
    return tuple({"name": n} for n in names if "Entropy" not in n and n != "IPPublicDetector")


def credential_kinds(text: str) -> list[str]:
    """The kinds of credential ``detect-secrets`` sees in ``text`` (``["GitHub Token"]``), line by line."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    found: list[str] = []
    with transient_settings({"plugins_used": list(_plugins())}):
        for line in text.splitlines() or [text]:
            found += [s.type for s in scan_line(line) if s.type not in found]
    return found


def safe_text(text: str) -> str:
    """``text`` as it may be stored: known provider keys redacted. Raises :class:`MemoryRefused`
    when it still looks like a credential."""
    text = redact(text)
    kinds = credential_kinds(text)
    if kinds:
        raise MemoryRefused(f"not remembered: the text looks like a credential ({', '.join(kinds)}); "
                            "keep secrets in `cowork auth` or the environment, never in memory")
    return text


__all__ = ["MemoryRefused", "credential_kinds", "safe_text"]
