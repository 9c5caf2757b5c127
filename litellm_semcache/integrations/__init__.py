"""Where the engine meets LiteLLM: its cache backend, single-flight, the proxy hook."""
