#include "cli/status_command.h"

#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/sizes.h"

namespace epochcache::cli {
namespace {

using nlohmann::json;

std::string Duration(double seconds) {
  const auto s = static_cast<std::uint64_t>(seconds);
  if (s >= 86400) return fmt::format("{}d{}h", s / 86400, s % 86400 / 3600);
  if (s >= 3600) return fmt::format("{}h{}m", s / 3600, s % 3600 / 60);
  if (s >= 60) return fmt::format("{}m{}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

json Row(const WorkerStatus& w) {
  json row = {{"id", w.record.id}, {"address", w.record.address}};
  const json stats = json::parse(w.stats_json, nullptr, /*allow_exceptions=*/false);
  if (w.stats_json.empty() || stats.is_discarded() || !stats.is_object()) {
    row["up"] = false;
    row["error"] = w.error.empty() ? "not a JSON answer" : w.error;
    row["capacity_bytes"] = w.record.capacity_bytes;
    return row;
  }
  row["up"] = true;
  for (const char* key : {"version", "uptime_seconds", "capacity_bytes", "used_bytes", "hit_ratio",
                          "under_store_bytes", "bytes_served", "requests"}) {
    if (stats.contains(key)) row[key] = stats[key];
  }
  return row;
}

}  // namespace

std::string FormatStatus(const std::vector<WorkerStatus>& workers, bool as_json) {
  json rows = json::array();
  for (const auto& w : workers) rows.push_back(Row(w));
  if (as_json) return rows.dump(2) + "\n";
  std::string out =
      fmt::format("{:<24} {:<22} {:<5} {:>10} {:>10} {:>6} {:>12} {:<8} {:>8}\n", "ID", "ADDRESS",
                  "STATE", "CAPACITY", "USED", "HITS", "UNDER-STORE", "VERSION", "UPTIME");
  for (const auto& row : rows) {
    const bool up = row["up"].get<bool>();
    auto size = [&](const char* key) {
      return row.contains(key) ? FormatSize(row[key].get<std::uint64_t>()) : std::string("-");
    };
    out += fmt::format(
        "{:<24} {:<22} {:<5} {:>10} {:>10} {:>6} {:>12} {:<8} {:>8}\n",
        row["id"].get<std::string>(), row["address"].get<std::string>(), up ? "up" : "down",
        size("capacity_bytes"), size("used_bytes"),
        row.contains("hit_ratio") ? fmt::format("{:.0f}%", row["hit_ratio"].get<double>() * 100)
                                  : "-",
        size("under_store_bytes"),
        row.contains("version") ? row["version"].get<std::string>() : "-",
        row.contains("uptime_seconds") ? Duration(row["uptime_seconds"].get<double>()) : "-");
    if (!up) out += fmt::format("  down: {}\n", row["error"].get<std::string>());
  }
  return out;
}

StatusCommand::StatusCommand(CLI::App& app)
    : command_(app.add_subcommand("status", "show every worker: state, usage, hit ratio")),
      cluster(*command_) {
  command_->add_flag("--json", json, "print a JSON array instead of a table");
}

int StatusCommand::Run() {
  auto client = cluster.Connect();
  if (!client.ok()) {
    std::fprintf(stderr, "epochcache status: %s\n", client.status().ToString().c_str());
    return 1;
  }
  std::vector<WorkerStatus> rows;
  bool all_up = true;
  for (auto& record : (*client)->Workers()) {
    WorkerStatus row{.record = record, .stats_json = {}, .error = {}};
    auto stats = (*client)->WorkerStats(record.address);
    if (stats.ok()) {
      row.stats_json = *std::move(stats);
    } else {
      row.error = stats.status().ToString();
      all_up = false;
    }
    rows.push_back(std::move(row));
  }
  std::fputs(FormatStatus(rows, json).c_str(), stdout);
  if (rows.empty()) std::fputs("epochcache status: no workers are known\n", stderr);
  return all_up && !rows.empty() ? 0 : 1;
}

}  // namespace epochcache::cli
