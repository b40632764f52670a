import os

# Tests never touch the network, and use a private tree cache so they never see stale files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GTLEARN_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "gtlearn-test"))
