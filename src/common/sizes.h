// Human-friendly byte sizes for flags and logs: "10GiB", "512MB", "4096".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache {

// Parses a non-negative size. Accepts a plain byte count or a number (integer or decimal)
// followed by a unit: B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB (case-insensitive). Decimal
// units (KB) are powers of 1000, binary ones (KiB, and the bare K) powers of 1024.
Result<std::uint64_t> ParseSize(std::string_view text);

// "1.5 GiB", "512 KiB", "17 B".
std::string FormatSize(std::uint64_t bytes);

}  // namespace epochcache
