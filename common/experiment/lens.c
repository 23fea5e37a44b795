// lens: tuned-lens translators — fitting, file I/O, application; see lens.h.
#include "experiment/lens.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "experiment/experiment.h"

// ----------------------------------------------------------------------------- storage

int lens_alloc(TunedLens *t, int n_layer, int C, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    if (n_layer < 1 || n_layer > LENS_MAX_LAYERS)
        return fail(err, errlen, "tuned lens: %d layers (1..%d)", n_layer, LENS_MAX_LAYERS);
    if (C < 1 || C > LENS_MAX_C)
        return fail(err, errlen, "tuned lens: width %d (1..%d)", C, LENS_MAX_C);
    size_t w;
    if (mul_size((size_t)C * (size_t)C, (size_t)n_layer, &w) || mul_size(w, sizeof(float), &w))
        return fail(err, errlen, "tuned lens of %d layers x %d is too large", n_layer, C);
    t->n_layer = n_layer;
    t->C = C;
    t->W = xcalloc(w / sizeof(float), sizeof(float));
    t->b = xcalloc((size_t)n_layer * (size_t)C, sizeof(float));
    return 0;
}

void lens_free(TunedLens *t) {
    if (!t) return;
    free(t->W);
    free(t->b);
    memset(t, 0, sizeof *t);
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

// count little-endian f32 values from p into out; -1 when one is not finite.
static int read_floats(const unsigned char *p, size_t count, float *out) {
    for (size_t i = 0; i < count; i++) {
        uint32_t u = get_u32(p + 4 * i);
        memcpy(&out[i], &u, 4);
        if (!isfinite(out[i])) return -1;
    }
    return 0;
}

int lens_load(TunedLens *t, const char *path, int n_layer, int C, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    size_t len;
    unsigned char *f = (unsigned char *)read_file(path, &len);
    if (!f) return fail(err, errlen, "cannot read tuned lens %s", path);
    int rc = -1;
    if (len < 16 || memcmp(f, LENS_MAGIC, 4) != 0) {
        fail(err, errlen, "%s: not a tuned lens file (no \"" LENS_MAGIC "\" magic)", path);
        goto done;
    }
    uint32_t version = get_u32(f + 4), L = get_u32(f + 8), W = get_u32(f + 12);
    if (version != LENS_VERSION) {
        fail(err, errlen, "%s: tuned lens version %u (this program reads %d)", path, version,
             LENS_VERSION);
        goto done;
    }
    if (L < 1 || L > LENS_MAX_LAYERS || W < 1 || W > LENS_MAX_C) {
        fail(err, errlen, "%s: bad sizes (%u layers, width %u)", path, L, W);
        goto done;
    }
    if ((n_layer > 0 && (int)L != n_layer) || (C > 0 && (int)W != C)) {
        fail(err, errlen, "%s: made for %u layers of width %u, the model has %d of width %d", path,
             L, W, n_layer, C);
        goto done;
    }
    uint64_t per = (uint64_t)W * W + W, want = 16 + (uint64_t)L * per * 4;
    if ((uint64_t)len != want) {
        fail(err, errlen, "%s: %zu bytes, %llu expected for %u layers of width %u", path, len,
             (unsigned long long)want, L, W);
        goto done;
    }
    if (lens_alloc(t, (int)L, (int)W, err, errlen) != 0) goto done;
    const unsigned char *p = f + 16;
    size_t CC = (size_t)W * W;
    for (uint32_t l = 0; l < L; l++) {
        if (read_floats(p, CC, t->W + l * CC) || read_floats(p + 4 * CC, W, t->b + (size_t)l * W)) {
            fail(err, errlen, "%s: layer %u holds a value that is not finite", path, l);
            lens_free(t);
            goto done;
        }
        p += 4 * (CC + W);
    }
    rc = 0;
done:
    free(f);
    return rc;
}

int lens_save(const TunedLens *t, const char *path, char *err, size_t errlen) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return fail(err, errlen, "cannot create %s", path);
    unsigned char hdr[16];
    memcpy(hdr, LENS_MAGIC, 4);
    put_u32(hdr + 4, LENS_VERSION);
    put_u32(hdr + 8, (uint32_t)t->n_layer);
    put_u32(hdr + 12, (uint32_t)t->C);
    int ok = fwrite(hdr, 1, 16, fp) == 16;
    size_t CC = (size_t)t->C * t->C;
    unsigned char *buf = xmalloc(4 * (CC + (size_t)t->C));
    for (int l = 0; l < t->n_layer && ok; l++) {
        const float *src[2] = {t->W + (size_t)l * CC, t->b + (size_t)l * t->C};
        size_t n[2] = {CC, (size_t)t->C}, k = 0;
        for (int part = 0; part < 2; part++)
            for (size_t i = 0; i < n[part]; i++, k++) {
                uint32_t u;
                memcpy(&u, &src[part][i], 4);
                put_u32(buf + 4 * k, u);
            }
        ok = fwrite(buf, 4, k, fp) == k;
    }
    free(buf);
    if (fclose(fp) != 0) ok = 0;
    return ok ? 0 : fail(err, errlen, "cannot write %s", path);
}

