// HNSW build and search (Malkov & Yashunin, arXiv:1603.09320): Algorithms 1 (insert), 2 (search
// layer), 4 (neighbour selection heuristic) and 5 (k-NN search). See vireo_hnsw.h for the layout.
#include "vireo_hnsw.h"
#include "vireo_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#pragma clang fp reassociate(on)

#include "vk_common.h"
#define VK_INLINE static inline __attribute__((always_inline))

// A measuring harness that compiles this file in (bench/walkfloor) defines this to count each
// layer-0 expansion and the distances it computes; the library leaves it empty.
#ifndef VK_HNSW_COUNT_EXPANSION
#define VK_HNSW_COUNT_EXPANSION(scored) ((void)0)
#endif

typedef struct {
    float d;
    uint32_t id;
} pair_t;

struct vk_hnsw_scratch {
    uint32_t *visited;
    uint32_t epoch;
    uint32_t n;
    pair_t *cand;  // min-heap of candidates to expand
    size_t cand_len, cand_cap;
    pair_t *res;   // max-heap of the best `ef` results
    size_t res_len, res_cap;
    pair_t *tmp;   // neighbour selection
    size_t tmp_cap;
    uint32_t *links;  // copy of a neighbour list read under a lock
    uint32_t *todo;   // unvisited neighbours of the node being expanded
    pair_t *sel;      // an insert's selected neighbours, per level
    size_t sel_cap;
    float *qn, *qt;   // a build over codes: the inserted node's prepared row, and another node's
    size_t q_cap;
};

struct vk_hnsw_build {
    pthread_mutex_t global;
    atomic_flag *locks;
    _Atomic uint32_t next;
    _Atomic uint32_t inserted;
};

// ---------------------------------------------------------------------------------------------
// Distances (inlined into each multi-versioned caller, so they use its instruction set).

VK_INLINE float dist(const vk_hnsw_graph *g, const float *a, const float *b) {
    const size_t d = g->dim;
    float s = 0.0f;
    if (g->metric == 0) {
        for (size_t i = 0; i < d; i++) {
            float t = a[i] - b[i];
            s += t * t;
        }
        return s;
    }
    for (size_t i = 0; i < d; i++) s += a[i] * b[i];
    return -s;
}

VK_INLINE const float *vec(const vk_hnsw_graph *g, uint32_t id) { return g->vectors + (size_t)id * g->dim; }

// Distance of the query to node `id`: the float vectors, or (a search over SQ8 codes, `g->codes`
// set) the node's codes against the query prepared by the caller — q∘scale for IP (the constant
// −⟨q, vmin⟩ left out: it does not change the order), q − vmin for L2 (with g->sq_scale).
VK_INLINE float dist_node(const vk_hnsw_graph *g, const float *q, uint32_t id) {
    if (g->codes) {
        const size_t d = g->dim;
        const uint8_t *c = g->codes + (size_t)id * d;
        float s = 0.0f;
        if (g->metric == 0) {
            const float *scale = g->sq_scale;
            for (size_t i = 0; i < d; i++) {
                float t = q[i] - scale[i] * (float)c[i];
                s += t * t;
            }
            return s;
        }
        for (size_t i = 0; i < d; i++) s += q[i] * (float)c[i];
        return -s;
    }
    return dist(g, q, vec(g, id));
}

// A build over codes: node `id`'s decoded row x̂ = vmin + scale∘code prepared as a query for
// dist_node into `out`; returns the constant dist_node leaves out (−⟨x̂, vmin⟩ for IP, 0 for L2),
// so that dist_node(out, b) + the constant is the distance between the two decoded rows.
VK_INLINE float prep_node(const vk_hnsw_graph *g, uint32_t id, float *out) {
    const size_t d = g->dim;
    const uint8_t *c = g->codes + (size_t)id * d;
    const float *scale = g->sq_scale, *vmin = g->sq_vmin;
    if (g->metric == 0) {
        for (size_t i = 0; i < d; i++) out[i] = scale[i] * (float)c[i];  // x̂ − vmin
        return 0.0f;
    }
    float bias = 0.0f;
    for (size_t i = 0; i < d; i++) {
        const float x = vmin[i] + scale[i] * (float)c[i];
        out[i] = x * scale[i];
        bias += x * vmin[i];
    }
    return -bias;
}

