#!/usr/bin/env python3
"""Writes Sources/VireoServer/REST/OpenAPIDocument.swift: the OpenAPI 3 document of Vireo's REST API,
served at /openapi.json. Edit the tables here and rerun: python3 scripts/gen-openapi.py"""
import json, pathlib

S = {"type": "string"}
NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
INT = {"type": "integer"}
BOOL = {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false", "True", "False", "1", "0", "t", "f"]}],
        "description": "a boolean, or a string Go's strconv.ParseBool reads (\"true\", \"1\", ...)"}
STRS = {"type": "array", "items": S}
VEC = {"type": "array", "items": {"type": "number"}, "minItems": 1}
# A query: a dense vector, query text (a BM25 function's output field) or a sparse vector {"index": weight}.
QUERY = {"oneOf": [VEC, {"type": "string", "description": "query text (BM25 search of a function's output field)"},
                   {"type": "object", "additionalProperties": {"type": "number"}, "description": "sparse vector: index (as text) → weight"}]}
DB = {"type": "string", "description": "The database (default: 'default', or the DB-Name header)."}
PROPS = {"type": "object", "additionalProperties": {"oneOf": [S, INT, {"type": "number"}, BOOL]}}

def obj(props, required=()):
    o = {"type": "object", "properties": props}
    if required:
        o["required"] = list(required)
    return o

def coll(extra=None, required=()):
    p = {"dbName": DB, "collectionName": NAME}
    p.update(extra or {})
    return obj(p, ["collectionName", *required])

INDEX_PARAM = obj({
    "fieldName": S, "indexName": S, "metricType": {"type": "string", "enum": ["L2", "IP", "COSINE", "HAMMING", "JACCARD", "BM25"]},
    "indexType": {"type": "string", "enum": ["AUTOINDEX", "FLAT", "HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_PQ", "IVF_SQ8", "BIN_FLAT", "BIN_IVF_FLAT", "INVERTED", "STL_SORT", "TRIE", "BITMAP",
                                             "SPARSE_INVERTED_INDEX", "SPARSE_WAND"]},
    "params": {"type": "object", "additionalProperties": {"oneOf": [{"type": "number"}, S, {"type": "boolean"}]},
               "description": "M, efConstruction (HNSW, HNSW_SQ); nlist, m, nbits (IVF): integers; sq_type (SQ8), refine (boolean), refine_type (SQ6, SQ8, BF16, FP16, FP32) for HNSW_SQ; json_path, json_cast_type (BOOL, DOUBLE, VARCHAR, ARRAY_BOOL, ARRAY_DOUBLE, ARRAY_VARCHAR), json_cast_function (STRING_TO_DOUBLE) for a JSON path index (INVERTED or AUTOINDEX on a JSON field): strings; inverted_index_algo (TAAT_NAIVE, DAAT_WAND, DAAT_MAXSCORE), bm25_k1, bm25_b for a sparse index; other Milvus parameters are accepted and unused"},
}, ["fieldName"])
FIELD = obj({
    "fieldName": S, "dataType": {"type": "string", "enum": ["Bool", "Int8", "Int16", "Int32", "Int64", "Float", "Double",
                                                          "VarChar", "JSON", "Array", "FloatVector", "Float16Vector",
                                                          "BFloat16Vector", "Int8Vector", "BinaryVector", "SparseFloatVector"]},
    "isPrimary": BOOL, "isPartitionKey": BOOL, "elementDataType": S, "nullable": BOOL, "defaultValue": {},
    "description": S,
    "elementTypeParams": obj({"dim": {"oneOf": [INT, S]}, "max_length": {"oneOf": [INT, S]}, "max_capacity": {"oneOf": [INT, S]},
                              "enable_analyzer": {"oneOf": [BOOL, S]}, "enable_match": {"oneOf": [BOOL, S]},
                              "analyzer_params": {"oneOf": [{"type": "object"}, S]}}),
}, ["fieldName", "dataType"])
FUNCTION = obj({"name": S, "type": {"type": "string", "enum": ["BM25"]}, "inputFieldNames": STRS, "outputFieldNames": STRS,
                "params": {"type": "object"}, "description": S}, ["name", "inputFieldNames", "outputFieldNames"])
