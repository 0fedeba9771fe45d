"""Train: a plan's settings → a trained adapter (``tunepilot train``, ``tunepilot merge``).

launch.py is the caller's side (settings from the plan, the detached child, cancel, resume; checkpoints.py,
slot.py); worker.py is the child process that runs TRL, its train() the recipe (model.py, trainer.py,
examples.py, replay.py, progress.py, learning_check.py, speed.py, archive.py, stopping.py, failure.py);
merge.py folds the adapter into the base model in a child process of its own.
Start at :func:`tools.train.launch.run_training`."""
