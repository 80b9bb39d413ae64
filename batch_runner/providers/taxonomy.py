"""The error taxonomy, in one place: how each provider's failures map to our codes.

Our vocabulary is ``errors.ERROR_CODES``. Three questions are answered here:
- which HTTP answers are retryable (429, 5xx, a body that is not the expected
  JSON) and which are permanent (400 invalid parameters, 401, 402, 403);
- each provider's own codes (MiniMax-style ``base_resp.status_code``, also used
  by gptge): https://platform.minimax.io/docs/api-reference/errorcode (seen 2026-11);
- which codes open a provider's circuit breaker (no further submits: the key,
  the balance or the quota is gone) and which forbid failover to another provider.
"""

from __future__ import annotations

__all__ = [
    "BREAKER_CODES",
    "MINIMAX_CODES",
    "NO_FAILOVER_CODES",
    "classify_http",
    "failure_code",
]

#: base_resp.status_code -> (our error_code, retryable). Source: MiniMax's error
#: code table, https://platform.minimax.io/docs/api-reference/errorcode (seen
#: 2026-11): 1000/1001/1024/1033 server side, 1039/1041/2045 limits (retryable
#: after a wait), 2056 usage limit exceeded (a quota: stop), 1028 and 1030
#: (quota exhausted: stop), 2061 (the model is not available on this plan:
#: stop; another provider may sell it, so failover stays open). 2038 (real-name
#: verification needed) is read as MiniMax's own client reads it:
#: https://github.com/MiniMax-AI/MiniMax-MCP (minimax_mcp/client.py).
MINIMAX_CODES: dict[int, tuple[str, bool]] = {
    1000: ("provider_error", True),
    1001: ("provider_error", True),
    1002: ("rate_limited", True),
    1004: ("auth", False),
    1008: ("insufficient_balance", False),
    1013: ("provider_error", True),
    1024: ("provider_error", True),
    1026: ("content_policy", False),
    1027: ("content_policy", False),
    1028: ("quota_exhausted", False),
    1030: ("quota_exhausted", False),
    1033: ("provider_error", True),
    1039: ("rate_limited", True),
    1041: ("rate_limited", True),
    1042: ("invalid_request", False),
    2013: ("invalid_request", False),
    2038: ("auth", False),
    2045: ("rate_limited", True),
    2049: ("auth", False),
    2056: ("quota_exhausted", False),
    2061: ("not_on_plan", False),
}

#: A submit failing with one of these stops every further submit to that provider
#: (the account cannot run any job there: each further submit would fail the same way).
BREAKER_CODES = frozenset({"auth", "insufficient_balance", "quota_exhausted", "not_on_plan"})

#: A job failing with one of these is not moved to a fallback provider: the same
#: prompt and image would be refused there too (content policy), or the request
#: itself is wrong. Retrying a refused prompt elsewhere is also a way around a
#: provider's moderation, which we do not offer.
NO_FAILOVER_CODES = frozenset({"content_policy", "invalid_request"})

_POLICY_WORDS = ("content", "policy", "sensitive", "nsfw", "safety", "moderation")


def failure_code(message: str) -> str:
    """``content_policy`` when a failure message speaks of content policy,
    otherwise ``task_failed``."""
    low = message.lower()
    return "content_policy" if any(w in low for w in _POLICY_WORDS) else "task_failed"


def classify_http(status: int, message: str, is_json: bool) -> tuple[str, bool]:
    """(error_code, retryable) of an HTTP error answer.

    429 -> rate_limited, retryable (quota_exhausted, permanent, when the message
    speaks of a daily quota); 401 -> auth; 402 -> insufficient_balance; 403 ->
    insufficient_balance when the message speaks of balance or credit, else
    auth (gptproto documents both under 403,
    https://docs.gptproto.com/docs/allapi/MiniMax/hailuo-2.3-standard/gptproto-format/text-to-video,
    seen 2026-11); 5xx -> provider_error, retryable;
    a 4xx whose body is not JSON -> bad_response, retryable (an HTML error page
    from a proxy); other 4xx -> invalid_request.
    """
    low = message.lower()
    if status == 429:
        if "quota" in low or "daily" in low:
            return "quota_exhausted", False
        return "rate_limited", True
    if status == 401:
        return "auth", False
    if status == 402 or (status == 403 and ("balance" in low or "credit" in low)):
        return "insufficient_balance", False
    if status == 403:
        return "auth", False
    if 500 <= status < 600:
        return "provider_error", True
    if not is_json:
        return "bad_response", True
    if 400 <= status < 500:
        return "invalid_request", False
    return "bad_response", True
