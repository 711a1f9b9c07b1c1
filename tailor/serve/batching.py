"""Requests from many clients become batches for the generator; a bounded queue sheds load with 429.

One worker thread owns the model: it takes the oldest waiting request, waits up to ``wait_s`` for
more (up to ``batch_size``), groups them by strategy and answers each group with one
``answer_batch`` call. ``batch_size=1`` is unbatched serving: one request at a time. A request
submitted with ``on_text`` is told its answer so far while it is generated, when its strategy streams.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

from tailor.contract import Answer, Strategy, User


class QueueFull(Exception):
    """The bounded queue is full: the client should retry later (HTTP 429)."""


@dataclass
class _Request:
    model: str
    question: str
    user: User
    on_text: Callable[[str], None] | None = None
    future: Future = field(default_factory=Future)


class Batcher:
    """Queue in front of the strategies; thread-safe ``submit`` returns a Future of the Answer."""

    def __init__(self, strategies: Mapping[str, Strategy], *, batch_size: int, wait_s: float, max_queue: int):
        self.strategies = dict(strategies)
        self.batch_size, self.wait_s = batch_size, wait_s
        self._queue: queue.Queue[_Request | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="tailor-batcher", daemon=True)
        self.batches = 0  # batches answered, for the load benchmark's report
        self._thread.start()

    def submit(self, model: str, question: str, user: User, on_text: Callable[[str], None] | None = None) -> Future:
        """Queue one question for ``model`` (a key of ``strategies``); ``on_text(answer so far)`` is called
        from the worker thread as the answer grows, if the strategy streams (it must not raise).

        Raises:
            QueueFull: ``max_queue`` requests are already waiting.
        """
        request = _Request(model, question, user, on_text)
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            raise QueueFull from None
        return request.future

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 30) -> None:
        """Stop the worker once its current batch is answered, waiting at most ``timeout`` seconds.

        Called when the server has stopped: requests still queued have no client left, so they are cancelled.
        """
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is not None:
                request.future.cancel()
        self._queue.put(None)
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._answer(batch)

    def _answer(self, batch: list[_Request]) -> None:
        self.batches += 1  # counted before any answer is released, so a caller never sees it lag
        by_model: dict[str, list[_Request]] = {}
        for r in batch:
            by_model.setdefault(r.model, []).append(r)
        for model, requests in by_model.items():
            live = [r for r in requests if r.future.set_running_or_notify_cancel()]
            if not live:
                continue
            strategy = self.strategies[model]
            streaming = {}
            if getattr(strategy, "streams", False) and any(r.on_text for r in live):
                streaming["on_text"] = _route_text(live)
            try:
                answers: list[Answer] = strategy.answer_batch(
                    [r.question for r in live], [r.user for r in live], **streaming
                )
            except Exception as e:  # the requests fail; the worker lives on
                for r in live:
                    r.future.set_exception(e)
                continue
            for r, a in zip(live, answers, strict=True):
                r.future.set_result(a)


def _route_text(requests: list[_Request]) -> Callable[[int, str], None]:
    """An ``on_text`` for a batch of ``requests`` that tells each streaming request its own answer."""

    def on_text(index: int, text: str) -> None:
        sink = requests[index].on_text
        if sink is not None:
            sink(text)

    return on_text
