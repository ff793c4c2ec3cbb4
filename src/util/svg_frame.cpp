#include "util/svg_frame.h"

#include <cstdio>

#include "veil/util/svg_charts.h"

namespace veil::util::svg {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

const char* color(std::size_t k) {
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"};
  return kColors[k % (sizeof kColors / sizeof *kColors)];
}

void header(std::ostream& o, const std::string& title, int width, int height) {
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << width / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" << xml_escape(title)
    << "</text>\n";
}

Frame::Frame(double x0_, double x1_, double y0_, double y1_, int width, int height, int left_, int right, int top_,
             int bottom)
    : x0(x0_), x1(x1_), y0(y0_), y1(y1_), left(left_), top(top_), pw(width - left_ - right), ph(height - top_ - bottom) {}

void xy_axes(std::ostream& o, const Frame& f, int height, const std::string& x_label, const std::string& y_label) {
  o << "<g stroke=\"#ccc\" stroke-width=\"1\">\n";
  for (int i = 0; i <= 4; ++i) {
    double y = f.y0 + (f.y1 - f.y0) * i / 4, x = f.x0 + (f.x1 - f.x0) * i / 4;
    o << "<line x1=\"" << f.left << "\" y1=\"" << f.py(y) << "\" x2=\"" << f.left + f.pw << "\" y2=\"" << f.py(y)
      << "\"/>\n";
    o << "<line x1=\"" << f.px(x) << "\" y1=\"" << f.top << "\" x2=\"" << f.px(x) << "\" y2=\"" << f.top + f.ph
      << "\"/>\n";
  }
  o << "</g>\n<g fill=\"#333\">\n";
  for (int i = 0; i <= 4; ++i) {
    double y = f.y0 + (f.y1 - f.y0) * i / 4, x = f.x0 + (f.x1 - f.x0) * i / 4;
    o << "<text x=\"" << f.left - 6 << "\" y=\"" << f.py(y) + 4 << "\" text-anchor=\"end\">" << num(y) << "</text>\n";
    o << "<text x=\"" << f.px(x) << "\" y=\"" << f.top + f.ph + 16 << "\" text-anchor=\"middle\">" << num(x)
      << "</text>\n";
  }
  o << "<text x=\"" << f.left + f.pw / 2 << "\" y=\"" << height - 8 << "\" text-anchor=\"middle\">"
    << xml_escape(x_label) << "</text>\n";
  o << "<text transform=\"translate(14," << f.top + f.ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(y_label) << "</text>\n</g>\n";
}

}  // namespace veil::util::svg
