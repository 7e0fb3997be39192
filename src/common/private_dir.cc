#include "common/private_dir.h"

namespace epochcache {

Status MakePrivateDirs(Env* env, const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string part = path.substr(0, slash);
    if (!part.empty()) EC_RETURN_IF_ERROR(env->CreateDir(part, kPrivateDirMode));
    if (slash == std::string::npos) break;
  }
  // Through a descriptor, so the mode checked is the mode changed even if the path is swapped
  // meanwhile; kDirectory fails with ENOTDIR on a file.
  EC_ASSIGN_OR_RETURN(const int raw_fd, env->Open(path, OpenMode::kDirectory));
  const ScopedFd fd(raw_fd);
  EC_ASSIGN_OR_RETURN(const FileInfo info, env->Stat(fd.get()));
  if ((info.mode & 077) != 0) {
    EC_RETURN_IF_ERROR(env->ChangeMode(fd.get(), info.mode & 0700)
                           .WithContext("making " + path + " private (mode 0700)"));
  }
  return Status::Ok();
}

}  // namespace epochcache
