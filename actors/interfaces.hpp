#pragma once

// The actor protocol of marketmonitor: every actor's interface as a typed
// handle, with one line per message, so that the compiler checks every send.
// `replies_to<X...>::with<R...>` is a request and its response; `reacts_to`
// a message without one. Types and atoms are in actors/messages.hpp. Which of
// these messages another node may send is up to each actor's screen
// (actors/peer_guard.hpp, docs/security.md): anything else is logged and
// that node is disconnected.
//
// A handle inside a message is typed too (`subscriber`, `publisher` and the
// narrower ones below), so that a send to a handle someone handed over is
// checked like any other. The two that cross nodes have type IDs of their
// own, at the end of this file; typing them was cluster protocol version 3.
// Only `edge` stays plain: the hello that checks the version carries
// builtin types only. Which messages cross nodes: actors/messages.hpp.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/io/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace mm {

/// An edge's relay directory in a hub's hello (plain, as the hello carries
/// builtin types only; the hub takes it as a relay_directory_actor once the
/// versions match).
using edge = caf::actor;

// --- subscribers
// --------------------------------------------------------------

/// What a publisher sends its subscribers: sessions, relays, the shell's
/// watcher.
using update_sink_actor = caf::typed_actor<
  // One update of a subscribed ticker (also: gap, new epoch after a move).
  caf::reacts_to<price_update>>;

/// A subscriber in a message: a session, a relay or the shell's watcher.
using subscriber = update_sink_actor;

/// A local CONFLATE session as a subscriber: a publisher puts its ticks into
/// the session's inbox and wakes it only when it is not bound to look
/// (actors/session_inbox.hpp).
using inbox_sink_actor = update_sink_actor::extend<
  // The inbox has updates.
  caf::reacts_to<wake_atom>>;

// --- ticker_broadcaster (one per ticker with subscribers)
// ---------------------

/// What the directory hands out for a ticker: its broadcaster, or on an edge
/// its relay. Both monitor their subscribers and forget the ones that go down.
using ticker_publisher_actor = caf::typed_actor<
  // Adds (and monitors) a subscriber; replies with the last update, if any.
  caf::replies_to<subscribe_atom, subscriber>::with<std::vector<price_update>>,
  // The same, resuming after the position: the missed updates from the
  // history (recovered) or the last update; live ones follow, none doubled.
  caf::replies_to<subscribe_atom, subscriber,
                  stream_position>::with<resume_reply>,
  // The same for a local CONFLATE session: ticks go into the slot of its
  // inbox and it gets (wake_atom) only when it is not bound to look.
  caf::replies_to<subscribe_atom, inbox_sink_actor, session_inbox_ptr,
                  uint32_t>::with<std::vector<price_update>>,
  // Both of the above.
  caf::replies_to<subscribe_atom, inbox_sink_actor, session_inbox_ptr, uint32_t,
                  stream_position>::with<resume_reply>,
  // Removes (and demonitors) a subscriber.
  caf::reacts_to<unsubscribe_atom, subscriber>,
  // The last update, if any.
  caf::replies_to<last_atom>::with<std::vector<price_update>>,
  // The last update, its age and the upstream's state.
  caf::replies_to<health_atom>::with<ticker_health>,
  // Subscribers and the last seq (tests).
  caf::replies_to<stats_atom>::with<uint64_t, uint64_t>,
  // For the inspector.
  caf::replies_to<describe_atom>::with<ticker_info>>;

/// A publisher in a message: a ticker broadcaster, or on an edge a relay.
using publisher = ticker_publisher_actor;

/// A ticker's broadcaster: stamps seq and fans its ticks out.
using ticker_broadcaster_actor = ticker_publisher_actor::extend<
  // From the redis listener: stamp seq, fan out to the subscribers.
  caf::reacts_to<tick>,
  // From the redis listener: the connection is up or down; the first update
  // after a loss has gap.
  caf::reacts_to<upstream_atom, bool>>;

// --- hub link (edge; one per --hub)
// -------------------------------------------