// Node `id` as a query for dist_node, with the constant to add to its distances (see prep_node):
// its float row as it is, or over codes its decoded row prepared into `buf`.
VK_INLINE const float *node_query(const vk_hnsw_graph *g, uint32_t id, float *buf, float *off) {
    if (!g->codes) {
        *off = 0.0f;
        return vec(g, id);
    }
    *off = prep_node(g, id, buf);
    return buf;
}

// Distances of the query to four float vectors at once (faiss' batch-of-4 inner products, for the
// same reason): one pass over the coordinates with four accumulators loads from four vectors
// side by side, so their cache misses overlap instead of following one another, and each query
// coordinate is loaded once for four products.
VK_INLINE void dist4(const vk_hnsw_graph *g, const float *q, const uint32_t *ids, float *out) {
    const size_t d = g->dim;
    const float *b0 = vec(g, ids[0]), *b1 = vec(g, ids[1]), *b2 = vec(g, ids[2]), *b3 = vec(g, ids[3]);
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    if (g->metric == 0) {
        for (size_t i = 0; i < d; i++) {
            const float x = q[i];
            const float t0 = x - b0[i], t1 = x - b1[i], t2 = x - b2[i], t3 = x - b3[i];
            s0 += t0 * t0;
            s1 += t1 * t1;
            s2 += t2 * t2;
            s3 += t3 * t3;
        }
        out[0] = s0, out[1] = s1, out[2] = s2, out[3] = s3;
        return;
    }
    for (size_t i = 0; i < d; i++) {
        const float x = q[i];
        s0 += x * b0[i];
        s1 += x * b1[i];
        s2 += x * b2[i];
        s3 += x * b3[i];
    }
    out[0] = -s0, out[1] = -s1, out[2] = -s2, out[3] = -s3;
}

VK_INLINE uint32_t *list_at(const vk_hnsw_graph *g, uint32_t id, int level) {
    if (level == 0) return g->links0 + (size_t)id * (g->M0 + 1);
    return g->upper + ((size_t)g->upper_offset[id] + (size_t)(level - 1)) * (g->M + 1);
}

// The first cache line of a node's vector (or codes), as hnswlib does: the hardware prefetcher
// streams the rest once the first line is read. Prefetching every line (24 for 384 floats, four
// vectors ahead) filled the miss queue and stalled on the prefetches themselves: on dev at
// ef 16/32/64, one line gave 21.3–23.6k / 13.5k / 7.7–8.0k QPS against 17.3–17.4k / 10.7–11.1k /
// 6.5–6.6k for every line (about the same as no prefetch at all), three lines 18.9k / 11.2k / 6.6k.
VK_INLINE void prefetch_vec(const vk_hnsw_graph *g, uint32_t id) {
    const char *p = g->codes ? (const char *)(g->codes + (size_t)id * g->dim) : (const char *)vec(g, id);
    __builtin_prefetch(p, 0, 3);
}

// ---------------------------------------------------------------------------------------------
// Heaps (binary, in preallocated arrays).

VK_INLINE void min_push(vk_hnsw_scratch *s, float d, uint32_t id) {
    if (s->cand_len == s->cand_cap) {
        s->cand_cap *= 2;
        s->cand = (pair_t *)realloc(s->cand, s->cand_cap * sizeof(pair_t));
    }
    size_t i = s->cand_len++;
    pair_t *h = s->cand;
    while (i > 0) {
        size_t p = (i - 1) >> 1;
        if (h[p].d <= d) break;
        h[i] = h[p];
        i = p;
    }
    h[i].d = d;
    h[i].id = id;
}

VK_INLINE pair_t min_pop(vk_hnsw_scratch *s) {
    pair_t *h = s->cand;
    pair_t top = h[0];
    pair_t last = h[--s->cand_len];
    size_t n = s->cand_len, i = 0;
    while (1) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t m = (l + 1 < n && h[l + 1].d < h[l].d) ? l + 1 : l;
        if (last.d <= h[m].d) break;
        h[i] = h[m];
        i = m;
    }
    if (n > 0) h[i] = last;
    return top;
}

