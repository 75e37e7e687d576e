// Min+max pooling over kh x kw windows whose top-left corners lie on a grid:
// rows ys[u], columns xs[v]. Kang et al.'s stage 1 on a whole image's 'valid'
// convolution map, one window per grid patch.
//
// Separable van Herk / Gil-Werman: the map is cut into blocks of kh rows; a window
// [y, y + kh) covers the tail of block y / kh (a suffix, scanned upward from the
// block's end) and the head of the next block (a prefix, scanned downward), so each
// window costs one combine whatever its height. Suffixes and prefixes are scanned
// only over the rows some window needs, each row at most twice, as whole row vectors
// (SIMD across columns). The same scheme along the columns of each combined row
// gives the outputs. Cost per plane: about 2 x (rows the windows touch) x width
// vector operations plus 2 x width per grid row, independent of the window size.
//
// Winners: among equal values the first position in row-major order wins, as in
// minmax_pool2d. Every scan and combine uses one total order, (value, then the
// smaller flat position), so the block decomposition cannot change the winner.
#include <omp.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "dispatch.h"
#include "kernels.h"

namespace hyperkit {
namespace cpu {

namespace {

// The order in which `starts` are visited: ascending, so that every block's suffix
// is scanned once (from its smallest start) and its prefix grows monotonically.
std::vector<int64_t> ascending(const int64_t* starts, int64_t n) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return starts[a] < starts[b]; });
  return order;
}

// Per-thread scratch: suffix and prefix blocks of row vectors (values and, when
// indices are wanted, the winning row of each column), then one combined row.
template <typename T>
struct Scratch {
  std::vector<T> smx, smn, pmx, pmn;         // kh x wc
  std::vector<int32_t> srx, srn, prx, prn;   // kh x wc, winning rows
  std::vector<T> rmx, rmn;                   // wc: column winners of one grid row
  std::vector<int64_t> fmx, fmn;             // wc: their flat positions
  std::vector<T> hmx, hmn, gmx, gmn;         // wc: row-wise suffix / prefix
  std::vector<int64_t> hfx, hfn, gfx, gfn;

  Scratch(int64_t kh, int64_t wc, bool idx)
      : smx(kh * wc), smn(kh * wc), pmx(kh * wc), pmn(kh * wc), rmx(wc), rmn(wc), hmx(wc),
        hmn(wc), gmx(wc), gmn(wc) {
    if (idx) {
      for (auto* v : {&srx, &srn, &prx, &prn}) v->resize(kh * wc);
      for (auto* v : {&fmx, &fmn, &hfx, &hfn, &gfx, &gfn}) v->resize(wc);
    }
  }
};

// (a, ia) beats (b, ib) for the maximum / the minimum: larger / smaller value, then
// the earlier flat position.
template <typename T>
inline bool beats_max(T a, int64_t ia, T b, int64_t ib) {
  return a > b || (a == b && ia < ib);
}
template <typename T>
inline bool beats_min(T a, int64_t ia, T b, int64_t ib) {
  return a < b || (a == b && ia < ib);
}

// Column winners of rows [y, y + kh) for every column of [c0, c0 + wc), written to
// s.rmx / s.rmn (and flat positions to s.fmx / s.fmn). `state` carries the block
// whose suffix is scanned and how far the next block's prefix has been scanned.
struct RowState {
  int64_t block = -1;    // block b whose suffix rows [lo, (b+1) kh) are in s.s*
  int64_t prefix_end = 0;  // rows [(b+1) kh, prefix_end) of the next block are in s.p*
};

