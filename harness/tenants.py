"""Two API keys with two identities for the real LiteLLM proxy, through its ``custom_auth``
hook (virtual keys need LiteLLM's database; this exercises the same identity fields without
one). The proxy loads this file from its config directory: :func:`tenant_proxy_config` copies
it there. Each key is its own team and user."""

from fastapi import Request
from litellm.proxy._types import UserAPIKeyAuth

KEY_A, KEY_B = "sk-tenant-a-0123456789", "sk-tenant-b-0123456789"
KEYS = {KEY_A: "team-a", KEY_B: "team-b"}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    key = api_key.removeprefix("Bearer ").strip()
    if key not in KEYS:
        raise Exception("unknown API key")
    return UserAPIKeyAuth(api_key=key, team_id=KEYS[key], user_id=f"user-{KEYS[key]}")
