// Fused min+max pooling on CUDA.
//  - Global windows (Kang's 26x26): one warp per plane, strided loads, then a warp
//    shuffle reduction that keeps the smaller index on equal values, so the
//    winner is the first in row-major order as on the CPU.
//  - Other windows: one thread per output.
//  - Backward is a gather: one thread per input element sums, in output order,
//    the gradients of the outputs it won. No atomics, so the result is
//    deterministic and bitwise equal to the CPU kernel's.
#include "flag.cuh"

namespace hyperkit {
namespace cuda {

namespace {
constexpr int kThreads = 256;
constexpr unsigned kFull = 0xffffffffu;

template <typename T>
__global__ void global_kernel(const T* __restrict__ x, T* omx, T* omn, int64_t* imx,
                              int64_t* imn, int64_t planes, int64_t n, int* flag) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t p = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; p < planes;
       p += warps) {
    const T* xp = x + p * n;
    T bmx = xp[0], bmn = xp[0];
    int64_t amx = 0, amn = 0;
    bool nan = false;
    for (int64_t i = lane; i < n; i += 32) {
      const T v = xp[i];
      if (v > bmx) { bmx = v; amx = i; }
      if (v < bmn) { bmn = v; amn = i; }
      nan |= (v != v);
    }
    for (int off = 16; off > 0; off >>= 1) {
      const T vmx = __shfl_down_sync(kFull, bmx, off), vmn = __shfl_down_sync(kFull, bmn, off);
      const int64_t jmx = __shfl_down_sync(kFull, amx, off), jmn = __shfl_down_sync(kFull, amn, off);
      if (vmx > bmx || (vmx == bmx && jmx < amx)) { bmx = vmx; amx = jmx; }
      if (vmn < bmn || (vmn == bmn && jmn < amn)) { bmn = vmn; amn = jmn; }
    }
    nan = __any_sync(kFull, nan);
    if (lane == 0) {
      omx[p] = bmx;
      omn[p] = bmn;
      if (imx) imx[p] = amx;
      if (imn) imn[p] = amn;
      if (nan) *flag = 1;
    }
  }
}

template <typename T>
__global__ void window_kernel(const T* __restrict__ x, T* omx, T* omn, int64_t* imx,
                              int64_t* imn, int64_t planes, int64_t height, int64_t width,
                              int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t sh,
                              int64_t sw, int* flag) {
  const int64_t total = planes * oh * ow;
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = o / (oh * ow), oy = (o / ow) % oh, ox = o % ow;
    const T* xp = x + p * height * width;
    const int64_t start = oy * sh * width + ox * sw;
    T mx = xp[start], mn = xp[start];
    int64_t amx = start, amn = start;
    bool nan = false;
    for (int64_t ky = 0; ky < kh; ++ky) {
      for (int64_t kx = 0; kx < kw; ++kx) {
        const int64_t i = start + ky * width + kx;
        const T v = xp[i];
        if (v > mx) { mx = v; amx = i; }
        if (v < mn) { mn = v; amn = i; }
        nan |= (v != v);
      }
    }
    omx[o] = mx;
    omn[o] = mn;
    if (imx) imx[o] = amx;
    if (imn) imn[o] = amn;
    if (nan) *flag = 1;
  }
}

template <typename T>
__global__ void backward_kernel(const T* gmx, const T* gmn, const int64_t* imx,
                                const int64_t* imn, T* grad_in, int64_t planes, int64_t height,
                                int64_t width, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                                int64_t sh, int64_t sw) {
  const int64_t total = planes * height * width;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = e / (height * width), pos = e % (height * width);
    const int64_t y = pos / width, x = pos % width;
    // outputs whose window covers (y, x): o*s <= y < o*s + k
    const int64_t oy0 = y >= kh ? (y - kh) / sh + 1 : 0, oy1 = min(y / sh, oh - 1);
    const int64_t ox0 = x >= kw ? (x - kw) / sw + 1 : 0, ox1 = min(x / sw, ow - 1);
    T acc = 0;
    for (int64_t oy = oy0; oy <= oy1; ++oy) {
      for (int64_t ox = ox0; ox <= ox1; ++ox) {
        const int64_t o = p * oh * ow + oy * ow + ox;
        if (imx[o] == pos) acc += gmx[o];
        if (imn[o] == pos) acc += gmn[o];
      }
    }
    grad_in[e] = acc;
  }
}
}  // namespace

template <typename T>
bool minmax_pool2d(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
                   int64_t planes, int64_t height, int64_t width, int64_t kh, int64_t kw,
                   int64_t sh, int64_t sw, cudaStream_t stream) {
  Flag flag(stream);
  if (kh == height && kw == width) {
    global_kernel<T><<<blocks_for(planes * 32, kThreads), kThreads, 0, stream>>>(
        x, out_max, out_min, idx_max, idx_min, planes, height * width, flag.device());
  } else {
    const int64_t oh = (height - kh) / sh + 1, ow = (width - kw) / sw + 1;
    window_kernel<T><<<blocks_for(planes * oh * ow, kThreads), kThreads, 0, stream>>>(
        x, out_max, out_min, idx_max, idx_min, planes, height, width, oh, ow, kh, kw, sh, sw,
        flag.device());
  }
  check(cudaGetLastError(), "min+max pooling launch");
  return flag.read();
}

template <typename T>
void minmax_pool2d_backward(const T* grad_max, const T* grad_min, const int64_t* idx_max,
                            const int64_t* idx_min, T* grad_in, int64_t planes, int64_t height,
                            int64_t width, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                            cudaStream_t stream) {
  const int64_t oh = (height - kh) / sh + 1, ow = (width - kw) / sw + 1;
  backward_kernel<T><<<blocks_for(planes * height * width, kThreads), kThreads, 0, stream>>>(
      grad_max, grad_min, idx_max, idx_min, grad_in, planes, height, width, oh, ow, kh, kw, sh,
      sw);
  check(cudaGetLastError(), "min+max pooling backward launch");
}

#define HYPERKIT_INSTANTIATE(T)                                                              \
  template bool minmax_pool2d<T>(const T*, T*, T*, int64_t*, int64_t*, int64_t, int64_t,    \
                                 int64_t, int64_t, int64_t, int64_t, int64_t, cudaStream_t); \
  template void minmax_pool2d_backward<T>(const T*, const T*, const int64_t*,                \
                                          const int64_t*, T*, int64_t, int64_t, int64_t,     \
                                          int64_t, int64_t, int64_t, int64_t, cudaStream_t);
HYPERKIT_INSTANTIATE(float)
HYPERKIT_INSTANTIATE(double)
#undef HYPERKIT_INSTANTIATE

}  // namespace cuda
}  // namespace hyperkit
