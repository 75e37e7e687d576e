// Strided grid patch gathering: every patch row is one contiguous memcpy from the
// image into the output, which is written strictly in order.
#include <omp.h>

#include <cstring>

#include "kernels.h"

namespace hyperkit {
namespace cpu {

template <typename T>
void gather_patches(const T* const* images, const int64_t* heights, const int64_t* widths,
                    int64_t channels, int64_t ph, int64_t pw, int64_t grid_u, int64_t grid_v,
                    const int64_t* ys, const int64_t* xs, int64_t first, int64_t count, T* out) {
  const int64_t per_image = grid_u * grid_v;
  const int64_t patch_size = channels * ph * pw;
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < count; ++q) {
    const int64_t p = first + q;
    const int64_t n = p / per_image;
    const int64_t u = (p % per_image) / grid_v;
    const int64_t v = p % grid_v;
    const int64_t h = heights[n], w = widths[n];
    const T* src = images[n] + ys[n * grid_u + u] * w + xs[n * grid_v + v];
    T* dst = out + q * patch_size;
    for (int64_t c = 0; c < channels; ++c) {
      const T* sc = src + c * h * w;
      for (int64_t r = 0; r < ph; ++r) {
        std::memcpy(dst, sc + r * w, sizeof(T) * pw);
        dst += pw;
      }
    }
  }
}

template void gather_patches<float>(const float* const*, const int64_t*, const int64_t*, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, const int64_t*,
                                    const int64_t*, int64_t, int64_t, float*);
template void gather_patches<double>(const double* const*, const int64_t*, const int64_t*,
                                     int64_t, int64_t, int64_t, int64_t, int64_t, const int64_t*,
                                     const int64_t*, int64_t, int64_t, double*);

}  // namespace cpu
}  // namespace hyperkit
