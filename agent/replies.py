"""What the agent says, in English and Chinese: short, concrete, with the numbers.

Every message is a catalog code, rendered with the one lookup the house has,
``tools.core.messages.say("agent.<key>", lang, **vars)``; a
variable the message names but the caller did not pass raises ``KeyError``
(a test renders every message in both languages). ``lang`` is the person's
language from :class:`agent.goal.Goal`: "zh" (and "mixed", a Chinese speaker
using English terms) gives Chinese, anything else English.
"""

from __future__ import annotations

from tools.core.messages import say, section

MESSAGES: dict[str, dict[str, str]] = section("agent")  # the catalog's agent.* codes, per language


# Words that replies fill in from tool results: training and run states, stages, the reasons the dataset
# step drops records (tools.data.clean / datasets), the two models of the side-by-side chat. A word not
# listed is shown as it is.
WORDS: dict[str, dict[str, str]] = section("word")


def word(key: str, lang: str) -> str:  # not a second lookup: a word from a tool's result may have no code
    """A state, stage or label word from :data:`WORDS` in ``lang``; a word not listed is returned as it is."""
    entry = WORDS.get(key)
    if entry is None:
        return key
    return say(f"word.{key}", lang)
