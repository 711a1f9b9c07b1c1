"""Generator backends behind one interface (:class:`tailor.models.base.Generator`)."""

from tailor.models.base import Generation, GenerationSettings, Generator, Message, Prompt

__all__ = ["Generation", "GenerationSettings", "Generator", "Message", "Prompt"]
