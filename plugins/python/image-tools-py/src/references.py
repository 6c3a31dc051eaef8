"""Image references: pure Python, no bindings, so the tests run it on the host's CPython."""

import re

_REPO = re.compile(r"[a-z0-9/._:-]+")
_TAG = re.compile(r"[A-Za-z0-9._-]+")


def split_reference(reference: str) -> tuple[str, str]:
    """Split `team/web:1` into (`team/web`, `1`); the tag is `latest` when there is none.

    Raises ValueError with a message for the user when the reference is not a valid
    repository and tag.
    """
    reference = reference.strip()
    if "@" in reference:
        raise ValueError(
            f"tag `{reference}` is a digest: give a repository and tag, such as `team/web:1`"
        )
    # A colon after the last slash separates the tag; one before it belongs to a registry
    # host's port (`localhost:5000/web`).
    last_slash = reference.rfind("/") + 1
    colon = reference.rfind(":", last_slash)
    if colon == -1:
        repo, tag = reference, "latest"
    else:
        repo, tag = reference[:colon], reference[colon + 1 :]
    if (
        not repo
        or repo[0] in "/.-_"
        or repo.endswith("/")
        or not _REPO.fullmatch(repo)
    ):
        raise ValueError(
            f"tag `{reference}` has an invalid repository `{repo}`: use lowercase letters, "
            "digits, `.`, `-`, `_` and `/`, such as `team/web:1`"
        )
    if not tag or len(tag) > 128 or tag[0] in ".-" or not _TAG.fullmatch(tag):
        raise ValueError(
            f"tag `{reference}` has an invalid tag `{tag}`: use letters, digits, `.`, `-` and "
            "`_`, such as `team/web:1`"
        )
    return repo, tag