VK_INLINE void max_push(vk_hnsw_scratch *s, float d, uint32_t id) {
    size_t i = s->res_len++;
    pair_t *h = s->res;
    while (i > 0) {
        size_t p = (i - 1) >> 1;
        if (h[p].d >= d) break;
        h[i] = h[p];
        i = p;
    }
    h[i].d = d;
    h[i].id = id;
}

VK_INLINE void max_pop(vk_hnsw_scratch *s) {
    pair_t *h = s->res;
    pair_t last = h[--s->res_len];
    size_t n = s->res_len, i = 0;
    while (1) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t m = (l + 1 < n && h[l + 1].d > h[l].d) ? l + 1 : l;
        if (last.d >= h[m].d) break;
        h[i] = h[m];
        i = m;
    }
    if (n > 0) h[i] = last;
}

// ---------------------------------------------------------------------------------------------
// Scratch and build state.

vk_hnsw_scratch *vk_hnsw_scratch_create(uint32_t n, uint32_t max_ef) {
    vk_hnsw_scratch *s = (vk_hnsw_scratch *)calloc(1, sizeof(vk_hnsw_scratch));
    s->n = n;
    s->visited = (uint32_t *)calloc(n > 0 ? n : 1, sizeof(uint32_t));
    s->epoch = 0;
    s->cand_cap = 1024;
    s->cand = (pair_t *)malloc(s->cand_cap * sizeof(pair_t));
    s->res_cap = (size_t)max_ef + 2;
    s->res = (pair_t *)malloc(s->res_cap * sizeof(pair_t));
    s->tmp_cap = (size_t)max_ef + 2;
    s->tmp = (pair_t *)malloc(s->tmp_cap * sizeof(pair_t));
    s->links = (uint32_t *)malloc(4096 * sizeof(uint32_t) + 4);
    s->todo = (uint32_t *)malloc(4096 * sizeof(uint32_t) + 4);
    return s;
}

void vk_hnsw_scratch_destroy(vk_hnsw_scratch *s) {
    if (!s) return;
    free(s->visited);
    free(s->cand);
    free(s->res);
    free(s->tmp);
    free(s->links);
    free(s->todo);
    free(s->sel);
    free(s->qn);
    free(s->qt);
    free(s);
}

static void next_epoch(vk_hnsw_scratch *s) {
    if (++s->epoch == 0) {
        memset(s->visited, 0, (size_t)s->n * sizeof(uint32_t));
        s->epoch = 1;
    }
}

vk_hnsw_build *vk_hnsw_build_create(vk_hnsw_graph *g) {
    vk_hnsw_build *b = (vk_hnsw_build *)calloc(1, sizeof(vk_hnsw_build));
    pthread_mutex_init(&b->global, NULL);
    b->locks = (atomic_flag *)calloc(g->n > 0 ? g->n : 1, sizeof(atomic_flag));
    for (uint32_t i = 0; i < g->n; i++) atomic_flag_clear(&b->locks[i]);
    atomic_store(&b->next, 0);
    atomic_store(&b->inserted, 0);
    return b;
}

void vk_hnsw_build_destroy(vk_hnsw_build *b) {
    if (!b) return;
    pthread_mutex_destroy(&b->global);
    free(b->locks);
    free(b);
}

uint32_t vk_hnsw_next_node(vk_hnsw_build *b) { return atomic_fetch_add(&b->next, 1); }
uint32_t vk_hnsw_inserted(vk_hnsw_build *b) { return atomic_load(&b->inserted); }

VK_INLINE void lock_node(vk_hnsw_build *b, uint32_t id) {
    if (!b) return;
    while (atomic_flag_test_and_set_explicit(&b->locks[id], memory_order_acquire)) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
}

VK_INLINE void unlock_node(vk_hnsw_build *b, uint32_t id) {
    if (b) atomic_flag_clear_explicit(&b->locks[id], memory_order_release);
}

