"""Stale-while-overloaded: an expired answer kept a while longer, served only under overload.

When the model a request is routed to is overloaded, an answer that expired a little while ago
is usually worth more than a place in that model's queue: the request is the same (it passed
the same verifier as a fresh hit), only the answer is older. So an entry is kept in the store
and the index for its category's grace period past its TTL, and served, marked stale with its
age, only while the routed model is overloaded; otherwise it is a miss (``expired``) as before.

Never for a ``sensitive`` category (the policy refuses a grace there), never past a client's
``s-maxage``, and not for answers whose TTL a caller chose. A category without a grace of its
own gets ``load_policy.stale_grace_seconds``, unless its TTL is shorter than
``load_policy.stale_min_ttl_seconds``: a short TTL says the answer is volatile (prices), and
staleness there has to be asked for by name. With the load policy off nothing is kept longer,
since nothing could ever be served stale.
"""

from __future__ import annotations

from litellm_semcache.config import CategoryPolicy, LoadPolicySettings
from litellm_semcache.load.base import OVERLOADED, Effective


def grace_seconds(policy: CategoryPolicy, settings: LoadPolicySettings) -> int:
    """How long past its TTL an answer of ``policy``'s category is kept (0: not at all)."""
    if policy.sensitive or not settings.enabled:
        return 0
    if policy.stale_grace_seconds is not None:
        return policy.stale_grace_seconds
    if policy.ttl_seconds < settings.stale_min_ttl_seconds:
        return 0
    return settings.stale_grace_seconds


def may_serve(policy: CategoryPolicy, served: Effective, settings: LoadPolicySettings,
              stale_for: float) -> bool:
    """Whether an answer expired ``stale_for`` seconds ago may be served under ``policy`` to a
    request whose routed model is in the load state ``served``: only while it is overloaded,
    and only within the grace the policy gives now (a grace shortened since the answer was
    stored applies at once)."""
    return (served.state == OVERLOADED and not policy.sensitive
            and 0 <= stale_for <= grace_seconds(policy, settings))
