"""`hostform agent`: keeps the stacks of git repositories deployed (docs/agent.md).

Imported only for the agent command: the CLI's other commands never load it (tests/unit/test_startup.py).
"""
