"""visdom-chaos: load testing and chaos diagnosis for Visdom's realtime transport."""

__version__ = "0.1.0"
