"""Serve: a trained run behind vLLM's OpenAI-compatible server, and chat with it (``tunepilot deploy``,
``tunepilot chat``). record.py is what ``serve.json`` holds; start at :func:`tools.serve.deploy.deploy_model`."""
