#!/usr/bin/env python3
"""Fails when a component includes a private header of a component it may not depend on.

Every component lives in src/<component>/ and includes project headers as "<component>/x.h"
(or the public "epochcache/x.h"). The allowed dependencies below are the architecture
(docs/architecture.md): lower layers never include higher ones, and public headers include only
public headers. CMake alone cannot enforce this, because the components share one include root.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# component -> components whose private headers it may include (besides its own and the public
# include/epochcache/ headers, which every component may use).
ALLOWED = {
    "common": set(),
    "protocol": {"common"},
    "understore": {"common"},
    "pagestore": {"common"},
    "membership": {"common"},
    "placement": {"common"},
    "worker": {"common", "protocol", "pagestore", "understore"},
    "client": {"common", "protocol", "membership", "placement", "understore"},
    "cli": {"common", "protocol", "worker", "client", "membership", "pagestore", "understore"},
    "python": {"common", "client"},
    "arrow": {"common", "client", "protocol"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.MULTILINE)


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    problems: list[str] = []
    for path in sorted((root / "src").rglob("*")):
        if path.suffix not in (".h", ".cc"):
            continue
        component = path.relative_to(root / "src").parts[0]
        if component not in ALLOWED:
            problems.append(f"{path.relative_to(root)}: component '{component}' is not in "
                            "scripts/check_layers.py's table")
            continue
        allowed = ALLOWED[component] | {component, "epochcache"}
        for match in INCLUDE.finditer(path.read_text()):
            if match.group(1) not in allowed:
                problems.append(f"{path.relative_to(root)}: includes {match.group(0).strip()!r}, "
                                f"but {component} may not depend on {match.group(1)}")
    for path in sorted((root / "include" / "epochcache").glob("*.h")):
        for match in INCLUDE.finditer(path.read_text()):
            if match.group(1) != "epochcache":
                problems.append(f"{path.relative_to(root)}: a public header includes the private "
                                f"{match.group(0).strip()!r}")
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"[layers] {len(problems)} include(s) break the layering", file=sys.stderr)
        return 1
    print("[layers] every include respects the component layering")
    return 0


if __name__ == "__main__":
    sys.exit(main())
