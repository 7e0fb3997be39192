#include "cli/load_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "common/sizes.h"

namespace epochcache::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A progress line at most this often (plus the final one).
constexpr std::chrono::milliseconds kProgressInterval{250};

std::string Seconds(double s) {
  if (s >= 3600) return fmt::format("{:.0f}h{:02.0f}m", s / 3600, std::fmod(s, 3600) / 60);
  if (s >= 60) return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60));
  return fmt::format("{:.0f}s", s);
}

}  // namespace

std::string FormatProgress(const LoadProgress& p, std::chrono::duration<double> elapsed) {
  const double secs = std::max(elapsed.count(), 1e-3);
  const double rate = static_cast<double>(p.bytes_done) / secs;
  std::string eta = "-";
  if (p.bytes_done >= p.bytes_total) {
    eta = "0s";
  } else if (rate > 0) {
    eta = Seconds(static_cast<double>(p.bytes_total - p.bytes_done) / rate);
  }
  return fmt::format("files {}/{}  bytes {}/{}  fetched {}  {}/s  ETA {}  ({} cached, {} failed)",
                     p.files_done, p.files_total, FormatSize(p.bytes_done),
                     FormatSize(p.bytes_total), FormatSize(p.bytes_fetched),
                     FormatSize(static_cast<std::uint64_t>(rate)), eta, p.blocks_skipped,
                     p.blocks_failed);
}

LoadCommand::LoadCommand(CLI::App& app)
    : command_(app.add_subcommand("load", "warm the cache: each block is loaded by its owner")),
      cluster(*command_) {
  command_->add_option("PATH", paths, "files or directories (taken recursively)")->required();
  command_->add_flag("--dry-run", dry_run,
                     "print the plan (files, bytes per worker); load nothing");
  command_
      ->add_option("--inflight-per-worker", inflight_per_worker, "block loads in flight per worker")
      ->check(CLI::Range(1U, 64U))
      ->capture_default_str();
  command_->add_flag("-q,--quiet", quiet, "no progress line");
}

int LoadCommand::Run() {
  auto client = cluster.Connect();
  if (!client.ok()) {
    std::fprintf(stderr, "epochcache load: %s\n", client.status().ToString().c_str());
    return 1;
  }
  const auto start = Clock::now();
  auto last = start - kProgressInterval;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  // A terminal gets one line redrawn; a pipe or log a line per interval.
  LoadProgressCallback progress = [&](const LoadProgress& p) {
    const auto now = Clock::now();
    if (quiet || (now - last < kProgressInterval && p.blocks_done < p.blocks_total)) return;
    last = now;
    std::fprintf(stderr, tty ? "\r%s\033[K" : "%s\n", FormatProgress(p, now - start).c_str());
  };
  LoadOptions options{.max_inflight_per_worker = inflight_per_worker, .dry_run = dry_run};
  auto summary = (*client)->Load(paths, options, progress);
  if (tty && !quiet && !dry_run) std::fputc('\n', stderr);
  if (!summary.ok()) {
    std::fprintf(stderr, "epochcache load: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  const LoadProgress& t = summary->totals;
  if (dry_run) {
    std::printf("plan: %llu files, %s in %llu blocks\n",
                static_cast<unsigned long long>(t.files_total), FormatSize(t.bytes_total).c_str(),
                static_cast<unsigned long long>(t.blocks_total));
    for (const auto& [worker, bytes] : summary->bytes_per_worker) {
      std::printf("  %s: %s\n", worker.c_str(), FormatSize(bytes).c_str());
    }
    return 0;
  }
  if (!quiet) std::fprintf(stderr, "%s\n", FormatProgress(t, Clock::now() - start).c_str());
  std::fprintf(stderr,
               "loaded %llu files, %s; fetched %s from the under store; %llu blocks "
               "already cached; %zu failed\n",
               static_cast<unsigned long long>(t.files_done), FormatSize(t.bytes_done).c_str(),
               FormatSize(t.bytes_fetched).c_str(),
               static_cast<unsigned long long>(t.blocks_skipped), summary->failures.size());
  for (const auto& f : summary->failures) {
    std::fprintf(stderr, "  failed: %s [%llu, +%llu) on %s: %s\n", f.path.c_str(),
                 static_cast<unsigned long long>(f.offset),
                 static_cast<unsigned long long>(f.length),
                 f.worker.empty() ? "-" : f.worker.c_str(), f.status.ToString().c_str());
  }
  return summary->failures.empty() ? 0 : 1;
}

EvictCommand::EvictCommand(CLI::App& app)
    : command_(app.add_subcommand("evict", "drop the cached pages of paths on every worker")),
      cluster(*command_) {
  command_->add_option("PATH", paths, "files or directories (taken recursively)")->required();
}

int EvictCommand::Run() {
  auto client = cluster.Connect();
  if (!client.ok()) {
    std::fprintf(stderr, "epochcache evict: %s\n", client.status().ToString().c_str());
    return 1;
  }
  auto summary = (*client)->Evict(paths);
  if (!summary.ok()) {
    std::fprintf(stderr, "epochcache evict: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  std::printf("evicted %llu pages of %llu files\n",
              static_cast<unsigned long long>(summary->pages_evicted),
              static_cast<unsigned long long>(summary->files));
  for (const auto& [worker, why] : summary->failures) {
    std::fprintf(stderr, "  failed on %s: %s\n", worker.c_str(), why.ToString().c_str());
  }
  return summary->failures.empty() ? 0 : 1;
}

}  // namespace epochcache::cli
