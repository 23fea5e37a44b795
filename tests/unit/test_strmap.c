// test_strmap: the shared hash table (common/base/strmap.h) against a plain linear search
// over many keys — numbering in order of first insertion, lookups of present and absent
// keys, keys holding NUL bytes, growth through many rehashes.
#include <stdio.h>
#include <string.h>

#include "base/strmap.h"
#include "check.h"

int main(void) {
    StrMap m = {0};
    CHECK_INT("empty map: find is -1", strmap_find_cstr(&m, "x"), -1);
    enum { N = 50000 };
    // Keys "k0".."k24999", each inserted twice (the second time in reverse order).
    int wrong_new = 0, wrong_again = 0, added;
    char key[32];
    for (int i = 0; i < N / 2; i++) {
        snprintf(key, sizeof key, "k%d", i);
        wrong_new += strmap_intern_cstr(&m, key, &added) != i || !added;
    }
    for (int i = N / 2 - 1; i >= 0; i--) {
        snprintf(key, sizeof key, "k%d", i);
        wrong_again += strmap_intern_cstr(&m, key, &added) != i || added;
    }
    CHECK_INT("new keys numbered in order of insertion", wrong_new, 0);
    CHECK_INT("known keys keep their number, not added again", wrong_again, 0);
    CHECK_INT("n distinct keys", m.n, N / 2);
    int wrong_find = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        wrong_find += strmap_find_cstr(&m, key) != (i < N / 2 ? i : -1);
    }
    CHECK_INT("find: present keys by number, absent ones -1", wrong_find, 0);
    CHECK_STR("keys kept as copies", m.key[12345], "k12345");
    // Bytes, not C strings: "a\0b" and "a\0c" and "a" are three keys.
    int a = strmap_intern(&m, "a\0b", 3, NULL), b = strmap_intern(&m, "a\0c", 3, NULL),
        c = strmap_intern(&m, "a", 1, NULL);
    CHECK("keys with NUL bytes are distinct", a != b && b != c && a != c);
    CHECK_INT("a key with NUL bytes found by its bytes", strmap_find(&m, "a\0c", 3), b);
    CHECK_INT("its length kept", (long long)m.len[b], 3);
    CHECK_INT("empty key", strmap_intern(&m, "", 0, &added), N / 2 + 3);
    CHECK_INT("empty key found", strmap_find(&m, "", 0), N / 2 + 3);
    strmap_free(&m);
    CHECK_INT("freed map is empty", m.n, 0);
    CHECK_DONE();
}
