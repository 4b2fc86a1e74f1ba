#!/usr/bin/env python3
"""Wire fixtures for VireoMilvusProtoTests, made by pymilvus itself.

Requests (pymilvus -> Vireo): built with pymilvus' own request builders (pymilvus.client.prepare,
the code MilvusClient runs before sending), serialized to `requests/<name>.bin`. The Swift tests
decode each one with our generated types and compare every field with `expected.json`, which holds
pymilvus' proto3 JSON form of the same message (and of the messages nested in bytes fields: the
CollectionSchema inside CreateCollectionRequest.schema, the PlaceholderGroup inside
SearchRequest.placeholder_group).

Responses (Vireo -> pymilvus): built with pymilvus' generated classes from the values below, which
ResponseEncodingTests.swift mirrors, serialized to `responses/<name>.bin`. The Swift tests build the
same responses with our types and require byte-identical encodings.

    python generate.py                 # rewrite the fixtures (needs pymilvus==3.0.2)
    python generate.py --check-swift D # decode the responses the Swift tests wrote to D
                                       # (VIREO_PROTO_FIXTURE_OUT=D swift test ...) with pymilvus,
                                       # compare them with ours and run them through pymilvus'
                                       # own result parsing
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import sys

import numpy as np
import pymilvus
from google.protobuf import json_format
from pymilvus import CollectionSchema, DataType, FieldSchema
from pymilvus.client.prepare import Prepare
from pymilvus.client.search_result import SearchResult
from pymilvus.client.abstract import CollectionSchema as DescribedSchema
from pymilvus.client.abstract import MutationResult
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2
from pymilvus.milvus_client.index import IndexParams

HERE = os.path.dirname(os.path.abspath(__file__))
DIM = 8
COLLECTION = "docs"


def f32(x: float) -> float:
    """The float32 nearest to x, as a Python float (so JSON and the wire agree exactly)."""
    return float(np.float32(x))


def vectors(seed: int, count: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[f32(rng.uniform(-1, 1)) for _ in range(DIM)] for _ in range(count)]


def to_json(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


# ---------------------------------------------------------------------------------------------
# Requests


def collection_schema() -> CollectionSchema:
    return CollectionSchema(
        [
            FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False, description="primary key"),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
            FieldSchema("title", DataType.VARCHAR, max_length=64),
            FieldSchema("meta", DataType.JSON),
            FieldSchema("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4),
        ],
        description="wire fixture",
        enable_dynamic_field=True,
    )


ROWS = [
    {"id": 1, "title": "alpha", "meta": {"lang": "en", "score": 0.5}, "tags": [1, 2], "color": "red"},
    {"id": 2, "title": "beta", "meta": {"lang": "de"}, "tags": [], "views": 10},
    {"id": 3, "title": "gamma", "meta": {}, "tags": [7, 8, 9, 10], "color": "blue", "views": 3},
]
for row, vector in zip(ROWS, vectors(seed=1, count=len(ROWS))):
    row["vector"] = vector

QUERIES = vectors(seed=2, count=2)


def describe_response() -> milvus_pb2.DescribeCollectionResponse:
    """What a server answers to DescribeCollection for collection_schema(), with field ids assigned.
    pymilvus caches it and builds inserts from it. The dynamic `$meta` field must NOT be listed in
    schema.fields (enable_dynamic_field says it exists): with it, pymilvus 3.0.2's row insert fails
    with AttributeError('get') in Prepare._parse_row_request."""
    schema = schema_pb2.CollectionSchema()
    schema.ParseFromString(Prepare.create_collection_request(COLLECTION, collection_schema()).schema)
    for i, field in enumerate(schema.fields):
        field.fieldID = 100 + i
    return milvus_pb2.DescribeCollectionResponse(
        status=common_pb2.Status(code=0, reason=""),
        schema=schema,
        collectionID=451,
        collection_name=COLLECTION,
        consistency_level=common_pb2.Bounded,
        shards_num=1,
        aliases=["docs_alias"],
        num_partitions=1,
        created_timestamp=458_000_000_000_000_000,
        created_utc_timestamp=1_750_000_000_000,
        properties=[common_pb2.KeyValuePair(key="collection.ttl.seconds", value="3600")],
        db_name="default",
    )


def requests() -> dict:
    """name -> (message, {nested field: (message type, bytes)})"""
    out = {}

    create = Prepare.create_collection_request(
        COLLECTION, collection_schema(), consistency_level="Bounded", num_shards=2,
        properties={"collection.ttl.seconds": 3600})
    out["create_collection"] = (create, {"schema": schema_pb2.CollectionSchema})

    described = DescribedSchema(raw=describe_response()).dict()
    insert = Prepare.row_insert_param(
        COLLECTION, ROWS, "", described["fields"], described.get("struct_array_fields", []),
        enable_dynamic=described["enable_dynamic_field"])
    out["insert"] = (insert, {})

    search = Prepare.search_requests_with_expr(
        collection_name=COLLECTION, anns_field="vector",
        param={"metric_type": "COSINE", "params": {"ef": 32}}, limit=3, data=QUERIES,
        expr='title like "a%" and views > 1', partition_names=["_default"],
        output_fields=["title", "meta", "color"], round_decimal=-1)
    out["search"] = (search, {"placeholder_group": common_pb2.PlaceholderGroup})

    query = Prepare.query_request(COLLECTION, "id in [1, 2, 3]", ["title", "tags"], [], limit=10, offset=1)
    out["query"] = (query, {})

    out["delete"] = (Prepare.delete_request(COLLECTION, "id in [1, 2]", consistency_level=0), {})
    out["delete_template"] = (
        Prepare.delete_request(COLLECTION, "id in {ids} and title == {t}", consistency_level=0, expr_params={"ids": [1, 2], "t": "x"}),
        {})

    # A search using features Vireo does not declare (highlighter 21, search_aggregation 23): the
    # Swift side must see them as unknown fields, so the server can refuse them by number.
    unsupported = milvus_pb2.SearchRequest()
    unsupported.CopyFrom(search)
    unsupported.highlighter.type = common_pb2.Semantic
    unsupported.search_aggregation.size = 5
    unsupported.search_aggregation.fields.append("title")
    out["search_unsupported"] = (unsupported, {"placeholder_group": common_pb2.PlaceholderGroup})

    index_params = IndexParams()
    index_params.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE",
                           params={"M": 16, "efConstruction": 200}, index_name="vec_idx")
    (index,) = list(index_params)
    out["create_index"] = (
        Prepare.create_index_request(COLLECTION, index.field_name, index.get_index_configs(),
                                     index_name=index.index_name),
        {})
    return out


# ---------------------------------------------------------------------------------------------
# Responses (mirrored in ResponseEncodingTests.swift)


def responses() -> dict:
    out = {}
    hits_ids = [3, 1, 2, 2, 3]
    out["search_results"] = milvus_pb2.SearchResults(
        status=common_pb2.Status(),
        collection_name=COLLECTION,
        results=schema_pb2.SearchResultData(
            num_queries=2,
            top_k=3,
            topks=[3, 2],
            ids=schema_pb2.IDs(int_id=schema_pb2.LongArray(data=hits_ids)),
            scores=[0.875, 0.5, -0.25, 0.75, 0.125],
            output_fields=["title", "color"],
            primary_field_name="id",
            fields_data=[
                schema_pb2.FieldData(
                    type=schema_pb2.VarChar, field_name="title", field_id=102,
                    scalars=schema_pb2.ScalarField(string_data=schema_pb2.StringArray(
                        data=["gamma", "alpha", "beta", "beta", "gamma"]))),
                schema_pb2.FieldData(
                    type=schema_pb2.JSON, field_name="$meta", field_id=105, is_dynamic=True,
                    scalars=schema_pb2.ScalarField(json_data=schema_pb2.JSONArray(data=[
                        b'{"color":"blue"}', b'{"color":"red"}', b"{}", b"{}", b'{"color":"blue"}']))),
            ],
        ),
    )
    out["mutation_result"] = milvus_pb2.MutationResult(
        status=common_pb2.Status(),
        IDs=schema_pb2.IDs(int_id=schema_pb2.LongArray(data=[1, 2, 3])),
        succ_index=[0, 1, 2],
        insert_cnt=3,
        timestamp=458_000_000_000_000_001,
    )
    out["describe_collection"] = describe_response()
    out["describe_missing"] = milvus_pb2.DescribeCollectionResponse(
        status=common_pb2.Status(
            error_code=common_pb2.CollectionNotExists, code=100,
            reason="collection not found[collection=missing]"))
    return out


# ---------------------------------------------------------------------------------------------


def write_fixtures():
    expected = {
        "pymilvus": pymilvus.__version__,
        "requests": {},
        "responses": {},
        # The inputs themselves, to check values independently of any protobuf JSON mapping.
        "inputs": {"rows": ROWS, "queries": QUERIES},
    }
    os.makedirs(os.path.join(HERE, "requests"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "responses"), exist_ok=True)
    for name, (message, nested) in requests().items():
        data = message.SerializeToString(deterministic=True)
        with open(os.path.join(HERE, "requests", f"{name}.bin"), "wb") as f:
            f.write(data)
        entry = {"type": message.DESCRIPTOR.full_name, "json": to_json(message), "nested": {}}
        for field, cls in nested.items():
            inner = cls()
            inner.ParseFromString(getattr(message, field))
            entry["nested"][field] = {"type": inner.DESCRIPTOR.full_name, "json": to_json(inner)}
        expected["requests"][name] = entry
    for name, message in responses().items():
        with open(os.path.join(HERE, "responses", f"{name}.bin"), "wb") as f:
            f.write(message.SerializeToString(deterministic=True))
        expected["responses"][name] = {"type": message.DESCRIPTOR.full_name, "json": to_json(message)}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(expected['requests'])} requests and {len(expected['responses'])} responses to {HERE}")


def check_swift(folder: str) -> int:
    """Decodes what the Swift tests encoded and checks it with pymilvus."""
    failures = 0
    for name, want in responses().items():
        path = os.path.join(folder, f"{name}.bin")
        got = type(want)()
        with open(path, "rb") as f:
            got.ParseFromString(f.read())
        if got != want:
            print(f"FAIL {name}: pymilvus decodes\n{got}\nexpected\n{want}")
            failures += 1
            continue
        print(f"ok   {name}: decodes to the expected message")

    # pymilvus' own result handling on top of the decoded bytes.
    res = milvus_pb2.SearchResults()
    with open(os.path.join(folder, "search_results.bin"), "rb") as f:
        res.ParseFromString(f.read())
    hits = SearchResult(res.results, -1, status=res.status)
    got = [[(h["id"], h["distance"], h["entity"].get("title"), h["entity"].get("color")) for h in q] for q in hits]
    want = [[(3, 0.875, "gamma", "blue"), (1, 0.5, "alpha", "red"), (2, -0.25, "beta", None)],
            [(2, 0.75, "beta", None), (3, 0.125, "gamma", "blue")]]
    if got != want:
        print(f"FAIL pymilvus SearchResult: {got} != {want}")
        failures += 1
    else:
        print("ok   pymilvus SearchResult splits hits by topks and unpacks $meta")

    res = milvus_pb2.MutationResult()
    with open(os.path.join(folder, "mutation_result.bin"), "rb") as f:
        res.ParseFromString(f.read())
    m = MutationResult(res)
    if (m.primary_keys, m.insert_count) != ([1, 2, 3], 3):
        print(f"FAIL pymilvus MutationResult: {m.primary_keys} {m.insert_count}")
        failures += 1
    else:
        print("ok   pymilvus MutationResult reads primary keys and insert count")

    res = milvus_pb2.DescribeCollectionResponse()
    with open(os.path.join(folder, "describe_collection.bin"), "rb") as f:
        res.ParseFromString(f.read())
    d = DescribedSchema(raw=res).dict()
    fields = {f["name"]: f for f in d["fields"]}
    ok = (d["collection_name"] == COLLECTION and d["enable_dynamic_field"]
          and fields["vector"]["params"]["dim"] == DIM and fields["id"]["is_primary"]
          and fields["tags"]["element_type"] == DataType.INT64 and "$meta" not in fields)
    if not ok:
        print(f"FAIL pymilvus describe_collection: {d}")
        failures += 1
    else:
        print("ok   pymilvus describe_collection reads the schema")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check-swift", metavar="DIR")
    args = parser.parse_args()
    if pymilvus.__version__ != "3.0.2":
        sys.exit(f"pymilvus {pymilvus.__version__}; the fixtures are made with 3.0.2 (proto/requirements.txt)")
    if args.check_swift:
        return check_swift(args.check_swift)
    write_fixtures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
