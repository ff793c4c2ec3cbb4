// What the project's SVG charts share (internal to veil_util): number formatting, the palette,
// the page header and an x/y frame with grid, tick labels and axis labels.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>

namespace veil::util::svg {

[[nodiscard]] std::string num(double v);
[[nodiscard]] const char* color(std::size_t k);
// <svg …>, white background and the centred title.
void header(std::ostream& o, const std::string& title, int width, int height);

// A plot area of a width × height page with data range [x0, x1] × [y0, y1].
struct Frame {
  double x0, x1, y0, y1;
  int left, top;
  double pw, ph;  // plot width and height
  Frame(double x0, double x1, double y0, double y1, int width, int height, int left, int right, int top, int bottom);
  [[nodiscard]] double px(double x) const { return left + (x - x0) / (x1 - x0) * pw; }
  [[nodiscard]] double py(double y) const { return top + (1 - (y - y0) / (y1 - y0)) * ph; }
};

// Grid lines and tick labels at quarters of both axes, and the axis labels.
void xy_axes(std::ostream& o, const Frame& f, int height, const std::string& x_label, const std::string& y_label);

}  // namespace veil::util::svg
