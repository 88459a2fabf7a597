"""rlvr: which exploration technique helps GRPO-style RL with verifiable rewards, and why?

Heavy imports (torch, transformers, trl) are deferred to the modules that need them so that
`rlvr --help` and `rlvr list` stay fast.
"""

__version__ = "0.1.0"
