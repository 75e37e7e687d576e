// Patch gathering: every patch row is one contiguous memcpy from its image into the
// output, which is written strictly in order.
#include <omp.h>

#include <cstring>

#include "dispatch.h"
#include "kernels.h"

namespace hyperkit {
namespace cpu {

template <typename T>
void gather_patches(const PatchTable& t, T* out) {
  const int64_t patch_size = t.channels * t.ph * t.pw;
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < t.count; ++q) {
    const int64_t n = t.index[q];
    const int64_t h = t.heights[n], w = t.widths[n];
    const T* src = static_cast<const T*>(t.images[n]) + t.ys[q] * w + t.xs[q];
    T* dst = out + q * patch_size;
    for (int64_t c = 0; c < t.channels; ++c) {
      const T* sc = src + c * h * w;
      for (int64_t r = 0; r < t.ph; ++r) {
        std::memcpy(dst, sc + r * w, sizeof(T) * t.pw);
        dst += t.pw;
      }
    }
  }
}

template void gather_patches<float>(const PatchTable&, float*);
template void gather_patches<double>(const PatchTable&, double*);
// float16 images (the half-size prepared-image cache) move as 16-bit patterns
template void gather_patches<uint16_t>(const PatchTable&, uint16_t*);

// --- Python binding (module hyperkit._C) ---------------------------------------

void bind_gather_patches(pybind11::module_& m) {
  m.def(
      "gather_patches",
      [](const std::string& dtype, Address images, Address heights, Address widths,
         int64_t n_images, int64_t channels, int64_t ph, int64_t pw, Address index, Address ys,
         Address xs, int64_t count, Address out) {
        const PatchTable table = patch_table(images, heights, widths, n_images, channels, ph,
                                             pw, index, ys, xs, count);
        dispatch_copy(dtype, [&](auto t) { gather_patches<decltype(t)>(table, out); });
      },
      nogil);
}

}  // namespace cpu
}  // namespace hyperkit
