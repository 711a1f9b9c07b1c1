"""A GGUF file run by llama.cpp (through llama-cpp-python): the fast CPU path for a compressed model.

Chat prompts are rendered with the chat template stored in the GGUF file, the way transformers
renders it (jinja2, trim_blocks and lstrip_blocks, generation prompt added), or with a given
``render`` function — a compressed variant uses its source model's, so both see the same text. Raw
text is completed as is; decoding is greedy unless ``temperature > 0``. Prompts run one after
another: llama.cpp's speed here comes from its kernels, not from batching. With ``on_text`` each
answer streams, a token at a time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tailor.errors import ModelError
from tailor.models.base import Generation, GenerationSettings, OnText, Prompt, settled

Render = Callable[[Prompt], str]

INSTALL = "pip install 'llm-tailor[llamacpp]' (builds llama.cpp from source, about 8 minutes on 2 cores)"


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


class LlamaCppGenerator:
    streams = True

    def __init__(
        self,
        path: Path,
        *,
        context_window: int = 2048,
        threads: int | None = None,
        name: str | None = None,
        render: Render | None = None,
    ):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError(f"running a GGUF file with llama.cpp needs llama-cpp-python: {INSTALL}") from None
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: GGUF file not found")
        try:
            self.llm = Llama(
                model_path=str(path),
                n_ctx=context_window,
                n_threads=threads or os.cpu_count() or 1,
                verbose=False,
            )
        except ValueError as e:
            raise ModelError(f"{path}: llama.cpp cannot load it ({e})") from None
        self.path = path
        self.name = name or path.stem
        self._window = context_window
        self._render = render or self._template_renderer()

    def _template_renderer(self) -> Render:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        meta = self.llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            return lambda prompt: prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        compiled = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(template)

        def token(key: str) -> str:
            tid = meta.get(key)
            return self.llm.detokenize([int(tid)], special=True).decode("utf-8", "replace") if tid else ""

        bos, eos = token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id")

        def render(prompt: Prompt) -> str:
            if isinstance(prompt, str):
                return prompt
            return compiled.render(messages=list(prompt), add_generation_prompt=True, bos_token=bos, eos_token=eos)

        return render

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        progress: Callable[[int], None] | None = None,
        on_text: OnText | None = None,
    ) -> list[Generation]:
        out = []
        for index, prompt in enumerate(prompts):
            start = time.perf_counter()
            options = {"max_tokens": settings.max_new_tokens, "temperature": settings.temperature, "seed": 0}
            if settings.temperature == 0:
                options["top_k"] = 1  # greedy
            self.llm.reset()  # no prompt-prefix reuse between prompts: each is answered (and timed) whole
            try:
                if on_text is None:
                    reply = self.llm.create_completion(prompt=self._render(prompt), **options)
                    text, usage = reply["choices"][0]["text"], reply["usage"]
                    tokens = usage["prompt_tokens"], usage["completion_tokens"]
                else:
                    text, tokens = self._stream(self._render(prompt), options, lambda t, i=index: on_text(i, t))
            except ValueError as e:  # llama.cpp: prompt longer than the context window
                raise ModelError(f"{self.name}: {e}") from None
            out.append(Generation(text.strip(), *tokens, time.perf_counter() - start))
            if progress is not None:
                progress(1)
        return out

    def _stream(self, rendered: str, options: dict, on_text: Callable[[str], None]) -> tuple[str, tuple[int, int]]:
        """Complete ``rendered`` a token at a time, reporting the settled words: (text, (prompt tokens,
        completion tokens)). llama.cpp sends one piece per token generated, then one that says why it stopped."""
        text, pieces, reported = "", 0, ""
        for chunk in self.llm.create_completion(prompt=rendered, stream=True, **options):
            choice = chunk["choices"][0]
            text += choice["text"]
            pieces += choice["finish_reason"] is None  # the last piece only says why it stopped
            if (now := settled(text)) != reported:
                reported = now
                on_text(now)
        prompt_tokens = len(self.llm.tokenize(rendered.encode("utf-8"), add_bos=True, special=True))
        return text, (prompt_tokens, pieces)
