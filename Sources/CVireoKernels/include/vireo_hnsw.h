// HNSW graph kernels (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search
// using Hierarchical Navigable Small World graphs", arXiv:1603.09320).
//
// The graph is a set of flat arrays so that a built graph can be stored as one blob and used in place
// from a memory map:
//   levels[n]                 top level of each node (0 for most)
//   upper_offset[n]           for nodes with level >= 1: index of the node's first upper link list in
//                             `upper` (in lists of M+1 words); unused otherwise
//   links0[n * (M0 + 1)]      level-0 neighbour list of each node: [count, id, id, ...]
//   upper[...]                upper-level lists, (M+1) words each, levels 1..levels[i] of node i in order
// Vectors live outside the graph (the segment's row-major n × dim matrix), so they are stored once.
//
// Distances: metric 0 = squared L2, metric 1 = negative inner product (COSINE uses unit vectors).
//
// Invariants (checked by vk_hnsw_check): every list has count <= its capacity (M0 at level 0, M above);
// no self links, no duplicates, every id < n; a node appears at level l only if levels[id] >= l;
// entry has the maximum level.
#ifndef VIREO_HNSW_H
#define VIREO_HNSW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t n;
    uint32_t dim;
    uint32_t M;        // max links per node above level 0
    uint32_t M0;       // max links per node at level 0 (2*M)
    int32_t metric;    // 0 = L2, 1 = IP
    uint32_t entry;    // entry point
    int32_t max_level; // level of the entry point; -1 when empty
    const float *vectors;
    uint8_t *levels;
    uint32_t *upper_offset;
    uint32_t *links0;
    uint32_t *upper;
    // 8-bit scalar-quantised codes (HNSW_SQ): n × dim codes and the per-dimension ranges
    // (x̂ = vmin + scale∘code). NULL for float graphs. A search then takes its query prepared:
    // q∘scale (IP; distances omit the constant −⟨q, vmin⟩) or q − vmin (L2). A build with codes set
    // builds on the codes alone (as faiss' IndexHNSWSQ does; `vectors` is not read): each insert's
    // query is its node's decoded row, and neighbour selection compares decoded rows.
    const uint8_t *codes;
    const float *sq_scale;
    const float *sq_vmin;
} vk_hnsw_graph;

/// Per-thread search state: visited tags and heaps, reused across queries (no allocation per query).
typedef struct vk_hnsw_scratch vk_hnsw_scratch;
vk_hnsw_scratch *vk_hnsw_scratch_create(uint32_t n, uint32_t max_ef);
void vk_hnsw_scratch_destroy(vk_hnsw_scratch *s);

/// Build-time shared state: per-node locks and the entry-point lock.
typedef struct vk_hnsw_build vk_hnsw_build;
vk_hnsw_build *vk_hnsw_build_create(vk_hnsw_graph *g);
void vk_hnsw_build_destroy(vk_hnsw_build *b);
/// Inserts `node` (all nodes must be inserted exactly once; any order, any threads). `levels` and
/// `upper_offset` must be filled before the first insert; link counts must start at zero.
void vk_hnsw_insert(vk_hnsw_graph *g, vk_hnsw_build *b, uint32_t node, uint32_t ef_construction, vk_hnsw_scratch *s);
/// Claims the next node to insert (an atomic counter), or returns UINT32_MAX when all are claimed.
uint32_t vk_hnsw_next_node(vk_hnsw_build *b);
/// Number of completed inserts.
uint32_t vk_hnsw_inserted(vk_hnsw_build *b);

/// k-nearest-neighbour search. Rows whose bit is set in `excluded` (a bitset of `excluded_bits` bits,
/// may be NULL) are never returned. With `filtered_cap` 0 they are traversed like any node (best
/// when few rows are excluded); with `filtered_cap` > 0 layer 0 computes distances for allowed
/// nodes only, reaching them through excluded neighbours (two hops), at most `filtered_cap` per
/// expansion (a selective filter). Writes up to k results, closest first; returns the count.
size_t vk_hnsw_search(const vk_hnsw_graph *g, const float *query, uint32_t k, uint32_t ef,
                      const uint64_t *excluded, size_t excluded_bits, uint32_t filtered_cap, vk_hnsw_scratch *s,
                      uint32_t *out_ids, float *out_dist);

/// Checks the invariants above; returns 0 if they hold, else a code (1 count, 2 id range, 3 self link,
/// 4 duplicate, 5 level, 6 entry) and the offending node in *bad_node.
int vk_hnsw_check(const vk_hnsw_graph *g, uint32_t *bad_node);

#ifdef __cplusplus
}
#endif
#endif
