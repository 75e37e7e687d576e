// Fused min+max pooling: one read of the input gives both outputs.
//
// Global pooling (the window is the whole plane, Kang et al.'s 26x26 case) is a
// vectorized two-value reduction; the winning positions are then found by a scan
// of the same plane, which is still in L1 cache. Windowed pooling walks each
// window once, keeping the first winner in row-major order (strict comparisons).
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "dispatch.h"
#include "kernels.h"

namespace hyperkit {
namespace cpu {

namespace {
// Global pooling of one plane. Blocks of kBlock values are reduced with vector
// instructions; the first block that raises the running max (or lowers the min)
// is remembered, so the first winning position is then found by scanning that one
// block only. Strict comparisons keep the earliest block on ties.
constexpr int64_t kBlock = 32;

template <typename T>
int64_t first_equal(const T* x, int64_t begin, int64_t end, T value) {
  for (int64_t i = begin; i < end; ++i)
    if (x[i] == value) return i;
  return begin;  // unreachable for a NaN-free plane
}

// Values only (inference): one vector reduction over the whole plane. NaN is
// detected through a float probe (v - v is NaN for NaN and for +-Inf), which costs
// one vector add instead of compare-to-mask conversions; a probe hit is confirmed
// by an exact scan, so an Inf (a valid input) is never reported as NaN.
template <typename T>
bool global_plane_values(const T* x, int64_t n, T* mx_out, T* mn_out) {
  T mx = x[0], mn = x[0], probe = 0;
#pragma omp simd reduction(max : mx) reduction(min : mn) reduction(+ : probe)
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    mx = v > mx ? v : mx;
    mn = v < mn ? v : mn;
    probe += v - v;
  }
  *mx_out = mx;
  *mn_out = mn;
  if (probe == probe) return false;
  for (int64_t i = 0; i < n; ++i)
    if (x[i] != x[i]) return true;
  return false;
}

template <typename T>
bool global_plane(const T* x, int64_t n, T* mx_out, T* mn_out, int64_t* imx, int64_t* imn) {
  if (!imx && !imn) return global_plane_values(x, n, mx_out, mn_out);
  T mx = x[0], mn = x[0];
  int64_t bmx = 0, bmn = 0;  // first block holding the running max / min
  int nan = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    T lmx = x[b], lmn = x[b];
    int lnan = 0;
#pragma omp simd reduction(max : lmx) reduction(min : lmn) reduction(| : lnan)
    for (int64_t i = b; i < e; ++i) {
      const T v = x[i];
      lmx = v > lmx ? v : lmx;
      lmn = v < lmn ? v : lmn;
      lnan |= (v != v);
    }
    if (lmx > mx) { mx = lmx; bmx = b; }
    if (lmn < mn) { mn = lmn; bmn = b; }
    nan |= lnan;
  }
  *mx_out = mx;
  *mn_out = mn;
  if (imx) *imx = first_equal(x, bmx, std::min(n, bmx + kBlock), mx);
  if (imn) *imn = first_equal(x, bmn, std::min(n, bmn + kBlock), mn);
  return nan != 0;
}

template <typename T>
bool window_plane(const T* x, int64_t width, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                  int64_t sh, int64_t sw, T* omx, T* omn, int64_t* imx, int64_t* imn) {
  bool nan = false;
  for (int64_t oy = 0; oy < oh; ++oy) {
    for (int64_t ox = 0; ox < ow; ++ox) {
      const int64_t start = oy * sh * width + ox * sw;
      T mx = x[start], mn = x[start];
      int64_t amx = start, amn = start;
      for (int64_t ky = 0; ky < kh; ++ky) {
        const int64_t row = start + ky * width;
        for (int64_t kx = 0; kx < kw; ++kx) {
          const T v = x[row + kx];
          if (v > mx) { mx = v; amx = row + kx; }
          if (v < mn) { mn = v; amn = row + kx; }
          nan |= (v != v);
        }
      }
      const int64_t o = oy * ow + ox;
      omx[o] = mx;
      omn[o] = mn;
      if (imx) imx[o] = amx;
      if (imn) imn[o] = amn;
    }
  }
  return nan;
}
}  // namespace

