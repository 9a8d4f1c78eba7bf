#include "engine/bench_report.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace swiftkv {
namespace {

const char* mode_name(bool swiftkv) { return swiftkv ? "on" : "off"; }

void print_prefill_table(std::FILE* out, const BenchReport& report) {
  std::fprintf(out, "\nprefill (%s weights)\n", report.weight_format.c_str());
  std::fprintf(out, "%-8s %8s %6s %10s %12s %10s %7s\n", "SwiftKV", "prompt", "batch", "seconds", "tokens/s",
               "GFLOP/s", "MFU");
  for (const PrefillResult& r : report.prefill) {
    const std::string mfu = std::isnan(r.mfu) ? "n/a" : strprintf("%.1f%%", 100.0 * r.mfu);
    std::fprintf(out, "%-8s %8lld %6lld %10.4f %12.1f %10.1f %7s\n", mode_name(r.swiftkv),
                 static_cast<long long>(r.prompt_length), static_cast<long long>(r.batch), r.seconds,
                 r.tokens_per_s, r.flops_per_s / 1e9, mfu.c_str());
  }
}

void print_ratio_table(std::FILE* out, const BenchReport& report) {
  if (report.swiftkv_ratios.empty()) return;
  std::fprintf(out, "\nSwiftKV prefill speedup (on/off tokens/s) against the FLOP-ratio bound (off/on FLOPs)\n");
  std::fprintf(out, "%8s %6s %12s %12s %9s %10s %9s\n", "prompt", "batch", "on tok/s", "off tok/s", "speedup",
               "FLOP bound", "of bound");
  for (const SwiftKVPrefillRatio& r : report.swiftkv_ratios) {
    std::fprintf(out, "%8lld %6lld %12.1f %12.1f %8.2fx %9.2fx %8.1f%%\n", static_cast<long long>(r.prompt_length),
                 static_cast<long long>(r.batch), r.on_tokens_per_s, r.off_tokens_per_s, r.speedup,
                 r.flop_ratio_bound, 100.0 * r.share_of_bound);
  }
}

void print_decode_table(std::FILE* out, const BenchReport& report) {
  std::fprintf(out, "\ndecode (%s weights, %lld steps per run)\n", report.weight_format.c_str(),
               static_cast<long long>(report.settings.decode_steps));
  std::fprintf(out, "%-8s %8s %6s %10s %12s %11s %10s %10s\n", "SwiftKV", "context", "batch", "ms/step",
               "tokens/s", "weight GB/s", "weight BW", "+KV BW");
  for (const DecodeResult& r : report.decode) {
    std::fprintf(out, "%-8s %8lld %6lld %10.2f %12.1f %11.2f %9.1f%% %9.1f%%\n", mode_name(r.swiftkv),
                 static_cast<long long>(r.context), static_cast<long long>(r.batch), 1e3 * r.step_seconds,
                 r.tokens_per_s, r.weight_bytes / r.step_seconds / 1e9, 100.0 * r.weight_bandwidth_utilisation,
                 100.0 * r.total_bandwidth_utilisation);
  }
}

nlohmann::json config_json(const ModelConfig& c) {
  return {{"model_type", c.model_type},
          {"num_hidden_layers", c.num_hidden_layers},
          {"hidden_size", c.hidden_size},
          {"intermediate_size", c.intermediate_size},
          {"num_attention_heads", c.num_attention_heads},
          {"num_key_value_heads", c.num_key_value_heads},
          {"head_dim", c.head_dim},
          {"vocab_size", c.vocab_size},
          {"swiftkv", c.swiftkv},
          {"num_key_value_layers", c.num_key_value_layers},
          {"key_value_group_size", c.key_value_group_size}};
}

nlohmann::json settings_json(const BenchSettings& s) {
  return {{"prompt_lengths", s.prompt_lengths},
          {"prefill_batch_sizes", s.prefill_batch_sizes},
          {"decode_batch_sizes", s.decode_batch_sizes},
          {"contexts", s.contexts},
          {"decode_steps", s.decode_steps},
          {"warmup", s.warmup},
          {"repeat", s.repeat}};
}

nlohmann::json prefill_json(const PrefillResult& r) {
  return {{"swiftkv", r.swiftkv},
          {"prompt_length", r.prompt_length},
          {"batch", r.batch},
          {"seconds", r.seconds},
          {"tokens_per_s", r.tokens_per_s},
          {"flops", r.flops.total()},
          {"linear_flops", r.flops.linear},
          {"attention_flops", r.flops.attention},
          {"flops_per_s", r.flops_per_s},
          {"mfu", std::isnan(r.mfu) ? nlohmann::json(nullptr) : nlohmann::json(r.mfu)}};
}

nlohmann::json ratio_json(const SwiftKVPrefillRatio& r) {
  return {{"prompt_length", r.prompt_length},
          {"batch", r.batch},
          {"on_tokens_per_s", r.on_tokens_per_s},
          {"off_tokens_per_s", r.off_tokens_per_s},
          {"speedup", r.speedup},
          {"flop_ratio_bound", r.flop_ratio_bound},
          {"share_of_bound", r.share_of_bound}};
}

nlohmann::json decode_json(const DecodeResult& r) {
  return {{"swiftkv", r.swiftkv},
          {"context", r.context},
          {"batch", r.batch},
          {"step_seconds", r.step_seconds},
          {"tokens_per_s", r.tokens_per_s},
          {"weight_bytes_per_step", r.weight_bytes},
          {"kv_bytes_per_step", r.kv_bytes},
          {"weight_bandwidth_utilisation", r.weight_bandwidth_utilisation},
          {"total_bandwidth_utilisation", r.total_bandwidth_utilisation}};
}

// Escapes the five XML special characters for SVG text.
std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

struct Bar {
  std::string label;
  double value;
  bool swiftkv;
};

constexpr double kChartWidth = 900.0;
constexpr double kLabelWidth = 260.0;
constexpr double kBarHeight = 18.0;
constexpr double kRowHeight = 24.0;

// Appends a titled section of bars scaled to its largest value; returns the new y.
double append_section(std::string& svg, double y, const std::string& title, const std::vector<Bar>& bars) {
  svg += strprintf("<text x=\"10\" y=\"%.0f\" font-weight=\"bold\">%s</text>\n", y + 14.0, xml_escape(title).c_str());
  y += 26.0;
  double max_value = 0.0;
  for (const Bar& bar : bars) max_value = std::max(max_value, bar.value);
  const double bar_space = kChartWidth - kLabelWidth - 110.0;
  for (const Bar& bar : bars) {
    const double width = max_value > 0.0 ? bar.value / max_value * bar_space : 0.0;
    svg += strprintf("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%s</text>\n", kLabelWidth - 8.0, y + 13.0,
                     xml_escape(bar.label).c_str());
    svg += strprintf("<rect x=\"%.0f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"%s\"/>\n", kLabelWidth, y,
                     width, kBarHeight, bar.swiftkv ? "#2a7ab9" : "#e07b39");
    svg += strprintf("<text x=\"%.1f\" y=\"%.0f\">%.1f</text>\n", kLabelWidth + width + 6.0, y + 13.0, bar.value);
    y += kRowHeight;
  }
  return y + 10.0;
}

}  // namespace

