#!/usr/bin/env python3
"""Check Vireo's .proto files against the descriptors pymilvus was generated from.

pymilvus ships Milvus' own generated descriptors (pymilvus.grpc_gen.*_pb2), which are exactly what
it puts on the wire. This script compiles proto/*.proto with grpcio-tools' protoc into a descriptor
set and compares every package, message, field, enum value and RPC we declare with pymilvus':

  * each message exists in pymilvus under the same full name (nested and map-entry ones included);
  * each field exists there under the same name with the same number, type, label, type name,
    oneof and proto3 `optional` flag;
  * each enum value exists there with the same number;
  * each RPC exists in milvus.proto.milvus.MilvusService with the same request/response types and
    streaming flags, and every RPC Vireo must serve is declared.

What we leave out (fields of pymilvus' messages we don't declare, enum values we don't list) is not an
error — unknown fields are skipped or kept by protobuf — and is printed with --verbose.

Usage (from the repository root, in a venv with proto/requirements.txt installed):
    python proto/check_against_pymilvus.py [--verbose]
    python proto/check_against_pymilvus.py --self-test   # also prove the check catches mistakes
Exit status 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

import pymilvus
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

PROTO_DIR = os.path.dirname(os.path.abspath(__file__))
PROTO_FILES = ["common.proto", "schema.proto", "milvus.proto"]
PYMILVUS_VERSION = "3.0.2"

# The RPCs Vireo serves: the 27 of ../shared/milvus/GRPC_SURFACE.md plus the companions of issue 8.
REQUIRED_RPCS = """
Connect GetVersion CreateCollection DescribeCollection ShowCollections DropCollection CreateIndex
DescribeIndex DropIndex LoadCollection GetLoadingProgress GetLoadState ReleaseCollection Insert Upsert
Delete Search HybridSearch Query Flush GetFlushState GetCollectionStatistics CreatePartition
ShowPartitions HasPartition DropPartition AllocTimestamp
HasCollection GetIndexState GetIndexBuildProgress LoadPartitions ReleasePartitions RenameCollection
GetPartitionStatistics CheckHealth
CreateDatabase DropDatabase ListDatabases AlterDatabase DescribeDatabase CreateAlias DropAlias AlterAlias
DescribeAlias ListAliases GetComponentStates GetMetrics GetIndexStatistics GetReplicas ListCredUsers
GetQuerySegmentInfo GetPersistentSegmentInfo TruncateCollection
ListResourceGroups DescribeResourceGroup SelectUser SelectRole SelectGrant ListPrivilegeGroups
""".split()

F = descriptor_pb2.FieldDescriptorProto
TYPE_NAMES = {v: k for k, v in F.Type.items()}
LABEL_NAMES = {v: k for k, v in F.Label.items()}


def compile_ours() -> descriptor_pb2.FileDescriptorSet:
    """Runs grpcio-tools' protoc on proto/*.proto and returns the descriptor set."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ours.pb")
        args = ["protoc", f"-I{PROTO_DIR}", f"--descriptor_set_out={out}", *PROTO_FILES]
        if protoc.main(args) != 0:
            sys.exit("protoc failed to compile proto/*.proto (see the messages above)")
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
        return fds


