"""`visdom-chaos patches export`: the series as `git format-patch` mails that `git am`
applies to an upstream-shaped Visdom checkout (the release's `py/` plus `js/` laid out
from its source map), giving the same tree as `patches apply`. Real git, no network."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from visdom_chaos.cli import UserError
from visdom_chaos.commands import patches as commands
from visdom_chaos.patches import apply as patch_apply
from visdom_chaos.patches import export as patch_export
from visdom_chaos.targets.sourcemap import layout_sources

GIT_TIMEOUT_S = 60


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    # no user or system config: the test sees the same git everywhere
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Upstream",
        "GIT_AUTHOR_EMAIL": "upstream@example.invalid",
        "GIT_COMMITTER_NAME": "Maintainer",
        "GIT_COMMITTER_EMAIL": "maintainer@example.invalid",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done


def tree_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.fixture(scope="module")
def upstream_trees(tmp_path_factory):
    """Per version, a directory shaped like fossasia/visdom at the release: py/visdom/ (the
    released package, without the assets Visdom downloads at first start) and js/."""
    from conftest import built_or_skip

    trees: dict[str, Path] = {}

    def get(version: str) -> Path:
        if version not in trees:
            built = built_or_skip(version, "stock")
            package = Path(built.package_dir)
            downloaded = {package / a for a in built.assets}
            root = tmp_path_factory.mktemp(f"upstream-{version}")
            shutil.copytree(
                package,
                root / "py" / "visdom",
                ignore=lambda d, names: [
                    n
                    for n in names
                    if n in ("__pycache__",) or n.endswith(".pyc") or Path(d) / n in downloaded
                ],
            )
            layout_sources(package / "static" / "js" / "main.js.map", root / "js")
            trees[version] = root
        return trees[version]

    return get


def first_context_line(patch: Path, target: str) -> str:
    """The first unchanged code line of the first hunk of `patch` on `target`."""
    section = patch.read_text().split(f"diff --git a/{target} b/{target}\n", 1)[1]
    hunk = section.split("\n@@ ", 1)[1]
    return next(ln[1:] for ln in hunk.split("\n")[1:] if ln.startswith(" ") and len(ln.strip()) > 3)


def checkout(upstream: Path, where: Path) -> Path:
    """A fresh git repository holding `upstream` as its one commit, like a release tag."""
    repo = where / "visdom"
    shutil.copytree(upstream, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release")
    return repo


@pytest.mark.visdom
def test_git_am_applies_the_export_like_patches_apply(version, upstream_trees, tmp_path):
    upstream = upstream_trees(version)
    assert (upstream / "js" / "main.js").is_file()
    series = patch_apply.series(version)
    out = tmp_path / "export"
    assert run_cli(["patches", "export", "--version", version, "--into", str(out)]) == 0
    mails = sorted(out.glob("*.patch"))
    assert [m.name[:4] for m in mails] == [f"{n:04d}" for n in range(1, len(series) + 1)]

    repo = checkout(upstream, tmp_path)
    am = git(repo, "am", *map(str, mails), check=False)
    assert am.returncode == 0, am.stdout + am.stderr
    assert am.stdout.count("Applying: ") == len(series)

    messages = git(
        repo, "log", "--reverse", "--format=%an <%ae>%n%B%x00", f"HEAD~{len(series)}..HEAD"
    )
    commits = [c.strip() for c in messages.stdout.split("\0") if c.strip()]
    assert len(commits) == len(series)
    for commit, path in zip(commits, series, strict=True):
        header = path.read_text().split("\ndiff --git ", 1)[0]
        finding = re.search(r"^Finding: (.*)$", header, re.M)
        scenario = re.search(r"^Scenario: (.*)$", header, re.M)
        assert finding and scenario, path.name
        assert commit.startswith(patch_export.DEFAULT_AUTHOR), commit[:80]
        assert f"Finding: {finding.group(1)}" in commit, path.name
        assert f"Scenario: {scenario.group(1)}" in commit, path.name
        assert "Expected after:" in commit and f"patches/{version}/{path.name}" in commit
    # no patch left anything uncommitted or any file behind
    assert git(repo, "status", "--porcelain").stdout == ""
    # every pre-image blob an `index` line names is in the history: `git am -3` can
    # rebuild the base on a branch that moved past the release
    for mail in mails:
        for before, after in re.findall(
            r"^index ([0-9a-f]{40})\.\.([0-9a-f]{40})", mail.read_text(), re.M
        ):
            for blob in (before, after):
                if set(blob) != {"0"}:
                    assert git(repo, "cat-file", "-e", blob, check=False).returncode == 0, (
                        mail.name,
                        blob,
                    )

    applied = tmp_path / "applied"
    shutil.copytree(upstream, applied)
    assert patch_apply.apply_series(version, applied) == [p.name for p in series]
    am_tree, apply_tree = tree_files(repo), tree_files(applied)
    assert am_tree.keys() == apply_tree.keys()
    differ = [name for name in am_tree if am_tree[name] != apply_tree[name]]
    assert differ == []
    assert "def publish" in am_tree["py/visdom/server/session.py"].decode()


@pytest.mark.visdom
def test_a_patch_that_no_longer_applies_stops_git_am_and_check_names_it(
    version, upstream_trees, tmp_path, capsys
):
    repo = checkout(upstream_trees(version), tmp_path)
    target = "py/visdom/server/handlers/socket_handlers.py"
    series = patch_apply.series(version)
    first = next(n for n, p in enumerate(series, 1) if target in patch_apply.info(p).files)
    # upstream edits a line the first hunk on the socket handlers needs as context
    context = first_context_line(series[first - 1], target)
    handlers = repo / target
    lines = handlers.read_text().split("\n")
    assert context in lines
    handlers.write_text("\n".join(ln + "  # edited" if ln == context else ln for ln in lines))
    git(repo, "commit", "-q", "-am", "upstream edits the socket handlers")
    out = tmp_path / "export"
    mails = patch_export.export_series(version, out)

    am = git(repo, "am", *map(str, mails), check=False)
    assert am.returncode != 0
    said = am.stdout + am.stderr
    subject = patch_export.format_patch(series[first - 1], version, first, len(series))
    subject_line = re.search(r"^Subject: \[PATCH \S+\] (.*)$", subject, re.M)
    assert subject_line is not None
    assert f"Patch failed at {first:04d} {subject_line.group(1)}" in said, said
    assert target in said
    git(repo, "am", "--abort")
    capsys.readouterr()

    # the check against the checkout names the series patch and the file
    assert run_cli(["patches", "check", "--version", version, "--into", str(repo)]) == 1
    reported = capsys.readouterr().out
    assert f"patch {series[first - 1].name} does not apply" in reported, reported
    assert f"(file {target})" in reported, reported


# --- without a target: the mail format, the refusals ---------------------------------


def test_mails_are_format_patch_shaped_with_the_diffstat_git_computes(version, tmp_path):
    series = patch_apply.series(version)
    mails = patch_export.export_series(version, tmp_path / "out")
    assert len(mails) == len(series)
    width = len(str(len(series)))
    for n, (mail, path) in enumerate(zip(mails, series, strict=True), start=1):
        text = mail.read_text()
        assert re.match(
            r"From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\nFrom: .+ <.+@.+>\nDate: ", text
        )
        assert re.search(rf"^Subject: \[PATCH {n:0{width}d}/{len(series)}\] \S", text, re.M)
        # the series' "visdom V: " subject prefix is dropped: the branch says the version
        assert not re.search(rf"^Subject: .*visdom {re.escape(version)}:", text, re.M)
        assert text.endswith("\n-- \nvisdom-chaos patches export\n\n")
        assert "Part of visdom-chaos patches/" not in text
        message, _, rest = text.partition("\n---\n")
        assert "Finding:" in message and "Scenario:" in message and "Expected after:" in message
        stat, _, diff = rest.partition("\n\ndiff --git ")
        numstat = subprocess.run(
            ["git", "apply", "--numstat", "-"],
            input="diff --git " + diff,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        ).stdout
        expected = {
            ln.split("\t")[2]: int(ln.split("\t")[0]) + int(ln.split("\t")[1])
            for ln in numstat.splitlines()
        }
        got = {m.group(1): int(m.group(2)) for m in re.finditer(r"^ (\S+) +\| +(\d+) ", stat, re.M)}
        assert got == expected, path.name
        assert (
            diff.rstrip("\n").removesuffix("\n-- \nvisdom-chaos patches export") in path.read_text()
        )


def test_unknown_version_lists_the_known_ones(tmp_path):
    with pytest.raises(
        UserError, match=r"no patch series for Visdom '9\.9' \(known: 0\.2\.4, 0\.3\.0"
    ):
        run_cli(["patches", "export", "--version", "9.9", "--into", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_a_non_empty_dir_is_refused_unless_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "0099-stale.patch").write_text("from an earlier, longer export")
    with pytest.raises(UserError, match="is not empty .*--force"):
        run_cli(["patches", "export", "--version", "0.3.0", "--into", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["0099-stale.patch", "notes.txt"]
    assert run_cli(["patches", "export", "--version", "0.3.0", "--into", str(out), "--force"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "0099-stale.patch" not in names and "notes.txt" in names
    assert len([n for n in names if n.endswith(".patch")]) == len(patch_apply.series("0.3.0"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is not a directory"):
        run_cli(["patches", "export", "--version", "0.3.0", "--into", str(tmp_path / "file")])
    with pytest.raises(UserError, match="cannot write the export into .*file/sub"):
        run_cli(
            ["patches", "export", "--version", "0.3.0", "--into", str(tmp_path / "file" / "sub")]
        )


def test_a_bad_author_is_refused(tmp_path):
    with pytest.raises(UserError, match="not of the form 'Name <email>'"):
        run_cli(
            [
                "patches",
                "export",
                "--version",
                "0.2.4",
                "--into",
                str(tmp_path / "o"),
                "--author",
                "nobody",
            ]
        )
    assert not (tmp_path / "o").exists()
    mails = patch_export.export_series(
        "0.2.4", tmp_path / "ok", author="Ada Lovelace <ada@example.org>"
    )
    assert "\nFrom: Ada Lovelace <ada@example.org>\n" in mails[0].read_text()


def test_a_patch_outside_the_upstream_layout_or_without_a_finding_is_refused(tmp_path):
    real = patch_apply.series("0.3.0")[0].read_text()
    site = tmp_path / "0001-site-packages.patch"
    site.write_text(
        real.replace(" a/py/visdom/", " a/visdom/").replace(" b/py/visdom/", " b/visdom/")
    )
    with pytest.raises(
        patch_apply.PatchError, match="touches visdom/server/.* not in the upstream layout"
    ):
        patch_export.format_patch(site, "0.3.0", 1, 1)
    bare = tmp_path / "0001-bare.patch"
    bare.write_text(re.sub(r"^Finding:", "Problem:", real, flags=re.M))
    with pytest.raises(patch_apply.PatchError, match="0001-bare.patch has no Finding"):
        patch_export.format_patch(bare, "0.3.0", 1, 1)
