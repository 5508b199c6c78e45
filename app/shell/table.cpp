// The command table of mm-shell: each command's name and usage, how its
// arguments are read, what it asks the node and how the answer is shown.

#include <cstdint>
#include <tuple>

#include <caf/error.hpp>

#include "actors/messages.hpp"
#include "app/shell/client.hpp"
#include "app/shell/commands.hpp"
#include "app/shell/render.hpp"

namespace mm::shell {

namespace {

// --- reading arguments ---

/// Parses a whole number in [min, max] or returns false.
bool parse_uint(const std::string& x, uint64_t min, uint64_t max,
                uint64_t& out) {
  if (x.empty() || x.size() > 19)
    return false;
  uint64_t result = 0;
  for (auto c : x) {
    if (c < '0' || c > '9')
      return false;
    result = result * 10 + static_cast<uint64_t>(c - '0');
  }
  if (result < min || result > max)
    return false;
  out = result;
  return true;
}

caf::error parse_sessions(const std::vector<std::string>& args, command& out) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--ticker" && args[i] != "--limit")
      return bad_argument("unexpected \"" + args[i] + "\"");
    if (i + 1 >= args.size())
      return bad_argument(args[i] + " needs a value");
    auto& val = args[++i];
    if (args[i - 1] == "--ticker") {
      out.ticker = val;
      continue;
    }
    uint64_t n = 0;
    if (!parse_uint(val, 1, UINT32_MAX, n))
      return bad_argument("--limit expects a whole number from 1, got \"" + val
                          + "\"");
    out.limit = static_cast<uint32_t>(n);
  }
  return caf::none;
}

caf::error parse_id(const std::vector<std::string>& args, command& out) {
  out.id = args[0];
  return caf::none;
}

caf::error parse_ticker(const std::vector<std::string>& args, command& out) {
  out.ticker = args[0];
  return caf::none;
}

/// `kill ID [REASON]`: the words after the id, joined by blanks.
caf::error parse_kill(const std::vector<std::string>& args, command& out) {
  out.id = args[0];
  for (size_t i = 1; i < args.size(); ++i) {
    if (!out.reason.empty())
      out.reason += ' ';
    out.reason += args[i];
  }
  return caf::none;
}

caf::error parse_watch(const std::vector<std::string>& args, command& out) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--count") {
      if (i + 1 >= args.size()
          || !parse_uint(args[i + 1], 1, UINT64_MAX / 2, out.count))
        return bad_argument("--count expects a whole number from 1");
      ++i;
    } else {
      out.tickers.push_back(args[i]);
    }
  }
  if (out.tickers.empty())
    return bad_argument("give at least one ticker");
  return caf::none;
}

// --- the requests (their elements, after the atom the secret) ---

auto stats_request(const command&, const std::string& secret) {
  return std::make_tuple(stats_atom::value, secret);
}

auto sessions_request(const command& cmd, const std::string& secret) {
  return std::make_tuple(sessions_atom::value, secret, cmd.ticker, cmd.limit);
}

auto session_request(const command& cmd, const std::string& secret) {
  return std::make_tuple(session_atom::value, secret, cmd.id);
}

auto tickers_request(const command&, const std::string& secret) {
  return std::make_tuple(tickers_atom::value, secret);
}

auto ticker_request(const command& cmd, const std::string& secret) {
  return std::make_tuple(ticker_atom::value, secret, cmd.ticker);
}

auto actors_request(const command&, const std::string& secret) {
  return std::make_tuple(actors_atom::value, secret);
}

auto nodes_request(const command&, const std::string& secret) {
  return std::make_tuple(nodes_atom::value, secret);
}

// --- running a command ---

/// Sends `Request` to the node and shows the answer with `Text` or `Json`.
template <auto Request, auto Text, auto Json>
bool ask_and_render(client& c, const command& cmd) {
  return std::apply(
    [&](auto&&... xs) {
      return c.show(Text, Json, std::forward<decltype(xs)>(xs)...);
    },
    Request(cmd, c.options().secret));
}

bool run_kill(client& c, const command& cmd) {
  return c.confirm(kill_text(cmd.id, cmd.reason), kill_json(cmd.id, cmd.reason),
                   kill_atom::value, c.options().secret, cmd.id, cmd.reason);
}

bool run_watch(client& c, const command& cmd) {
  return c.watch(cmd);
}

bool run_help(client& c, const command&) {
  c.out(c.options().json ? help_json() : help_text());
  return true;
}

bool run_quit(client& c, const command&) {
  if (c.options().json)
    c.out("{\"quit\":true}\n");
  c.quit();
  return true;
}

constexpr size_t any = SIZE_MAX;

} // namespace

const std::vector<command_spec>& command_table() {
  static const std::vector<command_spec> result{
    {"stats", "stats", "node-wide counters (the keys of `stats` in the API)",
     command_kind::stats, 0, 0, "", nullptr,
     ask_and_render<stats_request, stats_text, stats_json>},
    {"sessions", "sessions [--ticker T] [--limit N]",
     "live sessions, oldest first", command_kind::sessions, 0, any, "",
     parse_sessions,
     ask_and_render<sessions_request, sessions_text, sessions_json>},
    {"session", "session ID", "everything about one session",
     command_kind::session, 1, 1, "missing argument", parse_id,
     ask_and_render<session_request, session_text, session_json>},
    {"tickers", "tickers", "every ticker with a broadcaster",
     command_kind::tickers, 0, 0, "", nullptr,
     ask_and_render<tickers_request, tickers_text, tickers_json>},
    {"ticker", "ticker T", "one ticker: subscribers, last update, rate",
     command_kind::ticker, 1, 1, "missing argument", parse_ticker,
     ask_and_render<ticker_request, ticker_text, ticker_json>},
    {"actors", "actors", "running actors by kind (a leak does not fall)",
     command_kind::actors, 0, 0, "", nullptr,
     ask_and_render<actors_request, actors_text, actors_json>},
    {"nodes", "nodes",
     "this node and its cluster peers: role, address, up since, sessions, "
     "relays",
     command_kind::nodes, 0, 0, "", nullptr,
     ask_and_render<nodes_request, nodes_text, nodes_json>},
    {"kill", "kill ID [REASON]",
     "ends a session; its stream ends with ABORTED and REASON",
     command_kind::kill, 1, any, "missing session id", parse_kill, run_kill},
    {"watch", "watch [--count N] T...",
     "live tail of ticks at the node until Ctrl-C (or N ticks)",
     command_kind::watch, 1, any, "give at least one ticker", parse_watch,
     run_watch},
    {"help", "help", "this list", command_kind::help, 0, 0, "", nullptr,
     run_help},
    {"quit", "quit", "leaves the shell (also: exit, Ctrl-D)",
     command_kind::quit, 0, 0, "", nullptr, run_quit},
  };
  return result;
}

} // namespace mm::shell
