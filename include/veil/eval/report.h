// The evaluation report as a self-contained HTML page: a table, a privacy–utility scatter, cost
// bars and loss curves, all inline SVG drawn by Veil (util/svg_plot.h, util/svg_charts.h); no
// script or style is fetched from anywhere. A small inline script counts the drawn marks of each
// chart into its data-drawn attribute after layout (what the headless-browser test reads).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace veil::eval {

// HTML for a report as run_evaluation() writes it (report.json). Missing figures print as "–".
[[nodiscard]] std::string render_report_html(const nlohmann::json& report);

}  // namespace veil::eval
