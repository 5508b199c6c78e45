#include "actors/inspection.hpp"

#include <utility>

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

ticker_health
make_ticker_health(std::string ticker, std::vector<price_update> last,
                   std::chrono::steady_clock::time_point last_tick_at,
                   std::chrono::steady_clock::time_point now,
                   bool upstream_connected) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  ticker_health x;
  x.ticker = std::move(ticker);
  if (!last.empty())
    x.last_tick_age_ms =
      duration_cast<milliseconds>(now - last_tick_at).count();
  x.last = std::move(last);
  x.upstream_connected = upstream_connected;
  return x;
}

} // namespace mm
