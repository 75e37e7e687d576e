// The module hyperkit._C_cuda: the CUDA kernels. Each op's Python functions are
// defined by its bind_<op> in csrc/cuda/<op>_binding.cpp; csrc/ops.def lists the ops.
// Same functions and arguments as hyperkit._C, plus keyword arguments `device` (the
// CUDA device that holds the data) and `stream` (the caller's cudaStream_t as an integer).
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

namespace hyperkit::cuda {
#define HYPERKIT_OP(name) void bind_##name(pybind11::module_& m);
#include "ops.def"
}  // namespace hyperkit::cuda

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "hyperkit CUDA kernels. Internal: use the hyperkit package.";

  m.def("device_count", []() {
    int n = 0;
    // No driver or no GPU is an answer (0), not an error.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  });

#define HYPERKIT_OP(name) hyperkit::cuda::bind_##name(m);
#include "ops.def"
}
