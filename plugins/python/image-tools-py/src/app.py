"""`image-tools-py`: make an image from a container or from a directory, in Python.

The Python twin of the Rust `image-tools` plugin. `build-image` first asks the host
whether `source` is a container; if it is, it commits it. If not, it asks the host to
build `source` as a directory with a Dockerfile. The plugin has no filesystem of its
own: the host reads the directory, and the plugin goes by the host's answers.

Bindings: componentize-py generates the `wit_world` package from `wit/` at build time
(`componentize-py -d wit -w plugin bindings DIR` writes it out to read). A WIT
`result<T, E>` returned by an import arrives as `T`, or raises
`componentize_py_types.Err` whose `.value` is the error (here a `DockerError_*` case);
`run` returns its outputs, or raises `Err(message)` to fail the run.
"""

from typing import List

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.workflows import Param, PluginInfo, Workflow
from wit_world.imports import docker, host
from wit_world.imports.types import KeyValue

from references import split_reference

NAME = "image-tools-py"
VERSION = "0.1.0"

# The kinds of Docker error, as one line tells them to people.
_KINDS = {
    docker.DockerError_NotFound: "not found",
    docker.DockerError_Conflict: "conflict",
    docker.DockerError_Denied: "denied by policy",
    docker.DockerError_Invalid: "invalid request",
    docker.DockerError_EngineUnavailable: "Docker engine unavailable",
    docker.DockerError_EngineError: "Docker engine error",
}


def describe_error(error: docker.DockerError) -> str:
    """A Docker error as one line: its kind, then the host's message."""
    kind = _KINDS.get(type(error), type(error).__name__)
    message = str(getattr(error, "value", "")).strip()
    return f"{kind}: {message}" if message else kind


def info(message: str) -> None:
    host.log(host.Level.INFO, message)


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key, value)


class Workflows(exports.Workflows):
    """The `workflows` export: componentize-py looks for this class by the interface's name."""

    def describe(self) -> PluginInfo:
        # componentize-py imports all of `docker`: declare the groups this plugin uses,
        # so its permission manifest is what it does.
        host.declare_permissions(["containers", "build", "commit"])
        return PluginInfo(
            name=NAME,
            version=VERSION,
            description="Makes images from containers or from directories with a Dockerfile "
            "(written in Python)",
            workflows=[
                Workflow(
                    name="build-image",
                    description="Commits a container to an image, or builds a directory "
                    "with a Dockerfile",
                    params=[
                        Param(
                            name="source",
                            description="A container name or id to commit, or a directory "
                            "with a Dockerfile to build (relative to where dockwright runs)",
                            required=True,
                            default=None,
                        ),
                        Param(
                            name="tag",
                            description="The image's repository and tag, such as `team/web:1` "
                            "(tag `latest` when none)",
                            required=True,
                            default=None,
                        ),
                    ],
                )
            ],
        )

    def run(self, workflow: str, params: List[KeyValue]) -> List[KeyValue]:
        values = {p.key: p.value for p in params}
        try:
            if workflow == "build-image":
                return build_image(values)
            offered = ", ".join(w.name for w in self.describe().workflows)
            raise Err(f"unknown workflow `{workflow}`: the {NAME} plugin offers {offered}")
        except Err as e:
            # The export's error must be a `str`: a Docker error nobody caught (its value is a
            # `DockerError_*`) would crash the plugin with a TypeError. Say what it was instead.
            if isinstance(e.value, str):
                raise
            raise Err(f"{workflow}: {describe_error(e.value)}") from None
        # Any other exception is a bug: componentize-py prints its traceback to stderr and
        # the plugin traps; the host reports the crash and rolls the run back.


def required(values: dict, name: str) -> str:
    value = values.get(name, "").strip()
    if not value:
        raise Err(f"missing required param `{name}`")
    return value


def build_image(values: dict) -> List[KeyValue]:
    source = required(values, "source")
    try:
        repo, tag = split_reference(required(values, "tag"))
    except ValueError as e:
        raise Err(str(e))
    reference = f"{repo}:{tag}"

    try:
        container = docker.inspect_container(source)
    except Err as e:
        # Not a container the plugin may see (an invalid container name, such as a path,
        # means the same): try it as a directory.
        if isinstance(e.value, (docker.DockerError_NotFound, docker.DockerError_Invalid)):
            return build_directory(source, reference)
        raise Err(f"looking up container `{source}`: {describe_error(e.value)}")
    return commit(container, repo, tag, reference)


def commit(container: docker.ContainerInfo, repo: str, tag: str, reference: str) -> List[KeyValue]:
    name = container.name.lstrip("/")
    # The run's team as the host knows it (contract 0.1.5), not as a param would say.
    run = host.current_run()
    team = f" for team {run.team}" if run is not None else ""
    info(f"committing container {name} to {reference}{team}")
    spec = docker.CommitSpec(
        container=container.id,
        repo=repo,
        tag=tag,
        message=f"committed from {name} by dockwright {NAME}{team}",
        author=None,
        changes=[],
    )
    try:
        image = docker.commit_container(spec)
    except Err as e:
        raise Err(f"committing container {name} to {reference}: {describe_error(e.value)}")
    info(f"committed {name} to {reference}")
    return [kv("image", image), kv("tag", reference), kv("method", "commit")]


def build_directory(source: str, reference: str) -> List[KeyValue]:
    info(f"no container named {source}: building directory {source} as {reference}")
    spec = docker.BuildSpec(
        context=docker.BuildContext_Directory(source),
        dockerfile=None,
        tag=reference,
        build_args=[],
        no_cache=False,
        labels=[],
    )
    try:
        image = docker.build_image(spec)
    except Err as e:
        if isinstance(e.value, (docker.DockerError_NotFound, docker.DockerError_Invalid)):
            raise Err(
                f"source `{source}` is neither a container nor a directory with a Dockerfile: "
                "give a container name or id to commit, or a directory containing a Dockerfile "
                f"to build (the host said: {describe_error(e.value)})"
            )
        raise Err(f"building directory `{source}` as {reference}: {describe_error(e.value)}")
    info(f"built {reference}")
    return [kv("image", image), kv("tag", reference), kv("method", "build")]
