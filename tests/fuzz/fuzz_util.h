// fuzz_util.h: helpers shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
//   FUZZ_REQUIRE(cond, fmt, ...)  a property that must hold: prints and aborts otherwise,
//                                 which libFuzzer reports as a crash with the input saved
//   fuzz_memfd(data, n)           the bytes as an anonymous file; its path /proc/self/fd/N
//   fuzz_json_valid(s, n)         an independent RFC 8259 recogniser (recursive descent,
//                                 written apart from common/base/json.c; nesting limited to
//                                 JSON_MAX_DEPTH as json_parse) to check what the parser
//                                 accepts and what the writers produce
//   fuzz_utf8_valid(s, n)         is s well-formed UTF-8 (no overlongs, no surrogates)?
#ifndef AUTOINTERP_FUZZ_UTIL_H
#define AUTOINTERP_FUZZ_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/json.h"   // JSON_MAX_DEPTH

#define FUZZ_REQUIRE(cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "property failed (%s:%d): %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

// A memfd holding data[0..n); *path gets "/proc/self/fd/N".  Returns the fd (close it).
static inline int fuzz_memfd(const uint8_t *data, size_t n, char *path, size_t pathlen) {
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0) {
            perror("write");
            abort();
        }
        off += (size_t)w;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

// ----------------------------------------------------------------------------- UTF-8
static inline int fuzz_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xC0 && c < 0xE0) len = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c < 0xF0) len = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c < 0xF8) len = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

// ----------------------------------------------------------------------------- JSON
typedef struct {
    const char *s;
    size_t n, i;
    int depth;
} FuzzJson;

static inline int fj_value(FuzzJson *p);

static inline void fj_ws(FuzzJson *p) {
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static inline int fj_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline unsigned fj_hexval(const char *h) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = h[k];
        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

// A string; surrogate escapes must pair up (the project's rule: a lone one is an error).
static inline int fj_string(FuzzJson *p) {
    if (p->i >= p->n || p->s[p->i] != '"') return 0;
    p->i++;
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            return 1;
        }
        if (c < 0x20) return 0;
        if (c != '\\') {
            p->i++;
            continue;
        }
        if (++p->i >= p->n) return 0;
        c = (unsigned char)p->s[p->i++];
        if (strchr("\"\\/bfnrt", c) && c) continue;
        if (c != 'u' || p->i + 4 > p->n) return 0;
        for (int k = 0; k < 4; k++)
            if (!fj_hex(p->s[p->i + (size_t)k])) return 0;
        unsigned u = fj_hexval(p->s + p->i);
        p->i += 4;
        if (u >= 0xDC00 && u <= 0xDFFF) return 0;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (p->i + 6 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') return 0;
            for (int k = 2; k < 6; k++)
                if (!fj_hex(p->s[p->i + (size_t)k])) return 0;
            unsigned lo = fj_hexval(p->s + p->i + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return 0;
            p->i += 6;
        }
    }
    return 0;
}

static inline int fj_digits(FuzzJson *p) {
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    return p->i > start;
}

static inline int fj_number(FuzzJson *p) {
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i < p->n && p->s[p->i] == '0') p->i++;
    else if (!(p->i < p->n && p->s[p->i] >= '1' && p->s[p->i] <= '9') || !fj_digits(p)) return 0;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (!fj_digits(p)) return 0;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!fj_digits(p)) return 0;
    }
    return 1;
}

static inline int fj_word(FuzzJson *p, const char *w) {
    size_t k = strlen(w);
    if (p->n - p->i < k || memcmp(p->s + p->i, w, k) != 0) return 0;
    p->i += k;
    return 1;
}

static inline int fj_container(FuzzJson *p, char open) {
    char close = open == '{' ? '}' : ']';
    if (++p->depth > JSON_MAX_DEPTH) return 0;   // the project's limit (json.h)
    p->i++;
    fj_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        p->depth--;
        return 1;
    }
    for (;;) {
        fj_ws(p);
        if (open == '{') {
            if (!fj_string(p)) return 0;
            fj_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return 0;
            p->i++;
            fj_ws(p);
        }
        if (!fj_value(p)) return 0;
        fj_ws(p);
        if (p->i >= p->n) return 0;
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == close) {
            p->i++;
            p->depth--;
            return 1;
        }
        return 0;
    }
}

static inline int fj_value(FuzzJson *p) {
    if (p->i >= p->n) return 0;
    switch (p->s[p->i]) {
    case '{':
    case '[': return fj_container(p, p->s[p->i]);
    case '"': return fj_string(p);
    case 't': return fj_word(p, "true");
    case 'f': return fj_word(p, "false");
    case 'n': return fj_word(p, "null");
    default: return fj_number(p);
    }
}

// Is s[0..n) exactly one JSON value with optional surrounding whitespace (no NUL bytes)?
static inline int fuzz_json_valid(const char *s, size_t n) {
    if (memchr(s, '\0', n)) return 0;
    FuzzJson p = {s, n, 0, 0};
    fj_ws(&p);
    if (!fj_value(&p)) return 0;
    fj_ws(&p);
    return p.i == n;
}

// Is s[0..n) one JSON object?
static inline int fuzz_json_object(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && strchr(" \t\r\n", s[i]) && s[i]) i++;
    return i < n && s[i] == '{' && fuzz_json_valid(s, n);
}

#endif
