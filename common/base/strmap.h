// strmap: a set of byte strings numbered in order of first insertion — the one hash
// table the record readers share to group records by a name (an experiment, a task, a
// (task, label) pair, a result's identity) in O(1) expected time per record.
//
//   StrMap m = {0};
//   int added, i = strmap_intern(&m, key, len, &added);   // 0, 1, 2 ... per distinct key
//   if (added) { ...grow the caller's arrays indexed by i... }
//   strmap_find(&m, key, len);                            // i, or -1 when absent
//   strmap_free(&m);
//
// Entry numbers are dense and stable (0 .. m.n-1, in order of first insertion), so a
// caller keeps what it knows per key in its own arrays indexed by them, and walking
// 0 .. n-1 visits the keys in order of first appearance.  Keys are compared as bytes
// (they may hold NUL bytes); the map keeps a NUL-terminated copy of each.
// Open addressing with linear probing, load factor at most 1/2, FNV-1a hashing.
#ifndef AUTOINTERP_STRMAP_H
#define AUTOINTERP_STRMAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char **key;       // (n) owned NUL-terminated copies, in insertion order
    size_t *len;      // (n) their lengths
    int n, n_cap;     // entries, and the capacity of key/len
    int *slot;        // (cap) entry number, or -1 for a free slot
    uint64_t *hash;   // (n) each entry's hash (rehashing without rereading the keys)
    size_t cap;       // a power of two, >= 2 * n (0 before the first insertion)
} StrMap;             // zero-initialise; free with strmap_free

// The entry number of key[0..len), or -1.
int strmap_find(const StrMap *m, const char *key, size_t len);
// The entry number of key[0..len), adding it (numbered m->n) when missing; *added (when
// non-NULL) says whether it was added.
int strmap_intern(StrMap *m, const char *key, size_t len, int *added);
// strmap_find / strmap_intern of a NUL-terminated key.
int strmap_find_cstr(const StrMap *m, const char *key);
int strmap_intern_cstr(StrMap *m, const char *key, int *added);
void strmap_free(StrMap *m);

#endif
