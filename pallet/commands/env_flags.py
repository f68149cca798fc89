"""The -e/--env and --env-file flags of run, create and exec, as the docker CLI reads them.

Apart from container_options.py so that `exec` (which has only these of run's flags) does not
import the run flags' parsers (mounts, networks, create requests).
"""

from __future__ import annotations

import os
from pathlib import Path

from pallet.base.errors import PalletError


def read_env_file(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise PalletError(f"open {path}: {error.strerror.lower()}", exit_code=125) from error
    except UnicodeDecodeError as error:
        raise PalletError(f"invalid env file ({path}): not UTF-8 text", exit_code=125) from error
    result = []
    for line in lines:
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name = line.split("=", 1)[0]
        if any(space in name for space in " \t\n\v\f\r"):
            raise PalletError(f"invalid env file ({path}): variable '{name}' contains whitespaces",
                              exit_code=125)
        if not name:
            raise PalletError(f"invalid env file ({path}): no variable name on line '{line}'",
                              exit_code=125)
        if "=" not in line:
            if line in os.environ:
                result.append(f"{line}={os.environ[line]}")
            continue
        result.append(line)
    return result


def expand_env(items: tuple[str, ...]) -> list[str]:
    result = []
    for item in items:
        if item.split("=", 1)[0] == "":
            raise PalletError(f'invalid argument "{item}" for "-e, --env" flag: invalid '
                              f"environment variable: {item}", exit_code=125)
        if "=" in item:
            result.append(item)
        elif item in os.environ:
            result.append(f"{item}={os.environ[item]}")  # -e NAME passes the caller's value
    return result
