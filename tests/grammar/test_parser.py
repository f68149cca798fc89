"""The typed AST: one class per instruction, fields unexpanded, spans and sources kept."""

from __future__ import annotations

import pytest

from pallet.base.errors import PalletError
from pallet.grammar import ast as A
from pallet.grammar import dump, parse


def only(text: str) -> A.Instruction:
    """The single instruction after the FROM line of ``text``."""
    bf = parse("FROM scratch\n" + text)
    assert len(bf.stages) == 1 and len(bf.stages[0].instructions) == 1
    return bf.stages[0].instructions[0]


def test_buildfile_has_directives_meta_args_and_stages():
    bf = parse("# syntax=docker/dockerfile:1\nARG V=1 OTHER\nFROM alpine:${V} AS Base\n"
               "RUN true\nFROM base\nCMD x\n", path="ctx/Dockerfile")
    assert bf.path == "ctx/Dockerfile"
    assert bf.directive("syntax") == "docker/dockerfile:1"
    assert [p for a in bf.meta_args for p in a.pairs] == [A.ArgPair("V", "1"),
                                                         A.ArgPair("OTHER", None)]
    first, second = bf.stages
    assert (first.name, first.base, first.index) == ("base", "alpine:${V}", 0)
    assert (second.name, second.base, second.index) == (None, "base", 1)
    assert isinstance(first.instructions[0], A.Run)
    assert first.span.line == 3 and first.span.end_line == 4
    assert bf.stage("base") is first and bf.stage(1) is second


def test_from_platform_and_name():
    bf = parse("FROM --platform=linux/arm64 busybox AS tools\n")
    stage = bf.stages[0]
    assert stage.platform == "linux/arm64"
    assert stage.from_.image == "busybox" and stage.from_.name == "tools"


def test_keywords_are_case_insensitive_and_kept_as_written():
    run = only("rUn echo hi\n")
    assert isinstance(run, A.Run)
    assert run.node.keyword == "rUn" and run.keyword == "RUN"
    assert run.command == A.Command(exec_form=False, args=("echo hi",))


def test_run_exec_and_shell_forms():
    assert only('RUN ["echo", "a b"]\n').command == A.Command(True, ("echo", "a b"))
    assert only("RUN echo $HOME 'x'\n").command == A.Command(False, ("echo $HOME 'x'",))


def test_malformed_json_falls_back_to_shell_form_like_docker():
    assert only('CMD ["echo", "unterminated]\n').command == A.Command(
        False, ('["echo", "unterminated]',))
    assert only("CMD ['single', 'quotes']\n").command.exec_form is False


def test_json_array_with_non_string_is_an_error():
    with pytest.raises(PalletError, match="strings only"):
        parse('FROM scratch\nCMD ["echo", 1]\n')


def test_run_mounts_are_parsed_with_defaults():
    run = only("RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1 "
               "--mount=type=secret,id=tok,env=TOKEN,required "
               "--mount=type=bind,from=build,source=/out,target=/in,rw "
               "--mount=type=tmpfs,target=/tmp,size=64m --mount=type=ssh "
               "--mount=target=/src --network=none --security=insecure make\n")
    cache, secret, bind, tmpfs, ssh, default = run.mounts
    assert (cache.type, cache.target, cache.id, cache.sharing, cache.mode, cache.uid,
            cache.readonly) == ("cache", "/root/.cache", "pip", "locked", "0755", "1", False)
    assert (secret.type, secret.id, secret.env, secret.required, secret.readonly) == (
        "secret", "tok", "TOKEN", True, True)
    assert (bind.from_, bind.source, bind.target, bind.readonly) == ("build", "/out", "/in", False)
    assert (tmpfs.size, tmpfs.readonly) == ("64m", False)
    assert ssh.type == "ssh" and ssh.readonly is True
    assert default.type == "bind" and default.target == "/src" and default.readonly is True
    assert run.network == "none" and run.security == "insecure"


