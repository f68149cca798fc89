"""Inspect documents as the docker CLI's templates see them.

docker inspect runs a template over Docker's Go structs, so a JSON null is a nil slice (`[]`),
a nil map (`map[]`) or a nil pointer (`<nil>`), and a map prints as `map[k:v]` with sorted keys
while a struct prints as `{v ...}`. JSON alone cannot tell these apart; the field names can.

    go_typed(document) -> the document with GoMap for Go maps and GoNil for nulls
    render_document(template_text, document) -> str    (docker's inspect semantics; see below)
"""

from __future__ import annotations

from pallet.format.gotemplate import GoMap, GoNil, TemplateError, parse

# Fields of Docker's inspect types that are Go maps.
MAP_FIELDS = frozenset({
    "Labels", "Volumes", "ExposedPorts", "Ports", "PortBindings", "Tmpfs", "Sysctls",
    "StorageOpt", "Networks", "Options", "DriverOpts", "Data", "Annotations", "Status",
    "Containers",
})
# Fields that are Go slices (a null prints []).
SLICE_FIELDS = frozenset({
    "Args", "Binds", "CapAdd", "CapDrop", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts",
    "GroupAdd", "Links", "SecurityOpt", "VolumesFrom", "Devices", "DeviceCgroupRules",
    "DeviceRequests", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "Ulimits", "MaskedPaths", "ReadonlyPaths",
    "Env", "Cmd", "Entrypoint", "OnBuild", "Shell", "Test", "ExecIDs", "Mounts", "RepoTags",
    "RepoDigests", "Layers", "Aliases", "DNSNames", "Links", "SecondaryIPAddresses",
    "SecondaryIPv6Addresses", "ConsoleSize", "Warnings", "Log",
})


# Struct fields Docker leaves out of the JSON when empty (`json:",omitempty"`): a template
# still sees them, with their zero value. Keyed by (the field holding the struct, field name).
OMITTED = {
    None: {"Node": GoNil("ptr"), "SizeRw": GoNil("ptr"), "SizeRootFs": GoNil("ptr")},
    "State": {"Health": GoNil("ptr")},
    "Config": {"Healthcheck": GoNil("ptr"), "ExposedPorts": GoNil("map"), "ArgsEscaped": False,
               "NetworkDisabled": False, "MacAddress": "", "StopSignal": "",
               "StopTimeout": GoNil("ptr"), "Shell": GoNil("slice")},
    "Mounts": {"Name": "", "Driver": ""},
    "HostConfig": {"Tmpfs": GoNil("map"), "StorageOpt": GoNil("map"), "Sysctls": GoNil("map"),
                   "Annotations": GoNil("map")},
}


def go_typed(value, key: str | None = None, parent: str | None = None, fill: bool = True):
    """The document as Go values; ``fill`` adds the omitted fields (the typed view; docker's
    raw fallback sees only what the JSON has)."""
    if isinstance(value, dict):
        typed = {k: go_typed(v, k, key, fill) for k, v in value.items()}
        holder = parent if key is None and parent is not None else key  # list items: the list
        # a list named Config is a network's IPAM.Config, not a container's Config
        if fill and not (key == "Config" and parent == "LogConfig") and \
                not (key is None and parent == "Config"):
            for name, zero in OMITTED.get(holder, {}).items():
                typed.setdefault(name, zero)
        if key in MAP_FIELDS or (key == "Config" and parent == "LogConfig"):
            return GoMap(typed)
        return typed
    if isinstance(value, list):
        return [go_typed(item, None, key, fill) for item in value]
    if value is None:
        if key in SLICE_FIELDS or parent == "Ports":
            return GoNil("slice")
        if key in MAP_FIELDS:
            return GoNil("map")
        return GoNil("ptr")
    return value


def compile_document_template(template_text: str):
    """Parse an `inspect -f` template; docker's parse error exits 64."""
    try:
        return parse(template_text)
    except TemplateError as error:
        raise TemplateError(f"template parsing error: {error.message}", exit_code=64) from None


def render_document(template, document: dict) -> str:
    """docker inspect -f: the template over the typed document, and where that fails, over
    the raw JSON map with missingkey=error (cli/command/inspect's fallback), whose error is the
    one reported. TemplateError carries docker's "template parsing error: ..." text."""
    if isinstance(template, str):
        template = compile_document_template(template)
    try:
        return template.execute(go_typed(document), missingkey="struct")
    except TemplateError:
        pass
    try:
        return template.execute(go_typed(document, fill=False), missingkey="error")
    except TemplateError as error:
        raise TemplateError(f"template parsing error: {error.message}") from None


def inspect_output(format_: str | None, documents: list[dict]) -> tuple[str, list[str]]:
    """docker inspect's output for documents: (stdout text, error messages). Without a format
    an indented JSON array; "json" a compact one; else the template per document, each result
    on its own line (a lone newline when nothing rendered)."""
    import json
    from pallet.format.gotemplate.builtins import go_json_text
    if not format_:
        return json.dumps(documents, indent=4, ensure_ascii=False) + "\n", []
    if format_ == "json":
        return go_json_text(documents) + "\n", []
    template = compile_document_template(format_)
    out, errors = [], []
    for document in documents:
        try:
            out.append(render_document(template, document) + "\n")
        except TemplateError as error:
            errors.append(error.message)
    return "".join(out) or "\n", errors
