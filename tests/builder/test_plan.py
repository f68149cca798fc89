"""Planning: stages, ARG scoping, where variables expand, targets, graph edges, cycles."""

from __future__ import annotations

import pytest

from pallet.builder.plan import BaseImage, plan
from pallet.base.errors import PalletError
from pallet.grammar import parse

BASE_ID = "sha256:" + "ab" * 32


def _resolve(ref, span):
    if ref.startswith("missing"):
        raise PalletError(f"image {ref} not found locally", span=span)
    return BaseImage(id=BASE_ID, config={"architecture": "amd64", "os": "linux",
                                         "config": {"Env": ["PATH=/bin", "HOME=/root"],
                                                    "Cmd": ["sh"]}})


def _plan(text, *, build_args=None, target=None, platform=None):
    return plan(parse(text, "Dockerfile"), build_args=build_args or {}, target=target,
                resolve_base=_resolve, platform=platform)


def _steps(built):
    return {step.id: step for stage in built.stages for step in stage.steps}


def test_meta_args_only_in_from_and_inherited_when_redeclared():
    built = _plan("ARG TAG=1.0\nARG OTHER=x\nFROM img:${TAG}\nARG TAG\n"
                  "ENV SEEN=$TAG NOT=$OTHER\n")
    steps = _steps(built)
    assert steps["0.0"].key_desc["base"] == "img:1.0"
    env = steps["0.2"].config["Env"]
    assert "SEEN=1.0" in env and "NOT=" in env


def test_build_args_override_and_are_visible_only_after_their_arg():
    built = _plan("FROM img\nENV BEFORE=$V\nARG V=default\nENV AFTER=$V\n",
                  build_args={"V": "cli"})
    env = _steps(built)["0.3"].config["Env"]
    assert "BEFORE=" in env and "AFTER=cli" in env


def test_env_wins_over_arg_and_run_sees_both_unexpanded():
    built = _plan("FROM img\nARG X=arg\nENV X=env\nARG Y=y\nRUN echo $X $Y\n")
    run = _steps(built)["0.4"]
    assert run.run.argv == ("/bin/sh", "-c", "echo $X $Y")
    assert "X=env" in run.run.env and "Y=y" in run.run.env
    assert run.history["created_by"] == "RUN |2 X=env Y=y /bin/sh -c echo $X $Y # buildkit"


def test_no_expansion_in_cmd_entrypoint_shell_but_in_workdir_user_copy():
    built = _plan("FROM img\nENV D=/srv U=app\nWORKDIR $D/x\nUSER $U\nCOPY $D /$U/\n"
                  "CMD echo $D\nENTRYPOINT [\"$D\"]\n")
    steps = _steps(built)
    assert steps["0.2"].workdir == "/srv/x"
    assert steps["0.4"].config["User"] == "app"  # a layer step carries the config
    assert steps["0.4"].copy.sources == ("/srv",) and steps["0.4"].copy.dest == "/app/"
    assert steps["0.5"].config is None  # a metadata step in between carries none
    # ENTRYPOINT after CMD in the same stage keeps that CMD
    assert steps["0.6"].config["Entrypoint"] == ["$D"]
    assert steps["0.6"].config["Cmd"] == ["/bin/sh", "-c", "echo $D"]


def test_entrypoint_resets_the_inherited_cmd():
    built = _plan("FROM img\nENTRYPOINT [\"/bin/app\"]\n")
    assert "Cmd" not in _steps(built)["0.1"].config


def test_unused_stages_are_dropped_and_target_selects():
    text = ("FROM img AS base\nRUN a\nFROM missing-image AS unused\nRUN b\n"
            "FROM base AS final\nRUN c\n")
    built = _plan(text)
    assert [s.index for s in built.stages] == [0, 2]
    target = _plan(text, target="base")
    assert [s.index for s in target.stages] == [0]
    with pytest.raises(PalletError, match="failed to reach build target nope"):
        _plan(text, target="nope")


def test_copy_from_adds_an_edge_and_index_works():
    built = _plan("FROM img AS a\nRUN x\nFROM img\nCOPY --from=0 /x /y\nCOPY --from=a /x /z\n")
    assert ("0.1", "1.1") in built.edges and ("0.1", "1.2") in built.edges
    assert _steps(built)["1.1"].copy.from_stage == 0


