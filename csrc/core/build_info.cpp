#include "core/build_info.h"

#ifndef NNCORE_VERSION
#define NNCORE_VERSION "0+unknown"
#endif
#ifndef NNCORE_COMPILER
#define NNCORE_COMPILER "unknown"
#endif

namespace nncore {

const char* version() noexcept { return NNCORE_VERSION; }
const char* compiler() noexcept { return NNCORE_COMPILER; }

}  // namespace nncore
