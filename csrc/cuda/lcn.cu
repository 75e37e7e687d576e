// Local contrast normalization (eq. 4) on CUDA: one block per 32 x 8 output tile
// (grid-stride over tiles of all planes). The block stages its (8+2r) x (32+2r)
// input window in shared memory with replicated borders, forms the vertical
// Gaussian sums of I and I^2 there, then each thread does its horizontal sums.
// As on the CPU, values are shifted by a per-tile reference level and accumulated
// in double, so flat windows never cancel to garbage, and variance is clamped >= 0.
#include <algorithm>
#include <cmath>

#include "flag.cuh"
#include "gaussian.h"

namespace hyperkit {
namespace cuda {

namespace {
constexpr int kTileX = 32, kTileY = 8;
constexpr int kMaxRadius = 16;
// Passed by value as a kernel parameter, so concurrent calls with different
// sigmas on different streams cannot race on shared constant memory.
struct Taps {
  double w[2 * kMaxRadius + 1];
};

template <typename T>
__global__ void lcn_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t planes,
                           int64_t height, int64_t width, int radius, Taps taps, double eps,
                           int64_t tiles_y, int64_t tiles_x, int* flag) {
  extern __shared__ double smem[];
  const int sw = kTileX + 2 * radius, sh = kTileY + 2 * radius, ntaps = 2 * radius + 1;
  double* tile = smem;             // sh x sw, input minus ref
  double* s1 = tile + sh * sw;     // kTileY x sw, vertical sums of v
  double* s2 = s1 + kTileY * sw;   // kTileY x sw, vertical sums of v^2
  const int tid = threadIdx.y * kTileX + threadIdx.x;
  const int64_t tiles = planes * tiles_y * tiles_x;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t p = t / (tiles_y * tiles_x);
    const int64_t y0 = (t / tiles_x) % tiles_y * kTileY, x0 = t % tiles_x * kTileX;
    const T* src = in + p * height * width;
    const double ref = static_cast<double>(
        src[min(y0 + kTileY / 2, height - 1) * width + min(x0 + kTileX / 2, width - 1)]);
    for (int i = tid; i < sh * sw; i += kTileX * kTileY) {
      const int64_t y = min(max(y0 + i / sw - radius, int64_t{0}), height - 1);
      const int64_t x = min(max(x0 + i % sw - radius, int64_t{0}), width - 1);
      tile[i] = static_cast<double>(src[y * width + x]) - ref;
    }
    __syncthreads();
    for (int i = tid; i < kTileY * sw; i += kTileX * kTileY) {
      const int ly = i / sw, lx = i % sw;
      double a = 0.0, b = 0.0;
      for (int k = 0; k < ntaps; ++k) {
        const double v = tile[(ly + k) * sw + lx];
        a += taps.w[k] * v;
        b += taps.w[k] * v * v;
      }
      s1[i] = a;
      s2[i] = b;
    }
    __syncthreads();
    const int ly = threadIdx.y, lx = threadIdx.x;
    const int64_t y = y0 + ly, x = x0 + lx;
    if (y < height && x < width) {
      double m = 0.0, e2 = 0.0;
      for (int l = 0; l < ntaps; ++l) {
        m += taps.w[l] * s1[ly * sw + lx + l];
        e2 += taps.w[l] * s2[ly * sw + lx + l];
      }
      const double var = fmax(e2 - m * m, 0.0);
      const double r = (tile[(ly + radius) * sw + lx + radius] - m) / (sqrt(var) + eps);
      out[p * height * width + y * width + x] = static_cast<T>(r);
      if (!isfinite(r)) *flag = 1;
    }
    __syncthreads();  // the next tile reuses shared memory
  }
}
}  // namespace

template <typename T>
bool lcn(const T* in, T* out, int64_t planes, int64_t height, int64_t width, int radius,
         double sigma, double eps, cudaStream_t stream) {
  if (radius > kMaxRadius)
    throw std::invalid_argument("the CUDA LCN kernel supports radius <= 16");
  Taps taps{};
  const std::vector<double> g = gaussian_taps(radius, sigma);
  std::copy(g.begin(), g.end(), taps.w);
  Flag flag(stream);
  const int64_t ty = (height + kTileY - 1) / kTileY, tx = (width + kTileX - 1) / kTileX;
  const int sw = kTileX + 2 * radius, sh = kTileY + 2 * radius;
  const size_t shared = sizeof(double) * (sh * sw + 2 * kTileY * sw);
  lcn_kernel<T><<<blocks_for(planes * ty * tx, 1), dim3(kTileX, kTileY), shared, stream>>>(
      in, out, planes, height, width, radius, taps, eps, ty, tx, flag.device());
  check(cudaGetLastError(), "LCN launch");
  return flag.read();
}

template bool lcn<float>(const float*, float*, int64_t, int64_t, int64_t, int, double, double,
                         cudaStream_t);
template bool lcn<double>(const double*, double*, int64_t, int64_t, int64_t, int, double, double,
                          cudaStream_t);

}  // namespace cuda
}  // namespace hyperkit