void lens_apply(const TunedLens *t, int l, const float *x, int T, float *out) {
    int C = t->C;
    const float *W = t->W + (size_t)l * C * C, *b = t->b + (size_t)l * C;
    double *acc = xmalloc(sizeof(double) * (size_t)C);
    for (int r = 0; r < T; r++) {
        const float *xr = x + (size_t)r * C;
        for (int j = 0; j < C; j++) acc[j] = b[j];
        for (int i = 0; i < C; i++) {
            double xi = xr[i];
            const float *wi = W + (size_t)i * C;
            for (int j = 0; j < C; j++) acc[j] += xi * wi[j];
        }
        for (int j = 0; j < C; j++) out[(size_t)r * C + j] = (float)acc[j];
    }
    free(acc);
}

// ----------------------------------------------------------------------------- fitting

void lens_fit_init(LensFit *f, int C) {
    memset(f, 0, sizeof *f);
    f->C = C;
    f->xsum = xcalloc((size_t)C, sizeof(double));
    f->ysum = xcalloc((size_t)C, sizeof(double));
    f->xx = xcalloc((size_t)C * (size_t)C, sizeof(double));
    f->xy = xcalloc((size_t)C * (size_t)C, sizeof(double));
}

void lens_fit_free(LensFit *f) {
    free(f->xsum);
    free(f->ysum);
    free(f->xx);
    free(f->xy);
    memset(f, 0, sizeof *f);
}

void lens_fit_add(LensFit *f, const float *X, const float *Y, int T) {
    int C = f->C;
    // Columns of X and Y in double, contiguous over rows: xx[i][j] += Σ_t x[t][i] x[t][j].
    double *xt = xmalloc(sizeof(double) * (size_t)C * (size_t)T),
           *yt = xmalloc(sizeof(double) * (size_t)C * (size_t)T);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++) {
            double x = X[(size_t)t * C + i], y = Y[(size_t)t * C + i];
            xt[(size_t)i * T + t] = x;
            yt[(size_t)i * T + t] = y;
            f->xsum[i] += x;
            f->ysum[i] += y;
            f->yy += y * y;
        }
    for (int i = 0; i < C; i++) {
        const double *xi = xt + (size_t)i * T;
        for (int j = 0; j < C; j++) {
            const double *xj = xt + (size_t)j * T, *yj = yt + (size_t)j * T;
            double sxx = 0, sxy = 0;
            if (j >= i)
                for (int t = 0; t < T; t++) sxx += xi[t] * xj[t];
            for (int t = 0; t < T; t++) sxy += xi[t] * yj[t];
            if (j >= i) f->xx[(size_t)i * C + j] += sxx;
            f->xy[(size_t)i * C + j] += sxy;
        }
    }
    f->n += T;
    free(xt);
    free(yt);
}

