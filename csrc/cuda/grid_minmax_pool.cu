// Min+max pooling over windows at grid offsets, on CUDA (see csrc/kernels.h).
//  - Separable, in two launches on the caller's stream: a column pass (one thread
//    per plane, grid row and map column, coalesced along the row) reduces the kh
//    rows of each grid row's window band, keeping the first winning row; a row pass
//    (one thread per output) reduces kw column winners. Each output costs kh + kw
//    reads instead of kh * kw; neighbouring windows share the column pass. (The CPU
//    kernel's van Herk / Gil-Werman blocks would make the cost independent of the
//    window; on a GPU the column pass is bandwidth-bound at Kang's 26 x 26.)
//  - A NaN in a window's band turns its column winner into NaN, so the row pass
//    sees exactly the windows that hold one.
//  - Backward is a gather: one thread per input element sums, in output order, the
//    gradients of the outputs it won; no atomics, bitwise equal to the CPU scatter.
#include "flag.cuh"

namespace hyperkit {
namespace cuda {

namespace {
constexpr int kThreads = 256;

// The grid offsets (host arrays) on the device for one call, freed on the stream.
class Offsets {
 public:
  Offsets(const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv, cudaStream_t stream)
      : stream_(stream) {
    const size_t bytes = sizeof(int64_t) * (nu + nv);
    check(cudaMallocAsync(reinterpret_cast<void**>(&dev_), bytes, stream), "grid offsets alloc");
    // From pageable memory the copies are staged before returning, so ys/xs may go.
    check(cudaMemcpyAsync(dev_, ys, sizeof(int64_t) * nu, cudaMemcpyHostToDevice, stream),
          "grid offsets copy");
    check(cudaMemcpyAsync(dev_ + nu, xs, sizeof(int64_t) * nv, cudaMemcpyHostToDevice, stream),
          "grid offsets copy");
    nu_ = nu;
  }
  ~Offsets() { cudaFreeAsync(dev_, stream_); }
  const int64_t* ys() const { return dev_; }
  const int64_t* xs() const { return dev_ + nu_; }

 private:
  cudaStream_t stream_;
  int64_t* dev_ = nullptr;
  int64_t nu_ = 0;
};

template <typename T>
__device__ inline T quiet_nan() {
  return T(0) / T(0);
}

// Column pass: cmx/cmn (planes, nu, width) hold the max/min of rows
// ys[u] .. ys[u]+kh-1 of each column; crx/crn the first row that holds it.
template <typename T>
__global__ void column_kernel(const T* __restrict__ x, T* cmx, T* cmn, int32_t* crx,
                              int32_t* crn, int64_t planes, int64_t height, int64_t width,
                              int64_t kh, const int64_t* __restrict__ ys, int64_t nu) {
  const int64_t total = planes * nu * width;
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = o % width, u = (o / width) % nu, p = o / (width * nu);
    const int64_t y0 = ys[u];
    const T* xp = x + p * height * width + c;
    T mx = xp[y0 * width], mn = mx;
    int32_t rx = int32_t(y0), rn = int32_t(y0);
    bool nan = false;
    for (int64_t r = y0; r < y0 + kh; ++r) {
      const T v = xp[r * width];
      if (v > mx) { mx = v; rx = int32_t(r); }  // strict: the first row wins ties
      if (v < mn) { mn = v; rn = int32_t(r); }
      nan |= (v != v);
    }
    if (nan) mx = mn = quiet_nan<T>();
    cmx[o] = mx;
    cmn[o] = mn;
    if (crx) {
      crx[o] = rx;
      crn[o] = rn;
    }
  }
}

// Row pass: output (p, u, v) from columns xs[v] .. xs[v]+kw-1 of the column pass.
// Among equal values the smaller flat position (row, then column) wins.
template <typename T>
__global__ void row_kernel(const T* __restrict__ cmx, const T* __restrict__ cmn,
                           const int32_t* __restrict__ crx, const int32_t* __restrict__ crn,
                           T* omx, T* omn, int64_t* imx, int64_t* imn, int64_t planes,
                           int64_t width, int64_t kw, const int64_t* __restrict__ xs,
                           int64_t nu, int64_t nv, int* flag) {
  const int64_t total = planes * nu * nv;
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = o % nv, pu = o / nv;  // pu = p * nu + u
    const int64_t x0 = xs[v];
    const T* rmx = cmx + pu * width;
    const T* rmn = cmn + pu * width;
    T mx = rmx[x0], mn = rmn[x0];
    int64_t fx = 0, fn = 0;
    if (imx) {
      fx = int64_t(crx[pu * width + x0]) * width + x0;
      fn = int64_t(crn[pu * width + x0]) * width + x0;
    }
    bool nan = false;
    for (int64_t c = x0; c < x0 + kw; ++c) {
      const T a = rmx[c], b = rmn[c];
      nan |= (a != a);
      if (imx) {
        const int64_t ga = int64_t(crx[pu * width + c]) * width + c;
        const int64_t gb = int64_t(crn[pu * width + c]) * width + c;
        if (a > mx || (a == mx && ga < fx)) { mx = a; fx = ga; }
        if (b < mn || (b == mn && gb < fn)) { mn = b; fn = gb; }
      } else {
        mx = a > mx ? a : mx;
        mn = b < mn ? b : mn;
      }
    }
    omx[o] = mx;
    omn[o] = mn;
    if (imx) {
      imx[o] = fx;
      imn[o] = fn;
    }
    if (nan) *flag = 1;
  }
}

template <typename T>
__global__ void backward_kernel(const T* gmx, const T* gmn, const int64_t* imx,
                                const int64_t* imn, T* grad_in, int64_t planes, int64_t height,
                                int64_t width, int64_t kh, int64_t kw,
                                const int64_t* __restrict__ ys, int64_t nu,
                                const int64_t* __restrict__ xs, int64_t nv) {
  const int64_t total = planes * height * width;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = e / (height * width), pos = e % (height * width);
    const int64_t y = pos / width, x = pos % width;
    T acc = 0;
    for (int64_t u = 0; u < nu; ++u) {
      if (y < ys[u] || y >= ys[u] + kh) continue;
      for (int64_t v = 0; v < nv; ++v) {
        if (x < xs[v] || x >= xs[v] + kw) continue;
        const int64_t o = (p * nu + u) * nv + v;
        if (imx[o] == pos) acc += gmx[o];
        if (imn[o] == pos) acc += gmn[o];
      }
    }
    grad_in[e] = acc;
  }
}

