"""What every stage shares: errors a person can fix (errors), the event stream (events), the run folder and
the SQLite index of runs (runs), atomic JSON IO (jsonio), messages by code in every language (messages and
catalog/), where things live (paths), model names to local folders (models), prompt files (prompts), the run's
system prompt (system_prompt), text metrics (metrics), child processes (procs) and secrets kept out of logs
(secrets). It imports no stage."""
