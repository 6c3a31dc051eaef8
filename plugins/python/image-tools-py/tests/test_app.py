"""Unit tests of image-tools-py on the host's CPython, with the host's imports faked.

    ../.venv/bin/python -m unittest discover -s tests -v     (from plugins/python/image-tools-py)

componentize-py writes the `wit_world` bindings to a temporary folder first; their import
functions only raise NotImplementedError outside a component, so each test replaces the
ones it needs with `unittest.mock.patch.object`. No Docker engine, no wasm: these tests run
in a second. The end-to-end tests through the host are in host/tests/integration/polyglot.rs.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIT = os.path.join(HERE, "..", "..", "..", "wit")


def _componentize_py() -> str:
    venv_tool = os.path.join(HERE, "..", ".venv", "bin", "componentize-py")
    tool = venv_tool if os.access(venv_tool, os.X_OK) else shutil.which("componentize-py")
    if not tool:
        raise unittest.SkipTest("componentize-py not found: see README.md")
    return tool


_BINDINGS = tempfile.mkdtemp(prefix="image-tools-py-bindings-")
subprocess.run(
    [_componentize_py(), "-q", "-d", WIT, "-w", "plugin", "bindings", _BINDINGS], check=True
)
sys.path[:0] = [_BINDINGS, os.path.join(HERE, "src")]

import app  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from references import split_reference  # noqa: E402
from wit_world.imports import docker, host  # noqa: E402
from wit_world.imports.types import KeyValue  # noqa: E402


def run(workflow="build-image", **params):
    outputs = app.Workflows().run(workflow, [KeyValue(k, v) for k, v in params.items()])
    return {o.key: o.value for o in outputs}


def raises(error):
    def call(*_args):
        raise Err(error)

    return call


CONTAINER = docker.ContainerInfo(
    id="c0ffee" * 10 + "abcd",
    name="/eloquent_hoover",
    image="dockwright/base:latest",
    state=docker.ContainerState.RUNNING,
    exit_code=None,
    created="2026-01-01T00:00:00Z",
    ip_address=None,
    ports=[],
    labels=[],
)


class ReferenceTests(unittest.TestCase):
    def test_references(self):
        self.assertEqual(split_reference("web"), ("web", "latest"))
        self.assertEqual(split_reference("team/web:1"), ("team/web", "1"))
        self.assertEqual(split_reference("localhost:5000/web"), ("localhost:5000/web", "latest"))
        self.assertEqual(split_reference("localhost:5000/web:v2"), ("localhost:5000/web", "v2"))
        for bad in ["web:", "Web:1", "web@sha256:abc", "", "/web", "web/"]:
            with self.assertRaises(ValueError, msg=bad):
                split_reference(bad)


class BuildImageTests(unittest.TestCase):
    def setUp(self):
        self.log = []
        patcher = mock.patch.object(host, "log", lambda level, msg: self.log.append(msg))
        patcher.start()
        self.addCleanup(patcher.stop)
        self.declared = mock.Mock()
        patcher = mock.patch.object(host, "declare_permissions", self.declared)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.run_context = host.RunContext(
            team="blue", run_id="r1", engine="default", caller="uid 1000"
        )
        patcher = mock.patch.object(host, "current_run", lambda: self.run_context)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_describe(self):
        info = app.Workflows().describe()
        self.declared.assert_called_once_with(["containers", "build", "commit"])
        self.assertEqual(info.name, "image-tools-py")
        self.assertEqual([w.name for w in info.workflows], ["build-image"])
        self.assertEqual([p.name for p in info.workflows[0].params], ["source", "tag"])

    def test_commits_a_container(self):
        commit = mock.Mock(return_value="sha256:snap")
        with mock.patch.object(docker, "inspect_container", return_value=CONTAINER), \
                mock.patch.object(docker, "commit_container", commit):
            out = run(source="eloquent_hoover", tag="blue/snap:1")
        self.assertEqual(out, {"image": "sha256:snap", "tag": "blue/snap:1", "method": "commit"})
        spec = commit.call_args.args[0]
        self.assertEqual((spec.container, spec.repo, spec.tag), (CONTAINER.id, "blue/snap", "1"))
        # The commit says whose run made it, as the host's run context tells.
        self.assertTrue(spec.message.endswith("for team blue"), spec.message)

    def test_builds_a_directory_when_no_container_has_that_name(self):
        build = mock.Mock(return_value="sha256:built")
        for error in [docker.DockerError_NotFound("no such container"),
                      docker.DockerError_Invalid("not a container name")]:
            with mock.patch.object(docker, "inspect_container", raises(error)), \
                    mock.patch.object(docker, "build_image", build):
                out = run(source="./site", tag="blue/site")
            self.assertEqual(out, {"image": "sha256:built", "tag": "blue/site:latest",
                                   "method": "build"})
            spec = build.call_args.args[0]
            self.assertEqual(spec.context, docker.BuildContext_Directory("./site"))
            self.assertEqual(spec.tag, "blue/site:latest")

    def test_neither_container_nor_directory(self):
        with mock.patch.object(docker, "inspect_container",
                               raises(docker.DockerError_NotFound("x"))), \
                mock.patch.object(docker, "build_image",
                                  raises(docker.DockerError_NotFound("cannot be read"))):
            with self.assertRaises(Err) as caught:
                run(source="nope", tag="blue/x:1")
        self.assertIn("neither a container nor a directory with a Dockerfile", caught.exception.value)
        self.assertIn("not found: cannot be read", caught.exception.value)

    def test_denied_build_names_the_policy(self):
        with mock.patch.object(docker, "inspect_container",
                               raises(docker.DockerError_NotFound("x"))), \
                mock.patch.object(docker, "build_image",
                                  raises(docker.DockerError_Denied("outside build roots"))):
            with self.assertRaises(Err) as caught:
                run(source="/etc", tag="blue/x:1")
        self.assertEqual(caught.exception.value,
                         "building directory `/etc` as blue/x:1: denied by policy: outside build roots")

    def test_engine_down_while_looking_up(self):
        with mock.patch.object(docker, "inspect_container",
                               raises(docker.DockerError_EngineUnavailable("no socket"))):
            with self.assertRaises(Err) as caught:
                run(source="web", tag="blue/x:1")
        self.assertEqual(caught.exception.value,
                         "looking up container `web`: Docker engine unavailable: no socket")

    def test_bad_tag_and_missing_params(self):
        for params, needle in [({"source": "s", "tag": "Bad:1"}, "invalid repository"),
                               ({"tag": "x:1"}, "missing required param `source`")]:
            with self.assertRaises(Err) as caught:
                run(**params)
            self.assertIn(needle, caught.exception.value)

    def test_uncaught_docker_errors_become_messages(self):
        with mock.patch.object(app, "build_image",
                               raises(docker.DockerError_Conflict("in use"))):
            with self.assertRaises(Err) as caught:
                run(source="s", tag="x:1")
        self.assertEqual(caught.exception.value, "build-image: conflict: in use")

    def test_unknown_workflow(self):
        with self.assertRaises(Err) as caught:
            run("nope")
        self.assertIn("offers build-image", caught.exception.value)


if __name__ == "__main__":
    unittest.main()
