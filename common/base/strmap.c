// strmap: see strmap.h.
#include "base/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

// FNV-1a of s[0..n).
static uint64_t strmap_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

// The slot where an entry of hash h lives or would go: spread the FNV bits (its low bits
// alone are weak) before masking.
static size_t home(uint64_t h, size_t cap) {
    return (size_t)((h * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static int lookup(const StrMap *m, const char *key, size_t len, uint64_t h, size_t *at) {
    size_t mask = m->cap - 1;
    for (size_t s = home(h, m->cap);; s = (s + 1) & mask) {
        int e = m->slot[s];
        if (e < 0 || (m->hash[e] == h && m->len[e] == len && memcmp(m->key[e], key, len) == 0)) {
            *at = s;
            return e;
        }
    }
}

int strmap_find(const StrMap *m, const char *key, size_t len) {
    if (m->cap == 0) return -1;
    size_t at;
    return lookup(m, key, len, strmap_hash(key, len), &at);
}

static void grow_slots(StrMap *m) {
    size_t cap = m->cap ? 2 * m->cap : 64;
    int *slot = xmalloc(sizeof(int) * cap);
    memset(slot, 0xff, sizeof(int) * cap);   // -1 everywhere
    for (int e = 0; e < m->n; e++) {
        size_t s = home(m->hash[e], cap);
        while (slot[s] >= 0) s = (s + 1) & (cap - 1);
        slot[s] = e;
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
}

int strmap_intern(StrMap *m, const char *key, size_t len, int *added) {
    if (2 * ((size_t)m->n + 1) > m->cap) grow_slots(m);
    uint64_t h = strmap_hash(key, len);
    size_t at;
    int e = lookup(m, key, len, h, &at);
    if (added) *added = e < 0;
    if (e >= 0) return e;
    if (m->n == m->n_cap) {
        m->n_cap = m->n_cap ? 2 * m->n_cap : 16;
        m->key = xrealloc(m->key, sizeof *m->key * (size_t)m->n_cap);
        m->len = xrealloc(m->len, sizeof *m->len * (size_t)m->n_cap);
        m->hash = xrealloc(m->hash, sizeof *m->hash * (size_t)m->n_cap);
    }
    e = m->n++;
    m->key[e] = xstrndup(key, len);
    m->len[e] = len;
    m->hash[e] = h;
    m->slot[at] = e;
    return e;
}

int strmap_find_cstr(const StrMap *m, const char *key) { return strmap_find(m, key, strlen(key)); }
int strmap_intern_cstr(StrMap *m, const char *key, int *added) {
    return strmap_intern(m, key, strlen(key), added);
}

void strmap_free(StrMap *m) {
    for (int e = 0; e < m->n; e++) free(m->key[e]);
    free(m->key);
    free(m->len);
    free(m->hash);
    free(m->slot);
    memset(m, 0, sizeof *m);
}
