// Resource limits in errors. Out of memory, told apart from damaged input and bad usage. libav and
// x264 report a failed allocation as ENOMEM, as a generic "external library" error, or even as
// damaged data; an address-space limit (ulimit -v) makes any of them fail. Each is then its own
// one-line error.
#pragma once

#include <string>
#include <string_view>

namespace vpipe {

// True when a 64 MiB mapping cannot be made now: the address space is used up (ulimit -v).
[[nodiscard]] bool memory_is_short() noexcept;

// True when a failed libav call (`averror`) is out of memory: it says ENOMEM, or memory is short.
[[nodiscard]] bool out_of_memory(int averror) noexcept;

// "out of memory in WHAT (the address-space limit, ulimit -v, is N MiB)", the limit when one is
// set. Written into `buffer` without allocating (for the new-handler); returns its length.
std::size_t out_of_memory_text(std::string_view what, char* buffer, std::size_t size) noexcept;
[[nodiscard]] std::string out_of_memory_text(std::string_view what);

// strerror(err), with the limit that ran out when it is one a user sets: "Too many open files
// (ulimit -n is 64)", "Resource temporarily unavailable (ulimit -u is 100)" for a fork.
[[nodiscard]] std::string errno_text(int err);

// Throws vpipe::Error (ExitCode::kRunFailed) with out_of_memory_text(what).
[[noreturn]] void fail_out_of_memory(std::string_view what);

// For a failed libav call in `what`: throws as above when it is out of memory, else returns.
void fail_if_out_of_memory(int averror, std::string_view what);

}  // namespace vpipe
