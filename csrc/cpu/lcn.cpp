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
#include <vector>

#include "kernels.h"

namespace hyperkit {
namespace cpu {

namespace {
std::vector<double> gaussian_taps(int radius, double sigma) {
  std::vector<double> g(2 * radius + 1);
  double sum = 0.0;
  for (int k = -radius; k <= radius; ++k) {
    g[k + radius] = std::exp(-0.5 * k * k / (sigma * sigma));
    sum += g[k + radius];
  }
  // The 2-D window is the outer product g g^T, so normalizing g to sum 1 gives a
  // 2-D window of unit volume, as eq. 4 requires.
  for (double& v : g) v /= sum;
  return g;
}

// Rows per work item: enough to amortize scheduling, small enough that one image
// still splits across threads.
constexpr int64_t kRowBlock = 8;
}  // namespace

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
    // Vertical sums of (I - ref) and (I - ref)^2, padded by `radius` on each side
    // so the horizontal pass needs no bounds checks.
    std::vector<double> buf1(width + 2 * radius), buf2(width + 2 * radius);
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
        const double ref = static_cast<double>(src[i * width + width / 2]);
        double* s1 = buf1.data() + radius;
        double* s2 = buf2.data() + radius;
        {
          const T* r0 = rows[0];
          const double g0 = g[0];
#pragma omp simd
          for (int64_t x = 0; x < width; ++x) {
            const double v = static_cast<double>(r0[x]) - ref;
            s1[x] = g0 * v;
            s2[x] = g0 * v * v;
          }
        }
        for (int k = 1; k < ntaps; ++k) {
          const T* rk = rows[k];
          const double gk = g[k];
#pragma omp simd
          for (int64_t x = 0; x < width; ++x) {
            const double v = static_cast<double>(rk[x]) - ref;
            s1[x] += gk * v;
            s2[x] += gk * v * v;
          }
        }
        // Replicated border: the vertical sum of a replicated column is the
        // replicated vertical sum.
        for (int j = 1; j <= radius; ++j) {
          s1[-j] = s1[0];
          s2[-j] = s2[0];
          s1[width - 1 + j] = s1[width - 1];
          s2[width - 1 + j] = s2[width - 1];
        }
        const T* center = src + i * width;
        T* o = dst + i * width;
        const double* b1 = buf1.data();
        const double* b2 = buf2.data();
#pragma omp simd reduction(| : bad)
        for (int64_t x = 0; x < width; ++x) {
          double m = 0.0, e2 = 0.0;
          for (int l = 0; l < ntaps; ++l) {
            m += g[l] * b1[x + l];
            e2 += g[l] * b2[x + l];
          }
          const double var = std::max(e2 - m * m, 0.0);
          const double v = static_cast<double>(center[x]) - ref;
          const double r = (v - m) / (std::sqrt(var) + eps);
          o[x] = static_cast<T>(r);
          bad |= !std::isfinite(r);
        }
      }
    }
  }
  return bad != 0;
}

template bool lcn<float>(const float*, float*, int64_t, int64_t, int64_t, int, double, double);
template bool lcn<double>(const double*, double*, int64_t, int64_t, int64_t, int, double, double);

}  // namespace cpu
}  // namespace hyperkit
