"""The Hugging Face Hub side of pretrained folders: `hf:user/repo[@revision]` to a local snapshot (through
huggingface_hub's own cache, so HF_HOME / HF_HUB_CACHE, revisions and HF_HUB_OFFLINE=1 behave as in
every other Hub library), and a folder up to a repo (create_repo + upload_folder)."""

from __future__ import annotations

from pathlib import Path

from seqgen.core.errors import CheckpointError, ConfigError

PREFIX = "hf:"


def is_hub_id(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def parse(spec: str) -> tuple[str, str | None]:
    """'hf:user/repo@rev' -> ('user/repo', 'rev'); the revision is a branch, tag or commit."""
    repo, _, revision = spec[len(PREFIX):].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ConfigError(f"{spec!r} is not a Hub id: expected hf:user/repo or hf:user/repo@revision")
    return repo, revision or None


def snapshot(spec: str) -> Path:
    """The local folder of a Hub model (downloaded into the cache unless it is there; offline mode reads
    the cache only). Every failure is one line that says what to do."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo, revision = parse(spec)
    try:
        return Path(snapshot_download(repo_id=repo, revision=revision, repo_type="model"))
    except RevisionNotFoundError:
        raise CheckpointError(f"{spec}: the repository has no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise CheckpointError(f"{spec}: no such model repository (or it is private: log in with `hf auth login` "
                              f"or set HF_TOKEN)") from None
    except LocalEntryNotFoundError:
        raise CheckpointError(f"{spec}: not in the local Hub cache and the Hub cannot be reached (offline mode "
                              f"or no network); download it once while online, or point HF_HUB_CACHE at a "
                              f"cache that has it") from None
    except (OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{spec}: cannot fetch it from the Hub ({first})") from None


def push(folder, repo: str, private: bool = False, message: str | None = None) -> str:
    """Upload a pretrained (or transformers) folder to the model repo `repo` (created if needed); returns
    the commit URL. Credentials come from huggingface_hub (HF_TOKEN or `hf auth login`)."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if repo.startswith(PREFIX):
        repo = repo[len(PREFIX):]
    parse(PREFIX + repo)
    api = HfApi()
    try:
        api.create_repo(repo_id=repo, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="model",
                                 commit_message=message or f"Upload {folder.name} with seqgen")
    except (OSError, ValueError) as e:   # HfHubHTTPError is an OSError; no token is a ValueError / OSError
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"push_to_hub={repo}: {first}") from None
    return str(getattr(info, "commit_url", info))
