// The filter library's internals, shared by its source files: argument parsing and each filter's
// factory. Only filters*.cpp include this; everything else goes through filter_registry().
//
// Every factory validates its arguments completely (and reads any file it needs) so that a bad
// chain fails when it is parsed, before any process starts, with one line naming the filter.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "transform/filter.hpp"

namespace vpipe::transform::library {

// Video-range levels: the decoder's conversion to YUV420P keeps limited range, where black is
// Y=16 and white Y=235; 0 and 255 would be outside what players show.
inline constexpr std::uint8_t kBlackY = 16;
inline constexpr std::uint8_t kWhiteY = 235;
inline constexpr std::uint8_t kNeutralChroma = 128;

[[noreturn]] void bad_arg(const FilterArgs& a, const std::string& what);
// Binds positional and named arguments to the filter's parameter names, in order.
std::map<std::string, std::string> bind(const FilterArgs& a, const std::vector<std::string>& names);
int to_int(const FilterArgs& a, const std::string& key, const std::string& text);
double to_double(const FilterArgs& a, const std::string& key, const std::string& text);
std::optional<std::string> get(const std::map<std::string, std::string>& m, const std::string& k);
void check_dimension(const std::string& filter, const char* what, int value);
// The argument `key` of `bound`, or `fallback` when absent; throws unless within lo..hi.
int int_arg(const FilterArgs& a, const std::map<std::string, std::string>& bound,
            const std::string& key, int fallback, int lo, int hi);
double number_arg(const FilterArgs& a, const std::map<std::string, std::string>& bound,
                  const std::string& key, double fallback, double lo, double hi);

// For filters that can write elsewhere: copies plane i of `in` to `out` unless both are the same
// memory (an in-place call), for the planes the filter leaves as they are.
void copy_plane_unless_same(const Picture& in, const Picture& out, int i);

// filters_color.cpp
std::unique_ptr<Filter> make_eq(const FilterArgs& a);
std::unique_ptr<Filter> make_hue(const FilterArgs& a);
std::unique_ptr<Filter> make_sepia(const FilterArgs& a);
// filters_spatial.cpp
std::unique_ptr<Filter> make_boxblur(const FilterArgs& a);
std::unique_ptr<Filter> make_unsharp(const FilterArgs& a);
std::unique_ptr<Filter> make_sharpen(const FilterArgs& a);
std::unique_ptr<Filter> make_edges(const FilterArgs& a);
std::unique_ptr<Filter> make_denoise(const FilterArgs& a);
// filters_draw.cpp
std::unique_ptr<Filter> make_drawtext(const FilterArgs& a);
std::unique_ptr<Filter> make_overlay(const FilterArgs& a);
// filters_temporal.cpp
std::unique_ptr<Filter> make_tdenoise(const FilterArgs& a);
std::unique_ptr<Filter> make_stress(const FilterArgs& a);

}  // namespace vpipe::transform::library
