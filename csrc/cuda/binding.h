// What the CUDA ops' binding functions (csrc/cuda/<op>_binding.cpp) share, beyond
// csrc/dispatch.h: each Python function takes the CPU function's arguments, then the
// keyword-only `device` (the CUDA device that holds the data) and `stream` (the
// caller's cudaStream_t as an integer).
#pragma once
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <string>
#include <utility>

#include "cuda/kernels.cuh"
#include "dispatch.h"

namespace hyperkit {
namespace cuda {

using namespace pybind11::literals;  // "name"_a for pybind11::arg("name")

// Makes `device` current for the duration of a call, then restores the caller's.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "get device");
    if (device != previous_) check(cudaSetDevice(device), "set device");
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// dispatch_float with `device` current for the call.
template <typename Fn>
auto dispatch_on(int device, const std::string& dtype, Fn&& fn) {
  DeviceGuard guard(device);
  return dispatch_float(dtype, std::forward<Fn>(fn));
}

// m.def for a CUDA kernel: fn takes the CPU function's arguments, named by `extra`
// (which may add a docstring), then (int device, Address stream); device and stream
// are keyword-only, and the GIL is released.
template <typename Fn, typename... Extra>
void def_kernel(pybind11::module_& m, const char* name, Fn&& fn, const Extra&... extra) {
  m.def(name, std::forward<Fn>(fn), extra..., pybind11::kw_only(), pybind11::arg("device"),
        pybind11::arg("stream"), nogil);
}

}  // namespace cuda
}  // namespace hyperkit
