"""The OpenAI-compatible API: ``create_app(state)`` → a FastAPI app; every served strategy is a model.

Routes: ``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST
/v1/completions`` (both also streaming, as server-sent events: the words of a strategy whose model
streams are sent as they are generated, the rest once answered). Responses follow OpenAI's schema,
``usage`` included; each completion also carries a ``tailor`` extension field::

    "tailor": {"strategy": "rag", "contexts": ["doc-a", "doc-b"], "citations": ["doc-a"]}

``contexts`` are the documents put in front of the model (only ones the caller's groups may read);
``citations`` those the answer cites. A chat's question is its last user message; earlier turns
and sampling options are accepted and ignored (each strategy answers with its own prompt and
decoding settings).

Errors are OpenAI-style JSON ``{"error": {"message", "type", "param", "code"}}``: 401 missing or
unknown key, 403 a model the key may not use, 404 an unknown model or route, 400 a malformed body,
413 an oversized body or question, 429 a full queue (with ``Retry-After``). Bad input never gets a
500; an unexpected error (a failing strategy) does, with its request id. Request ids, the body limit,
the log and 500s are :mod:`tailor.serve.guard`'s. Logs carry request id, key id, user, model, status
and time: never a key, a question, an answer or document text.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tailor.contract import Answer, Strategy, User, citations
from tailor.serve.batching import Batcher, QueueFull
from tailor.serve.guard import ApiError, Guard, error_body, error_response, internal_error
from tailor.serve.keys import ApiKey, KeyStore
from tailor.serve.settings import ServeConfig

MODEL_PREFIX = "tailor-"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, user...: accepted, not used
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(1, ge=1, le=1)


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    prompt: str | list[str]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(1, ge=1, le=1)


@dataclass
class ServeState:
    models: Mapping[str, Strategy]  # model name (tailor-<strategy>) → strategy
    keys: KeyStore
    batcher: Batcher
    config: ServeConfig
    debug_log: Path | None = None  # serve.debug_log, resolved: where unexpected errors' tracebacks go


def model_name(strategy: str) -> str:
    return MODEL_PREFIX + strategy


def create_app(state: ServeState) -> FastAPI:
    """The API over ``state``'s strategies, keys and batcher."""
    app = FastAPI(title="tailor", summary="OpenAI-compatible API; every strategy is a model", docs_url=None)
    app.state.tailor = state
    app.add_middleware(Guard, max_body_bytes=state.config.max_body_bytes, debug_log=state.debug_log)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError):
        return error_response(e)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return error_response(ApiError(e.status_code, str(e.detail), code))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": len(state.models), "queued": state.batcher.waiting}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        key = _authenticate(request, state.keys)
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "tailor"}
            for name in state.models
            if key.may_use(name)
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        key = _authenticate(request, state.keys)
        body = _parse(ChatRequest, await _json(request))
        question = _last_user_message(body)
        pending = _submit(request, state, key, body.model, question, body.stream)
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return await _sse(request, _chat_chunks(body.model, _deltas(pending), include_usage))
        return _chat_response(body.model, await pending.answer)

    @app.post("/v1/completions")
    async def completions(request: Request):
        key = _authenticate(request, state.keys)
        body = _parse(CompletionRequest, await _json(request))
        if isinstance(body.prompt, list) and len(body.prompt) != 1:
            raise ApiError(400, "send one prompt per request", "invalid_prompt", param="prompt")
        question = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
        pending = _submit(request, state, key, body.model, question, body.stream)
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return await _sse(request, _completion_chunks(body.model, _deltas(pending), include_usage))
        return _completion_response(body.model, await pending.answer)

    return app


def _authenticate(request: Request, keys: KeyStore) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(401, "missing API key: send Authorization: Bearer <key>", "missing_api_key")
    key = keys.find(presented.strip())
    if key is None:
        raise ApiError(401, "invalid API key", "invalid_api_key")
    request.state.key = key
    return key


async def _json(request: Request) -> Any:
    raw = await request.body()  # past serve.max_body_bytes the Guard's receive raises a 413
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, f"body is not valid JSON ({e})", "invalid_json") from None


