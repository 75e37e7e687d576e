// Python bindings of the CUDA min+max pooling kernels (csrc/cuda/minmax_pool2d.cu).
#include "cuda/binding.h"

namespace hyperkit::cuda {

void bind_minmax_pool2d(pybind11::module_& m) {
  def_kernel(
      m, "minmax_pool2d",
      [](const std::string& dtype, Address x, Address out_max, Address out_min,
         Address idx_max, Address idx_min, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, int64_t sh, int64_t sw, int device, Address stream) {
        return dispatch_on(device, dtype, [&](auto t) {
          return minmax_pool2d<decltype(t)>(x, out_max, out_min, idx_max, idx_min, planes, h,
                                            w, kh, kw, sh, sw, stream);
        });
      },
      "dtype"_a, "x"_a, "out_max"_a, "out_min"_a, "idx_max"_a, "idx_min"_a, "planes"_a, "h"_a,
      "w"_a, "kh"_a, "kw"_a, "sh"_a, "sw"_a);

  def_kernel(
      m, "minmax_pool2d_backward",
      [](const std::string& dtype, Address grad_max, Address grad_min, Address idx_max,
         Address idx_min, Address grad_in, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, int64_t sh, int64_t sw, int device, Address stream) {
        dispatch_on(device, dtype, [&](auto t) {
          minmax_pool2d_backward<decltype(t)>(grad_max, grad_min, idx_max, idx_min, grad_in,
                                              planes, h, w, kh, kw, sh, sw, stream);
        });
      },
      "dtype"_a, "grad_max"_a, "grad_min"_a, "idx_max"_a, "idx_min"_a, "grad_in"_a, "planes"_a,
      "h"_a, "w"_a, "kh"_a, "kw"_a, "sh"_a, "sw"_a);
}

}  // namespace hyperkit::cuda
