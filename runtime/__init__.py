"""The actual state: the engine adapter, observing a stack, primitive actions."""
