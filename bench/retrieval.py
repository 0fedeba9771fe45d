"""How long finding a question's passages takes, and how often it finds the right one.

    python bench/retrieval.py [--passages 1000]

Time: the project's manuals (tests/fixtures/manuals.py, every set) as passages, padded to ``--passages`` with
the same paragraphs under other product names, each manual's customer questions asked against it; milliseconds a
question (median, 2 cores) and the ratio to BM25 alone (the baseline), in one run. Recall@1/2/3: the same questions
against the manuals' own passages only (the padded copies are near-duplicates no question can tell apart). The last
row adds what an answer does before the model runs: the sentence that answers picked (tools/data/read/extract.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures import manuals  # noqa: E402
from tools.data.read import index as idx  # noqa: E402
from tools.data.read.passages import Passage, numbered, paragraph_passages  # noqa: E402


def corpus(n: int) -> list[Passage]:
    real = [p for m in manuals.ALL.values() for heading, paras in m.sections
            for p in paragraph_passages(f"{m.name}.md", m.title, [heading], paras)]
    out, k = list(real), 0
    while len(out) < n:
        k += 1
        out += [p.model_copy(update={"title": f"{p.title} v{k}", "text": p.text.replace("0", str(k % 10)),
                                     "source": f"copy{k}.md"}) for p in real]
    return numbered(out[:n])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=1000)
    args = ap.parse_args()
    passages = corpus(args.passages)
    t0 = time.perf_counter()
    big = idx.PassageIndex(passages)
    built = time.perf_counter() - t0
    real = idx.PassageIndex(numbered(p for p in passages if not p.source.startswith("copy")))
    asked = [(q, fact, m.title) for m in manuals.ALL.values() for q, fact in m.asked]
    rows = {}
    for name, dense_w, bm25_w in (("BM25 alone (baseline)", 0.0, 1.0), ("dense alone", 1.0, 0.0),
                                  ("fused (the product)", idx.DENSE_WEIGHT, idx.BM25_WEIGHT)):
        idx.DENSE_WEIGHT, idx.BM25_WEIGHT = dense_w, bm25_w
        saved = (big._dense, real._dense)
        if dense_w == 0.0:
            big._dense = real._dense = None
        times, found = [], {1: 0, 2: 0, 3: 0}
        for q, fact, title in asked:
            t = time.perf_counter()
            big.search(q, 3)
            times.append(time.perf_counter() - t)
            hits = real.search(q, 3)
            for k in found:
                found[k] += any(fact in h.passage.text and h.passage.title == title for h in hits[:k])
        big._dense, real._dense = saved
        rows[name] = (statistics.median(times) * 1000, found)
    from tools.data.read.answer import prepare

    t = time.perf_counter()
    prepare(asked[0][0], big)  # the documents' word rarity, counted once an index
    rarity_s = time.perf_counter() - t
    times, picked = [], 0
    for q, fact, title in asked:
        t = time.perf_counter()
        prepare(q, big)
        times.append(time.perf_counter() - t)
        prep = prepare(q, real)
        picked += fact in prep.pick and any(p.title == title for p in prep.passages)
    pick_ms = statistics.median(times) * 1000
    base = rows["BM25 alone (baseline)"][0]
    print(f"{len(passages)} passages indexed in {built:.1f} s; {len(asked)} customer questions in other words")
    print("| ranking | ms a question (median) | × baseline | top 1 | top 2 | top 3 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (ms, found) in rows.items():
        print(f"| {name} | {ms:.1f} | {ms / base:.1f}× | " + " | ".join(f"{found[k]}/{len(asked)}" for k in (1, 2, 3))
              + " |")
    print(f"| fused, then the sentence that answers picked (`prepare`, k=2) | {pick_ms:.1f} | {pick_ms / base:.1f}× | "
          f"pick holds the fact: {picked}/{len(asked)} | | |")
    print(f"(the documents' word rarity, counted once an index: {rarity_s * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
