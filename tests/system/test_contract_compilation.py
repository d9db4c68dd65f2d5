"""The proto as compiled from source and as `buf breaking` sees it, against the OpenAPI document
and the committed wire baseline (protoc and buf: the system tier)."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

import pytest
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_tools import protoc

from contract_drift import contract_drift
from toolchain import ROOT, proto_include, run, tool

SPEC_PATH = ROOT / "openapi" / "authgate.yaml"
PROTO_DIR = ROOT / "proto"
BASELINE = PROTO_DIR / "baseline" / "authgate-v1.binpb"
AUTH_PROTO = "authgate/v1/auth.proto"


@pytest.fixture
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


def compile_proto(proto_root: Path, out_dir: Path) -> FileDescriptor:
    """Compile proto_root's auth.proto with grpcio-tools; load it into a fresh pool."""
    out = out_dir / "descriptors.binpb"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{proto_include()}",
        f"-I{resources.files('grpc_tools') / '_proto'}",
        "--include_imports",
        f"--descriptor_set_out={out}",
        AUTH_PROTO,
    ]
    assert protoc.main(args) == 0, "protoc failed"
    pool = descriptor_pool.DescriptorPool()
    for file_proto in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file_proto)
    return pool.FindFileByName(AUTH_PROTO)


def test_a_fresh_protoc_compilation_agrees_like_the_committed_stubs(spec, tmp_path):
    assert contract_drift(compile_proto(PROTO_DIR, tmp_path), spec) == []


def test_a_field_renamed_in_the_proto_is_named(spec, tmp_path):
    shutil.copytree(PROTO_DIR, tmp_path / "proto", ignore=shutil.ignore_patterns("*.py"))
    proto = tmp_path / "proto" / AUTH_PROTO
    text, renames = re.subn(
        r"(message IssueTokenRequest \{.*?string )email( = )",
        r"\1login\2",
        proto.read_text(),
        count=1,
        flags=re.S,
    )
    assert renames == 1
    proto.write_text(text)

    problems = contract_drift(compile_proto(tmp_path / "proto", tmp_path), spec)

    assert "IssueTokenRequest.login: missing in OpenAPI schema IssueTokenRequest" in problems
    assert (
        "IssueTokenRequest.email: in OpenAPI schema IssueTokenRequest, "
        "not a field of authgate.v1.IssueTokenRequest"
    ) in problems


def buf_breaking(workdir: Path) -> tuple[int, str]:
    """`buf breaking` of workdir's proto module against the committed baseline image."""
    proto_include()
    result = run(
        [tool("buf"), "breaking", "proto", "--against", str(BASELINE)], cwd=workdir, timeout=120
    )
    return result.returncode, result.stdout + result.stderr


def test_the_proto_is_wire_compatible_with_the_committed_baseline():
    returncode, output = buf_breaking(ROOT)
    assert returncode == 0, (
        f"{output}\nA breaking change to the v1 contract: undo it, or run `make proto-baseline` "
        "and commit the new baseline with it if the break is deliberate (docs/clients.md)."
    )


def test_buf_breaking_names_a_field_removed_from_the_proto(tmp_path):
    shutil.copy(ROOT / "buf.yaml", tmp_path)
    shutil.copytree(PROTO_DIR, tmp_path / "proto", ignore=shutil.ignore_patterns("*.py"))
    shutil.copytree(proto_include(), tmp_path / "build" / "proto-include")
    proto = tmp_path / "proto" / AUTH_PROTO
    text, removed = re.subn(
        r"(message IssueTokenRequest \{.*?)\n *string password = 2[^\n]*",
        r"\1",
        proto.read_text(),
        count=1,
        flags=re.S,
    )
    assert removed == 1
    proto.write_text(text)

    returncode, output = buf_breaking(tmp_path)

    assert returncode != 0
    assert 'with name "password" on message "IssueTokenRequest" was deleted' in output, output
