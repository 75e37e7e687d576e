// Python bindings of the CUDA kernels (module hyperkit._C_cuda). Same functions
// and arguments as hyperkit._C, plus keyword arguments `device` (the CUDA device
// that holds the data) and `stream` (the caller's cudaStream_t as an integer).
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include "cuda/kernels.cuh"
#include "dispatch.h"

namespace py = pybind11;
using namespace hyperkit;

namespace {
// Makes `device` current for the duration of a call, then restores the caller's.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    cuda::check(cudaGetDevice(&previous_), "get device");
    if (device != previous_) cuda::check(cudaSetDevice(device), "set device");
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }

 private:
  int previous_ = 0;
};

cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }
}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "hyperkit CUDA kernels. Internal: use the hyperkit package.";
  const auto nogil = py::call_guard<py::gil_scoped_release>();

  m.def("device_count", []() {
    int n = 0;
    // No driver or no GPU is an answer (0), not an error.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  });

  m.def(
      "lcn",
      [](const std::string& dtype, uintptr_t in, uintptr_t out, int64_t planes, int64_t h,
         int64_t w, int radius, double sigma, double eps, int device, uintptr_t stream) {
        DeviceGuard guard(device);
        return dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          return cuda::lcn<T>(ptr<const T>(in), ptr<T>(out), planes, h, w, radius, sigma, eps,
                              as_stream(stream));
        });
      },
      py::arg("dtype"), py::arg("in"), py::arg("out"), py::arg("planes"), py::arg("h"),
      py::arg("w"), py::arg("radius"), py::arg("sigma"), py::arg("eps"), py::kw_only(),
      py::arg("device"), py::arg("stream"), nogil);

  m.def(
      "minmax_pool2d",
      [](const std::string& dtype, uintptr_t x, uintptr_t out_max, uintptr_t out_min,
         uintptr_t idx_max, uintptr_t idx_min, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, int64_t sh, int64_t sw, int device, uintptr_t stream) {
        DeviceGuard guard(device);
        return dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          return cuda::minmax_pool2d<T>(ptr<const T>(x), ptr<T>(out_max), ptr<T>(out_min),
                                        ptr<int64_t>(idx_max), ptr<int64_t>(idx_min), planes, h,
                                        w, kh, kw, sh, sw, as_stream(stream));
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("out_max"), py::arg("out_min"),
      py::arg("idx_max"), py::arg("idx_min"), py::arg("planes"), py::arg("h"), py::arg("w"),
      py::arg("kh"), py::arg("kw"), py::arg("sh"), py::arg("sw"), py::kw_only(),
      py::arg("device"), py::arg("stream"), nogil);

  m.def(
      "minmax_pool2d_backward",
      [](const std::string& dtype, uintptr_t grad_max, uintptr_t grad_min, uintptr_t idx_max,
         uintptr_t idx_min, uintptr_t grad_in, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, int64_t sh, int64_t sw, int device, uintptr_t stream) {
        DeviceGuard guard(device);
        dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          cuda::minmax_pool2d_backward<T>(ptr<const T>(grad_max), ptr<const T>(grad_min),
                                          ptr<const int64_t>(idx_max),
                                          ptr<const int64_t>(idx_min), ptr<T>(grad_in), planes,
                                          h, w, kh, kw, sh, sw, as_stream(stream));
        });
      },
      py::arg("dtype"), py::arg("grad_max"), py::arg("grad_min"), py::arg("idx_max"),
      py::arg("idx_min"), py::arg("grad_in"), py::arg("planes"), py::arg("h"), py::arg("w"),
      py::arg("kh"), py::arg("kw"), py::arg("sh"), py::arg("sw"), py::kw_only(),
      py::arg("device"), py::arg("stream"), nogil);

  m.def(
      "grid_minmax_pool",
      [](const std::string& dtype, uintptr_t x, uintptr_t out_max, uintptr_t out_min,
         uintptr_t idx_max, uintptr_t idx_min, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, uintptr_t ys, int64_t nu, uintptr_t xs, int64_t nv, int device,
         uintptr_t stream) {
        DeviceGuard guard(device);
        return dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          return cuda::grid_minmax_pool<T>(ptr<const T>(x), ptr<T>(out_max), ptr<T>(out_min),
                                           ptr<int64_t>(idx_max), ptr<int64_t>(idx_min), planes,
                                           h, w, kh, kw, ptr<const int64_t>(ys), nu,
                                           ptr<const int64_t>(xs), nv, as_stream(stream));
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("out_max"), py::arg("out_min"),
      py::arg("idx_max"), py::arg("idx_min"), py::arg("planes"), py::arg("h"), py::arg("w"),
      py::arg("kh"), py::arg("kw"), py::arg("ys"), py::arg("nu"), py::arg("xs"), py::arg("nv"),
      py::kw_only(), py::arg("device"), py::arg("stream"), nogil,
      "ys and xs are host int64 arrays; the rest device memory.");

  m.def(
      "grid_minmax_pool_backward",
      [](const std::string& dtype, uintptr_t grad_max, uintptr_t grad_min, uintptr_t idx_max,
         uintptr_t idx_min, uintptr_t grad_in, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, uintptr_t ys, int64_t nu, uintptr_t xs, int64_t nv, int device,
         uintptr_t stream) {
        DeviceGuard guard(device);
        dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          cuda::grid_minmax_pool_backward<T>(
              ptr<const T>(grad_max), ptr<const T>(grad_min), ptr<const int64_t>(idx_max),
              ptr<const int64_t>(idx_min), ptr<T>(grad_in), planes, h, w, kh, kw,
              ptr<const int64_t>(ys), nu, ptr<const int64_t>(xs), nv, as_stream(stream));
        });
      },
      py::arg("dtype"), py::arg("grad_max"), py::arg("grad_min"), py::arg("idx_max"),
      py::arg("idx_min"), py::arg("grad_in"), py::arg("planes"), py::arg("h"), py::arg("w"),
      py::arg("kh"), py::arg("kw"), py::arg("ys"), py::arg("nu"), py::arg("xs"), py::arg("nv"),
      py::kw_only(), py::arg("device"), py::arg("stream"), nogil);

  m.def(
      "gather_patches",
      [](const std::string& dtype, uintptr_t images, uintptr_t heights, uintptr_t widths,
         int64_t n_images, int64_t channels, int64_t ph, int64_t pw, uintptr_t index,
         uintptr_t ys, uintptr_t xs, int64_t count, uintptr_t out, int device,
         uintptr_t stream) {
        DeviceGuard guard(device);
        const PatchTable table = patch_table(images, heights, widths, n_images, channels, ph,
                                             pw, index, ys, xs, count);
        dispatch_float(dtype, [&](auto t) {
          using T = decltype(t);
          cuda::gather_patches<T>(table, ptr<T>(out), as_stream(stream));
        });
      },
      py::arg("dtype"), py::arg("images"), py::arg("heights"), py::arg("widths"),
      py::arg("n_images"), py::arg("channels"), py::arg("ph"), py::arg("pw"), py::arg("index"),
      py::arg("ys"), py::arg("xs"), py::arg("count"), py::arg("out"), py::kw_only(),
      py::arg("device"), py::arg("stream"), nogil);
}
