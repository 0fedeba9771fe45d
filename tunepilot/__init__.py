"""The ``tunepilot`` command line: the top of the house.

It sits above ``agent/`` (``tunepilot run``, ``tunepilot agent``), ``ui/`` (``tunepilot ui``) and the
stages of ``tools/`` (``data``, ``plan``, ``train``, ``merge``, ``deploy``, ``chat``, ``eval``): each verb
is registered by the module beside the code it drives (``tunepilot.cli._verb_modules``).
"""