template <typename T, bool kIdx>
void column_winners(const T* x, int64_t width, int64_t kh, int64_t c0, int64_t wc, int64_t y,
                    RowState& st, Scratch<T>& s, T& probe) {
  const int64_t b = y / kh, top = b * kh, edge = top + kh;  // block b is [top, edge)
  T pr = 0;
  if (b != st.block) {
    // Suffix of block b from its last row up to y (the smallest start in it).
    st.block = b;
    st.prefix_end = edge;
    for (int64_t r = edge - 1; r >= y; --r) {
      const T* row = x + r * width + c0;
      T* mx = s.smx.data() + (r - top) * wc;
      T* mn = s.smn.data() + (r - top) * wc;
      if (r == edge - 1) {
#pragma omp simd reduction(+ : pr)
        for (int64_t c = 0; c < wc; ++c) {
          mx[c] = row[c];
          mn[c] = row[c];
          pr += row[c] - row[c];
        }
        if constexpr (kIdx) {
          std::fill_n(s.srx.data() + (r - top) * wc, wc, int32_t(r));
          std::fill_n(s.srn.data() + (r - top) * wc, wc, int32_t(r));
        }
        continue;
      }
      const T* nmx = mx + wc;  // the suffix from row r + 1
      const T* nmn = mn + wc;
      if constexpr (kIdx) {
        int32_t* rx = s.srx.data() + (r - top) * wc;
        int32_t* rn = s.srn.data() + (r - top) * wc;
        const int32_t ri = int32_t(r);
#pragma omp simd reduction(+ : pr)
        for (int64_t c = 0; c < wc; ++c) {
          const T v = row[c];
          // row r is earlier than every row of the suffix below it: it wins ties
          const bool tmx = v >= nmx[c], tmn = v <= nmn[c];
          mx[c] = tmx ? v : nmx[c];
          rx[c] = tmx ? ri : rx[c + wc];
          mn[c] = tmn ? v : nmn[c];
          rn[c] = tmn ? ri : rn[c + wc];
          pr += v - v;
        }
      } else {
#pragma omp simd reduction(+ : pr)
        for (int64_t c = 0; c < wc; ++c) {
          const T v = row[c];
          mx[c] = v > nmx[c] ? v : nmx[c];
          mn[c] = v < nmn[c] ? v : nmn[c];
          pr += v - v;
        }
      }
    }
  }
  // Prefix of block b + 1 down to row y + kh - 1 (empty when y starts block b).
  const int64_t last = y + kh - 1;
  for (int64_t r = st.prefix_end; r <= last; ++r) {
    const T* row = x + r * width + c0;
    T* mx = s.pmx.data() + (r - edge) * wc;
    T* mn = s.pmn.data() + (r - edge) * wc;
    if (r == edge) {
#pragma omp simd reduction(+ : pr)
      for (int64_t c = 0; c < wc; ++c) {
        mx[c] = row[c];
        mn[c] = row[c];
        pr += row[c] - row[c];
      }
      if constexpr (kIdx) {
        std::fill_n(s.prx.data(), wc, int32_t(r));
        std::fill_n(s.prn.data(), wc, int32_t(r));
      }
      continue;
    }
    const T* qmx = mx - wc;  // the prefix up to row r - 1
    const T* qmn = mn - wc;
    if constexpr (kIdx) {
      int32_t* rx = s.prx.data() + (r - edge) * wc;
      int32_t* rn = s.prn.data() + (r - edge) * wc;
      const int32_t ri = int32_t(r);
#pragma omp simd reduction(+ : pr)
      for (int64_t c = 0; c < wc; ++c) {
        const T v = row[c];
        // row r is later than every row of the prefix above it: strict to win
        const bool tmx = v > qmx[c], tmn = v < qmn[c];
        mx[c] = tmx ? v : qmx[c];
        rx[c] = tmx ? ri : rx[c - wc];
        mn[c] = tmn ? v : qmn[c];
        rn[c] = tmn ? ri : rn[c - wc];
        pr += v - v;
      }
    } else {
#pragma omp simd reduction(+ : pr)
      for (int64_t c = 0; c < wc; ++c) {
        const T v = row[c];
        mx[c] = v > qmx[c] ? v : qmx[c];
        mn[c] = v < qmn[c] ? v : qmn[c];
        pr += v - v;
      }
    }
  }
  st.prefix_end = std::max(st.prefix_end, last + 1);
  probe += pr;

  // Combine: suffix row y of block b with prefix row `last` of block b + 1.
  const T* smx = s.smx.data() + (y - top) * wc;
  const T* smn = s.smn.data() + (y - top) * wc;
  if (last < edge) {  // the window is block b exactly
    std::copy_n(smx, wc, s.rmx.data());
    std::copy_n(smn, wc, s.rmn.data());
    if constexpr (kIdx) {
      const int32_t* rx = s.srx.data() + (y - top) * wc;
      const int32_t* rn = s.srn.data() + (y - top) * wc;
      for (int64_t c = 0; c < wc; ++c) {
        s.fmx[c] = int64_t(rx[c]) * width + c0 + c;
        s.fmn[c] = int64_t(rn[c]) * width + c0 + c;
      }
    }
    return;
  }
  const T* pmx = s.pmx.data() + (last - edge) * wc;
  const T* pmn = s.pmn.data() + (last - edge) * wc;
  if constexpr (kIdx) {
    const int32_t* srx = s.srx.data() + (y - top) * wc;
    const int32_t* srn = s.srn.data() + (y - top) * wc;
    const int32_t* prx = s.prx.data() + (last - edge) * wc;
    const int32_t* prn = s.prn.data() + (last - edge) * wc;
    for (int64_t c = 0; c < wc; ++c) {
      // the suffix's rows come first: the prefix must be strictly better
      const bool tmx = pmx[c] > smx[c], tmn = pmn[c] < smn[c];
      s.rmx[c] = tmx ? pmx[c] : smx[c];
      s.rmn[c] = tmn ? pmn[c] : smn[c];
      s.fmx[c] = int64_t(tmx ? prx[c] : srx[c]) * width + c0 + c;
      s.fmn[c] = int64_t(tmn ? prn[c] : srn[c]) * width + c0 + c;
    }
  } else {
#pragma omp simd
    for (int64_t c = 0; c < wc; ++c) {
      s.rmx[c] = pmx[c] > smx[c] ? pmx[c] : smx[c];
      s.rmn[c] = pmn[c] < smn[c] ? pmn[c] : smn[c];
    }
  }
}

