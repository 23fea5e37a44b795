// lens: the tuned lens — one affine translator per block, fitted by ridge least squares,
// that maps the residual stream after block l to the model's final residual stream
// (before ln_f); the logit lens reads an intermediate residual through ln_f and the
// unembedding directly, the tuned lens translates it first.
//
// Row-vector convention (as llm.c's matmuls): y = x · W_l + b_l, x and y (C) rows,
// W_l (C, C) with W_l[i][j] the weight from input i to output j (A_l = W_lᵀ in the
// column-vector form A_l x + b_l).
//
// Fitting (lens_fit_*): rows x (the residual after block l) and y (the final residual) are
// accumulated as sums in double; the solve centres them, so the bias is not penalised:
//   Sxx = Σ (x - x̄)ᵀ(x - x̄),  Sxy = Σ (x - x̄)ᵀ(y - ȳ)
//   (Sxx + λ I) W = Sxy   (Cholesky of the C×C system, in double)
//   b = ȳ - x̄ · W
// with λ = ridge · tr(Sxx) / C (ridge is relative to the mean variance of x).
//
// File format (little-endian, no padding):
//   offset 0   char[4]  magic "TLNS"
//          4   u32      version (1)
//          8   u32      n_layer
//         12   u32      C (n_embd)
//         16   per layer l = 0 .. n_layer-1:  W_l  C*C f32 (row-major, [i][j] as above)
//                                             b_l  C   f32
// The size must be exactly 16 + n_layer * (C*C + C) * 4 bytes; every value finite.
// Called outside this module only by the tests (tests/unit/test_lens.c): lens_alloc, lens_fit_add,
// lens_fit_free, lens_fit_init, lens_fit_solve.
#ifndef AUTOINTERP_LENS_H
#define AUTOINTERP_LENS_H
#include <stddef.h>
#include <stdio.h>

#include "model/model.h"
#include "model/transformer.h"

#define LENS_MAGIC      "TLNS"
#define LENS_VERSION    1
#define LENS_MAX_C      65536
#define LENS_MAX_LAYERS 4096

typedef struct {
    int n_layer, C;
    float *W;   // (n_layer, C, C) owned
    float *b;   // (n_layer, C) owned
} TunedLens;

// Allocate a zeroed lens (every translator W = 0, b = 0).  -1 with a message for sizes
// out of range.
int lens_alloc(TunedLens *t, int n_layer, int C, char *err, size_t errlen);
void lens_free(TunedLens *t);

// Read path strictly: magic, version, sizes (against n_layer and C when they are > 0),
// exact file size, finite values.  0, or -1 with a message naming what is wrong.
int lens_load(TunedLens *t, const char *path, int n_layer, int C, char *err, size_t errlen);
// Write t to path in the format above.  0, or -1 with a message.
int lens_save(const TunedLens *t, const char *path, char *err, size_t errlen);

// out (T, C) = x (T, C) · W_l + b_l, accumulated in double.  out must not alias x.
void lens_apply(const TunedLens *t, int l, const float *x, int T, float *out);

// ----------------------------------------------------------------------------- fitting

typedef struct {
    int C;
    long n;                // rows accumulated
    double *xsum, *ysum;   // (C)
    double *xx, *xy;       // (C, C) Σ xᵀx, Σ xᵀy
    double yy;             // Σ |y|²
} LensFit;

void lens_fit_init(LensFit *f, int C);
void lens_fit_free(LensFit *f);
// Accumulate rows X (T, C) with their targets Y (T, C).
void lens_fit_add(LensFit *f, const float *X, const float *Y, int T);
// Solve for W (C, C) and b (C) with ridge as above (ridge >= 0).  *r2 (if not NULL) gets
// the fit's coefficient of determination on the accumulated rows (1 - SSE / SST, SST over
// all C outputs).  0, or -1 with a message: fewer than 2 rows, a system that is not
// positive definite (ridge 0 with too few or collinear rows).
int lens_fit_solve(const LensFit *f, double ridge, float *W, float *b, double *r2, char *err,
                   size_t errlen);

// ----------------------------------------------------------------------------- corpus

typedef struct {
    long records;   // corpus records used
    long rows;      // positions fitted on (per layer)
    double *r2;     // (n_layer) each translator's R² on the corpus, malloc'd
} LensFitReport;

// Fit a tuned lens for model m on the NDJSON corpus read from fp (name for messages):
// each record's "text" (else "prompt", followed by separator + "answer" when it has one)
// is tokenized (BOS first when bos) and run through the intact model; every position but
// the BOS is a row, x = the residual after block l, y = the final residual.  At most
// max_records records (0: all); blank lines skipped.  ws: a workspace with max_T >= n_ctx.
// 0 with *out and *rep filled (free both), or -1 with a message naming the line (a line
// that is not a JSON object, no text, too long), or the solve's problem.
int lens_fit_corpus(const Model *m, FILE *fp, const char *name, int bos, double ridge,
                    long max_records, TfWorkspace *ws, TunedLens *out, LensFitReport *rep,
                    char *err, size_t errlen);

#endif
