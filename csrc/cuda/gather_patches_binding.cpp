// Python binding of the CUDA patch gathering kernel (csrc/cuda/gather_patches.cu).
#include "cuda/binding.h"

namespace hyperkit::cuda {

void bind_gather_patches(pybind11::module_& m) {
  def_kernel(
      m, "gather_patches",
      [](const std::string& dtype, Address images, Address heights, Address widths,
         int64_t n_images, int64_t channels, int64_t ph, int64_t pw, Address index, Address ys,
         Address xs, int64_t count, Address out, int device, Address stream) {
        const PatchTable table = patch_table(images, heights, widths, n_images, channels, ph,
                                             pw, index, ys, xs, count);
        dispatch_on(device, dtype,
                    [&](auto t) { gather_patches<decltype(t)>(table, out, stream); });
      },
      "dtype"_a, "images"_a, "heights"_a, "widths"_a, "n_images"_a, "channels"_a, "ph"_a,
      "pw"_a, "index"_a, "ys"_a, "xs"_a, "count"_a, "out"_a);
}

}  // namespace hyperkit::cuda
