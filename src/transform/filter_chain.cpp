#include "transform/filter_chain.hpp"

#include <algorithm>
#include <utility>

#include "common/error.hpp"

namespace vpipe::transform {
namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto pos = s.find(sep, start);
    parts.push_back(trim(s.substr(start, pos == std::string_view::npos ? pos : pos - start)));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

FilterArgs parse_args(const std::string& name, std::string_view text) {
  FilterArgs args;
  args.filter = name;
  if (text.empty()) return args;
  for (const std::string& part : split(text, ':')) {
    if (part.empty()) fail(ExitCode::kUsage, "filter '" + name + "': empty argument in '" + std::string(text) + "'");
    const auto eq = part.find('=');
    if (eq == std::string::npos) {
      if (!args.named.empty()) {
        fail(ExitCode::kUsage, "filter '" + name + "': positional argument '" + part +
                                   "' after a named one");
      }
      args.positional.push_back(part);
      continue;
    }
    const std::string key = trim(part.substr(0, eq));
    if (key.empty()) fail(ExitCode::kUsage, "filter '" + name + "': argument '" + part + "' has no name");
    if (!args.named.emplace(key, trim(part.substr(eq + 1))).second) {
      fail(ExitCode::kUsage, "filter '" + name + "': argument '" + key + "' given twice");
    }
  }
  return args;
}

const FilterInfo& find_filter(const std::string& name) {
  const auto& registry = filter_registry();
  const auto it = std::find_if(registry.begin(), registry.end(),
                               [&](const FilterInfo& f) { return f.name == name; });
  if (it == registry.end()) {
    fail(ExitCode::kUsage, "unknown filter '" + name + "' (see `vpipe filters` for the list)");
  }
  return *it;
}

}  // namespace

FilterChain FilterChain::parse(std::string_view spec) {
  FilterChain chain;
  const std::string text = trim(spec);
  if (text.empty()) return chain;
  for (const std::string& item : split(text, ',')) {
    if (item.empty()) fail(ExitCode::kUsage, "filter chain '" + text + "' has an empty entry");
    const auto eq = item.find('=');
    const std::string name = trim(item.substr(0, eq));
    const FilterInfo& info = find_filter(name);
    const FilterArgs args =
        parse_args(name, eq == std::string::npos ? std::string_view{} : std::string_view(item).substr(eq + 1));
    chain.filters_.push_back(info.make(args));
  }
  return chain;
}

std::vector<Geometry> FilterChain::plan(Geometry input) const {
  std::vector<Geometry> steps{input};
  for (const auto& f : filters_) steps.push_back(f->output_geometry(steps.back()));
  return steps;
}

std::uint64_t FilterChain::max_picture_bytes(Geometry input) const {
  std::uint64_t most = 0;
  for (const Geometry& g : plan(input)) most = std::max(most, picture_bytes(g));
  return most;
}

bool FilterChain::needs_spare() const {
  return std::any_of(filters_.begin(), filters_.end(), [](const auto& f) { return !f->in_place(); });
}

bool FilterChain::sequential() const {
  return std::any_of(filters_.begin(), filters_.end(), [](const auto& f) { return f->sequential(); });
}

std::string FilterChain::describe() const {
  if (filters_.empty()) return "(none)";
  std::string text;
  for (const auto& f : filters_) {
    if (!text.empty()) text += ",";
    text += f->describe();
  }
  return text;
}

FilterChain::Result FilterChain::run(const Picture& input, std::uint8_t* input_base,
                                     std::uint8_t* spare_base, const FrameContext& frame) const {
  Picture current = input;
  std::uint8_t* current_base = input_base;
  std::uint8_t* other_base = spare_base;
  for (const auto& f : filters_) {
    if (f->in_place()) {
      f->apply(current, current, frame);
      continue;
    }
    Picture out = layout_picture(other_base, f->output_geometry(current.geometry()));
    f->apply(current, out, frame);
    current = out;
    std::swap(current_base, other_base);
  }
  return {current, current_base != input_base};
}

}  // namespace vpipe::transform
