#include "veil/eval/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "veil/util/svg_charts.h"
#include "veil/util/svg_plot.h"

namespace veil::eval {
using nlohmann::json;

namespace {

std::string esc(const std::string& s) { return util::xml_escape(s); }

// The number at j[a][b] (NaN when absent or null).
double at2(const json& j, const char* a, const char* b) {
  if (!j.contains(a) || !j[a].is_object() || !j[a].contains(b) || !j[a][b].is_number()) return std::nan("");
  return j[a][b].get<double>();
}

std::string fmt(double v, const char* f = "%.4g") {
  if (!std::isfinite(v)) return "&ndash;";
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string pct(double v) { return std::isfinite(v) ? fmt(100 * v, "%.1f") + "%" : fmt(v); }

std::string chart(const std::string& id, const std::string& svg) {
  return "<figure class=\"chart\" id=\"" + id + "\">" + svg + "</figure>\n";
}

const char* kStyle = R"(<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:12px 0;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
figure.chart{display:inline-block;margin:8px}
.sim{color:#a60}.bad{color:#b00}.note{font-size:12px;color:#555}
</style>
)";

// Counts, after layout, the marks each chart actually drew (non-empty bounding boxes) into its
// data-drawn attribute; a headless browser's DOM dump shows them.
const char* kRenderCheck = R"(<script>
window.addEventListener('load', function () {
  var figs = document.querySelectorAll('figure.chart');
  var total = 0;
  figs.forEach(function (f) {
    var n = 0;
    f.querySelectorAll('circle.point, rect.bar, polyline.series').forEach(function (m) {
      var b = m.getBBox();
      if (b.width > 0 || b.height > 0) n++;
    });
    f.setAttribute('data-drawn', String(n));
    total += n;
  });
  document.body.setAttribute('data-charts', String(figs.length));
  document.body.setAttribute('data-drawn-total', String(total));
});
</script>
)";

// The matrix's secrets cell: the best fraction, or n/a when no attacked text held a secret (0/0
// would read as "safe").
std::string secrets_cell(const json& c) {
  int present = 0;
  bool scored = false;
  if (c.contains("privacy") && c["privacy"].contains("attacks"))
    for (const auto& [a, s] : c["privacy"]["attacks"].items())
      if (s.is_object() && s.contains("token_accuracy")) {
        scored = true;
        present = std::max(present, s.value("secrets_present", 0));
      }
  if (scored && present == 0) return "n/a (no secret in text)";
  return pct(at2(c, "privacy", "best_secret_fraction"));
}

}  // namespace

std::string render_report_html(const json& r) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Veil evaluation</title>\n"
    << kStyle << "</head>\n<body>\n<h1>Veil evaluation</h1>\n";
  o << "<p>model <code>" << esc(r.value("model", "")) << "</code>, data <code>" << esc(r.value("data", ""))
    << "</code>";
  if (r.contains("config")) {
    const auto& c = r["config"];
    o << "; " << c.value("steps", 0) << " steps of batch " << c.value("batch_size", 0) << " &times; "
      << c.value("seq_len", 0) << " tokens per design; attacks on " << c.value("attack_records", 0) << " records of "
      << c.value("attack_tokens", 0) << " tokens";
  }
  o << ". Definitions: <code>docs/evaluation.md</code>.</p>\n";
  if (r.contains("notes"))
    for (const auto& n : r["notes"]) o << "<p class=\"note\">" << esc(n.get<std::string>()) << "</p>\n";

  const json cells = r.value("cells", json::array());
  // The table.
  o << "<h2>Matrix</h2>\n<table id=\"matrix\"><tr><th class=\"l\">design</th><th class=\"l\">status</th>"
       "<th>val loss</th><th>&Delta; vs plain</th><th>perplexity</th><th>next-token acc</th>"
       "<th>best attack token acc</th><th>ROUGE-L F1</th><th>secrets recovered</th><th>wall s</th>"
       "<th>bytes / token</th><th>client MFLOP / token</th><th>enclave share</th><th class=\"l\">attacker's view</th></tr>\n";
  for (const auto& c : cells) {
    const auto status = c.value("status", "");
    o << "<tr><td class=\"l\">" << esc(c.value("design", "")) << "</td><td class=\"l" << (status == "ok" ? "" : " bad")
      << "\">" << esc(status) << "</td>";
    if (status != "ok") {
      o << "<td class=\"l\" colspan=\"12\">" << esc(c.value("message", "")) << "</td></tr>\n";
      continue;
    }
    const json priv = c.value("privacy", json::object());
    o << "<td>" << fmt(at2(c, "utility", "val_loss")) << "</td><td>" << fmt(at2(c, "utility", "delta_val_loss_vs_plain"), "%+.4f")
      << "</td><td>" << fmt(at2(c, "utility", "perplexity")) << "</td><td>" << pct(at2(c, "utility", "next_token_accuracy"))
      << "</td><td>" << pct(at2(c, "privacy", "best_token_accuracy")) << "</td><td>"
      << fmt(at2(c, "privacy", "best_rouge_l_f1"), "%.3f") << "</td><td>" << secrets_cell(c)
      << "</td><td>" << fmt(at2(c, "cost", "wall_seconds"), "%.1f") << "</td><td>" << fmt(at2(c, "cost", "bytes_per_token"))
      << "</td><td>" << fmt(at2(c, "cost", "client_flops_per_token") / 1e6, "%.3g") << "</td><td>"
      << pct(at2(c, "cost", "enclave_parameter_share")) << "</td><td class=\"l" << (priv.value("simulated", false) ? " sim" : "")
      << "\">" << esc(priv.value("view", "")) << "</td></tr>\n";
  }
  o << "</table>\n";

