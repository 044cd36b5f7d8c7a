"""Regenerate (or, with --check, verify) the committed Python code for proto/flowport/v1.

The generated *_pb2.py, *_pb2_grpc.py and *.pyi live beside their .proto and are
committed; CI runs --check so a stale file fails the build.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import pathlib
import shutil
import sys
import tempfile

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = pathlib.Path(__file__).resolve().parent
PACKAGE_DIR = PROTO_ROOT / "flowport" / "v1"
SUFFIXES = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")


def _include_dirs() -> list[str]:
    # google/api/*.proto ship with googleapis-common-protos; descriptor.proto with grpcio-tools.
    import google.api

    googleapis_root = pathlib.Path(google.api.__path__[0]).parent.parent
    return [
        str(PROTO_ROOT),
        str(googleapis_root),
        os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"),
    ]


def _opentelemetry_descriptor_set(out_dir: pathlib.Path) -> pathlib.Path:
    """OpenTelemetry's trace.proto and its imports, as a descriptor set read from opentelemetry-proto.

    That package ships generated code but no .proto files; protoc takes the compiled form just as
    well, and the generated imports then point at the package's own modules.
    """
    from google.protobuf import descriptor_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def add(file_descriptor) -> None:
        for dependency in file_descriptor.dependencies:
            add(dependency)
        if file_descriptor.name not in files:
            proto = descriptor_pb2.FileDescriptorProto()
            file_descriptor.CopyToProto(proto)
            files[file_descriptor.name] = proto

    add(trace_pb2.DESCRIPTOR)
    path = out_dir / "opentelemetry.pb"
    path.write_bytes(descriptor_pb2.FileDescriptorSet(file=list(files.values())).SerializeToString())
    return path


def generate(out_dir: pathlib.Path) -> list[pathlib.Path]:
    protos = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PACKAGE_DIR.glob("*.proto"))
    args = ["protoc", *(f"-I{d}" for d in _include_dirs())]
    args.append(f"--descriptor_set_in={_opentelemetry_descriptor_set(out_dir)}")
    args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out_dir / "flowport" / "v1").glob("*_pb2*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed files differ")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(pathlib.Path(tmp))
        committed = sorted(p for p in PACKAGE_DIR.iterdir() if p.name.endswith(SUFFIXES))
        stale = {p.name for p in committed} ^ {p.name for p in fresh}
        stale |= {
            p.name
            for p in fresh
            if (PACKAGE_DIR / p.name).exists() and not filecmp.cmp(p, PACKAGE_DIR / p.name, shallow=False)
        }
        if check:
            if stale:
                print("stale generated files: " + ", ".join(sorted(stale)), file=sys.stderr)
                print("run: python proto/generate.py", file=sys.stderr)
                return 1
            return 0
        for p in committed:
            p.unlink()
        for p in fresh:
            shutil.copyfile(p, PACKAGE_DIR / p.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