CREATE_PARAMS = obj({"max_length": INT, "enableDynamicField": BOOL, "shardsNum": INT,
                     "consistencyLevel": {"type": "string", "enum": ["Strong", "Session", "Bounded", "Eventually"]},
                     "partitionsNum": INT, "ttlSeconds": {"type": "integer", "minimum": 0},
                     "partitionKeyIsolation": BOOL, "mmapEnabled": BOOL})
SEARCH_PARAMS = obj({"metricType": S, "ignoreGrowing": {"type": "boolean", "description": "search sealed segments only"},
                     "params": obj({"ef": INT, "nprobe": INT, "refine_k": INT, "drop_ratio_search": {"type": "number"},
                                                     "exact": {"type": "boolean", "description": "Vireo extension: exact search"}})})
SUB_SEARCH = obj({"data": {"type": "array", "items": QUERY, "minItems": 1}, "annsField": S, "filter": S, "limit": INT,
                  "offset": INT, "metricType": S, "params": obj({"ef": INT, "nprobe": INT})}, ["data"])

ENDPOINTS = {
    "collections/create": ("Create a collection (quick setup with dimension, or a custom schema)", coll({
        "dimension": {"type": "integer", "minimum": 1, "maximum": 32768}, "metricType": {"type": "string", "enum": ["L2", "IP", "COSINE"]},
        "idType": {"type": "string", "enum": ["Int64", "VarChar"]}, "autoID": BOOL, "primaryFieldName": S,
        "vectorFieldName": S, "description": S, "params": CREATE_PARAMS,
        "schema": obj({"autoID": BOOL, "enableDynamicField": BOOL, "fields": {"type": "array", "items": FIELD},
                       "functions": {"type": "array", "items": FUNCTION}}, ["fields"]),
        "indexParams": {"type": "array", "items": INDEX_PARAM},
    }), "{}"),
    "collections/describe": ("Describe a collection", coll(), "object"),
    "collections/list": ("List collections", obj({"dbName": DB}), "array"),
    "collections/has": ("Whether a collection exists", coll(), "object"),
    "collections/drop": ("Drop a collection", coll(), "{}"),
    "collections/get_stats": ("Row count", coll(), "object"),
    "collections/load": ("Load a collection", coll(), "{}"),
    "collections/release": ("Release a collection", coll(), "{}"),
    "collections/get_load_state": ("Load state", coll({"partitionNames": STRS}), "object"),
    "collections/refresh_load": ("Refresh a loaded collection (after fields were added; Vireo serves them at once)", coll(), "{}"),
    "collections/flush": ("Seal growing segments", coll(), "{}"),
    "collections/compact": ("Start compacting a collection (rewrite segments with deleted rows, merge small ones)",
                            coll(), "{compactionID}"),
    "collections/get_compaction_state": ("State of a compaction job (by jobID, or the newest of a collection)",
                                         obj({"jobID": S, "collectionName": NAME, "dbName": DB}),
                                         "{compactionID, state, executingPlanNumber, timeoutPlanNumber, completePlanNumber, failedPlanNumber}"),
    "collections/rename": ("Rename a collection", coll({"newCollectionName": NAME, "newDbName": DB}, ["newCollectionName"]), "{}"),
    "entities/insert": ("Insert rows", coll({"data": {"type": "array", "items": {"type": "object"}}, "partitionName": S}, ["data"]), "object"),
    "entities/upsert": ("Insert or replace rows", coll({"data": {"type": "array", "items": {"type": "object"}}, "partitionName": S}, ["data"]), "object"),
    "entities/delete": ("Delete rows matching a filter", coll({"filter": S, "partitionName": S, "exprParams": {"type": "object"}}, ["filter"]), "object"),
    "entities/get": ("Rows by primary key", coll({"id": {"oneOf": [INT, S, {"type": "array", "items": {"oneOf": [INT, S]}}]},
                                                 "outputFields": STRS, "partitionNames": STRS}, ["id"]), "array"),
    "entities/query": ("Rows matching a filter (outputFields [\"count(*)\"] counts)", coll({
        "filter": S, "outputFields": STRS, "limit": INT, "offset": INT, "partitionNames": STRS, "exprParams": {"type": "object"},
        "ignoreGrowing": {"type": "boolean", "description": "read sealed segments only"}}), "array"),
    "entities/search": ("Vector search: by queries (data: dense vectors, query text for BM25, sparse vectors) or by the stored vectors of primary keys (ids), not both", coll({
        "data": {"type": "array", "items": QUERY, "minItems": 1},
        "ids": {"type": "array", "items": {"oneOf": [INT, S]}, "minItems": 1,
                "description": "primary keys whose stored vectors are the queries (Int64 keys as integers or their decimal text)"},
        "annsField": S, "filter": S, "limit": INT, "offset": INT,
        "outputFields": STRS, "partitionNames": STRS, "searchParams": SEARCH_PARAMS, "exprParams": {"type": "object"}}), "array"),
    "entities/hybrid_search": ("Several searches fused by a reranker", coll({
        "search": {"type": "array", "items": SUB_SEARCH, "minItems": 1},
        "rerank": obj({"strategy": {"type": "string", "enum": ["rrf", "weighted"]},
                       "params": obj({"k": {"type": "number"}, "weights": {"type": "array", "items": {"type": "number"}}})}),
        "limit": INT, "offset": INT, "outputFields": STRS, "partitionNames": STRS}, ["search"]), "array"),
    "indexes/create": ("Create indexes", coll({"indexParams": {"type": "array", "items": INDEX_PARAM}}, ["indexParams"]), "{}"),
    "indexes/describe": ("Describe an index", coll({"indexName": S}, ["indexName"]), "array"),
    "indexes/list": ("List index names", coll(), "array"),
    "indexes/drop": ("Drop an index", coll({"indexName": S}, ["indexName"]), "{}"),
    "indexes/alter_properties": ("Set index properties (mmap.enabled; build parameters cannot change)",
                                 coll({"indexName": S, "properties": PROPS}, ["indexName", "properties"]), "{}"),
    "indexes/drop_properties": ("Remove index properties", coll({"indexName": S, "propertyKeys": STRS}, ["indexName", "propertyKeys"]), "{}"),
    "collections/alter_properties": ("Set collection properties (collection.ttl.seconds is honoured; mmap.enabled, ...)",
                                     coll({"properties": PROPS}, ["properties"]), "{}"),
    "collections/drop_properties": ("Remove collection properties", coll({"propertyKeys": STRS}, ["propertyKeys"]), "{}"),
    "collections/fields/add": ("Add a nullable scalar field to a collection (stored rows read its default or null)",
                               coll({"schema": FIELD}, ["schema"]), "{}"),
    "collections/fields/alter_properties": ("Change max_length, max_capacity or mmap.enabled of a field",
                                            coll({"fieldName": S, "fieldParams": PROPS}, ["fieldName", "fieldParams"]), "{}"),
    "collections/fields/drop_properties": ("Remove a field property (mmap.enabled)",
                                           coll({"fieldName": S, "propertyKeys": STRS}, ["fieldName", "propertyKeys"]), "{}"),
    "partitions/create": ("Create a partition", coll({"partitionName": NAME}, ["partitionName"]), "{}"),
    "partitions/drop": ("Drop a partition and its rows", coll({"partitionName": NAME}, ["partitionName"]), "{}"),
    "partitions/has": ("Whether a partition exists", coll({"partitionName": S}, ["partitionName"]), "object"),
    "partitions/list": ("List partitions", coll(), "array"),
    "partitions/get_stats": ("Rows of a partition", coll({"partitionName": S}, ["partitionName"]), "object"),
    "partitions/load": ("Load partitions", coll({"partitionNames": STRS}, ["partitionNames"]), "{}"),
    "partitions/release": ("Release partitions", coll({"partitionNames": STRS}, ["partitionNames"]), "{}"),
    "databases/create": ("Create a database", obj({"dbName": NAME, "properties": PROPS}, ["dbName"]), "{}"),
    "users/list": ("Milvus users: none (Vireo's credentials come from --token / --tokens-file; users/* and roles/* writes answer code 10)", obj({}), "array"),
    "roles/list": ("Milvus roles: none (no RBAC; each credential grants the whole API)", obj({}), "array"),
    "databases/list": ("List databases", obj({}), "array"),
    "databases/describe": ("Describe a database", obj({"dbName": NAME}, ["dbName"]), "{dbName, dbID, properties}"),
    "databases/drop": ("Drop an empty database", obj({"dbName": NAME}, ["dbName"]), "{}"),
    "databases/alter": ("Set database properties", obj({"dbName": NAME, "properties": PROPS}, ["dbName", "properties"]), "{}"),
    "databases/drop_properties": ("Remove database properties", obj({"dbName": NAME, "propertyKeys": STRS}, ["dbName", "propertyKeys"]), "{}"),
    "aliases/create": ("Create an alias of a collection", coll({"aliasName": NAME}, ["aliasName"]), "{}"),
    "aliases/drop": ("Drop an alias", obj({"dbName": DB, "aliasName": NAME}, ["aliasName"]), "{}"),
    "aliases/alter": ("Point an alias at another collection", coll({"aliasName": NAME}, ["aliasName"]), "{}"),
    "aliases/describe": ("The collection an alias stands for", obj({"dbName": DB, "aliasName": NAME}, ["aliasName"]),
                         "{aliasName, collectionName, dbName}"),
    "aliases/list": ("Aliases of a database or of one collection", obj({"dbName": DB, "collectionName": NAME}), "array"),
}

