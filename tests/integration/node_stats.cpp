#include "tests/integration/node_stats.hpp"

#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

namespace mm::test {

namespace {

/// Just enough JSON for the stats document: objects, numbers, booleans,
/// strings, null; arrays are skipped.
class json_reader {
public:
  explicit json_reader(const std::string& text) : s_(text) {
    // nop
  }

  void read_stats(node_stats& out) {
    expect('{');
    if (peek() == '}') {
      ++i_;
      return;
    }
    for (;;) {
      auto key = read_string();
      expect(':');
      if (key == "sessions_ended_total") {
        expect('{');
        if (peek() != '}') {
          for (;;) {
            auto reason = read_string();
            expect(':');
            out.sessions_ended_total[reason] = read_int();
            if (peek() != ',')
              break;
            ++i_;
          }
        }
        expect('}');
      } else if (key == "redis_connected") {
        out.redis_connected = read_bool();
      } else if (auto* field = int_field(out, key)) {
        *field = read_int();
      } else {
        skip_value();
      }
      if (peek() != ',')
        break;
      ++i_;
    }
    expect('}');
  }

private:
  static int64_t* int_field(node_stats& x, const std::string& key) {
    static const std::map<std::string, int64_t node_stats::*> fields{
      {"sessions", &node_stats::sessions},
      {"streams", &node_stats::streams},
      {"broadcasters", &node_stats::broadcasters},
      {"redis_subscriptions", &node_stats::redis_subscriptions},
      {"actors_running", &node_stats::actors_running},
      {"sessions_created_total", &node_stats::sessions_created_total},
      {"ticks_received_total", &node_stats::ticks_received_total},
      {"ticks_malformed_total", &node_stats::ticks_malformed_total},
      {"updates_delivered_total", &node_stats::updates_delivered_total},
      {"updates_conflated_total", &node_stats::updates_conflated_total},
      {"batches_sent_total", &node_stats::batches_sent_total},
      {"uptime_ms", &node_stats::uptime_ms},
      {"history_entries", &node_stats::history_entries},
      {"history_bytes", &node_stats::history_bytes},
    };
    auto i = fields.find(key);
    return i == fields.end() ? nullptr : &(x.*(i->second));
  }

  char peek() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_])))
      ++i_;
    if (i_ == s_.size())
      throw std::runtime_error("unexpected end of JSON");
    return s_[i_];
  }

  void expect(char c) {
    if (peek() != c)
      throw std::runtime_error(std::string{"expected '"} + c + "' at "
                               + std::to_string(i_));
    ++i_;
  }

  std::string read_string() {
    expect('"');
    std::string result;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\')
        ++i_;
      result += s_[i_++];
    }
    expect('"');
    return result;
  }

  int64_t read_int() {
    peek();
    size_t end = i_;
    while (end < s_.size()
           && (std::isdigit(static_cast<unsigned char>(s_[end]))
               || s_[end] == '-' || s_[end] == '.' || s_[end] == 'e'
               || s_[end] == 'E' || s_[end] == '+'))
      ++end;
    if (end == i_)
      throw std::runtime_error("expected a number at " + std::to_string(i_));
    auto result = static_cast<int64_t>(std::stod(s_.substr(i_, end - i_)));
    i_ = end;
    return result;
  }

  bool read_bool() {
    peek();
    if (s_.compare(i_, 4, "true") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "false") == 0) {
      i_ += 5;
      return false;
    }
    throw std::runtime_error("expected a boolean at " + std::to_string(i_));
  }

  void skip_value() {
    auto c = peek();
    if (c == '"') {
      read_string();
    } else if (c == '{' || c == '[') {
      int depth = 0;
      do {
        if (s_[i_] == '"') {
          read_string();
          continue;
        }
        if (s_[i_] == '{' || s_[i_] == '[')
          ++depth;
        else if (s_[i_] == '}' || s_[i_] == ']')
          --depth;
        ++i_;
      } while (depth > 0 && i_ < s_.size());
    } else {
      while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}')
        ++i_;
    }
  }

  const std::string& s_;
  size_t i_ = 0;
};

} // namespace

int64_t node_stats::ended(const std::string& reason) const {
  auto i = sessions_ended_total.find(reason);
  return i == sessions_ended_total.end() ? 0 : i->second;
}

std::string node_stats::describe() const {
  std::ostringstream out;
  out << "sessions=" << sessions << " streams=" << streams
      << " broadcasters=" << broadcasters
      << " redis_subscriptions=" << redis_subscriptions
      << " actors_running=" << actors_running << " ended={";
  for (auto& kvp : sessions_ended_total)
    out << kvp.first << ":" << kvp.second << " ";
  out << "}";
  return out.str();
}

node_stats parse_stats(const std::string& json) {
  node_stats result;
  result.json = json;
  json_reader{json}.read_stats(result);
  return result;
}

std::string admin_client::run(const std::string& command, bool json,
                              int* status) const {
  std::string cmd = std::string{MM_SHELL_BIN} + " --connect " + address_
                    + " -c '" + command + "'" + (json ? " --json" : "")
                    + " 2>&1";
  std::string out;
  auto* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr)
    throw std::runtime_error("cannot run " + cmd);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0)
    out.append(buf, n);
  auto rc = pclose(pipe);
  if (status)
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

node_stats admin_client::stats() const {
  int status = -1;
  auto out = run("stats", true, &status);
  if (status != 0) {
    ADD_FAILURE() << "mm-shell stats failed (" << status << "): " << out;
    return {};
  }
  try {
    return parse_stats(out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "bad stats JSON (" << e.what() << "): " << out;
    return {};
  }
}

std::vector<std::string> redis_channels(uint16_t port,
                                        const std::string& pattern) {
  std::vector<std::string> result;
  auto* ctx = redisConnect("127.0.0.1", port);
  if (ctx == nullptr || ctx->err) {
    ADD_FAILURE() << "cannot reach redis on port " << port;
    if (ctx)
      redisFree(ctx);
    return result;
  }
  auto* reply = static_cast<redisReply*>(
    redisCommand(ctx, "PUBSUB CHANNELS %s", pattern.c_str()));
  if (reply && reply->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i < reply->elements; ++i)
      result.emplace_back(reply->element[i]->str, reply->element[i]->len);
  if (reply)
    freeReplyObject(reply);
  redisFree(ctx);
  return result;
}

} // namespace mm::test
