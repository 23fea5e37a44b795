// utf8: see utf8.h.
#include "base/utf8.h"

size_t utf8_incomplete_tail(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    // The last lead byte can sit at most 3 bytes before the end.
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char b = s[n - back];
        if (b >= 0x80 && b <= 0xBF) continue;   // continuation byte: look further
        int need = utf8_lead_len(b);
        if (need == 0 || (size_t)need <= back) return 0;   // ASCII, invalid, or complete
        for (size_t k = 1; k < back; k++)
            if (!utf8_cont_ok(b, (int)k, s[n - back + k])) return 0;
        return back;
    }
    return 0;
}