@pytest.mark.parametrize("mount, message", [
    ("type=volume,target=/x", "unsupported mount type 'volume'"),
    ("type=cache,target=/x,sharing=everyone", "unsupported sharing value"),
    ("type=bind,target=/x,uid=0", "uid not allowed"),
    ("type=cache,target=/x,colour=red", "unexpected key 'colour'"),
    ("type=cache,target=/x,mode=999", "invalid value 999 for mode"),
    ("type=bind,target=/x,required", "unexpected key 'required'"),
    ("type=cache", "cache mount needs a target"),
    ("type=secret,id=a,from=b", "secret mount should not have a from"),
])
def test_bad_run_mounts_are_located_errors(mount, message):
    with pytest.raises(PalletError, match=message) as caught:
        parse(f"FROM scratch\nRUN --mount={mount} true\n")
    assert caught.value.span.line == 2 and caught.value.span.column == 5


def test_mount_type_typo_gets_a_suggestion():
    with pytest.raises(PalletError) as caught:
        parse("FROM scratch\nRUN --mount=type=cahce,target=/x true\n")
    assert caught.value.hint == "did you mean cache?"


def test_mount_values_with_variables_are_left_for_the_builder():
    run = only("RUN --mount=type=$T,target=$DIR,mode=$M true\n")
    assert (run.mounts[0].type, run.mounts[0].target, run.mounts[0].mode) == ("$T", "$DIR", "$M")


def test_copy_flags():
    copy = only("COPY --from=build --chown=app:app --chmod=0644 --link --parents "
                "--exclude=*.md --exclude=tmp/ a b /dest/\n")
    assert isinstance(copy, A.Copy)
    assert copy.sources == ("a", "b") and copy.dest == "/dest/"
    assert (copy.from_, copy.chown, copy.chmod, copy.link, copy.parents) == (
        "build", "app:app", "0644", True, True)
    assert copy.exclude == ("*.md", "tmp/")


def test_copy_json_form_and_bool_flag_false():
    copy = only('COPY --link=false ["a b", "/x y/"]\n')
    assert copy.sources == ("a b",) and copy.dest == "/x y/" and copy.exec_form
    assert copy.link is False


def test_add_flags():
    add = only("ADD --checksum=sha256:0123 --keep-git-dir=true --chown=1 --unpack=false "
               "https://example.com/repo.git /src\n")
    assert isinstance(add, A.Add)
    assert (add.checksum, add.keep_git_dir, add.chown, add.unpack) == (
        "sha256:0123", True, "1", False)
    assert add.sources == ("https://example.com/repo.git",) and add.dest == "/src"


def test_copy_needs_a_destination():
    with pytest.raises(PalletError, match="requires at least two arguments"):
        parse("FROM scratch\nCOPY onlyone\n")


def test_env_and_label_keep_quoting_for_the_builder():
    env = only('ENV A=1 B="two words" C=\'$x\' D=e\\ f\n')
    assert env.pairs == (A.KeyValue("A", "1"), A.KeyValue("B", '"two words"'),
                         A.KeyValue("C", "'$x'"), A.KeyValue("D", "e\\ f"))
    assert env.legacy_form is False
    legacy = only("ENV PATH /usr/bin:$PATH and more\n")
    assert legacy.pairs == (A.KeyValue("PATH", "/usr/bin:$PATH and more"),)
    assert legacy.legacy_form is True
    label = only('LABEL org.opencontainers.image.title="My app" version=1\n')
    assert isinstance(label, A.Label)
    assert label.pairs == (A.KeyValue("org.opencontainers.image.title", '"My app"'),
                           A.KeyValue("version", "1"))


def test_env_word_without_equals_is_an_error():
    with pytest.raises(PalletError, match="can't find = in"):
        parse("FROM scratch\nENV A=1 B\n")


def test_arg_pairs():
    arg = only('ARG A B=2 C="x y" D=\n')
    assert arg.pairs == (A.ArgPair("A", None), A.ArgPair("B", "2"), A.ArgPair("C", '"x y"'),
                         A.ArgPair("D", ""))