// Window winners along the combined row s.rm* (columns c0 .. c0 + wc - 1) for every
// grid column, in the order `cols` (ascending starts). Same block scheme in 1D.
template <typename T, bool kIdx>
void row_winners(Scratch<T>& s, const int64_t* xs, const std::vector<int64_t>& cols,
                 int64_t c0, int64_t kw, T* omx, T* omn, int64_t* imx, int64_t* imn) {
  int64_t block = -1, prefix_end = 0;
  for (const int64_t v : cols) {
    const int64_t x = xs[v] - c0;  // local column of the window's first element
    const int64_t b = (xs[v]) / kw;
    const int64_t top = b * kw - c0, edge = top + kw;  // local block [top, edge)
    if (b != block) {
      block = b;
      prefix_end = edge;
      for (int64_t c = edge - 1; c >= x; --c) {
        if (c == edge - 1) {
          s.hmx[c] = s.rmx[c];
          s.hmn[c] = s.rmn[c];
          if constexpr (kIdx) { s.hfx[c] = s.fmx[c]; s.hfn[c] = s.fmn[c]; }
          continue;
        }
        if constexpr (kIdx) {
          const bool tmx = !beats_max(s.hmx[c + 1], s.hfx[c + 1], s.rmx[c], s.fmx[c]);
          const bool tmn = !beats_min(s.hmn[c + 1], s.hfn[c + 1], s.rmn[c], s.fmn[c]);
          s.hmx[c] = tmx ? s.rmx[c] : s.hmx[c + 1];
          s.hfx[c] = tmx ? s.fmx[c] : s.hfx[c + 1];
          s.hmn[c] = tmn ? s.rmn[c] : s.hmn[c + 1];
          s.hfn[c] = tmn ? s.fmn[c] : s.hfn[c + 1];
        } else {
          s.hmx[c] = s.rmx[c] > s.hmx[c + 1] ? s.rmx[c] : s.hmx[c + 1];
          s.hmn[c] = s.rmn[c] < s.hmn[c + 1] ? s.rmn[c] : s.hmn[c + 1];
        }
      }
    }
    const int64_t last = x + kw - 1;
    for (int64_t c = prefix_end; c <= last; ++c) {
      if (c == edge) {
        s.gmx[c] = s.rmx[c];
        s.gmn[c] = s.rmn[c];
        if constexpr (kIdx) { s.gfx[c] = s.fmx[c]; s.gfn[c] = s.fmn[c]; }
        continue;
      }
      if constexpr (kIdx) {
        const bool tmx = beats_max(s.rmx[c], s.fmx[c], s.gmx[c - 1], s.gfx[c - 1]);
        const bool tmn = beats_min(s.rmn[c], s.fmn[c], s.gmn[c - 1], s.gfn[c - 1]);
        s.gmx[c] = tmx ? s.rmx[c] : s.gmx[c - 1];
        s.gfx[c] = tmx ? s.fmx[c] : s.gfx[c - 1];
        s.gmn[c] = tmn ? s.rmn[c] : s.gmn[c - 1];
        s.gfn[c] = tmn ? s.fmn[c] : s.gfn[c - 1];
      } else {
        s.gmx[c] = s.rmx[c] > s.gmx[c - 1] ? s.rmx[c] : s.gmx[c - 1];
        s.gmn[c] = s.rmn[c] < s.gmn[c - 1] ? s.rmn[c] : s.gmn[c - 1];
      }
    }
    prefix_end = std::max(prefix_end, last + 1);
    if (last < edge) {  // the window is block b exactly
      omx[v] = s.hmx[x];
      omn[v] = s.hmn[x];
      if constexpr (kIdx) { imx[v] = s.hfx[x]; imn[v] = s.hfn[x]; }
      continue;
    }
    if constexpr (kIdx) {
      const bool tmx = beats_max(s.gmx[last], s.gfx[last], s.hmx[x], s.hfx[x]);
      const bool tmn = beats_min(s.gmn[last], s.gfn[last], s.hmn[x], s.hfn[x]);
      omx[v] = tmx ? s.gmx[last] : s.hmx[x];
      imx[v] = tmx ? s.gfx[last] : s.hfx[x];
      omn[v] = tmn ? s.gmn[last] : s.hmn[x];
      imn[v] = tmn ? s.gfn[last] : s.hfn[x];
    } else {
      omx[v] = s.gmx[last] > s.hmx[x] ? s.gmx[last] : s.hmx[x];
      omn[v] = s.gmn[last] < s.hmn[x] ? s.gmn[last] : s.hmn[x];
    }
  }
}

