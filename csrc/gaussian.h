// The LCN window weights, shared by the CPU and CUDA kernels so both normalize
// with exactly the same taps.
#pragma once
#include <cmath>
#include <vector>

namespace hyperkit {

// 1-D Gaussian taps k = -radius..radius with standard deviation sigma, summing to 1.
// The 2-D window is the outer product g g^T, so it has unit volume, as eq. 4 requires.
inline std::vector<double> gaussian_taps(int radius, double sigma) {
  std::vector<double> g(2 * radius + 1);
  double sum = 0.0;
  for (int k = -radius; k <= radius; ++k) {
    g[k + radius] = std::exp(-0.5 * k * k / (sigma * sigma));
    sum += g[k + radius];
  }
  for (double& v : g) v /= sum;
  return g;
}

}  // namespace hyperkit
