"""Connexion's OAuth 2 security handler, reading our token_info's signature once.

Before every call of `x-tokenInfoFunc`, Connexion asks twice whether the function takes
`required_scopes` and `request`, each time by `inspect.signature`: 30 % of the security
layer of a REST list users, measured in-process with py-spy (the app over a stub core). A
module-level function's signature does not change, so the answer is kept per function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connexion.security import SECURITY_HANDLERS, OAuthSecurityHandler


class OAuthSignatureOnce(OAuthSecurityHandler):
    @staticmethod
    @functools.cache
    def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
        accepts: bool = OAuthSecurityHandler._accepts_kwarg(func, keyword)
        return accepts


SECURITY_MAP = {**SECURITY_HANDLERS, "oauth2": OAuthSignatureOnce}
