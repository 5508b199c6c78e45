#pragma once

// The types and atoms of marketmonitor's messages, in one type-ID block. The
// actors' interfaces, one line per message, are in actors/interfaces.hpp.

#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/type_id.hpp>

#include "actors/inspection.hpp"
#include "actors/price_update.hpp"
#include "actors/session_inbox.hpp"
#include "actors/session_options.hpp"

// --- what crosses nodes (docs/cluster.md) ------------------------------------
// A hub publishes its ticker_directory on --cluster-listen (hub_directory_
// actor); an edge's relay_directory (relay_directory_actor) answers its
// sessions in its place. Between nodes only:
//   an edge's hub_link -> the hub's directory: (hello_atom, version, edge)
//       first, then get, last, health and node;
//   an edge's relay -> a hub's broadcaster: subscribe with a position and
//       unsubscribe, as a session; the broadcaster -> the relay:
//       price_update;
//   the hub's directory -> an edge's relay directory: (node_atom).
// The handles in them are typed (`subscriber`, `publisher`: their type IDs
// continue this block in actors/interfaces.hpp), but for the hello's `edge`.
// Any of these types changing is a bump of cluster_protocol_version
// (actors/cluster/protocol.hpp). Within an edge: the hub links tell the
// relay directory (hub_atom), the relay directory tells relays (move_atom).

namespace mm {

class stream_sink;

/// A session's stream (actors/stream_sink.hpp).
using stream_sink_ptr = std::shared_ptr<stream_sink>;

} // namespace mm

CAF_BEGIN_TYPE_ID_BLOCK(marketmonitor, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(marketmonitor, (mm::tick))
  CAF_ADD_TYPE_ID(marketmonitor, (mm::price_update))
  CAF_ADD_TYPE_ID(marketmonitor, (mm::session_options))
  CAF_ADD_TYPE_ID(marketmonitor, (std::vector<mm::price_update>) )
  CAF_ADD_TYPE_ID(marketmonitor, (std::vector<std::string>) )
  CAF_ADD_TYPE_ID(marketmonitor, (std::vector<uint64_t>) )
  CAF_ADD_TYPE_ID(marketmonitor, (mm::node_stats))
  CAF_ADD_TYPE_ID(marketmonitor, (mm::session_info))
  CAF_ADD_TYPE_ID(marketmonitor, (mm::ticker_info))
  CAF_ADD_TYPE_ID(marketmonitor, (mm::actor_counts))
  CAF_ADD_TYPE_ID(marketmonitor, (std::vector<mm::session_info>) )
  CAF_ADD_TYPE_ID(marketmonitor, (std::vector<mm::ticker_info>) )
  CAF_ADD_TYPE_ID(marketmonitor, (mm::node_info))
  CAF_ADD_TYPE_ID(marketmonitor, (std::vector<mm::node_info>) )
  CAF_ADD_TYPE_ID(marketmonitor, (mm::stream_position))
  CAF_ADD_TYPE_ID(marketmonitor, (mm::recovery_result))
  CAF_ADD_TYPE_ID(marketmonitor, (mm::resume_reply))
  CAF_ADD_TYPE_ID(marketmonitor, (std::vector<mm::stream_position>) )
  CAF_ADD_TYPE_ID(marketmonitor, (mm::ticker_health))
  CAF_ADD_TYPE_ID(marketmonitor, (std::vector<mm::ticker_health>) )

  CAF_ADD_ATOM(marketmonitor, mm, last_atom, "last")
  CAF_ADD_ATOM(marketmonitor, mm, watch_atom, "watch")
  CAF_ADD_ATOM(marketmonitor, mm, start_atom, "start")
  CAF_ADD_ATOM(marketmonitor, mm, attach_atom, "attach")
  CAF_ADD_ATOM(marketmonitor, mm, stop_atom, "stop")
  CAF_ADD_ATOM(marketmonitor, mm, kill_atom, "kill")
  CAF_ADD_ATOM(marketmonitor, mm, write_done_atom, "write_done")
  CAF_ADD_ATOM(marketmonitor, mm, stream_end_atom, "stream_end")
  CAF_ADD_ATOM(marketmonitor, mm, find_atom, "find")
  CAF_ADD_ATOM(marketmonitor, mm, shutdown_atom, "shutdown")
  CAF_ADD_ATOM(marketmonitor, mm, linger_atom, "linger")
  CAF_ADD_ATOM(marketmonitor, mm, attach_timeout_atom, "attach_to")
  CAF_ADD_ATOM(marketmonitor, mm, stats_atom, "stats")
  CAF_ADD_ATOM(marketmonitor, mm, describe_atom, "describe")
  CAF_ADD_ATOM(marketmonitor, mm, hello_atom, "hello")
  CAF_ADD_ATOM(marketmonitor, mm, sessions_atom, "sessions")
  CAF_ADD_ATOM(marketmonitor, mm, session_atom, "session")
  CAF_ADD_ATOM(marketmonitor, mm, tickers_atom, "tickers")
  CAF_ADD_ATOM(marketmonitor, mm, ticker_atom, "ticker")
  CAF_ADD_ATOM(marketmonitor, mm, actors_atom, "actors")
  CAF_ADD_ATOM(marketmonitor, mm, node_atom, "node")
  CAF_ADD_ATOM(marketmonitor, mm, nodes_atom, "nodes")
  CAF_ADD_ATOM(marketmonitor, mm, retry_atom, "retry")
  CAF_ADD_ATOM(marketmonitor, mm, hub_atom, "hub")
  CAF_ADD_ATOM(marketmonitor, mm, move_atom, "move")
  CAF_ADD_ATOM(marketmonitor, mm, wake_atom, "wake")
  CAF_ADD_ATOM(marketmonitor, mm, ping_atom, "ping")
  CAF_ADD_ATOM(marketmonitor, mm, upstream_atom, "upstream")
  CAF_ADD_ATOM(marketmonitor, mm, prune_atom, "prune")
  CAF_ADD_ATOM(marketmonitor, mm, health_atom, "health")

CAF_END_TYPE_ID_BLOCK(marketmonitor)

// A stream is always local to its session: it never crosses nodes.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mm::stream_sink_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mm::session_inbox_ptr)

namespace mm {

using caf::connect_atom;
using caf::flush_atom;
using caf::get_atom;
using caf::ok_atom;
using caf::subscribe_atom;
using caf::unsubscribe_atom;
using caf::update_atom;

} // namespace mm