// In-place Cholesky A = L Lᵀ (lower triangle of a, row-major n×n).  -1 when not positive
// definite.
static int cholesky(double *a, int n) {
    for (int j = 0; j < n; j++) {
        double d = a[(size_t)j * n + j];
        for (int k = 0; k < j; k++) d -= a[(size_t)j * n + k] * a[(size_t)j * n + k];
        if (!(d > 0)) return -1;
        d = sqrt(d);
        a[(size_t)j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double s = a[(size_t)i * n + j];
            for (int k = 0; k < j; k++) s -= a[(size_t)i * n + k] * a[(size_t)j * n + k];
            a[(size_t)i * n + j] = s / d;
        }
    }
    return 0;
}

// Solve L Lᵀ x = rhs in place (rhs (n)).
static void cholesky_solve(const double *l, int n, double *x) {
    for (int i = 0; i < n; i++) {
        double s = x[i];
        for (int k = 0; k < i; k++) s -= l[(size_t)i * n + k] * x[k];
        x[i] = s / l[(size_t)i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = x[i];
        for (int k = i + 1; k < n; k++) s -= l[(size_t)k * n + i] * x[k];
        x[i] = s / l[(size_t)i * n + i];
    }
}

int lens_fit_solve(const LensFit *f, double ridge, float *W, float *b, double *r2, char *err,
                   size_t errlen) {
    int C = f->C;
    double n = (double)f->n;
    if (f->n < 2) return fail(err, errlen, "tuned lens fit: %ld rows, at least 2 needed", f->n);
    if (!(ridge >= 0) || !isfinite(ridge))
        return fail(err, errlen, "tuned lens fit: bad ridge %g", ridge);
    size_t CC = (size_t)C * C;
    double *a = xmalloc(sizeof(double) * CC), *sxy = xmalloc(sizeof(double) * CC),
           *col = xmalloc(sizeof(double) * C);
    double *xm = xmalloc(sizeof(double) * C), *ym = xmalloc(sizeof(double) * C);
    for (int i = 0; i < C; i++) xm[i] = f->xsum[i] / n, ym[i] = f->ysum[i] / n;
    double trace = 0;
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            double xx = j >= i ? f->xx[(size_t)i * C + j] : f->xx[(size_t)j * C + i];
            a[(size_t)i * C + j] = xx - n * xm[i] * xm[j];
            sxy[(size_t)i * C + j] = f->xy[(size_t)i * C + j] - n * xm[i] * ym[j];
            if (i == j) trace += a[(size_t)i * C + j];
        }
    double lambda = ridge * trace / C;
    for (int i = 0; i < C; i++) a[(size_t)i * C + i] += lambda;
    int rc = 0;
    if (cholesky(a, C) != 0) {
        rc = fail(
            err, errlen,
            "tuned lens fit: the %dx%d system is not positive definite (%ld rows; use a larger ridge)",
            C, C, f->n);
        goto done;
    }
    // Column j of W solves (Sxx + λI) w = Sxy[:, j].  tr(WᵀSxy) and |W|² give the SSE.
    double wsxy = 0, wnorm = 0;
    for (int j = 0; j < C; j++) {
        for (int i = 0; i < C; i++) col[i] = sxy[(size_t)i * C + j];
        cholesky_solve(a, C, col);
        double bj = ym[j];
        for (int i = 0; i < C; i++) {
            W[(size_t)i * C + j] = (float)col[i];
            bj -= xm[i] * col[i];
            wsxy += col[i] * sxy[(size_t)i * C + j];
            wnorm += col[i] * col[i];
        }
        b[j] = (float)bj;
    }
    if (r2) {
        double sst = f->yy;
        for (int j = 0; j < C; j++) sst -= n * ym[j] * ym[j];
        double sse = sst - wsxy - lambda * wnorm;
        *r2 = sst > 0 ? 1.0 - sse / sst : 1.0;
    }
done:
    free(a);
    free(sxy);
    free(col);
    free(xm);
    free(ym);
    return rc;
}

// ----------------------------------------------------------------------------- corpus

