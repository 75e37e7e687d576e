// Patch gathering on CUDA: one thread per output element, the fastest-varying index
// along a patch row, so both reads (one image row) and writes (the output, in order)
// are coalesced. The host tables (image pointers and sizes, per-patch image and
// corner) are staged to the device in one copy on the caller's stream.
#include <vector>

#include "kernels.cuh"

namespace hyperkit {
namespace cuda {

namespace {
template <typename T>
__global__ void gather_kernel(const int64_t* meta, int64_t n_images, int64_t channels,
                              int64_t ph, int64_t pw, int64_t count, T* __restrict__ out) {
  const int64_t* ptrs = meta;
  const int64_t* hs = meta + n_images;
  const int64_t* ws = hs + n_images;
  const int64_t* index = ws + n_images;
  const int64_t* ys = index + count;
  const int64_t* xs = ys + count;
  const int64_t total = count * channels * ph * pw;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t col = e % pw, row = (e / pw) % ph, c = (e / (pw * ph)) % channels;
    const int64_t q = e / (pw * ph * channels);
    const int64_t n = index[q];
    const int64_t w = ws[n];
    const T* img = reinterpret_cast<const T*>(ptrs[n]);
    out[e] = img[(c * hs[n] + ys[q] + row) * w + xs[q] + col];
  }
}
}  // namespace

template <typename T>
void gather_patches(const PatchTable& t, T* out, cudaStream_t stream) {
  if (t.count == 0) return;
  std::vector<int64_t> meta;
  meta.reserve(3 * t.n_images + 3 * t.count);
  for (int64_t n = 0; n < t.n_images; ++n) meta.push_back(reinterpret_cast<int64_t>(t.images[n]));
  meta.insert(meta.end(), t.heights, t.heights + t.n_images);
  meta.insert(meta.end(), t.widths, t.widths + t.n_images);
  meta.insert(meta.end(), t.index, t.index + t.count);
  meta.insert(meta.end(), t.ys, t.ys + t.count);
  meta.insert(meta.end(), t.xs, t.xs + t.count);
  int64_t* dmeta = nullptr;
  const size_t bytes = meta.size() * sizeof(int64_t);
  check(cudaMallocAsync(reinterpret_cast<void**>(&dmeta), bytes, stream), "gather alloc");
  // From pageable memory the copy is staged before returning, so `meta` may go.
  check(cudaMemcpyAsync(dmeta, meta.data(), bytes, cudaMemcpyHostToDevice, stream), "gather copy");
  const int threads = 256;
  gather_kernel<T><<<blocks_for(t.count * t.channels * t.ph * t.pw, threads), threads, 0, stream>>>(
      dmeta, t.n_images, t.channels, t.ph, t.pw, t.count, out);
  const cudaError_t launch = cudaGetLastError();
  cudaFreeAsync(dmeta, stream);
  check(launch, "gather launch");
}

template void gather_patches<float>(const PatchTable&, float*, cudaStream_t);
template void gather_patches<double>(const PatchTable&, double*, cudaStream_t);

}  // namespace cuda
}  // namespace hyperkit
