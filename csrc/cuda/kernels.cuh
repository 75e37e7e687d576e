// hyperkit CUDA kernels: the same operations as csrc/kernels.h, on device
// pointers, launched on the caller's stream. Each function throws
// std::runtime_error (a Python RuntimeError) when a launch fails.
#pragma once
#include <cuda_runtime.h>

#include "kernels.h"  // PatchTable

#include <cstdint>
#include <stdexcept>
#include <string>

namespace hyperkit {
namespace cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("hyperkit CUDA ") + what + ": " +
                             cudaGetErrorString(err));
}

// Grid size for grid-stride loops: enough blocks to fill the GPU, never more
// than there is work, and far below any grid-dimension limit.
inline unsigned blocks_for(int64_t work, int threads) {
  const int64_t want = (work + threads - 1) / threads;
  const int64_t cap = 65535LL * 8;
  return static_cast<unsigned>(want < 1 ? 1 : (want > cap ? cap : want));
}

// A device int set by kernels that see a non-finite value; read back after a
// stream synchronize (the price of a clear error instead of silent NaN output).
class Flag {
 public:
  explicit Flag(cudaStream_t stream);
  ~Flag();
  int* device() const { return dev_; }
  bool read();  // synchronizes the stream

 private:
  cudaStream_t stream_;
  int* dev_ = nullptr;
  int* host_ = nullptr;
};

template <typename T>
bool lcn(const T* in, T* out, int64_t planes, int64_t height, int64_t width, int radius,
         double sigma, double eps, cudaStream_t stream);

template <typename T>
bool minmax_pool2d(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
                   int64_t planes, int64_t height, int64_t width, int64_t kh, int64_t kw,
                   int64_t sh, int64_t sw, cudaStream_t stream);

template <typename T>
void minmax_pool2d_backward(const T* grad_max, const T* grad_min, const int64_t* idx_max,
                            const int64_t* idx_min, T* grad_in, int64_t planes, int64_t height,
                            int64_t width, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                            cudaStream_t stream);

// ys (nu,) and xs (nv,) are host arrays (staged on `stream`); see csrc/kernels.h.
template <typename T>
bool grid_minmax_pool(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
                      int64_t planes, int64_t height, int64_t width, int64_t kh, int64_t kw,
                      const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv,
                      cudaStream_t stream);

template <typename T>
void grid_minmax_pool_backward(const T* grad_max, const T* grad_min, const int64_t* idx_max,
                               const int64_t* idx_min, T* grad_in, int64_t planes,
                               int64_t height, int64_t width, int64_t kh, int64_t kw,
                               const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv,
                               cudaStream_t stream);

// The table's arrays are host arrays (as for the CPU kernel); they are staged to the
// device on `stream` for the launch.
template <typename T>
void gather_patches(const PatchTable& table, T* out, cudaStream_t stream);

}  // namespace cuda
}  // namespace hyperkit
