// Strided grid patch gathering on CUDA: one thread per output element, the
// fastest-varying index along a patch row, so both reads (one image row) and
// writes (the output, in order) are coalesced. The small per-image tables
// (pointers, sizes, grid offsets) are staged to the device in one copy.
#include <vector>

#include "kernels.cuh"

namespace hyperkit {
namespace cuda {

namespace {
template <typename T>
__global__ void gather_kernel(const int64_t* meta, int64_t n_images, int64_t channels,
                              int64_t ph, int64_t pw, int64_t gu, int64_t gv, int64_t first,
                              int64_t count, T* __restrict__ out) {
  const int64_t* ptrs = meta;
  const int64_t* hs = meta + n_images;
  const int64_t* ws = hs + n_images;
  const int64_t* ys = ws + n_images;
  const int64_t* xs = ys + n_images * gu;
  const int64_t total = count * channels * ph * pw;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t col = e % pw, row = (e / pw) % ph, c = (e / (pw * ph)) % channels;
    const int64_t p = first + e / (pw * ph * channels);
    const int64_t n = p / (gu * gv), u = (p / gv) % gu, v = p % gv;
    const int64_t w = ws[n];
    const T* img = reinterpret_cast<const T*>(ptrs[n]);
    out[e] = img[(c * hs[n] + ys[n * gu + u] + row) * w + xs[n * gv + v] + col];
  }
}
}  // namespace

template <typename T>
void gather_patches(const T* const* images, const int64_t* heights, const int64_t* widths,
                    int64_t channels, int64_t ph, int64_t pw, int64_t grid_u, int64_t grid_v,
                    const int64_t* ys, const int64_t* xs, int64_t first, int64_t count, T* out,
                    cudaStream_t stream) {
  if (count == 0) return;
  const int64_t per_image = grid_u * grid_v;
  const int64_t n_images = (first + count + per_image - 1) / per_image;
  std::vector<int64_t> meta;
  meta.reserve(n_images * (3 + grid_u + grid_v));
  for (int64_t n = 0; n < n_images; ++n) meta.push_back(reinterpret_cast<int64_t>(images[n]));
  meta.insert(meta.end(), heights, heights + n_images);
  meta.insert(meta.end(), widths, widths + n_images);
  meta.insert(meta.end(), ys, ys + n_images * grid_u);
  meta.insert(meta.end(), xs, xs + n_images * grid_v);
  int64_t* dmeta = nullptr;
  const size_t bytes = meta.size() * sizeof(int64_t);
  check(cudaMallocAsync(reinterpret_cast<void**>(&dmeta), bytes, stream), "gather alloc");
  // From pageable memory the copy is staged before returning, so `meta` may go.
  check(cudaMemcpyAsync(dmeta, meta.data(), bytes, cudaMemcpyHostToDevice, stream), "gather copy");
  const int threads = 256;
  gather_kernel<T><<<blocks_for(count * channels * ph * pw, threads), threads, 0, stream>>>(
      dmeta, n_images, channels, ph, pw, grid_u, grid_v, first, count, out);
  const cudaError_t launch = cudaGetLastError();
  cudaFreeAsync(dmeta, stream);
  check(launch, "gather launch");
}

template void gather_patches<float>(const float* const*, const int64_t*, const int64_t*, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, const int64_t*,
                                    const int64_t*, int64_t, int64_t, float*, cudaStream_t);
template void gather_patches<double>(const double* const*, const int64_t*, const int64_t*,
                                     int64_t, int64_t, int64_t, int64_t, int64_t, const int64_t*,
                                     const int64_t*, int64_t, int64_t, double*, cudaStream_t);

}  // namespace cuda
}  // namespace hyperkit
