"""`version` and `info`: what pallet knows of itself and the host, in docker's layout.

The documents are the engine's (runtime/info.py, the same the API serves at /version and
/info); the text layout is docker/cli's own templates run through our Go template engine.
"""

from __future__ import annotations

import click

from pallet.base.errors import PalletError

VERSION_TEMPLATE = """Client:{{if ne .Client.Platform.Name ""}} {{.Client.Platform.Name}}{{end}}
 Version:           {{.Client.Version}}
 API version:       {{.Client.APIVersion}}{{if ne .Client.APIVersion .Client.DefaultAPIVersion}} (downgraded from {{.Client.DefaultAPIVersion}}){{end}}
 Go version:        {{.Client.GoVersion}}
 Git commit:        {{.Client.GitCommit}}
 Built:             {{.Client.BuildTime}}
 OS/Arch:           {{.Client.Os}}/{{.Client.Arch}}
 Context:           {{.Client.Context}}{{if .ServerOK}}

Server:{{if ne .Server.Platform.Name ""}} {{.Server.Platform.Name}}{{end}}{{range $component := .Server.Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:          {{.Version}}
  API version:      {{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:       {{index .Details "GoVersion"}}
  Git commit:       {{index .Details "GitCommit"}}
  Built:            {{index .Details "BuildTime"}}
  OS/Arch:          {{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:     {{index .Details "Experimental"}}
  {{- end}}
{{- end}}
 {{- end}}"""

# Go field names where the JSON names differ (types.Version: APIVersion `json:"ApiVersion"`)
_GO_NAMES = {"ApiVersion": "APIVersion", "MinAPIVersion": "MinAPIVersion"}


class BareError(PalletError):
    bare = True


def _typed(document: dict, type_name: str):
    from pallet.format.gotemplate import GoMap, Struct
    fields = {}
    for key, value in document.items():
        if key == "Details" and isinstance(value, dict):
            value = GoMap(value)
        elif isinstance(value, dict):
            value = _typed(value, "struct")
        elif isinstance(value, list):
            value = [_typed(v, "struct") if isinstance(v, dict) else v for v in value]
        fields[_GO_NAMES.get(key, key)] = value
    return Struct(type_name, fields, json_fields=document, escape_html=False)


def _render(format_: str | None, data, default: str, name: str = "") -> str:
    from pallet.format.gotemplate import TemplateError, parse
    text = "{{json .}}" if format_ == "json" else (format_ or default)
    try:
        template = parse(text, name=name)
    except TemplateError as error:
        raise BareError(f"template parsing error: {error.message}", exit_code=64) from None
    try:
        return template.execute(data, missingkey="struct")
    except TemplateError as error:
        click.echo("")          # docker flushes its (empty) output before the error
        raise BareError(error.message) from None


@click.command("version")
@click.option("-f", "--format", "format_", default=None, help="Format output using a custom template")
@click.pass_context
def version(ctx, format_) -> None:
    """Show the pallet version information"""
    from pallet.api.protocol import API_VERSION, MIN_API_VERSION
    from pallet.runtime.info import engine_version
    show_version(format_, engine_version(API_VERSION, MIN_API_VERSION), API_VERSION, "default")


def show_version(format_: str | None, server: dict, api_version: str, context: str) -> None:
    """version's output: this client beside ``server`` (the engine's /version document: the
    local engine's, or a remote host's); ``api_version`` is the one the client speaks."""
    import platform
    import sys

    from pallet import __version__
    from pallet.api.protocol import API_VERSION
    from pallet.runtime.info import ARCH_NAMES
    from pallet.format.gotemplate import Struct
    client = {"Platform": {"Name": ""}, "Version": __version__, "ApiVersion": api_version,
              "DefaultAPIVersion": API_VERSION, "GitCommit": "",
              "GoVersion": "python" + platform.python_version(), "Os": sys.platform,
              "Arch": ARCH_NAMES.get(platform.machine(), platform.machine()),
              "BuildTime": "", "Context": context}
    data = Struct("system.versionInfo",
                  {"Client": _typed(client, "*command.clientVersion"),
                   "Server": _typed(server, "*types.Version"), "ServerOK": True},
                  json_fields={"Client": client, "Server": server}, escape_html=False)
    click.echo(_render(format_, data, VERSION_TEMPLATE, name="version"))


