// Python bindings of the CUDA grid min+max pooling kernels (csrc/cuda/grid_minmax_pool.cu).
#include "cuda/binding.h"

namespace hyperkit::cuda {

void bind_grid_minmax_pool(pybind11::module_& m) {
  def_kernel(
      m, "grid_minmax_pool",
      [](const std::string& dtype, Address x, Address out_max, Address out_min,
         Address idx_max, Address idx_min, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, Address ys, int64_t nu, Address xs, int64_t nv, int device,
         Address stream) {
        return dispatch_on(device, dtype, [&](auto t) {
          return grid_minmax_pool<decltype(t)>(x, out_max, out_min, idx_max, idx_min, planes,
                                               h, w, kh, kw, ys, nu, xs, nv, stream);
        });
      },
      "dtype"_a, "x"_a, "out_max"_a, "out_min"_a, "idx_max"_a, "idx_min"_a, "planes"_a, "h"_a,
      "w"_a, "kh"_a, "kw"_a, "ys"_a, "nu"_a, "xs"_a, "nv"_a,
      "ys and xs are host int64 arrays; the rest device memory.");

  def_kernel(
      m, "grid_minmax_pool_backward",
      [](const std::string& dtype, Address grad_max, Address grad_min, Address idx_max,
         Address idx_min, Address grad_in, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, Address ys, int64_t nu, Address xs, int64_t nv, int device,
         Address stream) {
        dispatch_on(device, dtype, [&](auto t) {
          grid_minmax_pool_backward<decltype(t)>(grad_max, grad_min, idx_max, idx_min, grad_in,
                                                 planes, h, w, kh, kw, ys, nu, xs, nv, stream);
        });
      },
      "dtype"_a, "grad_max"_a, "grad_min"_a, "idx_max"_a, "idx_min"_a, "grad_in"_a, "planes"_a,
      "h"_a, "w"_a, "kh"_a, "kw"_a, "ys"_a, "nu"_a, "xs"_a, "nv"_a);
}

}  // namespace hyperkit::cuda