// Exact NaN check over the windows (only after the cheap probe saw NaN or Inf).
template <typename T>
bool windows_hold_nan(const T* x, int64_t width, int64_t kh, int64_t kw, const int64_t* ys,
                      int64_t nu, const int64_t* xs, int64_t nv) {
  for (int64_t u = 0; u < nu; ++u)
    for (int64_t r = ys[u]; r < ys[u] + kh; ++r)
      for (int64_t v = 0; v < nv; ++v)
        for (int64_t c = xs[v]; c < xs[v] + kw; ++c)
          if (x[r * width + c] != x[r * width + c]) return true;
  return false;
}

template <typename T, bool kIdx>
bool run(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
         int64_t planes, int64_t height, int64_t width, int64_t kh, int64_t kw,
         const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv) {
  const std::vector<int64_t> rows = ascending(ys, nu), cols = ascending(xs, nv);
  // Columns any window touches, [c0, c0 + wc). Blocks of kw columns start at
  // multiples of kw; a scan reads from a window's first column to its last one, so
  // every local index it touches lies in [0, wc).
  const int64_t c0 = xs[cols.front()];
  const int64_t wc = xs[cols.back()] + kw - c0;
  const int64_t outs = nu * nv;
  int nan = 0;
#pragma omp parallel reduction(| : nan)
  {
    Scratch<T> s(kh, wc, kIdx);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      const T* xp = x + p * height * width;
      T probe = 0;
      RowState st;
      for (const int64_t u : rows) {
        column_winners<T, kIdx>(xp, width, kh, c0, wc, ys[u], st, s, probe);
        const int64_t o = p * outs + u * nv;
        row_winners<T, kIdx>(s, xs, cols, c0, kw, out_max + o, out_min + o,
                             kIdx ? idx_max + o : nullptr, kIdx ? idx_min + o : nullptr);
      }
      if (probe != probe && windows_hold_nan(xp, width, kh, kw, ys, nu, xs, nv)) nan = 1;
    }
  }
  return nan != 0;
}


// ---- channels-last maps (N, H, W, C): both passes are scans over rows of vectors.
//
// Van Herk / Gil-Werman along one axis of a matrix whose "rows" are vectors of vw
// elements: window [s, s + k) of rows, for all vw lanes at once. `value(r)` points at
// row r's vw values; `key(r, j)` is the flat position h * W + w of lane j of row r
// (only called with indices). Ties go to the smaller key.
//
// kOrdered: keys grow with the row r in every lane (the column pass, where
// key = r * W + column). Then the scan order alone decides ties (a row scanned
// upward is earlier than everything already kept, a row scanned downward later,
// a suffix row earlier than a prefix row), keys are only carried, never compared,
// and the lanes vectorize (bench/RESULTS.md train-speed).
template <typename T, bool kIdx, bool kOrdered = false>
class BlockScan {
 public:
  BlockScan(int64_t k, int64_t vw)
      : k_(k), vw_(vw), smx_(k * vw), smn_(k * vw), pmx_(k * vw), pmn_(k * vw) {
    if (kIdx)
      for (auto* v : {&skx_, &skn_, &pkx_, &pkn_}) v->resize(k * vw);
  }
  void reset() { block_ = -1; }
  // Lanes per row for the next scans (at most the constructor's; the last chunk of a
  // band is narrower).
  void resize(int64_t vw) { vw_ = vw; }

