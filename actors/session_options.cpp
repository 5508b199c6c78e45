#include "actors/session_options.hpp"

#include <caf/error.hpp>

#include "actors/errors.hpp"
#include "actors/node_config.hpp"

namespace mm {

caf::error resolve_options(session_options& opts, uint32_t raw_mode,
                           const node_config& cfg) {
  auto bad = [](std::string what) {
    return caf::make_error(ec::bad_option, std::move(what));
  };
  if (raw_mode > static_cast<uint32_t>(delivery_mode::all))
    return bad("unknown delivery mode " + std::to_string(raw_mode)
               + ": use DELIVERY_MODE_CONFLATE (0) or DELIVERY_MODE_ALL (1)");
  opts.mode = static_cast<delivery_mode>(raw_mode);
  if (opts.max_frequency_hz > 0 && opts.mode == delivery_mode::all)
    return bad(
      "max_frequency_hz " + std::to_string(opts.max_frequency_hz)
      + " needs DELIVERY_MODE_CONFLATE: DELIVERY_MODE_ALL delivers every "
        "tick; set max_frequency_hz to 0 or use CONFLATE");
  if (opts.max_batch == 0)
    opts.max_batch = cfg.max_batch;
  else if (opts.max_batch > cfg.max_batch)
    return bad("max_batch " + std::to_string(opts.max_batch)
               + " exceeds the server limit of "
               + std::to_string(cfg.max_batch));
  if (opts.flush_interval_ms == 0)
    opts.flush_interval_ms = cfg.flush_interval_ms;
  else if (opts.flush_interval_ms > cfg.max_flush_interval_ms)
    return bad("flush_interval_ms " + std::to_string(opts.flush_interval_ms)
               + " exceeds the server limit of "
               + std::to_string(cfg.max_flush_interval_ms) + " ms");
  return caf::none;
}

} // namespace mm
