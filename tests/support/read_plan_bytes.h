// The bytes a worker's read plan stands for, got as the HTTP server sends them: page segments
// with pread, buffers by copy. For the tests of the read service and of the layers above it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "worker/read_service.h"

namespace epochcache::testing_support {

// Fails the test if a page segment cannot be read whole, or the bytes are not plan.length.
inline std::string PlanBytes(const worker::ReadPlan& plan) {
  std::string out;
  for (const auto& segment : plan.segments) {
    std::string bytes(segment.length, '\0');
    if (segment.is_page()) {
      const auto n = ::pread(segment.page.fd(), bytes.data(), bytes.size(),
                             static_cast<off_t>(segment.page.file_offset()));
      EXPECT_EQ(n, static_cast<ssize_t>(bytes.size()));
    } else {
      std::memcpy(bytes.data(), segment.buffer->data() + segment.buffer_offset, segment.length);
    }
    out += bytes;
  }
  EXPECT_EQ(out.size(), plan.length);
  return out;
}

}  // namespace epochcache::testing_support