void print_bench_tables(std::FILE* out, const BenchReport& report) {
  std::fprintf(out, "model: %s (%s, %lld layers, hidden %lld)\n", report.model_path.c_str(),
               report.config.model_type.c_str(), static_cast<long long>(report.config.num_hidden_layers),
               static_cast<long long>(report.config.hidden_size));
  std::fprintf(out, "machine: %s, %d threads; kernels: %s\n", report.cpu_name.c_str(), report.threads,
               report.cpu_level.c_str());
  std::fprintf(out, "ceilings: bf16 matmul %.1f GFLOP/s (%lld^3), memory read %.2f GB/s\n",
               report.ceilings.bf16_matmul_flops / 1e9, static_cast<long long>(report.ceilings.matmul_size),
               report.ceilings.memory_read_bytes_per_s / 1e9);
  std::fprintf(out, "median of %d runs after %d warm-up runs\n", report.settings.repeat, report.settings.warmup);
  if (!report.prefill.empty()) print_prefill_table(out, report);
  print_ratio_table(out, report);
  if (!report.decode.empty()) print_decode_table(out, report);
}

nlohmann::json bench_report_json(const BenchReport& report) {
  nlohmann::json json;
  json["model"] = report.model_path;
  json["config"] = config_json(report.config);
  json["weights"] = report.weight_format;
  json["layer_formats"] = report.layer_formats;
  json["cpu_level"] = report.cpu_level;
  json["machine"] = {{"cpu", report.cpu_name}, {"threads", report.threads}};
  if (report.busy_cpu_share >= 0.0) json["machine"]["busy_cpu_share_before"] = report.busy_cpu_share;
  json["settings"] = settings_json(report.settings);
  json["ceilings"] = {{"matmul_size", report.ceilings.matmul_size},
                      {"bf16_matmul_flops_per_s", report.ceilings.bf16_matmul_flops},
                      {"memory_read_bytes_per_s", report.ceilings.memory_read_bytes_per_s}};
  json["prefill"] = nlohmann::json::array();
  for (const PrefillResult& r : report.prefill) json["prefill"].push_back(prefill_json(r));
  json["swiftkv_prefill_ratios"] = nlohmann::json::array();
  for (const SwiftKVPrefillRatio& r : report.swiftkv_ratios) json["swiftkv_prefill_ratios"].push_back(ratio_json(r));
  json["decode"] = nlohmann::json::array();
  for (const DecodeResult& r : report.decode) json["decode"].push_back(decode_json(r));
  return json;
}

std::string bench_chart_svg(const BenchReport& report) {
  std::vector<Bar> prefill_bars;
  for (const PrefillResult& r : report.prefill) {
    prefill_bars.push_back({strprintf("prompt %lld x %lld, SwiftKV %s", static_cast<long long>(r.prompt_length),
                                      static_cast<long long>(r.batch), mode_name(r.swiftkv)),
                            r.tokens_per_s, r.swiftkv});
  }
  std::vector<Bar> decode_bars;
  for (const DecodeResult& r : report.decode) {
    decode_bars.push_back({strprintf("context %lld, batch %lld, SwiftKV %s", static_cast<long long>(r.context),
                                     static_cast<long long>(r.batch), mode_name(r.swiftkv)),
                           r.tokens_per_s, r.swiftkv});
  }

  std::string body;
  double y = 40.0;
  if (!prefill_bars.empty()) y = append_section(body, y, "Prefill tokens/s", prefill_bars);
  if (!decode_bars.empty()) y = append_section(body, y, "Decode tokens/s", decode_bars);

  std::string svg = strprintf(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kChartWidth, y);
  const std::string title = strprintf("swiftkv bench: %s, %s weights, %d threads", report.model_path.c_str(),
                                      report.weight_format.c_str(), report.threads);
  svg += strprintf("<text x=\"10\" y=\"22\" font-size=\"15\">%s</text>\n", xml_escape(title).c_str());
  svg += body;
  svg += "</svg>\n";
  return svg;
}

}  // namespace swiftkv