template <typename T>
bool minmax_pool2d(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
                   int64_t planes, int64_t height, int64_t width, int64_t kh, int64_t kw,
                   int64_t sh, int64_t sw) {
  const int64_t oh = (height - kh) / sh + 1;
  const int64_t ow = (width - kw) / sw + 1;
  const int64_t outs = oh * ow;
  const int64_t n = height * width;
  const bool global = (kh == height && kw == width);
  int nan = 0;
#pragma omp parallel for schedule(static) reduction(| : nan)
  for (int64_t p = 0; p < planes; ++p) {
    const T* xp = x + p * n;
    int64_t* imx = idx_max ? idx_max + p * outs : nullptr;
    int64_t* imn = idx_min ? idx_min + p * outs : nullptr;
    if (global)
      nan |= global_plane(xp, n, out_max + p, out_min + p, imx, imn);
    else
      nan |= window_plane(xp, width, oh, ow, kh, kw, sh, sw, out_max + p * outs,
                          out_min + p * outs, imx, imn);
  }
  return nan != 0;
}

template <typename T>
void minmax_pool2d_backward(const T* grad_max, const T* grad_min, const int64_t* idx_max,
                            const int64_t* idx_min, T* grad_in, int64_t planes,
                            int64_t plane_size, int64_t outs) {
  // One thread owns a whole plane, so overlapping windows accumulate in a fixed
  // order and the result does not depend on the thread count.
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    T* g = grad_in + p * plane_size;
    std::memset(g, 0, sizeof(T) * plane_size);
    const int64_t base = p * outs;
    for (int64_t o = 0; o < outs; ++o) {
      g[idx_max[base + o]] += grad_max[base + o];
      g[idx_min[base + o]] += grad_min[base + o];
    }
  }
}

#define HYPERKIT_INSTANTIATE(T)                                                               \
  template bool minmax_pool2d<T>(const T*, T*, T*, int64_t*, int64_t*, int64_t, int64_t,     \
                                 int64_t, int64_t, int64_t, int64_t, int64_t);                \
  template void minmax_pool2d_backward<T>(const T*, const T*, const int64_t*, const int64_t*, \
                                          T*, int64_t, int64_t, int64_t);
HYPERKIT_INSTANTIATE(float)
HYPERKIT_INSTANTIATE(double)
#undef HYPERKIT_INSTANTIATE

// --- Python bindings (module hyperkit._C) --------------------------------------

void bind_minmax_pool2d(pybind11::module_& m) {
  m.def(
      "minmax_pool2d",
      [](const std::string& dtype, Address x, Address out_max, Address out_min,
         Address idx_max, Address idx_min, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, int64_t sh, int64_t sw) {
        return dispatch_float(dtype, [&](auto t) {
          return minmax_pool2d<decltype(t)>(x, out_max, out_min, idx_max, idx_min, planes, h,
                                            w, kh, kw, sh, sw);
        });
      },
      nogil, "Returns True when the input holds a NaN.");

  m.def(
      "minmax_pool2d_backward",
      [](const std::string& dtype, Address grad_max, Address grad_min, Address idx_max,
         Address idx_min, Address grad_in, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, int64_t sh, int64_t sw) {
        const int64_t outs = ((h - kh) / sh + 1) * ((w - kw) / sw + 1);
        dispatch_float(dtype, [&](auto t) {
          minmax_pool2d_backward<decltype(t)>(grad_max, grad_min, idx_max, idx_min, grad_in,
                                              planes, h * w, outs);
        });
      },
      nogil);
}

}  // namespace cpu
}  // namespace hyperkit
