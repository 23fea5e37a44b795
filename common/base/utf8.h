// utf8: the one UTF-8 decoder (well-formed sequences per Unicode's Table 3-7: no
// overlongs, no surrogates, nothing past U+10FFFF), used by the tokenizer, the JSON
// writer, the record reader's repair of invalid input and the Markdown report.  Inline:
// the tokenizer calls it once per character.
#ifndef AUTOINTERP_UTF8_H
#define AUTOINTERP_UTF8_H
#include <stddef.h>

// Length of the sequence a lead byte announces (2..4), or 0 when b is no lead byte
// (ASCII, a continuation byte, C0, C1, F5..FF).
static inline int utf8_lead_len(unsigned char b) {
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

// Is b a valid byte at position k (1..3) after lead byte `lead`?  The second byte carries
// the range limits that exclude overlongs, surrogates and code points above U+10FFFF.
static inline int utf8_cont_ok(unsigned char lead, int k, unsigned char b) {
    if (k == 1) {
        if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
        if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
        if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
        if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
    }
    return b >= 0x80 && b <= 0xBF;
}

// Length (1..4) of the well-formed UTF-8 sequence at s[0..n) (n >= 1), its code point in
// *cp (when cp is not NULL); 0 when s[0] starts none (*cp then -1).
static inline size_t utf8_decode(const unsigned char *s, size_t n, int *cp) {
    if (s[0] < 0x80) {
        if (cp) *cp = s[0];
        return 1;
    }
    int need = utf8_lead_len(s[0]);
    if (need == 0 || (size_t)need > n) goto bad;
    int v = s[0] & (0x7F >> need);
    for (int k = 1; k < need; k++) {
        if (!utf8_cont_ok(s[0], k, s[k])) goto bad;
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (cp) *cp = v;
    return (size_t)need;
bad:
    if (cp) *cp = -1;
    return 0;
}

// Streaming helper for generation.  Given the bytes s[0..n) emitted so far, the number of
// trailing bytes that are the start of a well-formed but unfinished UTF-8 sequence (0, 1,
// 2 or 3): hold them back until more tokens complete the character.  Trailing bytes that
// can never become valid (a stray continuation byte, 0xC0, 0xFF, an overlong or surrogate
// prefix such as E0 80 or ED A0) are not counted: they are final, not incomplete.
size_t utf8_incomplete_tail(const char *s, size_t n);

#endif
