// Why the patch gather is not given non-temporal stores (issue 19; bench/RESULTS.md
// kernel-ratios-thp). The gather's loop three ways into one reused 70 MB output on huge pages:
// memcpy per 32-float row (what csrc/cpu/gather_patches.cpp does), AVX-512 loads and stores,
// and AVX-512 non-temporal stores; median ms of 60 interleaved rounds. Build and run:
//   g++ -O3 -march=native -fopenmp bench/gather_stores.cpp -o /tmp/gather_stores
//   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE /tmp/gather_stores
// Needs a CPU with AVX-512F.
#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

const int N = 8, C = 3, H = 384, W = 512, P = 32, U = 23, V = 31;  // P = 32 floats a row
int ys[U], xs[V];

// The gather's loop (as csrc/cpu/gather_patches.cpp: patch by patch, row by row); only
// how one 32-float row is copied differs between the variants.
template <class CopyRow>
void gather(const float* img, float* out, CopyRow copy_row) {
#pragma omp parallel for schedule(static)
  for (long q = 0; q < (long)N * U * V; ++q) {
    const int n = q / (U * V), u = (q / V) % U, v = q % V;
    const float* src = img + (long)n * C * H * W + ys[u] * W + xs[v];
    float* dst = out + q * C * P * P;
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < P; ++r, dst += P) copy_row(dst, src + (long)c * H * W + r * W);
  }
}

void g_memcpy(const float* img, float* out) {
  gather(img, out, [](float* d, const float* s) { std::memcpy(d, s, P * sizeof(float)); });
}
void g_vec(const float* img, float* out) {
  gather(img, out, [](float* d, const float* s) {
    _mm512_storeu_ps(d, _mm512_loadu_ps(s));
    _mm512_storeu_ps(d + 16, _mm512_loadu_ps(s + 16));
  });
}
void g_nt(const float* img, float* out) {  // the output is 64-byte aligned (main)
  gather(img, out, [](float* d, const float* s) {
    _mm512_stream_ps(d, _mm512_loadu_ps(s));
    _mm512_stream_ps(d + 16, _mm512_loadu_ps(s + 16));
  });
  _mm_sfence();
}

int main() {
  for (int i = 0; i < U; i++) ys[i] = i * 16;
  for (int i = 0; i < V; i++) xs[i] = i * 16;
  const size_t ni = (size_t)N * C * H * W, no = (size_t)N * U * V * C * P * P;
  const size_t huge = 2 << 20, out_bytes = (no * 4 + huge - 1) / huge * huge;
  float* img = (float*)aligned_alloc(64, ni * 4);
  for (size_t i = 0; i < ni; i++) img[i] = i % 977;
  float* out = (float*)aligned_alloc(huge, out_bytes);  // one reused output on huge pages
  madvise(out, out_bytes, MADV_HUGEPAGE);
  memset(out, 0, out_bytes);
  void (*fs[3])(const float*, float*) = {g_memcpy, g_nt, g_vec};
  const char* names[3] = {"memcpy", "nt", "vec"};
  std::vector<double> t[3];
  for (int r = 0; r < 60; r++)  // rounds, the order rotating
    for (int k = 0; k < 3; k++) {
      const int j = (k + r) % 3;
      const auto a = std::chrono::steady_clock::now();
      fs[j](img, out);
      const auto b = std::chrono::steady_clock::now();
      t[j].push_back(std::chrono::duration<double, std::milli>(b - a).count());
    }
  for (int k = 0; k < 3; k++) {
    std::sort(t[k].begin(), t[k].end());
    printf("%s %.2f ms\n", names[k], t[k][30]);
  }
}
