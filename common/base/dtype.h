// dtype: the two 16-bit float formats of weights — their tag (LowpType) and the exact
// element conversions from and to fp32 — shared by the safetensors reader (F16/BF16
// tensors) and the 16-bit weight kernels (matmul.h).
//   LOWP_BF16  bfloat16: the upper half of an IEEE fp32 (8-bit exponent, 7-bit mantissa)
//   LOWP_F16   IEEE half precision (5-bit exponent, 10-bit mantissa, subnormals)
// Called outside this module only by the tests (tests/unit/test_safetensors.c): bf16_to_f32.
#ifndef AUTOINTERP_DTYPE_H
#define AUTOINTERP_DTYPE_H
#include <stdint.h>

typedef enum { LOWP_BF16, LOWP_F16, LOWP_TYPES } LowpType;

// "bf16" or "f16".
const char *lowp_name(LowpType t);

// Element conversions: exact to fp32; from fp32 round-to-nearest-even, a NaN stays a NaN,
// a finite value above the type's largest finite value rounds to infinity (bf16 from
// about 3.39e38, f16 from 65520); f16 subnormals are rounded exactly.
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);

#endif
