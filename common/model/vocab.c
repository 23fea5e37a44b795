// vocab: locate and copy the installed GPT-2 vocabulary; see vocab.h.
#include "model/vocab.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

static int has_vocab(const char *dir) {
    char *a = path_join(dir, "vocab.json"), *b = path_join(dir, "merges.txt");
    int ok = is_file(a) && is_file(b);
    free(a);
    free(b);
    return ok;
}

char *vocab_dir_default(void) {
    const char *env = getenv("AUTOINTERP_VOCAB");
    if (env && *env) return xstrdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0';
    static const char *const rel[] = {"../build/vocab", "../../vocab", "../share/autointerp/vocab"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        char *dir = path_join(exe, rel[i]);
        if (has_vocab(dir)) return dir;
        free(dir);
    }
    return NULL;
}

static int copy_file(const char *src, const char *dst, char *err, size_t errlen) {
    size_t len;
    char *data = read_file(src, &len);
    if (!data) return fail(err, errlen, "cannot read %s: %s", src, strerror(errno));
    FILE *f = fopen(dst, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(data);
    if (!ok) return fail(err, errlen, "cannot write %s: %s", dst, strerror(errno));
    return 0;
}

int vocab_copy(const char *src_dir, const char *dst_dir, char *err, size_t errlen) {
    static const char *const files[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        char *s = path_join(src_dir, files[i]), *d = path_join(dst_dir, files[i]);
        int rc = copy_file(s, d, err, errlen);
        free(s);
        free(d);
        if (rc) return -1;
    }
    return 0;
}