def test_simple_instructions():
    assert only("USER app:app\n").user == "app:app"
    assert only("WORKDIR /srv/$APP\n").path == "/srv/$APP"
    assert only("STOPSIGNAL SIGTERM\n").signal == "SIGTERM"
    assert only("MAINTAINER Jane <j@example.com>\n").name == "Jane <j@example.com>"
    assert only("EXPOSE 80 53/udp $PORT\n").ports == ("80", "53/udp", "$PORT")
    assert only('VOLUME ["/data", "/logs"]\n').paths == ("/data", "/logs")
    assert only("VOLUME /data /logs\n").paths == ("/data", "/logs")
    assert only('SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n').args == (
        "/bin/bash", "-o", "pipefail", "-c")
    assert only("ENTRYPOINT exec app\n").command == A.Command(False, ("exec app",))
    assert only("CMD []\n").command == A.Command(True, ())


def test_shell_needs_json_form():
    with pytest.raises(PalletError, match="SHELL requires the arguments to be in JSON form"):
        parse("FROM scratch\nSHELL /bin/bash -c\n")


@pytest.mark.parametrize("text", ["USER\n", "STOPSIGNAL\n", "WORKDIR\n"])
def test_exactly_one_argument(text):
    with pytest.raises(PalletError, match="requires exactly one argument"):
        parse("FROM scratch\n" + text)


def test_healthcheck_options_and_none():
    check = only("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s "
                 "--start-interval=1s --retries=3 CMD [\"curl\", \"-f\", \"http://x/\"]\n")
    assert isinstance(check, A.Healthcheck) and check.none is False
    assert check.command == A.Command(True, ("curl", "-f", "http://x/"))
    assert (check.interval, check.timeout, check.start_period, check.start_interval,
            check.retries) == (90 * 10**9, 5 * 10**8, 2 * 10**9, 10**9, 3)
    none = only("HEALTHCHECK NONE\n")
    assert none.none is True and none.command is None
    shell = only("HEALTHCHECK CMD curl -f http://x/ || exit 1\n")
    assert shell.command == A.Command(False, ("curl -f http://x/ || exit 1",))


@pytest.mark.parametrize("text, message", [
    ("HEALTHCHECK CONNECT TCP 7000\n", "Unknown type"),
    ("HEALTHCHECK CMD\n", "Missing command"),
    ("HEALTHCHECK NONE x\n", "takes no arguments"),
    ("HEALTHCHECK --interval=5 CMD true\n", "invalid duration"),
    ("HEALTHCHECK --timeout=10us CMD true\n", "cannot be less than 1ms"),
    ("HEALTHCHECK --retries=-1 CMD true\n", "non-negative integer"),
    ("HEALTHCHECK\n", "at least one argument"),
])
def test_healthcheck_errors(text, message):
    with pytest.raises(PalletError, match=message):
        parse("FROM scratch\n" + text)


def test_onbuild_trigger_is_typed():
    onbuild = only("ONBUILD COPY --chown=1 . /app\n")
    assert isinstance(onbuild, A.Onbuild)
    assert isinstance(onbuild.trigger, A.Copy) and onbuild.trigger.chown == "1"
    assert onbuild.expression == "COPY --chown=1 . /app"


