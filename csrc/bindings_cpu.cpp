// The module hyperkit._C: the CPU kernels (OpenMP). Each op's Python functions are
// defined by its bind_<op>, at the end of csrc/cpu/<op>.cpp; csrc/ops.def lists the
// ops. Addresses come in as integers from hyperkit's Python layer, which has
// validated every array; the GIL is released while a kernel runs.
#include <omp.h>
#include <pybind11/pybind11.h>

#include <stdexcept>

namespace hyperkit::cpu {
#define HYPERKIT_OP(name) void bind_##name(pybind11::module_& m);
#include "ops.def"
}  // namespace hyperkit::cpu

PYBIND11_MODULE(_C, m) {
  m.doc() = "hyperkit CPU kernels (OpenMP). Internal: use the hyperkit package.";
#define HYPERKIT_OP(name) hyperkit::cpu::bind_##name(m);
#include "ops.def"

  m.def("get_num_threads", []() { return omp_get_max_threads(); },
        "OpenMP threads the kernels use (OMP_NUM_THREADS by default).");
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1");
    omp_set_num_threads(n);
  });
}