  // Winners of rows [s, s + k) into omx / omn (vw each; keys into okx / okn). The
  // maximum scans vmax(r) (keys kmax(r, j)), the minimum vmin(r) (keys kmin(r, j)).
  // Starts must come in ascending order between resets.
  template <typename VMax, typename VMin, typename KMax, typename KMin>
  void window(int64_t s, VMax vmax, VMin vmin, KMax kmax, KMin kmin, T* omx, T* omn,
              int64_t* okx, int64_t* okn, T& probe) {
    const int64_t b = s / k_, top = b * k_, edge = top + k_, vw = vw_;
    T pr = 0;
    if (b != block_) {
      block_ = b;
      prefix_end_ = edge;
      for (int64_t r = edge - 1; r >= s; --r) {  // suffix of block b, up to s
        const T* xa = vmax(r);
        const T* xb = vmin(r);
        T* mx = smx_.data() + (r - top) * vw;
        T* mn = smn_.data() + (r - top) * vw;
        const bool first = r == edge - 1;
        if constexpr (kIdx) {
          int64_t* kx = skx_.data() + (r - top) * vw;
          int64_t* kn = skn_.data() + (r - top) * vw;
#pragma omp simd reduction(+ : pr)
          for (int64_t j = 0; j < vw; ++j) {
            const T a = xa[j], c = xb[j];
            const int64_t ka = kmax(r, j), kc = kmin(r, j);
            // row r is earlier than every row kept so far: it wins ties
            const bool tx = first || (kOrdered ? !(mx[j + vw] > a)
                                               : !beats_max(mx[j + vw], kx[j + vw], a, ka));
            const bool tn = first || (kOrdered ? !(mn[j + vw] < c)
                                               : !beats_min(mn[j + vw], kn[j + vw], c, kc));
            mx[j] = tx ? a : mx[j + vw];
            kx[j] = tx ? ka : kx[j + vw];
            mn[j] = tn ? c : mn[j + vw];
            kn[j] = tn ? kc : kn[j + vw];
            pr += a - a;
          }
        } else if (first) {
#pragma omp simd reduction(+ : pr)
          for (int64_t j = 0; j < vw; ++j) {
            mx[j] = xa[j];
            mn[j] = xb[j];
            pr += xa[j] - xa[j];
          }
        } else {
#pragma omp simd reduction(+ : pr)
          for (int64_t j = 0; j < vw; ++j) {
            const T a = xa[j], c = xb[j];
            mx[j] = a > mx[j + vw] ? a : mx[j + vw];
            mn[j] = c < mn[j + vw] ? c : mn[j + vw];
            pr += a - a;
          }
        }
      }
    }
    const int64_t last = s + k_ - 1;
    for (int64_t r = prefix_end_; r <= last; ++r) {  // prefix of block b + 1, down to last
      const T* xa = vmax(r);
      const T* xb = vmin(r);
      T* mx = pmx_.data() + (r - edge) * vw;
      T* mn = pmn_.data() + (r - edge) * vw;
      const bool first = r == edge;
      if constexpr (kIdx) {
        int64_t* kx = pkx_.data() + (r - edge) * vw;
        int64_t* kn = pkn_.data() + (r - edge) * vw;
#pragma omp simd reduction(+ : pr)
        for (int64_t j = 0; j < vw; ++j) {
          const T a = xa[j], c = xb[j];
          const int64_t ka = kmax(r, j), kc = kmin(r, j);
          // row r is later than every row kept so far: it loses ties
          const bool tx = first || (kOrdered ? a > mx[j - vw]
                                             : beats_max(a, ka, mx[j - vw], kx[j - vw]));
          const bool tn = first || (kOrdered ? c < mn[j - vw]
                                             : beats_min(c, kc, mn[j - vw], kn[j - vw]));
          mx[j] = tx ? a : mx[j - vw];
          kx[j] = tx ? ka : kx[j - vw];
          mn[j] = tn ? c : mn[j - vw];
          kn[j] = tn ? kc : kn[j - vw];
          pr += a - a;
        }
      } else if (first) {
#pragma omp simd reduction(+ : pr)
        for (int64_t j = 0; j < vw; ++j) {
          mx[j] = xa[j];
          mn[j] = xb[j];
          pr += xa[j] - xa[j];
        }
      } else {
#pragma omp simd reduction(+ : pr)
        for (int64_t j = 0; j < vw; ++j) {
          const T a = xa[j], c = xb[j];
          mx[j] = a > mx[j - vw] ? a : mx[j - vw];
          mn[j] = c < mn[j - vw] ? c : mn[j - vw];
          pr += a - a;
        }
      }
    }
    prefix_end_ = std::max(prefix_end_, last + 1);
    probe += pr;
    const T* sx = smx_.data() + (s - top) * vw;
    const T* sn = smn_.data() + (s - top) * vw;
    if (last < edge) {  // the window is block b exactly
      std::copy_n(sx, vw, omx);
      std::copy_n(sn, vw, omn);
      if constexpr (kIdx) {
        std::copy_n(skx_.data() + (s - top) * vw, vw, okx);
        std::copy_n(skn_.data() + (s - top) * vw, vw, okn);
      }
      return;
    }
    const T* px = pmx_.data() + (last - edge) * vw;
    const T* pn = pmn_.data() + (last - edge) * vw;
    if constexpr (kIdx) {
      const int64_t* skx = skx_.data() + (s - top) * vw;
      const int64_t* skn = skn_.data() + (s - top) * vw;
      const int64_t* pkx = pkx_.data() + (last - edge) * vw;
      const int64_t* pkn = pkn_.data() + (last - edge) * vw;
#pragma omp simd
      for (int64_t j = 0; j < vw; ++j) {
        // the prefix's rows come after the suffix's: it wins only when strictly better
        const bool tx = kOrdered ? px[j] > sx[j] : beats_max(px[j], pkx[j], sx[j], skx[j]);
        const bool tn = kOrdered ? pn[j] < sn[j] : beats_min(pn[j], pkn[j], sn[j], skn[j]);
        omx[j] = tx ? px[j] : sx[j];
        okx[j] = tx ? pkx[j] : skx[j];
        omn[j] = tn ? pn[j] : sn[j];
        okn[j] = tn ? pkn[j] : skn[j];
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < vw; ++j) {
        omx[j] = px[j] > sx[j] ? px[j] : sx[j];
        omn[j] = pn[j] < sn[j] ? pn[j] : sn[j];
      }
    }
  }