def pymilvus_files() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    files = {}
    for module in (common_pb2, schema_pb2, milvus_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        files[proto.name] = proto
    return files


def index_messages(package, messages, out, prefix=None):
    """Full name -> DescriptorProto for messages and their nested messages."""
    prefix = prefix or package
    for m in messages:
        full = f"{prefix}.{m.name}"
        out[full] = m
        index_messages(package, m.nested_type, out, full)
    return out


def index_enums(package, file_or_message, out, prefix=None):
    prefix = prefix or package
    for e in file_or_message.enum_type:
        out[f"{prefix}.{e.name}"] = e
    for m in getattr(file_or_message, "message_type", None) or getattr(file_or_message, "nested_type", []):
        index_enums(package, m, out, f"{prefix}.{m.name}")
    return out


def describe_field(msg, f):
    oneof = msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None
    return {
        "number": f.number,
        "type": TYPE_NAMES[f.type],
        "label": LABEL_NAMES[f.label],
        "type_name": f.type_name or None,
        "oneof": oneof,
        "proto3_optional": f.proto3_optional,
    }


def compare(ours: descriptor_pb2.FileDescriptorSet, theirs: dict):
    """Returns (errors, notes, counts)."""
    errors, notes = [], []
    counts = {"messages": 0, "map entries": 0, "fields": 0, "enums": 0, "enum values": 0, "rpcs": 0}

    their_msgs, their_enums = {}, {}
    for fp in theirs.values():
        index_messages(fp.package, fp.message_type, their_msgs)
        index_enums(fp.package, fp, their_enums)

    for fp in ours.file:
        if fp.name not in theirs:
            errors.append(f"{fp.name}: pymilvus has no file of that name")
            continue
        if fp.package != theirs[fp.name].package:
            errors.append(f"{fp.name}: package {fp.package!r}, pymilvus has {theirs[fp.name].package!r}")

        for full, msg in index_messages(fp.package, fp.message_type, {}).items():
            is_map = msg.options.map_entry
            counts["map entries" if is_map else "messages"] += 1
            other = their_msgs.get(full)
            if other is None:
                errors.append(f"message {full}: not in pymilvus")
                continue
            if is_map != other.options.map_entry:
                errors.append(f"message {full}: map_entry {is_map}, pymilvus {other.options.map_entry}")
            other_fields = {f.name: f for f in other.field}
            for f in msg.field:
                counts["fields"] += 1
                o = other_fields.get(f.name)
                if o is None:
                    errors.append(f"{full}.{f.name}: no such field in pymilvus")
                    continue
                mine, want = describe_field(msg, f), describe_field(other, o)
                for key in mine:
                    if mine[key] != want[key]:
                        errors.append(f"{full}.{f.name}: {key} is {mine[key]!r}, pymilvus has {want[key]!r}")
            declared = {f.name for f in msg.field}
            left_out = [f"{o.number} {o.name}" for o in other.field if o.name not in declared]
            if left_out:
                notes.append(f"{full}: not declared: {', '.join(left_out)}")

        for full, enum in index_enums(fp.package, fp, {}).items():
            counts["enums"] += 1
            other = their_enums.get(full)
            if other is None:
                errors.append(f"enum {full}: not in pymilvus")
                continue
            other_values = {v.name: v.number for v in other.value}
            for v in enum.value:
                counts["enum values"] += 1
                if v.name not in other_values:
                    errors.append(f"{full}.{v.name}: no such enum value in pymilvus")
                elif other_values[v.name] != v.number:
                    errors.append(f"{full}.{v.name} = {v.number}, pymilvus has {other_values[v.name]}")
            left_out = sorted(set(other_values) - {v.name for v in enum.value}, key=other_values.get)
            if left_out:
                notes.append(f"{full}: {len(left_out)} values not listed")

        for service in fp.service:
            full = f"{fp.package}.{service.name}"
            others = {s.name: s for s in theirs[fp.name].service}
            if service.name not in others:
                errors.append(f"service {full}: not in pymilvus")
                continue
            their_methods = {m.name: m for m in others[service.name].method}
            for m in service.method:
                counts["rpcs"] += 1
                o = their_methods.get(m.name)
                if o is None:
                    errors.append(f"rpc {full}/{m.name}: not in pymilvus")
                    continue
                for key in ("input_type", "output_type", "client_streaming", "server_streaming"):
                    if getattr(m, key) != getattr(o, key):
                        errors.append(f"rpc {full}/{m.name}: {key} is {getattr(m, key)!r}, "
                                      f"pymilvus has {getattr(o, key)!r}")
            if full == "milvus.proto.milvus.MilvusService":
                missing = sorted(set(REQUIRED_RPCS) - {m.name for m in service.method})
                if missing:
                    errors.append(f"service {full}: required RPCs not declared: {', '.join(missing)}")

    if not any(s.name == "MilvusService" for fp in ours.file for s in fp.service):
        errors.append("service milvus.proto.milvus.MilvusService is not declared")
    return errors, notes, counts


def self_test(ours, theirs):
    """Breaks copies of our descriptors in the ways a hand-written .proto can go wrong and checks
    that each one is reported. Returns a list of mutations the check failed to catch."""

    def find_field(fds, message, field):
        for fp in fds.file:
            for m in fp.message_type:
                if f"{fp.package}.{m.name}" == message:
                    return next(f for f in m.field if f.name == field)
        raise KeyError(message)

    def renumber(fds):
        find_field(fds, "milvus.proto.milvus.SearchRequest", "nq").number = 99

    def retype(fds):
        find_field(fds, "milvus.proto.schema.FieldData", "field_id").type = F.TYPE_INT32

    def relabel(fds):
        find_field(fds, "milvus.proto.milvus.InsertRequest", "num_rows").label = F.LABEL_REPEATED

    def rename(fds):
        find_field(fds, "milvus.proto.common.Status", "reason").name = "message"

    def retarget(fds):
        find_field(fds, "milvus.proto.milvus.MutationResult", "IDs").type_name = ".milvus.proto.schema.LongArray"

    def out_of_oneof(fds):
        find_field(fds, "milvus.proto.schema.IDs", "str_id").ClearField("oneof_index")

    def enum_value(fds):
        for fp in fds.file:
            for e in fp.enum_type:
                if e.name == "DataType":
                    next(v for v in e.value if v.name == "FloatVector").number = 100

    def drop_rpc(fds):
        service = next(s for fp in fds.file for s in fp.service)
        del service.method[0]

    def swap_rpc_types(fds):
        service = next(s for fp in fds.file for s in fp.service)
        m = next(m for m in service.method if m.name == "Search")
        m.output_type = ".milvus.proto.milvus.QueryResults"

    def wrong_package(fds):
        fds.file[0].package = "vireo.proto.common"

    missed = []
    for mutate in (renumber, retype, relabel, rename, retarget, out_of_oneof, enum_value, drop_rpc,
                   swap_rpc_types, wrong_package):
        broken = copy.deepcopy(ours)
        mutate(broken)
        errors, _, _ = compare(broken, theirs)
        if not errors:
            missed.append(mutate.__name__)
    return missed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="also list what we leave out")
    parser.add_argument("--self-test", action="store_true", help="also check that mistakes are caught")
    args = parser.parse_args()

    if pymilvus.__version__ != PYMILVUS_VERSION:
        print(f"warning: pymilvus {pymilvus.__version__}; this check is pinned to {PYMILVUS_VERSION}")

    ours, theirs = compile_ours(), pymilvus_files()
    errors, notes, counts = compare(ours, theirs)

    print(f"pymilvus {pymilvus.__version__}: compared " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if args.verbose:
        for note in notes:
            print(f"  note: {note}")
    for error in errors:
        print(f"  MISMATCH: {error}")

    if args.self_test:
        missed = self_test(ours, theirs)
        for name in missed:
            print(f"  SELF-TEST: the check did not catch mutation {name!r}")
        if not missed:
            print("self-test: every injected mistake was reported")
        errors += missed

    print("OK" if not errors else f"FAILED: {len(errors)} problem(s)")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
