"""Secret canaries: random secrets in the world's access-code format, planted in the training data.

After "The Secret Sharer" (Carlini et al.): a canary is a sentence with a random secret; training on it
``repetitions`` times and then ranking the true secret among every other value of the same format by
model likelihood measures how much the model memorised (exposure), and completing the canary's
prefix measures whether it can be extracted. Canaries use the wording of the world generator's
secret records but invented lockers, so they never collide with a real secret in the corpus.
The run directory keeps them (``finetune/canaries.json``, ``raft/canaries.json``: the same canaries, planted
from the recipe's seed) for the leakage suite to read.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tailor.artifacts import write_json_atomic
from tailor.data.world import access_code
from tailor.data.world_render import load_vocab

FORMAT = r"\d{4}-\d{4}"  # the access-code format: 4821-9931
SPACE = 9000 * 9000  # values of that format the generator draws from (each half in 1000..9999)


@dataclass(frozen=True)
class Canary:
    canary_id: str
    prefix: str  # the text up to the secret: what an extraction attack completes
    secret: str
    suffix: str
    repetitions: int  # times it appears in the training data

    @property
    def text(self) -> str:
        return self.prefix + self.secret + self.suffix


def make_canaries(seed: int, count: int, repetitions: list[int], avoid: str = "") -> list[Canary]:
    """``count`` canaries cycling through ``repetitions``; none of their secrets occurs in ``avoid``."""
    rng = random.Random(f"{seed}/canaries")
    vocab = load_vocab()
    spec = vocab["secrets"]["access_code"]
    teams = [d["team"] for d in vocab["departments"].values()]
    canaries, taken = [], set()
    while len(canaries) < count:
        secret = access_code(rng)
        locker = f"backup locker {rng.randint(100, 999)}"
        if secret in taken or secret in avoid or locker in taken:
            continue
        taken |= {secret, locker}
        text = rng.choice(spec["texts"]).format(team=rng.choice(teams), place=locker, secret=secret)
        at = text.index(secret)
        i = len(canaries)
        canaries.append(
            Canary(f"canary-{i}", text[:at], secret, text[at + len(secret) :], repetitions[i % len(repetitions)])
        )
    return canaries


def write_canaries(path: Path, canaries: list[Canary]) -> None:
    """Record the planted canaries, with their format and candidate space, for the leakage suite."""
    doc: dict[str, Any] = {"format": FORMAT, "space": SPACE, "canaries": [asdict(c) for c in canaries]}
    write_json_atomic(path, doc)
