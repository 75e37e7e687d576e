// Python bindings of the CPU kernels (module hyperkit._C). Addresses come in as
// integers from hyperkit's Python layer, which has validated every array; the GIL
// is released while a kernel runs.
#include <omp.h>
#include <pybind11/pybind11.h>

#include "dispatch.h"
#include "kernels.h"

namespace py = pybind11;
using namespace hyperkit;

PYBIND11_MODULE(_C, m) {
  m.doc() = "hyperkit CPU kernels (OpenMP). Internal: use the hyperkit package.";
  const auto nogil = py::call_guard<py::gil_scoped_release>();

  m.def(
      "lcn",
      [](const std::string& dtype, uintptr_t in, uintptr_t out, int64_t planes, int64_t h,
         int64_t w, int radius, double sigma, double eps) {
        return dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          return cpu::lcn<T>(ptr<const T>(in), ptr<T>(out), planes, h, w, radius, sigma, eps);
        });
      },
      nogil, "Returns True when an output is not finite.");

  m.def(
      "minmax_pool2d",
      [](const std::string& dtype, uintptr_t x, uintptr_t out_max, uintptr_t out_min,
         uintptr_t idx_max, uintptr_t idx_min, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, int64_t sh, int64_t sw) {
        return dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          return cpu::minmax_pool2d<T>(ptr<const T>(x), ptr<T>(out_max), ptr<T>(out_min),
                                       ptr<int64_t>(idx_max), ptr<int64_t>(idx_min), planes, h, w,
                                       kh, kw, sh, sw);
        });
      },
      nogil, "Returns True when the input holds a NaN.");

  m.def(
      "minmax_pool2d_backward",
      [](const std::string& dtype, uintptr_t grad_max, uintptr_t grad_min, uintptr_t idx_max,
         uintptr_t idx_min, uintptr_t grad_in, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, int64_t sh, int64_t sw) {
        const int64_t outs = ((h - kh) / sh + 1) * ((w - kw) / sw + 1);
        dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          cpu::minmax_pool2d_backward<T>(ptr<const T>(grad_max), ptr<const T>(grad_min),
                                         ptr<const int64_t>(idx_max), ptr<const int64_t>(idx_min),
                                         ptr<T>(grad_in), planes, h * w, outs);
        });
      },
      nogil);

  m.def(
      "grid_minmax_pool",
      [](const std::string& dtype, uintptr_t x, uintptr_t out_max, uintptr_t out_min,
         uintptr_t idx_max, uintptr_t idx_min, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, uintptr_t ys, int64_t nu, uintptr_t xs, int64_t nv) {
        return dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          return cpu::grid_minmax_pool<T>(ptr<const T>(x), ptr<T>(out_max), ptr<T>(out_min),
                                          ptr<int64_t>(idx_max), ptr<int64_t>(idx_min), planes,
                                          h, w, kh, kw, ptr<const int64_t>(ys), nu,
                                          ptr<const int64_t>(xs), nv);
        });
      },
      nogil, "ys (nu,) and xs (nv,) are host int64 arrays. Returns True when a window holds a NaN.");

  m.def(
      "grid_minmax_pool_nhwc",
      [](const std::string& dtype, uintptr_t x, uintptr_t out_max, uintptr_t out_min,
         uintptr_t idx_max, uintptr_t idx_min, int64_t images, int64_t h, int64_t w,
         int64_t channels, int64_t kh, int64_t kw, uintptr_t ys, int64_t nu, uintptr_t xs,
         int64_t nv) {
        return dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          return cpu::grid_minmax_pool_nhwc<T>(
              ptr<const T>(x), ptr<T>(out_max), ptr<T>(out_min), ptr<int64_t>(idx_max),
              ptr<int64_t>(idx_min), images, h, w, channels, kh, kw, ptr<const int64_t>(ys), nu,
              ptr<const int64_t>(xs), nv);
        });
      },
      nogil, "Channels-last (N, H, W, C) map, outputs (N, U, V, C).");

  m.def(
      "grid_minmax_pool_backward",
      [](const std::string& dtype, uintptr_t grad_max, uintptr_t grad_min, uintptr_t idx_max,
         uintptr_t idx_min, uintptr_t grad_in, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, uintptr_t /*ys*/, int64_t nu, uintptr_t /*xs*/, int64_t nv) {
        // A scatter at the saved indices: the grid itself is not needed on the CPU.
        (void)kh;
        (void)kw;
        dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          cpu::minmax_pool2d_backward<T>(ptr<const T>(grad_max), ptr<const T>(grad_min),
                                         ptr<const int64_t>(idx_max), ptr<const int64_t>(idx_min),
                                         ptr<T>(grad_in), planes, h * w, nu * nv);
        });
      },
      nogil);

  m.def(
      "gather_patches",
      [](const std::string& dtype, uintptr_t images, uintptr_t heights, uintptr_t widths,
         int64_t n_images, int64_t channels, int64_t ph, int64_t pw, uintptr_t index,
         uintptr_t ys, uintptr_t xs, int64_t count, uintptr_t out) {
        const PatchTable table = patch_table(images, heights, widths, n_images, channels, ph,
                                             pw, index, ys, xs, count);
        dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          cpu::gather_patches<T>(table, ptr<T>(out));
        });
      },
      nogil);

  m.def("get_num_threads", []() { return omp_get_max_threads(); },
        "OpenMP threads the kernels use (OMP_NUM_THREADS by default).");
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1");
    omp_set_num_threads(n);
  });
}
