"""Export a patch series as `git format-patch` files, for `git am` on Visdom's repository.

The series' patches are already against the upstream layout (`py/visdom/...`;
`js/...` for browser sources), so an export rewrites only the message: a
format-patch mail header, the patch's Finding / Scenario / Expected-after text as
the commit message, a diffstat, and the `-- ` trailer. Files are numbered
0001..N in series order, whatever the series' own file numbers are.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path

from . import apply

DEFAULT_AUTHOR = "visdom-chaos reference fixes <visdom-chaos@example.invalid>"
# top-level folders of fossasia/visdom a patch may touch
UPSTREAM_ROOTS = ("py/visdom/", "js/")
_NUMBERED = re.compile(r"^\d{4}-.*\.patch$")
_PART_OF = re.compile(r"^Part of visdom-chaos patches/.*?(?:\n\n|\Z)", re.M | re.S)
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def _split(path: Path) -> tuple[str, str, str]:
    """(subject, message body, diff) of one series patch."""
    text = path.read_text(encoding="utf-8")
    head, sep, diff = text.partition("\ndiff --git ")
    if not sep:
        raise apply.PatchError(f"{path.name} holds no `diff --git` section")
    lines = head.splitlines()
    if not lines or not lines[0].startswith("Subject: "):
        raise apply.PatchError(f"{path.name} does not start with a `Subject:` line")
    subject = lines[0][len("Subject: ") :].strip()
    # "visdom 0.3.0: ..." — the version is the branch the series is for, not the change
    subject = re.sub(r"^visdom \S+: ", "", subject)
    body = _PART_OF.sub("", "\n".join(lines[1:])).strip("\n")
    if not re.search(r"^Finding:", body, re.M) or not re.search(r"^Scenario:", body, re.M):
        raise apply.PatchError(f"{path.name} has no Finding: / Scenario: header")
    if re.search(r"^---$", body, re.M):
        raise apply.PatchError(f"{path.name}: a `---` line in the header would end the message")
    return subject, body, "diff --git " + diff


def _diffstat(name: str, diff: str) -> list[tuple[str, int, int]]:
    """Per file (path, added, removed), counting hunk lines so `+++`-like content is safe."""
    stats: list[tuple[str, int, int]] = []
    lines = diff.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^diff --git a/(\S+) b/(\S+)$", lines[i])
        if m is None:
            i += 1
            continue
        for side in m.groups():
            if not side.startswith(UPSTREAM_ROOTS) or ".." in side.split("/"):
                raise apply.PatchError(
                    f"{name} touches {side}, which is not in the upstream layout "
                    f"({', '.join(r + '...' for r in UPSTREAM_ROOTS)})"
                )
        added = removed = 0
        i += 1
        while i < len(lines) and not lines[i].startswith("diff --git "):
            hunk = _HUNK.match(lines[i])
            i += 1
            if hunk is None:
                continue
            old = int(hunk.group(1) or 1)
            new = int(hunk.group(2) or 1)
            while (old > 0 or new > 0) and i < len(lines):
                ln = lines[i]
                i += 1
                if ln.startswith("\\"):  # "\ No newline at end of file"
                    continue
                if ln.startswith("+"):
                    added, new = added + 1, new - 1
                elif ln.startswith("-"):
                    removed, old = removed + 1, old - 1
                else:
                    old, new = old - 1, new - 1
        stats.append((m.group(2), added, removed))
    return stats


def _format_stat(stats: list[tuple[str, int, int]]) -> str:
    width = max(len(p) for p, _, _ in stats)
    most = max(a + r for _, a, r in stats) or 1
    digits = len(str(most))
    # the graph keeps each row within 72 columns, as git's does within its width
    scale = min(1.0, max(10, 72 - width - digits - 5) / most)
    rows = []
    for path, a, r in stats:
        plus = max(1, round(a * scale)) if a else 0
        minus = max(1, round(r * scale)) if r else 0
        rows.append(f" {path:<{width}} | {a + r:>{digits}} {'+' * plus}{'-' * minus}")
    added = sum(a for _, a, _ in stats)
    removed = sum(r for _, _, r in stats)
    files = len(stats)
    summary = f" {files} file{'s' if files != 1 else ''} changed"
    if added:
        summary += f", {added} insertion{'s' if added != 1 else ''}(+)"
    if removed:
        summary += f", {removed} deletion{'s' if removed != 1 else ''}(-)"
    return "\n".join([*rows, summary])


def _origin(body: str, version: str, name: str) -> str:
    """Where the patch comes from, and the commands that show before and after."""
    text = (
        f"Reference fix from visdom-chaos (patches/{version}/{name}) for the\n"
        f"Visdom {version} release."
    )
    line = re.search(r"^Scenario: (.*)$", body, re.M)
    names = re.findall(r"[a-z0-9][a-z0-9-]*", line.group(1).split("(")[0]) if line else []
    if not names or names[0] == "none":
        return text
    runs = "\n".join(
        f"  visdom-chaos run --scenario {n} --target {version} --variant stock|patched"
        for n in names
    )
    return f"{text} The finding on stock, the result after on patched:\n{runs}"


def _header_value(value: str) -> str:
    """ASCII stays as written; anything else RFC 2047-encoded, as format-patch does."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def format_patch(
    path: Path,
    version: str,
    number: int,
    total: int,
    *,
    author: str = DEFAULT_AUTHOR,
    date: datetime | None = None,
) -> str:
    """One series patch as a `git format-patch` mail."""
    subject, body, diff = _split(path)
    stats = _diffstat(path.name, diff)
    if not stats:
        raise apply.PatchError(f"{path.name} changes no file")
    digits = len(str(total))
    when = email.utils.format_datetime(date or datetime.now(UTC))
    # format-patch puts the commit id here; the patch's own hash is as stable
    mail_id = hashlib.sha1(path.read_bytes()).hexdigest()
    origin = _origin(body, version, path.name)
    return (
        f"From {mail_id} Mon Sep 17 00:00:00 2001\n"
        f"From: {_header_value(author)}\n"
        f"Date: {when}\n"
        f"Subject: {_header_value(f'[PATCH {number:0{digits}d}/{total}] {subject}')}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        f"{body}\n"
        "\n"
        f"{origin}\n"
        "---\n"
        f"{_format_stat(stats)}\n"
        "\n"
        f"{diff.rstrip(chr(10))}\n"
        "-- \n"
        "visdom-chaos patches export\n"
        "\n"
    )


