// Shared by both bindings files: the Python layer names the element type as a
// string ("float32" / "float64") and passes addresses as integers.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels.h"

namespace hyperkit {

template <typename T>
inline T* ptr(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

// Calls fn(float{}) or fn(double{}) for the named dtype.
template <typename Fn>
inline auto dispatch_float(const std::string& dtype, Fn&& fn) {
  if (dtype == "float32") return fn(float{});
  if (dtype == "float64") return fn(double{});
  throw std::invalid_argument("hyperkit kernels take float32 or float64, got " + dtype);
}

// The gather table from the addresses the Python layer passes (both bindings).
inline PatchTable patch_table(uintptr_t images, uintptr_t heights, uintptr_t widths,
                              int64_t n_images, int64_t channels, int64_t ph, int64_t pw,
                              uintptr_t index, uintptr_t ys, uintptr_t xs, int64_t count) {
  return PatchTable{ptr<const void* const>(images), ptr<const int64_t>(heights),
                    ptr<const int64_t>(widths), n_images, channels, ph, pw,
                    ptr<const int64_t>(index), ptr<const int64_t>(ys), ptr<const int64_t>(xs),
                    count};
}

}  // namespace hyperkit