// Device scratch for one call, freed on the stream.
template <typename U>
U* scratch(int64_t count, cudaStream_t stream) {
  U* p = nullptr;
  check(cudaMallocAsync(reinterpret_cast<void**>(&p), sizeof(U) * (count > 0 ? count : 1),
                        stream),
        "grid min+max scratch alloc");
  return p;
}
}  // namespace

template <typename T>
bool grid_minmax_pool(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
                      int64_t planes, int64_t height, int64_t width, int64_t kh, int64_t kw,
                      const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv,
                      cudaStream_t stream) {
  Flag flag(stream);
  Offsets off(ys, nu, xs, nv, stream);
  const bool idx = idx_max && idx_min;
  const int64_t band = planes * nu * width;
  T* cmx = scratch<T>(band, stream);
  T* cmn = scratch<T>(band, stream);
  int32_t* crx = idx ? scratch<int32_t>(band, stream) : nullptr;
  int32_t* crn = idx ? scratch<int32_t>(band, stream) : nullptr;
  column_kernel<T><<<blocks_for(band, kThreads), kThreads, 0, stream>>>(
      x, cmx, cmn, crx, crn, planes, height, width, kh, off.ys(), nu);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) {
    row_kernel<T><<<blocks_for(planes * nu * nv, kThreads), kThreads, 0, stream>>>(
        cmx, cmn, crx, crn, out_max, out_min, idx ? idx_max : nullptr,
        idx ? idx_min : nullptr, planes, width, kw, off.xs(), nu, nv, flag.device());
    err = cudaGetLastError();
  }
  for (void* p : {static_cast<void*>(cmx), static_cast<void*>(cmn), static_cast<void*>(crx),
                  static_cast<void*>(crn)})
    if (p) cudaFreeAsync(p, stream);
  check(err, "grid min+max pooling launch");
  return flag.read();
}

template <typename T>
void grid_minmax_pool_backward(const T* grad_max, const T* grad_min, const int64_t* idx_max,
                               const int64_t* idx_min, T* grad_in, int64_t planes,
                               int64_t height, int64_t width, int64_t kh, int64_t kw,
                               const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv,
                               cudaStream_t stream) {
  Offsets off(ys, nu, xs, nv, stream);
  backward_kernel<T><<<blocks_for(planes * height * width, kThreads), kThreads, 0, stream>>>(
      grad_max, grad_min, idx_max, idx_min, grad_in, planes, height, width, kh, kw, off.ys(),
      nu, off.xs(), nv);
  check(cudaGetLastError(), "grid min+max pooling backward launch");
}

#define HYPERKIT_INSTANTIATE(T)                                                               \
  template bool grid_minmax_pool<T>(const T*, T*, T*, int64_t*, int64_t*, int64_t, int64_t,   \
                                    int64_t, int64_t, int64_t, const int64_t*, int64_t,       \
                                    const int64_t*, int64_t, cudaStream_t);                   \
  template void grid_minmax_pool_backward<T>(const T*, const T*, const int64_t*,              \
                                             const int64_t*, T*, int64_t, int64_t, int64_t,   \
                                             int64_t, int64_t, const int64_t*, int64_t,       \
                                             const int64_t*, int64_t, cudaStream_t);
HYPERKIT_INSTANTIATE(float)
HYPERKIT_INSTANTIATE(double)
#undef HYPERKIT_INSTANTIATE

}  // namespace cuda
}  // namespace hyperkit