/// An edge's link to one hub: keeps the hub's directory at hand for the
/// relays and the relay directory, and tells the relay directory
/// (hub_atom) when its hub comes or goes.
using hub_link_actor = caf::typed_actor<
  // From the relay directory once the node knows its addresses: connect.
  caf::reacts_to<start_atom>,
  // From a relay: the hub's publisher of the ticker (delegated to the hub's
  // directory), or sec::request_receiver_down while the hub is away.
  caf::replies_to<get_atom, std::string, publisher>::with<publisher>,
  // The hub's last updates of these tickers (none while it is away).
  caf::replies_to<last_atom,
                  std::vector<std::string>>::with<std::vector<price_update>>,
  // Their health as the hub sees it (upstream down while it is away).
  caf::replies_to<health_atom,
                  std::vector<std::string>>::with<std::vector<ticker_health>>,
  // The hub as this edge sees it (state: connected, connecting, refused).
  caf::replies_to<node_atom>::with<node_info>>;

/// An edge's relay of a ticker: towards its sessions a publisher, towards
/// the hub's broadcaster one subscriber (docs/cluster.md). It takes the
/// inbox variants of subscribe like the plain ones: it sends each update.
using ticker_relay_actor = ticker_publisher_actor::extend<
  // From the hub's broadcaster we subscribed at (others are dropped).
  caf::reacts_to<price_update>,
  // From the relay directory (failover): subscribe through this hub link
  // from now on; the next update has gap and the new hub's epoch.
  caf::reacts_to<move_atom, hub_link_actor>>;

// --- redis_listener (one per node; none on an edge)
// ---------------------------

using redis_listener_actor = caf::typed_actor<
  // SUBSCRIBE the ticker's channel and route its ticks to the broadcaster,
  // until the broadcaster goes down (monitored).
  caf::reacts_to<watch_atom, std::string, ticker_broadcaster_actor>>;

// --- session (one per client session)
// -----------------------------------------

/// What a stream sink tells the session it is bound to
/// (actors/stream_sink.hpp).
using stream_owner_actor = caf::typed_actor<
  // A write completed (or failed).
  caf::reacts_to<write_done_atom, bool>,
  // The client is gone.
  caf::reacts_to<stream_end_atom>>;

using session_actor = inbox_sink_actor::extend_with<stream_owner_actor>::extend<
  // Replies with the id and tickers once every ticker is subscribed.
  caf::replies_to<start_atom>::with<std::string, std::vector<std::string>>,
  // Attaches the one stream (ec::stream_already_attached for a second).
  caf::replies_to<attach_atom, stream_sink_ptr>::with<void>,
  // Adds and removes tickers; replies with the resulting set.
  caf::replies_to<update_atom, std::vector<std::string>,
                  std::vector<std::string>>::with<std::vector<std::string>>,
  // Ends with ec::stopped (stream OK).
  caf::replies_to<stop_atom>::with<void>,
  // Ends with ec::killed and the reason (stream ABORTED).
  caf::reacts_to<kill_atom, std::string>,
  // For the inspector.
  caf::replies_to<describe_atom>::with<session_info>>;

// --- ticker_directory (one per node)
// ------------------------------------------

/// What sessions, the registry, the gRPC layer and the inspector ask for
/// tickers: the ticker directory, or on an edge the relay directory.
using ticker_directory_actor = caf::typed_actor<
  // The publisher of the ticker, spawned on demand; the publisher is one the
  // caller found dead (or null). ec::ticker_limit beyond --max-tickers.
  caf::replies_to<get_atom, std::string, publisher>::with<publisher>,
  // The last known update of each ticker that has a publisher.
  caf::replies_to<last_atom,
                  std::vector<std::string>>::with<std::vector<price_update>>,
  // The same with the age of the last tick and the upstream's state.
  caf::replies_to<health_atom,
                  std::vector<std::string>>::with<std::vector<ticker_health>>,
  // For the inspector: asks every publisher.
  caf::replies_to<describe_atom>::with<std::vector<ticker_info>>,
  // For the inspector: one ticker, or admin_ec::unknown_ticker.
  caf::replies_to<describe_atom, std::string>::with<ticker_info>,
  // This node.
  caf::replies_to<node_atom>::with<node_info>,
  // Its cluster peers as it sees them (a hub's edges, an edge's hubs).
  caf::replies_to<nodes_atom>::with<std::vector<node_info>>>;

/// The ticker directory of a standalone node or a hub: what an edge's hub
/// link talks to over CAF networking.
using hub_directory_actor = ticker_directory_actor::extend<
  // From an edge's hub link: replies with the hub's protocol version. Builtin
  // types only, so that it reads the same in every version; the hub
  // registers (and monitors) the edge only if the versions match.
  caf::replies_to<hello_atom, uint32_t, edge>::with<uint32_t>>;

// --- relay_directory (edge; one per node)
// -------------------------------------