ENVELOPE = {
    "type": "object",
    "description": "Success: code 0 and data. Error: a Milvus code (100 collection not found, 101 not loaded, 200 partition not found, "
                   "700 index not found, 800 database not found, 1600 alias not found, 1601 alias/collection name conflict, 1602 alias exists, 1100 invalid parameter, 1801 malformed JSON, 1802 missing parameter, "
                   "1804 bad insert data, 1806 bad primary key, 65535 unexpected) and a message.",
    "properties": {"code": INT, "message": S, "data": {}, "cost": INT, "topks": {"type": "array", "items": INT}},
    "required": ["code"],
}

def operation(path, summary, schema):
    return {"post": {
        "operationId": path.replace("/", "_"), "summary": summary, "tags": [path.split("/")[0]],
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {
            "200": {"description": "Milvus envelope (errors too, with a non-zero code)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}},
            "401": {"description": "Missing or wrong credentials (code 1800)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}},
            "413": {"description": "Body over the size limit", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}},
        },
    }}

doc = {
    "openapi": "3.0.3",
    "info": {"title": "Vireo REST API (Milvus RESTful API v2)", "version": "2.0.0",
             "description": "Milvus RESTful API v2 compatible. Headers: Authorization (Bearer user:password or API key, or Basic), "
                            "Accept-Type-Allow-Int64 (false: int64 as strings), Request-Timeout (seconds), DB-Name."},
    "servers": [{"url": "/"}],
    "components": {
        "schemas": {"Envelope": ENVELOPE},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "basic": {"type": "http", "scheme": "basic"}},
    },
    "security": [{"bearer": []}, {"basic": []}, {}],
    "paths": {},
}
for path, (summary, schema, _) in ENDPOINTS.items():
    doc["paths"]["/v2/vectordb/" + path] = operation(path, summary, schema)
for p, d in [("/healthz", "Alive"), ("/readyz", "Ready (database open)")]:
    doc["paths"][p] = {"get": {"operationId": p.strip("/"), "summary": d, "security": [],
                               "responses": {"200": {"description": d, "content": {"application/json": {"schema": {"type": "object"}}}}}}}
doc["paths"]["/metrics"] = {"get": {"operationId": "metrics", "summary": "Prometheus metrics", "security": [],
                                    "responses": {"200": {"description": "text format 0.0.4", "content": {"text/plain": {"schema": S}}}}}}

text = json.dumps(doc, indent=1, sort_keys=True)
assert '"""#' not in text
out = pathlib.Path(__file__).resolve().parent.parent / "Sources/VireoServer/REST/OpenAPIDocument.swift"
out.write_text("// Generated by scripts/gen-openapi.py — edit that script, not this file.\n\n"
               "/// The OpenAPI 3 document of the REST API, served at `/openapi.json`.\n"
               "enum OpenAPIDocument {\n    static let json = #\"\"\"\n" + text + "\n\"\"\"#\n}\n")
print(f"wrote {out} ({len(text)} bytes, {len(ENDPOINTS)} endpoints)")
