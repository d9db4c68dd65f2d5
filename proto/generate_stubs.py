"""Generate the Python gRPC stubs from proto/ with the pinned grpcio-tools.

Usage: python proto/generate_stubs.py [OUT_DIR]   (default: service/)
       python proto/generate_stubs.py --include-only   (only lay out build/proto-include)

The google/api protos are not in the repo: they are copied from the installed
googleapis-common-protos wheel into build/proto-include, which protoc and buf include.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
INCLUDE_DIR = ROOT / "build" / "proto-include"
GOOGLE_API_PROTOS = ("annotations.proto", "http.proto", "field_behavior.proto")


def copy_google_api_protos() -> Path:
    """Copy the google/api protos we import from the installed wheel; return the include dir."""
    target = INCLUDE_DIR / "google" / "api"
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files("google.api")
    for name in GOOGLE_API_PROTOS:
        (target / name).write_bytes((source / name).read_bytes())
    return INCLUDE_DIR


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))


def generate(out_dir: Path) -> None:
    include = copy_google_api_protos()
    well_known = resources.files("grpc_tools") / "_proto"
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *proto_files(),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Make every generated folder an importable package (authgate/v1/__init__.py).
    for folder in {p.parent for p in out_dir.rglob("*_pb2.py")}:
        (folder / "__init__.py").touch()


def main() -> None:
    if sys.argv[1:] == ["--include-only"]:
        copy_google_api_protos()
        return
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "service"
    if out_dir.resolve() == (ROOT / "service").resolve():
        shutil.rmtree(ROOT / "service" / "authgate" / "v1", ignore_errors=True)
    generate(out_dir)


if __name__ == "__main__":
    main()