/// An edge's directory: one relay per ticker in use, which subscribes at
/// the hub its route picks (failover, docs/cluster.md).
using relay_directory_actor = ticker_directory_actor::extend<
  // From the node once it knows its addresses: starts the hub links.
  caf::reacts_to<start_atom>,
  // From a hub link: its hub (HOST:PORT as configured) is up or down; moves
  // the relays whose route changes.
  caf::reacts_to<hub_atom, std::string, bool>>;

// --- session_registry (one per node)
// ------------------------------------------

using session_registry_actor = caf::typed_actor<
  // Starts a session; replies with its id and tickers.
  caf::replies_to<start_atom, std::vector<std::string>,
                  session_options>::with<std::string, std::vector<std::string>>,
  // The same with its stream attached from the start (Subscribe).
  caf::replies_to<start_atom, std::vector<std::string>, session_options,
                  stream_sink_ptr>::with<std::string, std::vector<std::string>>,
  // The same for a caller with an identity (owner: only it finds the
  // session; empty: none), counted against --max-sessions-per-client for
  // the client while the session runs.
  caf::replies_to<start_atom, std::vector<std::string>, session_options,
                  std::string,
                  std::string>::with<std::string, std::vector<std::string>>,
  // Both of the above.
  caf::replies_to<start_atom, std::vector<std::string>, session_options,
                  std::string, std::string,
                  stream_sink_ptr>::with<std::string, std::vector<std::string>>,
  // The session with this id, or ec::unknown_session.
  caf::replies_to<find_atom, std::string>::with<session_actor>,
  // The same for an owner: ec::unknown_session for another owner's session.
  caf::replies_to<find_atom, std::string, std::string>::with<session_actor>,
  // Ends every session with ec::shutting_down and refuses new ones.
  caf::reacts_to<shutdown_atom>,
  // sessions_ended_total: the reasons and their counts.
  caf::replies_to<stats_atom>::with<std::vector<std::string>,
                                    std::vector<uint64_t>>,
  // For the inspector: asks every session.
  caf::replies_to<describe_atom>::with<std::vector<session_info>>>;

// --- inspector (one per node, published on --admin-listen)
// --------------------

/// Every request starts with the admin secret (empty when the node has
/// none); a wrong one is refused with admin_ec::secret_rejected.
using inspector_actor = caf::typed_actor<
  // A greeting; checks the secret.
  caf::replies_to<hello_atom, std::string>::with<std::string>,
  // The node's counters.
  caf::replies_to<stats_atom, std::string>::with<node_stats>,
  // Sessions, oldest first, of a ticker ("": all), at most a limit (0: all).
  caf::replies_to<sessions_atom, std::string, std::string,
                  uint32_t>::with<std::vector<session_info>>,
  // One session, or ec::unknown_session.
  caf::replies_to<session_atom, std::string, std::string>::with<session_info>,
  // Every ticker with a broadcaster.
  caf::replies_to<tickers_atom, std::string>::with<std::vector<ticker_info>>,
  // One ticker, or admin_ec::unknown_ticker.
  caf::replies_to<ticker_atom, std::string, std::string>::with<ticker_info>,
  // How many actors of each kind run.
  caf::replies_to<actors_atom, std::string>::with<actor_counts>,
  // Ends a session with ec::killed (its stream: ABORTED, the reason).
  caf::replies_to<kill_atom, std::string, std::string, std::string>::with<void>,
  // Subscribes a subscriber (usually an actor of the shell's node) at the
  // tickers' publishers, which monitor it; replies with the tickers.
  caf::replies_to<watch_atom, std::string, std::vector<std::string>,
                  subscriber>::with<std::vector<std::string>>,
  // This node first, then its cluster peers.
  caf::replies_to<nodes_atom, std::string>::with<std::vector<node_info>>>;

} // namespace mm

// The handles that cross nodes (actors/messages.hpp) need type IDs to be
// serialized. Their interfaces name the types and atoms of the block in
// messages.hpp, so their IDs come here, in a block that continues that one
// (node.cpp's add_message_types loads both).
CAF_BEGIN_TYPE_ID_BLOCK(marketmonitor_handles,
                        caf::id_block::marketmonitor::end)

  CAF_ADD_TYPE_ID(marketmonitor_handles, (mm::update_sink_actor))
  CAF_ADD_TYPE_ID(marketmonitor_handles, (mm::ticker_publisher_actor))

CAF_END_TYPE_ID_BLOCK(marketmonitor_handles)