/// Copies node `id`'s list at `level` into s->links (under its lock during a build); returns the count.
VK_INLINE uint32_t read_list(const vk_hnsw_graph *g, vk_hnsw_build *b, uint32_t id, int level, vk_hnsw_scratch *s, const uint32_t **out) {
    const uint32_t *list = list_at(g, id, level);
    if (!b) {
        *out = list + 1;
        return list[0];
    }
    lock_node(b, id);
    uint32_t c = list[0];
    memcpy(s->links, list + 1, c * sizeof(uint32_t));
    unlock_node(b, id);
    *out = s->links;
    return c;
}

VK_INLINE int is_excluded(const uint64_t *bits, size_t nbits, uint32_t id) {
    return bits && id < nbits && ((bits[id >> 6] >> (id & 63)) & 1);
}

// One scored node: joins the candidates when close enough, and the results unless excluded.
VK_INLINE float offer(vk_hnsw_scratch *s, float d, uint32_t e, uint32_t ef, const uint64_t *excluded, size_t excluded_bits, float bound) {
    if (s->res_len < ef || d < bound) {
        min_push(s, d, e);
        if (!is_excluded(excluded, excluded_bits, e)) {
            max_push(s, d, e);
            if (s->res_len > ef) max_pop(s);
            if (s->res_len == ef) bound = s->res[0].d;
        }
    }
    return bound;
}

// Distances to the nodes in `todo` (unvisited neighbours of the node being expanded), offered in
// list order. Returns the new bound (the worst result once there are `ef`). One distance (~15 ns at
// dim 384) hides less than one memory access (~100 ns), so vectors are fetched ahead: float
// vectors four at a time (`dist4`, the next four prefetched meanwhile), codes two ahead.
VK_INLINE float score_todo(const vk_hnsw_graph *g, const float *q, const uint32_t *todo, uint32_t m, uint32_t ef,
                           const uint64_t *excluded, size_t excluded_bits, float bound, vk_hnsw_scratch *s) {
    uint32_t j = 0;
    if (!g->codes) {
        for (uint32_t k = 0; k < m && k < 4; k++) prefetch_vec(g, todo[k]);
        for (; j + 4 <= m; j += 4) {
            for (uint32_t k = j + 4; k < m && k < j + 8; k++) prefetch_vec(g, todo[k]);
            float d[4];
            dist4(g, q, todo + j, d);
            for (uint32_t k = 0; k < 4; k++) bound = offer(s, d[k], todo[j + k], ef, excluded, excluded_bits, bound);
        }
    } else {
        if (m > 0) prefetch_vec(g, todo[0]);
        if (m > 1) prefetch_vec(g, todo[1]);
    }
    for (; j < m; j++) {
        if (j + 2 < m) prefetch_vec(g, todo[j + 2]);
        bound = offer(s, dist_node(g, q, todo[j]), todo[j], ef, excluded, excluded_bits, bound);
    }
    return bound;
}

// ---------------------------------------------------------------------------------------------
// Algorithm 2: best-first search of one layer. Leaves the best `ef` allowed nodes in s->res.

VK_INLINE void search_layer(const vk_hnsw_graph *g, vk_hnsw_build *b, const float *q, uint32_t ep, float ep_d,
                            uint32_t ef, int level, const uint64_t *excluded, size_t excluded_bits,
                            vk_hnsw_scratch *s) {
    next_epoch(s);
    s->cand_len = 0;
    s->res_len = 0;
    s->visited[ep] = s->epoch;
    min_push(s, ep_d, ep);
    if (!is_excluded(excluded, excluded_bits, ep)) max_push(s, ep_d, ep);
    float bound = s->res_len == ef ? s->res[0].d : __builtin_inff();
    while (s->cand_len > 0) {
        pair_t c = min_pop(s);
        if (c.d > bound) break;
        const uint32_t *nb;
        uint32_t cnt = read_list(g, b, c.id, level, s, &nb);
        // Gather the unvisited neighbours first, so prefetches go only to vectors we will read, and
        // fetch the whole next vector while computing the current distance.
        uint32_t *todo = s->todo;
        uint32_t m = 0;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t e = nb[j];
            if (s->visited[e] == s->epoch) continue;
            s->visited[e] = s->epoch;
            todo[m++] = e;
        }
        if (level == 0) VK_HNSW_COUNT_EXPANSION(m);
        bound = score_todo(g, q, todo, m, ef, excluded, excluded_bits, bound, s);
        // The closest candidate is most likely expanded next: fetch its level's list now.
        if (s->cand_len > 0 && !b) __builtin_prefetch(list_at(g, s->cand[0].id, level), 0, 3);
    }
}

