// The options layer (app/options/): precedence of command line,
// environment, --config file and defaults; bad values; the config file;
// HOST:PORT parsing. mm-server's, mm-bench's and mm-ceiling's real flag
// declarations are parsed.

#include "actors/host_port.hpp"
#include "app/options/bench_flags.hpp"
#include "app/options/feed_flags.hpp"
#include "app/options/options.hpp"
#include "app/options/server_flags.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

namespace {

/// Parses `argv` (without the program name) as `program` would; returns the
/// exit status parse asks for, or -1 to go on, and what it wrote to stderr.
int parse_as(mm::command_line& cl, const char* program,
             std::vector<const char*> argv, std::string& err) {
  argv.insert(argv.begin(), program);
  std::ostringstream out;
  std::ostringstream errs;
  auto status = cl.parse(static_cast<int>(argv.size()), argv.data(), out, errs);
  err = errs.str();
  return status ? *status : -1;
}

/// What one parse of a binary's flags gave.
template <class Settings>
struct outcome_of {
  /// The exit status, or -1 if the binary would go on.
  int status = -1;
  std::string out;
  std::string err;
  Settings cfg;
};

/// Parses `args` with the flags `declare` puts on a command line `name`.
template <class Settings, class Declare>
outcome_of<Settings> parse_with(const char* name, const char* description,
                                Declare declare,
                                std::vector<std::string> args) {
  outcome_of<Settings> result;
  mm::command_line cl{name, description};
  declare(cl, result.cfg);
  args.insert(args.begin(), name);
  std::vector<const char*> argv;
  for (auto& x : args)
    argv.push_back(x.c_str());
  std::ostringstream out;
  std::ostringstream err;
  auto status = cl.parse(static_cast<int>(argv.size()), argv.data(), out, err);
  result.status = status ? *status : -1;
  result.out = out.str();
  result.err = err.str();
  return result;
}

using outcome = outcome_of<mm::server_config>;

/// Parses `args` with mm-server's flags. The default --grpc-listen (0.0.0.0)
/// needs TLS, auth or --insecure (docs/security.md); `insecure` adds the
/// latter for the tests that are about something else, the security tests
/// below pass false.
outcome parse(std::vector<std::string> args, bool insecure = true) {
  if (insecure)
    args.push_back("--insecure");
  return parse_with<mm::server_config>("mm-server", mm::server_description,
                                       mm::declare_server_flags,
                                       std::move(args));
}

outcome_of<mm::bench::options> parse_bench(std::vector<std::string> args) {
  return parse_with<mm::bench::options>("mm-bench", mm::bench_description,
                                        mm::declare_bench_flags,
                                        std::move(args));
}

outcome_of<mm::ceiling_options> parse_ceiling(std::vector<std::string> args) {
  return parse_with<mm::ceiling_options>("mm-ceiling", mm::ceiling_description,
                                         mm::declare_ceiling_flags,
                                         std::move(args));
}

/// Sets an environment variable for one test.
class scoped_env {
public:
  scoped_env(const char* name, const char* value) : name_(name) {
    ::setenv(name, value, 1);
  }
  ~scoped_env() {
    ::unsetenv(name_);
  }

private:
  const char* name_;
};

/// A config file with `text`, removed at the end of the test.
class config_file {
public:
  explicit config_file(const std::string& text) {
    char name[] = "/tmp/mm_options_test_XXXXXX";
    auto fd = ::mkstemp(name);
    ::close(fd);
    path_ = name;
    std::ofstream{path_} << text;
  }
  ~config_file() {
    std::remove(path_.c_str());
  }
  const std::string& path() const {
    return path_;
  }

private:
  std::string path_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- precedence -------------------------------------------------------------

TEST(options, defaults_come_from_node_config) {
  auto r = parse({});
  EXPECT_EQ(r.status, -1) << r.err;
  mm::node_config defaults;
  EXPECT_EQ(r.cfg.max_batch, defaults.max_batch);
  EXPECT_EQ(r.cfg.grpc_listen, defaults.grpc_listen);
  EXPECT_EQ(r.cfg.redis_host, defaults.redis_host);
  EXPECT_EQ(r.cfg.redis_port, defaults.redis_port);
}

TEST(options, the_file_beats_the_default) {
  config_file file{"max-batch = 200\nredis = 10.0.0.5:6380\n"};
  auto r = parse({"--config", file.path()});
  EXPECT_EQ(r.status, -1) << r.err;
  EXPECT_EQ(r.cfg.max_batch, 200u);
  EXPECT_EQ(r.cfg.redis_host, "10.0.0.5");
  EXPECT_EQ(r.cfg.redis_port, 6380);
}

TEST(options, the_environment_beats_the_file) {
  config_file file{"max-batch = 200\nmax-pending = 7\n"};
  scoped_env env{"MM_MAX_BATCH", "300"};
  auto r = parse({"--config", file.path()});
  EXPECT_EQ(r.status, -1) << r.err;
  EXPECT_EQ(r.cfg.max_batch, 300u);
  EXPECT_EQ(r.cfg.max_pending, 7u);
}

TEST(options, the_command_line_beats_the_environment_and_the_file) {
  config_file file{"max-batch = 200\n"};
  scoped_env env{"MM_MAX_BATCH", "300"};
  auto r = parse({"--config", file.path(), "--max-batch", "400"});
  EXPECT_EQ(r.status, -1) << r.err;
  EXPECT_EQ(r.cfg.max_batch, 400u);
  auto eq = parse({"--max-batch=401"});
  EXPECT_EQ(eq.cfg.max_batch, 401u);
}

TEST(options, every_flag_has_an_environment_variable) {
  EXPECT_EQ(mm::environment_name("--grpc-listen"), "MM_GRPC_LISTEN");
  scoped_env role{"MM_ROLE", "edge"};
  scoped_env hub{"MM_HUB", "10.0.0.1:4000"};
  scoped_env remote{"MM_ADMIN_ALLOW_REMOTE", "true"};
  scoped_env secret{"MM_ADMIN_SECRET", "s3cret"};
  // A hub and an admin endpoint beyond loopback, without TLS.
  scoped_env insecure{"MM_INSECURE", "true"};
  auto r = parse({"--admin-listen", "0.0.0.0:0"});
  EXPECT_EQ(r.status, -1) << r.err;
  EXPECT_TRUE(r.cfg.insecure);
  EXPECT_EQ(r.cfg.role, mm::node_role::edge);
  EXPECT_EQ(r.cfg.hubs, std::vector<std::string>{"10.0.0.1:4000"});
  EXPECT_TRUE(r.cfg.admin_allow_remote);
  EXPECT_EQ(r.cfg.admin_secret, "s3cret");
}

// --- bad values -------------------------------------------------------------

TEST(options, a_bad_number_names_the_flag_and_exits_2) {
  auto r = parse({"--max-batch", "0"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-server: --max-batch: expected a whole number from 1 "
                   "to 2147483647, got \"0\"\n");
  EXPECT_EQ(parse({"--linger-ms", "-1"}).status, 2);
  EXPECT_EQ(parse({"--linger-ms", "12x"}).status, 2);
  EXPECT_EQ(parse({"--linger-ms", "2147483648"}).status, 2);
  EXPECT_EQ(parse({"--linger-ms", "99999999999999999999999"}).status, 2);
  EXPECT_EQ(parse({"--linger-ms", "2147483647"}).status, -1);
}

TEST(options, a_bad_enum_lists_the_choices) {
  auto r = parse({"--role", "leader"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-server: --role: expected standalone, hub or edge, got "
                   "\"leader\"\n");
}

TEST(options, a_bad_address_names_the_flag) {
  auto r = parse({"--redis", "localhost"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--redis: expected HOST:PORT")) << r.err;
  EXPECT_EQ(parse({"--redis", "localhost:0"}).status, 2);
  EXPECT_EQ(parse({"--grpc-listen", "localhost:0"}).status, -1);
}

TEST(options, unknown_flags_and_missing_values_exit_2) {
  auto unknown = parse({"--max-bach", "3"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_TRUE(contains(unknown.err, "--max-bach")) << unknown.err;
  auto missing = parse({"--max-batch"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_TRUE(contains(missing.err, "--max-batch")) << missing.err;
}

TEST(options, checks_across_flags_exit_2) {
  auto r = parse({"--role", "hub"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-server: --role hub: needs --cluster-listen "
                   "HOST:PORT\n");
  auto remote = parse({"--admin-listen", "0.0.0.0:0"});
  EXPECT_EQ(remote.status, 2);
  EXPECT_TRUE(contains(remote.err, "--admin-allow-remote")) << remote.err;
}

TEST(options, a_cluster_or_admin_endpoint_beyond_loopback_needs_tls) {
  // (insecure = false: these are the refusals --insecure would lift; the
  // gRPC port stays on loopback so that its own check passes.)
  auto hub = parse({"--role", "hub", "--cluster-listen", "0.0.0.0:7000"},
                   false);
  EXPECT_EQ(hub.status, 2);
  EXPECT_EQ(hub.err, "mm-server: --cluster-listen: 0.0.0.0 is not a loopback "
                     "address and the cluster has neither TLS nor a shared "
                     "secret; give --cluster-cert, --cluster-key and "
                     "--cluster-ca, or --cluster-secret-file (or "
                     "--insecure)\n");
  auto edge = parse({"--role", "edge", "--hub", "10.0.0.1:7000",
                     "--grpc-listen", "127.0.0.1:0"},
                    false);
  EXPECT_EQ(edge.status, 2);
  EXPECT_TRUE(contains(edge.err, "--hub: 10.0.0.1 is not a loopback"))
    << edge.err;
  EXPECT_EQ(parse({"--role", "edge", "--hub", "127.0.0.1:7000", "--grpc-listen",
                   "127.0.0.1:0"},
                  false)
              .status,
            -1);
  EXPECT_EQ(
    parse({"--role", "edge", "--hub", "10.0.0.1:7000", "--insecure"}).status,
    -1);
  // The certificate flags check that their files can be read.
  config_file pem{"-----BEGIN CERTIFICATE-----\n"};
  auto tls = parse({"--role", "edge", "--hub", "10.0.0.1:7000",
                    "--cluster-cert", pem.path(), "--cluster-key", pem.path(),
                    "--cluster-ca", pem.path()});
  EXPECT_EQ(tls.status, -1) << tls.err;
  scoped_env secret{"MM_ADMIN_SECRET", "s3cret"};
  auto admin = parse({"--admin-listen", "0.0.0.0:0", "--admin-allow-remote",
                      "--grpc-listen", "127.0.0.1:0"},
                     false);
  EXPECT_EQ(admin.status, 2);
  EXPECT_TRUE(contains(admin.err, "no TLS; add --admin-tls (or --insecure)"))
    << admin.err;
  auto no_certs = parse({"--admin-tls"});
  EXPECT_EQ(no_certs.status, 2);
  EXPECT_TRUE(contains(no_certs.err, "--admin-tls: needs --cluster-cert"))
    << no_certs.err;
  auto with_tls =
    parse({"--admin-listen", "0.0.0.0:0", "--admin-allow-remote", "--admin-tls",
           "--cluster-cert", pem.path(), "--cluster-key", pem.path(),
           "--cluster-ca", pem.path()});
  EXPECT_EQ(with_tls.status, -1) << with_tls.err;
}

TEST(options, a_cluster_secret_stands_in_for_tls_beyond_loopback) {
  // (insecure = false, as above.)
  config_file secret{std::string(32, 's') + "\n"};
  auto hub = parse({"--role", "hub", "--cluster-listen", "0.0.0.0:7000",
                    "--cluster-secret-file", secret.path()},
                   false);
  EXPECT_EQ(hub.status, -1) << hub.err;
  EXPECT_EQ(hub.cfg.cluster_secret, std::string(32, 's'));
  auto edge =
    parse({"--role", "edge", "--hub", "10.0.0.1:7000", "--grpc-listen",
           "127.0.0.1:0", "--cluster-secret-file", secret.path()},
          false);
  EXPECT_EQ(edge.status, -1) << edge.err;
  {
    scoped_env env{"MM_CLUSTER_SECRET_FILE", secret.path().c_str()};
    auto from_env = parse({"--role", "edge", "--hub", "10.0.0.1:7000",
                           "--grpc-listen", "127.0.0.1:0"},
                          false);
    EXPECT_EQ(from_env.status, -1) << from_env.err;
    EXPECT_EQ(from_env.cfg.cluster_secret, std::string(32, 's'));
  }
  config_file conf{"role = hub\ncluster-listen = 10.0.0.1:7000\n"
                   "cluster-secret-file = "
                   + secret.path() + "\n"};
  auto from_file = parse({"--config", conf.path()}, false);
  EXPECT_EQ(from_file.status, -1) << from_file.err;
  EXPECT_EQ(from_file.cfg.cluster_secret, std::string(32, 's'));
  // Not with TLS, and not on a standalone node.
  config_file pem{"-----BEGIN CERTIFICATE-----\n"};
  auto both =
    parse({"--role", "edge", "--hub", "10.0.0.1:7000", "--cluster-cert",
           pem.path(), "--cluster-key", pem.path(), "--cluster-ca", pem.path(),
           "--cluster-secret-file", secret.path()});
  EXPECT_EQ(both.status, 2);
  EXPECT_EQ(both.err, "mm-server: --cluster-secret-file: give either TLS "
                      "(--cluster-cert, --cluster-key, --cluster-ca) or a "
                      "cluster secret, not both\n");
  auto standalone = parse({"--cluster-secret-file", secret.path()});
  EXPECT_EQ(standalone.status, 2);
  EXPECT_TRUE(contains(standalone.err, "a standalone node has no cluster"))
    << standalone.err;
}

TEST(options, a_short_or_unreadable_cluster_secret_exits_2) {
  config_file short_secret{std::string(31, 's') + "\n"};
  auto r = parse({"--role", "hub", "--cluster-listen", "127.0.0.1:0",
                  "--cluster-secret-file", short_secret.path()});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-server: --cluster-secret-file: \"" + short_secret.path()
                     + "\" holds 31 bytes; the secret needs at least 32 "
                       "(make one with: openssl rand -hex 32 > FILE)\n");
  auto missing = parse({"--role", "hub", "--cluster-listen", "127.0.0.1:0",
                        "--cluster-secret-file", "/nonexistent/secret"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_EQ(missing.err, "mm-server: --cluster-secret-file: cannot read "
                         "\"/nonexistent/secret\"\n");
}

TEST(options, redis_credentials_come_from_a_file) {
  auto user = parse({"--redis-user", "mm"});
  EXPECT_EQ(user.status, 2);
  EXPECT_EQ(user.err, "mm-server: --redis-user: needs --redis-password-file\n");
  config_file password{"  pw-1 \nsecond line\n"};
  auto r =
    parse({"--redis-user", "mm", "--redis-password-file", password.path()});
  EXPECT_EQ(r.status, -1) << r.err;
  EXPECT_EQ(r.cfg.redis_user, "mm");
  EXPECT_EQ(r.cfg.redis_password, "pw-1");
  auto missing = parse({"--redis-password-file", "/nonexistent/pw"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_TRUE(contains(missing.err, "--redis-password-file: cannot read"))
    << missing.err;
}

TEST(options, help_exits_0_and_shows_the_defaults) {
  auto r = parse({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.err.empty());
  EXPECT_TRUE(contains(r.out, "--grpc-listen")) << r.out;
  EXPECT_TRUE(contains(r.out, "0.0.0.0:50051")) << r.out;
  EXPECT_TRUE(contains(r.out, "127.0.0.1:6379")) << r.out;
  EXPECT_TRUE(contains(r.out, "MM_MAX_BATCH")) << r.out;
  EXPECT_TRUE(contains(r.out, "standalone|hub|edge")) << r.out;
}

TEST(options, decimals_and_addresses_of_other_binaries) {
  double rate = 100;
  mm::host_port redis{"127.0.0.1", 6379};
  auto run = [&](std::vector<const char*> argv, std::string& err) {
    mm::command_line cl{"mm-feed", "test"};
    cl.add("--rate", rate, "ticks per second")
      ->check(mm::decimal(0, 1e7, true));
    cl.add_address("--redis", redis, 1, "Redis");
    return parse_as(cl, "mm-feed", std::move(argv), err);
  };
  std::string err;
  EXPECT_EQ(run({"--rate", "0.5", "--redis", "[::1]:6380"}, err), -1) << err;
  EXPECT_EQ(rate, 0.5);
  EXPECT_EQ(redis.host, "::1");
  EXPECT_EQ(redis.port, 6380);
  EXPECT_EQ(run({"--rate", "0"}, err), 2);
  EXPECT_EQ(err, "mm-feed: --rate: expected a number above 0 and at most "
                 "10000000, got \"0\"\n");
  EXPECT_EQ(run({"--rate", "inf"}, err), 2);
  EXPECT_EQ(run({"--redis", "localhost:0"}, err), 2);
  EXPECT_TRUE(contains(err, "--redis: expected HOST:PORT")) << err;
}

TEST(feed_flags, a_ticker_list_is_normalised_and_checked) {
  auto run = [](std::vector<const char*> argv,
                mm::feed::simulator_options& opts, std::string& err) {
    mm::command_line cl{"mm-feed", mm::feed_description};
    mm::declare_feed_flags(cl, opts);
    return parse_as(cl, "mm-feed", std::move(argv), err);
  };
  std::string err;
  mm::feed::simulator_options opts;
  EXPECT_EQ(run({"--ticker-list", " aapl,MSFT ,aapl,brk.b"}, opts, err), -1)
    << err;
  EXPECT_EQ(opts.ticker_list,
            (std::vector<std::string>{"AAPL", "MSFT", "BRK.B"}));
  EXPECT_EQ(mm::feed::ticker_names(opts), opts.ticker_list);
  mm::feed::simulator_options fresh;
  EXPECT_EQ(run({"--ticker-list", "AAPL,,MSFT"}, fresh, err), 2);
  EXPECT_TRUE(contains(err, "--ticker-list has an empty ticker name")) << err;
  EXPECT_EQ(run({"--ticker-list", "A\tB"}, fresh, err), 2);
  EXPECT_TRUE(contains(err, "contains whitespace or control characters"))
    << err;
  EXPECT_EQ(run({"--tickers", "3", "--ticker-list", "AAPL"}, fresh, err), 2);
  EXPECT_TRUE(contains(err, "either --tickers or --ticker-list")) << err;
  mm::feed::simulator_options some;
  EXPECT_EQ(run({"--tickers", "32"}, some, err), -1) << err;
  auto names = mm::feed::ticker_names(some);
  ASSERT_EQ(names.size(), 32u);
  EXPECT_EQ(names.front(), "AAPL");
  EXPECT_EQ(names[30], "TCK0001");
  EXPECT_EQ(names[31], "TCK0002");
}

TEST(options, a_secret_is_refused_on_the_command_line_only) {
  auto on_line = [](std::vector<std::string> args) {
    auto r = parse(std::move(args));
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(r.err, "mm-server: --admin-secret: a secret on the command "
                     "line is visible in ps; use --admin-secret-file F (or "
                     "MM_ADMIN_SECRET, or admin-secret in --config)\n");
  };
  on_line({"--admin-secret", "s3cret"});
  on_line({"--admin-secret=s3cret"});
  on_line({"--help", "--admin-secret=s3cret"});
  // A value that merely starts like the flag is no flag.
  EXPECT_EQ(parse({"--admin-secret-file", "/nonexistent"}).status, 2);
  EXPECT_EQ(
    parse({"--admin-secret-file", "/nonexistent"}).err.find("visible in ps"),
    std::string::npos);
  config_file file{"admin-secret = from-file\n"};
  EXPECT_EQ(parse({"--config", file.path()}).cfg.admin_secret, "from-file");
  scoped_env secret{"MM_ADMIN_SECRET", "from-env"};
  EXPECT_EQ(parse({"--config", file.path()}).cfg.admin_secret, "from-env");
}

// --- the config file --------------------------------------------------------

TEST(options, the_config_file_takes_the_documented_format) {
  config_file file{"# mm-server.conf\n"
                   "grpc-listen = 0.0.0.0:50051\n"
                   "redis-prefix = px#1:   # a comment after a blank\n"
                   "--keepalive-time-ms=5000\n"
                   "\n"
                   "admin-allow-remote = no\n"
                   "role = edge\n"
                   "hub = 10.0.0.1:4000\n"
                   "hub = 10.0.0.2:4000\n"
                   "insecure = true\n"
                   "max-sessions = 10\n"
                   "max-sessions = 20\n"};
  auto r = parse({"--config", file.path()});
  EXPECT_EQ(r.status, -1) << r.err;
  EXPECT_EQ(r.cfg.redis_prefix, "px#1:");
  EXPECT_EQ(r.cfg.keepalive_time_ms, 5000u);
  EXPECT_FALSE(r.cfg.admin_allow_remote);
  EXPECT_EQ(r.cfg.hubs,
            (std::vector<std::string>{"10.0.0.1:4000", "10.0.0.2:4000"}));
  EXPECT_EQ(r.cfg.max_sessions, 20u);
}

TEST(options, an_unknown_key_names_the_file_and_line) {
  config_file file{"max-batch = 1\n\nmax-bach = 2\n"};
  auto r = parse({"--config", file.path()});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-server: --config " + file.path()
                     + ":3: unknown key \"max-bach\"\n");
}

TEST(options, a_line_without_a_value_is_an_error) {
  config_file file{"max-batch\n"};
  auto r = parse({"--config", file.path()});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, ":1: expected `key = value`")) << r.err;
}

TEST(options, a_bad_value_in_the_file_names_the_key) {
  config_file file{"max-batch = lots\n"};
  auto r = parse({"--config", file.path()});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--max-batch: expected a whole number")) << r.err;
}

TEST(options, a_missing_config_file_exits_2) {
  auto r = parse({"--config", "/nonexistent/mm-server.conf"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-server: --config: cannot read "
                   "\"/nonexistent/mm-server.conf\"\n");
}

// --- mm-bench and mm-ceiling -----------------------------------------------

TEST(bench_flags, defaults_and_help) {
  auto r = parse_bench({});
  EXPECT_EQ(r.status, -1) << r.err;
  mm::bench::options defaults;
  EXPECT_EQ(r.cfg.target.to_string(), "127.0.0.1:50051");
  EXPECT_EQ(r.cfg.redis.to_string(), "127.0.0.1:6379");
  EXPECT_TRUE(r.cfg.admin.host.empty());
  EXPECT_EQ(r.cfg.sessions, defaults.sessions);
  EXPECT_EQ(r.cfg.rate, defaults.rate);
  EXPECT_FALSE(r.cfg.start_stream);
  EXPECT_FALSE(r.cfg.deliver_all);
  EXPECT_FALSE(r.cfg.ceiling);
  EXPECT_EQ(r.cfg.max_starting, 0u) << "0: no limit";
  EXPECT_EQ(parse_bench({"--max-starting", "2000"}).cfg.max_starting, 2000u);
  EXPECT_EQ(parse_bench({"--max-starting", "-1"}).status, 2);
  auto help = parse_bench({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_TRUE(contains(help.out, "127.0.0.1:50051")) << help.out;
  EXPECT_TRUE(contains(help.out, "subscribe|start-stream")) << help.out;
  EXPECT_TRUE(contains(help.out, "MM_CHURN_HOLD_MS")) << help.out;
  EXPECT_EQ(parse_bench({"-h"}).status, 0);
}

TEST(bench_flags, the_flags_scripts_bench_passes) {
  // The churn scenario of scripts/bench against a node.
  auto r = parse_bench({"--target",
                        "127.0.0.1:40001",
                        "--redis",
                        "127.0.0.1:40002",
                        "--server-pid",
                        "4242",
                        "--admin",
                        "127.0.0.1:40003",
                        "--sessions",
                        "50000",
                        "--channels",
                        "16",
                        "--tickers",
                        "1000",
                        "--per-session",
                        "1",
                        "--rate",
                        "1000",
                        "--establish-timeout",
                        "120",
                        "--churn",
                        "100000",
                        "--churn-concurrency",
                        "1000",
                        "--churn-hold-ms",
                        "50",
                        "--idle-seconds",
                        "30",
                        "--flush-ms",
                        "50",
                        "--seconds",
                        "8",
                        "--warmup-seconds",
                        "1",
                        "--json",
                        "/tmp/out.json"});
  ASSERT_EQ(r.status, -1) << r.err;
  EXPECT_EQ(r.cfg.target.port, 40001);
  EXPECT_EQ(r.cfg.redis.port, 40002);
  EXPECT_EQ(r.cfg.server_pid, 4242);
  EXPECT_EQ(r.cfg.admin.to_string(), "127.0.0.1:40003");
  EXPECT_EQ(r.cfg.sessions, 50000u);
  EXPECT_EQ(r.cfg.channels, 16u);
  EXPECT_EQ(r.cfg.tickers, 1000u);
  EXPECT_EQ(r.cfg.per_session, 1u);
  EXPECT_EQ(r.cfg.rate, 1000);
  EXPECT_EQ(r.cfg.establish_timeout, 120);
  EXPECT_EQ(r.cfg.churn, 100000u);
  EXPECT_EQ(r.cfg.churn_concurrency, 1000u);
  EXPECT_EQ(r.cfg.churn_hold_ms, 50u);
  EXPECT_EQ(r.cfg.idle_seconds, 30);
  EXPECT_EQ(r.cfg.flush_ms, 50u);
  EXPECT_EQ(r.cfg.seconds, 8);
  EXPECT_EQ(r.cfg.warmup_seconds, 1);
  EXPECT_EQ(r.cfg.json_file, "/tmp/out.json");
  // Against mm-ceiling, and the two choices.
  auto c = parse_bench({"--target=127.0.0.1:40004", "--ceiling", "--mode",
                        "start-stream", "--delivery", "all"});
  ASSERT_EQ(c.status, -1) << c.err;
  EXPECT_TRUE(c.cfg.ceiling);
  EXPECT_TRUE(c.cfg.start_stream);
  EXPECT_TRUE(c.cfg.deliver_all);
}

TEST(bench_flags, bad_values_name_the_flag_and_exit_2) {
  auto r = parse_bench({"--sessions", "-1"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-bench: --sessions: expected a whole number from 0 to "
                   "10000000, got \"-1\"\n");
  auto mode = parse_bench({"--mode", "stream"});
  EXPECT_EQ(mode.status, 2);
  EXPECT_EQ(mode.err, "mm-bench: --mode: expected subscribe or start-stream, "
                      "got \"stream\"\n");
  auto seconds = parse_bench({"--seconds", "0.05"});
  EXPECT_EQ(seconds.status, 2);
  EXPECT_TRUE(contains(seconds.err, "--seconds: expected a number from 0.1"))
    << seconds.err;
  auto target = parse_bench({"--target", "localhost"});
  EXPECT_EQ(target.status, 2);
  EXPECT_TRUE(contains(target.err, "--target: expected HOST:PORT"))
    << target.err;
  EXPECT_EQ(parse_bench({"--channels", "0"}).status, 2);
  EXPECT_EQ(parse_bench({"--client-queues", "257"}).status, 2);
  EXPECT_EQ(parse_bench({"--delivery", "some"}).status, 2);
  EXPECT_EQ(parse_bench({"--server-pid", "0"}).status, 2);
  EXPECT_EQ(parse_bench({"--sessions"}).status, 2);
  auto unknown = parse_bench({"--session", "5"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_TRUE(contains(unknown.err, "--session")) << unknown.err;
}

TEST(bench_flags, per_session_cannot_exceed_tickers) {
  auto r = parse_bench({"--tickers", "5", "--per-session", "6"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-bench: --per-session: 6 is larger than --tickers "
                   "(5)\n");
  EXPECT_EQ(parse_bench({"--tickers", "5", "--per-session", "5"}).status, -1);
}

TEST(bench_flags, file_environment_and_command_line) {
  config_file file{"sessions = 50\nmode = start-stream\n"
                   "target = 10.0.0.2:50051\nceiling = true\nrate = 10\n"};
  auto from_file = parse_bench({"--config", file.path()});
  ASSERT_EQ(from_file.status, -1) << from_file.err;
  EXPECT_EQ(from_file.cfg.sessions, 50u);
  EXPECT_TRUE(from_file.cfg.start_stream);
  EXPECT_EQ(from_file.cfg.target.host, "10.0.0.2");
  EXPECT_TRUE(from_file.cfg.ceiling);
  EXPECT_EQ(from_file.cfg.rate, 10);
  scoped_env sessions{"MM_SESSIONS", "60"};
  scoped_env mode{"MM_MODE", "subscribe"};
  auto from_env = parse_bench({"--config", file.path()});
  ASSERT_EQ(from_env.status, -1) << from_env.err;
  EXPECT_EQ(from_env.cfg.sessions, 60u);
  EXPECT_FALSE(from_env.cfg.start_stream);
  EXPECT_EQ(from_env.cfg.rate, 10);
  auto from_cl = parse_bench({"--config", file.path(), "--sessions", "70"});
  ASSERT_EQ(from_cl.status, -1) << from_cl.err;
  EXPECT_EQ(from_cl.cfg.sessions, 70u);
  // (A key the environment sets is not read from the file at all.)
  config_file bad{"sessions = many\nchannels = many\n"};
  auto r = parse_bench({"--config", bad.path()});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--channels: expected a whole number")) << r.err;
}

TEST(ceiling_flags, defaults_and_the_flags_scripts_bench_passes) {
  auto r = parse_ceiling({});
  ASSERT_EQ(r.status, -1) << r.err;
  EXPECT_EQ(r.cfg.listen.to_string(), "127.0.0.1:0");
  EXPECT_EQ(r.cfg.tickers, 100u);
  EXPECT_EQ(r.cfg.rate, 2000);
  EXPECT_EQ(r.cfg.max_batch, 500u);
  EXPECT_EQ(r.cfg.max_pending, 10000u);
  EXPECT_EQ(r.cfg.attach_timeout_ms, 30000);
  EXPECT_EQ(r.cfg.grpc_queues, 16u);
  auto s =
    parse_ceiling({"--grpc-listen", "127.0.0.1:0", "--rate", "400", "--tickers",
                   "1000", "--attach-timeout-ms", "2000", "--grpc-queues=4",
                   "--max-batch", "50", "--max-pending", "7"});
  ASSERT_EQ(s.status, -1) << s.err;
  EXPECT_EQ(s.cfg.rate, 400);
  EXPECT_EQ(s.cfg.tickers, 1000u);
  EXPECT_EQ(s.cfg.attach_timeout_ms, 2000);
  EXPECT_EQ(s.cfg.grpc_queues, 4u);
  EXPECT_EQ(s.cfg.max_batch, 50u);
  EXPECT_EQ(s.cfg.max_pending, 7u);
  auto help = parse_ceiling({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_TRUE(contains(help.out, "mm-ceiling ready grpc=")) << help.out;
  EXPECT_TRUE(contains(help.out, "MM_ATTACH_TIMEOUT_MS")) << help.out;
}

TEST(ceiling_flags, bad_values_name_the_flag_and_exit_2) {
  auto r = parse_ceiling({"--tickers", "0"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "mm-ceiling: --tickers: expected a whole number from 1 to "
                   "99999, got \"0\"\n");
  auto rate = parse_ceiling({"--rate", "0"});
  EXPECT_EQ(rate.status, 2);
  EXPECT_TRUE(contains(rate.err, "--rate: expected a number above 0"))
    << rate.err;
  EXPECT_EQ(parse_ceiling({"--attach-timeout-ms", "86400001"}).status, 2);
  EXPECT_EQ(parse_ceiling({"--grpc-queues", "257"}).status, 2);
  EXPECT_EQ(parse_ceiling({"--max-batch", "1.5"}).status, 2);
  EXPECT_EQ(parse_ceiling({"--grpc-listen", "nowhere"}).status, 2);
  EXPECT_EQ(parse_ceiling({"--sessions", "5"}).status, 2);
}

TEST(ceiling_flags, file_environment_and_command_line) {
  config_file file{"rate = 10\nattach-timeout-ms = 2000\n"};
  scoped_env rate{"MM_RATE", "20"};
  auto env = parse_ceiling({"--config", file.path()});
  ASSERT_EQ(env.status, -1) << env.err;
  EXPECT_EQ(env.cfg.rate, 20);
  EXPECT_EQ(env.cfg.attach_timeout_ms, 2000);
  auto cl = parse_ceiling({"--config", file.path(), "--rate", "30"});
  ASSERT_EQ(cl.status, -1) << cl.err;
  EXPECT_EQ(cl.cfg.rate, 30);
}

// --- HOST:PORT --------------------------------------------------------------

TEST(host_port, parses_and_prints) {
  auto x = mm::host_port::parse("127.0.0.1:6379");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->host, "127.0.0.1");
  EXPECT_EQ(x->port, 6379);
  EXPECT_EQ(x->to_string(), "127.0.0.1:6379");
  EXPECT_TRUE(x->is_loopback());
  auto any = mm::host_port::parse("0.0.0.0:0");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->port, 0);
  EXPECT_FALSE(any->is_loopback());
  EXPECT_EQ(mm::host_port::parse("redis.example:65535")->port, 65535);
}

TEST(host_port, ipv6_goes_in_brackets) {
  auto x = mm::host_port::parse("[::1]:50052");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->host, "::1");
  EXPECT_EQ(x->to_string(), "[::1]:50052");
  EXPECT_TRUE(x->is_loopback());
  std::string why;
  EXPECT_FALSE(mm::host_port::parse("::1:50052", 0, &why));
  EXPECT_TRUE(contains(why, "brackets")) << why;
  EXPECT_FALSE(mm::host_port::parse("[::1:50052"));
  EXPECT_FALSE(mm::host_port::parse("[]:50052"));
}

TEST(host_port, refuses_a_missing_or_bad_port) {
  std::string why;
  EXPECT_FALSE(mm::host_port::parse("localhost", 0, &why));
  EXPECT_EQ(why, "expected HOST:PORT with a port from 0 to 65535, got "
                 "\"localhost\"");
  EXPECT_FALSE(mm::host_port::parse("localhost:"));
  EXPECT_FALSE(mm::host_port::parse(":6379"));
  EXPECT_FALSE(mm::host_port::parse("localhost:65536"));
  EXPECT_FALSE(mm::host_port::parse("localhost:123456"));
  EXPECT_FALSE(mm::host_port::parse("localhost:-1"));
  EXPECT_FALSE(mm::host_port::parse("localhost:6a"));
  EXPECT_FALSE(mm::host_port::parse("localhost:0", 1, &why));
  EXPECT_EQ(why, "expected HOST:PORT with a port from 1 to 65535, got "
                 "\"localhost:0\"");
}

} // namespace

// --- the gRPC port's security flags (docs/security.md) -----------------------

TEST(options, a_public_grpc_listen_needs_tls_auth_or_insecure) {
  auto r = parse({}, false);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err,
            "mm-server: --grpc-listen: 0.0.0.0 is not a loopback address and "
            "neither TLS (--tls-cert, --tls-key) nor --auth jwt is "
            "configured; add one, or --insecure to serve anyone in clear "
            "text\n");
  EXPECT_EQ(parse({"--grpc-listen", "127.0.0.1:50051"}, false).status, -1);
  EXPECT_EQ(parse({"--grpc-listen", "[::1]:50051"}, false).status, -1);
  EXPECT_EQ(parse({"--insecure"}, false).status, -1);
  config_file key{"0123456789abcdef0123456789abcdef\n"};
  auto jwt = parse({"--auth", "jwt", "--jwt-key-file", key.path()}, false);
  EXPECT_EQ(jwt.status, -1) << jwt.err;
  EXPECT_EQ(jwt.cfg.auth, "jwt");
  auto tls = parse({"--tls-cert", key.path(), "--tls-key", key.path()}, false);
  EXPECT_EQ(tls.status, -1) << tls.err;
  // A hub serves no gRPC.
  EXPECT_EQ(
    parse({"--role", "hub", "--cluster-listen", "127.0.0.1:0"}, false).status,
    -1);
  scoped_env env{"MM_INSECURE", "true"};
  EXPECT_EQ(parse({}, false).status, -1);
}

TEST(options, security_flags_that_go_together) {
  config_file f{"x\n"};
  auto only_cert = parse({"--tls-cert", f.path()});
  EXPECT_EQ(only_cert.status, 2);
  EXPECT_TRUE(contains(only_cert.err, "--tls-cert and --tls-key go together"))
    << only_cert.err;
  auto ca = parse({"--tls-client-ca", f.path()});
  EXPECT_EQ(ca.status, 2);
  EXPECT_TRUE(contains(ca.err, "--tls-client-ca")) << ca.err;
  auto jwt = parse({"--auth", "jwt"});
  EXPECT_EQ(jwt.status, 2);
  EXPECT_TRUE(contains(jwt.err, "--jwt-key-file")) << jwt.err;
  auto key = parse({"--jwt-key-file", f.path()});
  EXPECT_EQ(key.status, 2);
  EXPECT_TRUE(contains(key.err, "only used with --auth jwt")) << key.err;
  EXPECT_EQ(parse({"--auth", "basic"}).status, 2);
  EXPECT_EQ(
    parse({"--tls-cert", "/nonexistent.pem", "--tls-key", f.path()}).status, 2);
}