 private:
  int64_t k_, vw_;
  std::vector<T> smx_, smn_, pmx_, pmn_;
  std::vector<int64_t> skx_, skn_, pkx_, pkn_;
  int64_t block_ = -1, prefix_end_ = 0;
};

template <typename T>
bool windows_hold_nan_nhwc(const T* x, int64_t width, int64_t channels, int64_t kh,
                           int64_t kw, const int64_t* ys, int64_t nu, const int64_t* xs,
                           int64_t nv) {
  for (int64_t u = 0; u < nu; ++u)
    for (int64_t r = ys[u]; r < ys[u] + kh; ++r)
      for (int64_t v = 0; v < nv; ++v)
        for (int64_t e = xs[v] * channels; e < (xs[v] + kw) * channels; ++e)
          if (x[r * width * channels + e] != x[r * width * channels + e]) return true;
  return false;
}

// One (image, run of grid rows) task at a time, its grid rows in groups of bounded
// memory. The column pass scans the window band in chunks of kLanes lanes (of the wc * C elements of a band row), so that its suffix
// and prefix scratch stays in L2 (with indices, 26 rows x 12,500 lanes of values and
// keys are 7.8 MB, and the unchunked scan ran memory-bound, 4x slower); its winners go
// to one buffer per grid row. The row pass then scans each grid row's wc column winners
// (vectors of C channels). Outputs (N, U, V, C).
template <typename T, bool kIdx>
bool run_nhwc(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
              int64_t images, int64_t height, int64_t width, int64_t channels, int64_t kh,
              int64_t kw, const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv) {
  constexpr int64_t kLanes = 512;
  const std::vector<int64_t> rows = ascending(ys, nu), cols = ascending(xs, nv);
  const int64_t c0 = xs[cols.front()];
  const int64_t wc = xs[cols.back()] + kw - c0, C = channels, lanes = wc * C;
  const int64_t row_elems = width * C;
  int nan = 0;
  // Split the grid rows of every image into contiguous runs, one run per task, so
  // that a thread keeps its block scan warm along ascending starts.
  const int threads = omp_get_max_threads();
  const int64_t runs_per_image = std::max<int64_t>(1, std::min<int64_t>(
      nu, (threads + images - 1) / images));
  const int64_t max_run = (nu + runs_per_image - 1) / runs_per_image;
  // Grid rows are handled in groups whose column winners fit in about 2 MB per thread
  // (values, and keys with indices), so memory does not grow with the grid.
  const int64_t per_row = lanes * int64_t(2 * sizeof(T) + (kIdx ? 2 * sizeof(int64_t) : 0));
  const int64_t group = std::max<int64_t>(1, std::min<int64_t>(max_run, (2 << 20) / per_row));
#pragma omp parallel reduction(| : nan)
  {
    const int64_t chunk = std::min(kLanes, lanes);
    BlockScan<T, kIdx, true> vscan(kh, chunk);  // keys r * W + column: ordered in r
    BlockScan<T, kIdx> hscan(kw, C);
    // column winners of one group of grid rows: (row in group, lane)
    std::vector<T> bmx(group * lanes), bmn(group * lanes);
    std::vector<int64_t> bkx(kIdx ? group * lanes : 0), bkn(kIdx ? group * lanes : 0);
    std::vector<int64_t> colof(kIdx ? lanes : 0);
    for (int64_t e = 0; e < int64_t(colof.size()); ++e) colof[e] = c0 + e / C;
#pragma omp for schedule(static)
    for (int64_t task = 0; task < images * runs_per_image; ++task) {
      const int64_t n = task / runs_per_image, run = task % runs_per_image;
      const int64_t r0 = run * nu / runs_per_image, r1 = (run + 1) * nu / runs_per_image;
      const T* xn = x + n * height * row_elems;
      T probe = 0;
      for (int64_t g0 = r0; g0 < r1; g0 += group) {
      const int64_t g1 = std::min(r1, g0 + group);
      for (int64_t j0 = 0; j0 < lanes; j0 += chunk) {
        const int64_t vw = std::min(chunk, lanes - j0);
        if (vw != chunk) vscan.resize(vw);
        vscan.reset();
        const auto band = [&](int64_t r) -> const T* {
          return xn + r * row_elems + c0 * C + j0;
        };
        const auto flat = [&](int64_t r, int64_t j) { return r * width + colof[j0 + j]; };
        for (int64_t i = g0; i < g1; ++i) {
          const int64_t o = (i - g0) * lanes + j0;
          vscan.window(ys[rows[i]], band, band, flat, flat, bmx.data() + o, bmn.data() + o,
                       kIdx ? bkx.data() + o : nullptr, kIdx ? bkn.data() + o : nullptr,
                       probe);
        }
        if (vw != chunk) vscan.resize(chunk);
      }
      for (int64_t i = g0; i < g1; ++i) {
        const int64_t u = rows[i];
        const T* rmx = bmx.data() + (i - g0) * lanes;
        const T* rmn = bmn.data() + (i - g0) * lanes;
        const int64_t* rkx = kIdx ? bkx.data() + (i - g0) * lanes : nullptr;
        const int64_t* rkn = kIdx ? bkn.data() + (i - g0) * lanes : nullptr;
        hscan.reset();
        T unused = 0;  // the column pass has probed every value already
        for (const int64_t v : cols) {
          const int64_t o = ((n * nu + u) * nv + v) * C;
          hscan.window(
              xs[v] - c0, [&](int64_t r) -> const T* { return rmx + r * C; },
              [&](int64_t r) -> const T* { return rmn + r * C; },
              [&](int64_t r, int64_t j) { return rkx[r * C + j]; },
              [&](int64_t r, int64_t j) { return rkn[r * C + j]; }, out_max + o, out_min + o,
              kIdx ? idx_max + o : nullptr, kIdx ? idx_min + o : nullptr, unused);
        }
      }
      }  // group
      if (probe != probe &&
          windows_hold_nan_nhwc(xn, width, C, kh, kw, ys, nu, xs, nv))
        nan = 1;
    }
  }
  return nan != 0;
}
}  // namespace

