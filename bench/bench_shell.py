"""Speed of variable substitution and .dockerignore matching, next to peer tools.

Run: .venv/bin/python bench/bench_shell.py   (prints a Markdown table)

Peers measured in the same run:
* substitution: bash expanding the same kind of words in a loop (bash is what these
  rules imitate; its loop includes bash's own interpreter overhead, as ours includes Python's);
* ignore matching: `git check-ignore --stdin` over the same path list with the same patterns
  as a .gitignore (gitignore semantics are close to, not the same as, .dockerignore).
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import tempfile
import time
from pathlib import Path

from pallet.grammar.dockerignore import IgnoreRules
from pallet.grammar.substitution import expand_word, expand_words

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": "", "P": "a/b/c.tar.gz"}
WORDS = ["he${PWD:-000}xx", "${P##*/}", "${P%.*}", "${P//\\//-}", '"$SHELL" \'$PWD\' x$NULL']
IGNORE = """# typical project
.git
node_modules
**/*.pyc
**/__pycache__
build/
dist/
*.log
!important.log
docs/**/*.md
!docs/README.md
tmp?
**/.DS_Store
"""


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_substitution(rounds: int = 20_000) -> tuple[float, float]:
    def ours() -> None:
        for _ in range(rounds):
            for word in WORDS:
                expand_words(word, ENV) if " " in word else expand_word(word, ENV)

    script = ("PWD=/home; SHELL=bash; NULL=; P=a/b/c.tar.gz; "
              f"for ((i=0;i<{rounds};i++)); do "
              'a="he${PWD:-000}xx"; b="${P##*/}"; c="${P%.*}"; d="${P//\\//-}"; '
              "e=(\"$SHELL\" '$PWD' x$NULL); done")

    def bash() -> None:
        subprocess.run(["bash", "-c", script], check=True)

    count = rounds * len(WORDS)
    return count / _timed(ours), count / _timed(bash)


def _paths(count: int) -> list[str]:
    rng = random.Random(7)
    dirs = ["src", "src/app", "src/app/__pycache__", "node_modules/x/lib", "docs", "docs/api",
            "build", "tests", "tests/unit", "vendor/pkg"]
    names = ["a.py", "b.pyc", "README.md", "guide.md", "run.log", "important.log", "x.c",
             ".DS_Store", "tmp1", "data.json"]
    return [f"{rng.choice(dirs)}/d{i % 97}/{rng.choice(names)}" for i in range(count)]


def bench_ignore(count: int = 50_000) -> tuple[float, float]:
    paths = _paths(count)

    def ours() -> None:
        rules = IgnoreRules.parse(IGNORE)  # fresh rules: no warm directory memo
        for path in paths:
            rules.excludes(path)

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (repo / ".gitignore").write_text(IGNORE)
        stdin = "\n".join(paths).encode()

        def git() -> None:
            # exit 1 means "some path not ignored"; both 0 and 1 are a finished run
            result = subprocess.run(["git", "-C", str(repo), "check-ignore", "--stdin",
                                     "--no-index"], input=stdin, capture_output=True)
            assert result.returncode in (0, 1), result.stderr

        return count / _timed(ours), count / _timed(git)


def main() -> None:
    ours_sub, bash_sub = bench_substitution()
    ours_ign, git_ign = bench_ignore()
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| what | pallet | peer | peer tool |")
    print("|---|---|---|---|")
    print(f"| substitution, words/s | {ours_sub:,.0f} | {bash_sub:,.0f} | bash loop |")
    print(f"| .dockerignore, paths/s (13 patterns) | {ours_ign:,.0f} | {git_ign:,.0f} "
          "| git check-ignore --stdin |")


if __name__ == "__main__":
    main()
