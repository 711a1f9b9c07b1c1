"""What every request passes through around the routes: a request id, the body limit, one log line, and a
500 in OpenAI's form for anything unexpected.

It is a plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``, so that it sees the body as it
arrives. The body is counted chunk by chunk, with or without Content-Length (a chunked upload has
none): a route reading past ``serve.max_body_bytes`` gets a 413 from ``receive`` itself, so a body is
never read whole. A response sent before its request's body was read to the end (that 413, or a 401
to an upload) closes the connection, after reading off and dropping what the client is still sending
for at most ``LINGER_S`` seconds and ``LINGER_LIMITS`` more limits' worth: closing with unread data
resets the connection, and a client still writing its upload (httpx, asyncio) would then never read
the answer (nginx's "lingering close" does the same).

An exception no route turned into an :class:`ApiError` is answered 500 with the request id (in the
message and in ``x-request-id``, which every response carries); one raised while a stream is being
sent ends the stream there, properly terminated (the stream's own last event says what happened).
Every request gets one log line (request id, key id, user, model, status, time); a 500's line also
names the exception, and its traceback goes only to ``serve.debug_log`` when one is set. A request
still unanswered when the shutdown's drain time runs out is answered 503, which clients retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

log = logging.getLogger("tailor.serve")
LINGER_S = 2.0
LINGER_LIMITS = 16
CLIENT_GONE = 499  # logged for a client that went away before its body was read (nginx's number for it)
Scope = dict[str, Any]
Message = dict[str, Any]


class ApiError(Exception):
    """An error answered as OpenAI-style JSON with ``status``."""

    def __init__(self, status: int, message: str, code: str, *, kind: str = "invalid_request_error", param=None):
        super().__init__(message)
        self.status, self.message, self.code, self.kind, self.param = status, message, code, kind, param
        self.headers: dict[str, str] = {}


def error_body(e: ApiError) -> dict[str, Any]:
    return {"error": {"message": e.message, "type": e.kind, "param": e.param, "code": e.code}}


def error_response(e: ApiError) -> JSONResponse:
    return JSONResponse(error_body(e), status_code=e.status, headers=e.headers)


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body over {limit} bytes", "body_too_large")


def shutting_down() -> ApiError:
    return ApiError(
        503, "the server shut down before answering; try again", "server_shutting_down", kind="server_error"
    )


def internal_error(request_id: str) -> ApiError:
    message = f"internal error (request {request_id}); the server log has the details"
    return ApiError(500, message, "internal_error", kind="server_error")


class Guard:
    """ASGI middleware around the API: request id, body limit, request log, 500s (see the module docstring)."""

    def __init__(self, app: Any, *, max_body_bytes: int, debug_log: Path | None = None):
        self.app, self.max_body_bytes, self.debug_log = app, max_body_bytes, debug_log

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:12]
        state = scope.setdefault("state", {})  # what routes set on request.state: key, model
        state["id"] = request_id
        start = time.perf_counter()
        headers = dict(scope["headers"])
        has_body = headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
        body = {"read": 0, "done": not has_body}
        status = 0
        open_ended = {"yes": False}  # a response without Content-Length (a stream), begun
        error: Exception | None = None

        async def tagged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                open_ended["yes"] = all(name.lower() != b"content-length" for name, _ in message.get("headers", []))
                extra = [(b"x-request-id", request_id.encode())]
                if not body["done"]:  # answered before the body was read: see _drop_upload
                    extra.append((b"connection", b"close"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # logged before the last byte goes out, so whoever got the response finds its line
                self._log(request_id, scope, status, time.perf_counter() - start, error)
                if not body["done"]:  # the answer first, then what the client still sends is dropped
                    await send({**message, "more_body": True})
                    await self._drop_upload(receive, body)
                    message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            declared = headers.get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                await error_response(body_too_large(self.max_body_bytes))(scope, receive, tagged_send)
            else:
                await self.app(scope, self._limited(receive, body), tagged_send)
        except ClientDisconnect:  # nobody left to answer
            self._log(request_id, scope, CLIENT_GONE, time.perf_counter() - start, None)
        except Exception as e:  # a bug or a failing model: one log line, the traceback in the debug log
            error = e
            self._write_traceback(request_id, scope, e)
            if status:  # the response was cut short
                self._log(request_id, scope, status, time.perf_counter() - start, e)
                if open_ended["yes"]:  # a stream: ended where it stands (its last event says why)
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await error_response(internal_error(request_id))(scope, receive, tagged_send)
        except asyncio.CancelledError:  # serve.drain_timeout_s ran out: answer, instead of uvicorn's traceback
            if status:
                self._log(request_id, scope, status, time.perf_counter() - start, None)
            else:
                await error_response(shutting_down())(scope, receive, tagged_send)

    def _limited(self, receive: Any, body: dict[str, Any]) -> Any:
        """``receive`` counting the body's bytes into ``body``: past serve.max_body_bytes it raises 413."""

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body["read"] += len(message.get("body", b""))
                body["done"] = not message.get("more_body", False)
                if body["read"] > self.max_body_bytes:
                    raise body_too_large(self.max_body_bytes)
            return message

        return limited_receive

    async def _drop_upload(self, receive: Any, body: dict[str, Any]) -> None:
        """Read off the rest of an upload already answered, for at most LINGER_S seconds and LINGER_LIMITS
        times serve.max_body_bytes (see the module docstring)."""
        most = LINGER_LIMITS * self.max_body_bytes
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_S):
                while most > 0 and not body["done"]:
                    message = await receive()
                    if message["type"] != "http.request":  # the client went away
                        return
                    most -= len(message.get("body", b""))
                    body["done"] = not message.get("more_body", False)

    def _log(self, request_id: str, scope: Scope, status: int, seconds: float, error: Exception | None) -> None:
        state = scope["state"]
        key = state.get("key")
        line = "%s %s %s status=%d key=%s user=%s model=%s %.0f ms"
        args = [request_id, scope["method"], scope["path"], status, key.id if key else "-"]
        args += [key.user if key else "-", state.get("model", "-"), seconds * 1000]
        if error is None:
            log.info(line, *args)
        else:
            log.error(line + " error=%s", *args, _one_line(error))

    def _write_traceback(self, request_id: str, scope: Scope, e: Exception) -> None:
        if self.debug_log is None:
            return
        when = datetime.now(UTC).isoformat(timespec="seconds")
        text = "".join(traceback.format_exception(e))
        try:
            with self.debug_log.open("a", encoding="utf-8") as f:
                f.write(f"{when} request {request_id} {scope['method']} {scope['path']}\n{text}\n")
        except OSError as failed:
            log.warning("%s cannot write serve.debug_log %s (%s)", request_id, self.debug_log, failed.strerror)


def _one_line(e: Exception, most: int = 300) -> str:
    """``Class: message`` on one line and at most ``most`` characters, for the request log."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= most else text[: most - 1] + "…"