def _info_text(info: dict) -> str:
    lines = ["Client:", f" Version:    {info['ClientInfo']['Version']}",
             f" Context:    {info['ClientInfo']['Context']}",
             f" Debug Mode: {str(info['ClientInfo']['Debug']).lower()}", "", "Server:",
             f" Containers: {info['Containers']}", f"  Running: {info['ContainersRunning']}",
             f"  Paused: {info['ContainersPaused']}", f"  Stopped: {info['ContainersStopped']}",
             f" Images: {info['Images']}", f" Server Version: {info['ServerVersion']}",
             f" Storage Driver: {info['Driver']}"]
    lines += [f"  {key}: {value}" for key, value in info.get("DriverStatus") or []]
    lines += [f" Logging Driver: {info['LoggingDriver']}",
              f" Cgroup Driver: {info['CgroupDriver']}",
              f" Cgroup Version: {info['CgroupVersion']}", " Plugins:",
              f"  Volume: {' '.join(info['Plugins']['Volume'])}",
              f"  Network: {' '.join(info['Plugins']['Network'])}",
              f"  Log: {' '.join(info['Plugins']['Log'])}",
              f" Swarm: {info['Swarm']['LocalNodeState']}",
              f" Runtimes: {' '.join(sorted(info['Runtimes']))}",
              f" Default Runtime: {info['DefaultRuntime']}"]
    if info.get("SecurityOptions"):
        lines.append(" Security Options:")
        for option in info["SecurityOptions"]:
            for part in option.split(","):
                key, _, value = part.partition("=")
                lines.append(f"  {value}" if key == "name" else f"   {key.title()}: {value}")
    from pallet.base.humanize import human_size_binary
    lines += [f" Kernel Version: {info['KernelVersion']}",
              f" Operating System: {info['OperatingSystem']}", f" OSType: {info['OSType']}",
              f" Architecture: {info['Architecture']}", f" CPUs: {info['NCPU']}",
              f" Total Memory: {human_size_binary(info['MemTotal'])}", f" Name: {info['Name']}",
              f" ID: {info['ID']}", f" Docker Root Dir: {info['DockerRootDir']}",
              f" Debug Mode: {str(info['Debug']).lower()}",
              f" Experimental: {str(info['ExperimentalBuild']).lower()}",
              " Insecure Registries:"]
    lines += [f"  {cidr}" for cidr in info["RegistryConfig"]["InsecureRegistryCIDRs"]]
    lines.append(f" Live Restore Enabled: {str(info['LiveRestoreEnabled']).lower()}")
    return "\n".join(lines) + "\n"


@click.command("info")
@click.option("-f", "--format", "format_", default=None, help="Format output using a custom template")
@click.pass_context
def info(ctx, format_) -> None:
    """Display system-wide information"""
    from pallet.runtime.info import engine_info
    show_info(format_, engine_info(ctx.obj["root"]), "default")


def show_info(format_: str | None, document: dict, context: str) -> None:
    """info's output for the engine's /info ``document`` (local, or a remote host's)."""
    from pallet import __version__
    from pallet.format.documents import go_typed
    document["ClientInfo"] = {"Debug": False, "Version": __version__, "Context": context,
                              "Plugins": [], "Warnings": None}
    if not format_:
        click.echo(_info_text(document), nl=False)
        return
    from pallet.format.gotemplate import Struct
    typed = go_typed(document)
    typed["ClientInfo"] = Struct("*system.clientInfo", typed["ClientInfo"],
                                 json_fields=document["ClientInfo"], escape_html=False)
    data = Struct("system.dockerInfo", typed, json_fields=document, escape_html=False)
    click.echo(_render(format_, data, ""))