@pytest.mark.parametrize("trigger, message", [
    ("ONBUILD RUN x", "Chaining ONBUILD"),
    ("FROM alpine", "FROM isn't allowed as an ONBUILD trigger"),
    ("MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
])
def test_onbuild_forbidden_triggers(trigger, message):
    with pytest.raises(PalletError, match=message) as caught:
        parse(f"FROM scratch\nONBUILD {trigger}\n")
    assert caught.value.span.column == 9


def test_spans_and_sources_cover_continuations():
    bf = parse("FROM scratch\n  RUN echo a \\\n   # comment\n    b\nCMD x\n")
    run = bf.stages[0].instructions[0]
    assert (run.span.line, run.span.column, run.span.end_line) == (2, 3, 4)
    assert run.source == "RUN echo a     b"
    assert run.command.args == ("echo a     b",)


def test_unknown_flag_is_located_with_did_you_mean():
    with pytest.raises(PalletError) as caught:
        parse("FROM scratch\nCOPY --chwon=1 a b\n")
    error = caught.value
    assert error.message == "unknown flag: --chwon"
    assert (error.span.line, error.span.column, error.span.end_column) == (2, 6, 14)
    assert error.hint == "did you mean --chown?"
    assert "^^^^^^^^^" in error.render()


def test_flag_on_instruction_without_flags():
    with pytest.raises(PalletError, match="unknown flag: --x") as caught:
        parse("FROM scratch\nCMD --x echo\n")
    assert caught.value.hint == "CMD takes no flags"


def test_duplicate_and_valueless_flags():
    with pytest.raises(PalletError, match="duplicate flag specified: --from"):
        parse("FROM scratch\nCOPY --from=a --from=b x y\n")
    with pytest.raises(PalletError, match="missing a value on flag: --from"):
        parse("FROM scratch\nCOPY --from x y\n")
    with pytest.raises(PalletError, match="expecting boolean value for flag link"):
        parse("FROM scratch\nCOPY --link=yes x y\n")


def test_stage_name_rules():
    with pytest.raises(PalletError, match="invalid name for build stage"):
        parse("FROM alpine AS 1st\n")
    with pytest.raises(PalletError, match="FROM requires either one or three arguments"):
        parse("FROM alpine base\n")
    with pytest.raises(PalletError, match="duplicate stage name 'a'") as caught:
        parse("FROM alpine AS a\nFROM alpine AS A\n")
    assert caught.value.span.line == 2 and "line 1" in caught.value.hint


def test_instruction_before_from_is_an_error():
    with pytest.raises(PalletError, match="RUN before the first FROM"):
        parse("ARG X\nRUN true\nFROM scratch\n")


def test_dump_of_a_buildfile_equals_dump_of_its_syntax_tree():
    text = "FROM a AS b\nONBUILD RUN --mount=type=cache,target=/c x\nCOPY --link . /\n"
    bf = parse(text)
    assert dump(bf) == ('(from "a" "AS" "b")\n'
                        '(onbuild (run ["--mount=type=cache,target=/c"] "x"))\n'
                        '(copy ["--link"] "." "/")')


def test_nodes_are_frozen():
    run = only("RUN x\n")
    with pytest.raises(AttributeError):
        run.source = "y"  # type: ignore[misc]


def test_importing_the_grammar_is_light():
    import subprocess
    import sys

    code = ("import sys, pallet.grammar; light = [m for m in ('lark', 'networkx', 'pyroute2') "
            "if m in sys.modules]; from pallet.grammar import parse, dump; "
            "dump(parse('FROM a\\nRUN b\\n')); from pallet.grammar.lint import check; "
            "check('FROM a\\n', 'x'); import pallet.commands.check; "
            "print(light, [m for m in ('networkx', 'pyroute2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"


@pytest.mark.parametrize("text, nanoseconds", [
    ("0", 0), ("0s", 0), ("1h2m3.5s", 3_723_500_000_000), ("1.5h", 5_400_000_000_000),
    ("300ms", 300_000_000), ("2us", None), ("1µs", None), (".5s", 500_000_000), ("10", None),
    ("1d", None), ("s", None), ("-1s", None),
])
def test_healthcheck_durations_follow_go(text, nanoseconds):
    source = f"FROM a\nHEALTHCHECK --interval={text} CMD true\n"
    if nanoseconds is None:
        with pytest.raises(PalletError):
            parse(source)
    else:
        assert parse(source).stages[0].instructions[0].interval == nanoseconds


def test_public_functions_are_not_shadowed_by_submodules():
    import pallet.grammar as grammar

    text = "FROM a\nRUN b\n"
    assert grammar.dump(grammar.parse(text)) == grammar.dump(grammar.parse_syntax(text))
    assert callable(grammar.dump) and callable(grammar.parse) and callable(grammar.parse_syntax)


def test_garbage_collection_is_restored_after_a_parse_even_on_error():
    import gc

    from pallet.grammar import parse_syntax

    assert gc.isenabled()
    with pytest.raises(PalletError):
        parse("FROM a\nRUNN x\n")
    parse_syntax("FROM a\n")
    assert gc.isenabled()