  // Per-attack scores.
  o << "<h2>Attacks</h2>\n<table id=\"attacks\"><tr><th class=\"l\">design</th><th class=\"l\">attack</th>"
       "<th>token accuracy</th><th>ROUGE-L F1</th><th>secrets</th><th>seconds</th><th class=\"l\">reconstruction of record 1</th></tr>\n";
  for (const auto& c : cells) {
    if (!c.contains("privacy") || !c["privacy"].contains("attacks")) continue;
    for (const auto& [a, s] : c["privacy"]["attacks"].items()) {
      o << "<tr><td class=\"l\">" << esc(c.value("design", "")) << "</td><td class=\"l\">" << esc(a) << "</td>";
      if (!s.contains("token_accuracy")) {
        o << "<td class=\"l\" colspan=\"5\">" << esc(s.value("skipped", s.value("error", ""))) << "</td></tr>\n";
        continue;
      }
      o << "<td>" << pct(s.value("token_accuracy", 0.0)) << "</td><td>" << fmt(s.value("rouge_l_f1", 0.0), "%.3f")
        << "</td><td>"
        << (s.value("secrets_present", 0) == 0
                ? std::string("n/a (no secret in text)")
                : std::to_string(s.value("secrets_recovered", 0)) + " / " + std::to_string(s.value("secrets_present", 0)))
        << "</td><td>"
        << fmt(s.value("seconds", 0.0), "%.1f") << "</td><td class=\"l\">" << esc(s.value("example", "")) << "</td></tr>\n";
    }
    if (c["privacy"].contains("he_security"))
      o << "<tr><td class=\"l\">" << esc(c.value("design", "")) << "</td><td class=\"l\">none (HE)</td><td class=\"l\" colspan=\"5\">"
        << esc(c["privacy"]["he_security"].value("summary", c["privacy"]["he_security"].dump())) << "</td></tr>\n";
  }
  o << "</table>\n";

  // Model confidentiality: what the untrusted party recovered of a proprietary fine-tune of the base.
  o << "<h2>Model confidentiality</h2>\n<table id=\"model\"><tr><th class=\"l\">design</th><th class=\"l\">attack</th>"
       "<th>rows matched</th><th>update recovered</th><th>rows recovered</th><th>loss true / base / recovered</th>"
       "<th>loss gap closed</th></tr>\n";
  for (const auto& c : cells) {
    if (c.value("status", "") != "ok") continue;
    o << "<tr><td class=\"l\">" << esc(c.value("design", "")) << "</td>";
    const json priv = c.value("privacy", json::object());
    if (!priv.contains("model_confidentiality")) {
      o << "<td class=\"l\" colspan=\"6\">not measured (no model-stealing attack runs on this design's view yet)</td></tr>\n";
      continue;
    }
    const auto& m = priv["model_confidentiality"];
    char losses[96];
    std::snprintf(losses, sizeof losses, "%.3f / %.3f / %.3f", m.value("loss_true", 0.0), m.value("loss_base", 0.0),
                  m.value("loss_recovered", 0.0));
    o << "<td class=\"l\">direction matching against the public base (worker view)</td><td>"
      << pct(m.value("rows_matched", 0.0)) << "</td><td>" << pct(m.value("update_recovered", 0.0)) << "</td><td>"
      << pct(m.value("rows_recovered", 0.0)) << "</td><td>" << losses << "</td><td>"
      << pct(m.value("loss_gap_closed", 0.0)) << "</td></tr>\n";
  }
  o << "</table>\n";

  // Charts.
  std::vector<util::Point> points;
  std::vector<util::Bar> wall, bytes;
  std::vector<util::Series> curves;
  for (const auto& c : cells) {
    if (c.value("status", "") != "ok") continue;
    const auto d = c.value("design", "");
    points.push_back({d, at2(c, "utility", "val_loss"), 100 * at2(c, "privacy", "best_token_accuracy")});
    wall.push_back({d, at2(c, "cost", "wall_seconds")});
    bytes.push_back({d, at2(c, "cost", "bytes_per_token")});
    if (c.contains("loss_curve")) {
      const auto& lc = c["loss_curve"];
      curves.push_back({d, lc.value("steps", std::vector<double>{}), lc.value("loss", std::vector<double>{})});
    }
  }
  o << "<h2>Charts</h2>\n";
  o << chart("privacy-utility", util::scatter_chart_svg("Privacy vs utility (lower-left is better)", points,
                                                        "validation loss after fine-tuning", "best attack token accuracy (%)"));
  o << chart("cost-wall", util::bar_chart_svg("Wall time per design", wall, "seconds"));
  o << chart("cost-bytes", util::bar_chart_svg("Bytes on the wire per training token", bytes, "bytes / token"));
  o << chart("loss-curves", util::line_chart_svg("Training loss", curves, "optimizer step", "loss"));
  o << kRenderCheck << "</body></html>\n";
  return o.str();
}

}  // namespace veil::eval
