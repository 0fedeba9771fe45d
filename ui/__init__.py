"""The Gradio page (``tunepilot ui``): one concern per module, assembled in ``ui/app.py``."""
