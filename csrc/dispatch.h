// What every op's binding function (bind_<op>, at the end of csrc/cpu/<op>.cpp and in
// csrc/cuda/<op>_binding.cpp) shares. The Python layer names the element type as a
// string ("float32" / "float64") and passes addresses as integers; a binding lambda
// takes the addresses as `Address`, dispatches on the dtype and calls the kernel:
//
//   m.def("op", [](const std::string& dtype, Address x, Address out, int64_t n) {
//     return dispatch_float(dtype, [&](auto t) { return op<decltype(t)>(x, out, n); });
//   }, nogil);
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels.h"

namespace hyperkit {

// An address from Python (an int). It converts to whatever pointer the kernel's
// parameter is (const T*, int64_t*, cudaStream_t, ...), so bindings need no casts.
struct Address {
  uintptr_t value = 0;
  template <typename P>
  operator P*() const {
    return reinterpret_cast<P*>(value);
  }
};

// Releases the GIL while a kernel runs: every binding passes it to m.def.
inline constexpr pybind11::call_guard<pybind11::gil_scoped_release> nogil{};

// Calls fn(float{}) or fn(double{}) for the named dtype.
template <typename Fn>
inline auto dispatch_float(const std::string& dtype, Fn&& fn) {
  if (dtype == "float32") return fn(float{});
  if (dtype == "float64") return fn(double{});
  throw std::invalid_argument("hyperkit kernels take float32 or float64, got " + dtype);
}

// For pure copies (patch gathering): float16 is moved as its 16-bit pattern, so it
// needs no half type in C++. Calls fn(float{}), fn(double{}) or fn(uint16_t{}).
template <typename Fn>
inline auto dispatch_copy(const std::string& dtype, Fn&& fn) {
  if (dtype == "float16") return fn(uint16_t{});
  return dispatch_float(dtype, fn);
}

// The gather table from the addresses the Python layer passes (both bindings).
inline PatchTable patch_table(Address images, Address heights, Address widths,
                              int64_t n_images, int64_t channels, int64_t ph, int64_t pw,
                              Address index, Address ys, Address xs, int64_t count) {
  return PatchTable{images, heights, widths, n_images, channels, ph, pw, index, ys, xs, count};
}

}  // namespace hyperkit

namespace pybind11 {
namespace detail {
// Address loads exactly as uintptr_t does (same accepted values, same errors) and
// shows the same type in signatures.
template <>
struct type_caster<hyperkit::Address> {
  using Int = make_caster<uintptr_t>;
  PYBIND11_TYPE_CASTER(hyperkit::Address, Int::name);
  bool load(handle src, bool convert) {
    Int address;
    if (!address.load(src, convert)) return false;
    value.value = cast_op<uintptr_t>(address);
    return true;
  }
  static handle cast(const hyperkit::Address& a, return_value_policy policy, handle parent) {
    return Int::cast(a.value, policy, parent);
  }
};
}  // namespace detail
}  // namespace pybind11
