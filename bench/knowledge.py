"""Knowledge: does the model answer questions about its FAQ asked in other words, and how soon?

    python bench/knowledge.py [--lang zh|en] [--every 15]
    python bench/knowledge.py --lang zh --faq clinic|rental [--only default]   (Chinese FAQs of other domains)
    python bench/knowledge.py --doc dev|held|fresh [--every 15] [--only default]

``--doc``: instead of an FAQ, a pair of prose manuals (tests/fixtures/manuals.py: a Chinese one printed to PDF
by Chromium, an English one as a Word file; ``dev`` and ``held`` are what the fact questions were tuned on, ``fresh`` another
domain measured only), converted by ``tunepilot data``'s own path, recall reported per language.

The FAQ is generated (tests/fixtures/faq.py: invented facts no model knows) and goes through the product
as a person's file would: a CSV → ``convert_documents`` → the planner's default plan for this machine.
Two recipes train the demo model on it, in one run:

- baseline, "seeds' recipe": LoRA lr 2e-4, 2 epochs, no rewordings, no replay (the seed tutorials' settings);
- tunepilot's default plan: what ``tunepilot plan`` picks (rewordings, learning rate and epochs for a
  knowledge task, the learning check that stops training when it knows the trained questions).

A checkpoint is kept every ``--every`` steps; each is asked the FAQ's hand-written questions in other
words (never seen in training, not made by the product's templates), greedy, and scored by the fact a
right answer holds. The table prints fact recall against steps, and steps and wall time to 80%.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures import faq  # noqa: E402
from tools.core.events import read_events  # noqa: E402
from tools.train.launch import run_training  # noqa: E402
from tools.train.record import TrainRequest, TrainSettings, settings_from_plan  # noqa: E402

TARGET = 0.8


def dataset(lang: str, root: Path, name: str = "default") -> tuple[Path, list[faq.Entry]]:
    """The FAQ through the product's converter: the project's own (``default``, per language) or one of the
    Chinese FAQs of other domains (``clinic`` as Markdown, ``rental`` as an Excel CSV: tests/fixtures/faq_zh.py)."""
    from tools.data import ConvertRequest, convert_documents

    if name != "default":
        from tests.fixtures import faq_zh

        entries, sheet = faq_zh.DOMAINS[name], faq_zh.write_domain(name, root)
    else:
        entries = faq.ZH if lang == "zh" else faq.EN
        sheet = faq.write_faq_csv(root / f"faq_{lang}.csv", entries)
    convert_documents(ConvertRequest(inputs=[sheet], out_dir=root / "data", eval_ratio=0.0))
    return root / "data", entries


def doc_dataset(which: str, root: Path, lang: str = "both") -> tuple[Path, list[tuple[str, str, str]]]:
    """The manuals of ``which`` through the product's converter; (question, fact, language) for each customer
    question."""
    from tests.fixtures import manuals
    from tools.data import ConvertRequest, convert_documents

    sets = {"dev": manuals.DEV, "held": manuals.HELD, "fresh": manuals.FRESH}
    chosen = [m for m in sets[which] if lang in ("both", m.lang)]
    files = []
    for m in chosen:
        path = root / (m.name + (".pdf" if m.lang == "zh" else ".docx"))
        files.append(manuals.write_pdf(path, m) if m.lang == "zh" else manuals.write_docx(path, m))
    result = convert_documents(ConvertRequest(inputs=files, out_dir=root / "data"))
    print(f"converted: {result.train_records} train + {result.eval_records} held-out records from {len(files)} files")
    asked = [(q, fact, m.lang) for m in chosen for q, fact in m.asked]
    return root / "data", asked


def recipes(data: Path, every: int, model: str | None = None) -> dict[str, TrainSettings]:
    from tools.plan.gather import make_plan

    plan = make_plan(model=model, data_dir=data).model_dump(mode="json")
    default = settings_from_plan(plan, data)
    seeds = default.model_copy(update={"learning_rate": 2e-4, "num_epochs": 2.0, "paraphrases": 0,
                                       "learning_check": False, "replay": 0})
    keep = {"save_steps": every, "save_total_limit": 1000, "eval_steps": 100_000}
    return {"seeds' recipe (baseline)": seeds.model_copy(update=keep),
            "tunepilot default plan": default.model_copy(update=keep)}


def recall_by_step(run: Path, model: str, asked: list[tuple[str, str, str]],
                   show: bool = False) -> list[tuple[int, float]]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.train.generate import generate_greedy

    ckpts = sorted((p for p in (run / "checkpoints").glob("checkpoint-*") if p.name[11:].isdigit()),
                   key=lambda p: int(p.name[11:]))
    tok = AutoTokenizer.from_pretrained(str(run / "adapter"))
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    prompts = [[{"role": "user", "content": q}] for q, _, _ in asked]
    out = [(0, _recall(generate_greedy(base, tok, prompts), asked))]
    for ckpt in [*ckpts, run / "adapter"]:  # the last: the adapter the run kept (the best check's), as step -1
        m: Any = PeftModel.from_pretrained(base, str(ckpt))
        step = int(ckpt.name[11:]) if ckpt.name.startswith("checkpoint-") else -1
        answers = generate_greedy(m, tok, prompts)
        out.append((step, _recall(answers, asked)))
        base = m.unload()
    if show:  # the kept adapter's answers
        for (q, fact, _), o in zip(asked, answers, strict=True):
            print(f"{'OK ' if holds(o, fact) else 'MISS'} {q} [{fact}] -> {o[:100]!r}")
    return out


def train_recipe(root: Path, name: str, settings: TrainSettings) -> tuple[Path, Any, float]:
    """Train one recipe in its own run folder under ``root``: (run folder, result, wall seconds)."""
    run = root / name.split()[0].strip("'")
    t0 = time.perf_counter()
    result = run_training(TrainRequest(run_dir=run, settings=settings))
    wall = time.perf_counter() - t0
    if result.status != "done":
        raise SystemExit(f"{name}: {result.message}")
    return run, result, wall


def holds(answer: str, fact: str) -> bool:
    """The fact is in the answer as itself: "4" is not found in "42℃", "6" not in "60分钟"."""
    lead = r"(?<![\d.])" if fact[:1].isdigit() else ""
    tail = r"(?![\d.]?\d)" if fact[-1:].isdigit() else ""
    return re.search(lead + re.escape(fact.casefold()) + tail, answer.casefold()) is not None


def _recall(outputs: list[str], asked: list[tuple[str, str, str]]) -> float:
    return sum(holds(o, fact) for o, (_, fact, _) in zip(outputs, asked, strict=True)) / len(asked)


def _recall_by_lang(outputs: list[str], asked: list[tuple[str, str, str]]) -> dict[str, float]:
    out = {}
    for lang in sorted({a[2] for a in asked}):
        pairs = [(o, a) for o, a in zip(outputs, asked, strict=True) if a[2] == lang]
        out[lang] = sum(holds(o, fact) for o, (_, fact, _) in pairs) / len(pairs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lang", choices=["zh", "en"], default="zh")
    ap.add_argument("--grounded", action="store_true", help="answers from the documents (bench/grounded.py): "
                    "--doc SET [--faq DOMAIN] through the default CLI path, then `tunepilot ask` four ways")
    ap.add_argument("--keep", help="--grounded: work in this folder and keep it")
    ap.add_argument("--ask-again", action="store_true",
                    help="--grounded --keep: the run in the folder is trained already: rebuild the data, ask again")
    ap.add_argument("--faq", choices=["default", "clinic", "rental", "driving"], default="default",
                    help="which FAQ: the project's own (per --lang), or a Chinese one of another domain")
    ap.add_argument("--every", type=int, default=15, help="steps between measured checkpoints")
    ap.add_argument("--doc", choices=["dev", "held", "fresh", "unseen"], help="prose manuals instead of an FAQ (recall per language)")
    ap.add_argument("--only", choices=["default", "seeds"], help="train one recipe only")
    ap.add_argument("--doc-lang", choices=["both", "zh", "en"], default="both", help="--doc: one manual only")
    ap.add_argument("--show", action="store_true", help="print each question and the final answer")
    ap.add_argument("--model", help="the model to tune (demo, gemma, a path); default: the planner's choice for "
                    "the data, as for a person who names none")
    ap.add_argument("--with-text", action="store_true",
                    help="--doc: train the manuals' whole sections beside the fact questions (QA + document text)")
    args = ap.parse_args()
    if args.grounded:
        return grounded_main(args)
    if args.doc:
        if args.with_text:
            import tools.data.facts

            tools.data.facts.WHOLE_SECTIONS = True
        return doc_main(args)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, entries = dataset(args.lang, root, args.faq)
        asked = faq.asked(entries)
        for name, settings in recipes(data, args.every, args.model).items():
            if args.only and not name.startswith("tunepilot" if args.only == "default" else "seeds"):
                continue
            run, result, wall = train_recipe(root, name, settings)
            curve = recall_by_step(run, settings.model, asked, args.show)
            checks = [e for e in read_events(run) if e.kind == "metric" and "known" in e.data]
            if checks:
                print(f"{name}: learning check " + " → ".join(f"{e.data['known']}/{e.data['asked']}" for e in checks)
                      + f" (steps {', '.join(str(e.step) for e in checks)})")
            s_per_step = wall / max(1, result.steps)
            first = next(((s, r) for s, r in curve if s >= 0 and r >= TARGET), None)
            stop = next((e.data.get("stop_reason") for e in read_events(run) if e.data.get("stop_reason")), None)
            rows.append({"name": name, "steps": result.steps, "wall": wall, "curve": curve, "first": first,
                         "s_per_step": s_per_step, "stop": stop, "settings": settings})
    print(f"\nFact recall on {len(asked)} questions asked in other words ({args.faq} {args.lang} FAQ, {len(entries)} entries), "
          f"{args.model or 'the default'} model, one run; baseline = seeds' recipe")
    for r in rows:
        s = r["settings"]
        print(f"\n{r['name']}: lr {s.learning_rate:g}, {s.num_epochs:g} epochs, rewordings {s.paraphrases}, "
              f"learning check {'on' if s.learning_check else 'off'}; {r['steps']} steps in {r['wall']:.0f} s"
              + (f" (stopped early: {r['stop']})" if r["stop"] else ""))
        print("  step  " + " ".join(f"{st:>5d}" if st >= 0 else " kept" for st, _ in r["curve"]))
        print("  recall" + " ".join(f"{rc:>5.0%}" for _, rc in r["curve"]))
    print(f"\n| recipe | steps run | final recall | steps to {TARGET:.0%} | time to {TARGET:.0%} | final vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    base_final = rows[0]["curve"][-1][1]
    for r in rows:
        final = r["curve"][-1][1]
        to = f"{r['first'][0]}" if r["first"] else "not reached"
        t_to = f"{r['first'][0] * r['s_per_step']:.0f} s" if r["first"] else "—"
        ratio = f"{final / base_final:.1f}×" if base_final else "∞" if final else "—"
        print(f"| {r['name']} | {r['steps']} | {final:.0%} | {to} | {t_to} | {ratio} |")


def grounded_main(args: argparse.Namespace) -> None:
    from bench import grounded

    faq_name = args.faq if args.faq != "default" else None
    if args.keep:
        root = Path(args.keep)
        root.mkdir(parents=True, exist_ok=True)
        grounded.report(grounded.run(args.doc or "unseen", faq_name, root, args.ask_again), args.show)
        return
    with tempfile.TemporaryDirectory() as tmp:
        grounded.report(grounded.run(args.doc or "unseen", faq_name, Path(tmp)), args.show)


def doc_main(args: argparse.Namespace) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.train.generate import generate_greedy

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, asked = doc_dataset(args.doc, root, args.doc_lang)
        rows = []
        for name, settings in recipes(data, args.every, args.model).items():
            if args.only and not name.startswith("tunepilot" if args.only == "default" else "seeds"):
                continue
            run, result, wall = train_recipe(root, name, settings)
            ckpts = sorted((p for p in (run / "checkpoints").glob("checkpoint-*") if p.name[11:].isdigit()),
                           key=lambda p: int(p.name[11:]))
            tok = AutoTokenizer.from_pretrained(str(run / "adapter"))
            base = AutoModelForCausalLM.from_pretrained(settings.model, dtype=torch.float32)
            prompts = [[{"role": "user", "content": q}] for q, _, _ in asked]
            curve = [(0, _recall_by_lang(generate_greedy(base, tok, prompts, max_new_tokens=128), asked))]
            last: list[str] = []
            for ckpt in ckpts + [run / "adapter"]:
                m: Any = PeftModel.from_pretrained(base, str(ckpt))
                last = generate_greedy(m, tok, prompts, max_new_tokens=128)
                step = int(ckpt.name[11:]) if ckpt.name.startswith("checkpoint-") else result.steps
                curve.append((step if ckpt.name != "adapter" else -1, _recall_by_lang(last, asked)))
                base = m.unload()
            stop = next((e.data.get("stop_reason") for e in read_events(run) if e.data.get("stop_reason")), None)
            checks = [e.message for e in read_events(run) if "knows" in (e.message or "")]
            rows.append((name, result.steps, wall, curve, stop, checks))
            if args.show:
                for (q, fact, lang), o in zip(asked, last, strict=True):
                    print(f"{'OK ' if holds(o, fact) else 'MISS'} [{lang}] {q} -> {o[:120]!r}")
    print(f"\nManual facts ({args.doc}): {len(asked)} customer questions in other words, demo model, greedy; "
          "recall per language at each checkpoint (step 0 = base, 'kept' = the adapter training kept)")
    for name, steps, wall, curve, stop, checks in rows:
        print(f"\n{name}: {steps} steps in {wall:.0f} s" + (f" (stopped: {stop})" if stop else ""))
        for lang in sorted(curve[0][1]):
            print(f"  {lang} " + " ".join(f"{'kept' if st < 0 else st:>5}:{r[lang]:>4.0%}" for st, r in curve))
        if checks:
            print("  learning check: " + " | ".join(checks[-4:]))


if __name__ == "__main__":
    main()