// Filtered best-first search of layer 0 (after ACORN-1, Patel et al., SIGMOD 2024: neighbour
// expansion at search time, no denser graph). Distances are computed for allowed nodes only:
// an excluded neighbour is a bridge whose own neighbours are taken instead (two hops), so the walk
// stays connected through the excluded part of the graph without paying a distance for it. Each
// expansion collects at most `cap` allowed nodes (direct neighbours first, in list order, then
// those two hops away), which bounds the work per expansion as the graph's degree does.
VK_INLINE void search_layer_filtered(const vk_hnsw_graph *g, const float *q, uint32_t ep, float ep_d, uint32_t ef,
                                     const uint64_t *excluded, size_t excluded_bits, uint32_t cap, vk_hnsw_scratch *s) {
    next_epoch(s);
    s->cand_len = 0;
    s->res_len = 0;
    s->visited[ep] = s->epoch;
    min_push(s, ep_d, ep);
    if (!is_excluded(excluded, excluded_bits, ep)) max_push(s, ep_d, ep);
    float bound = s->res_len == ef ? s->res[0].d : __builtin_inff();
    while (s->cand_len > 0) {
        pair_t c = min_pop(s);
        if (c.d > bound) break;
        const uint32_t *nb = list_at(g, c.id, 0);
        uint32_t cnt = nb[0];
        nb++;
        uint32_t *todo = s->todo;
        uint32_t m = 0;
        for (uint32_t j = 0; j < cnt && m < cap; j++) {
            uint32_t e = nb[j];
            if (s->visited[e] == s->epoch) continue;
            if (!is_excluded(excluded, excluded_bits, e)) {
                s->visited[e] = s->epoch;
                todo[m++] = e;
            }
        }
        for (uint32_t j = 0; j < cnt && m < cap; j++) {
            uint32_t e = nb[j];
            if (!is_excluded(excluded, excluded_bits, e)) continue;
            if (s->visited[e] == s->epoch) continue;
            s->visited[e] = s->epoch;
            const uint32_t *nb2 = list_at(g, e, 0);
            uint32_t cnt2 = nb2[0];
            nb2++;
            for (uint32_t t = 0; t < cnt2 && m < cap; t++) {
                uint32_t f = nb2[t];
                if (s->visited[f] == s->epoch || is_excluded(excluded, excluded_bits, f)) continue;
                s->visited[f] = s->epoch;
                todo[m++] = f;
            }
        }
        VK_HNSW_COUNT_EXPANSION(m);
        bound = score_todo(g, q, todo, m, ef, NULL, 0, bound, s);  // every node in `todo` is allowed
    }
}

// Greedy descent through one upper layer: returns the closest node found from `cur`.
VK_INLINE uint32_t greedy(const vk_hnsw_graph *g, vk_hnsw_build *b, const float *q, uint32_t cur, float *cur_d,
                          int level, vk_hnsw_scratch *s) {
    int changed = 1;
    while (changed) {
        changed = 0;
        const uint32_t *nb;
        uint32_t cnt = read_list(g, b, cur, level, s, &nb);
        for (uint32_t j = 0; j < cnt; j++) {
            float d = dist_node(g, q, nb[j]);
            if (d < *cur_d) {
                *cur_d = d;
                cur = nb[j];
                changed = 1;
            }
        }
    }
    return cur;
}

static int pair_cmp(const void *a, const void *b) {
    float x = ((const pair_t *)a)->d, y = ((const pair_t *)b)->d;
    return (x > y) - (x < y);
}

