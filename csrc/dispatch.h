// Shared by both bindings files: the Python layer names the element type as a
// string ("float32" / "float64") and passes addresses as integers.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

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

}  // namespace hyperkit