// The tokens of a corpus record: "text", else the record's prompt (+ answer).
static int corpus_tokens(const Model *m, const Record *r, int bos, RecordTokens *t, char *err,
                         size_t errlen) {
    char *text = NULL;
    size_t len;
    int got = record_string(r, "text", &text, &len, err, errlen);
    if (got < 0) return -1;
    if (got == 0) return experiment_tokens(m, r, bos, record_has(r, "answer"), t, err, errlen);
    memset(t, 0, sizeof *t);
    int rc = model_encode_prompt(m, text, len, bos, &t->ids, &t->n_prompt);
    free(text);
    if (rc != 0) return fail(err, errlen, "text too long to tokenize");
    if (t->n_prompt > m->gpt2.cfg.n_ctx) {
        int n = t->n_prompt;
        record_tokens_free(t);
        return fail(err, errlen, "text of %d tokens exceeds the context window of %d", n,
                    m->gpt2.cfg.n_ctx);
    }
    return 0;
}

int lens_fit_corpus(const Model *m, FILE *fp, const char *name, int bos, double ridge,
                    long max_records, TfWorkspace *ws, TunedLens *out, LensFitReport *rep,
                    char *err, size_t errlen) {
    const Gpt2 *g = &m->gpt2;
    int L = g->cfg.n_layer, C = g->cfg.n_embd;
    memset(rep, 0, sizeof *rep);
    memset(out, 0, sizeof *out);
    size_t per = (size_t)g->cfg.n_ctx * (size_t)C;
    float *acts =
        xmalloc(sizeof(float) * per * (size_t)L);   // (L, T, C): residual after each block
    LensFit *fits = xcalloc((size_t)L, sizeof *fits);
    for (int l = 0; l < L; l++) lens_fit_init(&fits[l], C);
    LineReader lr;
    lines_init(&lr, fp);
    char *line, msg[256];
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (max_records <= 0 || rep->records < max_records) &&
           (len = lines_next(&lr, &line)) != -1) {
        if (len < 0) {
            rc = fail(err, errlen, "%s:%ld: cannot read the line", name, lr.lineno);
            break;
        }
        if (strspn(line, " \t") == (size_t)len) continue;
        Record r;
        RecordTokens t;
        int prc = record_parse(&r, line, (size_t)len, lr.lineno, msg, sizeof msg);
        if (prc != 0 || corpus_tokens(m, &r, bos, &t, msg, sizeof msg) != 0) {
            rc = fail(err, errlen, "%s:%ld: %s", name, lr.lineno, msg);
            record_free(&r);
            break;
        }
        record_free(&r);
        int T = t.n_prompt, skip = bos ? 1 : 0;
        rc = tf_embed(g, t.ids, T, 0, acts, msg, sizeof msg);
        for (int l = 0; l < L && rc == 0; l++) {
            float *x = acts + (size_t)l * per;
            if (l > 0) memcpy(x, acts + (size_t)(l - 1) * per, sizeof(float) * (size_t)T * C);
            rc = tf_block_forward(g, l, x, T, ws, msg, sizeof msg);
        }
        if (rc) fail(err, errlen, "%s:%ld: %s", name, lr.lineno, msg);
        if (rc == 0 && T > skip) {
            const float *y = acts + (size_t)(L - 1) * per + (size_t)skip * C;
            for (int l = 0; l < L; l++)
                lens_fit_add(&fits[l], acts + (size_t)l * per + (size_t)skip * C, y, T - skip);
            rep->rows += T - skip;
        }
        rep->records++;
        record_tokens_free(&t);
    }
    lines_free(&lr);
    if (rc == 0 && lens_alloc(out, L, C, err, errlen) != 0) rc = -1;
    if (rc == 0) rep->r2 = xcalloc((size_t)L, sizeof(double));
    for (int l = 0; l < L && rc == 0; l++) {
        if (lens_fit_solve(&fits[l], ridge, out->W + (size_t)l * C * C, out->b + (size_t)l * C,
                           &rep->r2[l], msg, sizeof msg) != 0)
            rc = fail(err, errlen, "layer %d: %s", l, msg);
    }
    for (int l = 0; l < L; l++) lens_fit_free(&fits[l]);
    free(fits);
    free(acts);
    if (rc) {
        lens_free(out);
        free(rep->r2);
        rep->r2 = NULL;
    }
    return rc;
}
