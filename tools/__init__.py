"""tunepilot's tools: every real step of the journey, one folder per stage, in the order a run goes through them.

    core/      errors, events, the run folder and its index, JSON IO, messages by code, models, metrics
    data/      documents → a clean train/eval JSONL dataset          (start at data/convert.py)
    plan/      the machine and the model → a LoRA/QLoRA plan         (start at plan/planner.py)
    train/     the plan → a trained adapter, merged on request      (start at train/launch.py)
    serve/     the adapter or merged model behind vLLM, and chat    (start at serve/deploy.py)
    evaluate/  base vs fine-tuned on the same server → the table    (start at evaluate/before_after.py)

A stage imports only the stages before it and ``core``; nothing here imports ``agent/``, ``ui/`` or the
command line (``tests/test_architecture.py``). ARCHITECTURE.md draws the whole house.
"""
