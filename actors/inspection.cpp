#include "actors/inspection.hpp"

namespace mm {

const char* to_string(admin_ec x) {
  switch (x) {
    case admin_ec::none: return "none";
    case admin_ec::secret_rejected: return "secret_rejected";
    case admin_ec::unknown_ticker: return "unknown_ticker";
    case admin_ec::bad_argument: return "bad_argument";
  }
  return "unknown";
}

} // namespace mm
