"""`tailor serve`: an OpenAI-compatible API where every strategy is a model; API keys map to users and groups."""
