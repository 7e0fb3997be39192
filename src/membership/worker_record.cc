#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "epochcache/membership.h"

namespace epochcache {

std::string WorkerRecord::ToJson() const {
  return nlohmann::json{{"id", id},
                        {"address", address},
                        {"capacity_bytes", capacity_bytes},
                        {"start_time_ms", start_time_ms}}
      .dump();
}

Result<WorkerRecord> WorkerRecord::FromJson(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("worker record is not a JSON object");
  }
  WorkerRecord r;
  try {
    r.id = j.at("id").get<std::string>();
    r.address = j.at("address").get<std::string>();
    r.capacity_bytes = j.value("capacity_bytes", std::uint64_t{0});
    r.start_time_ms = j.value("start_time_ms", std::int64_t{0});
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(fmt::format("worker record: {}", e.what()));
  }
  if (r.id.empty() || r.address.empty()) {
    return Status::InvalidArgument("worker record without id or address");
  }
  return r;
}

std::string WorkerKeyPrefix(std::string_view cluster) {
  return fmt::format("/epochcache/{}/workers/", cluster);
}

Result<std::string> LoadOrCreateWorkerId(const std::string& cache_dir) {
  namespace fs = std::filesystem;
  const fs::path path = fs::path(cache_dir) / "worker-id";
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (std::ifstream in(path); in) {
    std::string id;
    std::getline(in, id);
    if (!id.empty()) return id;
  }
  std::random_device rd;
  const std::string id = fmt::format("w-{:08x}{:08x}", rd(), rd());
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    if (!out) return Status::IoError(fmt::format("cannot write {}", tmp.string()));
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status::IoError(fmt::format("cannot create {}: {}", path.string(), ec.message()));
  return id;
}

}  // namespace epochcache
