"""Train: a plan's settings → a trained adapter (``tunepilot train``, ``tunepilot merge``).

record.py holds the records (the settings in config.yaml, settings from the plan, the request and the result);
launch.py is the caller's side (the detached child, cancel, resume, the out-of-memory back-off; checkpoints.py,
slot.py); worker.py is the child process that runs TRL, its train() the recipe (model.py, trainer.py,
examples.py, replay.py, progress.py, learning_check.py, speed.py, archive.py, stopping.py, failure.py);
merge.py folds the adapter into the base model in a child process of its own.
Start at :func:`tools.train.launch.run_training`."""
