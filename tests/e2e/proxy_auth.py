"""Two API keys for the e2e proxy, through LiteLLM's ``custom_auth`` hook (virtual keys need a
database; this exercises the same identity fields without one)."""

from fastapi import Request
from litellm.proxy._types import UserAPIKeyAuth

KEYS = {"sk-tenant-a-0123456789": "team-a", "sk-tenant-b-0123456789": "team-b"}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    key = api_key.removeprefix("Bearer ").strip()
    if key not in KEYS:
        raise Exception("unknown API key")
    return UserAPIKeyAuth(api_key=key, team_id=KEYS[key], user_id=f"user-{KEYS[key]}")
