"""Build the served strategies from a workspace and run the API with uvicorn.

Shutdown: on SIGTERM (or Ctrl-C) the server stops accepting connections, lets the requests in
flight and those queued for the model finish, for at most ``serve.drain_timeout_s`` seconds, then
returns; after SIGTERM the process exits 0. The request log goes to stderr, one line per request.

Scale-out: with ``model: {kind: openai, base_url: ...}`` in the recipe, every served strategy
generates through that endpoint (a vLLM server, say) while retrieval, access control and prompts
stay here; see docs/scale-out.md for a vLLM launch line.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from tailor.errors import RecipeError
from tailor.serve.app import ServeState, create_app, model_name
from tailor.serve.batching import Batcher
from tailor.serve.keys import KeyStore, load_keys
from tailor.serve.settings import ServeConfig
from tailor.workspace import Workspace


def build_state(ws: Workspace, keys: KeyStore | None = None, config: ServeConfig | None = None) -> ServeState:
    """Strategies of the served dataset (reusing or building prompt, index and adapter), keys and a batcher.

    Raises:
        RecipeError: serve.dataset names no dataset, or a listed strategy is not the dataset's.
    """
    return build_state_over([(None, ws)], keys, config)


def build_state_over(
    workspaces: list[tuple[str | None, Workspace]], keys: KeyStore | None = None, config: ServeConfig | None = None
) -> ServeState:
    """:func:`build_state` over several base models (``models:``): each strategy of each model is served as
    ``tailor-STRATEGY@MODEL``; a workspace named None is served as ``tailor-STRATEGY``. A strategy listed in
    serve.strategies that a model cannot have (training on an endpoint) is served on the others.

    Raises:
        RecipeError: as :func:`build_state`.
    """
    recipe = workspaces[0][1].recipe
    config = config or recipe.serve
    if keys is None:  # first: a missing keys file fails before any model work
        keys = load_keys(recipe.resolve(config.keys))
    models = {}
    for label, ws in workspaces:
        for name, strategy in _served(ws, config, strict=label is None).items():
            models[model_name(name if label is None else f"{name}@{label}")] = strategy
    batcher = Batcher(
        models, batch_size=config.batch_size, wait_s=config.batch_wait_ms / 1000, max_queue=config.max_queue
    )
    debug_log = recipe.resolve(config.debug_log) if config.debug_log else None
    return ServeState(models, keys, batcher, config, debug_log)


def _served(ws: Workspace, config: ServeConfig, *, strict: bool) -> dict[str, Any]:
    """The served dataset's strategies on ``ws``'s model, built (``strict``: each listed one must be there)."""
    from tailor.strategies import build_strategy

    recipe = ws.recipe
    names = [d.name for d in ws.datasets]
    if config.dataset is not None and config.dataset not in names:
        raise RecipeError(recipe.problem(f"no dataset {config.dataset!r}; datasets: {', '.join(names)}", "serve"))
    dataset = next(d for d in ws.datasets if config.dataset in (None, d.name))
    allowed = ws.strategies_for(dataset)
    wanted = config.strategies or allowed
    missing = [s for s in wanted if s not in allowed]
    if missing and strict:
        raise RecipeError(recipe.problem(f"{missing[0]} is not a strategy of dataset {dataset.name!r}", "serve"))
    served = {}
    for name in (s for s in wanted if s in allowed):
        ws.reporter.log(f"serve: building {name} for {dataset.name} on {ws.generator.name}")
        served[name] = build_strategy(name, ws, dataset).strategy
    return served


def serve(ws: Workspace, keys: KeyStore | None = None, *, host: str | None = None, port: int | None = None) -> None:
    """Run the API until SIGTERM or Ctrl-C (``keys``: default, the recipe's serve.keys file)."""
    serve_over([(None, ws)], keys, host=host, port=port)


def serve_over(
    workspaces: list[tuple[str | None, Workspace]],
    keys: KeyStore | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """:func:`serve` over several base models, each candidate a model name (see :func:`build_state_over`)."""
    ws = workspaces[0][1]
    config = ws.recipe.serve
    state = build_state_over(workspaces, keys)
    host, port = host or config.host, port or config.port
    ws.reporter.log(f"serve: {', '.join(state.models)} on http://{host}:{port}/v1 ({len(state.keys)} key(s))")
    run(state, host, port)


def run(state: ServeState, host: str, port: int) -> None:
    """Serve ``state`` on ``host:port`` until SIGTERM or Ctrl-C, then drain (see the module docstring)."""
    import uvicorn

    server = uvicorn.Server(_uvicorn_config(state, host, port))
    with _request_log_on_stderr(), _sigterm_stops(server):
        try:
            server.run()
        finally:
            state.batcher.close(timeout=state.config.drain_timeout_s)


def _uvicorn_config(state: ServeState, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # the Guard logs each request, with its key id and model
        timeout_graceful_shutdown=state.config.drain_timeout_s,
    )


@contextlib.contextmanager
def _sigterm_stops(server: Any) -> Iterator[None]:
    """SIGTERM asks ``server`` to stop, also before uvicorn installs its own handler. uvicorn drains on
    SIGTERM, then raises the signal again under the handler it found: this one, so a drained shutdown
    returns and the process exits 0 instead of dying of the signal."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _request_log_on_stderr() -> Iterator[None]:
    logger = logging.getLogger("tailor.serve")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(state: ServeState, port: int | None = None) -> Iterator[str]:
    """The API on 127.0.0.1 in a background thread, for tests and benchmarks; yields its /v1 base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(_uvicorn_config(state, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
