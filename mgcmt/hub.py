"""Hub helpers: export the code beside the weights (`auto_map`, for `trust_remote_code=True`), and push a run.

`enable_remote_code()` registers MGCMT's config, model and processor for their Auto classes, so that
`save_pretrained` copies `configuration_mgcmt.py`, `modeling_mgcmt.py`, `processing.py` and the modules they
import into the checkpoint and writes `auto_map`. A user without mgcmt installed then loads it with
`AutoModelForTokenClassification.from_pretrained(repo, trust_remote_code=True)` (pin `revision=`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

# What a run's output folder holds that does not belong on the Hub.
UPLOAD_IGNORE = ["checkpoint-*", "checkpoint-*/**", "features/**", "smoke_assets/**", "runs/**", "*.tmp",
                 "training_args.bin", ".run_mner.lock", "run_arguments.json"]


def enable_remote_code() -> None:
    """Register the classes for their Auto classes: `save_pretrained` then writes `auto_map` and copies the code."""
    from .configuration_mgcmt import MGCMTConfig
    from .modeling_mgcmt import MGCMTForTokenClassification
    from .processing import MGCMTProcessor

    MGCMTConfig.register_for_auto_class()
    MGCMTForTokenClassification.register_for_auto_class("AutoModelForTokenClassification")
    MGCMTProcessor.register_for_auto_class("AutoProcessor")


def push_run_to_hub(output_dir: str | os.PathLike, repo_id: str, token: str | None = None, private: bool | None = None,
                    commit_message: str = "Upload MGCMT model, processor and card", api=None) -> str:
    """Upload a run's output folder (model, processor, code, card `README.md`) to the Hub repository `repo_id`.

    Checkpoints, cached features and smoke assets stay local (`UPLOAD_IGNORE`). Returns the commit URL.
    """
    from huggingface_hub import HfApi

    output_dir = Path(output_dir)
    for required in ("config.json", "model.safetensors", "README.md"):
        if not (output_dir / required).is_file():
            raise FileNotFoundError(f"{output_dir} has no {required}: train (and write the card) before pushing.")
    api = api or HfApi(token=token)
    repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    repo_id = getattr(repo, "repo_id", repo_id)
    commit = api.upload_folder(repo_id=repo_id, folder_path=str(output_dir), commit_message=commit_message,
                               ignore_patterns=UPLOAD_IGNORE, repo_type="model")
    logger.info("pushed %s to %s", output_dir, repo_id)
    return str(getattr(commit, "commit_url", commit))


__all__ = ["enable_remote_code", "push_run_to_hub", "UPLOAD_IGNORE"]