def test_stage_dependencies_are_what_the_build_orders_stages_by():
    built = _plan("FROM img AS a\nRUN x\nFROM img AS b\nRUN y\nFROM a AS c\n"
                  "RUN --mount=from=b,target=/b z\nFROM img\nCOPY --from=c /x /y\n")
    assert built.stage_dependencies() == {0: set(), 1: set(), 2: {0, 1}, 3: {2}}


def test_cycles_are_rejected_with_spans():
    text = "FROM img AS a\nCOPY --from=b /x /x\nFROM img AS b\nCOPY --from=a /y /y\n"
    with pytest.raises(PalletError, match="circular dependency") as caught:
        _plan(text, target="a")
    assert caught.value.span is not None and "Dockerfile:" in caught.value.message


def test_bad_stage_index_and_variable_in_from_flag():
    with pytest.raises(PalletError, match="invalid stage index 5"):
        _plan("FROM img\nCOPY --from=5 /a /b\n")
    with pytest.raises(PalletError, match="--from does not support variable"):
        _plan("FROM img\nARG S=x\nCOPY --from=$S /a /b\n")


def test_predefined_platform_args_are_global_only():
    built = _plan("FROM img\nENV A=$TARGETARCH\nARG TARGETARCH\nENV B=$TARGETARCH\n",
                  platform="linux/arm64")
    env = _steps(built)["0.3"].config["Env"]
    assert "A=" in env and "B=arm64" in env


def test_missing_base_image_error_has_the_from_span():
    with pytest.raises(PalletError, match="not found locally") as caught:
        _plan("FROM missing-thing\n")
    assert caught.value.span.line == 1


def test_run_mounts_expand_and_secrets_default_target():
    built = _plan("FROM img\nARG ID=pip\nRUN --mount=type=cache,target=/c,id=$ID "
                  "--mount=type=secret,id=tok true\n")
    run = _steps(built)["0.2"].run
    cache, secret = run.mounts
    assert (cache.type, cache.id, cache.target) == ("cache", "pip", "/c")
    assert secret.target == "/run/secrets/tok"


def test_metadata_history_lines_follow_buildkit():
    built = _plan("FROM img\nEXPOSE 80 53/udp\nVOLUME /data /logs\nSHELL [\"/bin/bash\", \"-c\"]\n"
                  "LABEL a=b\nSTOPSIGNAL SIGKILL\n")
    steps = _steps(built)
    assert steps["0.1"].history["created_by"] == "EXPOSE map[53/udp:{} 80/tcp:{}]"
    assert steps["0.2"].history["created_by"] == "VOLUME [/data /logs]"
    assert steps["0.3"].history["created_by"] == "SHELL [/bin/bash -c]"
    assert steps["0.5"].config["Labels"] == {"a": "b"}
    assert steps["0.5"].config["StopSignal"] == "SIGKILL"
    assert all(steps[i].history["empty_layer"] for i in ("0.1", "0.2", "0.3", "0.4", "0.5"))


def test_healthcheck_history_is_buildkits_percent_q_of_the_config():
    # BuildKit writes fmt.Sprintf("HEALTHCHECK %q", config): durations quoted, the retries int
    # as a quoted rune ('\n' for 10), seen in images BuildKit built.
    built = _plan("FROM img\nHEALTHCHECK --interval=1m --timeout=10s --retries=10 CMD kong health\n"
                  'HEALTHCHECK --retries=3 CMD ["true", "a b"]\nHEALTHCHECK NONE\n')
    steps = _steps(built)
    assert steps["0.1"].history["created_by"] == \
        'HEALTHCHECK &{["CMD-SHELL" "kong health"] "1m0s" "10s" "0s" "0s" \'\\n\'}'
    assert steps["0.2"].history["created_by"] == \
        'HEALTHCHECK &{["CMD" "true" "a b"] "0s" "0s" "0s" "0s" \'\\x03\'}'
    assert steps["0.3"].history["created_by"] == \
        'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" \'\\x00\'}'


def test_heredoc_run_with_shebang_becomes_a_script():
    built = _plan("FROM img\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\n")
    run = _steps(built)["0.1"].run
    assert run.script is not None and run.script.data.startswith("#!/bin/sh")
    assert run.argv == ("/bin/sh", "-c", "/dev/pipes/EOF")
