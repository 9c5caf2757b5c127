"""install() makes litellm.completion / acompletion / Router answer paraphrases from the cache."""

from __future__ import annotations

import asyncio

import litellm

from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings

FIRST, SECOND = "hi, how are you today?", "hello, how are you doing?"


def ask(prompt: str, answer: str, **kwargs):
    return litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}],
                              mock_response=answer, **kwargs)


def test_install_serves_a_paraphrase_without_calling_the_model(installed):
    first = ask(FIRST, "I am fine, thanks!")
    assert first._hidden_params.get("cache_hit") is not True

    second = ask(SECOND, "THE MODEL WAS CALLED")

    assert second._hidden_params["cache_hit"] is True
    assert second.choices[0].message.content == "I am fine, thanks!"
    assert installed.stats_snapshot()["chat"]["hits"] == 1


def test_strict_category_does_not_serve_the_same_paraphrase(installed):
    installed.settings.categories["legal"].similarity_threshold = 0.96  # an operator's choice
    legal = {"metadata": {"semcache_category": "legal"}}
    ask(FIRST, "first", **legal)
    second = ask(SECOND, "fresh answer", **legal)
    assert second._hidden_params.get("cache_hit") is not True
    assert second.choices[0].message.content == "fresh answer"


def test_different_models_do_not_share_answers(installed):
    ask(FIRST, "from model a")
    other = litellm.completion(model="gpt-4o", messages=[{"role": "user", "content": FIRST}],
                               mock_response="from model b")
    assert other.choices[0].message.content == "from model b"


def test_acompletion_serves_a_paraphrase(installed):
    async def scenario():
        messages = [{"role": "user", "content": FIRST}]
        first = await litellm.acompletion(model="gpt-4o-mini", messages=messages,
                                          mock_response="async answer")
        for _ in range(100):  # LiteLLM writes the cache in a background task
            if len(installed):
                break
            await asyncio.sleep(0.02)
        second = await litellm.acompletion(
            model="gpt-4o-mini", messages=[{"role": "user", "content": SECOND}],
            mock_response="THE MODEL WAS CALLED")
        return first, second

    first, second = asyncio.run(scenario())
    assert first._hidden_params.get("cache_hit") is not True
    assert second._hidden_params["cache_hit"] is True
    assert second.choices[0].message.content == "async answer"


def test_router_with_response_caching_uses_the_cache(installed):
    router = litellm.Router(
        model_list=[{"model_name": "chat-small",
                     "litellm_params": {"model": "openai/tiny", "api_key": "sk-test",
                                        "mock_response": "router answer"}}],
        cache_responses=True,
    )
    router.completion(model="chat-small", messages=[{"role": "user", "content": FIRST}])
    second = router.completion(model="chat-small", messages=[{"role": "user", "content": SECOND}],
                               mock_response="THE MODEL WAS CALLED")
    assert second._hidden_params["cache_hit"] is True
    assert second.choices[0].message.content == "router answer"


def test_a_broken_cache_never_fails_the_request(installed, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("index corrupted")

    monkeypatch.setattr(installed.pipeline, "prepare", explode)
    monkeypatch.setattr(installed.deployment, "write", explode)

    response = ask(FIRST, "still answered")

    assert response.choices[0].message.content == "still answered"
    assert installed.stats_snapshot()["uncategorised"]["fail_opens"] >= 2


def test_config_from_env_var(tmp_path, monkeypatch):
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  chat:\n    similarity_threshold: 0.76\n")
    monkeypatch.setenv("SEMCACHE_CONFIG", str(policy))
    settings = load_settings(None)
    assert settings.categories["chat"].similarity_threshold == 0.76
    assert settings.categories["chat"].ttl_seconds == 21600  # the rest from the built-in policy
    assert (settings.categories["default"].similarity_threshold
            == load_settings(BUILTIN_DEFAULTS).categories["default"].similarity_threshold)


def test_async_lookup_is_cut_off_at_the_deadline(installed, embedder, monkeypatch):
    import time

    installed.settings.lookup_deadline_ms = 100
    real = embedder.embed  # the batch call the async path's embedding service makes
    monkeypatch.setattr(embedder, "embed", lambda texts: (time.sleep(0.5), real(texts))[1])
    backend = litellm.cache.cache

    async def timed():
        started = time.perf_counter()
        value = await backend.async_get_cache(
            "k", model="m", messages=[{"role": "user", "content": "a slow one"}])
        return value, time.perf_counter() - started

    value, elapsed = asyncio.run(timed())
    assert value is None and elapsed < 0.4
    assert installed.stats_snapshot()["uncategorised"]["fail_opens"] == 1


def test_identical_concurrent_misses_make_one_upstream_call(installed):
    from litellm_semcache.testing import StandInModel

    prompts = ["Tell me a joke about owls", "How do I merge two dictionaries in Python?",
               "What is the capital of France?", "Recommend a good book"]

    async def burst(model):
        calls = [litellm.acompletion(model="openai/stand-in", api_base=model.url, api_key="sk-x",
                                     messages=[{"role": "user", "content": prompt}])
                 for prompt in prompts for _ in range(10)]
        return await asyncio.gather(*calls)

    with StandInModel(latency_ms=300) as model:
        answers = asyncio.run(burst(model))

    assert model.calls == len(prompts)  # not 40: one leader per prompt, the rest waited
    expected = [f"answer to: {prompt}" for prompt in prompts for _ in range(10)]
    assert [a.choices[0].message.content for a in answers] == expected
    assert sum(bool(a._hidden_params.get("cache_hit")) for a in answers) == 36