template <typename T>
bool grid_minmax_pool(const T* x, T* out_max, T* out_min, int64_t* idx_max, int64_t* idx_min,
                      int64_t planes, int64_t height, int64_t width, int64_t kh, int64_t kw,
                      const int64_t* ys, int64_t nu, const int64_t* xs, int64_t nv) {
  if (idx_max && idx_min)
    return run<T, true>(x, out_max, out_min, idx_max, idx_min, planes, height, width, kh, kw,
                        ys, nu, xs, nv);
  return run<T, false>(x, out_max, out_min, nullptr, nullptr, planes, height, width, kh, kw,
                       ys, nu, xs, nv);
}

template <typename T>
bool grid_minmax_pool_nhwc(const T* x, T* out_max, T* out_min, int64_t* idx_max,
                           int64_t* idx_min, int64_t images, int64_t height, int64_t width,
                           int64_t channels, int64_t kh, int64_t kw, const int64_t* ys,
                           int64_t nu, const int64_t* xs, int64_t nv) {
  if (idx_max && idx_min)
    return run_nhwc<T, true>(x, out_max, out_min, idx_max, idx_min, images, height, width,
                             channels, kh, kw, ys, nu, xs, nv);
  return run_nhwc<T, false>(x, out_max, out_min, nullptr, nullptr, images, height, width,
                            channels, kh, kw, ys, nu, xs, nv);
}

