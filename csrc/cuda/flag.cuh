// Flag implementation shared by the kernels that report non-finite values.
#pragma once
#include "kernels.cuh"

namespace hyperkit {
namespace cuda {

inline Flag::Flag(cudaStream_t stream) : stream_(stream) {
  check(cudaMallocAsync(reinterpret_cast<void**>(&dev_), sizeof(int), stream), "flag alloc");
  check(cudaMemsetAsync(dev_, 0, sizeof(int), stream), "flag reset");
}

inline Flag::~Flag() {
  if (dev_) cudaFreeAsync(dev_, stream_);
}

inline bool Flag::read() {
  int host = 0;
  check(cudaMemcpyAsync(&host, dev_, sizeof(int), cudaMemcpyDeviceToHost, stream_), "flag read");
  check(cudaStreamSynchronize(stream_), "synchronize");
  return host != 0;
}

}  // namespace cuda
}  // namespace hyperkit
