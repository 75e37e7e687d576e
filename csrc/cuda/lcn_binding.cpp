// Python binding of the CUDA LCN kernel (csrc/cuda/lcn.cu).
#include "cuda/binding.h"

namespace hyperkit::cuda {

void bind_lcn(pybind11::module_& m) {
  def_kernel(
      m, "lcn",
      [](const std::string& dtype, Address in, Address out, int64_t planes, int64_t h,
         int64_t w, int radius, double sigma, double eps, int device, Address stream) {
        return dispatch_on(device, dtype, [&](auto t) {
          return lcn<decltype(t)>(in, out, planes, h, w, radius, sigma, eps, stream);
        });
      },
      "dtype"_a, "in"_a, "out"_a, "planes"_a, "h"_a, "w"_a, "radius"_a, "sigma"_a, "eps"_a);
}

}  // namespace hyperkit::cuda
