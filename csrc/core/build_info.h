// Facts about this build for nncore.config().
#pragma once

namespace nncore {

const char* version() noexcept;
const char* compiler() noexcept;

}  // namespace nncore
