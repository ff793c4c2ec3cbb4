// Scatter and bar charts as self-contained <svg> documents (beside svg_plot.h's line charts),
// drawn by Veil itself so that reports need no browser-side library. Marks carry classes
// ("point", "bar") so that tests can find them.
#pragma once

#include <string>
#include <vector>

namespace veil::util {

struct Point {
  std::string label;
  double x = 0, y = 0;
};

// One labelled circle per point; axes with ticks. Non-finite points are skipped.
[[nodiscard]] std::string scatter_chart_svg(const std::string& title, const std::vector<Point>& points,
                                            const std::string& x_label, const std::string& y_label, int width = 640,
                                            int height = 360);

struct Bar {
  std::string label;
  double value = 0;
};

// Vertical bars from zero, one per entry, value printed above each bar. Non-finite values are
// drawn as an empty slot labelled "n/a".
[[nodiscard]] std::string bar_chart_svg(const std::string& title, const std::vector<Bar>& bars,
                                        const std::string& y_label, int width = 640, int height = 320);

// Escapes &, <, >, " for XML text and attributes.
[[nodiscard]] std::string xml_escape(const std::string& s);

}  // namespace veil::util
