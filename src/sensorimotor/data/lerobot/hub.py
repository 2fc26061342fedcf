"""A LeRobot dataset given as a local folder or a Hugging Face Hub repo id (``owner/name``)."""

from __future__ import annotations

from pathlib import Path

from sensorimotor.core.errors import UserError

HUB_REVISION = "v3.0"  # LeRobot tags v3.0 datasets with their codebase version


def resolve_dataset(path_or_repo: str, cache: str | Path | None = None) -> Path:
    """The local folder of ``path_or_repo``, downloading a repo id from the Hub when needed."""
    path = Path(path_or_repo).expanduser()
    if path.exists():
        return path
    parts = path_or_repo.split("/")
    if len(parts) != 2 or not all(parts) or path_or_repo.startswith((".", "/", "~")):
        raise UserError(
            f"{path_or_repo}: no such dataset folder, and not a Hub repo id of the form owner/name"
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise UserError(
            f"{path_or_repo}: not a local folder; downloading from the Hugging Face Hub needs "
            "huggingface_hub (pip install 'sensorimotor[lerobot]')"
        ) from None
    try:
        return Path(
            snapshot_download(
                path_or_repo,
                repo_type="dataset",
                revision=HUB_REVISION,
                local_dir=None if cache is None else Path(cache) / path_or_repo,
            )
        )
    except Exception as e:  # noqa: BLE001 - network, auth and not-found errors all end here
        raise UserError(
            f"could not download the dataset {path_or_repo} (revision {HUB_REVISION}) from the "
            f"Hugging Face Hub: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}. "
            "Offline? Download it elsewhere and pass its folder instead."
        ) from None