/// Algorithm 4 (without extending candidates or keeping pruned ones, as hnswlib): keep a candidate
/// only if it is closer to the base than to every neighbour already kept. `cand` is sorted here.
/// Over codes, the distances are between decoded rows (`cand`'s too: see vk_hnsw_insert).
VK_INLINE size_t select_heuristic(const vk_hnsw_graph *g, pair_t *cand, size_t count, size_t max_m, vk_hnsw_scratch *s) {
    qsort(cand, count, sizeof(pair_t), pair_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < count && kept < max_m; i++) {
        int good = 1;
        if (kept > 0) {
            float off;
            const float *v = node_query(g, cand[i].id, s->qt, &off);
            for (size_t r = 0; r < kept; r++) {
                if (dist_node(g, v, cand[r].id) + off < cand[i].d) {
                    good = 0;
                    break;
                }
            }
        }
        if (good) cand[kept++] = cand[i];
    }
    return kept;
}

/// Adds `node` to `e`'s list at `level`, pruning with the heuristic when the list is full.
VK_INLINE void connect(vk_hnsw_graph *g, vk_hnsw_build *b, uint32_t e, uint32_t node, float d, int level, vk_hnsw_scratch *s) {
    uint32_t cap = level == 0 ? g->M0 : g->M;
    lock_node(b, e);
    uint32_t *list = list_at(g, e, level);
    uint32_t cnt = list[0];
    if (cnt < cap) {
        list[1 + cnt] = node;
        list[0] = cnt + 1;
    } else {
        pair_t *c = s->tmp;
        float off;
        const float *ve = node_query(g, e, s->qt, &off);
        for (uint32_t j = 0; j < cnt; j++) {
            c[j].id = list[1 + j];
            c[j].d = dist_node(g, ve, list[1 + j]) + off;
        }
        c[cnt].id = node;
        c[cnt].d = d;
        size_t kept = select_heuristic(g, c, cnt + 1, cap, s);
        for (size_t j = 0; j < kept; j++) list[1 + j] = c[j].id;
        list[0] = (uint32_t)kept;
    }
    unlock_node(b, e);
}

VK_MULTIVERSION
void vk_hnsw_insert(vk_hnsw_graph *g, vk_hnsw_build *b, uint32_t node, uint32_t ef_construction, vk_hnsw_scratch *s) {
    int level = g->levels[node];
    pthread_mutex_lock(&b->global);
    int max_level = g->max_level;
    uint32_t cur = g->entry;
    if (max_level < 0) {
        g->entry = node;
        g->max_level = level;
        pthread_mutex_unlock(&b->global);
        atomic_fetch_add(&b->inserted, 1);
        return;
    }
    int hold = level > max_level;
    if (!hold) pthread_mutex_unlock(&b->global);

    // Over codes the query is the node's decoded row, prepared; the walk's distances leave out its
    // constant `off`, which is added back wherever they are compared with other nodes' (selection,
    // and the distances kept with the links for later pruning).
    if (g->codes && s->q_cap < g->dim) {
        s->q_cap = g->dim;
        s->qn = (float *)realloc(s->qn, g->dim * sizeof(float));
        s->qt = (float *)realloc(s->qt, g->dim * sizeof(float));
    }
    float off;
    const float *q = node_query(g, node, s->qn, &off);
    float cur_d = dist_node(g, q, cur);
    for (int l = max_level; l > level; l--) cur = greedy(g, b, q, cur, &cur_d, l, s);
    // Phase 1: choose and write the node's own lists on every level, top down. Nothing links to the
    // node yet, so no other thread can reach it and find a half-built (empty) lower list; linking
    // it in while its level-0 list is still empty would let a concurrent insert attach to it alone
    // and then lose that link when the list is written.
    int top = level < max_level ? level : max_level;
    size_t need = (size_t)(top + 1) * g->M;
    if (need > s->sel_cap) {
        s->sel_cap = need;
        s->sel = (pair_t *)realloc(s->sel, need * sizeof(pair_t));
    }
    size_t kept_at[64];
    for (int l = top; l >= 0; l--) {
        search_layer(g, b, q, cur, cur_d, ef_construction, l, NULL, 0, s);
        size_t count = s->res_len;
        if (count > s->tmp_cap) count = s->tmp_cap;
        memcpy(s->tmp, s->res, count * sizeof(pair_t));
        for (size_t j = 0; j < count; j++) s->tmp[j].d += off;
        size_t kept = select_heuristic(g, s->tmp, count, g->M, s);
        pair_t *sel = s->sel + (size_t)l * g->M;
        memcpy(sel, s->tmp, kept * sizeof(pair_t));
        kept_at[l] = kept;
        lock_node(b, node);
        uint32_t *list = list_at(g, node, l);
        for (size_t j = 0; j < kept; j++) list[1 + j] = sel[j].id;
        list[0] = (uint32_t)kept;
        unlock_node(b, node);
        if (kept > 0) {
            cur = sel[0].id;
            cur_d = sel[0].d - off;
        }
    }
    // Phase 2: link the neighbours back (Algorithm 1's bidirectional connections, with pruning).
    for (int l = top; l >= 0; l--) {
        const pair_t *sel = s->sel + (size_t)l * g->M;
        for (size_t j = 0; j < kept_at[l]; j++) connect(g, b, sel[j].id, node, sel[j].d, l, s);
    }
    if (hold) {
        if (level > g->max_level) {
            g->entry = node;
            g->max_level = level;
        }
        pthread_mutex_unlock(&b->global);
    }
    atomic_fetch_add(&b->inserted, 1);
}

