// hyperkit kernels: plain functions over raw pointers and sizes.
//
// Every array is dense and row-major (C-contiguous); the Python layer validates
// dtypes, shapes and contiguity before calling in, so these functions trust their
// arguments. "plane" means one independent H x W image; leading dimensions are
// flattened into a plane count.
#pragma once
#include <cstdint>

namespace hyperkit {

// Where every output patch of gather_patches comes from: patch q is image index[q],
// rows ys[q] .. ys[q]+ph-1, columns xs[q] .. xs[q]+pw-1, all channels. images[n]
// points at a (channels, heights[n], widths[n]) array of the kernel's element type.
// Host arrays for both the CPU and the CUDA kernel (CUDA stages them itself). A grid
// is one way to fill it (hyperkit.grid.grid_cells); sampled positions are another.
struct PatchTable {
  const void* const* images;
  const int64_t* heights;
  const int64_t* widths;
  int64_t n_images;
  int64_t channels, ph, pw;
  const int64_t* index;
  const int64_t* ys;
  const int64_t* xs;
  int64_t count;
};

namespace cpu {

// Local contrast normalization (eq. 4 of the paper, BRISQUE's MSCN transform):
//   out = (in - mu) / (sigma + eps), mu and sigma^2 the Gaussian-weighted local mean
//   and variance over a (2r+1)^2 window, borders replicating the edge pixel.
// Returns true when an output is not finite (the input held NaN or Inf).
template <typename T>
bool lcn(const T* in, T* out, int64_t planes, int64_t height, int64_t width,
         int radius, double sigma, double eps);

// Fused min+max pooling without padding, output (planes, OH, OW) with
// OH = (H - kh) / sh + 1. Indices are flat positions h * W + w within the plane,
// the first in row-major order on ties; idx pointers may be null (not wanted).
// Returns true when the input holds a NaN.
template <typename T>
bool minmax_pool2d(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
                   int64_t planes, int64_t height, int64_t width,
                   int64_t kh, int64_t kw, int64_t sh, int64_t sw);

// Backward of minmax_pool2d: grad_in (planes, H * W) is overwritten with the
// scatter-add of grad_max / grad_min (planes, outs) at the saved indices.
template <typename T>
void minmax_pool2d_backward(const T* grad_max, const T* grad_min,
                            const int64_t* idx_max, const int64_t* idx_min, T* grad_in,
                            int64_t planes, int64_t plane_size, int64_t outs);

template <typename T>
void gather_patches(const PatchTable& table, T* out);

// Min+max pooling over kh x kw windows placed on a grid: output (planes, nu, nv),
// window (u, v) covering rows ys[u] .. ys[u]+kh-1 and columns xs[v] .. xs[v]+kw-1
// (0 <= ys[u] <= H - kh, 0 <= xs[v] <= W - kw, any order, repeats allowed). Indices
// are flat positions h * W + w within the plane, the first in row-major order on
// ties; both idx pointers null means values only. Cost does not grow with the window
// (van Herk / Gil-Werman). Returns true when a window holds a NaN. The backward is
// minmax_pool2d_backward with outs = nu * nv.
template <typename T>
bool grid_minmax_pool(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
                      int64_t planes, int64_t height, int64_t width, int64_t kh, int64_t kw,
                      const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv);

// The same on a channels-last map x (images, H, W, channels): outputs and indices
// (images, nu, nv, channels), indices still flat positions h * W + w in a plane.
template <typename T>
bool grid_minmax_pool_nhwc(const T* x, T* out_max, T* out_min, int64_t* idx_max,
                           int64_t* idx_min, int64_t images, int64_t height, int64_t width,
                           int64_t channels, int64_t kh, int64_t kw, const int64_t* ys,
                           int64_t nu, const int64_t* xs, int64_t nv);

}  // namespace cpu
}  // namespace hyperkit
