#include "veil/util/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "util/svg_frame.h"
#include "veil/util/svg_charts.h"

namespace veil::util {

std::string line_chart_svg(const std::string& title, const std::vector<Series>& series, const std::string& x_label,
                           const std::string& y_label, int width, int height) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  const svg::Frame f(x0, x1, y0, y1, width, height, /*left=*/64, /*right=*/16, /*top=*/36, /*bottom=*/48);
  std::ostringstream o;
  svg::header(o, title, width, height);
  svg::xy_axes(o, f, height, x_label, y_label);
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* color = svg::color(k);
    o << "<polyline class=\"series\" fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.8\" points=\"";
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) o << f.px(s.x[i]) << ',' << f.py(s.y[i]) << ' ';
    o << "\"/>\n";
    o << "<text x=\"" << f.left + f.pw - 4 << "\" y=\"" << f.top + 14 + 14 * k << "\" text-anchor=\"end\" fill=\"" << color
      << "\">" << xml_escape(s.name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace veil::util
