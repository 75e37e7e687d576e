// Local contrast normalization (eq. 4), one fused separable pass.
//
// Each output row needs the vertical Gaussian sums of 2r+1 input rows (of I and
// I^2), then a horizontal Gaussian pass over those sums. We do both per output row
// into a small per-thread buffer, so the only full-size traffic is one read of the
// input and one write of the output.
//
// Precision: sigma^2 = E[I^2] - mu^2 cancels badly in float32 when the window is
// nearly flat (sigma ~ eps matters here), so accumulation is in double for both
// dtypes, and every value is shifted by a per-row reference level first (the
// variance does not change, the cancellation does). A negative variance from
// rounding is clamped to 0, so sigma is never NaN.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "dispatch.h"
#include "gaussian.h"
#include "kernels.h"

namespace hyperkit {
namespace cpu {

namespace {
// Rows per work item: enough to amortize scheduling, small enough that one image
// still splits across threads.
constexpr int64_t kRowBlock = 8;
}  // namespace

// One output row: vertical sums of 2r+1 input rows into s1/s2 (padded by r each
// side), then the horizontal pass fused with the normalization. NT > 0 fixes the
// tap count at compile time, so the default radius 3 keeps every sum in registers
// with fully unrolled tap loops; NT == 0 takes the tap count at run time.
template <int NT, typename T>
int lcn_row(const T* const* rows, const T* center, T* o, int64_t width, int radius,
            const double* g, double eps, double* s1, double* s2, double* m, double* e2) {
  const int ntaps = NT > 0 ? NT : 2 * radius + 1;
  const double ref = static_cast<double>(center[width / 2]);
  double* a = s1 + radius;
  double* b = s2 + radius;
#pragma omp simd
  for (int64_t x = 0; x < width; ++x) {
    double acc1 = 0.0, acc2 = 0.0;
    for (int k = 0; k < ntaps; ++k) {
      const double v = static_cast<double>(rows[k][x]) - ref;
      acc1 += g[k] * v;
      acc2 += g[k] * v * v;
    }
    a[x] = acc1;
    b[x] = acc2;
  }
  // Replicated border: the vertical sum of a replicated column is the replicated
  // vertical sum.
  for (int j = 1; j <= radius; ++j) {
    a[-j] = a[0];
    b[-j] = b[0];
    a[width - 1 + j] = a[width - 1];
    b[width - 1 + j] = b[width - 1];
  }
  // Horizontal pass, tap-major so that every loop is a plain vector loop.
#pragma omp simd
  for (int64_t x = 0; x < width; ++x) {
    m[x] = g[0] * s1[x];
    e2[x] = g[0] * s2[x];
  }
  for (int l = 1; l < ntaps; ++l) {
    const double gl = g[l];
#pragma omp simd
    for (int64_t x = 0; x < width; ++x) {
      m[x] += gl * s1[x + l];
      e2[x] += gl * s2[x + l];
    }
  }
  // The sums needed double; the final sqrt and division only need T's own
  // precision, and in float they cost a fraction of double's.
#pragma omp simd
  for (int64_t x = 0; x < width; ++x) {
    const double var = e2[x] - m[x] * m[x];
    const T sd = std::sqrt(static_cast<T>(var > 0.0 ? var : 0.0));
    o[x] = static_cast<T>(static_cast<double>(center[x]) - ref - m[x]) /
           (sd + static_cast<T>(eps));
  }
  // 0 * x is NaN exactly when x is NaN or Inf; kept out of the loop above so that
  // it vectorizes.
  T probe = 0;
#pragma omp simd reduction(+ : probe)
  for (int64_t x = 0; x < width; ++x) probe += o[x] * T(0);
  return probe != probe;
}

template <typename T>
bool lcn(const T* in, T* out, int64_t planes, int64_t height, int64_t width, int radius,
         double sigma, double eps) {
  const std::vector<double> taps = gaussian_taps(radius, sigma);
  const double* g = taps.data();
  const int ntaps = 2 * radius + 1;
  const int64_t blocks = (height + kRowBlock - 1) / kRowBlock;
  const int64_t items = planes * blocks;
  int bad = 0;

#pragma omp parallel reduction(| : bad)
  {
    // Per-thread scratch: vertical sums of (I - ref) and (I - ref)^2, padded by
    // `radius` each side, and the local mean and second moment of one row. Each array
    // starts on a 64-byte line, 8 doubles past the previous one's padded end: with
    // malloc's 16-byte placement, about half the processes ran this kernel at 2x the
    // time, process by process (bench/RESULTS.md "lcn-scratch"; outputs bit for bit equal).
    int64_t stride = ((width + 2 * radius + 7) / 8) * 8 + 8;
    if (stride % 512 == 0) stride += 8;  // rows exactly 4 KiB apart would alias again
    std::vector<double> scratch(4 * stride + 8);
    double* base = scratch.data();
    while (reinterpret_cast<uintptr_t>(base) % 64) ++base;
    double* s1 = base;
    double* s2 = s1 + stride;
    double* m = s2 + stride;
    double* e2 = m + stride;
    std::vector<const T*> rows(ntaps);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t p = item / blocks;
      const int64_t row0 = (item % blocks) * kRowBlock;
      const int64_t row1 = std::min(height, row0 + kRowBlock);
      const T* src = in + p * height * width;
      T* dst = out + p * height * width;
      for (int64_t i = row0; i < row1; ++i) {
        for (int k = 0; k < ntaps; ++k) {
          const int64_t y = std::clamp<int64_t>(i + k - radius, 0, height - 1);
          rows[k] = src + y * width;
        }
        const T* center = src + i * width;
        T* o = dst + i * width;
        bad |= radius == 3
                   ? lcn_row<7>(rows.data(), center, o, width, radius, g, eps, s1, s2, m, e2)
                   : lcn_row<0>(rows.data(), center, o, width, radius, g, eps, s1, s2, m, e2);
      }
    }
  }
  return bad != 0;
}

template bool lcn<float>(const float*, float*, int64_t, int64_t, int64_t, int, double, double);
template bool lcn<double>(const double*, double*, int64_t, int64_t, int64_t, int, double, double);

// --- Python binding (module hyperkit._C) ---------------------------------------

void bind_lcn(pybind11::module_& m) {
  m.def(
      "lcn",
      [](const std::string& dtype, Address in, Address out, int64_t planes, int64_t h,
         int64_t w, int radius, double sigma, double eps) {
        return dispatch_float(dtype, [&](auto t) {
          return lcn<decltype(t)>(in, out, planes, h, w, radius, sigma, eps);
        });
      },
      nogil, "Returns True when an output is not finite.");
}

}  // namespace cpu
}  // namespace hyperkit
