// How far an HNSW walk is from the memory floor: the walk of Sources/CVireoKernels/hnsw.c (compiled
// in, unchanged) on a dataset's rows, with a seeded fraction of the rows allowed, against the cost of
// reading the same number of random vectors with nothing else to do.
//
//   clang -O3 -march=native -I Sources/CVireoKernels/include -I Sources/CVireoKernels \
//      bench/walkfloor/walkfloor.c -o /tmp/walkfloor -lpthread -lm
//   /tmp/walkfloor ../shared/data/dev 0.5 10,12,14,16 [rounds] [scratch dir]
//
// Per ef: recall@10 against the exact top 10 of the allowed rows (inner product: the data's
// rows are unit length), layer-0 expansions and distances per query, µs per query (best of the
// rounds, all queries on one thread), and ns per distance. Then the floor: ns to read one random
// row and take its inner product with a query, four rows at a time with the next four prefetched
// (the walk's own scheme, minus the walk) — the walk cannot score a row faster than that.
// The graph (M 16, efConstruction 200, built on 2 threads) is cached in the scratch directory.
#define VK_HNSW_COUNT_EXPANSION(scored) (walk_expansions++, walk_distances += (scored))
static unsigned long walk_expansions, walk_distances;
#include "hnsw.c"

#include <math.h>
#include <stdio.h>
#include <time.h>

static float *read_fvecs(const char *path, uint32_t *rows, uint32_t *dim) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    int32_t d = 0;
    if (fread(&d, 4, 1, f) != 1 || d <= 0 || d > 65536) { fprintf(stderr, "%s: bad header\n", path); exit(1); }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    *dim = (uint32_t)d;
    *rows = (uint32_t)(bytes / (4 + 4 * (long)d));
    float *v = malloc((size_t)*rows * d * sizeof(float));
    for (uint32_t i = 0; i < *rows; i++) {
        if (fread(&d, 4, 1, f) != 1 || (uint32_t)d != *dim || fread(v + (size_t)i * d, 4, d, f) != (size_t)d) {
            fprintf(stderr, "%s: short row %u\n", path, i);
            exit(1);
        }
    }
    fclose(f);
    return v;
}

