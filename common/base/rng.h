// rng: the one seeded pseudo-random generator of the project (splitmix64), so that every
// seeded result (sampling, shuffles, generated tasks, synthetic weights) is reproducible
// across runs and machines.
#ifndef AUTOINTERP_RNG_H
#define AUTOINTERP_RNG_H
#include <stdint.h>

typedef struct {
    uint64_t state;
} Rng;

static inline void rng_seed(Rng *r, uint64_t seed) { r->state = seed; }

// Next 64 random bits (splitmix64: Steele, Lea & Flood 2014).
static inline uint64_t rng_next(Rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Uniform double in [0, 1) with 53 random bits.
static inline double rng_uniform(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

// Uniform integer in [0, n) without modulo bias (n > 0).
static inline uint64_t rng_below(Rng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next(r);
    while (x >= limit);
    return x % n;
}

#endif
