#include "app/shell/commands.hpp"

#include <algorithm>

namespace mm::shell {

namespace {

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

std::string usage_of(const std::string& name) {
  for (auto& doc : command_docs())
    if (name == doc.name)
      return std::string{"usage: "} + doc.usage;
  return {};
}

} // namespace

const std::vector<command_doc>& command_docs() {
  static const std::vector<command_doc> result{
    {"stats", "stats", "node-wide counters (the keys of `stats` in the API)"},
    {"sessions", "sessions [--ticker T] [--limit N]",
     "live sessions, oldest first"},
    {"session", "session ID", "everything about one session"},
    {"tickers", "tickers", "every ticker with a broadcaster"},
    {"ticker", "ticker T", "one ticker: subscribers, last update, rate"},
    {"actors", "actors", "running actors by kind (a leak does not fall)"},
    {"nodes", "nodes",
     "this node and its cluster peers: role, address, up since, sessions, "
     "relays"},
    {"kill", "kill ID [REASON]",
     "ends a session; its stream ends with ABORTED and REASON"},
    {"watch", "watch [--count N] T...",
     "live tail of ticks at the node until Ctrl-C (or N ticks)"},
    {"help", "help", "this list"},
    {"quit", "quit", "leaves the shell (also: exit, Ctrl-D)"},
  };
  return result;
}

std::string split_words(const std::string& line,
                        std::vector<std::string>& words) {
  words.clear();
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (auto c : line) {
    if (quote != 0) {
      if (c == quote)
        quote = 0;
      else
        word += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (in_word)
        words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0)
    return std::string{"unterminated "} + quote + " quote";
  if (in_word)
    words.push_back(std::move(word));
  return {};
}

std::string parse_command(const std::string& line, command& out) {
  std::vector<std::string> w;
  if (auto err = split_words(line, w); !err.empty())
    return err;
  if (w.empty())
    return "empty command (try \"help\")";
  out = command{};
  const auto& name = w[0];
  auto args = w.size() - 1;
  auto wrong = [&](const std::string& what) {
    return name + ": " + what + "; " + usage_of(name);
  };
  if (name == "stats" || name == "tickers" || name == "actors"
      || name == "nodes" || name == "help" || name == "quit"
      || name == "exit") {
    if (args != 0)
      return wrong("takes no arguments");
    if (name == "stats")
      out.kind = command_kind::stats;
    else if (name == "tickers")
      out.kind = command_kind::tickers;
    else if (name == "actors")
      out.kind = command_kind::actors;
    else if (name == "nodes")
      out.kind = command_kind::nodes;
    else if (name == "help")
      out.kind = command_kind::help;
    else
      out.kind = command_kind::quit;
    return {};
  }
  if (name == "sessions") {
    out.kind = command_kind::sessions;
    for (size_t i = 1; i < w.size(); ++i) {
      if (w[i] == "--ticker" || w[i] == "--limit") {
        if (i + 1 >= w.size())
          return wrong(w[i] + " needs a value");
        auto& val = w[++i];
        if (w[i - 1] == "--ticker") {
          out.ticker = val;
        } else {
          uint64_t n = 0;
          if (!parse_uint(val, 1, UINT32_MAX, n))
            return wrong("--limit expects a whole number from 1, got \"" + val
                         + "\"");
          out.limit = static_cast<uint32_t>(n);
        }
      } else {
        return wrong("unexpected \"" + w[i] + "\"");
      }
    }
    return {};
  }
  if (name == "session" || name == "ticker") {
    if (args != 1)
      return wrong(args == 0 ? "missing argument" : "too many arguments");
    if (name == "session") {
      out.kind = command_kind::session;
      out.id = w[1];
    } else {
      out.kind = command_kind::ticker;
      out.ticker = w[1];
    }
    return {};
  }
  if (name == "kill") {
    if (args == 0)
      return wrong("missing session id");
    out.kind = command_kind::kill;
    out.id = w[1];
    for (size_t i = 2; i < w.size(); ++i) {
      if (!out.reason.empty())
        out.reason += ' ';
      out.reason += w[i];
    }
    return {};
  }
  if (name == "watch") {
    out.kind = command_kind::watch;
    for (size_t i = 1; i < w.size(); ++i) {
      if (w[i] == "--count") {
        if (i + 1 >= w.size()
            || !parse_uint(w[i + 1], 1, UINT64_MAX / 2, out.count))
          return wrong("--count expects a whole number from 1");
        ++i;
      } else {
        out.tickers.push_back(w[i]);
      }
    }
    if (out.tickers.empty())
      return wrong("give at least one ticker");
    return {};
  }
  return "unknown command \"" + name + "\" (try \"help\")";
}

} // namespace mm::shell