static uint64_t splitmix(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct { vk_hnsw_graph *g; vk_hnsw_build *b; } build_job;

static void *build_worker(void *arg) {
    build_job *job = arg;
    vk_hnsw_scratch *s = vk_hnsw_scratch_create(job->g->n, 512);
    for (uint32_t id; (id = vk_hnsw_next_node(job->b)) < job->g->n;) vk_hnsw_insert(job->g, job->b, id, 200, s);
    vk_hnsw_scratch_destroy(s);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s DATASET_DIR ALLOWED_FRACTION EF[,EF...] [ROUNDS] [SCRATCH_DIR]\n", argv[0]);
        return 2;
    }
    const double allowed = atof(argv[2]);
    const int rounds = argc > 4 ? atoi(argv[4]) : 5;
    const char *scratch = argc > 5 ? argv[5] : "/tmp";
    char path[4096];
    uint32_t n, dim, nq, qdim;
    snprintf(path, sizeof path, "%s/base.fvecs", argv[1]);
    float *base = read_fvecs(path, &n, &dim);
    snprintf(path, sizeof path, "%s/query.fvecs", argv[1]);
    float *queries = read_fvecs(path, &nq, &qdim);
    if (qdim != dim) { fprintf(stderr, "query dim %u != base dim %u\n", qdim, dim); return 1; }

    // The graph: levels drawn as hnswlib does (mult 1/ln M), built on 2 threads, cached.
    const uint32_t M = 16, M0 = 32;
    uint64_t rng = 42;
    uint8_t *levels = calloc(n, 1);
    uint32_t *upper_offset = calloc(n, 4);
    size_t upper_lists = 0;
    for (uint32_t i = 0; i < n; i++) {
        double u = (double)(splitmix(&rng) >> 11) * 0x1.0p-53;
        int l = (int)(-log(1.0 - u) / log((double)M));
        levels[i] = (uint8_t)(l > 30 ? 30 : l);
        upper_offset[i] = (uint32_t)upper_lists;
        upper_lists += levels[i];
    }
    uint32_t *links0 = calloc((size_t)n * (M0 + 1), 4), *upper = calloc(upper_lists * (M + 1) + 1, 4);
    vk_hnsw_graph g = {n, dim, M, M0, 1, 0, -1, base, levels, upper_offset, links0, upper, NULL, NULL, NULL};
    snprintf(path, sizeof path, "%s/walkfloor-%u-%u.graph", scratch, n, dim);
    FILE *f = fopen(path, "rb");
    if (f && fread(&g.entry, 4, 1, f) == 1 && fread(&g.max_level, 4, 1, f) == 1 &&
        fread(links0, 4, (size_t)n * (M0 + 1), f) == (size_t)n * (M0 + 1) &&
        fread(upper, 4, upper_lists * (M + 1), f) == upper_lists * (M + 1)) {
        fclose(f);
    } else {
        if (f) fclose(f);
        double t0 = seconds();
        vk_hnsw_build *b = vk_hnsw_build_create(&g);
        build_job job = {&g, b};
        pthread_t threads[2];
        for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, build_worker, &job);
        for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
        vk_hnsw_build_destroy(b);
        fprintf(stderr, "graph built in %.1f s\n", seconds() - t0);
        if ((f = fopen(path, "wb"))) {
            fwrite(&g.entry, 4, 1, f);
            fwrite(&g.max_level, 4, 1, f);
            fwrite(links0, 4, (size_t)n * (M0 + 1), f);
            fwrite(upper, 4, upper_lists * (M + 1), f);
            fclose(f);
        }
    }
    uint32_t bad;
    if (vk_hnsw_check(&g, &bad) != 0) { fprintf(stderr, "graph invariant broken at node %u (delete %s)\n", bad, path); return 1; }

    // A seeded fraction of the rows allowed; the rest excluded.
    const size_t words = (n + 63) / 64;
    uint64_t *excluded = calloc(words, 8);
    rng = 7;
    size_t allowed_rows = 0;
    for (uint32_t i = 0; i < n; i++) {
        if ((double)(splitmix(&rng) % 1000000) < allowed * 1e6) allowed_rows++;
        else excluded[i >> 6] |= 1ULL << (i & 63);
    }

    // Exact top 10 of the allowed rows per query (inner product).
    uint32_t *truth = malloc((size_t)nq * 10 * 4);
    for (uint32_t q = 0; q < nq; q++) {
        float best[10];
        for (int j = 0; j < 10; j++) best[j] = -INFINITY, truth[q * 10 + j] = UINT32_MAX;
        const float *a = queries + (size_t)q * dim;
        for (uint32_t i = 0; i < n; i++) {
            if ((excluded[i >> 6] >> (i & 63)) & 1) continue;
            const float *b = base + (size_t)i * dim;
            float s = 0;
            for (uint32_t t = 0; t < dim; t++) s += a[t] * b[t];
            if (s <= best[9]) continue;
            int j = 9;
            for (; j > 0 && best[j - 1] < s; j--) best[j] = best[j - 1], truth[q * 10 + j] = truth[q * 10 + j - 1];
            best[j] = s, truth[q * 10 + j] = i;
        }
    }

    printf("%u rows × %u, %u queries, %.1f %% allowed (%zu rows), best of %d rounds\n", n, dim, nq,
           100.0 * allowed_rows / n, allowed_rows, rounds);
    printf("%5s %8s %12s %12s %10s %10s %12s\n", "ef", "R@10", "expansions", "distances", "us/query", "QPS", "ns/distance");
    vk_hnsw_scratch *s = vk_hnsw_scratch_create(n, 1024);
    uint32_t ids[10];
    float dist[10];
    double mean_distances = 0;
    for (char *ef_list = argv[3], *tok; (tok = strtok(ef_list, ",")); ef_list = NULL) {
        uint32_t ef = (uint32_t)atoi(tok);
        double best = INFINITY, hits = 0;
        walk_expansions = walk_distances = 0;
        for (int r = 0; r < rounds; r++) {
            double t0 = seconds();
            for (uint32_t q = 0; q < nq; q++) {
                size_t found = vk_hnsw_search(&g, queries + (size_t)q * dim, 10, ef, allowed < 1 ? excluded : NULL, n, 0,
                                              s, ids, dist);
                if (r == 0)
                    for (size_t a = 0; a < found; a++)
                        for (int b = 0; b < 10; b++) hits += ids[a] == truth[q * 10 + b];
            }
            double t = seconds() - t0;
            if (t < best) best = t;
        }
        double per_q = best / nq, exps = (double)walk_expansions / rounds / nq, dists = (double)walk_distances / rounds / nq;
        mean_distances = dists;
        printf("%5u %8.4f %12.1f %12.1f %10.1f %10.0f %12.1f\n", ef, hits / (nq * 10.0), exps, dists, per_q * 1e6, 1 / per_q,
               per_q * 1e9 / dists);
    }

    // The floor: random rows, four at a time, the next four's first lines prefetched (as the walk).
    const size_t reads = 1u << 20;
    uint32_t *order = malloc(reads * 4);
    rng = 11;
    for (size_t i = 0; i < reads; i++) order[i] = (uint32_t)(splitmix(&rng) % n);
    double best = INFINITY;
    float sink = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = seconds();
        for (size_t i = 0; i + 8 <= reads; i += 4) {
            for (size_t k = i + 4; k < i + 8; k++) __builtin_prefetch(base + (size_t)order[k] * dim, 0, 3);
            const float *b0 = base + (size_t)order[i] * dim, *b1 = base + (size_t)order[i + 1] * dim;
            const float *b2 = base + (size_t)order[i + 2] * dim, *b3 = base + (size_t)order[i + 3] * dim;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (uint32_t t = 0; t < dim; t++) {
                const float x = queries[t];
                s0 += x * b0[t], s1 += x * b1[t], s2 += x * b2[t], s3 += x * b3[t];
            }
            sink += s0 + s1 + s2 + s3;
        }
        double t = seconds() - t0;
        if (t < best) best = t;
    }
    double ns = best * 1e9 / (double)(reads - 4);
    printf("floor: %.1f ns per random row read and scored (%.1f GB/s); the last ef's %.0f distances: %.1f us (%.0f QPS)%s\n", ns,
           (double)dim * 4 / ns, mean_distances, mean_distances * ns / 1e3, 1e9 / (mean_distances * ns), sink == 1.2345f ? " " : "");
    return 0;
}
