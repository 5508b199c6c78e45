#pragma once

// The actor protocol of marketmonitor: every message that crosses actors, in
// one place. Each actor's handlers are listed under its banner with one line
// each; `->` gives the response of a request.

#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/type_id.hpp>

#include "actors/inspection.hpp"
#include "actors/price_update.hpp"
#include "actors/session_inbox.hpp"
#include "actors/session_options.hpp"
#include "actors/stream_sink.hpp"

// --- ticker_directory (one per node; hub role in a cluster) -----------------
//   (get_atom, ticker, caf::actor dead_hint) -> caf::actor
//       the broadcaster of `ticker`, spawned on demand; `dead_hint` is a
//       broadcaster the caller found dead (or a default handle)
//       or ec::ticker_limit when a new one would exceed --max-tickers
//   (last_atom, std::vector<std::string>) -> std::vector<price_update>
//       last known update of each ticker that has a broadcaster
//   (health_atom, std::vector<std::string>) -> std::vector<ticker_health>
//       the same with the age of the last tick and the upstream's state
//
// --- ticker_broadcaster (one per ticker with subscribers) -------------------
//   tick                                   stamp seq, fan out to subscribers
//   (subscribe_atom, caf::actor) -> std::vector<price_update>
//       adds (and monitors) a subscriber; replies with the last update, if any
//   (subscribe_atom, caf::actor, stream_position) -> resume_reply
//       the same, resuming after `position`: the reply holds the missed
//       updates from the history (recovered) or the last update; live
//       updates follow it, so nothing is lost or doubled at the seam
//   (subscribe_atom, caf::actor, session_inbox_ptr, uint32_t slot)
//       -> std::vector<price_update>
//       the same for a local CONFLATE session: ticks go into slot `slot` of
//       its inbox and it gets (wake_atom) only when it is not bound to look
//   (subscribe_atom, caf::actor, session_inbox_ptr, uint32_t slot,
//    stream_position) -> resume_reply   both of the above
//   (unsubscribe_atom, caf::actor)         removes (and demonitors) one
//   (last_atom) -> std::vector<price_update>  the last update, if any
//   (health_atom) -> ticker_health         last update, its age, upstream
//   (upstream_atom, bool connected)        from the redis listener: the
//       connection is up or down; the first update after a loss has gap
//   (stats_atom) -> (uint64_t subscribers, uint64_t seq)
//   (describe_atom) -> ticker_info          for the inspector
//
// --- redis_listener (one per node) ------------------------------------------
//   (watch_atom, ticker, caf::actor)       SUBSCRIBE the ticker's channel and
//       route its ticks to the broadcaster, until it goes down (monitored)
//
// --- session (one per client session) ---------------------------------------
//   (start_atom) -> (std::string id, std::vector<std::string> tickers)
//       replies once every ticker is subscribed
//   (attach_atom, stream_sink_ptr) -> caf::unit_t   attach the one stream
//   (update_atom, add, remove) -> std::vector<std::string>  resulting set
//   (stop_atom) -> caf::unit_t              end with ec::stopped (stream OK)
//   (kill_atom, std::string reason)        end with ec::killed (ABORTED)
//   price_update                           from a broadcaster (or relay)
//   (wake_atom)                            from a broadcaster: the inbox
//                                          has updates
//   (write_done_atom, bool ok)             from the stream sink
//   (stream_end_atom)                      from the stream sink: client gone
//   (describe_atom) -> session_info         for the inspector
//
// --- session_registry (one per node) ----------------------------------------
//   (start_atom, tickers, session_options) -> (id, tickers)
//   (start_atom, tickers, session_options, stream_sink_ptr) -> (id, tickers)
//       Subscribe: a session whose stream is attached from the start
//   (start_atom, tickers, session_options, std::string owner,
//    std::string client) and the same with a trailing stream_sink_ptr
//       -> (id, tickers): for a caller with an identity (`owner`: only it
//       finds the session; empty: no identity) and counted against
//       --max-sessions-per-client for `client` (caller::key()) while the
//       session runs
//   (find_atom, std::string id) -> caf::actor  or ec::unknown_session
//   (find_atom, std::string id, std::string owner) -> caf::actor  or
//       ec::unknown_session, also when the session belongs to another owner
//   (shutdown_atom)                        end every session with
//                                          ec::shutting_down, refuse new ones
//   (stats_atom) -> (std::vector<std::string> reasons,
//                    std::vector<uint64_t> counts)  sessions_ended_total
//   (describe_atom) -> std::vector<session_info>   asks every session
//
// --- ticker_directory, for the inspector -------------------------------------
//   (describe_atom) -> std::vector<ticker_info>    asks every broadcaster
//   (describe_atom, ticker) -> ticker_info  or admin_ec::unknown_ticker
//
// --- inspector (one per node, published on --admin-listen) -------------------
// Every request starts with the admin secret (empty when the node has none);
// a wrong one is refused with admin_ec::secret_rejected.
//   (hello_atom, secret) -> std::string     a greeting; checks the secret
//   (stats_atom, secret) -> node_stats
//   (sessions_atom, secret, std::string ticker, uint32_t limit)
//       -> std::vector<session_info>        oldest first; "" and 0: all
//   (session_atom, secret, std::string id) -> session_info
//       or ec::unknown_session
//   (tickers_atom, secret) -> std::vector<ticker_info>
//   (ticker_atom, secret, std::string ticker) -> ticker_info
//   (actors_atom, secret) -> actor_counts
//   (kill_atom, secret, std::string id, std::string reason) -> caf::unit_t
//       ends the session with ec::killed (its stream: ABORTED, reason)
//   (watch_atom, secret, std::vector<std::string> tickers, caf::actor who)
//       -> std::vector<std::string>         subscribes `who` (usually an
//       actor of the shell's node) at the tickers' broadcasters, which
//       monitor it: its exit or the loss of its node unsubscribes it
//   (nodes_atom, secret) -> std::vector<node_info>   this node first, then
//       its cluster peers (an edge's hubs, a hub's edges)
//
// --- what another node may send (actors/peer_guard.hpp, docs/security.md) ---
// Every actor reachable over CAF networking screens each message: another
// node may send only the messages marked "between nodes" below (and the
// shell's inspector requests); anything else is logged and that node is
// disconnected. Ticks come from the node's own redis listener only.
//
// --- cluster (actors/cluster/) ----------------------------------------------
// A hub publishes its ticker_directory on --cluster-listen; an edge's
// relay_directory answers sessions in its place. Between nodes only:
//   ticker_directory (hub), asked by an edge's hub link:
//     (hello_atom, uint32_t protocol_version, caf::actor edge_directory)
//         -> uint32_t  the hub's protocol version; builtin types only, so
//         that it reads the same in every version. A hub registers (and
//         monitors) the edge only if the versions match.
//     (get_atom, ticker, dead_hint) -> caf::actor, (last_atom, tickers)
//         as above; the relay subscribes at the broadcaster like a session
//   both directories:
//     (node_atom) -> node_info                this node
//     (nodes_atom) -> std::vector<node_info>  its peers as it sees them
//   relay (edge; one per ticker in use): the broadcaster protocol above
//     towards sessions; price_update from the hub's broadcaster
//   hub link (edge; one per --hub): (get_atom, ...) and (last_atom, ...)
//     delegated to the hub's directory while connected; (node_atom)
// Within an edge (failover, docs/cluster.md):
//   relay_directory: (hub_atom, std::string hub, bool up)   from a hub link
//       when its hub is lost or back; moves the relays whose route changes
//   relay: (move_atom, caf::actor link)   subscribe through `link` from now
//       on: leaves the old hub's broadcaster, resubscribes (next update has
//       gap and the new hub's epoch)

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
