// The path form of huggingface_hub's HfFileSystem, as the Hugging Face under store takes it:
//
//   hf://org/model[@revision][/path]          a model (models have no prefix)
//   hf://datasets/org/name[@revision][/path]  a dataset
//   hf://spaces/org/name[@revision][/path]    a space
//
// The revision is optional (the Hub's default branch "main" is meant). As in HfFileSystem, a
// revision ends at the first '/' except the special refs "refs/convert/<word>" and
// "refs/pr/<number>", and is percent-decoded once, so a branch "feature/x" is written
// "@feature%2Fx". Repository ids are "namespace/name" (a namespace-less legacy model id such as
// "gpt2" is ambiguous with a path and is refused here).
#pragma once

#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache {

enum class HfRepoType { kModel, kDataset, kSpace };

struct HfLocation {
  HfRepoType type = HfRepoType::kModel;
  std::string repo_id;    // "namespace/name"
  std::string revision;   // decoded; empty when the URI names none
  std::string repo_part;  // the URI's text from after "hf://" to the end of the revision
  std::string path;       // inside the repository: no leading or trailing '/', "" = its root
};

// InvalidArgument, naming what is wrong, for anything that is not such a URI.
Result<HfLocation> ParseHfUri(std::string_view uri);

// "models", "datasets" or "spaces": the repository type's segment in /api/ URLs.
std::string_view HfApiSegment(HfRepoType type);
// "", "datasets/" or "spaces/": its prefix in /resolve/ URLs (and in hf:// URIs).
std::string_view HfUrlPrefix(HfRepoType type);

// The revision a location means: its own, or "main".
std::string HfEffectiveRevision(const HfLocation& location);

}  // namespace epochcache
