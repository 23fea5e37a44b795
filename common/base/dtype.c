// dtype: the 16-bit float formats; see dtype.h.
#include "base/dtype.h"

#include <string.h>

const char *lowp_name(LowpType t) { return t == LOWP_F16 ? "f16" : "bf16"; }

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));   // inf / NaN
    if (exp != 0) return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return bits_f32(sign);
    // Subnormal: mant * 2^-24; normalise so the leading one lands on bit 10.
    int shift = 0;
    while (!(mant & 0x400)) mant <<= 1, shift++;
    return bits_f32(sign | ((uint32_t)(113 - shift) << 23) | ((mant & 0x3ff) << 13));
}

float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);   // NaN
    if (ax >= 0x477ff000u) return sign | 0x7c00;   // >= 65520 rounds to infinity
    if (ax < 0x38800000u) {
        // Below 2^-14: the sum with 0.5f rounds (to nearest even) at exactly the
        // subnormal half's precision, and its low bits are the half's bits.
        float r = bits_f32(ax) + 0.5f;
        return sign | (uint16_t)(f32_bits(r) - 0x3f000000u);
    }
    uint32_t odd = (ax >> 13) & 1;
    ax += ((uint32_t)(15 - 127) << 23) + 0xfff + odd;   // rebias, round half to even
    return sign | (uint16_t)(ax >> 13);
}

uint16_t f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);   // quiet NaN
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}
