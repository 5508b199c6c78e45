#include "app/options/feed_flags.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>

#include "app/options/log_flags.hpp"

namespace mm {

const char* const feed_description =
  R"(Publishes a simulated market to Redis pub/sub: one channel per ticker,
<prefix><TICKER>, payload {"price":189.25,"volume":100,"ts":<unix ns>}.
On exit it prints one line: "published N ticks in S s". Exit status 2 on
bad flags, 1 when Redis cannot be reached at start; a Redis that goes away
later is reconnected to.)";

bool parse_ticker_list(const std::string& str, std::vector<std::string>& out,
                       std::string& err) {
  out.clear();
  size_t pos = 0;
  while (pos <= str.size()) {
    auto comma = std::min(str.find(',', pos), str.size());
    std::string name = str.substr(pos, comma - pos);
    pos = comma + 1;
    auto first = name.find_first_not_of(" \t");
    auto last = name.find_last_not_of(" \t");
    name = first == std::string::npos ? ""
                                      : name.substr(first, last - first + 1);
    if (name.empty()) {
      err = "--ticker-list has an empty ticker name";
      return false;
    }
    for (auto& c : name) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        err = "--ticker-list: ticker \"" + name
              + "\" contains whitespace or control characters";
        return false;
      }
      if (c >= 'a' && c <= 'z')
        c = static_cast<char>(c - 'a' + 'A');
    }
    if (std::find(out.begin(), out.end(), name) == out.end())
      out.push_back(std::move(name));
  }
  return true;
}

void declare_feed_flags(command_line& cl, feed::simulator_options& opts) {
  cl.add_address("--redis", opts.redis, 1, "Redis to publish to");
  cl.add("--redis-prefix", opts.prefix, "channel prefix")->type_name("P");
  cl.add("--redis-user", opts.redis_user,
         "Redis ACL user for AUTH (needs --redis-password-file)")
    ->type_name("U");
  cl.bind_environment(
    cl.app()
      .add_option_function<std::string>(
        "--redis-password-file",
        [&opts](const std::string& path) {
          std::ifstream in{path};
          std::string line;
          if (!in || !std::getline(in, line) || line.empty())
            mm::bad_flag("--redis-password-file: cannot read a password "
                         "from the first line of \""
                         + path + "\"");
          while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
            line.pop_back();
          opts.redis_password = line;
        },
        "sends AUTH [U] PASSWORD (first line of F) on every connection")
      ->type_name("F"));
  auto tickers = cl.add("--tickers", opts.tickers,
                        "number of simulated tickers: AAPL, MSFT, GOOG,\n"
                        "... then TCK0001, TCK0002, ...")
                   ->check(mm::whole_number(1, feed::max_tickers))
                   ->type_name("N");
  auto list = cl.bind_environment(
    cl.app()
      .add_option_function<std::string>(
        "--ticker-list",
        [&opts](const std::string& val) {
          std::string err;
          if (!parse_ticker_list(val, opts.ticker_list, err))
            mm::bad_flag(err);
        },
        "publish exactly these tickers instead of --tickers")
      ->type_name("A,B,C"));
  cl.add("--rate", opts.rate, "ticks per second across all tickers")
    ->check(mm::decimal(0, feed::max_rate, true))
    ->type_name("R");
  cl.add("--seconds", opts.seconds,
         "stop after D seconds (0: until SIGINT or SIGTERM)")
    ->check(mm::decimal(0, 1e12))
    ->type_name("D");
  auto seed = cl.add("--seed", opts.seed,
                     "random seed for prices and volumes (default: random)")
                ->check(mm::whole_number(0, UINT64_MAX))
                ->type_name("S")
                ->default_str("");
  cl.check([tickers, list, seed, &opts] {
    if (!opts.redis_user.empty() && opts.redis_password.empty())
      mm::bad_flag("--redis-user: needs --redis-password-file");
    if (tickers->count() > 0 && list->count() > 0)
      mm::bad_flag("use either --tickers or --ticker-list, not both");
    opts.seed_given = seed->count() > 0;
  });
  mm::declare_log_flags(cl, opts.log_level, opts.log_format, "Logging");
}

} // namespace mm
