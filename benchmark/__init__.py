"""The benchmark scripts (``python benchmark/<script>.py``); what they share: ``benchmark.lib``."""
