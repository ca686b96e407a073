#include "admin/metrics_writer.hpp"

#include <cmath>
#include <cstdio>

namespace swiftness::admin {
namespace {

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
void escape(std::string& out, std::string_view v, bool quote) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
}

void number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
    out += std::to_string(int64_t(v));
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    out += buf;
  }
}

}  // namespace

Exposition::Family& Exposition::family(std::string_view name, std::string_view help,
                                       std::string_view type) {
  auto it = index_.find(name);
  if (it != index_.end()) return families_[it->second];
  index_.emplace(std::string(name), families_.size());
  families_.push_back(Family{std::string(name), std::string(help), std::string(type), {}});
  return families_.back();
}

void Exposition::sample(std::string& out, std::string_view name, const Labels& labels,
                        const std::pair<std::string, std::string>* extra, double value) {
  out += name;
  if (!labels.empty() || extra) {
    out += '{';
    bool first = true;
    auto one = [&](const std::pair<std::string, std::string>& l) {
      if (!first) out += ',';
      first = false;
      out += l.first;
      out += "=\"";
      escape(out, l.second, true);
      out += '"';
    };
    for (const auto& l : labels)
      one(l);
    if (extra) one(*extra);
    out += '}';
  }
  out += ' ';
  number(out, value);
  out += '\n';
}

void Exposition::counter(std::string_view name, std::string_view help, const Labels& labels,
                         double value) {
  sample(family(name, help, "counter").samples, name, labels, nullptr, value);
}

void Exposition::gauge(std::string_view name, std::string_view help, const Labels& labels,
                       double value) {
  sample(family(name, help, "gauge").samples, name, labels, nullptr, value);
}

void Exposition::histogram(std::string_view name, std::string_view help, const Labels& labels,
                           const core::metrics::LatencyHistogram::Snapshot& snap) {
  using H = core::metrics::LatencyHistogram;
  Family& f = family(name, help, "histogram");
  const std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < snap.buckets.size(); ++i) {
    cumulative += snap.buckets[i];
    std::string le;
    if (i < H::kBoundsNs.size())
      number(le, double(H::kBoundsNs[i]) / 1e9);
    else
      le = "+Inf";
    const std::pair<std::string, std::string> extra{"le", le};
    sample(f.samples, bucket, labels, &extra, double(cumulative));
  }
  sample(f.samples, std::string(name) + "_sum", labels, nullptr, double(snap.sum_ns) / 1e9);
  sample(f.samples, std::string(name) + "_count", labels, nullptr, double(cumulative));
}

std::string Exposition::text() const {
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    escape(out, f.help, false);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += f.type;
    out += '\n';
    out += f.samples;
  }
  return out;
}

}  // namespace swiftness::admin
