"""Plan: the machine (hardware) and the model (model_facts) → a LoRA/QLoRA plan with its reasons, in English
and Chinese (``tunepilot plan``). Start at :func:`tools.plan.planner.plan_training`."""
