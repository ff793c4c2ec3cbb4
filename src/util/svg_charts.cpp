#include "veil/util/svg_charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "util/svg_frame.h"

namespace veil::util {
using svg::color;
using svg::header;
using svg::num;

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string scatter_chart_svg(const std::string& title, const std::vector<Point>& points, const std::string& x_label,
                              const std::string& y_label, int width, int height) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  const double xpad = x1 > x0 ? 0.1 * (x1 - x0) : 0.5, ypad = y1 > y0 ? 0.1 * (y1 - y0) : 0.5;
  x0 -= xpad, x1 += xpad, y0 -= ypad, y1 += ypad;
  const svg::Frame f(x0, x1, y0, y1, width, height, /*left=*/64, /*right=*/24, /*top=*/36, /*bottom=*/48);
  std::ostringstream o;
  header(o, title, width, height);
  svg::xy_axes(o, f, height, x_label, y_label);
  for (std::size_t k = 0; k < points.size(); ++k) {
    const auto& p = points[k];
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    o << "<circle class=\"point\" cx=\"" << f.px(p.x) << "\" cy=\"" << f.py(p.y) << "\" r=\"6\" fill=\"" << color(k)
      << "\"><title>" << xml_escape(p.label) << ": " << num(p.x) << ", " << num(p.y) << "</title></circle>\n";
    o << "<text x=\"" << f.px(p.x) + 9 << "\" y=\"" << f.py(p.y) - 7 << "\" fill=\"" << color(k) << "\">"
      << xml_escape(p.label) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string bar_chart_svg(const std::string& title, const std::vector<Bar>& bars, const std::string& y_label,
                          int width, int height) {
  double y1 = 0;
  for (const auto& b : bars)
    if (std::isfinite(b.value)) y1 = std::max(y1, b.value);
  if (y1 <= 0) y1 = 1;
  y1 *= 1.15;
  const int left = 64, right = 16, top = 36, bottom = 56;
  const double pw = width - left - right, ph = height - top - bottom;
  auto py = [&](double y) { return top + (1 - y / y1) * ph; };
  std::ostringstream o;
  header(o, title, width, height);
  o << "<g stroke=\"#ccc\" stroke-width=\"1\">\n";
  for (int i = 0; i <= 4; ++i)
    o << "<line x1=\"" << left << "\" y1=\"" << py(y1 * i / 4) << "\" x2=\"" << left + pw << "\" y2=\""
      << py(y1 * i / 4) << "\"/>\n";
  o << "</g>\n<g fill=\"#333\">\n";
  for (int i = 0; i <= 4; ++i)
    o << "<text x=\"" << left - 6 << "\" y=\"" << py(y1 * i / 4) + 4 << "\" text-anchor=\"end\">" << num(y1 * i / 4)
      << "</text>\n";
  o << "<text transform=\"translate(14," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(y_label) << "</text>\n</g>\n";
  const double slot = bars.empty() ? pw : pw / static_cast<double>(bars.size());
  for (std::size_t k = 0; k < bars.size(); ++k) {
    const auto& b = bars[k];
    const double x = left + slot * static_cast<double>(k), bw = slot * 0.6, cx = x + slot / 2;
    if (std::isfinite(b.value)) {
      o << "<rect class=\"bar\" x=\"" << x + slot * 0.2 << "\" y=\"" << py(b.value) << "\" width=\"" << bw
        << "\" height=\"" << std::max(0.5, top + ph - py(b.value)) << "\" fill=\"" << color(k) << "\"><title>"
        << xml_escape(b.label) << ": " << num(b.value) << "</title></rect>\n";
      o << "<text x=\"" << cx << "\" y=\"" << py(b.value) - 4 << "\" text-anchor=\"middle\">" << num(b.value)
        << "</text>\n";
    } else {
      o << "<text x=\"" << cx << "\" y=\"" << top + ph - 4 << "\" text-anchor=\"middle\" fill=\"#999\">n/a</text>\n";
    }
    o << "<text x=\"" << cx << "\" y=\"" << top + ph + 16 << "\" text-anchor=\"middle\">" << xml_escape(b.label)
      << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace veil::util