def _check_author(author: str) -> None:
    name, addr = email.utils.parseaddr(author)
    if not name or "@" not in addr or "\n" in author:
        raise apply.PatchError(f"author {author!r} is not of the form 'Name <email>'")


def export_series(
    version: str,
    into: Path,
    *,
    force: bool = False,
    author: str = DEFAULT_AUTHOR,
    date: datetime | None = None,
) -> list[Path]:
    """Write the series of `version` into `into` as 0001-*.patch ...; returns the files.

    An existing non-empty `into` is refused unless `force`; with it, earlier
    numbered exports there are removed so `git am into/*.patch` sees this series only.
    """
    into = Path(into)
    patches = apply.series(version)  # unknown version: PatchError listing the known ones
    _check_author(author)
    if into.exists() and not into.is_dir():
        raise apply.PatchError(f"{into} exists and is not a directory")
    if into.is_dir() and any(into.iterdir()):
        if not force:
            raise apply.PatchError(f"{into} is not empty (pass --force to overwrite the export)")
        for old in into.iterdir():
            if old.is_file() and _NUMBERED.match(old.name):
                old.unlink()
    # every mail is built before anything is written: a bad patch leaves no half export
    when = date or datetime.now(UTC)
    mails = [
        (
            f"{n:04d}-{re.sub(r'^[0-9]+-', '', p.stem)}.patch",
            format_patch(p, version, n, len(patches), author=author, date=when),
        )
        for n, p in enumerate(patches, start=1)
    ]
    written = []
    try:
        into.mkdir(parents=True, exist_ok=True)
        for name, mail in mails:
            out = into / name
            out.write_text(mail, encoding="utf-8")
            written.append(out)
    except OSError as exc:
        raise apply.PatchError(f"cannot write the export into {into}: {exc}") from None
    return written
