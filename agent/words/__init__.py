"""The rule-based reading of a chat message, one concern per module; :mod:`agent.intent` puts them into a Goal."""