def _parse(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as e:
        first = e.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(400, f"{param or 'body'}: {first['msg']}", "invalid_request", param=param) from None


def _last_user_message(body: ChatRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            content = message.content
            if isinstance(content, list):  # content parts: only text parts are read
                content = "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
            if content and content.strip():
                return content
            break
    raise ApiError(400, "messages: the last user message has no text", "invalid_messages", param="messages")


@dataclass
class _Pending:
    """A submitted question: its answer to come, and for a stream, its answer so far as it grows."""

    answer: asyncio.Future[Answer]
    texts: asyncio.Queue[str] | None


def _submit(request: Request, state: ServeState, key: ApiKey, model: str, question: str, stream: bool) -> _Pending:
    request.state.model = model
    if model not in state.models:
        raise ApiError(404, f"model {model!r} does not exist; GET /v1/models lists yours", "model_not_found")
    if not key.may_use(model):
        raise ApiError(403, f"this key may not use {model!r}", "model_not_allowed", kind="permission_error")
    if len(question) > state.config.max_input_chars:
        raise ApiError(413, f"question over {state.config.max_input_chars} characters", "input_too_large")
    texts: asyncio.Queue[str] | None = asyncio.Queue() if stream else None
    on_text = None
    if texts is not None:
        loop = asyncio.get_running_loop()

        def on_text(text: str) -> None:  # called in the batcher's thread
            loop.call_soon_threadsafe(texts.put_nowait, text)

    try:
        future = state.batcher.submit(model, question, User(key.user, key.groups), on_text)
    except QueueFull:
        e = ApiError(429, "too many requests waiting; retry later", "rate_limit_exceeded", kind="rate_limit_error")
        e.headers["Retry-After"] = str(state.config.retry_after_s)
        raise e from None
    return _Pending(asyncio.wrap_future(future), texts)


async def _deltas(pending: _Pending) -> AsyncIterator[str | Answer]:
    """The answer as it is generated: text deltas, then the finished :class:`Answer` last.

    Deltas come as the strategy reports its settled words; what remains when it finishes (all of it
    for a strategy that does not stream; rag's citations) follows in word-sized pieces. Raises what
    answering raised.
    """
    sent = ""
    while pending.texts is not None and not pending.answer.done():
        text = asyncio.ensure_future(pending.texts.get())
        await asyncio.wait({text, pending.answer}, return_when=asyncio.FIRST_COMPLETED)
        if not text.done():
            text.cancel()
        elif text.result().startswith(sent) and len(text.result()) > len(sent):
            yield text.result()[len(sent) :]
            sent = text.result()
    answer = await pending.answer
    for piece in _pieces(answer.text.removeprefix(sent)):
        yield piece
    yield answer


def _extension(model: str, answer: Answer) -> dict[str, Any]:
    shown = list(dict.fromkeys(c.doc_id for c in answer.contexts))
    cited = [d for d in dict.fromkeys(citations(answer.text)) if d in shown]  # only what the caller was shown
    return {"strategy": model.removeprefix(MODEL_PREFIX), "contexts": shown, "citations": cited}


def _usage(answer: Answer) -> dict[str, int]:
    p, c = answer.prompt_tokens, answer.completion_tokens
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _chat_response(model: str, answer: Answer) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
        "usage": _usage(answer),
        "tailor": _extension(model, answer),
    }


def _completion_response(model: str, answer: Answer) -> dict[str, Any]:
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": answer.text, "finish_reason": "stop", "logprobs": None}],
        "usage": _usage(answer),
        "tailor": _extension(model, answer),
    }


def _pieces(text: str) -> list[str]:
    """The answer in word-sized deltas (whitespace kept), so clients render it as it streams."""
    out, current = [], ""
    for ch in text:
        current += ch
        if ch.isspace() and current.strip():
            out.append(current)
            current = ""
    return [*out, current] if current else out


async def _chat_chunks(model: str, deltas: AsyncIterator[str | Answer], include_usage: bool) -> AsyncIterator[dict]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = model
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    async for delta in deltas:
        if isinstance(delta, Answer):
            answer = delta
            break
        yield {**base, "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
    last = {
        **base,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "tailor": _extension(model, answer),
    }
    yield last
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(answer)}


async def _completion_chunks(
    model: str, deltas: AsyncIterator[str | Answer], include_usage: bool
) -> AsyncIterator[dict]:
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time())}
    base["model"] = model
    async for delta in deltas:
        if isinstance(delta, Answer):
            answer = delta
            break
        yield {**base, "choices": [{"index": 0, "text": delta, "finish_reason": None, "logprobs": None}]}
    yield {
        **base,
        "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}],
        "tailor": _extension(model, answer),
    }
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(answer)}


async def _sse(request: Request, chunks: AsyncIterator[dict]) -> StreamingResponse:
    """The chunks as server-sent events. The response starts once the first chunk after the opening
    one is ready: an answer that fails before its first words is an error response, not a cut stream.
    One that fails later ends the stream with an error event in OpenAI's form (which the openai
    client raises), and no ``[DONE]``."""
    opened = [await anext(chunks)]
    if opened[0]["object"] == "chat.completion.chunk":  # the role chunk comes first, whatever follows
        opened.append(await anext(chunks))

    async def events() -> AsyncIterator[str]:
        for chunk in opened:
            yield f"data: {json.dumps(chunk)}\n\n"
        try:
            async for chunk in chunks:
                yield f"data: {json.dumps(chunk)}\n\n"
        except Exception:
            error = internal_error(request.state.id)
            yield f"data: {json.dumps(error_body(error))}\n\n"
            raise  # for the Guard's log line
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
