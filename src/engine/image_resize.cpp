#include "engine/image_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace mb::engine {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's: weights times 2^22, sums in 32-bit ints

double bicubic(double x, ResizeKernel kernel) {  // Keys' cubic convolution with a = -0.5, support 2
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)  // (the same polynomial, evaluated in each library's order: the last bits can differ)
    return kernel == ResizeKernel::kPillow ? (((x - 5) * x + 8) * x - 4) * a : ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

// For each output position along one axis: the first input index, how many inputs, and their fixed-point
// weights (ksize slots each), computed in the order and precision the library uses.
struct Coefficients {
  int ksize = 0, precision = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

Coefficients coefficients(int in_size, int out_size, ResizeKernel kernel) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);  // shrinking: the kernel widens (antialiasing)
  const double support = 2.0 * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<size_t>(out_size));
  c.count.resize(static_cast<size_t>(out_size));
  std::vector<double> k(static_cast<size_t>(out_size) * static_cast<size_t>(c.ksize), 0.0);
  double largest = 0.0;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(std::min(static_cast<int>(center + support + 0.5), in_size) - xmin, c.ksize);
    double* w = &k[static_cast<size_t>(xx) * static_cast<size_t>(c.ksize)];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) ww += (w[x] = bicubic((x + xmin - center + 0.5) * ss, kernel));
    if (ww != 0.0)
      for (int x = 0; x < xmax; ++x) largest = std::max(largest, w[x] /= ww);
    c.first[static_cast<size_t>(xx)] = xmin;
    c.count[static_cast<size_t>(xx)] = xmax;
  }
  // Pillow: 22 fraction bits; torch: int16 weights, as many fraction bits as keep the largest below 2^15
  c.precision = kPrecisionBits;
  if (kernel == ResizeKernel::kTorch)
    for (c.precision = 0; c.precision < 22; ++c.precision)
      if (static_cast<int>(0.5 + largest * (1 << (c.precision + 1))) >= (1 << 15)) break;
  c.weights.resize(k.size());
  for (size_t i = 0; i < k.size(); ++i) {
    const double v = k[i] * (1 << c.precision);
    c.weights[i] = static_cast<int32_t>(v < 0 ? -0.5 + v : 0.5 + v);
  }
  return c;
}

uint8_t clip8(int32_t v, int precision) { return static_cast<uint8_t>(std::clamp(v >> precision, 0, 255)); }

}  // namespace

RgbImage resize_bicubic(const RgbImage& in, int64_t width, int64_t height, ResizeKernel kernel) {
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide)
    fail(Status::kInvalidArgument, "cannot resize an image to ", width, " x ", height);
  const int W = static_cast<int>(in.width), H = static_cast<int>(in.height);
  const int w = static_cast<int>(width), h = static_cast<int>(height);
  const Coefficients cx = coefficients(W, w, kernel), cy = coefficients(H, h, kernel);
  RgbImage cur = in;
  if (w != W) {  // horizontal pass, over the rows the vertical pass will read
    const int y0 = cy.first.front(), y1 = cy.first.back() + cy.count.back();
    RgbImage out;
    out.width = w;
    out.height = y1 - y0;
    out.pixels.resize(static_cast<size_t>(out.width * out.height * 3));
    for (int y = 0; y < out.height; ++y) {
      const uint8_t* row = cur.pixels.data() + static_cast<size_t>(y + y0) * static_cast<size_t>(W) * 3;
      for (int xx = 0; xx < w; ++xx) {
        const int32_t* k = cx.weights.data() + static_cast<size_t>(xx) * static_cast<size_t>(cx.ksize);
        const int32_t half = cx.precision > 0 ? 1 << (cx.precision - 1) : 0;  // (rounding)
        int32_t s[3] = {half, half, half};
        for (int x = 0; x < cx.count[static_cast<size_t>(xx)]; ++x)
          for (int ch = 0; ch < 3; ++ch) s[ch] += row[(x + cx.first[static_cast<size_t>(xx)]) * 3 + ch] * k[x];
        for (int ch = 0; ch < 3; ++ch)
          out.pixels[(static_cast<size_t>(y) * static_cast<size_t>(w) + xx) * 3 + ch] = clip8(s[ch], cx.precision);
      }
    }
    cur = std::move(out);
  }
  if (h != H) {  // vertical pass (rows counted from the first one the horizontal pass kept)
    const int y0 = w != W ? cy.first.front() : 0;
    RgbImage out;
    out.width = cur.width;
    out.height = h;
    out.pixels.resize(static_cast<size_t>(out.width * out.height * 3));
    const size_t stride = static_cast<size_t>(cur.width) * 3;
    for (int yy = 0; yy < h; ++yy) {
      const int32_t* k = cy.weights.data() + static_cast<size_t>(yy) * static_cast<size_t>(cy.ksize);
      const int first = cy.first[static_cast<size_t>(yy)] - y0;
      for (size_t xc = 0; xc < stride; ++xc) {
        int32_t s = cy.precision > 0 ? 1 << (cy.precision - 1) : 0;
        for (int y = 0; y < cy.count[static_cast<size_t>(yy)]; ++y) s += cur.pixels[static_cast<size_t>(first + y) * stride + xc] * k[y];
        out.pixels[static_cast<size_t>(yy) * stride + xc] = clip8(s, cy.precision);
      }
    }
    cur = std::move(out);
  }
  return cur;
}

}  // namespace mb::engine
