"""Test setup: never touch the network (an accidental hub id fails fast instead of retrying)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