#define HYPERKIT_INSTANTIATE(T)                                                             \
  template bool grid_minmax_pool_nhwc<T>(const T*, T*, T*, int64_t*, int64_t*, int64_t,     \
                                         int64_t, int64_t, int64_t, int64_t, int64_t,       \
                                         const int64_t*, int64_t, const int64_t*, int64_t); \
  template bool grid_minmax_pool<T>(const T*, T*, T*, int64_t*, int64_t*, int64_t, int64_t, \
                                    int64_t, int64_t, int64_t, const int64_t*, int64_t,     \
                                    const int64_t*, int64_t);
HYPERKIT_INSTANTIATE(float)
HYPERKIT_INSTANTIATE(double)
#undef HYPERKIT_INSTANTIATE

// --- Python bindings (module hyperkit._C) --------------------------------------

void bind_grid_minmax_pool(pybind11::module_& m) {
  m.def(
      "grid_minmax_pool",
      [](const std::string& dtype, Address x, Address out_max, Address out_min,
         Address idx_max, Address idx_min, int64_t planes, int64_t h, int64_t w, int64_t kh,
         int64_t kw, Address ys, int64_t nu, Address xs, int64_t nv) {
        return dispatch_float(dtype, [&](auto t) {
          return grid_minmax_pool<decltype(t)>(x, out_max, out_min, idx_max, idx_min, planes,
                                               h, w, kh, kw, ys, nu, xs, nv);
        });
      },
      nogil, "ys (nu,) and xs (nv,) are host int64 arrays. Returns True when a window holds a NaN.");

  m.def(
      "grid_minmax_pool_nhwc",
      [](const std::string& dtype, Address x, Address out_max, Address out_min,
         Address idx_max, Address idx_min, int64_t images, int64_t h, int64_t w,
         int64_t channels, int64_t kh, int64_t kw, Address ys, int64_t nu, Address xs,
         int64_t nv) {
        return dispatch_float(dtype, [&](auto t) {
          return grid_minmax_pool_nhwc<decltype(t)>(x, out_max, out_min, idx_max, idx_min,
                                                    images, h, w, channels, kh, kw, ys, nu, xs,
                                                    nv);
        });
      },
      nogil, "Channels-last (N, H, W, C) map, outputs (N, U, V, C).");

  m.def(
      "grid_minmax_pool_backward",
      [](const std::string& dtype, Address grad_max, Address grad_min, Address idx_max,
         Address idx_min, Address grad_in, int64_t planes, int64_t h, int64_t w,
         int64_t /*kh*/, int64_t /*kw*/, Address /*ys*/, int64_t nu, Address /*xs*/,
         int64_t nv) {
        // A scatter at the saved indices (minmax_pool2d's backward): the grid itself is
        // not needed on the CPU.
        dispatch_float(dtype, [&](auto t) {
          minmax_pool2d_backward<decltype(t)>(grad_max, grad_min, idx_max, idx_min, grad_in,
                                              planes, h * w, nu * nv);
        });
      },
      nogil);
}

}  // namespace cpu
}  // namespace hyperkit
