#pragma once

#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/interfaces.hpp"
#include "actors/session_options.hpp"
#include "actors/stream_sink.hpp"

namespace mm {

struct node_config;
struct metrics;

/// Spawns one client session for `tickers` (already normalized) with `opts`
/// (already resolved). It subscribes at its tickers' broadcasters (found via
/// `directory`) and delivers their updates to its stream, one write in
/// flight at a time. It exits when stopped, when its stream ends, when no
/// stream attaches within `cfg.attach_timeout_ms`, when evicted as too slow,
/// or at shutdown; the exit reason (an `ec`) says which, and the stream is
/// finished with the status that fits. `sink` may be null (attach later).
session_actor spawn_session(caf::actor_system& sys, std::string id,
                            std::vector<std::string> tickers,
                            session_options opts, stream_sink_ptr sink,
                            ticker_directory_actor directory,
                            const node_config& cfg, metrics& m);

} // namespace mm
