"""The CLI's command table, kept import-free so `pallet --help` stays fast.

Each entry maps a command name to (module, attribute, one-line help). A command is listed only
once its module exists, so the table can name work that lands later without breaking the CLI.
"""

COMMANDS: dict[str, tuple[str, str, str]] = {
    # build-file work
    "check": ("pallet.commands.check", "check", "Check a build file for errors and warnings"),
    "build": ("pallet.commands.build", "build", "Build an image from a build file"),
    "builder": ("pallet.commands.builder", "builder", "Manage the build cache"),
    # images
    "images": ("pallet.commands.images", "images", "List images"),
    "image": ("pallet.commands.images", "image", "Manage images"),
    "tag": ("pallet.commands.images", "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rmi": ("pallet.commands.images", "rmi", "Remove one or more images"),
    "history": ("pallet.commands.images", "history", "Show the history of an image"),
    "import": ("pallet.commands.transfer", "import_", "Import the contents from a tarball to create an image"),
    "save": ("pallet.commands.transfer", "save", "Save one or more images to a tar archive"),
    "load": ("pallet.commands.transfer", "load", "Load an image from a tar archive or STDIN"),
    "pull": ("pallet.commands.registry", "pull", "Download an image from a registry"),
    "push": ("pallet.commands.registry", "push", "Upload an image to a registry"),
    "login": ("pallet.commands.registry", "login", "Log in to a registry"),
    "logout": ("pallet.commands.registry", "logout", "Log out from a registry"),
    "commit": ("pallet.commands.commit", "commit", "Create a new image from a container's changes"),
    "diff": ("pallet.commands.commit", "diff", "Inspect changes to files or directories on a container's filesystem"),
    "version": ("pallet.commands.info", "version", "Show the pallet version information"),
    "info": ("pallet.commands.info", "info", "Display system-wide information"),
    "attach": ("pallet.commands.attach", "attach", "Attach local standard input, output, and error streams to a running container"),
    "update": ("pallet.commands.update", "update", "Update configuration of one or more containers"),
    "stats": ("pallet.commands.stats", "stats", "Display a live stream of container(s) resource usage statistics"),
    "events": ("pallet.commands.events", "events", "Get real time events from the server"),
    "volume": ("pallet.commands.volumes", "volume", "Manage volumes"),
    "system": ("pallet.commands.system", "system", "Manage pallet (df, prune, check)"),
    # containers
    "run": ("pallet.commands.containers", "run", "Create and run a new container from an image"),
    "create": ("pallet.commands.containers", "create", "Create a new container"),
    "start": ("pallet.commands.containers", "start", "Start one or more stopped containers"),
    "stop": ("pallet.commands.containers", "stop", "Stop one or more running containers"),
    "kill": ("pallet.commands.containers", "kill", "Kill one or more running containers"),
    "restart": ("pallet.commands.containers", "restart", "Restart one or more containers"),
    "rm": ("pallet.commands.containers", "rm", "Remove one or more containers"),
    "ps": ("pallet.commands.container_views", "ps", "List containers"),
    "logs": ("pallet.commands.container_views", "logs", "Fetch the logs of a container"),
    "exec": ("pallet.commands.container_views", "exec_", "Execute a command in a running container"),
    "wait": ("pallet.commands.containers", "wait", "Block until containers stop, then print their exit codes"),
    "inspect": ("pallet.commands.inspect", "inspect", "Return low-level information on pallet objects"),
    "export": ("pallet.commands.container_views", "export", "Export a container's filesystem as a tar archive"),
    "cp": ("pallet.commands.container_views", "cp", "Copy files between a container and the local filesystem"),
    "pause": ("pallet.commands.containers", "pause", "Pause all processes within containers"),
    "unpause": ("pallet.commands.containers", "unpause", "Unpause all processes within containers"),
    "top": ("pallet.commands.container_views", "top", "Display the running processes of a container"),
    "rename": ("pallet.commands.containers", "rename", "Rename a container"),
    "container": ("pallet.commands.containers", "container", "Manage containers"),
    "port": ("pallet.commands.network", "port", "List port mappings or a specific mapping for the container"),
    # networks
    "network": ("pallet.commands.network", "network", "Manage networks"),
    # remote hosts
    "context": ("pallet.commands.context", "context", "Manage contexts"),
    # server
    "serve": ("pallet.commands.serve", "serve", "Serve the Docker-compatible Engine API on a Unix socket"),
    "machine": ("pallet.commands.machine", "machine", "Provision and manage hosts that run pallet"),
}

# The management groups' commands that live in other modules (pallet/commands/groups.py):
# group -> {name: (module, attribute)}, the same objects as the top-level commands.
GROUP_COMMANDS: dict[str, dict[str, tuple[str, str]]] = {
    "container": {
        "attach": ("pallet.commands.attach", "attach"),
        "commit": ("pallet.commands.commit", "commit"),
        "diff": ("pallet.commands.commit", "diff"),
        "stats": ("pallet.commands.stats", "stats"),
        "update": ("pallet.commands.update", "update"),
        "port": ("pallet.commands.network", "port"),
    },
    "image": {
        "build": ("pallet.commands.build", "build"),
        "import": ("pallet.commands.transfer", "import_"),
        "save": ("pallet.commands.transfer", "save"),
        "load": ("pallet.commands.transfer", "load"),
        "pull": ("pallet.commands.registry", "pull"),
        "push": ("pallet.commands.registry", "push"),
    },
    "builder": {"build": ("pallet.commands.build", "build")},
}

# docker's aliases inside a group (`docker container ls --help` lists them): alias -> name.
GROUP_ALIASES: dict[str, dict[str, str]] = {
    "container": {"list": "ls", "ps": "ls", "remove": "rm"},
    "image": {"list": "ls", "remove": "rm"},
    "network": {"list": "ls", "remove": "rm"},
    "volume": {"list": "ls", "remove": "rm"},
}
