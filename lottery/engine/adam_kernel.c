/* The Adam update of lottery.optimizers, one pass over n float32 elements.
 *
 * Each element goes through the same correctly rounded float32 operations whether it lands in
 * a vector lane or the scalar tail, so results do not depend on where a range starts or how it
 * is split. Built without -ffast-math and with -ffp-contract=off: the one fused multiply-add is
 * the explicit fmaf, every other operation rounds on its own, and subnormals are kept.
 * lottery/adam_emulation.py is the executable specification of these bits.
 */
#include <math.h>
#include <stddef.h>

#ifndef LOTTERY_ADAM_KEY
#define LOTTERY_ADAM_KEY ""
#endif

/* The cache key this library was built for: a loader rejects a file that was not. */
const char *lottery_adam_key(void) { return LOTTERY_ADAM_KEY; }

void lottery_adam_f32(float *restrict p, const float *restrict g, float *restrict m,
                      float *restrict v, size_t n, float weight, float rest, float decay,
                      float bias, float eps, float size) {
    for (size_t i = 0; i < n; i++) {
        float grad = g[i];
        float moment = m[i] + (grad - m[i]) * weight;
        float second = fmaf(grad * grad, rest, v[i] * decay);
        m[i] = moment;
        v[i] = second;
        p[i] = p[i] - (moment / (sqrtf(second) / bias + eps)) * size;
    }
}
