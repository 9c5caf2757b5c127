"""Two API keys for the contract suite's proxy, through LiteLLM's ``custom_auth`` hook (virtual
keys need LiteLLM's database); each key is its own team and user."""

from fastapi import Request
from litellm.proxy._types import UserAPIKeyAuth

KEYS = {"sk-contract-a-0123456789": "team-a", "sk-contract-b-0123456789": "team-b"}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    key = api_key.removeprefix("Bearer ").strip()
    if key not in KEYS:
        raise Exception("unknown API key")
    return UserAPIKeyAuth(api_key=key, team_id=KEYS[key], user_id=f"user-{KEYS[key]}")
