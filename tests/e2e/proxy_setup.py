"""The proxy configuration every e2e suite starts: proxy.example.yaml pointed at the stand-in
upstream, with the two test API keys (proxy_auth.py) and a random master key."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def proxy_config(upstream_url: str, workdir: Path) -> dict[str, Any]:
    shutil.copy(Path(__file__).with_name("proxy_auth.py"), workdir / "proxy_auth.py")
    config = yaml.safe_load((ROOT / "proxy.example.yaml").read_text())
    for deployment in config["model_list"]:
        deployment["litellm_params"]["api_base"] = upstream_url
    config["general_settings"] = {"custom_auth": "proxy_auth.user_api_key_auth",
                                  "master_key": f"sk-e2e-{secrets.token_hex(16)}"}
    return config