VK_MULTIVERSION
size_t vk_hnsw_search(const vk_hnsw_graph *g, const float *query, uint32_t k, uint32_t ef,
                      const uint64_t *excluded, size_t excluded_bits, uint32_t filtered_cap, vk_hnsw_scratch *s,
                      uint32_t *out_ids, float *out_dist) {
    if (g->max_level < 0 || g->n == 0 || k == 0) return 0;
    if (ef < k) ef = k;
    if (ef + 2 > s->res_cap) ef = (uint32_t)s->res_cap - 2;
    uint32_t cur = g->entry;
    float cur_d = dist_node(g, query, cur);
    for (int l = g->max_level; l > 0; l--) cur = greedy(g, NULL, query, cur, &cur_d, l, s);
    if (filtered_cap > 0 && excluded) {
        search_layer_filtered(g, query, cur, cur_d, ef, excluded, excluded_bits, filtered_cap, s);
    } else {
        search_layer(g, NULL, query, cur, cur_d, ef, 0, excluded, excluded_bits, s);
    }
    // Pop the max-heap into ascending order.
    size_t n = s->res_len;
    pair_t *sorted = s->tmp;
    for (size_t i = n; i > 0; i--) {
        sorted[i - 1] = s->res[0];
        max_pop(s);
    }
    size_t out = n < k ? n : k;
    for (size_t i = 0; i < out; i++) {
        out_ids[i] = sorted[i].id;
        out_dist[i] = sorted[i].d;
    }
    return out;
}

int vk_hnsw_check(const vk_hnsw_graph *g, uint32_t *bad_node) {
    int top = -1;
    for (uint32_t i = 0; i < g->n; i++) {
        for (int l = 0; l <= g->levels[i]; l++) {
            const uint32_t *list = list_at(g, i, l);
            uint32_t cap = l == 0 ? g->M0 : g->M;
            if (list[0] > cap) { *bad_node = i; return 1; }
            for (uint32_t j = 0; j < list[0]; j++) {
                uint32_t e = list[1 + j];
                if (e >= g->n) { *bad_node = i; return 2; }
                if (e == i) { *bad_node = i; return 3; }
                for (uint32_t k = 0; k < j; k++) if (list[1 + k] == e) { *bad_node = i; return 4; }
                if (g->levels[e] < l) { *bad_node = i; return 5; }
            }
        }
        if (g->levels[i] > top) top = g->levels[i];
    }
    if (g->n > 0 && (g->max_level != top || g->levels[g->entry] != top)) { *bad_node = g->entry; return 6; }
    return 0;
}
